# Level changes: how the analyzer's gain (AGC) and noise gate follow a +-30 dB step in level, on
# the test split's songs (issue 6: "level changes of +-30 dB settle within 2 s without pumping").
#
# What is measured. For each song x (int16 at the profile's 16 kHz) four signals are replayed
# through the firmware engine (host_tools.replay, fast path, esp32-jacket profile):
#   own   x;                          quiet q = x * 10**(-30/20), rounded to int16, throughout;
#   drop  x up to T0, q from T0 on;   rise  q up to T0, x from T0 on.
# T0 = the half point of the song, cut at a hop boundary (hop k0 = hops // 2, T0 = k0 * hop_s).
# A step has settled when the stepped run shows what a run at the new level all along shows: the
# drop is compared with `quiet`, the rise with `own`, hop for hop after T0. (Not with the song at its
# own level throughout: at -30 dB a garment file's hiss sinks to the int16 rounding noise and the gate
# shows a little less of it, a difference of level, not of settling; the last column gives it.)
# Only the brightness features `level` and `bass` (features columns 1 and 2, 0..255) are compared,
# each on its own; a song's figure is the worse of the two.
#   Windows: the hops from k0 on in consecutive 0.25 s windows (window j = hops k0 + e_j to
#   k0 + e_(j+1), e_j = round(j * 0.25 / hop_s): 31 or 32 hops of 8 ms), window means of the
#   stepped run s_j and of the target r_j; only full windows.
#   Tolerance: 10 % of the target's mean brightness over the whole second half (hops k0..end), but
#   at least 5 % of full brightness (12.75 of 255): a garment song through the garment microphone is
#   dim (its level brightness averages 10-20), and a tenth of that is under one step of brightness.
#   Settle time: the start (seconds after T0) of the first window j from which every later window
#   has |s_j - r_j| <= tolerance; inf ("never") when the last one is still outside it.
#   Pumping: the largest |s_j - r_j| over the windows from T0 + 2 s (the budget) to the end,
#   in % of full brightness (255). It starts at the fixed 2 s rather than at the settle time: after
#   the settle time every window is within the 10 % tolerance by definition, so a figure taken
#   from there could never exceed the tolerance. Settled within 2 s => pumping within the tolerance;
#   a gain that hunts, or one still off at 2 s, shows up above it (and as a late or missing settle time).
#   Beats after the step: the stepped run's beats in [T0, T0 + 2 s) against the target's in the
#   same span, summed over songs (a gain that jumps must not fire a burst of false beats).
#   Beat recall after settling: the target's beats from T0 + settle time (T0 + 2 s for a song
#   that never settles) to the end that the stepped run matches within +-50 ms (host_tools.scoring
#   one-to-one matching), pooled over songs.
#   -30 dB against own level: quiet's mean `level` brightness over the second half over own's (the
#   front end is level-invariant, so 1.00 but for the gate eating hiss or quiet passages), and the
#   songs where it is under 5 % (the gate ate the music).
# Variants: the drop and the rise on the test split's clean-mic mix and mix_voice songs (bench/data,
# 9 songs; bench/data/extra* is not used), and both again on the same songs through the garment
# microphone (already 20-40 dB quieter and reverberant: -30 dB more takes them near the floor).
# `--split dev` measures the dev split's songs instead (for tuning; printed only, never the README).
# `--extra extra_test` measures the 72 songs per microphone of bench/data/extra_test (printed only).
# `--oracle` replays the stepped songs with an oracle in place of the analyzer's loudness steps: every floor
# moved by exactly the step (+-30 dB) at the step's hop, nothing else (printed only): what is left over 2 s
# then is the same song's floors at two levels differing band by band: what a perfect measure of the step
# would leave (the garment rows; a clean file's floors are not in contact with its music, and moving them is
# wrong). Its beats come from the analyzer's own kick path.
# Usage: python bench/agc.py [--no-readme] [--limit N] [--split dev] [--extra DIR] [--oracle]
import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import readme  # noqa: E402

DATA = os.path.join(ROOT, "bench", "data")
BOARD = os.path.join(ROOT, "boards", "esp32-jacket.json")
CATS = ("mix", "mix_voice")
STEP_DB = 30.0
WINDOW_S = 0.25
TOL_FRAC = 0.10  # settle tolerance: this fraction of the target's mean brightness,
TOL_MIN = 0.05 * 255  # but at least 5 % of full brightness
BUDGET_S = 2.0  # the settle budget; pumping is measured from here on
BEAT_TOL_S = 0.05
GATED_FRAC = 0.05  # "under the gate": stepped mean level below this fraction of the reference's
COLS = {"level": 1, "bass": 2}  # brightness columns of replay's features


# ---- pure functions -------------------------------------------------------------------------

def attenuate(x, db):
    # int16 x scaled by `db` dB (negative: quieter), rounded.
    y = np.round(x.astype(np.float64) * 10 ** (db / 20.0))
    return np.clip(y, -32768, 32767).astype(np.int16)


def stepped(x, k0, hop, db=-STEP_DB):
    # (drop, rise): x with its part from hop k0 on `db` dB down, and with its part before k0 down.
    cut = k0 * hop
    q = attenuate(x, db)
    return np.concatenate([x[:cut], q[cut:]]), np.concatenate([q[:cut], x[cut:]])


def window_edges(n_hops, hop_s, window_s=WINDOW_S):
    # Hop indices (relative to the step) where the 0.25 s windows start, plus the end of the last
    # full window: e_j = round(j * window_s / hop_s) while e_j <= n_hops.
    edges = []
    j = 0
    while True:
        e = int(round(j * window_s / hop_s))
        if e > n_hops:
            break
        edges.append(e)
        j += 1
    return np.array(edges, dtype=np.int64)


def window_means(x, edges):
    # Means of the 1-D series x (hops from the step on) over each window [edges[j], edges[j+1]).
    x = np.asarray(x, dtype=np.float64)
    return np.array([x[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])


def tolerance(ref_mean, frac=TOL_FRAC):
    return max(frac * float(ref_mean), TOL_MIN)


def settle_time(ref_w, step_w, tol, starts_s):
    # Seconds after the step from which every later window mean of the stepped run is within tol of
    # the reference's: starts_s[j] of the first such window j; inf when the last one is outside.
    off = np.abs(np.asarray(step_w, float) - np.asarray(ref_w, float)) > tol
    if len(off) == 0 or off[-1]:
        return float("inf")
    bad = np.nonzero(off)[0]
    return float(starts_s[bad[-1] + 1]) if len(bad) else float(starts_s[0])


def pumping(ref_w, step_w, first=0):
    # Largest |stepped - target| window mean from window `first` on, in % of full brightness (255).
    d = np.abs(np.asarray(step_w, float)[first:] - np.asarray(ref_w, float)[first:])
    if len(d) == 0:
        return float("nan")
    return 100.0 * float(d.max()) / 255.0


def beats_between(beats, t0, t1):
    return sum(1 for b in beats if t0 <= b < t1)


def recall_after(ref_beats, step_beats, t_from, tol=BEAT_TOL_S):
    # (matched, total): the reference's beats from t_from on that the stepped run has within +-tol.
    from host_tools.scoring import match

    ref = [b for b in ref_beats if b >= t_from]
    return len(match(ref, step_beats, tol)), len(ref)


def measure(ref, step, k0, hop_s):
    # One song, one stepped run. ref: the target run (the new level all along), step: the stepped
    # one, each (features, beats) of a replay (features: int rows t_ms, level, bass, ...). Returns
    # settle (s), pumping (%), beats in the 2 s after the step (stepped, target) and recall after
    # settling (matched, total).
    fr, br = ref
    fs_, bs = step
    n = fr.shape[0] - k0
    edges = window_edges(n, hop_s)
    starts = edges[:-1] * hop_s
    first = int(np.searchsorted(starts, BUDGET_S - 1e-9))
    settles, pumps = [], []
    for c in COLS.values():
        r_mean = float(fr[k0:, c].mean())
        rw = window_means(fr[k0:, c], edges)
        sw = window_means(fs_[k0:, c], edges)
        settles.append(settle_time(rw, sw, tolerance(r_mean), starts))
        d = np.abs(sw - rw)[first:]
        pumps.append((pumping(rw, sw, first), float(starts[first + int(np.argmax(d))]) if len(d) else float("nan")))
    t0 = k0 * hop_s
    settle = max(settles)
    t_from = t0 + (settle if np.isfinite(settle) else BUDGET_S)
    return {
        "settle": settle,
        "pumping": max(pumps)[0],
        "pumping_at": max(pumps)[1],  # where (s after T0) the worst window starts
        "beats_step": beats_between(bs, t0, t0 + BUDGET_S),
        "beats_ref": beats_between(br, t0, t0 + BUDGET_S),
        "recall": recall_after(br, bs, t_from),
    }


def level_ratio(own, quiet, k0):
    # quiet's mean `level` brightness from hop k0 on over own's (features arrays); nan if own is dark.
    lv = COLS["level"]
    o = float(own[k0:, lv].mean())
    return float(quiet[k0:, lv].mean()) / o if o > 0 else float("nan")


def summarize(rows):
    # Per-variant figures from measure()'s rows (each with its song's "level_ratio").
    settle = np.array([r["settle"] for r in rows])
    pump = np.array([r["pumping"] for r in rows])
    m = sum(r["recall"][0] for r in rows)
    t = sum(r["recall"][1] for r in rows)
    return {
        "songs": len(rows),
        "settle_median": float(np.median(settle)), "settle_max": float(settle.max()),
        "late": int((settle > BUDGET_S).sum()), "never": int(np.isinf(settle).sum()),
        "pump_median": float(np.median(pump)), "pump_max": float(pump.max()),
        "beats_step": sum(r["beats_step"] for r in rows), "beats_ref": sum(r["beats_ref"] for r in rows),
        "recall": m / t if t else float("nan"), "recall_n": (m, t),
        "ratio_median": float(np.median([r["level_ratio"] for r in rows])),
        "gated": sum(1 for r in rows if r["level_ratio"] < GATED_FRAC),
    }


def seconds(v):
    return "never" if np.isinf(v) else "%.2f s" % v


def table(summaries):
    # Markdown table lines: one row per (variant name, summary).
    lines = ["| variant | songs | settle time median / max | not settled in 2 s (never) | pumping median / max "
             "| beats in the 2 s after the step (target) | beat recall after settling "
             "| -30 dB against own level: median (songs under the gate) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, s in summaries:
        lines.append("| %s | %d | %s / %s | %d (%d) | %.1f / %.1f %% | %d (%d) | %.2f (%d of %d) | %.2f (%d) |" % (
            name, s["songs"], seconds(s["settle_median"]), seconds(s["settle_max"]), s["late"], s["never"],
            s["pump_median"], s["pump_max"], s["beats_step"], s["beats_ref"], s["recall"],
            s["recall_n"][0], s["recall_n"][1], s["ratio_median"], s["gated"]))
    return lines


# ---- running the engine -----------------------------------------------------------------------

def songs_of(mic, limit=None, split="test", data=DATA):
    # Names of the mix and mix_voice songs of `split` through microphone `mic` in `data` (bench/data or
    # a directory of more songs made by make_extra_dev.py, with the same index.json).
    import json

    with open(os.path.join(data, "index.json")) as fh:
        files = json.load(fh)["files"]
    names = sorted(f["name"] for f in files
                   if f["split"] == split and f["category"] in CATS and f["mic"] == mic)
    return names[:limit] if limit else names


def oracle_run(y, profile, k0, db):
    # (features[:, :3], beats) of the firmware analyzer over y with its loudness steps off and every floor
    # moved by exactly `db` dB at hop k0 (before that hop's update); the kick scores computed by the analyzer
    # itself from those floors.
    from array import array

    from firmware.analyzer import _DB_Q12
    from firmware.engine import Engine
    from host_tools.fastspectrum import FastSpectrum

    eng = Engine(profile)
    an = eng.analyzer
    an.step_q12 = 1 << 30  # never a step of its own
    rows = FastSpectrum(eng.fs, eng.n, eng.hop, eng._bass).levels(y).tolist()
    out = np.zeros((len(rows), 3), dtype=np.int64)
    beats = []
    move = int(round(db * _DB_Q12))
    for h, row in enumerate(rows):
        if h == k0:
            for b in range(len(an.floor)):
                an.floor[b] += move
        f = an.update(array("h", row), eng.hop_time_ms(h))
        out[h] = (f.t_ms, f.level, f.bass)
        if f.beat:
            beats.append(f.t_ms / 1000.0)
    return out, beats


def run_song(name, data=DATA, oracle=False):
    # Replays of one song: {"k0", "hop_s", "own", "quiet", "drop", "rise"}, each run as (features, beats);
    # oracle: the drop and the rise through oracle_run instead.
    from firmware.profile import read_profile
    from host_tools import replay
    from host_tools.audio import load

    profile = read_profile(BOARD)
    x, _ = load(os.path.join(data, name + ".wav"), profile["sample_rate"])
    hop = profile["hop"]
    k0 = (len(x) // hop) // 2
    d, u = stepped(x, k0, hop)

    def go(y, db=0.0):
        if oracle and db:
            return oracle_run(y, profile, k0, db)
        r = replay.run(y, profile, render=False)
        return r.features[:, :3].copy(), r.beats

    return {"k0": k0, "hop_s": hop / profile["sample_rate"], "own": go(x), "quiet": go(attenuate(x, -STEP_DB)),
            "drop": go(d, -STEP_DB), "rise": go(u, STEP_DB)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-readme", action="store_true", help="print only")
    ap.add_argument("--limit", type=int, default=None, help="first N songs per microphone (quick runs)")
    ap.add_argument("--split", choices=("test", "dev"), default="test",
                    help="dev: the dev split's songs, for tuning (prints only; the README gives the test split)")
    ap.add_argument("--extra", default=None, metavar="DIR",
                    help="the songs of this directory under bench/data instead (e.g. extra_test: 72 per "
                         "microphone, a steadier median than the 9; prints only)")
    ap.add_argument("--oracle", action="store_true",
                    help="the floors moved by exactly the step at its hop instead of the analyzer's steps (prints only)")
    args = ap.parse_args()
    data = os.path.join(DATA, args.extra) if args.extra else DATA
    clean, garment = (songs_of(m, args.limit, args.split, data) for m in ("clean", "garment"))
    jobs = clean + garment
    with ProcessPoolExecutor(max(1, min(len(jobs), os.cpu_count() or 1))) as ex:
        runs = dict(zip(jobs, ex.map(run_song, jobs, [data] * len(jobs), [args.oracle] * len(jobs))))

    def rows(names, kind):
        out = []
        for n in names:
            r = runs[n]
            m = measure(r["quiet" if kind == "drop" else "own"], r[kind], r["k0"], r["hop_s"])
            m["name"] = n
            m["level_ratio"] = level_ratio(r["own"][0], r["quiet"][0], r["k0"])
            out.append(m)
        return out

    variants = [("drop -30 dB, clean mic", rows(clean, "drop")),
                ("rise +30 dB, clean mic", rows(clean, "rise")),
                ("drop -30 dB, garment mic", rows(garment, "drop")),
                ("rise +30 dB, garment mic", rows(garment, "rise"))]
    for name, rs in variants:
        print(name)
        for m in rs:
            print("  %-22s settle %-8s pumping %6.1f %% (at %5.2f s)  beats in 2 s %2d (ref %2d)  recall %3d/%-3d  "
                  "level ratio %.2f" % (
                      m["name"], seconds(m["settle"]), m["pumping"], m["pumping_at"], m["beats_step"], m["beats_ref"],
                      m["recall"][0], m["recall"][1], m["level_ratio"]))
    lines = table([(name, summarize(rs)) for name, rs in variants])
    print()
    print("\n".join(lines))
    if not args.no_readme and args.split == "test" and not args.extra and not args.oracle:
        readme.update("agc", [
            "A %g dB step in level at the half point of each test song (bench/data, `test` split, %s%s), "
            "replayed beside the song at the new level all along; `level` and `bass` brightness compared in "
            "%.2f s window means, tolerance %d %% of the target's mean over the second half, at least 5 %% of full brightness (the worse of "
            "the two features per song); pumping = the largest window difference from 2 s after the "
            "step on, in %% of full brightness; definitions in bench/agc.py:" % (
                STEP_DB, " and ".join(CATS), " songs" if args.limit is None else ", first %d per microphone" % args.limit,
                WINDOW_S, round(100 * TOL_FRAC)),
            "",
        ] + lines + [
            "",
            "_%s_" % readme.stamp(),
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
