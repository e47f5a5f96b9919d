# The laptop end of the garment's serial protocol (docs/PROTOCOL.md): find and open the port, send
# one request, wait for its reply. The only host module that touches pyserial; failures are CommandErrors.
import errno
import itertools
import json
import os
import time

from host_tools.errors import CommandError

PROTOCOL_VERSION = 1  # the protocol this host speaks (hello's "protocol")
BAUD = 115200
DEFAULT_TIMEOUT = 2.0
MAX_LINE = 512  # the garment's request line limit, without the newline
_MAX_IN = 65536  # a reply line longer than this is noise, not JSON from the garment

# USB bridges and native USB found on ESP32 boards: (vid, pid, what)
KNOWN_USB = (
    (0x10C4, 0xEA60, "CP210x"),
    (0x1A86, 0x7523, "CH340"),
    (0x1A86, 0x55D4, "CH9102"),
    (0x303A, 0x1001, "ESP32-S3 native USB"),
    (0x0403, 0x6001, "FTDI FT232"),
)


class LinkError(CommandError):
    # The link failed (no port, busy port, timeout, the garment went away).
    pass


class GarmentError(CommandError):
    # The garment answered ok: false; the message is its "error" text.
    def __init__(self, message, reply=None):
        super().__init__(message)
        self.reply = reply


def _serial():
    try:
        import serial
    except ImportError:
        raise CommandError("pyserial is not installed: pip install pyserial") from None
    return serial


def known_ports():
    # [(device, description)] of the serial ports whose USB VID:PID is a known ESP32 bridge.
    _serial()
    from serial.tools import list_ports

    out = []
    for p in list_ports.comports():
        for vid, pid, what in KNOWN_USB:
            if p.vid == vid and p.pid == pid:
                out.append((p.device, "%s %04X:%04X%s" % (what, vid, pid, " " + p.serial_number if p.serial_number else "")))
    out.sort()
    return out


def detect_port():
    # The one garment plugged in, else a CommandError that says what to do.
    ports = known_ports()
    if not ports:
        kinds = ", ".join("%s %04X:%04X" % (w, v, p) for v, p, w in KNOWN_USB)
        raise LinkError("no garment found: no USB serial port with a known ESP32 VID:PID (%s); "
                        "plug it in, or pass --port (e.g. the path `threadbeat simulate` printed)" % kinds)
    if len(ports) > 1:
        raise LinkError("several possible garments: %s; choose one with --port" % ", ".join("%s (%s)" % p for p in ports))
    return ports[0][0]


def _open_error(port, e):
    serial = _serial()
    en = getattr(e, "errno", None)
    text = str(e)
    if en == errno.ENOENT or "No such file" in text or "FileNotFoundError" in text:
        return LinkError("no port %s (unplugged? `threadbeat hello` without --port finds the garment)" % port)
    if en in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return LinkError("no permission to open %s (on Linux: add yourself to the dialout group, then log in again)" % port)
    if en == errno.EBUSY or "exclusively lock" in text or "busy" in text.lower() or "Access is denied" in text:
        return LinkError("port %s is busy: another program has it open (a serial monitor, mpremote, Thonny, "
                         "another threadbeat); close it and retry" % port)
    if isinstance(e, serial.SerialException):
        return LinkError("cannot open %s: %s" % (port, text))
    return LinkError("cannot open %s: %s" % (port, text))


class Connection:
    # One open port to a garment. request() sends {"id", "cmd", ...} and returns the reply with
    # that id (raising GarmentError for ok: false); read_message() yields any JSON object line
    # (telemetry included). Lines that are not JSON objects (boot text, REPL, tracebacks) are skipped.
    _ids = itertools.count(((os.getpid() * 7919) % 100000) * 1000 + 1)  # unlikely to match a stale reply

    def __init__(self, ser, port, timeout=DEFAULT_TIMEOUT):
        self.ser = ser
        self.port = port
        self.timeout = timeout
        self._buf = bytearray()
        self.skipped = []  # recent non-JSON lines, for error messages
        self.telemetry = []  # telemetry lines seen while waiting for replies (latest few)

    def close(self):
        try:
            self.ser.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- lines -------------------------------------------------------------------------------

    def _read_line(self, deadline):
        # The next complete line (bytes, no line end), or None at the deadline.
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line = bytes(self._buf[:i]).rstrip(b"\r")
                del self._buf[:i + 1]
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                self.ser.timeout = min(left, 0.25)  # inside: reconfiguring a lost port raises too
                data = self.ser.read(max(1, self.ser.in_waiting))
            except Exception as e:  # SerialException, OSError: unplugged
                raise LinkError("lost the garment on %s: %s" % (self.port, e)) from None
            if data:
                self._buf += data
                if len(self._buf) > _MAX_IN and b"\n" not in self._buf:
                    del self._buf[:]  # endless noise without a newline

    def read_message(self, timeout=None):
        # The next JSON object the garment sends (reply or telemetry), or None after `timeout` s.
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            line = self._read_line(deadline)
            if line is None:
                return None
            msg = None
            if line.startswith(b"{"):
                try:
                    msg = json.loads(line.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    msg = None
            if isinstance(msg, dict):
                return msg
            if line.strip():
                self.skipped = (self.skipped + [line[:120].decode("utf-8", "replace")])[-5:]

    @staticmethod
    def is_telemetry(msg):
        return "t" in msg and "ok" not in msg

    # --- requests ----------------------------------------------------------------------------

    def send(self, cmd, **fields):
        # Write one request line; returns its id. A leading "\n" clears any half line left on
        # the garment by noise or an earlier session (empty lines get no reply).
        rid = next(self._ids)
        if rid > 2**31 - 2:
            Connection._ids = itertools.count(1)
            rid = next(self._ids)
        req = {"id": rid, "cmd": cmd}
        req.update(fields)
        line = json.dumps(req, separators=(", ", ": ")).encode("ascii")
        if len(line) > MAX_LINE:
            raise CommandError("request too long for the garment (%d bytes, max %d)" % (len(line), MAX_LINE))
        try:
            self.ser.write(b"\n" + line + b"\n")
            self.ser.flush()
        except Exception as e:
            raise LinkError("cannot write to %s: %s" % (self.port, e)) from None
        return rid

    def wait_reply(self, rid, timeout=None):
        # The reply with this id (dict); telemetry, other ids and noise are skipped.
        t = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        anon = None  # an id-null error (our line was mangled?) to explain a timeout
        while True:
            msg = self.read_message(max(0.0, deadline - time.monotonic()))
            if msg is None:
                why = "no reply from the garment on %s within %.1f s" % (self.port, t)
                if anon:
                    why += " (it said: %s)" % anon
                elif self.skipped:
                    why += " (it printed: %s)" % " | ".join(self.skipped[-2:])
                else:
                    why += " (is the firmware running? is this the garment's port?)"
                raise LinkError(why)
            if self.is_telemetry(msg):
                self.telemetry = (self.telemetry + [msg])[-8:]
                continue
            if msg.get("id") == rid:
                if msg.get("ok") is True:
                    return msg
                raise GarmentError(str(msg.get("error", "the garment refused the request")), msg)
            if msg.get("id") is None and msg.get("ok") is False:
                anon = str(msg.get("error"))

    def request(self, cmd, timeout=None, **fields):
        return self.wait_reply(self.send(cmd, **fields), timeout)

    def hello(self):
        # hello, checked against the protocol version this host speaks.
        r = self.request("hello")
        v = r.get("protocol")
        if v != PROTOCOL_VERSION:
            raise LinkError("the garment speaks protocol %s; this threadbeat speaks %d: update %s" % (
                v, PROTOCOL_VERSION, "threadbeat" if isinstance(v, int) and v > PROTOCOL_VERSION else "the firmware"))
        return r


def open_link(port=None, timeout=DEFAULT_TIMEOUT, baud=BAUD):
    # A Connection to `port` (a device path) or to the one garment found by USB VID:PID.
    serial = _serial()
    if not port:
        port = detect_port()
    ser = serial.Serial()
    ser.port = port
    ser.baudrate = baud
    ser.timeout = 0.1
    ser.write_timeout = max(timeout, 1.0)
    # DTR/RTS low before open: on the DevKitC's auto-reset circuit that does not reset the board.
    ser.dtr = False
    ser.rts = False
    if os.name == "posix":
        ser.exclusive = True  # a second threadbeat or monitor on the same port fails clearly
    try:
        ser.open()
    except (serial.SerialException, OSError, ValueError) as e:
        raise _open_error(port, e) from None
    try:
        ser.reset_input_buffer()  # stale replies and telemetry from before
    except Exception:
        pass
    return Connection(ser, port, timeout)
