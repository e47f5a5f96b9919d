# Replay speed on a 3-minute song: the fast path (numpy front end + firmware analyzer) against the
# per-frame firmware engine, side by side in one run, with previews timed separately.
# Usage: python bench/replay_speed.py [--no-readme]
import argparse
import glob
import json
import os
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import readme  # noqa: E402
from firmware.profile import read_profile  # noqa: E402
from host_tools import replay  # noqa: E402
from host_tools.audio import load  # noqa: E402


def song(seconds=180, rate=44100):
    # A 3-minute stereo 44.1 kHz song: the dataset's clean mixes back to back (or the demo looped).
    files = sorted(glob.glob(os.path.join(ROOT, "bench", "data", "mix*_clean.wav")))
    if not files:
        files = [os.path.join(ROOT, "demo", "demo.ogg")]
    parts, total = [], 0
    while total < seconds * rate:
        for f in files:
            x, fs = sf.read(f, always_2d=True)
            x = x.mean(axis=1)
            if fs != rate:
                from scipy.signal import resample_poly
                x = resample_poly(x, rate, fs)
            parts.append(x)
            total += len(x)
            if total >= seconds * rate:
                break
    x = np.concatenate(parts)[: seconds * rate]
    return np.stack([x, x], axis=1), rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--excerpt", type=float, default=10.0, help="seconds run through the per-frame engine")
    args = ap.parse_args()
    profile = read_profile(os.path.join(ROOT, "boards", "esp32-jacket.json"))
    x, rate = song()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "song.wav")
        sf.write(path, x, rate)
        t0 = time.perf_counter()
        samples, _ = load(path, profile["sample_rate"])
        t_load = time.perf_counter() - t0
        dur = len(samples) / profile["sample_rate"]
        t0 = time.perf_counter()
        fast = replay.run(samples, profile, render=False)
        t_fast = time.perf_counter() - t0
        t0 = time.perf_counter()
        rendered = replay.run(samples, profile, render=True)
        t_render = time.perf_counter() - t0
        t0 = time.perf_counter()
        replay.write_outputs(rendered, os.path.join(tmp, "out"), dur, source=path, preview=True)
        t_pics = time.perf_counter() - t0
    n = int(args.excerpt * profile["sample_rate"])
    t0 = time.perf_counter()
    fr = replay.run(samples[:n], profile, engine="frame", render=False)
    t_frame = time.perf_counter() - t0
    same = bool((fr.features == fast.features[: fr.features.shape[0]]).all())
    rt_fast = dur / (t_load + t_fast)
    rt_frame = args.excerpt / t_frame
    res = {
        "song_s": dur, "load_resample_s": t_load, "analysis_s": t_fast, "x_realtime": rt_fast,
        "with_mapping_s": t_render, "pictures_s": t_pics, "per_frame_x_realtime": rt_frame,
        "speedup_vs_per_frame": rt_fast / rt_frame, "identical_on_excerpt": same,
    }
    print(json.dumps(res, indent=1))
    if not args.no_readme:
        readme.update("replay", [
            "| replay of a %.0f s song (44.1 kHz stereo WAV, jacket profile) | figure |" % dur,
            "|---|---|",
            "| load + resample to 16 kHz | %.2f s |" % t_load,
            "| analysis and events (fast path) | %.2f s |" % t_fast,
            "| **speed, load to events** | **%.0fx real time** (target >= 100x) |" % rt_fast,
            "| per-frame firmware engine, same machine, same run | %.1fx real time (fast path is %.0fx faster; identical features: %s) |" % (rt_frame, rt_fast / rt_frame, "yes" if same else "NO"),
            "| analysis + mapping + output for every frame (for pictures) | %.2f s |" % t_render,
            "| timeline.png + 30 s preview.gif | %.2f s |" % t_pics,
            "",
            "_%s_" % readme.stamp(),
        ])
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
