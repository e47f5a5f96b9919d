# The kick model: the numpy twin (host_tools/fastkick.py) computes KickModel's features and scores bit
# for bit, the shipped tables are well formed and inside their RAM budget, bench/train_detector.py's
# converter from flat node tables to the implicit layout (complete trees of one depth) keeps every score, and the model finds the
# fixture kicks (tests/test_analyzer.py checks that the kick-free fixture stays nearly beat-free).
import os
import random
from array import array

import numpy as np
import pytest

from bench.train_detector import implicit_tables, table_bytes
from conftest import FIXTURES
from firmware import kick_weights
from firmware.analyzer import Analyzer
from firmware.kick import N_FEAT, N_IN, KickModel
from firmware.params import Params
from firmware.spectrum import LEVEL_MIN, N_LEVELS
from host_tools import fastkick
from host_tools.audio import load
from host_tools.fastspectrum import FastSpectrum

MAX_TABLE_BYTES = 12 * 1024  # the model's tables: in flash on a frozen or ROMFS firmware (kick_weights' bytes)


def level_stream(seed, hops):
    # Levels with kick-like jumps, drifts, empty bands (LEVEL_MIN) and the int16 extremes.
    rng = random.Random(seed)
    x = [rng.randint(-4000, 0) for _ in range(N_LEVELS)]
    rows = []
    for h in range(hops):
        r = rng.random()
        for i in range(N_LEVELS):
            if r < 0.05:
                x[i] = rng.choice((LEVEL_MIN, 32767, -32768, 0))
            elif r < 0.15 and i < 8:
                x[i] = min(32767, x[i] + rng.randint(500, 3000))
            else:
                x[i] = max(-32768, min(32767, x[i] + rng.randint(-300, 250)))
        rows.append(list(x))
    return rows


def test_numpy_features_and_scores_equal_the_firmware_loop():
    for seed in (1, 2, 3):
        rows = level_stream(seed, 400)
        an = Analyzer(Params(), 16000, 128, 4)
        km = an.kick
        feats, scores = [], []
        for h, row in enumerate(rows):
            lv = array("h", row)
            an.update(lv, h * 8)  # computes features and score itself after the warm-up
            if h >= 4:
                feats.append(list(km.feat))
                scores.append(km.score())
        fl = fastkick.floors(rows, an)
        f = fastkick.features(np.array(rows), fl, 4)
        assert f.shape == (len(rows), N_FEAT)
        assert (f[4:] == np.array(feats)).all()
        assert (fastkick.scores(f[4:], km) == np.array(scores)).all()
        assert np.abs(f).max() == 2047  # the clamps were exercised
        assert len(set(scores)) > 20  # many different leaves reached


def test_features_on_audio_equal_the_firmware_loop():
    x, _ = load(os.path.join(FIXTURES, "mix_garment.flac"), 16000)
    lv = FastSpectrum(16000, 512, 128).levels(x)
    an = Analyzer(Params(), 16000, 128, 4)
    fw = []
    for h, row in enumerate(lv.tolist()):
        an.update(array("h", row), h * 8)
        if h >= 4:
            fw.append(list(an.kick.feat))
    f = fastkick.features(lv, fastkick.floors(lv.tolist(), an), 4)
    assert (f[4:] == np.array(fw)).all()


def test_feature_layout():
    # per level: r1, r2, above floor, r3, rise over the max, r4, rise over the min, previous rise, shape
    km = KickModel(kick_weights.TREES, 0)
    lv = array("h", [0] * N_LEVELS)
    km.prime(lv)
    steps = [100, 300, 200, 600]  # four hops of history: levels 100, 300, 200, 600, then 1000
    for v in steps:
        for i in range(N_LEVELS):
            lv[i] = v
        km.features(lv, array("i", [0] * N_LEVELS))
    for i in range(N_IN):
        lv[i] = 1000
    lv[N_IN] = 400  # the whole-range level
    f = km.features(lv, array("i", [(900 << 4)] * N_LEVELS))
    assert list(f[0:9]) == [400, 800, 100, 700, 400, 900, 900, 400, 600]


def test_tables_are_well_formed_and_within_budget():
    tf, thr, value = kick_weights.TREES
    # bytes, so that a frozen or ROMFS firmware keeps them in flash (kick_viper reads them there;
    # tests/test_kick_viper.py checks that no copy is made on the unix port)
    assert all(isinstance(t, bytes) for t in kick_weights.TREES)
    km = KickModel(kick_weights.TREES, kick_weights.BIAS)
    inner = km.inner
    trees = len(value) // 2 // (inner + 1)
    assert 0 < trees < 256 and inner in (7, 15, 31)
    assert len(value) == 2 * (inner + 1) * trees and len(tf) == len(thr) // 2 == inner * trees
    assert len(tf) + len(thr) + len(value) == table_bytes(kick_weights.TREES) <= MAX_TABLE_BYTES
    assert all(f < N_FEAT for f in tf)
    assert list(km.thr) == list(array("h", thr)) and list(km.value) == list(array("h", value))


# --- flat node tables -> implicit tables of one depth (bench/train_detector.implicit_tables) ----------


def flat_forest(seed, trees, max_depth=3, leaf=32767):
    """export_trees' flat format (roots, feature with 255 = leaf, threshold, left, right, value): trees of
    random shape (leaves at any depth up to max_depth, single leaves too), nodes in a shuffled order,
    thresholds over the whole int16 range and around the clamp, leaves up to +-leaf."""
    rng = random.Random(seed)
    tf, thr, left, right, value, roots = [], [], [], [], [], []

    def node():
        for t in (tf, thr, left, right, value):
            t.append(0)
        tf[-1] = 255
        return len(tf) - 1

    pending = []
    for _ in range(trees):
        roots.append(node())
        pending.append((roots[-1], 0))
    while pending:
        n, depth = pending.pop(rng.randrange(len(pending)))
        if depth < max_depth and rng.random() < 0.75:
            tf[n] = rng.randrange(N_FEAT)
            thr[n] = rng.choice((-32768, 32767, -2048, -2047, 2046, 2047, 0, -1, rng.randint(-2100, 2100)))
            left[n] = node()
            right[n] = node()
            pending += [(left[n], depth + 1), (right[n], depth + 1)]
        else:
            value[n] = rng.choice((-leaf, leaf, rng.randint(-leaf, leaf)))
    return tuple(roots), bytes(tf), tuple(thr), tuple(left), tuple(right), tuple(value)


def flat_score(flat, row, bias=0):
    # the walk of the flat tables (kick.py's score before the implicit layout)
    roots, tf, thr, left, right, value = flat
    s = bias
    for n in roots:
        while tf[n] != 255:
            n = left[n] if row[tf[n]] <= thr[n] else right[n]
        s += value[n]
    return s


def feature_vectors(seed, count):
    rng = random.Random(seed)
    rows = [[-2047] * N_FEAT, [2047] * N_FEAT, [0] * N_FEAT]
    while len(rows) < count:
        kind = len(rows) % 3
        if kind == 0:
            rows.append([rng.randint(-2047, 2047) for _ in range(N_FEAT)])
        elif kind == 1:
            rows.append([rng.choice((-2047, 2047, -2046, 2046, 0, -1)) for _ in range(N_FEAT)])
        else:
            rows.append([rng.randint(-40, 40) for _ in range(N_FEAT)])
    return rows


@pytest.mark.parametrize("seed,trees,depth", [(1, 48, 3), (2, 200, 3), (3, 1, 3), (4, 255, 3), (5, 128, 4),
                                              (6, 30, 2), (7, 12, 5), (8, 12, 1)])
def test_converted_tables_score_like_the_flat_tables(seed, trees, depth):
    flat = flat_forest(seed, trees, max_depth=depth)
    assert any(tf == 255 for tf in flat[1][: len(flat[0])]) or trees < 40  # single-leaf trees included
    tables = implicit_tables(flat, depth)
    inner = 2 ** depth - 1
    assert len(tables[0]) == len(tables[1]) == inner * trees and len(tables[2]) == (inner + 1) * trees
    km = KickModel(tables, -77)
    assert km.inner == inner  # the depth follows from the tables' sizes
    rows = feature_vectors(seed, 300)
    want, got = [], []
    for row in rows:
        km.feat[:] = array("h", row)
        want.append(flat_score(flat, row, -77))
        got.append(km.score())
    assert got == want
    assert len(set(want)) > (1 if trees == 1 else 20)  # many different leaves reached
    assert (fastkick.scores(np.array(rows), km) == np.array(want)).all()


def test_converter_pads_a_shallow_leaf_with_an_always_left_subtree():
    # one tree: feature 5 <= 10 -> leaf 100, else (feature 9 <= -3 -> leaf -1, else leaf 7)
    flat = ((0,), bytes([5, 255, 9, 255, 255]), (10, 0, -3, 0, 0), (1, 0, 3, 0, 0), (2, 0, 4, 0, 0),
            (0, 100, 0, -1, 7))
    tf, thr, value = implicit_tables(flat)
    assert list(tf) == [5, 0, 9, 0, 0, 0, 0]
    assert list(thr) == [10, 32767, -3, 32767, 32767, 32767, 32767]
    assert list(value) == [100, 100, 100, 100, -1, -1, 7, 7]
    one_leaf = implicit_tables(((0,), bytes([255]), (0,), (0,), (0,), (-32768,)))
    assert list(one_leaf[2]) == [-32768] * 8 and list(one_leaf[1]) == [32767] * 7


def test_converter_refuses_what_the_tables_cannot_hold():
    with pytest.raises(ValueError):  # a depth-4 tree in depth-3 tables
        implicit_tables(flat_forest(5, 30, max_depth=4))
    assert implicit_tables(flat_forest(5, 30, max_depth=4), 4)  # fits depth-4 ones
    with pytest.raises(ValueError):  # a leaf outside int16
        implicit_tables(((0,), bytes([255]), (0,), (0,), (0,), (32768,)))
    for tf, thr, value in ((bytes(7), [0] * 7, [0] * 7), (bytes(5), [0] * 5, [0] * 8),  # no whole trees
                           (bytes(7), [0] * 6, [0] * 8), (bytes(10), [0] * 10, [0] * 12)):  # 2 trees of 5 nodes
        with pytest.raises(ValueError):
            KickModel((tf, thr, value), 0)
    assert KickModel((bytes(6), [0] * 6, [0] * 8), 0).inner == 3  # two depth-2 trees
    assert KickModel((b"", [], []), 5).score() == 5  # no trees: the bias
    assert implicit_tables(flat_forest(5, 30, max_depth=3))  # the same seed within depth 3 converts


def test_shipped_tables_round_trip_through_the_flat_format():
    # kick_weights' tables as flat node tables (heap order) and back: the same tables, the same scores
    tf, thr, value = kick_weights.TREES
    thr, value = array("h", thr), array("h", value)  # int16 little-endian bytes in the module
    n_in = KickModel(kick_weights.TREES, 0).inner  # the shipped depth's internal nodes a tree
    roots, ftf, fthr, left, right, fval = [], [], [], [], [], []
    for t in range(len(value) // (n_in + 1)):
        base = len(ftf)
        roots.append(base)
        for k in range(2 * n_in + 1):
            inner = k < n_in
            ftf.append(tf[n_in * t + k] if inner else 255)
            fthr.append(thr[n_in * t + k] if inner else 0)
            left.append(base + 2 * k + 1 if inner else 0)
            right.append(base + 2 * k + 2 if inner else 0)
            fval.append(0 if inner else value[(n_in + 1) * t + k - n_in])
    flat = (roots, bytes(ftf), fthr, left, right, fval)
    back = implicit_tables(flat, (n_in + 1).bit_length() - 1)
    assert (bytes(back[0]), list(back[1]), list(back[2])) == (bytes(tf), list(thr), list(value))
    km = KickModel(kick_weights.TREES, kick_weights.BIAS)
    for row in feature_vectors(9, 200):
        km.feat[:] = array("h", row)
        assert km.score() == flat_score(flat, row, kick_weights.BIAS)


def test_model_finds_the_fixture_kicks_clean_and_through_the_garment_mic():
    from host_tools.scoring import score
    from host_tools import replay
    from firmware.profile import read_profile
    from conftest import ROOT
    import json

    profile = read_profile(os.path.join(ROOT, "boards", "esp32-jacket.json"))
    for name in ("mix_clean", "mix_garment"):
        x, _ = load(os.path.join(FIXTURES, name + ".flac"), 16000)
        with open(os.path.join(FIXTURES, name + ".json")) as fh:
            ann = json.load(fh)
        s = score(ann["kicks"], replay.run(x, profile, render=False).beats)
        assert s["recall"] >= 0.8 and s["precision"] >= 0.8, (name, s)


def test_cross_validation_folds_hold_out_whole_kits():
    # train_detector's folds by kit: every clip of a kit (clean, garment, augmented) in one fold, the
    # folds about equal in clips; clips without a kick (and every clip by song) fold by song
    from bench.train_detector import FOLDS, folds

    class C:
        def __init__(self, name, song, kit):
            self.name, self.song, self.kit = name, song, kit

    kits = {"A": 9, "B": 5, "C": 4, "D": 3, "E": 3}
    clips = [C("%s%d%s" % (k, i, v), "%s%d" % (k, i), k) for k, n in kits.items() for i in range(n)
             for v in ("c", "g")]
    clips += [C("free%d%s" % (i, v), "free%d" % i, None) for i in range(6) for v in ("c", "g")]
    fold = folds(clips, "kit")
    for k in kits:
        assert len({fold[c.name] for c in clips if c.kit == k}) == 1
    sizes = [sum(1 for c in clips if c.kit and fold[c.name] == f) for f in range(FOLDS)]
    assert sorted(sizes) == [14, 16, 18]  # A | B+E | C+D, dealt largest first to the smallest fold
    by_song = folds(clips, "song")
    for c in clips:
        assert by_song[c.name] == by_song[c.name[:-1] + ("g" if c.name.endswith("c") else "c")]
        if c.kit is None:
            assert fold[c.name] == by_song[c.name]
    assert len({by_song[c.name] for c in clips if c.kit == "A"}) > 1  # by song, a kit spreads out


def test_threshold_cap_over_all_dev_kickfree_clips():
    # train_detector.best_threshold's max_kickfree_all: the threshold rises until every dev kick-free clip
    # (bench/data/extra's and the augmented garment versions, which the usual cap leaves out) keeps under it
    from bench.train_detector import best_threshold, kickfree_rate

    class C:
        def __init__(self, name, song, category, mic, peaks):
            self.name, self.song, self.category, self.mic = name, song, category, mic
            self.t = np.arange(100) * 0.1
            self.ok = np.ones(100, dtype=bool)
            self.duration = 10.0
            self.score = np.zeros(100, dtype=np.int32)
            for h, v in peaks.items():
                self.score[h] = v
            self.kicks = [float(self.t[h]) for h, v in peaks.items() if v == 100]

    clips = [C("mix", "song", "mix", "clean", {10: 100, 30: 100, 50: 100, 70: 100, 90: 100, 20: 55, 40: 55}),
             C("free", "kf", "kickfree", "clean", {}),
             C("free_aug", "extra/kf", "kickfree", "aug", {15: 65, 45: 65, 65: 65})]
    S = {c.name: c.score for c in clips}
    f1, thr = best_threshold(clips, S, 1, 52.8, 0.5)
    assert f1 == 1.0 and 55 <= thr < 65  # the aug clip counts in neither F1 nor the usual cap
    assert kickfree_rate(clips, S, thr, 1) == 0.0
    assert kickfree_rate(clips, S, thr, 1, every=True) == 60.0 * 3 / 20
    f1c, thrc = best_threshold(clips, S, 1, 52.8, 0.5, max_kickfree_all=0.0)
    assert f1c == 1.0 and 65 <= thrc < 100
    assert kickfree_rate(clips, S, thrc, 1, every=True) == 0.0
    assert best_threshold(clips, S, 1, 52.8, 0.5, max_kickfree_all=60.0 * 3 / 20) == (f1, thr)
