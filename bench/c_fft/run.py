# Builds the C port of firmware/fft.py, checks it bit for bit against RealFFT, prints ns per transform.
# Why: the C side of "viper FFT within 3x of the same algorithm in C (-O2, 32-bit)". Usage: run.py [--n 512]
from __future__ import annotations

import argparse
import math
import os
import random
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from firmware.fft import RealFFT, or_bound  # noqa: E402


def build(out_dir: str | None = None) -> tuple[str, bool]:
    """Compile fft.c via build.sh; return (binary path, is_32bit)."""
    out_dir = out_dir or os.path.join(tempfile.gettempdir(), "threadbeat-c-fft")
    proc = subprocess.run(["bash", os.path.join(HERE, "build.sh"), out_dir], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("build.sh failed:\n" + proc.stderr)
    if proc.stderr.strip():
        print(proc.stderr.strip(), file=sys.stderr)
    exe = proc.stdout.strip().splitlines()[-1]
    return exe, exe.endswith("fft32")


def make_frame(n: int, seed: int = 1, amp: int = 24000) -> list[int]:
    """A windowed frame like the front end makes: two tones plus noise in int16, under the front end's Q15 window."""
    rng = random.Random(seed)
    win = RealFFT(n).window
    out = []
    for i in range(n):
        v = amp * 0.6 * math.sin(2 * math.pi * 37.3 * i / n) + amp * 0.3 * math.sin(2 * math.pi * 5.1 * i / n)
        v = max(-32768, min(32767, int(v + rng.uniform(-0.1, 0.1) * amp)))
        out.append((v * win[i] + (1 << 14)) >> 15)
    return out


def run_python(n: int, frame: list[int]) -> tuple[int, list[int]]:
    f = RealFFT(n)
    for i, v in enumerate(frame):
        f.data[i] = v
    sh = f.run(or_bound(f.data, 0, n))
    return sh, list(f.data)


def run_c(exe: str, n: int, frame: list[int], reps: int = 1) -> dict:
    """Feed the tables of RealFFT(n) and the frame to the C binary; return its shifts, data and timings."""
    f = RealFFT(n)
    blob = struct.pack("<3i", n, len(f.swaps), reps)
    blob += struct.pack(f"<{len(f.tw)}h", *f.tw) + struct.pack(f"<{len(f.split_tw)}h", *f.split_tw)
    blob += struct.pack(f"<{len(f.swaps)}H", *f.swaps) + struct.pack(f"<{n}i", *frame)
    proc = subprocess.run([exe], input=blob, capture_output=True, check=True, timeout=300)
    head, data = proc.stdout.decode().splitlines()[:2]
    res = {k: float(v) if "." in v else int(v) for k, v in (kv.split("=") for kv in head.split())}
    res["data"] = [int(v) for v in data.split()]
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description="C port of the fixed-point FFT: bit-identity check and timing")
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--reps", type=int, default=20000)
    args = ap.parse_args()
    exe, is32 = build()
    frame = make_frame(args.n)
    sh, want = run_python(args.n, frame)
    res = run_c(exe, args.n, frame, args.reps)
    if res["shifts"] != sh or res["data"] != want:
        bad = sum(a != b for a, b in zip(res["data"], want))
        print(f"MISMATCH: shifts C={res['shifts']} py={sh}, {bad} of {args.n} values differ", file=sys.stderr)
        return 1
    print(
        f"n={args.n} bit-identical to firmware/fft.py (shifts={sh}); gcc -O2 {'-m32' if is32 else '-m64'}: "
        f"{res['ns_per_fft']:.0f} ns per transform ({res['ns_refill']:.0f} ns refill excluded; best of 100 batches, {res['reps']} reps)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
