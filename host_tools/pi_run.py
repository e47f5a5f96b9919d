# `threadbeat run --board PROFILE`: the garment controller on a Raspberry Pi / Linux host. The very
# firmware chain (firmware.app.App around firmware.engine.Engine) between a Linux microphone
# (host_tools/linux_audio.py) and NeoPixels through Blinka (host_tools/blinka_sink.py), with the
# live-tuning protocol (firmware/protocol.py + link_usb.Link) behind a pseudo-terminal, so
# `threadbeat tune / monitor / set ... --port PTY` work exactly as against a garment or `simulate`.
import contextlib
import os
import signal
import sys
import threading
import tty

from host_tools.errors import CommandError


@contextlib.contextmanager
def _until_interrupted():
    # Runs the body until Ctrl-C (a normal end); a Blinka failure on the way becomes the CLI's message.
    try:
        yield
    except KeyboardInterrupt:
        pass
    except Exception as e:
        from host_tools.blinka_sink import BlinkaError

        if isinstance(e, BlinkaError):
            raise CommandError(str(e)) from None
        raise


DEFAULT_STATE = os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "threadbeat")


class PiController:
    def __init__(self, board, state=None, audio=None, link_path=None, sink="blinka",
                 board_module=None, neopixel_module=None, stream_factory=None, loop_audio=True):
        self.board = board
        self.state = state or DEFAULT_STATE
        self.audio = audio
        self.link_path = link_path
        self.sink_kind = sink
        self._mods = (board_module, neopixel_module)
        self._stream_factory = stream_factory
        self.loop_audio = loop_audio
        self._stop = threading.Event()
        self.master = self.slave = -1
        self.path = None
        self.app = None
        self.source = None
        self.sink = None
        self._linked = False

    def build(self):
        # Everything that can fail for a person fails here, as a CommandError with the fix.
        from firmware.app import VERSION, App
        from firmware.engine import Engine
        from firmware.link_usb import Link
        from firmware.protocol import Control
        from firmware.store import Store
        from host_tools.blinka_sink import BlinkaError, BlinkaPanels
        from host_tools.cli import resolve_board
        from host_tools.linux_audio import AudioSourceError, LinuxAudioSource, source_from_profile
        from host_tools.simulate import NullSink, PtyIo

        profile = resolve_board(self.board)
        if profile["chip"] != "blinka":
            raise CommandError("%s: chip '%s' is a microcontroller; `threadbeat run` drives LEDs through Blinka on a "
                               "Linux host: use a profile with \"chip\": \"blinka\" and Blinka pin names "
                               "(e.g. --board pi-zero-vest)" % (self.board, profile["chip"]))
        try:
            os.makedirs(self.state, exist_ok=True)
        except OSError as e:
            raise CommandError("%s: cannot create the state folder (%s); pass --state DIR" % (self.state, e.strerror or e)) from None
        store = Store(self.state)
        config, err = store.load_settings()
        faults = []
        if err and not err.endswith(": missing"):
            faults.append(err if config is not None else err + "; using default settings")
        try:
            if self.sink_kind == "blinka":
                self.sink = BlinkaPanels(profile["panels"], self._mods[0], self._mods[1])
                bufs = self.sink.buffers()
            else:
                self.sink = NullSink()
                bufs = None
        except BlinkaError as e:
            raise CommandError(str(e)) from None
        engine = Engine(profile, config, bufs)
        faults.extend(engine.problems)
        try:
            if self._stream_factory is not None:
                self.source = LinuxAudioSource(engine.hop, engine.fs, device_rate=engine.fs, channels=1,
                                               stream_factory=self._stream_factory)
            else:
                self.source = source_from_profile(profile, self.audio, loop=self.loop_audio)
        except AudioSourceError as e:
            self.close()
            raise CommandError(str(e)) from None
        except Exception as e:  # an unreadable --audio file
            from host_tools.audio import AudioError

            if isinstance(e, AudioError):
                self.close()
                raise CommandError(str(e)) from None
            raise
        app = App(engine, self.source, self.sink, faults)
        app.control = Control(engine, store, VERSION, app)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        app.link = Link(app.control, PtyIo(self.master))
        self.app = app
        if self.link_path:
            self._make_link()
        return self.path

    def _make_link(self):
        # A stable name for the pty (the pty's own number changes from run to run).
        tmp = self.link_path + ".new"
        try:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link_path)
        except OSError as e:
            self.close()
            raise CommandError("%s: cannot link the tuning port there (%s)" % (self.link_path, e.strerror or e)) from None
        self._linked = True

    def run(self):
        # The loop: a hop when the microphone has one, the tuning link between frames, and in the
        # gaps a wait for the audio thread (at most 20 ms, so the link is polled at >= 50 Hz).
        app = self.app
        src = self.source
        warned = False
        while not self._stop.is_set():
            r = app.step()
            if r < 0:
                break
            if app.link is None and not warned:
                print("threadbeat: run: %s" % app.faults[-1], file=sys.stderr, flush=True)
                warned = True
            if r == 0:
                src.wait(0.02)

    def stop(self):
        self._stop.set()

    def close(self):
        # LEDs dark, microphone closed, pty gone.
        if self.sink is not None:
            try:
                self.sink.close()
            except Exception as e:
                print("threadbeat: run: could not blank the LEDs (%s)" % e, file=sys.stderr)
            self.sink = None
        if self.source is not None:
            self.source.close()
        for fd in (self.master, self.slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = -1
        if self._linked:
            try:
                if os.path.islink(self.link_path) and os.readlink(self.link_path) == self.path:
                    os.unlink(self.link_path)
            except OSError:
                pass
            self._linked = False


def add_arguments(sp):
    sp.add_argument("--board", default="pi-zero-vest", help="profile name in boards/ or a path, chip \"blinka\" "
                                                            "(default %(default)s)")
    sp.add_argument("--state", help="folder for config.json and presets (default %s)" % DEFAULT_STATE)
    sp.add_argument("--audio", help="play this audio file (looped) as the microphone instead of the ALSA device")
    sp.add_argument("--link", help="also make this path a symlink to the tuning pty (e.g. /run/threadbeat/tty)")
    sp.add_argument("--sink", choices=("blinka", "none"), default="blinka",
                    help="blinka: the profile's NeoPixels; none: no LEDs (try the microphone and tuning first)")


def cmd_run(args):
    ctl = PiController(args.board, args.state, args.audio, args.link, args.sink)
    try:
        path = ctl.build()
        print(path, flush=True)
        app = ctl.app
        print("threadbeat: running %s: microphone %s at %d Hz -> %d Hz, %s; tune with --port %s; Ctrl-C to stop" % (
            app.engine.profile["name"], ctl.source.name, ctl.source.device_rate, app.engine.fs,
            "%d LED strip(s) via Blinka" % ctl.sink.n if args.sink == "blinka" else "no LEDs",
            args.link or path), file=sys.stderr, flush=True)
        for f in app.faults:
            print("threadbeat: fault: " + f, file=sys.stderr, flush=True)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: ctl.stop())
        with _until_interrupted():
            ctl.run()
        if app.dropped or ctl.source.overflows:
            print("threadbeat: %d frames; %d hops dropped (the loop fell behind), %d capture overflows" % (
                app.frames, app.dropped, ctl.source.overflows), file=sys.stderr)
    finally:
        ctl.close()


RUN_COMMANDS = {
    "run": (cmd_run, "run the garment on a Raspberry Pi / Linux host: microphone -> engine -> NeoPixels via Blinka",
            add_arguments),
}


# --- `threadbeat replay AUDIO --live`: the file through the speakers, the LEDs in step with it -----

class PlaybackClock:
    # Where the listener is in the file, from the output stream's own clock: each callback says when
    # its first frame reaches the DAC (outputBufferDacTime, in stream.time's clock); position() is
    # that frame's index plus the stream time elapsed since, so output latency is accounted for.
    def __init__(self, rate, now):
        self.rate = rate
        self.now = now  # the stream's clock (stream.time), seconds
        self._lock = threading.Lock()
        self._anchor = None  # (dac time, frame index at it)
        self.written = 0  # frames handed to the stream so far

    def block(self, dac_time, first, frames):
        with self._lock:
            self._anchor = (dac_time, first)
            self.written = first + frames

    def position(self):
        # Seconds of the file heard so far, or None before the first block was written.
        with self._lock:
            a = self._anchor
            written = self.written
        if a is None:
            return None
        pos = a[1] + (self.now() - a[0]) * self.rate
        if pos < 0:
            pos = 0.0
        if pos > written:
            pos = written
        return pos / self.rate


def schedule_frames(frame_times, position, show, sleep, period, done=None):
    # Show frame h once the audio position reaches frame_times[h]; when several are due (a slow
    # show, a late wake-up) only the newest goes out and the stale ones are skipped, so the lights
    # never lag the sound by a frame or more. done(): the audio has stopped (the rest is skipped).
    # Returns (shown [(h, position at show)], skipped).
    n = len(frame_times)
    shown = []
    skipped = 0
    nxt = 0
    while nxt < n:
        pos = position()
        if pos is None:
            sleep(min(period, 0.002))
            continue
        due = nxt
        while due + 1 < n and frame_times[due + 1] <= pos:
            due += 1
        if frame_times[due] > pos:
            if done is not None and done():
                skipped += n - nxt
                break
            sleep(max(0.00025, min(frame_times[due] - pos, period)))  # a floor: clocks tick in steps
            continue
        skipped += due - nxt
        show(due)
        shown.append((due, pos))
        nxt = due + 1
    return shown, skipped


class _FileOut:
    # The output stream's callback: the file's frames in order, then CallbackStop.
    def __init__(self, data, clock, stop_exc):
        self.data = data
        self.clock = clock
        self.pos = 0
        self.stop_exc = stop_exc
        self.finished = threading.Event()

    def __call__(self, outdata, frames, time_info, status):
        chunk = self.data[self.pos:self.pos + frames]
        k = len(chunk)
        outdata[:k] = chunk
        if k < frames:
            outdata[k:] = 0
        self.clock.block(time_info.outputBufferDacTime, self.pos, frames)
        self.pos += k
        if k < frames:
            raise self.stop_exc()


def play_live(res, audio_path, sink, sd=None, sleep=None, quiet=False):
    # Play audio_path (at its own rate, through the default output) and send res.led's frames to
    # `sink` (show_bytes) in step with what is heard. Returns (frames shown, frames skipped, worst lag s).
    import time

    import numpy as np
    import soundfile as sf

    from host_tools.linux_audio import AudioSourceError, load_sounddevice

    if sd is None:
        try:
            sd = load_sounddevice()
        except AudioSourceError as e:
            raise CommandError(str(e)) from None
    sleep = sleep or time.sleep
    data, rate = sf.read(audio_path, dtype="float32", always_2d=True)
    if data.shape[1] > 2:
        data = data.mean(axis=1, keepdims=True)
    data = np.ascontiguousarray(data)
    hop_s = res.hop_s
    times = [(h + 1) * hop_s for h in range(res.led.shape[0])]  # a frame is due when its hop has been heard
    holder = {}
    clock = PlaybackClock(rate, lambda: holder["s"].time)
    out = _FileOut(data, clock, sd.CallbackStop)
    try:
        s = sd.OutputStream(samplerate=rate, channels=data.shape[1], dtype="float32", latency="low", callback=out,
                            finished_callback=out.finished.set)
    except Exception as e:
        raise CommandError("no audio output (%s); plug in speakers or headphones, check `python -m sounddevice`, "
                           "and add this user to the audio group (sudo usermod -aG audio $USER)" % (str(e).strip() or type(e).__name__)) from None
    holder["s"] = s
    led = res.led

    def show(h):
        sink.show_bytes(led[h].tobytes())

    with s:
        shown, skipped = schedule_frames(times, clock.position, show, sleep, hop_s, out.finished.is_set)
        out.finished.wait(5.0)
    lag = max((pos - times[h] for h, pos in shown), default=0.0)
    if not quiet:
        print("live: %d frames shown, %d skipped (late), worst lag behind the sound %.1f ms (one frame = %.1f ms)" % (
            len(shown), skipped, lag * 1000, hop_s * 1000))
    return len(shown), skipped, lag


def replay_live(args, profile, config, samples, audio):
    # `threadbeat replay AUDIO --live [--sink blinka]`: every frame computed first (the replay
    # engine), then the file played and the frames sent in step with it.
    from host_tools import replay
    from host_tools.blinka_sink import BlinkaError, BlinkaPanels

    sink = None
    if args.sink == "blinka":
        if profile["chip"] != "blinka":
            raise CommandError("--sink blinka needs a profile with \"chip\": \"blinka\" and Blinka pin names "
                               "(e.g. --board pi-zero-vest); '%s' is an %s garment" % (profile["name"], profile["chip"]))
        try:
            sink = BlinkaPanels(profile["panels"])
        except BlinkaError as e:
            raise CommandError(str(e)) from None
    else:
        sink = _NoLeds()
    try:
        res = replay.run(samples, profile, config, engine=args.engine, render=True)
        for p in res.problems:
            print("threadbeat: warning: " + p, file=sys.stderr)
        with _until_interrupted():
            play_live(res, audio, sink, quiet=args.quiet)
    finally:
        try:
            sink.close()
        except Exception:
            pass


class _NoLeds:
    def show_bytes(self, frame):
        pass

    def close(self):
        pass
