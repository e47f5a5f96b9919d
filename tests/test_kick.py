# The kick model: the numpy twin (host_tools/fastkick.py) computes KickModel's features and scores bit
# for bit, the shipped tables are well formed and inside their RAM budget, and the model finds the
# fixture kicks (tests/test_analyzer.py checks that the kick-free fixture stays nearly beat-free).
import os
import random
from array import array

import numpy as np

from conftest import FIXTURES
from firmware import kick_weights
from firmware.analyzer import Analyzer
from firmware.kick import N_FEAT, N_IN, KickModel
from firmware.params import Params
from firmware.spectrum import LEVEL_MIN, N_LEVELS
from host_tools import fastkick
from host_tools.audio import load
from host_tools.fastspectrum import FastSpectrum

MAX_TABLE_BYTES = 8 * 1024  # the model's share of the garment's 40 KB heap


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
    roots, tf, thr, left, right, value = kick_weights.TREES
    nodes = len(tf)
    assert len(thr) == len(left) == len(right) == len(value) == nodes
    assert 0 < len(roots) < 256
    size = 2 * len(roots) + nodes * (1 + 2 + 2 + 2 + 4)
    assert size <= MAX_TABLE_BYTES
    assert all(abs(v) < 2 ** 16 for v in value)
    for r in roots:  # every tree reaches its leaves without cycles; feature indices exist
        stack, seen = [r], set()
        while stack:
            n = stack.pop()
            assert 0 <= n < nodes and n not in seen
            seen.add(n)
            if tf[n] != 255:
                assert tf[n] < N_FEAT
                stack += [left[n], right[n]]
    km = KickModel(kick_weights.TREES, kick_weights.BIAS)
    assert km.thr is thr and km.value is value and km.tf is tf  # no second copy in RAM


def test_model_finds_the_fixture_kicks_clean_and_through_the_garment_mic():
    from bench.scoring import score
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
