# The kick MLP (firmware/kick_mlp.py's PatchMLP): the numpy twin (host_tools/fastmlp.py) gives its scores
# bit for bit, hop for hop, warm-up included; its viper twin (firmware/kick_mlp_viper.py) gives the bytecode's
# scores in simulation and on the 32-bit unix port without allocating; every per-hop intermediate stays
# below 2**30 for the worst models __init__ accepts, and __init__ refuses the models that could break it.
import json
import os
import random
import subprocess
import sys
from array import array

import numpy as np
import pytest

from conftest import ROOT
from firmware.kick_mlp import N_HOPS, N_X, PatchMLP
from firmware.spectrum import LEVEL_MIN, N_LEVELS
from host_tools import fastmlp
from test_analyzer_viper import real_levels, synthetic_levels

try:
    from tests import mpunix, viper_sim  # if tests/ is (or becomes) a package
except ImportError:
    import mpunix
    import viper_sim

VIPER_SRC = os.path.join(ROOT, "firmware", "kick_mlp_viper.py")
MPY_CROSS = viper_sim.MPY_CROSS
HAVE_MPY_CROSS = viper_sim.HAVE_MPY_CROSS
O_UNIT = 128 * 255  # the largest |w2[u] * h[u]|
LIMIT = 1 << 30


# --- models and level streams -------------------------------------------------------------------


def model_tuple(w1, m1, b1, s1, w2, m2, b2, s2):
    return (bytes(array("b", w1)), array("h", m1), array("i", b1), bytes(s1), bytes(array("b", w2)), m2, b2, s2)


def m2_max(nh, b2):
    # the largest |m2| PatchMLP accepts for H units and this b2: H * 32640 * |m2| + |b2| < 2**30
    return (LIMIT - 1 - abs(b2)) // (nh * O_UNIT)


def unit_bound(row, m, b, s):
    # a unit's bound quantity ((A >> s) + 1) * |m| + |b|, A = 2047 * sum |w|: PatchMLP wants it below 2**30
    return ((2047 * sum(abs(v) for v in row) >> s) + 1) * abs(m) + abs(b)


def least_shift(row, m, b):
    # the smallest first-layer shift PatchMLP accepts for a unit (26 always does)
    return next(s for s in range(27) if unit_bound(row, m, b, s) < LIMIT)


def m1_max(row, b, s):
    # the largest |m1| PatchMLP accepts for a unit with this shift and bias
    return min(32767, (LIMIT - 1 - abs(b)) // ((2047 * sum(abs(v) for v in row) >> s) + 1))


def rows(w1, nh):
    return [w1[u * N_X:(u + 1) * N_X] for u in range(nh)]


def random_model(seed, nh=32, kind="typical"):
    """A model inside PatchMLP's bounds. typical: weights over the whole int8 range (the extremes often),
    multipliers and biases that keep the hidden units between 0 and 255 on music, each unit's shift at or
    a little above the least its bound allows; small_shifts: small weights (as trained units have), unit u
    shifting by u % 12 with |m1| up to the largest its bound allows; extreme: only the int8 extremes,
    |m1| = 2**15 - 1, |b1| = 2**29 - 1 or 0, the least shifts, m2 at its largest; worst: every first-layer
    weight -128, m1 = 2**15 - 1, b1 = 2**29 - 1, s1 = 12 (the least its bound allows), w2 = -128 (the
    largest |acc|, pre-activation and |o| the bounds allow, with the input at -2047)."""
    rng = random.Random(seed)
    if kind == "worst":
        b2 = (1 << 29) - 1
        w1 = [-128] * (N_X * nh)
        assert least_shift(w1[:N_X], 32767, (1 << 29) - 1) == 12
        return model_tuple(w1, [32767] * nh, [(1 << 29) - 1] * nh, [12] * nh, [-128] * nh, m2_max(nh, b2), b2, 1)
    if kind == "extreme":
        w1 = [rng.choice((-128, 127, -127)) for _ in range(N_X * nh)]
        m1 = [rng.choice((-32767, 32767)) for _ in range(nh)]
        b1 = [rng.choice((-(1 << 29) + 1, (1 << 29) - 1, 0)) for _ in range(nh)]
        s1 = [least_shift(r, m, b) for r, m, b in zip(rows(w1, nh), m1, b1)]
        w2 = [rng.choice((-128, 127)) for _ in range(nh)]
        b2 = rng.choice((-(1 << 29), 1 << 29, 0))
        m = m2_max(nh, b2)
        m2 = rng.choice((m, -m))
        s2 = rng.choice((1, 31, rng.randint(1, 31)))
    elif kind == "small_shifts":
        w1 = [max(-128, min(127, int(rng.gauss(0, 12)))) for _ in range(N_X * nh)]
        s1 = [u % 12 for u in range(nh)]
        b1 = [rng.choice((0, rng.randint(-(1 << 22), 1 << 22))) for _ in range(nh)]
        m1 = []
        for r, b, s in zip(rows(w1, nh), b1, s1):
            m = m1_max(r, b, s)
            m1.append(rng.choice((m, -m, rng.randint(-m, m), rng.randint(-m // 64, m // 64))))
        w2 = [rng.choice((-128, 127, rng.randint(-128, 127))) for _ in range(nh)]
        b2 = rng.randint(-(1 << 20), 1 << 20)
        m2 = rng.choice((m2_max(nh, b2), rng.randint(-300, 300)))
        s2 = rng.randint(1, 12)
    else:
        w1 = [rng.choice((-128, 127, rng.randint(-128, 127), rng.randint(-20, 20))) for _ in range(N_X * nh)]
        m1 = [rng.choice((32767, -32767, rng.randint(-32767, 32767), rng.randint(-3000, 3000))) for _ in range(nh)]
        b1 = [rng.choice((0, rng.randint(-(1 << 22), 1 << 22), rng.randint(-(1 << 29) + 1, (1 << 29) - 1)))
              for _ in range(nh)]
        s1 = [min(26, least_shift(r, m, b) + rng.choice((0, 0, 1, 3))) for r, m, b in zip(rows(w1, nh), m1, b1)]
        w2 = [rng.choice((-128, 127, rng.randint(-128, 127))) for _ in range(nh)]
        b2 = rng.randint(-(1 << 20), 1 << 20)
        m = m2_max(nh, b2)
        m2 = rng.choice((m, -m, rng.randint(-300, 300)))
        s2 = rng.randint(1, 12)
    return model_tuple(w1, m1, b1, s1, w2, m2, b2, s2)


# A unit's pre-activation reaches +-(2**30 - 1) exactly: weights +-1 on every level but the whole-range
# one (whose input is always 0), so A = 2047 * 152 = 311,144 and, with every input at -+2047, acc = -A;
# s1 = 4 does not divide A, so acc >> 4 = -19447 = -((A >> 4) + 1): times m1 = +-30000 plus b1 the rest.
_EDGE_ROW = ([1] * (N_LEVELS - 1) + [0]) * N_HOPS
_EDGE_M1 = 30000
_EDGE_B1 = LIMIT - 1 - ((2047 * 152 >> 4) + 1) * _EDGE_M1  # 490,331,823 < 2**29


def at_bound_model():
    """Three units on their exact bound (((A >> s1) + 1) * |m1| + |b1| = 2**30 - 1): unit 0 reaches
    -(2**30 - 1) with every input at -2047, unit 1 +(2**30 - 1) with every input at +2047, unit 2 (random
    weights, the least shift) has the bias that puts it on the bound too."""
    rng = random.Random(11)
    row2 = [rng.randint(-128, 127) for _ in range(N_X)]
    s2u = least_shift(row2, 20000, 0)
    b2u = LIMIT - 1 - ((2047 * sum(map(abs, row2)) >> s2u) + 1) * 20000
    assert 0 <= b2u < 1 << 29
    w1 = _EDGE_ROW + [-v for v in _EDGE_ROW] + row2
    return model_tuple(w1, [_EDGE_M1, -_EDGE_M1, 20000], [-_EDGE_B1, _EDGE_B1, -b2u], [4, 4, s2u], [1, -1, 1],
                       1, 0, 1)


def rail_levels(seed, hops):
    """Levels that push every input to +-2047 and past: the whole-range level at an int16 extreme or
    LEVEL_MIN against the others at the opposite one, and random mixtures of the three."""
    rng = random.Random(seed)
    out = []
    for h in range(hops):
        kind = h % 3
        if kind == 0:
            top, rest = rng.choice(((32767, LEVEL_MIN), (LEVEL_MIN, 32767), (-32768, 32767), (32767, -32768)))
            out.append([rest] * (N_LEVELS - 1) + [top])
        else:
            out.append([rng.choice((32767, -32768, LEVEL_MIN)) for _ in range(N_LEVELS)])
    return out


def edge_levels(hops):
    """Every input at -2047 (the whole-range level up at 32767, the rest at LEVEL_MIN) for a run of hops,
    then at +2047 (the other way round), then a mixture: at_bound_model's units reach their bounds."""
    down = [LEVEL_MIN] * (N_LEVELS - 1) + [32767]
    up = [32767] * (N_LEVELS - 1) + [LEVEL_MIN]
    half = hops // 3
    return [down] * half + [up] * half + rail_levels(hops, hops - 2 * half)


def run(mod, model, levels, warm):
    """PatchMLP of `mod` (firmware.kick_mlp or a wired copy) fed hop by hop: prime on hops < warm, else push."""
    m = mod.PatchMLP(model)
    x = array("h", [0] * N_LEVELS)  # one buffer: the simulator registers every buffer it sees
    out = []
    for t, lv in enumerate(levels):
        for j in range(N_LEVELS):
            x[j] = lv[j]
        if t < warm:
            m.prime(x)
        else:
            m.push(x)
        out.append(m.score())
    return out


MODELS = {
    "typical": lambda: random_model(1),
    "typical_b": lambda: random_model(2),
    "extreme": lambda: random_model(3, kind="extreme"),
    "worst": lambda: random_model(4, kind="worst"),
    "one_unit": lambda: random_model(5, nh=1),
    "one_unit_extreme": lambda: random_model(6, nh=1, kind="extreme"),
    "wide_64": lambda: random_model(7, nh=64),
    "small_shifts": lambda: random_model(8, nh=24, kind="small_shifts"),
    "at_bound": at_bound_model,
}


@pytest.fixture(scope="module")
def mix():
    return real_levels("mix_garment", 6.0)


# --- the numpy twin -------------------------------------------------------------------------


def test_inputs_follow_the_definition():
    # past the warm-up and 7 more hops, x[t, k * 20 + j] = clamp(L[t - k][j] - L[t - k][19], +-2047)
    levels = synthetic_levels(3, 200) + rail_levels(3, 40)
    warm = 4
    x = fastmlp.inputs(levels, warm)
    for t in range(warm + N_HOPS - 1, len(levels)):
        want = [max(-2047, min(2047, levels[t - k][j] - levels[t - k][19])) for k in range(N_HOPS) for j in range(N_LEVELS)]
        assert list(x[t]) == want, t
    assert x.min() == -2047 and x.max() == 2047
    # the warm-up: on a primed hop every slot holds that hop; after it, the history is frozen at hop warm - 1
    d = [[max(-2047, min(2047, r[j] - r[19])) for j in range(N_LEVELS)] for r in levels]
    for t in range(warm):
        assert list(x[t]) == d[t] * N_HOPS
    assert list(x[warm]) == d[warm] + d[warm - 1] * (N_HOPS - 1)
    assert list(x[warm + 2]) == d[warm + 2] + d[warm + 1] + d[warm] + d[warm - 1] * (N_HOPS - 3)
    # warm 0: nothing primed, the ring starts empty
    x0 = fastmlp.inputs(levels, 0)
    assert list(x0[1]) == d[1] + d[0] + [0] * (N_X - 2 * N_LEVELS)


@pytest.mark.parametrize("warm", [0, 1, 4, 9])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_numpy_scores_equal_the_firmware_hop_for_hop_on_synthetic_streams(name, warm):
    model = MODELS[name]()
    levels = synthetic_levels(len(name) + warm, 360) + rail_levels(warm, 30)
    if name == "wide_64" and warm != 4:
        levels = levels[:120]  # the same path, a quarter of the time
    want = fastmlp.scores(levels, model, warm)
    assert want.dtype == np.int64 and want.shape == (len(levels),)
    assert run(sys.modules["firmware.kick_mlp"], model, levels, warm) == want.tolist()
    if name not in ("worst", "one_unit_extreme", "at_bound"):  # (these sit on a rail: worst's b1 keeps every
        # unit at 255, at_bound's keep two of its three units on their rails)
        assert len(set(want.tolist())) > 3  # not a constant


def test_numpy_scores_equal_the_firmware_on_a_recording(mix):
    seen = set()
    for name in ("typical", "typical_b", "extreme", "one_unit", "small_shifts"):
        model = MODELS[name]()
        want = fastmlp.scores(mix, model, 4)
        assert run(sys.modules["firmware.kick_mlp"], model, mix, 4) == want.tolist(), name
        h = fastmlp.hidden(mix, model, 4)
        seen.update(("zero" if v == 0 else "full" if v == 255 else "between") for v in np.unique(h))
        if name.startswith("typical") or name == "small_shifts":
            assert np.mean((h > 0) & (h < 255)) > 0.05  # the units work between their rails on music
    assert seen == {"zero", "full", "between"}


def test_numpy_takes_a_patch_mlp_as_the_model():
    model = MODELS["typical"]()
    levels = synthetic_levels(9, 100)
    assert (fastmlp.scores(levels, PatchMLP(model), 4) == fastmlp.scores(levels, model, 4)).all()


# --- the bounds -----------------------------------------------------------------------------


def test_init_refuses_models_that_can_break_the_bounds():
    nh = 4
    good = dict(w1=[1] * (N_X * nh), m1=[100] * nh, b1=[0] * nh, s1=[12] * nh, w2=[1] * nh, m2=m2_max(nh, 0), b2=0,
                s2=1)

    def model(**change):
        d = dict(good, **change)
        return model_tuple(d["w1"], d["m1"], d["b1"], d["s1"], d["w2"], d["m2"], d["b2"], d["s2"])

    PatchMLP(model())
    PatchMLP(model(m2=-m2_max(nh, 0), m1=[32767, -32767, 0, 1], b1=[(1 << 29) - 1, -(1 << 29) + 1, 0, 0],
                   s1=[26, 26, 0, 0], s2=31))
    bad = {
        "s1_27": dict(s1=[12, 27, 12, 12]),
        "s1_255": dict(s1=[12, 12, 12, 255]),
        "short_s1": dict(s1=[12] * (nh - 1)),
        "long_s1": dict(s1=[12] * (nh + 1)),
        "s2_0": dict(s2=0),  # the ensemble (trees + mlp) >> 1 needs |score| <= 2**29 (kick.py)
        "s2_32": dict(s2=32),
        "m1_-2**15": dict(m1=[100, -32768, 100, 100]),
        "b1_2**29": dict(b1=[0, 0, 1 << 29, 0]),
        "b1_-2**29": dict(b1=[-(1 << 29), 0, 0, 0]),
        "m2_too_large": dict(m2=m2_max(nh, 0) + 1),
        "m2_too_negative": dict(m2=-m2_max(nh, 0) - 1),
        "b2_pushes_over": dict(b2=LIMIT - nh * O_UNIT * m2_max(nh, 0)),
        "short_w1": dict(w1=[1] * (N_X * nh - 1)),
        "long_w1": dict(w1=[1] * (N_X * nh + N_X)),
        "short_w2": dict(w2=[1] * (nh - 1)),
        "short_b1": dict(b1=[0] * (nh - 1)),
        "no_units": dict(w1=[], m1=[], b1=[], s1=[], w2=[]),
    }
    for name, change in bad.items():
        with pytest.raises(ValueError):
            PatchMLP(model(**change))
    # s1 as a sequence of ints is checked before it becomes bytes; one s1 for all units (the old format) is refused
    for s1 in ([12, -1, 12, 12], [12, 12, 256 + 12, 12], 12):
        d = model()
        with pytest.raises(ValueError):
            PatchMLP(d[:3] + (s1,) + d[4:])
    # o alone must fit when m2 is 0: more than 32896 units could pass 2**30
    with pytest.raises(ValueError):
        PatchMLP(model_tuple([0] * (N_X * 32897), [0] * 32897, [0] * 32897, [0] * 32897, [0] * 32897, 0, 0, 1))


def test_init_takes_shifts_as_bytes_or_ints_and_keeps_bytes():
    model = MODELS["small_shifts"]()
    as_ints = model[:3] + (list(model[3]),) + model[4:]
    m = PatchMLP(as_ints)
    assert isinstance(m.s1, bytes) and m.s1 == model[3]
    assert PatchMLP(model).s1 is model[3]
    levels = synthetic_levels(4, 80)
    assert run(sys.modules["firmware.kick_mlp"], as_ints, levels, 4) == fastmlp.scores(levels, model, 4).tolist()


def test_init_accepts_a_unit_exactly_at_its_bound_and_refuses_one_past_it():
    # ((A >> s1) + 1) * |m1| + |b1| = 2**30 - 1 passes; one more (in b1 or m1) or one shift less does not,
    # and the error names the unit and the quantity
    other = [3] * N_X  # a harmless unit 0, so the failing one is not the first
    rng = random.Random(5)
    cases = [(_EDGE_ROW, 4, _EDGE_M1, -1), (_EDGE_ROW, 4, -_EDGE_M1, 1),
             ([rng.randint(-128, 127) for _ in range(N_X)], 8, None, 1),
             ([rng.randint(-128, 127) for _ in range(N_X)], 9, None, -1),
             ([2] * N_X, 0, None, 1), ([rng.randint(-3, 3) for _ in range(N_X)], 0, None, -1)]
    for row, s, m, sign in cases:
        q = (2047 * sum(map(abs, row)) >> s) + 1
        if m is None:  # the largest multiplier, then the bias takes up the rest
            m = (LIMIT - 1) // q
        b = sign * (LIMIT - 1 - q * abs(m))
        assert abs(m) < 1 << 15 and abs(b) < 1 << 29 and unit_bound(row, m, b, s) == LIMIT - 1

        def two(m1, b1, s1):
            return model_tuple(other + row, [100, m1], [0, b1], [12, s1], [1, 1], 1, 0, 1)

        PatchMLP(two(m, b, s))
        past = [two(m + (1 if m > 0 else -1), b, s), two(m, b + sign, s)]
        if s > 0:
            past.append(two(m, b, s - 1))
        for model in past:
            with pytest.raises(ValueError, match=r"unit 1: \(\(A >> s1\) \+ 1\) \* \|m1\| \+ \|b1\|"):
                PatchMLP(model)


def test_the_bound_is_reached_exactly_and_the_shifts_go_below_12():
    # at_bound_model's pre-activations reach +-(2**30 - 1) on edge_levels (so the bound is exact, not loose);
    # the models the tests run use shifts from 0 to beyond 12, the small ones with |m1| at its largest
    pre = fastmlp.preactivations(edge_levels(60), at_bound_model(), 4)
    assert pre.min() == -(LIMIT - 1) and pre.max() == LIMIT - 1
    shifts = set()
    for name in MODELS:
        shifts.update(MODELS[name]()[3])
    assert set(range(12)) <= shifts and max(shifts) > 12


_BOUNDS = r"""
import json, sys
sys.path.insert(0, %(root)r); sys.path.insert(0, %(tests)r)
import intbounds
intbounds.install(%(root)r)
from array import array
from firmware.kick_mlp import PatchMLP
models, streams = json.load(open(%(path)r))
hops = 0
for w1, m1, b1, s1, w2, m2, b2, s2 in models:
    m = PatchMLP((bytes(w1), array('h', m1), array('i', b1), bytes(s1), bytes(w2), m2, b2, s2))
    for levels in streams:
        for t, lv in enumerate(levels):
            x = array('h', lv)
            intbounds.STATE["armed"] = True
            if t < 4:
                m.prime(x)
            else:
                m.push(x)
            m.score()
            intbounds.STATE["armed"] = False
            hops += 1
print(json.dumps({"hops": hops, "worst": intbounds.STATE["worst"]}))
"""


def test_no_per_hop_intermediate_reaches_2_to_the_30(tmp_path, mix):
    # tests/intbounds.py's probes on every arithmetic result of prime, push and score (bytecode), for
    # the worst model (largest |acc|, pre-activation and output), extreme ones, units exactly on their
    # bound (pre-activations +-(2**30 - 1) on edge_levels) and small shifts with |m1| at its largest
    models = [MODELS[n]() for n in ("worst", "extreme", "one_unit_extreme")]
    flip = list(models[0])
    flip[0] = bytes(array("b", [127] * (N_X * 32)))  # the other sign of the largest |acc|
    flip[4] = bytes(array("b", [127] * 32))
    models.append(tuple(flip))
    models += [MODELS["at_bound"](), MODELS["small_shifts"]()]
    as_json = [[list(w1), list(m1), list(b1), list(s1), list(w2), m2, b2, s2] for w1, m1, b1, s1, w2, m2, b2, s2 in models]
    streams = [rail_levels(1, 60), synthetic_levels(2, 120), mix[:120], edge_levels(40)]
    path = str(tmp_path / "bounds.json")
    with open(path, "w") as f:
        json.dump([as_json, streams], f)
    code = _BOUNDS % {"root": ROOT, "tests": os.path.join(ROOT, "tests"), "path": path}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["hops"] == len(models) * sum(len(s) for s in streams)
    assert out["worst"] == {}, "values beyond the ESP32 small-int range: %s" % out["worst"]
    # and the worst model does reach its largest |acc|: every input -2047 (but the top level's 0)
    x = fastmlp.inputs(rail_levels(1, 60), 4)
    assert (x[:, :N_LEVELS - 1] == -2047).all(axis=1).any()


# --- the viper twin in the simulator ------------------------------------------------------------


@pytest.fixture(scope="module")
def sim():
    return viper_sim.load(VIPER_SRC)


@pytest.fixture(scope="module")
def wired(sim):
    return viper_sim.wired_module("kick_mlp", sim, "kick_mlp_wired")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_simulated_kernel_gives_the_portable_scores(sim, wired, name, mix):
    model = MODELS[name]()
    nh = len(model[1])
    levels = rail_levels(1, 12) + synthetic_levels(2, 360)[::9] + mix[200:230]
    if nh == 1:
        levels = rail_levels(1, 60) + synthetic_levels(2, 360) + mix[:200]
    elif nh > 32:
        levels = levels[::2]
    elif name == "at_bound":
        levels = edge_levels(30) + levels
    viper_sim.reset_audit(sim)
    want = run(sys.modules["firmware.kick_mlp"], model, levels, 4)
    assert run(wired, model, levels, 4) == want
    assert want == fastmlp.scores(levels, model, 4).tolist()
    assert not sim.wraps, "wrapped on lines %s" % sorted(sim.wraps)
    if name == "at_bound":  # the kernel's pre-activation does reach the bound, and no further
        assert max(sim.audit.values()) == LIMIT - 1


def test_simulated_kernel_keeps_the_bytes_where_they_are(wired):
    model = MODELS["typical"]()
    m = wired.PatchMLP(model)
    assert m.w1 is model[0] and m.w2 is model[4] and m.m1 is model[1] and m.b1 is model[2] and m.s1 is model[3]


def test_simulated_kernel_checks_lengths_and_shifts(sim):
    nh = 3
    x = array("h", [0] * N_X)
    w1, m1, b1, s1, w2 = bytes(N_X * nh), array("h", [1] * nh), array("i", [0] * nh), bytes([0, 12, 26]), bytes(nh)
    prm = array("i", [1, 5, 0])
    assert sim.score(x, 0, w1, m1, b1, s1, w2, prm) == 5
    assert sim.score(x, 159, w1, m1, b1, s1, w2, prm) == 5
    for args in ((array("h", [0] * (N_X - 1)), 0, w1, m1, b1, s1, w2, prm),
                 (array("h", [0] * (N_X + 20)), 0, w1, m1, b1, s1, w2, prm),
                 (x, -1, w1, m1, b1, s1, w2, prm),
                 (x, 160, w1, m1, b1, s1, w2, prm),
                 (x, 0, w1[:-1], m1, b1, s1, w2, prm),
                 (x, 0, w1, m1, b1[:-1], s1, w2, prm),
                 (x, 0, w1, m1, b1, s1[:-1], w2, prm),
                 (x, 0, w1, m1, b1, s1, w2[:-1], prm),
                 (x, 0, w1, array("h"), array("i"), b"", b"", prm),
                 (x, 0, w1, m1, b1, s1, w2, prm[:2])):
        with pytest.raises(IndexError):
            sim.score(*args)
    for bad_s1, bad_prm in ((bytes([0, 32, 0]), prm), (bytes([0, 0, 255]), prm), (s1, array("i", [1, 0, 32])),
                            (s1, array("i", [1, 0, -1]))):
        with pytest.raises(ValueError):
            sim.score(x, 0, w1, m1, b1, bad_s1, w2, bad_prm)
    assert sim.score(x, 0, w1, m1, b1, bytes([31, 0, 0]), w2, prm) == 5  # 31: still one shift on every CPU


@pytest.mark.parametrize("start", [0xF7F00000, 0x80000000 - 64], ids=["heap_above_2**31", "buffers_straddle_2**31"])
def test_addresses_above_2_31_do_not_matter(start):
    sim = viper_sim.load(VIPER_SRC, memory=viper_sim.Memory(start))
    w = viper_sim.wired_module("kick_mlp", sim, "kick_mlp_wired_high")
    levels = rail_levels(5, 9) + synthetic_levels(5, 360)[::30]
    for name in ("typical", "extreme", "one_unit", "small_shifts"):
        model = MODELS[name]()
        assert run(w, model, levels, 4) == run(sys.modules["firmware.kick_mlp"], model, levels, 4), name


# --- compiled for the ESP32 -------------------------------------------------------------------


@pytest.mark.skipif(not HAVE_MPY_CROSS, reason="mpy-cross not found")
@pytest.mark.parametrize("module", ["kick_mlp", "kick_mlp_viper"])
def test_mpy_cross_compiles_for_the_esp32(tmp_path, module):
    out = tmp_path / (module + ".mpy")
    r = subprocess.run([MPY_CROSS, "-march=xtensawin", "-o", str(out), os.path.join(ROOT, "firmware", module + ".py")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    head = out.read_bytes()[:4]
    assert head[:1] == b"M"
    if module == "kick_mlp_viper":
        assert head[2] >> 2 != 0  # an architecture in the header: native code inside


def test_cpython_refuses_the_kernel_and_the_portable_module_falls_back():
    import importlib
    with pytest.raises(ImportError):
        importlib.import_module("firmware.kick_mlp_viper")
    assert sys.modules["firmware.kick_mlp"]._viper is None


# --- the real 32-bit unix port ----------------------------------------------------------------

# The same hops through a bytecode PatchMLP (_viper None) and a kernel one; prints the kernel's score
# per hop and whether the bytecode agrees. push and score run with the heap locked on some hops (on
# edge_levels there: at_bound's pre-activations at +-(2**30 - 1), the 32-bit port's largest small ints).
_UNIX_CODE = """
import micropython
from array import array
import firmware.kick_mlp as K
V = K._viper
assert V is not None, 'no viper kernel'
print('module', V.__file__)
from mlp_models import MODELS
lv = array('h', bytearray(40))
locked = 'ok'
for c, model in enumerate(MODELS):
    K._viper = None
    mb = K.PatchMLP(model)
    K._viper = V
    mv = K.PatchMLP(model)
    src = open('{path}', 'rb')
    t = 0
    while src.readinto(lv) == 40:
        K._viper = None
        if t < 4:
            mb.prime(lv)
            a = mb.score()
        elif t == 6 or t == 13:  # at_bound's units on their bounds: no long int either
            micropython.heap_lock()
            try:
                mb.push(lv)
                a = mb.score()
            except MemoryError:
                locked = 'allocated (bytecode)'
                a = None
            micropython.heap_unlock()
        else:
            mb.push(lv)
            a = mb.score()
        K._viper = V
        if t == 6 or t == 13:
            micropython.heap_lock()
            try:
                mv.push(lv)
                b = mv.score()
            except MemoryError:
                locked = 'allocated'
                b = None
            micropython.heap_unlock()
        elif t < 4:
            mv.prime(lv)
            b = mv.score()
        else:
            mv.push(lv)
            b = mv.score()
        print(c, t, b, 'same' if a == b else 'DIFF')
        t += 1
K._viper = None
mb = K.PatchMLP(MODELS[0])
for t in range(9):
    mb.push(lv)
micropython.heap_lock()
try:
    mb.push(lv)
    mb.score()
except MemoryError:
    locked = 'allocated (bytecode)'
micropython.heap_unlock()
print('heap', locked)
"""


@mpunix.requires_unix32
@pytest.mark.parametrize("mpy", [False, pytest.param(True, marks=pytest.mark.skipif(not HAVE_MPY_CROSS,
                                                                                   reason="mpy-cross not found"))],
                         ids=["source", "mpy"])
def test_unix_port_kernel_is_bit_identical_and_allocates_nothing(tmp_path, mix, mpy):
    root = mpunix.firmware_root(tmp_path, "kick_mlp_viper" if mpy else None)
    path = str(tmp_path / "levels")
    levels = edge_levels(30) + rail_levels(2, 15) + synthetic_levels(3, 360)[::4] + mix[300:400]
    with open(path, "wb") as f:
        for lv in levels:
            f.write(array("h", lv).tobytes())
    names = ("typical", "extreme", "worst", "one_unit_extreme", "small_shifts", "at_bound")
    models = [MODELS[n]() for n in names]
    want = []
    for c, model in enumerate(models):
        for t, s in enumerate(fastmlp.scores(levels, model, 4).tolist()):
            want.append("%d %d %d same" % (c, t, s))
    want.append("heap ok")
    with open(os.path.join(root, "mlp_models.py"), "w") as f:  # too long for the command line
        f.write("from array import array\nMODELS = %r\n" % (models,))
    out = mpunix.run_unix32(_UNIX_CODE.format(path=path), root=root, timeout=600)
    lines = out.split("\n")[:-1]
    assert lines[0].endswith(".mpy" if mpy else ".py"), lines[0]
    assert lines[1:] == want
