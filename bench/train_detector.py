# Trains the kick model (firmware/kick.py: small gradient-boosted trees on integer features) on
# the dataset's DEV split only and writes firmware/kick_weights.py; bench/detect.py then scores
# it on the TEST split, which training never sees.  Usage: python bench/train_detector.py
import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import scoring  # noqa: E402

DATA = os.path.join(ROOT, "bench", "data")
OUT = os.path.join(ROOT, "firmware", "kick_weights.py")
POS_MS = (0, 32)  # a hop ending this long after a kick onset should fire
SKIP_MS = (32, 72)  # the hops after that are left out of training (neither kick nor not)
LEAF_SCALE = 4096  # integer score units per logit
EMPTY_MODEL = (((0,), (255,), (0,), (0,), (0,), (0,)), 0, LEAF_SCALE, 0)  # features only


def file_features(path):
    # (features (T, 95) int, hop end times (T,) s, bass-gate (T,) bool) as the firmware computes them.
    from firmware.analyzer import Analyzer
    from firmware.params import Params
    from firmware.profile import read_profile
    from firmware.spectrum import BASS
    from host_tools.audio import load
    from host_tools.fastkick import features, floors
    from host_tools.fastspectrum import FastSpectrum

    prof = read_profile(os.path.join(ROOT, "boards", "esp32-jacket.json"))
    fs, hop, n = prof["sample_rate"], prof["hop"], prof["fft_size"]
    x, _ = load(path, fs)
    lv = FastSpectrum(fs, n, hop).levels(x)
    an = Analyzer(Params(), fs, hop, n // hop, model=EMPTY_MODEL)
    fl = floors(lv.tolist(), an)
    gate = ((lv[:, BASS] << 4) - fl[:, BASS] > an.gate) & (np.arange(len(lv)) >= an.warm_hops)
    t = (np.arange(len(lv)) + 1) * hop / fs
    return features(lv, fl, an.warm_hops), t, gate


def labels(t, kicks):
    y = np.zeros(len(t), dtype=np.int8)  # 1 kick, 0 not, -1 left out
    for k in kicks:
        d = (t - k) * 1000
        y[(d >= SKIP_MS[0]) & (d < SKIP_MS[1]) & (y == 0)] = -1
        y[(d >= POS_MS[0]) & (d < POS_MS[1])] = 1
    return y


def detect(score, t, gate, thr, refractory=0.12):
    # The firmware's decision: first hop over the threshold with the bass gate open, refractory.
    beats, last = [], -1e9
    for s, tt, g in zip(score, t, gate):
        if s > thr and g and tt - last >= refractory - 1e-9:
            beats.append(float(tt))
            last = tt
    return beats


def export_trees(model):
    # HistGradientBoosting trees -> flat integer node tables (firmware/kick.py's format). Integer
    # features go left when x <= threshold, so a float threshold t becomes floor(t).
    roots, feat, thr, left, right, value = [], [], [], [], [], []
    for (pred,) in model._predictors:
        base = len(feat)
        roots.append(base)
        for node in pred.nodes:
            if node["is_leaf"]:
                feat.append(255)
                thr.append(0)
                left.append(0)
                right.append(0)
                value.append(int(round(node["value"] * LEAF_SCALE)))
            else:
                feat.append(int(node["feature_idx"]))
                thr.append(int(np.clip(np.floor(node["num_threshold"]), -32768, 32767)))
                left.append(base + int(node["left"]))
                right.append(base + int(node["right"]))
                value.append(0)
    bias = int(round(float(np.ravel(model._baseline_prediction)[0]) * LEAF_SCALE))
    return (roots, feat, thr, left, right, value), bias


def tree_score(trees, bias, X):
    # The firmware's integer score of every row of X, through a real KickModel's tables.
    from firmware.kick import KickModel
    from host_tools.fastkick import scores

    return scores(X, KickModel(trees, bias))


def write_weights(trees, bias, thr, files, f1, what):
    names = sorted(f["name"] for f in files)
    lines = [
        "# Kick model, written by bench/train_detector.py -- do not edit by hand.",
        "# %s, trained on the dataset's dev split only (%d files: %s ... %s);" % (what, len(names), names[0], names[-1]),
        "# dev F1 %.3f. bench/detect.py scores it on the test split, which training never sees." % f1,
        "SCALE = %d  # integer score units per logit" % LEAF_SCALE,
        "BIAS = %d" % bias,
        "THRESHOLD = %d  # the score over which a hop fires, at sensitivity 50" % thr,
        "# node tables: roots, feature (255 = leaf), threshold, left, right, leaf value",
        "TREES = (",
    ]
    for arr in trees:
        lines.append("    (" + ", ".join(str(int(v)) for v in arr) + ",),")
    lines.append(")")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trees", type=int, default=40)
    ap.add_argument("--depth", type=int, default=3)
    args = ap.parse_args()
    from sklearn.ensemble import HistGradientBoostingClassifier

    files = []
    for f in json.load(open(os.path.join(DATA, "index.json")))["files"]:
        if f["split"] == "dev":
            with open(os.path.join(DATA, f["json"])) as fh:
                files.append(dict(f, **json.load(fh)))
    with ProcessPoolExecutor(os.cpu_count() or 1) as ex:
        data = list(ex.map(file_features, [os.path.join(DATA, f["wav"]) for f in files]))
    X = np.concatenate([d[0] for d in data])
    Y = np.concatenate([labels(d[1], f["kicks"]) for f, d in zip(files, data)])
    G = np.concatenate([d[2] for d in data])
    keep = (Y >= 0) & G
    model = HistGradientBoostingClassifier(max_depth=args.depth, max_iter=args.trees, learning_rate=0.15,
                                           class_weight="balanced", random_state=0)
    model.fit(X[keep], Y[keep])
    trees, bias = export_trees(model)
    scores = [tree_score(trees, bias, d[0]) for d in data]
    ref = model.decision_function(data[0][0]) * LEAF_SCALE
    if np.abs(scores[0] - ref).max() > len(trees[0]) + 1:  # only the leaves' rounding may differ
        raise SystemExit("exported trees disagree with the model")
    best = (-1.0, 0)
    for thr in np.unique(np.quantile(np.concatenate(scores), np.linspace(0.85, 0.999, 80)).astype(int)):
        res = [scoring.score(f["kicks"], detect(s, d[1], d[2], thr)) for f, s, d in zip(files, scores, data)]
        f1 = scoring.pooled(res)["f1"]
        if f1 > best[0]:
            best = (f1, int(thr))
    write_weights(trees, bias, best[1], files, best[0], "gradient-boosted trees, %d x depth %d" % (args.trees, args.depth))
    print("trained on %d dev files, %d hops (%d kick hops); %d nodes; dev F1 %.3f at score %d" % (
        len(files), int(keep.sum()), int((Y[keep] == 1).sum()), len(trees[1]), best[0], best[1]))


if __name__ == "__main__":
    main()
