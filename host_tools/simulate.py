# `threadbeat simulate`: the garment firmware booting as on the board (firmware/app.py's run: profile
# and config fallbacks, faults, boot guard, settings store) in real time on the desktop, its console a
# pseudo-terminal, so the CLI and tests can tune a "garment" with no board.
import contextlib
import errno
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import tty

_PENDING_MAX = 65536  # bytes of garment output kept while nobody reads the pty; older lines are dropped
_MAX_BEHIND_HOPS = 8  # further behind than this and hops are dropped, like the mic's ring overflowing


class PtyIo:
    # The Link's io on the MASTER side of a pty: read_available() never blocks (select with a 0
    # timeout, then one os.read); write() never blocks either (output waits in `pending` while
    # the host is not reading, and is dropped whole lines at a time past _PENDING_MAX).
    def __init__(self, master_fd, max_read=256):
        self.fd = master_fd
        self.max_read = max_read
        self.pending = b""
        self.dropped_bytes = 0
        self.on_ready = None  # called once, at the firmware's first poll: the console is live
        os.set_blocking(master_fd, False)

    def read_available(self):
        if self.on_ready is not None:
            ready, self.on_ready = self.on_ready, None
            ready()
        self.flush()
        r, _, _ = select.select([self.fd], [], [], 0)
        if not r:
            return b""
        try:
            return os.read(self.fd, self.max_read)
        except BlockingIOError:
            return b""
        except OSError as e:  # EIO: no slave open right now (we keep one open, so rare)
            if e.errno == errno.EIO:
                return b""
            raise

    def write(self, data):
        self.pending += data
        if len(self.pending) > _PENDING_MAX:
            cut = self.pending.find(b"\n", len(self.pending) - _PENDING_MAX)
            cut = len(self.pending) - _PENDING_MAX if cut < 0 else cut + 1
            self.dropped_bytes += cut
            self.pending = self.pending[cut:]
        self.flush()

    def flush(self):
        while self.pending:
            try:
                n = os.write(self.fd, self.pending)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno == errno.EIO:
                    return
                raise
            self.pending = self.pending[n:]


class Stopped(BaseException):
    # Raised out of LoopSource.read_hop when the simulator is asked to stop: it leaves the firmware's
    # endless loop between two frames (a BaseException, like Ctrl-C, so no firmware handler eats it).
    pass


class LoopSource:
    # The microphone stand-in: hands out one hop of `samples` (looped) whenever the wall clock
    # says one is due (read_hop -> 1), else 0 ("not ready yet", as the I2S mic says). When the
    # loop falls far behind it drops hops and counts them in `dropped`, like the mic's ring.
    # wake_fd: while no hop is due, read_hop waits on it (the pty) so the loop does not spin a core
    # and a request is still answered at once; stop: a threading.Event that raises Stopped.
    def __init__(self, samples, hop, fs, clock=time.monotonic, wake_fd=None, stop=None):
        import numpy as np

        n = len(samples) - len(samples) % hop
        if n < hop:
            raise ValueError("audio shorter than one hop")
        self.samples = np.ascontiguousarray(samples[:n], dtype=np.int16)
        self.hop = hop
        self.period = hop / fs
        self.clock = clock
        self.wake_fd = wake_fd
        self.stop = stop
        self.pos = 0
        self.dropped = 0
        self.hops = 0
        self.next_due = clock()

    def wait_s(self):
        return max(0.0, self.next_due - self.clock())

    def read_hop(self, dst):
        if self.stop is not None and self.stop.is_set():
            raise Stopped()
        now = self.clock()
        if now < self.next_due:
            if self.wake_fd is not None:
                select.select([self.wake_fd], [], [], min(self.next_due - now, 0.05))
            return 0
        behind = int((now - self.next_due) / self.period)
        if behind > _MAX_BEHIND_HOPS:
            self.dropped += behind
            self.next_due += behind * self.period
            self.pos = (self.pos + behind * self.hop) % len(self.samples)
        chunk = self.samples[self.pos:self.pos + self.hop]
        dst[:] = memoryview(chunk.tobytes()).cast("h")
        self.pos = (self.pos + self.hop) % len(self.samples)
        self.next_due += self.period
        self.hops += 1
        return 1

    def close(self):
        pass


class NullSink:
    # LEDs to nowhere: counts frames (the Engine's own panel buffers hold the bytes).
    def __init__(self):
        self.frames = 0

    def show(self):
        self.frames += 1

    def blank(self):
        pass

    def close(self):
        pass


class ConsoleOut:
    # sys.stdout while the firmware runs: what it prints (boot faults, the safe-mode message) goes
    # to its console, the pty, as on the board, and to our stderr for the person who started it.
    def __init__(self, io, echo):
        self.io = io
        self.echo = echo

    def write(self, text):
        self.io.write(text.encode("utf-8", "replace"))
        self.echo.write(text)
        return len(text)

    def flush(self):
        self.echo.flush()


def load_audio(path, rate):
    # int16 mono samples at `rate`: any audio file (host_tools.audio), or raw mono s16le PCM
    # (.pcm/.raw, taken to be at the board's rate, like the desk profile's audio.pcm).
    import numpy as np

    from host_tools.audio import AudioError, load
    from host_tools.errors import CommandError

    if path.lower().endswith((".pcm", ".raw")):
        try:
            return np.fromfile(path, dtype="<i2").astype(np.int16)
        except OSError as e:
            raise CommandError("%s: cannot read (%s)" % (path, e.strerror or e)) from None
    try:
        return load(path, rate)[0]
    except AudioError as e:
        raise CommandError(str(e)) from None


class Simulator:
    # One simulated garment: a folder as its flash (board.json, config.json, presets/, boot.cnt)
    # and the firmware's own start-up, firmware.app.run(), with three edges swapped for stand-ins:
    # the looped audio file for the microphone, a recording (or nothing) for the LEDs, and a pty
    # for the USB console. build() prepares and returns the pty's path; run() boots and loops
    # until stop() (from another thread or a signal handler) or Ctrl-C.
    def __init__(self, board=None, audio=None, state=None, record=None):
        self.board = board
        self.audio = audio
        self.state = state
        self.record = record
        self._tmp = None
        self._stop = threading.Event()
        self.master = self.slave = -1
        self.path = None
        self.io = None
        self.engine = None  # the firmware's Engine once it has booted
        self.sink = None
        self._samples = None
        self._rate = 16000
        self._record_f = None

    def build(self):
        from firmware.app import PROFILE_FILE
        from host_tools.cli import DEMO_AUDIO, DEFAULT_BOARD, board_path, resolve_board
        from host_tools.errors import CommandError

        board_file = None
        if self.board is not None:
            board_file = board_path(self.board)
            resolve_board(board_file)  # a bad profile named on the command line is an error here
        self.audio = self.audio or DEMO_AUDIO
        self._samples = load_audio(self.audio, self._rate)
        if len(self._samples) == 0:
            raise CommandError("%s: no samples to loop" % self.audio)
        if self.state is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="threadbeat-sim-")
            self.state = self._tmp.name
        try:
            os.makedirs(self.state, exist_ok=True)
        except OSError as e:
            raise CommandError("%s: cannot use as the state folder (%s)" % (self.state, e.strerror or e)) from None
        target = os.path.join(self.state, PROFILE_FILE)
        if board_file is None and not os.path.exists(target):
            board_file = board_path(DEFAULT_BOARD)
        if board_file is not None:  # what `threadbeat flash` puts there; otherwise the folder's own is booted
            shutil.copyfile(board_file, target)
        if self.record:
            try:
                self._record_f = open(self.record, "wb", buffering=0)  # unbuffered: readable while running
            except OSError as e:
                raise CommandError("%s: cannot write (%s)" % (self.record, e.strerror or e)) from None
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.io = PtyIo(self.master)
        return self.path

    # the stand-ins firmware.app.build() asks for once it has the Engine
    def _source(self, engine):
        self.engine = engine
        print("threadbeat: simulating %s on %s (state in %s); Ctrl-C to stop" % (
            engine.profile["name"], self.path, self.state), file=sys.stderr, flush=True)
        if engine.fs != self._rate:
            self._samples = load_audio(self.audio, engine.fs)
            self._rate = engine.fs
        if len(self._samples) < engine.hop:  # a tiny file: repeat it up to one hop
            import numpy as np

            self._samples = np.tile(self._samples, engine.hop // len(self._samples) + 1)
        return LoopSource(self._samples, engine.hop, engine.fs, wake_fd=self.master, stop=self._stop)

    def _sink(self, engine):
        if self._record_f is None:
            self.sink = NullSink()
        else:
            from firmware.record_sink import RecordSink

            self.sink = RecordSink(self._record_f, engine.panel_buffers())
        return self.sink

    def run(self):
        # Boot the firmware as main.py does and run its loop; returns when stopped. A crash or
        # safe mode is a CommandError (the firmware's own words went to the console first).
        from firmware import app as firmware_app
        from host_tools.errors import CommandError

        parts = {"source": self._source, "sink": self._sink, "console": self.io}
        out = ConsoleOut(self.io, sys.stderr)
        try:
            with contextlib.redirect_stdout(out):
                try:
                    firmware_app.run(self.state, parts)
                except Exception:  # a firmware bug: the traceback goes to the console, as on the board
                    traceback.print_exc(file=out)
                    raise
        except (Stopped, KeyboardInterrupt):
            self._clean_stop()
            return
        except Exception as e:
            raise CommandError("the firmware crashed (%s: %s); the traceback is above and on the console" % (
                type(e).__name__, e)) from None
        raise CommandError("the firmware is in safe mode after %d boots that crashed within 10 s; fix board.json or "
                           "config.json in %s, delete its boot.cnt and start again" % (firmware_app._SAFE_AFTER_CRASHES,
                                                                                      self.state))

    def _clean_stop(self):
        # Stopping the simulator is not a crash: the boot guard's counter goes back to 0.
        from firmware.app import BOOT_FILE

        try:
            with open(os.path.join(self.state, BOOT_FILE), "w") as f:
                f.write("0")
        except OSError:
            pass

    def stop(self):
        self._stop.set()

    def close(self):
        if self.sink is not None:
            self.sink.close()
        elif self._record_f is not None:
            self._record_f.close()
        self._record_f = None
        for fd in (self.master, self.slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = -1
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def add_arguments(sp):
    sp.add_argument("--board", help="profile name in boards/ or a path, copied to the state folder's board.json "
                                    "(default: keep the folder's board.json; a new folder gets esp32-jacket)")
    sp.add_argument("--audio", help="audio file to loop as the microphone, or raw mono s16le .pcm at the board's rate "
                                    "(default: the bundled demo track)")
    sp.add_argument("--state", help="the garment's flash: board.json, config.json, presets, boot.cnt "
                                    "(default: a temporary folder, removed at exit)")
    sp.add_argument("--record", help="write every LED frame here (the panels' bytes in order, as the desk "
                                     "profile's frames.bin); default: the LEDs go nowhere")


def cmd_simulate(args):
    sim = Simulator(args.board, args.audio, args.state, args.record)
    try:
        path = sim.build()
        out = sys.stdout  # the path goes out once the firmware has booted and listens on the pty
        sim.io.on_ready = lambda: print(path, file=out, flush=True)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: sim.stop())
        sim.run()
    finally:
        sim.close()


def main(argv=None):
    # `python -m host_tools.simulate ...` is `threadbeat simulate ...`: the one CLI dispatcher handles errors.
    from host_tools.cli import main as cli_main

    return cli_main(["simulate"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
