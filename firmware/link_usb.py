# The serial link: assembles request lines from the USB/UART console without blocking, hands
# them to protocol.Control and writes replies and telemetry back (docs/PROTOCOL.md). An edge.
#
# Ctrl-C: nothing here touches micropython.kbd_intr. The console driver turns a 0x03 byte into
# KeyboardInterrupt before it reaches stdin, which stops the loop and returns to the REPL, so
# mpremote and Thonny can always take the board back. The protocol never needs that byte: JSON
# text cannot hold a raw control character (inside strings they are escaped as \u0003).
from firmware.protocol import MAX_LINE, error_line

_MAX_READ = 256  # bytes taken per poll at most: a bounded slice of the frame


class Link:
    # control: protocol.Control. io: an object with read_available() -> bytes (b"" when nothing
    # waits) and, unless `write` is given, write(bytes); or a function returning the next byte
    # (0..255) or None/-1. `write`: a function taking bytes. Drive it with poll() between frames.
    def __init__(self, control, io, write=None, max_line=MAX_LINE, max_read=_MAX_READ):
        self.control = control
        self._io = io
        self._chunked = hasattr(io, "read_available")
        self._write = write if write is not None else io.write
        self.max_line = max_line
        self.max_read = max_read
        self.buf = bytearray(max_line + 1)  # the line being assembled (+1: a trailing \r)
        self.n = 0
        self.over = False  # the line being assembled is too long: dropped up to its newline
        self._chunk = None  # for io given as a read-byte function
        self.lines = 0  # complete non-empty lines answered
        self.too_long = 0
        self.errors = 0  # exceptions caught in poll (a bug, or the console failing)
        self._too_long = error_line(None, "line too long (max %d bytes)" % max_line).encode() + b"\n"
        self._not_text = error_line(None, "line is not UTF-8 text").encode() + b"\n"
        try:
            import gc

            self._mem_free = getattr(gc, "mem_free", None)  # MicroPython only
        except ImportError:
            self._mem_free = None

    def poll(self, now_ms=None):
        # Read what has arrived (at most max_read bytes), answer complete lines, send telemetry
        # when due. Never blocks; never raises an Exception (the garment keeps running).
        c = self.control
        try:
            if now_ms is None:
                now_ms = c.now_ms()
            data = self._io.read_available() if self._chunked else self._read_bytes()
            if data:
                self.feed(data, now_ms)
            c.tick(now_ms)
            if c.telemetry_on:
                line = c.telemetry_line(now_ms, c.fps, self._frame_us(), self._heap())
                if line is not None:
                    self._send(line.encode() + b"\n")
        except Exception:
            self.errors += 1

    def _read_bytes(self):
        # Poll a read-byte function up to max_read times.
        if self._chunk is None:
            self._chunk = bytearray(self.max_read)
        ch = self._chunk
        rd = self._io
        n = 0
        while n < self.max_read:
            b = rd()
            if b is None or b < 0:
                break
            ch[n] = b
            n += 1
        return bytes(ch[:n]) if n else b""

    def feed(self, data, now_ms=None):
        # Take a chunk of bytes: complete lines are answered at once, a partial one waits.
        if not isinstance(data, bytes):
            data = bytes(data)
        n = len(data)
        start = 0
        buf = self.buf
        cap = len(buf)
        while start < n:
            i = data.find(b"\n", start)
            end = n if i < 0 else i
            k = end - start
            if k and not self.over:
                if self.n + k > cap:
                    self.over = True
                else:
                    buf[self.n:self.n + k] = data[start:end]
                    self.n += k
            if i < 0:
                return
            self._line(now_ms)
            start = i + 1

    def _line(self, now_ms):
        n = self.n
        over = self.over
        self.n = 0
        self.over = False
        if not over and n and self.buf[n - 1] == 13:
            n -= 1
        if over or n > self.max_line:
            self.too_long += 1
            self.lines += 1
            self._send(self._too_long)
            return
        if n == 0:
            return  # an empty line (or a lone \r): ignored, so "\n" can clear a half-sent line
        self.lines += 1
        try:
            text = bytes(self.buf[:n]).decode()
        except Exception:  # UnicodeError (a ValueError on CPython)
            self._send(self._not_text)
            return
        reply = self.control.handle(text, now_ms)
        self._send(reply.encode() + b"\n")

    def _send(self, data):
        try:
            self._write(data)
        except OSError:
            pass  # the console went away; the garment keeps playing

    def _frame_us(self):
        app = self.control.app
        return getattr(app, "frame_us", 0) if app is not None else 0

    def _heap(self):
        return self._mem_free() if self._mem_free is not None else 0


class UsbStdio:
    # The board's console (USB CDC or the USB-UART bridge) as a Link io: sys.stdin polled with a
    # 0 timeout, one byte per read (select says only "something waits", not how much).
    def __init__(self, max_read=_MAX_READ, stdin=None, stdout=None):
        import select
        import sys

        self.max_read = max_read
        sin = stdin if stdin is not None else sys.stdin
        sout = stdout if stdout is not None else sys.stdout
        self._readinto = getattr(getattr(sin, "buffer", sin), "readinto")
        self._out = getattr(sout, "buffer", sout)
        self._poller = select.poll()
        self._poller.register(sin, select.POLLIN)
        self._pollin = select.POLLIN
        self._ipoll = getattr(self._poller, "ipoll", None)  # MicroPython: polls without allocating
        self._one = bytearray(1)
        self._chunk = bytearray(max_read)
        self._fd = -1
        if sys.implementation.name != "micropython" and hasattr(sin, "fileno"):
            self._fd = sin.fileno()  # CPython: os.read, as the buffered readers may block

    def _ready(self):
        evs = self._ipoll(0) if self._ipoll is not None else self._poller.poll(0)
        for ev in evs:
            if ev[1] & self._pollin:
                return True
        return False

    def read_available(self):
        if self._fd >= 0:
            import os

            return os.read(self._fd, self.max_read) if self._ready() else b""
        n = 0
        one = self._one
        ch = self._chunk
        readinto = self._readinto
        while n < self.max_read and self._ready():
            if not readinto(one):
                break
            ch[n] = one[0]
            n += 1
        return bytes(ch[:n]) if n else b""

    def write(self, data):
        self._out.write(data)
        if hasattr(self._out, "flush"):
            self._out.flush()
