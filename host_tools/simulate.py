# `threadbeat simulate`: the garment firmware (Engine, protocol Control, Link, Store) running on the
# desktop in real time behind a pseudo-terminal, so the CLI and tests can tune a "garment" with no board.
import errno
import os
import select
import signal
import sys
import tempfile
import threading
import time
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
        os.set_blocking(master_fd, False)

    def read_available(self):
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


class LoopSource:
    # The microphone stand-in: hands out one hop of `samples` (looped) whenever the wall clock
    # says one is due (read_hop -> 1), else 0 ("not ready yet", as the I2S mic says). When the
    # loop falls far behind it drops hops and counts them in `dropped`, like the mic's ring.
    def __init__(self, samples, hop, fs, clock=time.monotonic):
        import numpy as np

        n = len(samples) - len(samples) % hop
        if n < hop:
            raise ValueError("audio shorter than one hop")
        self.samples = np.ascontiguousarray(samples[:n], dtype=np.int16)
        self.hop = hop
        self.period = hop / fs
        self.clock = clock
        self.pos = 0
        self.dropped = 0
        self.hops = 0
        self.next_due = clock()

    def wait_s(self):
        return max(0.0, self.next_due - self.clock())

    def read_hop(self, dst):
        now = self.clock()
        if now < self.next_due:
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


class Simulator:
    # One simulated garment: build() makes the pty and the firmware objects, run() loops until
    # stop() (from another thread or a signal handler).
    def __init__(self, board="esp32-jacket", audio=None, state=None):
        self.board = board
        self.audio = audio
        self.state = state
        self._tmp = None
        self._stop = threading.Event()
        self.master = self.slave = -1
        self.path = None
        self.app = None

    def build(self):
        from firmware.app import VERSION, App
        from firmware.engine import Engine
        from firmware.link_usb import Link
        from firmware.protocol import Control
        from firmware.store import Store
        from host_tools.audio import AudioError, load
        from host_tools.cli import DEMO_AUDIO, resolve_board
        from host_tools.errors import CommandError

        profile = resolve_board(self.board)
        audio = self.audio or DEMO_AUDIO
        try:
            samples, _ = load(audio, profile["sample_rate"])
        except AudioError as e:
            raise CommandError(str(e)) from None
        if len(samples) < profile["hop"]:
            raise CommandError("%s: too short to loop" % audio)
        if self.state is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="threadbeat-sim-")
            self.state = self._tmp.name
        os.makedirs(self.state, exist_ok=True)
        store = Store(self.state)
        config, err = store.load_settings()
        faults = []
        if err and not err.endswith(": missing"):
            faults.append(err if config is not None else err + "; using default settings")
        engine = Engine(profile, config)
        faults.extend(engine.problems)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        source = LoopSource(samples, engine.hop, engine.fs)
        app = App(engine, source, NullSink(), faults)
        app.control = Control(engine, store, VERSION, app)
        self.io = PtyIo(self.master)
        app.link = Link(app.control, self.io)
        self.app = app
        return self.path

    def run(self):
        # The garment's loop: App.step() analyses a hop when one is due and polls the link; in
        # between, wait in select on the pty (the board polls the console while the mic fills).
        app = self.app
        src = app.source
        fd = self.master
        warned = False
        while not self._stop.is_set():
            app.step()
            if app.link is None and not warned:  # the console failed (a bug): keep the lights, say so
                print("threadbeat: simulate: %s" % app.faults[-1], file=sys.stderr, flush=True)
                warned = True
            wait = src.wait_s()
            if wait > 0:
                select.select([fd], [], [], min(wait, 0.05))

    def stop(self):
        self._stop.set()

    def close(self):
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
    sp.add_argument("--board", default="esp32-jacket", help="profile name in boards/ or a path (default %(default)s)")
    sp.add_argument("--audio", help="audio file to loop as the microphone (default: the bundled demo track)")
    sp.add_argument("--state", help="folder for config.json and presets (default: a temporary folder, removed at exit)")


def cmd_simulate(args):
    sim = Simulator(args.board, args.audio, args.state)
    try:
        path = sim.build()
        print(path, flush=True)
        print("threadbeat: simulating %s on %s (state in %s); Ctrl-C to stop" % (
            sim.app.engine.profile["name"], path, sim.state), file=sys.stderr, flush=True)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: sim.stop())
        try:
            sim.run()
        except KeyboardInterrupt:
            pass
    finally:
        sim.close()


def main(argv=None):
    # `python -m host_tools.simulate ...` is `threadbeat simulate ...`: the one CLI dispatcher handles errors.
    from host_tools.cli import main as cli_main

    return cli_main(["simulate"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
