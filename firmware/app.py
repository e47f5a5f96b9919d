# The garment application: reads the board profile and settings (falling back to safe defaults
# with a reported fault), wires source -> engine -> sink, and runs the loop. main.py calls run().
# Hardware modules are imported only here, at the edge, and only for the parts a profile names.
import json

from firmware.health import OK, MicHealth

try:
    from time import ticks_diff, ticks_us
except ImportError:  # CPython (desk, simulator): the same 30-bit wrapping microsecond clock
    from time import perf_counter as _perf_counter

    def ticks_us():
        return int(_perf_counter() * 1000000) & 0x3FFFFFFF

    def ticks_diff(a, b):
        return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000

VERSION = "0.1.0"
PROFILE_FILE = "board.json"
CONFIG_FILE = "config.json"
BOOT_FILE = "boot.cnt"
_SAFE_AFTER_CRASHES = 3  # this many boots in a row that never ran 10 s -> safe mode
_STABLE_HOPS = 1250  # ~10 s at 16 kHz / 128: the boot counts as good


def safe_profile():
    # Used when board.json is missing or unreadable: the DevKitC jacket's mic wiring and one short
    # strip. A function, so the dicts exist only when needed (module-level data stays in the heap).
    return {
        "name": "safe default (board.json missing or broken)",
        "chip": "esp32",
        "source": {"type": "i2s", "mic": "inmp441", "i2s_id": 0, "sck": 14, "ws": 15, "sd": 32},
        "power": {"budget_ma": 500, "max_brightness": 64},
        "panels": [{"name": "strip", "pin": 13, "count": 8}],
    }


def read_json(path):
    # (object, None) or (None, problem) -- never raises for a missing or corrupt file.
    try:
        with open(path) as f:
            return json.load(f), None
    except OSError:
        return None, "%s: missing" % path
    except ValueError as e:
        return None, "%s: not valid JSON (%s)" % (path, e)


def load_board(path):
    # The validated profile and a list of faults; falls back to safe_profile().
    from firmware.profile import ProfileError, load_profile  # boot-only: build() unloads it right after

    data, err = read_json(path)
    faults = []
    if data is not None:
        try:
            return load_profile(data), faults
        except ProfileError as e:
            err = "%s: %s" % (path, e)
    faults.append(err + "; running the safe default profile")
    return load_profile(safe_profile()), faults


def events_json(profile, duration_ms, frames, beats_ms, dropped, faults):
    # events.json written by hand so CPython and every MicroPython port produce the same bytes.
    out = ['{"version": 1, "board": ', json.dumps(profile["name"]),
           ', "sample_rate": %d, "hop": %d, "fft_size": %d' % (profile["sample_rate"], profile["hop"], profile["fft_size"]),
           ', "duration": %s, "frames": %d, "dropped": %d' % (ms_str(duration_ms), frames, dropped),
           ', "faults": ', json.dumps(faults), ', "beats": [']
    for i in range(len(beats_ms)):
        if i:
            out.append(", ")
        out.append(ms_str(beats_ms[i]))
    out.append("]}\n")
    return "".join(out)


def ms_str(ms):
    # Seconds with millisecond digits, e.g. 1504 -> "1.504", without float formatting.
    return "%d.%03d" % (ms // 1000, ms % 1000)


class App:
    def __init__(self, engine, source, sink, faults=None, wdt=None, link=None, control=None):
        self.engine = engine
        self.control = control  # protocol.Control: live tuning and the identify blink (render)
        self.source = source
        self.sink = sink
        self.faults = faults or []
        self.wdt = wdt
        self.link = link
        self.health = MicHealth(engine.fs, engine.hop)
        self.mic_state = OK
        self.beats_ms = None  # a list when beat times are kept (desk runs write them out)
        self.frames = 0
        self.dropped = 0
        self.frame_us = 0  # the last frame's analysis + render + LED write, in us (telemetry, status)
        self.on_stable = None  # called once after ~10 s of running (clears the crash counter)

    def step(self):
        # One turn of the loop: 1 if a hop was analysed and a frame shown, 0 if no audio was
        # ready yet, -1 when the source has ended.
        eng = self.engine
        r = self.source.read_hop(eng.hop_buffer())
        if self.wdt is not None:
            self.wdt.feed()
        if r <= 0:
            if self.link is not None:
                self.poll_link()
            return r
        t0 = ticks_us()
        d = self.source.dropped
        if d != self.dropped:  # audio time moves on over the hops that were dropped
            eng.hops += d - self.dropped
            self.dropped = d
        sp = eng.spectrum
        newest = sp.slot - 1 if sp.slot else len(sp.slots) - 1
        f = eng.process()
        st = self.health.update(sp.his[newest], sp.los[newest])
        if st != self.mic_state:
            self.mic_state = st
            eng.mapper.idle = st != OK
        if f.beat and self.beats_ms is not None and len(self.beats_ms) < 100000:
            self.beats_ms.append(f.t_ms)
        if self.control is not None:
            self.control.render(f.t_ms)  # engine.render plus the identify blink
        else:
            eng.render(f.t_ms)
        self.sink.show()
        self.frame_us = ticks_diff(ticks_us(), t0)
        self.frames += 1
        if self.frames == _STABLE_HOPS and self.on_stable is not None:
            self.on_stable()
        if self.link is not None:
            self.poll_link()
        return 1

    def poll_link(self):
        # Between frames: answer the console. Whatever goes wrong there stops tuning, never the lights.
        try:
            self.link.poll()
        except Exception as e:
            self.faults.append("usb console failed (%s); live tuning off" % e)
            self.link = None

    def fault_list(self):
        out = list(self.faults)
        if self.mic_state != OK:
            out.append(self.health.message())
        return out


def unload_boot_modules(names=("profile", "layout", "kick_weights")):
    # On the board, module bytecode lives in RAM: drop the modules only start-up needs (profile
    # validation, layout maths, kick_weights once the KickModel holds its tables). CPython keeps
    # them (tests hold references to their classes).
    import sys

    if sys.implementation.name != "micropython":
        return
    pkg = sys.modules.get("firmware")
    for name in names:
        sys.modules.pop("firmware." + name, None)
        if pkg is not None and name in pkg.__dict__:
            delattr(pkg, name)
    import gc

    gc.collect()


def boot_guard(path=BOOT_FILE):
    # Count boots that crash before running 10 s; returns (safe_mode, clear_function).
    n = 0
    try:
        with open(path) as f:
            n = int(f.read() or "0")
    except (OSError, ValueError):
        n = 0
    try:
        with open(path, "w") as f:
            f.write(str(n + 1))
    except OSError:
        pass

    def clear():
        try:
            with open(path, "w") as f:
                f.write("0")
        except OSError:
            pass

    return n >= _SAFE_AFTER_CRASHES, clear


def build(root="", parts=None):
    # Construct the App from files in `root` (the board's filesystem root, or a desk folder).
    # parts: stand-ins for the board's edges (host_tools/simulate.py), each replacing the profile's:
    # {"source": engine -> source, "sink": engine -> sink, "console": a Link io (tuning on)}.
    parts = parts or {}
    pre = root + "/" if root and not root.endswith("/") else root
    profile, faults = load_board(pre + PROFILE_FILE)
    # The validator (the largest module) goes before the engine's modules come in, so the two never
    # share the heap: the start-up peak is what a board without PSRAM must hold.
    unload_boot_modules(("profile",))
    from firmware.engine import Engine
    from firmware.store import Store

    store = Store(root)
    config, err = store.load_settings()  # falls back to config.json.bak / .tmp after a cut save
    if err and not err.endswith(": missing"):
        faults.append(err if config is not None else err + "; using default settings")
    src_cfg = profile["source"]
    sink_cfg = profile["sink"]
    bufs = None
    panels = None
    if sink_cfg["type"] == "neopixel" and "sink" not in parts:
        import machine
        import neopixel
        from firmware.panels_np import NeoPixelPanels

        panels = NeoPixelPanels(neopixel, machine, profile["panels"])
        bufs = panels.buffers()
    engine = Engine(profile, config, bufs)
    config = None  # the parsed settings document: applied, not kept
    for p in engine.problems:
        faults.append(p)
    for p in profile["panels"]:  # the layouts are in the mapper's distances now; the rest stays for tuning
        p.pop("layout", None)
    unload_boot_modules()
    if "sink" in parts:
        sink = parts["sink"](engine)
    elif sink_cfg["type"] == "neopixel":
        sink = panels
    else:
        from firmware.record_sink import RecordSink

        sink = RecordSink(open(pre + sink_cfg["path"], "wb"), engine.panel_buffers())
    if "source" in parts:
        source = parts["source"](engine)
    elif src_cfg["type"] == "pcm_file":
        from firmware.pcm_source import PcmFileSource

        source = PcmFileSource(open(pre + src_cfg["path"], "rb"), engine.hop)
    else:
        import machine
        from firmware.mic_i2s import I2SMic, make_i2s

        source = I2SMic(make_i2s(machine, src_cfg, profile["sample_rate"], engine.hop), src_cfg["mic"], engine.hop)
    app = App(engine, source, sink, faults)
    console = parts.get("console")
    if sink_cfg["type"] == "neopixel" or console is not None:  # on the board: live tuning over the USB console
        from firmware.link_usb import Link, UsbStdio
        from firmware.protocol import Control

        app.control = Control(engine, store, VERSION, app)
        try:
            app.link = Link(app.control, console if console is not None else UsbStdio())
        except Exception as e:  # no usable console (e.g. stdin replaced): play without tuning
            faults.append("usb console unavailable (%s); live tuning off" % e)
    return app


def run_desk(root="", app=None):
    # Headless run over a PCM file: writes events.json beside it when the audio ends.
    if app is None:
        app = build(root)
    app.beats_ms = []
    while app.step() >= 0:
        pass
    app.source.close()
    app.sink.close()
    eng = app.engine
    pre = root + "/" if root and not root.endswith("/") else root
    with open(pre + "events.json", "w") as f:
        f.write(events_json(eng.profile, eng.hop_time_ms(eng.hops - 1) if eng.hops else 0, app.frames,
                            app.beats_ms, app.dropped, app.fault_list()))
    return app


def run(root="", parts=None):
    # Device entry point: boot guard, watchdog, the endless loop. (parts: see build.)
    safe, clear = boot_guard((root + "/" if root else "") + BOOT_FILE)
    if safe:
        print("threadbeat: crashed at boot %d times; safe mode, REPL free. Fix config.json or board.json, "
              "then delete boot.cnt and reset." % _SAFE_AFTER_CRASHES)
        return None
    app = build(root, parts)
    if app.engine.profile["source"]["type"] == "pcm_file" and not (parts and "source" in parts):
        clear()
        return run_desk(root, app)
    for f in app.faults:
        print("threadbeat: fault: " + f)
    try:
        import machine

        app.wdt = machine.WDT(timeout=5000)
    except (ImportError, AttributeError, ValueError):
        app.wdt = None
    app.on_stable = clear
    while True:
        app.step()
