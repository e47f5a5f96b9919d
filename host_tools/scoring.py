# Scoring beat detections against annotated kicks (threadbeat replay --kicks, bench/detect.py,
# bench/train_detector.py): one-to-one matching within a tolerance,
# precision / recall / F1, latency of matched beats, and false beats per minute.
import numpy as np


def match(kicks, beats, tol=0.05):
    # Greedy one-to-one matching in time order: each kick takes the earliest unused beat within
    # +-tol. Returns a list of (kick, beat) pairs.
    kicks = sorted(kicks)
    beats = sorted(beats)
    used = [False] * len(beats)
    pairs = []
    j0 = 0
    for k in kicks:
        while j0 < len(beats) and beats[j0] < k - tol:
            j0 += 1
        j = j0
        while j < len(beats) and beats[j] <= k + tol:
            if not used[j]:
                used[j] = True
                pairs.append((k, beats[j]))
                break
            j += 1
    return pairs


def score(kicks, beats, tol=0.05):
    # dict with tp, fp, fn, precision, recall, f1 and the latencies (beat - kick, seconds).
    pairs = match(kicks, beats, tol)
    tp = len(pairs)
    fp = len(beats) - tp
    fn = len(kicks) - tp
    p = tp / (tp + fp) if tp + fp else (1.0 if not kicks else 0.0)
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f1": f1,
            "latencies": [b - k for k, b in pairs]}


def pooled(results):
    # Pool per-file scores (micro-average): sums of tp/fp/fn, all latencies.
    tp = sum(r["tp"] for r in results)
    fp = sum(r["fp"] for r in results)
    fn = sum(r["fn"] for r in results)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    lat = [x for res in results for x in res["latencies"]]
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f1": f1,
            "lat_median_ms": 1000 * float(np.median(lat)) if lat else float("nan"),
            "lat_p90_ms": 1000 * float(np.percentile(lat, 90)) if lat else float("nan")}


def f1_interval(results, n=2000, level=0.95, seed=0):
    # Bootstrap interval of the pooled F1 over files (songs): resample the files with replacement n
    # times, pool each draw, take the central `level` of the F1s. How far one song more or less moves it.
    counts = np.array([[r["tp"], r["fp"], r["fn"]] for r in results], dtype=np.int64).reshape(-1, 3)
    if len(counts) == 0:
        return (float("nan"), float("nan"))
    draw = np.random.default_rng(seed).integers(len(counts), size=(n, len(counts)))
    tp, fp, fn = counts[draw].sum(axis=1).T
    denom = 2 * tp + fp + fn  # F1 = 2tp / (2tp + fp + fn)
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    lo, hi = np.percentile(f1, [50 * (1 - level), 50 * (1 + level)])
    return (float(lo), float(hi))


def false_per_minute(beat_counts, durations):
    total = sum(durations)
    return 60.0 * sum(beat_counts) / total if total else 0.0
