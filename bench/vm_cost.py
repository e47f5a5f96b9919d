# The firmware's cost on real MicroPython: per-hop time by stage, heap after start-up, bytes allocated per hop,
# and an ESP32 estimate scaled by MicroPython's own FFT benchmark; figures go to README.md (section "vm").
# Usage: python bench/vm_cost.py [--no-readme] [--hops N] [--heap-only]
#
# Runs bench/vm_cost_script.py inside desk bundles (firmware sources + board.json + audio.pcm) of the
# default jacket (boards/esp32-jacket.json, 150 px) and the dress (boards/esp32s3-dress.json, 300 px),
# each turned into a desk profile (source pcm_file, sink record), in the MicroPython WebAssembly VM
# (tests/mpvm.py) and on the 32-bit unix port (tests/mpunix.py) when it is there.
# ESP32 estimate: tests/perf_bench/bm_fft.py from the MicroPython source tree at (3, 256) costs about
# 52 ms per FFT on a 240 MHz ESP32 (docs: DESIGN.md section 3); timing it on the unix port gives a
# factor, and the unix port's time per hop times that factor estimates the ESP32's.
# Heap of the dress as on the board (unix port only): see device_bundles() and device_heap() below;
# the JSON printed at the end holds the per-module and per-object-group breakdowns. Optional third mode,
# "frozen": with THREADBEAT_MPY_UNIX32_FROZEN pointing at a 32-bit unix MicroPython built with the firmware
# package frozen in (FROZEN_MANIFEST; README, "Freezing the firmware"), the same dress is started from the
# frozen modules (a folder with no firmware/ in it). Frozen code is a snapshot of firmware/ when it was built:
# the line says so and warns when a firmware source is newer than the binary.
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from bench import readme  # noqa: E402
from host_tools.audio import load  # noqa: E402
from host_tools.cli import main as cli  # noqa: E402
from mpunix import MicroPythonUnixError, run_unix32, unix32_path  # noqa: E402
from mpvm import REPO_ROOT, ensure_installed, node_available, run_micropython  # noqa: E402

SCRIPT = os.path.join(ROOT, "bench", "vm_cost_script.py")
AUDIO = os.path.join(ROOT, "tests", "fixtures", "mix_clean.flac")
GARMENTS = (("jacket", "esp32-jacket.json"), ("dress", "esp32s3-dress.json"))
MPY_SRC = os.environ.get("THREADBEAT_MPY_SRC", "/work/mpy-src")
BM_FFT = os.path.join(MPY_SRC, "tests", "perf_bench", "bm_fft.py")
ESP32_BM_FFT_MS = 52.0  # bm_fft (3, 256): ms per 256-point FFT on a 240 MHz ESP32 (DESIGN.md section 3)
FROZEN_ENV = "THREADBEAT_MPY_UNIX32_FROZEN"
TARGET_HOP_MS = 3.5
TARGET_HEAP_KB = 40
TIME_WARM = 150  # hops before timing: the frame ring is full and the analyzer has settled
ALLOC_WARM = 350  # as tests/test_vm_engine.py
ALLOC_HOPS = 1000
BLOCK = 50  # hops per timed block; figures are the median block (robust to other load on the machine)
PARTS = ("spectrum", "fft", "analyzer", "mapper", "output")  # the chain; read/sink are desk file I/O

# bm_fft's run() at (3, 256) makes 3 forward and 3 inverse 256-point transforms: 6 FFTs. Timed in
# BM_ROUNDS rounds of BM_RUNS runs (GC pauses included, as in the ESP32 figure); the median round counts.
BM_FFT_CODE = """
import sys, json
from time import ticks_us, ticks_diff
sys.path.insert(0, %r)
import bm_fft
run, result = bm_fft.bm_setup((3, 256))
run()
rounds = []
for r in range(%d):
    t = ticks_us()
    for i in range(%d):
        run()
    rounds.append(ticks_diff(ticks_us(), t))
n, ok = result()
print(json.dumps({"rounds_us": rounds, "ok": ok}))
"""
BM_ROUNDS = 5
BM_RUNS = 10
BM_FFTS_PER_RUN = 6

# Heap after start-up, in steps: gc.collect() at the end of each. The unix port runs them as one
# script; the VM (pyscript variant) only sets a flag in gc.collect() and collects when control is
# back at the top level (ports/webassembly/main.c, MICROPY_GC_SPLIT_HEAP_AUTO), so there each step
# is a separate runPython call (HEAP_NODE below). MODULES: the firmware modules a time run loaded,
# imported first so the figure splits into code (modules) and the App's objects.
HEAP_STEPS = [
    "import gc, json, sys\ngc.collect()",
    "base = gc.mem_alloc()\nfor m in MODULES:\n    __import__(m)\ngc.collect()",
    "mods = gc.mem_alloc() - base\nfrom firmware.app import build\napp = build('')\ngc.collect()",
    "print(json.dumps({'startup_bytes': gc.mem_alloc() - base, 'modules_bytes': mods, 'pixels': app.engine.total}))",
]
# Node: load the VM, copy the bundle into /app, run each step as its own top-level call.
HEAP_NODE = r"""
import fs from "node:fs";
import path from "node:path";
const { root, steps } = JSON.parse(fs.readFileSync(0, "utf8"));
const { loadMicroPython } = await import("@micropython/micropython-webassembly-pyscript");
let out = "";
const mp = await loadMicroPython({ stdout: (b) => { out += Buffer.from(b).toString(); },
                                   stderr: (b) => process.stderr.write(Buffer.from(b)), linebuffer: false });
function copy(src, dst) {
  mp.FS.mkdirTree(dst);
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    if (e.isDirectory()) copy(path.join(src, e.name), dst + "/" + e.name);
    else if (/\.(py|json|pcm)$/.test(e.name)) mp.FS.writeFile(dst + "/" + e.name, fs.readFileSync(path.join(src, e.name)));
  }
}
copy(root, "/app");
mp.runPython("import os, sys\nos.chdir('/app')\nsys.path.insert(0, '/app')\ndel os");
for (const s of steps) mp.runPython(s);
process.stdout.write(out);
"""


# The dress as it starts on the board, on the unix port: its own board.json (I2S microphone, NeoPixel
# panels, the USB console), the modules compiled to .mpy, and stand-ins for machine and neopixel that
# allocate what the real ones hand the firmware (each strip's count * bpp buffer). Imported before the
# baseline, so their own code is not counted. The viper twins are compiled for x86, the 32-bit unix
# port's native code, so they load as they do on the ESP32: their function objects and names count,
# their machine code does not (the unix port mmaps it, the ESP32 moves it to executable RAM outside the
# GC heap). Twice: .mpy from the filesystem (loaded
# into the heap, as on a stock ESP32 build) and from a ROMFS image (`threadbeat build --romfs`) mounted
# with vfs.VfsRom; the image is read into the heap before the baseline (on the ESP32 it is flash).
STANDINS = {
    "machine.py": "class Pin:\n    OUT = 1\n    def __init__(self, n, mode=0):\n        self.n = n\n\n\n"
                  "class I2S:\n    RX = 0\n    MONO = 0\n    def __init__(self, i2s_id, **kw):\n        self.cb = None\n"
                  "    def irq(self, cb):\n        self.cb = cb\n    def readinto(self, buf):\n        return len(buf)\n"
                  "    def deinit(self):\n        pass\n",
    "neopixel.py": "class NeoPixel:\n    def __init__(self, pin, n, bpp=3):\n        self.buf = bytearray(n * bpp)\n"
                   "    def write(self):\n        pass\n",
}
# App objects, group by group: each group's references are dropped and the heap shrinks by what only it
# held (order matters where objects are shared: the palette tables go before the mapper holding them).
DEVICE_GROUPS = (
    ("palette tables", "eng.palettes = None\nfor pm in eng.mapper.panels:\n    pm.lut = None"),
    ("mapper (positions, per-pixel state, RGB frame)", "eng.mapper = None\neng.positions = None"),
    ("output + strip buffers", "eng.output = None\napp.sink = None"),
    ("FFT (window, twiddles, work buffer)", "eng.spectrum.fft = None"),
    ("spectrum (sample ring, bin power)", "eng.spectrum = None"),
    ("kick trees", "eng.analyzer.kick = None"),
    ("analyzer state", "eng.analyzer = None\neng.features = None"),
    ("profile + panel settings", "eng.profile = None\neng.settings = None"),
    ("microphone buffers", "app.source = None"),
    ("console (protocol, link)", "app.control = None\napp.link = None"),
    ("engine, app, health, params", "app.engine = None\neng = None\napp = None"),
)
# Both device scripts start alike: the stand-ins imported before the baseline, and the ROMFS image
# (when ROM names one) mounted at /rom.
DEVICE_PRELUDE = """
import gc, json, sys
sys.path.insert(0, "")
import machine, neopixel
ROM = %r
if ROM:
    import vfs
    f = open(ROM, "rb")
    img = f.read()
    f.close()
    f = None
    vfs.mount(vfs.VfsRom(img), "/rom")
    sys.path.insert(0, "/rom")
"""
DEVICE_SCRIPT = DEVICE_PRELUDE + """gc.collect()
base = gc.mem_alloc()
from firmware.app import build
app = build("")
eng = app.engine
gc.collect()
startup = gc.mem_alloc() - base
mods = sorted(m for m in sys.modules if m.startswith("firmware"))
groups = []
last = startup
for name, code in %r:
    exec(code)
    gc.collect()
    a = gc.mem_alloc() - base
    groups.append((name, last - a))
    last = a
print(json.dumps({"startup_bytes": startup, "modules": mods, "groups": groups, "left": last,
                  "where": sys.modules["firmware.app"].__file__}))
"""
DEVICE_MODULES = DEVICE_PRELUDE + """PREGROW = %r
if PREGROW:
    # Grow MicroPython's qstr table first (interning junk names until it allocates a pool of over
    # 1,000 entries): otherwise the module whose names overflow a pool is charged the whole new pool
    # (pools double: ~4 KB at ~600 names), and the per-module figures jump between modules.
    class X:
        pass
    x = X()
    gc.collect()
    last = gc.mem_alloc()
    i = 0
    while True:
        hasattr(x, "qz%%d" %% i)
        i += 1
        a = gc.mem_alloc()
        if a - last > 3000 and i > 1000:
            break
        last = a
gc.collect()
base = gc.mem_alloc()
per = []
for m in %r:
    a = gc.mem_alloc()
    __import__(m)
    gc.collect()
    per.append((m, gc.mem_alloc() - a))
import firmware.app
firmware.app.unload_boot_modules()  # a dependency may have pulled in a boot-only module
gc.collect()
print(json.dumps({"modules_bytes": gc.mem_alloc() - base, "per_module": per}))
"""


def device_bundles(tmp, board_file="esp32s3-dress.json"):
    # Two bundles of the dress as on the board (bytecode .mpy): firmware/ on the filesystem, and romfs.img.
    with open(os.path.join(ROOT, "boards", board_file)) as f:
        prof = json.load(f)
    from host_tools import build as hbuild

    bytecode = dict(prof, chip="desk")  # same modules, with the viper twins for x86 (see above)
    path = os.path.join(tmp, "device-bytecode.json")
    with open(path, "w") as f:
        json.dump(bytecode, f)
    roots = {}
    saved = hbuild.ARCH["desk"]
    hbuild.ARCH["desk"] = "x86"
    try:
        for kind, extra in (("fs", []), ("romfs", ["--romfs"])):
            out = os.path.join(tmp, "device-" + kind)
            # as `threadbeat build` makes it for the real chip: the smaller kick model on a filesystem
            model = ["--kick-model", "small" if kind == "fs" else "full"]
            if cli(["build", "--board", path, "--out", out, "-q"] + extra + model) != 0:
                raise SystemExit("threadbeat build failed for the device bundle")
            roots[kind] = out
    finally:
        hbuild.ARCH["desk"] = saved
    for kind, out in roots.items():
        with open(os.path.join(out, "board.json"), "w") as f:
            json.dump(prof, f)  # the real profile: I2S microphone, NeoPixel sink, console
        for name, text in STANDINS.items():
            with open(os.path.join(out, name), "w") as f:
                f.write(text)
    if frozen_path():
        roots["frozen"] = frozen_bundle(tmp, roots["fs"])
    return roots


def frozen_path():
    # The unix binary with the firmware frozen in, from $THREADBEAT_MPY_UNIX32_FROZEN, or None.
    p = os.environ.get(FROZEN_ENV)
    return p if p and os.path.isfile(p) and os.access(p, os.X_OK) else None


def frozen_provenance(exe):
    # Frozen modules are the firmware as it was when the binary was built: compare the binary's age with
    # the newest firmware source it would hold (a checkout or an edit since makes the binary older).
    from host_tools.build import firmware_modules

    newest = max(firmware_modules(), key=lambda n: os.path.getmtime(os.path.join(ROOT, "firmware", n)))
    t_src = os.path.getmtime(os.path.join(ROOT, "firmware", newest))
    t_bin = os.path.getmtime(exe)
    iso = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {"binary": exe, "binary_mtime": iso(t_bin), "newest_source": "firmware/" + newest,
            "newest_source_mtime": iso(t_src), "stale": t_bin < t_src}


def frozen_bundle(tmp, fs_root):
    # The dress for the frozen binary: board.json, config.json and the stand-ins of the filesystem bundle,
    # no firmware/ folder (and no main.py), so `import firmware.app` finds the frozen package.
    out = os.path.join(tmp, "device-frozen")
    os.makedirs(out)
    for name in ["board.json", "config.json"] + sorted(STANDINS):
        with open(os.path.join(fs_root, name), "rb") as f, open(os.path.join(out, name), "wb") as g:
            g.write(f.read())
    return out


def import_order(modules):
    # The modules in dependency order (each after the firmware modules it imports at its top level),
    # so a per-module figure is the module's own cost.
    import ast

    deps = {}
    for m in modules:
        path = os.path.join(ROOT, *m.split(".")) + ".py"
        if not os.path.exists(path):
            path = os.path.join(ROOT, m, "__init__.py")
        with open(path) as f:
            tree = ast.parse(f.read())
        deps[m] = [n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module in modules]
    out = []

    def visit(m):
        if m not in out:
            for d in deps[m]:
                visit(d)
            out.append(m)

    for m in modules:
        visit(m)
    return out


def device_heap(roots):
    # Heap after start-up of the dress as on the board, with module / object breakdowns.
    res = {}
    for kind, root in roots.items():
        rom = os.path.join(root, "romfs.img") if kind == "romfs" else None
        exe = frozen_path() if kind == "frozen" else None
        if rom is not None and "VfsRom" not in run_unix32("import vfs; print(dir(vfs))"):
            res[kind] = {"skipped": "this unix build has no vfs.VfsRom (MICROPY_VFS_ROM)"}
            continue
        if exe is not None and "firmware" not in run_unix32("import sys\nsys.path.remove('')\nimport firmware\n"
                                                             "print(firmware.__name__)", root=root, exe=exe):
            raise SystemExit("device heap (frozen): %s has no frozen firmware package" % exe)
        r = json.loads(run_unix32(DEVICE_SCRIPT % (rom, DEVICE_GROUPS), root=root, timeout=300,
                                  exe=exe).strip().splitlines()[-1])
        if (rom is not None) != r["where"].startswith("/rom/"):
            raise SystemExit("device heap (%s): the modules came from %s" % (kind, r["where"]))
        if exe is not None and (os.path.exists(os.path.join(root, "firmware")) or not r["where"].endswith(".py")):
            raise SystemExit("device heap (frozen): the modules came from %s, not the frozen package" % r["where"])
        if "firmware.fft_viper" not in r["modules"] or "firmware.mapper_viper" not in r["modules"]:
            raise SystemExit("device heap (%s): the viper twins did not load: %s" % (kind, r["modules"]))
        order = import_order(r["modules"])
        m = json.loads(run_unix32(DEVICE_MODULES % (rom, False, order), root=root, timeout=300,
                                  exe=exe).strip().splitlines()[-1])
        r.update(m)
        # per module with the qstr table grown beforehand (see DEVICE_MODULES); what the modules
        # cost together beyond these is the qstr table's growth
        r["per_module"] = json.loads(run_unix32(DEVICE_MODULES % (rom, True, order), root=root, timeout=300,
                                                exe=exe).strip().splitlines()[-1])["per_module"]
        r["qstr_table_bytes"] = r["modules_bytes"] - sum(b for _, b in r["per_module"])
        if rom is not None:
            r["image_bytes"] = os.path.getsize(rom)
        if exe is not None:
            r["provenance"] = frozen_provenance(exe)
        res[kind] = r
    return res


START_SCRIPT = DEVICE_PRELUDE + """from firmware.app import build
app = build("")
for i in range(50):
    app.step()
print("started")
"""
ESP32_HEAP_KB = 111  # an ESP32 without PSRAM (MicroPython's GC heap grows to about this)


def smallest_heap(root, exe=None, lo=16, hi=320):
    # The smallest GC heap (KB, the unix port's -X heapsize) in which the board starts and runs 50
    # hops, and so does every heap up to 16 KB larger: the start-up peak plus what fragmentation
    # costs, which is what a board without PSRAM must hold (the heap after start-up is less).
    # Bisection; filesystem or frozen modules (a ROMFS image is read into this port's heap, so it has
    # no such figure here).
    def starts(k):
        try:
            return "started" in run_unix32(START_SCRIPT % (None,), root=root, timeout=120, exe=exe,
                                           args=("-X", "heapsize=%dK" % k))
        except MicroPythonUnixError:  # MemoryError at start-up
            return False

    if not starts(hi):
        raise SystemExit("device heap: %s does not start even in a %d KB heap" % (root, hi))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if starts(mid):
            hi = mid
        else:
            lo = mid
    # fragmentation makes the answer ragged (a size may fail just above one that starts): report the
    # size from which every heap up to 16 KB larger starts
    fails = [k for k in range(hi + 1, hi + 17) if not starts(k)]
    return fails[-1] + 1 if fails else hi


def start_heaps(tmp, built):
    # smallest_heap for each garment as on the board, its modules in the filesystem (and frozen, when
    # the frozen binary is there): {garment: {"fs": KB, "frozen": KB}}. built: {garment: its
    # device_bundles} already made; the others are made here.
    out = {}
    for garment, board_file in GARMENTS:
        roots = built.get(garment)
        if roots is None:
            sub = os.path.join(tmp, "start-" + garment)
            os.makedirs(sub)
            roots = device_bundles(sub, board_file)
        out[garment] = {"fs": smallest_heap(roots["fs"])}
        if "frozen" in roots:
            out[garment]["frozen"] = smallest_heap(roots["frozen"], exe=frozen_path())
    return out


def device_figures(tmp):
    # device_heap of the dress as on the board, with every garment's smallest start heap.
    roots = device_bundles(tmp)
    dev = device_heap(roots)
    dev["start_heap_kb"] = start_heaps(tmp, {"dress": roots})
    return dev


def bundle(tmp, garment, board_file, hops):
    # A desk bundle of this garment: its panels, modes and palettes, fed from audio.pcm.
    with open(os.path.join(ROOT, "boards", board_file)) as f:
        prof = json.load(f)
    prof["name"] = prof["name"] + " (desk run)"
    prof["chip"] = "desk"
    prof["source"] = {"type": "pcm_file", "path": "audio.pcm"}
    prof["sink"] = {"type": "record", "path": "frames.bin"}
    path = os.path.join(tmp, garment + ".json")
    with open(path, "w") as f:
        json.dump(prof, f)
    out = os.path.join(tmp, garment)
    if cli(["build", "--board", path, "--source", "--out", out, "-q"]) != 0:
        raise SystemExit("threadbeat build failed for " + board_file)
    x, _ = load(AUDIO, prof.get("sample_rate", 16000))
    n = hops * prof.get("hop", 128)
    x = np.tile(x, 1 + n // len(x))[:n]
    with open(os.path.join(out, "audio.pcm"), "wb") as f:
        f.write(x.astype("<i2").tobytes())
    return out


def run_script(runner, root, mode, warm, hops):
    code = "MODE = %r\nWARM = %d\nHOPS = %d\nBLOCK = %d\n" % (mode, warm, hops, BLOCK) + open(SCRIPT).read()
    out = runner(code, root=root, timeout=600)
    return json.loads(out.strip().splitlines()[-1])


def median(xs):
    xs = sorted(xs)
    k = len(xs) // 2
    return xs[k] if len(xs) % 2 else (xs[k - 1] + xs[k]) / 2


def split(t):
    # Per-hop figures in µs from a "time" run: the median over blocks of each figure.
    h = t["block"]
    st = t["stages"]
    parts = {k: median(st[k]) / h for k in PARTS}
    # push() includes the FFT: the spectrum's own share, block by block
    parts["spectrum"] = median([a - b for a, b in zip(st["spectrum"], st["fft"])]) / h
    return {
        "pixels": t["pixels"],
        "hops": h * len(t["plain"]),
        "per_hop_us": round(median(t["plain"]) / h, 1),  # app.step(), not instrumented
        "chain_us": round(median([sum(x) for x in zip(*(st[k] for k in ("spectrum", "analyzer", "mapper", "output")))])
                          / h, 1),  # spectrum (with fft) + analyzer + mapper + output, instrumented
        "parts_us": {k: round(parts[k], 1) for k in PARTS},
        "desk_io_us": round(median([a + b for a, b in zip(st["read"], st["sink"])]) / h, 1),  # file read + write
        "viper_loaded": "firmware.fft_viper" in t["modules"],
    }


def heap_vm(root, modules):
    ensure_installed()
    steps = ["MODULES = %r" % (modules,)] + HEAP_STEPS
    r = subprocess.run(["node", "--input-type=module", "-e", HEAP_NODE], cwd=REPO_ROOT, capture_output=True,
                       input=json.dumps({"root": root, "steps": steps}), text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit("heap measurement in the VM failed:\n" + r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def heap_unix(root, modules):
    code = "MODULES = %r\n" % (modules,) + "\n".join(HEAP_STEPS)
    return json.loads(run_unix32(code, root=root, timeout=300).strip().splitlines()[-1])


def measure(runner, heap, garments, time_hops):
    res = {}
    for garment, root in garments:
        t = run_script(runner, root, "time", TIME_WARM, time_hops)
        a = run_script(runner, root, "alloc", ALLOC_WARM, ALLOC_HOPS)
        h = heap(root, t["modules"])
        r = split(t)
        r["startup_heap_bytes"] = h["startup_bytes"]
        r["modules_heap_bytes"] = h["modules_bytes"]
        r["alloc_bytes"] = a["alloc_bytes"]
        r["alloc_hops"] = a["hops"]
        res[garment] = r
    return res


def bm_fft_unix():
    if not os.path.exists(BM_FFT):
        return {"skipped": "%s not found (set THREADBEAT_MPY_SRC to a MicroPython source tree)" % BM_FFT}
    code = BM_FFT_CODE % (os.path.dirname(BM_FFT), BM_ROUNDS, BM_RUNS)
    r = json.loads(run_unix32(code, timeout=300).strip().splitlines()[-1])
    if r["ok"] != [True, True]:
        raise SystemExit("bm_fft gave wrong results on the unix port: %r" % (r["ok"],))
    per_fft = median(r["rounds_us"]) / (BM_RUNS * BM_FFTS_PER_RUN)
    # the factor moves with the unix build (version, compiler flags), so the figure names it
    version = run_unix32("import sys\nprint('%d.%d.%d' % sys.implementation.version[:3])", timeout=60).strip()
    return {"source": BM_FFT, "unix_version": version, "params": [3, 256], "rounds_us": r["rounds_us"],
            "runs_per_round": BM_RUNS, "ffts_per_run": BM_FFTS_PER_RUN, "us_per_fft": round(per_fft, 1),
            "factor": ESP32_BM_FFT_MS * 1000 / per_fft}


def fmt_ms(us):
    return "%.2f" % (us / 1000)


def verdict(value, target):
    return "meets" if value <= target else "over"


def table(res):
    # Compact markdown for README.md.
    lines = [
        "Per hop (128 samples = 8 ms of audio at 16 kHz), ms: median of %d-hop blocks over %d hops of "
        "`tests/fixtures/mix_clean.flac` per garment. `chain` = spectrum (window, hop statistics, band "
        "levels) + fft + analyzer + mapper + output (packing), each timed; `app.step` = the whole loop "
        "turn, untimed (it includes the desk's file read and write)." % (BLOCK, res["time_hops"]),
        "",
        "| MicroPython | garment | spectrum | fft | analyzer | mapper | output | chain | app.step | heap after start-up (code) | alloc |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    skipped = []
    for plat, label in (("vm", "WebAssembly VM"), ("unix32", "unix port, 32-bit")):
        if "skipped" in res[plat]:
            skipped.append("%s: skipped (%s)." % (label, res[plat]["skipped"]))
            continue
        for garment in ("jacket", "dress"):
            r = res[plat][garment]
            p = r["parts_us"]
            lines.append("| %s | %s, %d px | %s | %s | %s | %s | %s | %s | %s | %.1f KB (%.1f) | %d B / %d hops |" % (
                label, garment, r["pixels"], fmt_ms(p["spectrum"]), fmt_ms(p["fft"]), fmt_ms(p["analyzer"]),
                fmt_ms(p["mapper"]), fmt_ms(p["output"]), fmt_ms(r["chain_us"]), fmt_ms(r["per_hop_us"]),
                r["startup_heap_bytes"] / 1024, r["modules_heap_bytes"] / 1024, r["alloc_bytes"], r["alloc_hops"]))
    lines.append("")
    lines.extend(skipped)
    est = res["esp32_estimate"]
    if "skipped" not in est:
        lines.append(
            "**ESP32 estimate, jacket: %.1f ms per hop** (%s the %.1f ms target) = unix-port app.step %.3f ms "
            "x %.1f, the factor from MicroPython's own `bm_fft` (3, 256): %.0f µs per FFT on the unix port "
            "here (MicroPython %s) against about %.0f ms on a 240 MHz ESP32. An estimate only: the factor comes "
            "from float/complex bytecode, ours is integer, and it varies between runs and unix builds; NeoPixel "
            "`write()` (about 4.5 ms for 150 px) comes on top."
            % (est["hop_ms"], verdict(est["hop_ms"], TARGET_HOP_MS), TARGET_HOP_MS, est["unix_hop_us"] / 1000,
               est["factor"], est["bm_fft_us_per_fft"], est["unix_version"], ESP32_BM_FFT_MS))
        if res["unix32"]["jacket"]["viper_loaded"]:
            lines.append("The viper kernels (FFT, spectrum, analyzer, kick, mapper, output) ran on the unix port: the "
                         "bytecode factor overstates the ESP32's time for them.")
    else:
        lines.append("ESP32 estimate: skipped (%s)." % est["skipped"])
    plat = "vm" if "skipped" not in res["vm"] else "unix32"
    if "skipped" not in res[plat]:
        d = res[plat]["dress"]
        lines.append("")
        lines.append("Heap after start-up, 300-px dress, desk bundle (%s, `.py` sources): **%.1f KB** (%s the %d KB "
                     "target), of which %.1f KB is the firmware modules (bytecode, module globals) and %.1f KB the "
                     "App's objects. Allocation in the steady loop: %d bytes over %d hops." % (
                         "VM" if plat == "vm" else "unix port", d["startup_heap_bytes"] / 1024,
                         verdict(d["startup_heap_bytes"], TARGET_HEAP_KB * 1024), TARGET_HEAP_KB,
                         d["modules_heap_bytes"] / 1024, (d["startup_heap_bytes"] - d["modules_heap_bytes"]) / 1024,
                         d["alloc_bytes"], d["alloc_hops"]))
    dev = res.get("device_heap")
    if dev and "skipped" not in dev["fs"]:
        lines.append("")
        lines.extend(device_lines(dev))
    if "skipped" not in res["vm"]:
        lines.append("")
        lines.append("The VM's clock ticks in whole milliseconds: its per-stage figures are averages of "
                     "1 ms ticks.")
    lines.append("")
    lines.append("_%s; `python bench/vm_cost.py`_" % readme.stamp())
    return lines


def kb(b):
    return "%.1f" % (b / 1024)


def device_lines(dev):
    # The dress as on the board (unix port, .mpy): filesystem vs ROMFS, and where the heap goes.
    fs = dev["fs"]
    out = ["Heap after start-up, 300-px dress **as on the board** (its own profile: I2S microphone, NeoPixel "
           "strips, USB console; unix port, `.mpy` with the viper twins as x86 native code, stand-ins for `machine`/`neopixel`): **%s KB** "
           "with the modules in the filesystem (%s KB of it modules, loaded into the heap as on a stock "
           "ESP32 build)" % (kb(fs["startup_bytes"]), kb(fs["modules_bytes"]))]
    rom = dev.get("romfs", {})
    if "skipped" in rom:
        out[0] += "; ROMFS: skipped (%s)." % rom["skipped"]
    elif rom:
        out[0] += ("; **%s KB** (%s the %d KB target) with the same `.mpy` in a ROMFS image (`threadbeat build "
                   "--romfs`, %s KB of flash) executed in place: %s KB modules (function and class objects, "
                   "module dicts, qstr entries: the bytecode stays in the image) + %s KB objects." % (
                       kb(rom["startup_bytes"]), verdict(rom["startup_bytes"], TARGET_HEAP_KB * 1024),
                       TARGET_HEAP_KB, kb(rom["image_bytes"]), kb(rom["modules_bytes"]),
                       kb(rom["startup_bytes"] - rom["modules_bytes"])))
        top = sorted(rom["per_module"], key=lambda x: -x[1])[:4]
        fs_mod = dict(fs["per_module"])
        out.append("Largest modules (filesystem / ROMFS, KB): " + ", ".join(
            "%s %s / %s" % (m.split(".")[-1], kb(fs_mod.get(m, 0)), kb(b)) for m, b in top) +
            "; the growth of the qstr table their names need: %s / %s." % (kb(fs["qstr_table_bytes"]),
                                                                          kb(rom["qstr_table_bytes"])))
    st = dev.get("start_heap_kb")
    if st:
        out.append("Smallest heap to start and run (the start-up peak with fragmentation; an ESP32 without PSRAM "
                   "has about %d KB): " % ESP32_HEAP_KB + "; ".join(
                       "%s **%d KB** from the filesystem%s" % (g, h["fs"], ", %d KB frozen" % h["frozen"] if "frozen" in h else "")
                       for g, h in st.items()) + ".")
    out.append("The App's objects (KB): " + ", ".join("%s %s" % (n, kb(b)) for n, b in fs["groups"]) + ".")
    fz = dev.get("frozen")
    if fz:
        pv = fz["provenance"]
        top = sorted(fz["per_module"], key=lambda x: -x[1])[:4]
        out.append(
            "Frozen (needs a MicroPython built with the `firmware` package frozen in, `FROZEN_MANIFEST`; "
            "README, \"Freezing the firmware\"): **%s KB** (%s the %d KB target) with the modules frozen into "
            "the unix binary %s (built %s: the firmware as it was then), %s KB modules (function and class "
            "objects, module dicts; bytecode, constants and qstrs stay in the binary, as in flash on the "
            "ESP32) + %s KB objects; largest modules (KB): %s." % (
                kb(fz["startup_bytes"]), verdict(fz["startup_bytes"], TARGET_HEAP_KB * 1024), TARGET_HEAP_KB,
                pv["binary"], pv["binary_mtime"], kb(fz["modules_bytes"]),
                kb(fz["startup_bytes"] - fz["modules_bytes"]),
                ", ".join("%s %s" % (m.split(".")[-1], kb(b)) for m, b in top)))
        if pv["stale"]:
            out.append("WARNING: the frozen binary is older than %s (%s): it may hold an older firmware than "
                       "the sources; rebuild it for a current figure." % (pv["newest_source"],
                                                                           pv["newest_source_mtime"]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--hops", type=int, default=800, help="hops timed per run (after %d warm-up hops)" % TIME_WARM)
    ap.add_argument("--heap-only", action="store_true",
                    help="only the dress's heap as on the board (unix port, seconds); prints it, leaves the README")
    args = ap.parse_args()
    if args.heap_only:
        if not unix32_path():
            raise SystemExit("--heap-only needs the 32-bit unix port (set THREADBEAT_MPY_UNIX32)")
        with tempfile.TemporaryDirectory() as tmp:
            dev = device_figures(tmp)
        print(json.dumps(dev, indent=1))
        print("\n".join(device_lines(dev)))
        return
    res = {"date": datetime.date.today().isoformat(), "time_hops": args.hops}
    need = max(TIME_WARM + 2 * args.hops, ALLOC_WARM + ALLOC_HOPS) + 8
    with tempfile.TemporaryDirectory() as tmp:
        roots = [(g, bundle(tmp, g, f, need)) for g, f in GARMENTS]
        if node_available():
            res["vm"] = measure(run_micropython, heap_vm, roots, args.hops)
        else:
            res["vm"] = {"skipped": "node not found"}
        if unix32_path():
            res["device_heap"] = device_figures(tmp)
            res["unix32"] = measure(run_unix32, heap_unix, roots, args.hops)
            bm = bm_fft_unix()
            res["bm_fft_unix32"] = bm
            if "skipped" in bm:
                res["esp32_estimate"] = {"skipped": bm["skipped"]}
            else:
                hop = res["unix32"]["jacket"]["per_hop_us"]
                res["esp32_estimate"] = {
                    "factor": round(bm["factor"], 1),
                    "bm_fft_us_per_fft": round(bm["us_per_fft"], 1),
                    "unix_version": bm["unix_version"],
                    "unix_hop_us": round(hop, 1),
                    "hop_ms": round(hop * bm["factor"] / 1000, 2),
                    "chain_ms": round(res["unix32"]["jacket"]["chain_us"] * bm["factor"] / 1000, 2),
                    "dress_hop_ms": round(res["unix32"]["dress"]["per_hop_us"] * bm["factor"] / 1000, 2),
                    "target_ms": TARGET_HOP_MS,
                }
        else:
            res["unix32"] = {"skipped": "no 32-bit unix port (set THREADBEAT_MPY_UNIX32)"}
            res["esp32_estimate"] = {"skipped": "no 32-bit unix port to time bm_fft on"}
    print(json.dumps(res, indent=1))
    if not args.no_readme:
        readme.update("vm", table(res))


if __name__ == "__main__":
    main()
