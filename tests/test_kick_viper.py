# firmware/kick_viper.py (viper twin of KickModel.score's tree walk) gives firmware/kick.py's scores bit for
# bit, for the trained trees and for any tables of the same format: simulated on CPython, on the 32-bit unix
# port, and it compiles for the ESP32s.
import os
import random
from array import array

import pytest

from conftest import ROOT
from bench.train_detector import implicit_tables
from firmware import kick_weights
from firmware.kick import N_FEAT, N_IN, KickModel
from test_kick import flat_forest

try:
    from tests import mpunix, viper_sim  # if tests/ is (or becomes) a package
except ImportError:
    import mpunix
    import viper_sim

VIPER_SRC = os.path.join(ROOT, "firmware", "kick_viper.py")
MPY_CROSS = viper_sim.MPY_CROSS
HAVE_MPY_CROSS = viper_sim.HAVE_MPY_CROSS


def wired_module(viper, name="kick_wired"):
    mod = viper_sim.wired_module("kick", viper, name)
    # kick.py runs kick_viper.features only while its layout matches (_VFEAT, decided at import)
    mod._VFEAT = viper is not None and viper.N_FEAT == mod.N_FEAT
    return mod


@pytest.fixture(scope="module")
def sim():
    return viper_sim.load(VIPER_SRC)


@pytest.fixture(scope="module")
def wired(sim):
    return wired_module(sim)


def random_tables(seed, trees, nfeat=N_FEAT, extremes=False, depth=3):
    """Tables in kick.py's format (complete trees of `depth` in heap order): random split features,
    thresholds over the whole int16 range, leaves over the whole int16 range (only +-32767/-32768 with
    extremes)."""
    rng = random.Random(seed)
    inner = 2 ** depth - 1
    tf = bytes(rng.randrange(nfeat) for _ in range(inner * trees))
    thr = tuple(rng.choice((-32768, 32767, 0, -1, 2047, -2047, rng.randint(-3000, 3000), rng.randint(-32768, 32767)))
                for _ in range(inner * trees))
    if extremes:
        value = tuple(rng.choice((-32768, 32767, -32767)) for _ in range((inner + 1) * trees))
    else:
        value = tuple(rng.choice((-32768, 32767, rng.randint(-32768, 32767))) for _ in range((inner + 1) * trees))
    return tf, thr, value


def converted_forest(seed, trees, depth=3):
    """Flat node tables of random shape (test_kick.flat_forest: leaves at any depth up to `depth`, single
    leaves too, nodes in a shuffled order), put into kick.py's format by train_detector.implicit_tables."""
    return implicit_tables(flat_forest(seed, trees, max_depth=depth), depth)


def feature_rows(seed, count):
    rng = random.Random(seed)
    rows = []
    for k in range(count):
        kind = k % 4
        if kind == 0:
            rows.append([rng.randint(-2047, 2047) for _ in range(N_FEAT)])
        elif kind == 1:
            rows.append([rng.choice((-32768, 32767, -2047, 2047, 0, -1)) for _ in range(N_FEAT)])
        elif kind == 2:
            rows.append([rng.randint(-32768, 32767) for _ in range(N_FEAT)])
        else:
            rows.append([rng.randint(-40, 40) for _ in range(N_FEAT)])
    return rows


FORESTS = {
    "trained": kick_weights.TREES,
    "random": random_tables(1, 40),
    "extremes_255_trees": random_tables(2, 255, extremes=True),
    "converted_shapes": converted_forest(3, 60),
    "one_tree": random_tables(4, 1),
    "no_trees": (b"", (), ()),
    "depth_4_converted": converted_forest(5, 128, depth=4),
    "depth_2_extremes_255_trees": random_tables(6, 255, extremes=True, depth=2),
    "depth_6": random_tables(7, 20, depth=6),
    "depth_1": random_tables(8, 9, depth=1),
}


def scores(model, rows):
    out = []
    for row in rows:
        for i, v in enumerate(row):
            model.feat[i] = v
        out.append(model.score())
    return out


# --- bit identity in the simulator --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FORESTS))
def test_simulated_walk_gives_the_portable_scores(sim, wired, name):
    trees = FORESTS[name]
    a = KickModel(trees, 123)
    b = wired.KickModel(trees, 123)
    rows = feature_rows(len(name), 60)
    viper_sim.reset_audit(sim)
    want = scores(a, rows)
    assert scores(b, rows) == want
    if len(trees[2]) > 8:
        assert len(set(want)) > 5  # the rows reach different leaves
    assert not sim.wraps, "wrapped on lines %s" % sorted(sim.wraps)


def test_trained_model_through_the_features(sim, wired):
    # the features of a level stream with kick-like jumps (kick.py's own features()) scored both ways
    rng = random.Random(4)
    a = KickModel(kick_weights.TREES, kick_weights.BIAS)
    b = wired.KickModel(kick_weights.TREES, kick_weights.BIAS)
    lv = array("h", [rng.randint(-6000, 0) for _ in range(N_IN + 1)])
    floor = array("i", [-6000 << 4] * (N_IN + 1))
    a.prime(lv)
    b.prime(lv)
    seen = []
    for h in range(300):
        kick = rng.random() < 0.08
        for i in range(N_IN + 1):
            jump = 3000 if kick and (i < 5 or i == 16) else 0
            lv[i] = max(-12800, min(2000, lv[i] + rng.randint(-300, 300) + jump - (lv[i] + 3000) // 8))
        a.features(lv, floor)
        b.features(lv, floor)
        assert (list(b.feat), list(b.hist)) == (list(a.feat), list(a.hist)), h
        s = a.score()
        assert b.score() == s, h
        seen.append(s)
    assert max(seen) - min(seen) > kick_weights.SCALE  # more than one logit apart: many leaves reached


def level_stream(seed, hops):
    # (levels, floors): walks with jumps, then hostile int16 extremes against extreme floors
    rng = random.Random(seed)
    lv = [rng.randint(-6000, 0) for _ in range(N_IN + 1)]
    out = []
    for h in range(hops):
        if h < hops // 2:
            lv = [max(-12800, min(2000, v + rng.randint(-400, 400) + (2500 if rng.random() < 0.07 else 0))) for v in lv]
            fl = [rng.randint(-12800 << 4, 2000 << 4) for _ in lv]
        else:
            lv = [rng.choice((-32768, 32767, 0, -12800, rng.randint(-32768, 32767))) for _ in lv]
            fl = [rng.choice((-(1 << 23), (1 << 23) - 1, 0, rng.randint(-(1 << 23), 1 << 23))) for _ in lv]
        out.append((lv, fl))
    return out


def test_simulated_features_give_the_portable_features(sim, wired):
    viper_sim.reset_audit(sim)
    a = KickModel(kick_weights.TREES, 0)
    b = wired.KickModel(kick_weights.TREES, 0)
    clamped = set()
    x, f = array("h", [0] * (N_IN + 1)), array("i", [0] * (N_IN + 1))  # reused: the simulator keeps every buffer
    for h, (lv, fl) in enumerate(level_stream(8, 200)):
        x[:], f[:] = array("h", lv), array("i", fl)
        if h == 0:
            a.prime(x)
            b.prime(x)
        assert list(b.features(x, f)) == list(a.features(x, f)), h
        assert list(b.hist) == list(a.hist)
        clamped.update(v for v in a.feat if abs(v) == 2047)
    assert clamped == {-2047, 2047}
    assert not sim.wraps, "wrapped on lines %s" % sorted(sim.wraps)
    assert max(sim.audit.values()) < 1 << 30
    with pytest.raises(IndexError):
        sim.features(array("h", [0] * 20), array("i", [0] * 19), array("h", [0] * 75), array("h", [0] * N_FEAT))
    with pytest.raises(IndexError):  # no whole-range level
        sim.features(array("h", [0] * 19), array("i", [0] * 19), array("h", [0] * 76), array("h", [0] * N_FEAT))
    with pytest.raises(IndexError):  # a model with another layout must not run this loop
        sim.features(array("h", [0] * 20), array("i", [0] * 19), array("h", [0] * 76), array("h", [0] * (N_FEAT + 1)))


def test_the_kernel_computes_kick_py_s_feature_layout(sim, wired):
    # kick.py wires kick_viper.features in only while both declare the same layout; if this fails,
    # kick.py's features changed: port the change to kick_viper._features and its N_FEAT
    assert sim.N_FEAT == N_FEAT
    assert wired._VFEAT


def test_bad_tables_raise_like_the_bytecode(sim, wired):
    # one tree: node 0 splits on feature 3 at 0, its children always go left: leaves 5 (left) and -5
    tf, thr, value = bytes([3, 0, 0, 0, 0, 0, 0]), (0,) + (32767,) * 6, (5, 0, 0, 0, -5, 0, 0, 0)
    rows = feature_rows(6, 4)
    assert scores(KickModel((tf, thr, value), 0), rows) == [5 if r[3] <= 0 else -5 for r in rows]
    for bad in (bytes([N_FEAT, 0, 0, 0, 0, 0, 0]), bytes([3, 0, 255, 0, 0, 0, 0])):  # a feature past feat
        with pytest.raises(IndexError):
            scores(KickModel((bad, thr, value), 0), [[1] * N_FEAT])
        with pytest.raises(IndexError):
            scores(wired.KickModel((bad, thr, value), 0), [[1] * N_FEAT])
    for short in ((tf[:6], thr, value), (tf, thr[:6], value), (tf, thr, value[:7]), (tf, thr, value + (1,) * 8)):
        with pytest.raises(ValueError):  # not 7 + 7 + 8 a tree: refused before any walk
            KickModel(short, 0)
    with pytest.raises(ValueError):  # more than 255 trees: the sum's bound
        KickModel(random_tables(5, 256), 0)
    # the kernel checks the lengths itself: not a whole number of complete trees, or thresholds short
    for bad_tf, bad_thr, bad_value in ((tf[:5], thr, value), (tf, thr[:6], value), (tf, thr, value + (0,)),
                                       (tf, thr, value[:6])):
        with pytest.raises(IndexError):
            sim.score(array("h", [0] * N_FEAT), bytes(bad_tf), bytes(array("h", bad_thr)), bytes(array("h", bad_value)))
    assert sim.score(array("h", [0] * N_FEAT), b"", b"", b"") == 0  # no trees


@pytest.mark.parametrize("start", [0xF7F00000, 0x80000000 - 64], ids=["heap_above_2**31", "buffers_straddle_2**31"])
def test_addresses_above_2_31_do_not_matter(start):
    sim = viper_sim.load(VIPER_SRC, memory=viper_sim.Memory(start))
    w = wired_module(sim, "kick_wired_high")
    rows = feature_rows(7, 20)
    for trees in (kick_weights.TREES, FORESTS["random"], FORESTS["extremes_255_trees"]):
        assert scores(w.KickModel(trees, -5), rows) == scores(KickModel(trees, -5), rows)


# --- the real 32-bit unix port ----------------------------------------------------------------

# Each forest scored on the same feature rows by bytecode (_viper None) and by the kernel; prints
# the kernel's scores, which CPython's portable code must reproduce. One score runs with the heap locked.
_UNIX_CODE = """
import micropython
from array import array
import firmware.kick as K
V = K._viper
assert V is not None, 'no viper kernel'
VF = K._VFEAT
assert VF, 'kick_viper.features is for another feature layout'
print('module', V.__file__)
src = open('{path}', 'rb')
row = array('h', bytearray(2 * {nfeat}))
locked = 'ok'
from kick_forests import FORESTS
for c, (trees, nrows) in enumerate(FORESTS):
    K._viper = None
    mb = K.KickModel(trees, 123)  # the bytecode walk's model (its tables as arrays)
    K._viper = V
    m = K.KickModel(trees, 123)
    if isinstance(trees[1], bytes):  # kick_weights' bytes: the kernel reads them where they are
        assert m.thr is trees[1] and m.value is trees[2] and m.tf is trees[0], 'copied'
    for k in range(nrows):
        src.readinto(row)
        for i in range({nfeat}):
            m.feat[i] = row[i]
            mb.feat[i] = row[i]
        K._viper = None
        a = mb.score()
        K._viper = V
        if c == 0 and k == 3:
            micropython.heap_lock()
            try:
                b = m.score()
            except MemoryError:
                locked = 'allocated'
            micropython.heap_unlock()
        else:
            b = m.score()
        print(c, k, b, 'same' if a == b else 'DIFF')
lv = array('h', bytearray(2 * 20))
fl = array('i', bytearray(4 * 20))
m = K.KickModel(FORESTS[0][0], 0)
n = K.KickModel(FORESTS[0][0], 0)
srcf = open('{path}_levels', 'rb')
h = 0
while srcf.readinto(lv) == 40 and srcf.readinto(fl) == 80:
    if h == 0:
        m.prime(lv)
        n.prime(lv)
    K._viper = None
    K._VFEAT = False
    fa = list(m.features(lv, fl))
    K._viper = V
    K._VFEAT = VF
    if h == 5:
        micropython.heap_lock()
        try:
            n.features(lv, fl)
        except MemoryError:
            locked = 'allocated'
        micropython.heap_unlock()
    else:
        n.features(lv, fl)
    k = 0
    for v in n.feat:
        k = (k * 31 + v) & 0xffffff
    print('f', h, k, 'same' if fa == list(n.feat) and m.hist == n.hist else 'DIFF')
    h += 1
print('heap', locked)
"""




@mpunix.requires_unix32
@pytest.mark.parametrize("mpy", [False, pytest.param(True, marks=pytest.mark.skipif(not HAVE_MPY_CROSS,
                                                                                   reason="mpy-cross not found"))],
                         ids=["source", "mpy"])
def test_unix_port_walk_is_bit_identical_and_allocates_nothing(tmp_path, mpy):
    root = mpunix.firmware_root(tmp_path, "kick_viper" if mpy else None)
    path = str(tmp_path / "rows")
    forests, want = [], []
    with open(path, "wb") as f:
        for c, name in enumerate(sorted(FORESTS)):
            trees = FORESTS[name]
            rows = feature_rows(c, 40)
            forests.append((trees, len(rows)))
            model = KickModel(trees, 123)
            for k, s in enumerate(scores(model, rows)):
                want.append("%d %d %d same" % (c, k, s))
            for row in rows:
                f.write(array("h", row).tobytes())
    model = KickModel(kick_weights.TREES, 0)
    with open(path + "_levels", "wb") as f:
        for h, (lv, fl) in enumerate(level_stream(9, 200)):
            f.write(array("h", lv).tobytes() + array("i", fl).tobytes())
            x = array("h", lv)
            if h == 0:
                model.prime(x)
            k = 0
            for v in model.features(x, array("i", fl)):
                k = (k * 31 + v) & 0xFFFFFF
            want.append("f %d %d same" % (h, k))
    want.append("heap ok")
    with open(os.path.join(root, "kick_forests.py"), "w") as f:  # too long for the command line
        f.write("from array import array\nFORESTS = %r\n" % (forests,))  # tables as bytes, tuples or arrays
    out = mpunix.run_unix32(_UNIX_CODE.format(path=path, nfeat=N_FEAT), root=root, timeout=600)
    lines = out.split("\n")[:-1]
    assert lines[0].endswith(".mpy" if mpy else ".py"), lines[0]
    assert lines[1:] == want
