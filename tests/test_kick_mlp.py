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
    return (bytes(array("b", w1)), array("h", m1), array("i", b1), s1, bytes(array("b", w2)), m2, b2, s2)


def m2_max(nh, b2):
    # the largest |m2| PatchMLP accepts for H units and this b2: H * 32640 * |m2| + |b2| < 2**30
    return (LIMIT - 1 - abs(b2)) // (nh * O_UNIT)


def random_model(seed, nh=32, kind="typical"):
    """A model inside PatchMLP's bounds. typical: weights over the whole int8 range (the extremes often),
    multipliers and biases that keep the hidden units between 0 and 255 on music; extreme: only the
    int8 extremes, |m1| = 2**15 - 1, |b1| = 2**29 - 1 or 0, s1 = 12, m2 at its largest; worst: every
    first-layer weight -128, m1 = 2**15 - 1, b1 = 2**29 - 1, s1 = 12, w2 = -128 (the largest |acc|,
    pre-activation and |o| the bounds allow, with the input at -2047)."""
    rng = random.Random(seed)
    if kind == "worst":
        b2 = (1 << 29) - 1
        return model_tuple([-128] * (N_X * nh), [32767] * nh, [(1 << 29) - 1] * nh, 12, [-128] * nh,
                           m2_max(nh, b2), b2, 0)
    if kind == "extreme":
        w1 = [rng.choice((-128, 127, -127)) for _ in range(N_X * nh)]
        m1 = [rng.choice((-32767, 32767)) for _ in range(nh)]
        b1 = [rng.choice((-(1 << 29) + 1, (1 << 29) - 1, 0)) for _ in range(nh)]
        s1 = 12
        w2 = [rng.choice((-128, 127)) for _ in range(nh)]
        b2 = rng.choice((-(1 << 29), 1 << 29, 0))
        m = m2_max(nh, b2)
        m2 = rng.choice((m, -m))
        s2 = rng.choice((0, 31, rng.randint(0, 31)))
    else:
        w1 = [rng.choice((-128, 127, rng.randint(-128, 127), rng.randint(-20, 20))) for _ in range(N_X * nh)]
        m1 = [rng.choice((32767, -32767, rng.randint(-32767, 32767), rng.randint(-3000, 3000))) for _ in range(nh)]
        b1 = [rng.choice((0, rng.randint(-(1 << 22), 1 << 22), rng.randint(-(1 << 29) + 1, (1 << 29) - 1)))
              for _ in range(nh)]
        s1 = rng.choice((12, 13, 14, 16))
        w2 = [rng.choice((-128, 127, rng.randint(-128, 127))) for _ in range(nh)]
        b2 = rng.randint(-(1 << 20), 1 << 20)
        m = m2_max(nh, b2)
        m2 = rng.choice((m, -m, rng.randint(-300, 300)))
        s2 = rng.randint(0, 12)
    return model_tuple(w1, m1, b1, s1, w2, m2, b2, s2)


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
    if name not in ("worst", "one_unit_extreme"):  # (these sit on a rail: worst's b1 keeps every unit at 255)
        assert len(set(want.tolist())) > 3  # not a constant


def test_numpy_scores_equal_the_firmware_on_a_recording(mix):
    seen = set()
    for name in ("typical", "typical_b", "extreme", "one_unit"):
        model = MODELS[name]()
        want = fastmlp.scores(mix, model, 4)
        assert run(sys.modules["firmware.kick_mlp"], model, mix, 4) == want.tolist(), name
        h = fastmlp.hidden(mix, model, 4)
        seen.update(("zero" if v == 0 else "full" if v == 255 else "between") for v in np.unique(h))
        if name.startswith("typical"):
            assert np.mean((h > 0) & (h < 255)) > 0.05  # the units work between their rails on music
    assert seen == {"zero", "full", "between"}


def test_numpy_takes_a_patch_mlp_as_the_model():
    model = MODELS["typical"]()
    levels = synthetic_levels(9, 100)
    assert (fastmlp.scores(levels, PatchMLP(model), 4) == fastmlp.scores(levels, model, 4)).all()


# --- the bounds -----------------------------------------------------------------------------


def test_init_refuses_models_that_can_break_the_bounds():
    nh = 4
    good = dict(w1=[1] * (N_X * nh), m1=[100] * nh, b1=[0] * nh, s1=12, w2=[1] * nh, m2=m2_max(nh, 0), b2=0, s2=0)

    def model(**change):
        d = dict(good, **change)
        return model_tuple(d["w1"], d["m1"], d["b1"], d["s1"], d["w2"], d["m2"], d["b2"], d["s2"])

    PatchMLP(model())
    PatchMLP(model(m2=-m2_max(nh, 0), m1=[32767, -32767, 0, 1], b1=[(1 << 29) - 1, -(1 << 29) + 1, 0, 0], s1=31, s2=31))
    bad = {
        "s1_11": dict(s1=11),
        "s1_32": dict(s1=32),
        "s2_negative": dict(s2=-1),
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
        "no_units": dict(w1=[], m1=[], b1=[], w2=[]),
    }
    for name, change in bad.items():
        with pytest.raises(ValueError):
            PatchMLP(model(**change))
    # o alone must fit when m2 is 0: more than 32896 units could pass 2**30
    with pytest.raises(ValueError):
        PatchMLP(model_tuple([0] * (N_X * 32897), [0] * 32897, [0] * 32897, 12, [0] * 32897, 0, 0, 0))


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
    m = PatchMLP((bytes(w1), array('h', m1), array('i', b1), s1, bytes(w2), m2, b2, s2))
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
    # the worst model (largest |acc|, pre-activation and output) and extreme ones, on rail levels
    models = [MODELS[n]() for n in ("worst", "extreme", "one_unit_extreme")]
    flip = list(models[0])
    flip[0] = bytes(array("b", [127] * (N_X * 32)))  # the other sign of the largest |acc|
    flip[4] = bytes(array("b", [127] * 32))
    models.append(tuple(flip))
    as_json = [[list(w1), list(m1), list(b1), s1, list(w2), m2, b2, s2] for w1, m1, b1, s1, w2, m2, b2, s2 in models]
    streams = [rail_levels(1, 60), synthetic_levels(2, 120), mix[:120]]
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
    viper_sim.reset_audit(sim)
    want = run(sys.modules["firmware.kick_mlp"], model, levels, 4)
    assert run(wired, model, levels, 4) == want
    assert want == fastmlp.scores(levels, model, 4).tolist()
    assert not sim.wraps, "wrapped on lines %s" % sorted(sim.wraps)


def test_simulated_kernel_keeps_the_bytes_where_they_are(wired):
    model = MODELS["typical"]()
    m = wired.PatchMLP(model)
    assert m.w1 is model[0] and m.w2 is model[4] and m.m1 is model[1] and m.b1 is model[2]


def test_simulated_kernel_checks_lengths_and_shifts(sim):
    nh = 3
    x = array("h", [0] * N_X)
    w1, m1, b1, w2 = bytes(N_X * nh), array("h", [1] * nh), array("i", [0] * nh), bytes(nh)
    prm = array("i", [12, 1, 5, 0])
    assert sim.score(x, 0, w1, m1, b1, w2, prm) == 5
    assert sim.score(x, 159, w1, m1, b1, w2, prm) == 5
    for args in ((array("h", [0] * (N_X - 1)), 0, w1, m1, b1, w2, prm),
                 (array("h", [0] * (N_X + 20)), 0, w1, m1, b1, w2, prm),
                 (x, -1, w1, m1, b1, w2, prm),
                 (x, 160, w1, m1, b1, w2, prm),
                 (x, 0, w1[:-1], m1, b1, w2, prm),
                 (x, 0, w1, m1, b1[:-1], w2, prm),
                 (x, 0, w1, m1, b1, w2[:-1], prm),
                 (x, 0, w1, array("h"), array("i"), b"", prm),
                 (x, 0, w1, m1, b1, w2, prm[:3])):
        with pytest.raises(IndexError):
            sim.score(*args)
    for bad in ([32, 1, 0, 0], [-1, 1, 0, 0], [12, 1, 0, 32], [12, 1, 0, -1]):
        with pytest.raises(ValueError):
            sim.score(x, 0, w1, m1, b1, w2, array("i", bad))


@pytest.mark.parametrize("start", [0xF7F00000, 0x80000000 - 64], ids=["heap_above_2**31", "buffers_straddle_2**31"])
def test_addresses_above_2_31_do_not_matter(start):
    sim = viper_sim.load(VIPER_SRC, memory=viper_sim.Memory(start))
    w = viper_sim.wired_module("kick_mlp", sim, "kick_mlp_wired_high")
    levels = rail_levels(5, 9) + synthetic_levels(5, 360)[::30]
    for name in ("typical", "extreme", "one_unit"):
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
# per hop and whether the bytecode agrees. push and score run with the heap locked on some hops.
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
    levels = rail_levels(2, 15) + synthetic_levels(3, 360)[::4] + mix[300:400]
    with open(path, "wb") as f:
        for lv in levels:
            f.write(array("h", lv).tobytes())
    names = ("typical", "extreme", "worst", "one_unit_extreme")
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
