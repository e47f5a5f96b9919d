# bench/mlp_export.py: a float MLP on the band history quantized to firmware/kick_mlp.py's integer model.
# The float layers here are made up (no training: CI has no scikit-learn); the integer scores come from
# the firmware's own arithmetic (host_tools/fastmlp, which tests/test_kick_mlp.py ties to PatchMLP).
import numpy as np
import pytest

from bench import mlp_export
from firmware.kick_mlp import PatchMLP
from host_tools import fastmlp

SCALE = 4096  # train_detector.LEAF_SCALE
WARM = 4


def levels(rng, t=3000):
    # Band levels (T, 20) like the analyzer's: Q8 log2, a whole-range level last, bands wandering around it
    top = 2600 + np.cumsum(rng.normal(0, 30, t)).astype(np.int64)
    bands = top[:, None] + rng.normal(-300, 500, (t, 19)).astype(np.int64)
    return np.clip(np.column_stack([bands, top]), 0, 32767)


def layers(rng, nh=32, dead=()):
    # Float layers on raw inputs with pre-activations of order 1 and some units always off.
    W1 = rng.normal(0, 1.0 / (500 * np.sqrt(160)), (160, nh))
    W1[19::20] = 0.0  # the whole-range level against itself: always 0, weightless after the fold
    b1 = rng.normal(0.3, 0.5, nh)
    for u in dead:
        b1[u] = -1e3
    return W1, b1, rng.normal(0, 1.0, nh), -1.5


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(7)
    lv = levels(rng)
    x = fastmlp.inputs(lv, WARM)
    ly = layers(rng, dead=(5,))
    return lv, x, ly, mlp_export.quantize(ly, x, SCALE)


def test_the_model_meets_the_firmware_bounds(case):
    _, _, _, model = case
    PatchMLP(model)  # raises ValueError outside kick_mlp.py's bounds
    w1, m1, b1, s1, w2, m2, b2, s2 = model
    assert len(w1) == 32 * 160 and len(w2) == 32 and len(s1) == 32
    assert s2 >= 1 and all(0 <= s <= 26 for s in s1)


def test_integer_scores_follow_the_float_logits(case):
    lv, x, ly, model = case
    f = mlp_export.float_logits(x, ly)
    q = fastmlp.scores(lv, model, WARM) / SCALE
    assert np.corrcoef(f, q)[0, 1] > 0.995
    assert np.median(np.abs(f - q)) < 0.05 * np.std(f)


def test_first_layer_keeps_its_resolution(case):
    # each live unit's multiplier uses at least 14 bits: the shift is as small as the bounds allow
    _, _, _, model = case
    m1 = np.asarray(model[1])
    live = m1 != 0
    assert live.sum() == 31
    assert (np.abs(m1[live]) >= 1 << 14).all() and (np.abs(m1[live]) < 1 << 15).all()


def test_a_unit_that_never_fires_exports_as_zeros(case):
    lv, _, _, model = case
    w1 = np.frombuffer(model[0], dtype=np.int8).reshape(32, 160)
    assert model[1][5] == 0 and model[2][5] == 0 and not w1[5].any()
    assert (fastmlp.hidden(lv, model, WARM)[:, 5] == 0).all()


def test_a_constant_input_gets_no_weight(case):
    w1 = np.frombuffer(case[3][0], dtype=np.int8).reshape(32, 160)
    assert not w1[:, 19::20].any()


def test_the_fold_puts_the_standardization_into_layer_one():
    # folded(): the network on standardized inputs equals the folded layers on raw inputs; an input
    # that never varies gets weight 0 whatever the network learnt for it.
    class Net:
        pass

    rng = np.random.default_rng(3)
    x = rng.normal(100, 300, (500, 160))
    x[:, 19] = 0.0
    mu, sd = x.mean(0), x.std(0)
    used = sd > 1e-6
    sd = np.where(used, sd, 1.0)
    net = Net()
    net.coefs_ = [rng.normal(0, 0.2, (160, 8)), rng.normal(0, 1, (8, 1))]
    net.intercepts_ = [rng.normal(0, 0.2, 8), np.array([0.3])]
    z = np.where(used, (x - mu) / sd, 0.0)
    ref = np.maximum(z @ net.coefs_[0] + net.intercepts_[0], 0) @ net.coefs_[1][:, 0] + 0.3
    ly = mlp_export.folded(net, mu, sd, used)
    assert np.allclose(mlp_export.float_logits(x, ly), ref)
    assert not ly[0][19].any()


def test_a_unit_past_its_bound_gets_coarser_steps():
    # unit 0 weighs one input that stays within +-10 on the data, so its 99.9th percentile (10) is tiny
    # against the worst case (that input at the rail, 2047): at 10/255 a step the worst case is ~52000
    # steps, past the 2**15 that keep (acc >> s1) * m1 below 2**30. The export makes the unit's steps
    # coarser until the firmware's bound holds; the unit then never reaches 255 on the data.
    rng = np.random.default_rng(11)
    x = fastmlp.inputs(levels(rng), WARM).copy()
    x[:, 0] = rng.integers(-10, 11, len(x))
    W1, b1, W2, b2 = layers(rng, nh=4)
    W1[:, 0] = 0.0
    W1[0, 0] = 1.0
    b1[0] = 0.0
    wq = np.zeros(160, dtype=np.int64)
    wq[0] = 127
    assert mlp_export._unit(wq, (1 / 127) / (10 / 255), 0.0) is None
    model = mlp_export.quantize((W1, b1, W2, b2), x, SCALE)
    PatchMLP(model)
    h = fastmlp.hidden(None, model, 0, x)
    assert 100 < h[:, 0].max() < 255
