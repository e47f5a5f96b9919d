# firmware/analyzer_viper.py (viper twins of the Analyzer's per-level loops: floor, gain, smoothing, and the
# voice guard's scaling) gives firmware/analyzer.py's features bit for bit: simulated on CPython, on the 32-bit
# unix port, and it compiles for the ESP32s.
import os
import random
import sys
from array import array

import numpy as np
import pytest

from conftest import FIXTURES, ROOT
from firmware.analyzer import Analyzer
from firmware.params import SCHEMA, Params
from firmware.spectrum import LEVEL_MIN, N_LEVELS
from host_tools.audio import load
from host_tools.fastspectrum import FastSpectrum

try:
    from tests import mpunix, viper_sim  # if tests/ is (or becomes) a package
except ImportError:
    import mpunix
    import viper_sim

VIPER_SRC = os.path.join(ROOT, "firmware", "analyzer_viper.py")
MPY_CROSS = viper_sim.MPY_CROSS
HAVE_MPY_CROSS = viper_sim.HAVE_MPY_CROSS
FS, HOP = 16000, 128


def wired_module(viper, name="analyzer_wired"):
    return viper_sim.wired_module("analyzer", viper, name)


@pytest.fixture(scope="module")
def sim():
    return viper_sim.load(VIPER_SRC)


@pytest.fixture(scope="module")
def wired(sim):
    return wired_module(sim)


# --- level streams ------------------------------------------------------------------------------


def real_levels(name, seconds):
    """Band levels of a recording, as the garment's spectrum computes them (the numpy twin)."""
    x, _ = load(os.path.join(FIXTURES, name + ".flac"), FS)
    x = x[: int(seconds * FS)]
    return [list(map(int, row)) for row in FastSpectrum(FS, 512, HOP).levels(x)]


def synthetic_levels(seed, hops):
    """Random walks with kick-like jumps, silence (LEVEL_MIN), steady hum, and hostile int16 extremes."""
    rng = random.Random(seed)
    lv = [rng.randint(-6000, 0) for _ in range(N_LEVELS)]
    out = []
    for h in range(hops):
        seg = (h // 60) % 6
        if seg == 0:  # music-like: walks and jumps
            lv = [max(-12800, min(2000, v + rng.randint(-200, 200) + (2500 if rng.random() < 0.05 else 0)))
                  for v in lv]
        elif seg == 1:
            lv = [LEVEL_MIN] * N_LEVELS
        elif seg == 2:  # a steady hum with a little wobble
            lv = [-3000 + rng.randint(-20, 20) for _ in range(N_LEVELS)]
        elif seg == 3:
            lv = [rng.choice((-32768, 32767, 0, LEVEL_MIN)) for _ in range(N_LEVELS)]
        elif seg == 4:  # speech-like: mids over the bass
            lv = [rng.randint(-5000, -1000) for _ in range(N_LEVELS)]
            lv[16] = lv[17] - 6000
        else:
            lv = [rng.randint(-32768, 32767) for _ in range(N_LEVELS)]
        out.append(lv)
    return out


def param_sets(seed):
    """Defaults, every parameter at its minimum, at its maximum, and random mixes (bass_lo < bass_hi)."""
    rng = random.Random(seed)
    sets = [{}, {p[0]: p[2] for p in SCHEMA}, {p[0]: p[3] for p in SCHEMA}]
    for _ in range(3):
        sets.append({p[0]: rng.randint(p[2], p[3]) for p in SCHEMA})
    for s in sets:
        if s:
            s["bass_lo"], s["bass_hi"] = 40, 160
    return sets


def state(an):
    f = an.features
    return (list(an.floor), list(an.peak), list(an.hold), list(an.under), list(an.smooth), an.prominence, an.voice, an.active,
            f.level, f.bass, f.mid, f.treble, bytes(f.bands), f.beat, f.beat_count, f.beat_ms, f.onset, f.silent)


def drive(mod_a, mod_b, streams, seed, every=97):
    """Two analyzers (portable, wired) fed the same hops; the parameters change every `every` hops."""
    sets = param_sets(seed)
    pa, pb = Params(), Params()
    a = mod_a.Analyzer(pa, FS, HOP, 4)
    b = mod_b.Analyzer(pb, FS, HOP, 4)
    h = 0
    x = array("h", [0] * N_LEVELS)  # one buffer: the simulator registers every buffer it sees
    for lvs in streams:
        for lv in lvs:
            if h % every == every - 1:
                s = sets[(h // every) % len(sets)]
                pa.update(s)
                pb.update(s)
            for i in range(N_LEVELS):
                x[i] = lv[i]
            a.update(array("h", lv), h * 8)
            b.update(x, h * 8)
            assert state(b) == state(a), "hop %d" % h
            h += 1
    return a


# --- bit identity in the simulator --------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_simulated_kernels_track_the_portable_analyzer_hop_for_hop(sim, wired, seed):
    viper_sim.reset_audit(sim)
    streams = [synthetic_levels(seed, 700)]
    if seed == 1:
        streams.insert(0, real_levels("mix_garment", 6.0))
    a = drive(sys.modules["firmware.analyzer"], wired, streams, seed)
    assert a.features.beat_count > 0 or seed != 1  # the real mix fires beats: the whole path ran
    assert not sim.wraps, "wrapped on lines %s" % sorted(sim.wraps)
    assert max(sim.audit.values()) < 1 << 30


def test_the_streams_reach_every_branch(wired):
    # every branch of the loop: floor falling, jumping down after a drop and rising, peak held, released
    # (the dark release too), lifted to top, gated, out of span and in it, smoothing up and down
    an = wired.Analyzer(Params(), FS, HOP, 4)
    seen = set()
    buf = array("h", [0] * N_LEVELS)
    for lv in synthetic_levels(1, 400):
        x = [v << 4 for v in lv]
        fl0, pk0, hold0, sm0 = list(an.floor), list(an.peak), list(an.hold), list(an.smooth)
        under0 = list(an.under)
        for i in range(N_LEVELS):
            buf[i] = lv[i]
        an.update(buf, 0)
        for b in range(N_LEVELS):
            seen.add("floor_down" if an.floor[b] < fl0[b] else "floor_up")
            if x[b] < fl0[b] and under0[b] + 1 >= an.drop_hops:
                seen.add("floor_dropped")
            if x[b] >= pk0[b]:
                seen.add("peak_new")
            elif hold0[b] > 0:
                seen.add("held")
            else:
                seen.add("released" if x[b] + an.span >= pk0[b] else "released_dark")
            seen.add("smooth_up" if an.smooth[b] > sm0[b] else "smooth_down" if an.smooth[b] < sm0[b] else "smooth_same")
            seen.add("lit" if an.smooth[b] > 0 else "dark")
    assert seen >= {"floor_down", "floor_dropped", "floor_up", "peak_new", "held", "released", "released_dark",
                    "smooth_up", "smooth_down", "lit", "dark"}


def test_short_arrays_raise(sim):
    lv = array("h", [0] * N_LEVELS)
    i20 = array("i", [0] * N_LEVELS)
    h20 = array("h", [0] * N_LEVELS)
    prm = array("i", [0] * 11)
    with pytest.raises(IndexError):
        sim.dynamics(array("h", [0] * 19), i20, i20, h20, h20, h20, prm, N_LEVELS)
    with pytest.raises(IndexError):
        sim.dynamics(lv, i20, array("i", [0] * 19), h20, h20, h20, prm, N_LEVELS)
    with pytest.raises(IndexError):
        sim.dynamics(lv, i20, i20, h20, array("h", [0] * 19), h20, prm, N_LEVELS)
    with pytest.raises(IndexError):
        sim.dynamics(lv, i20, i20, h20, h20, h20, array("i", [0] * 10), N_LEVELS)
    with pytest.raises(IndexError):
        sim.shade(h20, bytearray(15), 16, 256)


@pytest.mark.parametrize("start", [0xF7F00000, 0x80000000 - 64], ids=["heap_above_2**31", "buffers_straddle_2**31"])
def test_addresses_above_2_31_do_not_matter(start):
    sim = viper_sim.load(VIPER_SRC, memory=viper_sim.Memory(start))
    w = wired_module(sim, "analyzer_wired_high")
    drive(sys.modules["firmware.analyzer"], w, [synthetic_levels(3, 150)], 3, every=40)


# --- the real 32-bit unix port ----------------------------------------------------------------

# Two analyzers fed the same hops, one on bytecode (_viper None), one on the kernels; the parameters
# change as in drive(). Prints a hash of the kernel side's state per hop, which CPython must reproduce.
_UNIX_CODE = """
import micropython
from array import array
import firmware.analyzer as A
from firmware.params import Params
V = A._viper
assert V is not None, 'no viper kernels'
print('module', V.__file__)
sets = {sets}
EVERY = {every}
pa = Params()
pb = Params()
a = A.Analyzer(pa, 16000, 128, 4)
b = A.Analyzer(pb, 16000, 128, 4)
src = open('{path}', 'rb')
x = array('h', bytearray(2 * {n}))
h = 0
locked = 'ok'

def state(an):
    f = an.features
    return (list(an.floor), list(an.peak), list(an.hold), list(an.under), list(an.smooth), an.prominence, an.voice, f.level,
            f.bass, f.mid, f.treble, bytes(f.bands), f.beat, f.beat_count, f.beat_ms, f.onset, f.silent)

while src.readinto(x) == 2 * {n}:
    if h % EVERY == EVERY - 1:
        s = sets[(h // EVERY) % len(sets)]
        pa.update(s)
        pb.update(s)
    A._viper = None
    a.update(x, h * 8)
    A._viper = V
    if h == 300:
        micropython.heap_lock()
        try:
            b.update(x, h * 8)
        except MemoryError:
            locked = 'allocated'
        micropython.heap_unlock()
    else:
        b.update(x, h * 8)
    k = 0
    for v in b.floor:
        k = (k * 31 + v) & 0xffffff
    for v in b.peak:
        k = (k * 31 + v) & 0xffffff
    for v in b.smooth:
        k = (k * 31 + v) & 0xffffff
    for v in b.features.bands:
        k = (k * 31 + v) & 0xffffff
    print(h, k, b.features.beat_count, b.features.silent, 'same' if state(a) == state(b) else 'DIFF')
    h += 1
print('heap', locked)
"""


def _hash(an):
    k = 0
    for arr in (an.floor, an.peak, an.smooth, an.features.bands):
        for v in arr:
            k = (k * 31 + v) & 0xFFFFFF
    return k


def _stream(tmp_path):
    path = str(tmp_path / "levels")
    hops = real_levels("mix_garment", 5.0) + synthetic_levels(5, 600)
    with open(path, "wb") as f:
        for lv in hops:
            f.write(array("h", lv).tobytes())
    sets = param_sets(5)
    every = 97
    p = Params()
    an = Analyzer(p, FS, HOP, 4)
    want = []
    for h, lv in enumerate(hops):
        if h % every == every - 1:
            p.update(sets[(h // every) % len(sets)])
        an.update(array("h", lv), h * 8)
        want.append("%d %d %d %d same" % (h, _hash(an), an.features.beat_count, an.features.silent))
    want.append("heap ok")
    return path, sets, every, want




@mpunix.requires_unix32
@pytest.mark.parametrize("mpy", [False, pytest.param(True, marks=pytest.mark.skipif(not HAVE_MPY_CROSS,
                                                                                   reason="mpy-cross not found"))],
                         ids=["source", "mpy"])
def test_unix_port_kernels_are_bit_identical_and_allocate_nothing(tmp_path, mpy):
    root = mpunix.firmware_root(tmp_path, "analyzer_viper" if mpy else None)
    path, sets, every, want = _stream(tmp_path)
    code = _UNIX_CODE.format(sets=sets, every=every, path=path, n=N_LEVELS)
    out = mpunix.run_unix32(code, root=root, timeout=600)
    lines = out.split("\n")[:-1]
    assert lines[0].endswith(".mpy" if mpy else ".py"), lines[0]
    assert lines[1:] == want
    assert np.any([ln.split()[2] != "0" for ln in want[:-1]])  # beats fired on the port too
