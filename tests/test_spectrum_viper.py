# firmware/spectrum_viper.py (viper twins of Spectrum's hop statistics, window, bin power and band sums) gives
# firmware/spectrum.py's integers bit for bit: simulated on CPython, on the 32-bit unix port, and it compiles for the ESP32s.
import math
import os
import random
import subprocess
import sys
from array import array

import pytest

from conftest import ROOT
from bench import hop_speed
from firmware import spectrum as portable_mod
from firmware.spectrum import N_LEVELS, Spectrum

try:
    from tests import mpunix, viper_sim  # if tests/ is (or becomes) a package
except ImportError:
    import mpunix
    import viper_sim

VIPER_SRC = os.path.join(ROOT, "firmware", "spectrum_viper.py")
MPY_CROSS = viper_sim.MPY_CROSS
HAVE_MPY_CROSS = viper_sim.HAVE_MPY_CROSS
# (fft size, hop): the desk's 512/128, the smallest hop, one hop per frame, the largest frame
CONFIGS = ((512, 128), (256, 16), (256, 256), (1024, 256))


def wired_module(viper, name="spectrum_wired"):
    return viper_sim.wired_module("spectrum", viper, name)


@pytest.fixture(scope="module")
def sim():
    return viper_sim.load(VIPER_SRC)


@pytest.fixture(scope="module")
def wired(sim):
    return wired_module(sim)


def clip(v):
    return -32768 if v < -32768 else 32767 if v > 32767 else int(v)


def segments(length, seed):
    """(name, samples): loud, quiet, railed, silent and DC-offset audio; in this order the DC tracker
    swings far enough that x - dc overflows int16 both ways (the window's clamp)."""
    rng = random.Random(seed)
    t = range(length)
    return [
        # first, while the DC tracker reads 0: one LSB that reaches the frame's oldest sample, where the
        # window is 0, so every band of that frame sums to nothing though its peak is not 0
        ("click_at_frame_start", [1 if i == 2 * (length // 6) else 0 for i in t]),
        ("noise", [rng.randint(-32768, 32767) for _ in t]),
        ("tone", [clip(32767 * math.sin(2 * math.pi * 0.0731 * i)) for i in t]),
        ("silence", [0] * length),
        ("tiny", [rng.randint(-2, 2) for _ in t]),
        ("one_lsb", [1 if i == length // 3 else 0 for i in t]),
        ("dc_high", [clip(30000 + rng.randint(-60, 60)) for _ in t]),
        ("rails_after_dc", [rng.choice((-32768, 32767)) for _ in t]),
        ("dc_min", [-32768] * length),
        ("max_after_min", [32767] * length),
        ("dc_sine", [clip(20000 + 12000 * math.sin(2 * math.pi * 0.013 * i)) for i in t]),
        ("nyquist", [32767 if i & 1 else -32768 for i in t]),
        ("quiet_tone", [clip(40 * math.sin(2 * math.pi * 0.21 * i)) for i in t]),
        ("bass_and_hiss", [clip(9000 * math.sin(2 * math.pi * 0.006 * i) + rng.randint(-300, 300)) for i in t]),
    ]


def state(sp):
    return (list(sp.levels), list(sp.his), list(sp.los), sp.dc_q12, sp.hops, sp.slot, list(sp.fft.data),
            list(sp.power), sp.fft.exponent)


def drive(spectra, samples, hop, check):
    for h in range(len(samples) // hop):
        for sp in spectra:
            sl = sp.next_slot()
            for i in range(hop):
                sl[i] = samples[h * hop + i]
            sp.push()
        check(h)


# --- bit identity in the simulator --------------------------------------------------------------


@pytest.mark.parametrize("n, hop", CONFIGS)
def test_simulated_kernels_track_the_portable_spectrum_hop_for_hop(sim, wired, n, hop):
    a = Spectrum(16000, n, hop)
    b = wired.Spectrum(16000, n, hop)
    viper_sim.reset_audit(sim)
    length = n + 2 * hop  # every segment fills the ring and wraps it
    for name, seg in segments(length, n + hop):
        def check(h, name=name):
            assert state(b) == state(a), "%s, hop %d of the segment" % (name, h)
            assert max(b.sums[0::2]) < 1 << 30  # the unsigned accumulator never needs its top bits here
        drive((a, b), seg, hop, check)
    assert not sim.wraps, "wrapped on lines %s" % sorted(sim.wraps)
    assert max(sim.audit.values()) < 1 << 30


def test_the_streams_exercise_the_edges(wired):
    # The segments must reach what the kernels special-case: the clamp both ways, empty frames,
    # near-full-scale bin power, halving band accumulators.
    n, hop = 512, 128
    a = Spectrum(16000, n, hop)
    seen = {"clamp_hi": 0, "clamp_lo": 0, "halved": 0, "empty": 0}
    orig = a.window

    def window(dc, r):
        for v in a.ring:
            seen["clamp_hi"] += v - dc > 32767
            seen["clamp_lo"] += v - dc < -32767
        return orig(dc, r)

    a.window = window
    for name, seg in segments(n + 2 * hop, 7):
        def check(h):
            seen["empty"] += a.levels[0] == portable_mod.LEVEL_MIN
            pw = a.power
            for lo, hi in zip(a.bins[0::2], a.bins[1::2]):
                acc = 0
                for k in range(lo, hi):
                    acc += pw[k]
                seen["halved"] += acc >= 1 << 28
        drive((a,), seg, hop, check)
    assert all(seen.values()), seen


def test_window_on_every_slot_dc_and_shift(sim, wired):
    # Spectrum.window for any int16 ring and window, every start slot, dc across int16, r = 1..15.
    rng = random.Random(1)
    with open(VIPER_SRC) as f:
        total_lines = {i + 1 for i, line in enumerate(f) if line.strip() == "total += x"}
    assert len(total_lines) == 2
    for n, hop in ((256, 16), (512, 128)):
        a = Spectrum(16000, n, hop)
        b = wired.Spectrum(16000, n, hop)
        b.fft = a.fft  # share the tables (and the window under test); data are compared per call
        for trial in range(12):
            ring = [rng.choice((-32768, 32767, 0, rng.randint(-32768, 32767))) for _ in range(n)]
            a.ring[:] = b.ring[:] = array("h", ring)
            if trial % 3 == 2:  # an arbitrary int16 window, negative coefficients too
                a.fft.window = array("h", [rng.randint(-32768, 32767) for _ in range(n)])
            slot = rng.randrange(n // hop)
            a.slot = b.slot = slot
            dc = rng.choice((-32768, -32767, -1, 0, 1, 32767, rng.randint(-32768, 32767)))
            for r in (1, 2, 7, 14, 15):
                total = a.window(dc, r)
                want = list(a.fft.data)
                a.fft.data[:] = array("i", [0x5A5A5A5A] * n)
                sim.wraps.clear()
                got = b.window(dc, r)
                assert list(a.fft.data) == want, "n=%d slot=%d dc=%d r=%d" % (n, slot, dc, r)
                if max(abs(v) for v in want) < 32768:  # as the front end's r makes them: the total is exact
                    assert got == total and not sim.wraps
                else:  # past that only the total may wrap (nothing reads it then)
                    assert set(sim.wraps) <= total_lines
        a.fft.window = Spectrum(16000, n, hop).fft.window


def test_bin_power_and_band_sums_at_their_limits(sim, wired):
    # Components up to the FFT's bound (19,777) and beyond (|32767|: still no wrap); bands over
    # arbitrary ranges, empty and reversed ones included, so the accumulator halves many times.
    rng = random.Random(2)
    for n in (256, 512, 1024):
        a = Spectrum(16000, n, n // 4)
        b = wired.Spectrum(16000, n, n // 4)
        m = n >> 1
        for trial in range(6):
            top = (19776, 32767, 19776, 5, 19776, 32767)[trial]
            data = [rng.choice((top, -top, rng.randint(-top, top))) for _ in range(n)]
            if trial == 4:
                data = [0] * n
            a.fft.data[:] = b.fft.data[:] = array("i", data)
            bins = [v for _ in range(N_LEVELS) for v in sorted(rng.sample(range(m + 1), 2))]
            bins[0:2] = [0, m]  # the whole spectrum
            bins[2:4] = [5, 5]  # empty
            bins[4:6] = [9, 3]  # reversed: empty, as range() makes it
            a.bins = b.bins = array("H", bins)
            a.bin_power()
            b.bin_power()
            assert list(b.power) == list(a.power)
            off = rng.randint(-20000, 20000)
            a.band_levels(off)
            b.band_levels(off)
            assert list(b.levels) == list(a.levels), "n=%d trial %d" % (n, trial)
            # the accumulators themselves, against band_levels' loop restated
            for k in range(N_LEVELS):
                acc = sh = 0
                for i in range(bins[2 * k], bins[2 * k + 1]):
                    acc += a.power[i] >> sh
                    if acc >= 1 << 28:
                        acc = (acc + 1) >> 1
                        sh += 1
                assert (b.sums[2 * k], b.sums[2 * k + 1]) == (acc, sh)
    assert not sim.wraps


def test_hop_stats_on_memoryview_slots(sim, wired):
    rng = random.Random(3)
    for n, hop in ((256, 16), (1024, 1024), (512, 128)):
        a = Spectrum(16000, n, hop)
        b = wired.Spectrum(16000, n, hop)
        for trial in range(3 * (n // hop)):
            hopdata = [rng.choice((-32768, 32767, rng.randint(-32768, 32767))) for _ in range(hop)]
            if trial == 1:
                hopdata = [-32768] * hop
            elif trial == 2:
                hopdata = [32767] * hop
            for sp in (a, b):
                sl = sp.next_slot()
                for i in range(hop):
                    sl[i] = hopdata[i]
                sp.hop_stats()
            assert (list(b.his), list(b.los), b.dc_q12, b.slot) == (list(a.his), list(a.los), a.dc_q12, a.slot)
    assert not sim.wraps


@pytest.mark.parametrize("start", [0xF7F00000, 0x80000000 - 1024], ids=["heap_above_2**31", "buffers_straddle_2**31"])
def test_addresses_above_2_31_do_not_matter(start):
    sim = viper_sim.load(VIPER_SRC, memory=viper_sim.Memory(start))
    w = wired_module(sim, "spectrum_wired_high")
    n, hop = 256, 64
    a = Spectrum(16000, n, hop)
    b = w.Spectrum(16000, n, hop)
    for name, seg in segments(n + 2 * hop, 5)[:3]:
        drive((a, b), seg, hop, lambda h: None)
        assert state(b) == state(a), name


# --- the real 32-bit unix port ----------------------------------------------------------------

# Two Spectrum objects of the wired module, one on bytecode (_viper None) and one on the kernels,
# fed the same hops; every hop's state must match. Prints a hash of each hop's levels too, which
# CPython's portable code must reproduce.
_UNIX_CODE = """
import micropython
from array import array
import firmware.spectrum as S
V = S._viper
assert V is not None, 'no viper kernels'
print('module', V.__file__)
for n, hop in {configs}:
    a = S.Spectrum(16000, n, hop)
    b = S.Spectrum(16000, n, hop)
    src = open('{path}_%d_%d' % (n, hop), 'rb')
    x = array('h', bytearray(2 * hop))
    h = 0
    locked = 'ok'
    while src.readinto(x) == 2 * hop:
        for sp, mode in ((a, None), (b, V)):
            S._viper = mode
            sl = sp.next_slot()
            for i in range(hop):
                sl[i] = x[i]
            if mode is not None and h == 20:
                micropython.heap_lock()  # one whole hop on the kernels without allocating
                try:
                    sp.push()
                except MemoryError:
                    locked = 'allocated'
                micropython.heap_unlock()
            else:
                sp.push()
        same = (a.levels == b.levels and a.his == b.his and a.los == b.los and a.dc_q12 == b.dc_q12
                and a.fft.data == b.fft.data and a.power == b.power)
        if not same:
            print('DIFF', n, hop, h)
        k = 0
        for v in b.levels:
            k = (k * 31 + v) & 0xffffff
        print(n, hop, h, k)
        h += 1
    print('heap', n, hop, locked)
"""


def _streams(tmp_path):
    path = str(tmp_path / "hops")
    want = []
    for n, hop in CONFIGS:
        samples = [v for _, seg in segments(n + 2 * hop, n + hop) for v in seg]
        with open("%s_%d_%d" % (path, n, hop), "wb") as f:
            f.write(array("h", samples).tobytes())
        sp = Spectrum(16000, n, hop)
        for h in range(len(samples) // hop):
            sl = sp.next_slot()
            for i in range(hop):
                sl[i] = samples[h * hop + i]
            sp.push()
            k = 0
            for v in sp.levels:
                k = (k * 31 + v) & 0xFFFFFF
            want.append("%d %d %d %d" % (n, hop, h, k))
        want.append("heap %d %d ok" % (n, hop))
    return path, want




@mpunix.requires_unix32
@pytest.mark.parametrize("mpy", [False, pytest.param(True, marks=pytest.mark.skipif(not HAVE_MPY_CROSS,
                                                                                   reason="mpy-cross not found"))],
                         ids=["source", "mpy"])
def test_unix_port_kernels_are_bit_identical_and_allocate_nothing(tmp_path, mpy):
    root = mpunix.firmware_root(tmp_path, "spectrum_viper" if mpy else None)
    path, want = _streams(tmp_path)
    out = mpunix.run_unix32(_UNIX_CODE.format(configs=CONFIGS, path=path), root=root, timeout=600)
    lines = out.split("\n")[:-1]
    assert lines[0].endswith(".mpy" if mpy else ".py"), lines[0]
    assert lines[1:] == want


@mpunix.requires_unix32
def test_desk_main_wired_on_the_unix_port_matches_cpython(tmp_path):
    # The whole desk engine with the wiring applied and both kernels in use on the port: the same
    # events.json and frames.bin as CPython's portable run.
    import numpy as np

    out = tmp_path / "desk"
    hop_speed.desk_bundle(str(out), 3.0)
    r = subprocess.run([sys.executable, "main.py"], cwd=out, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(out)))
    assert r.returncode == 0, r.stderr
    cpy = ((out / "events.json").read_bytes(), (out / "frames.bin").read_bytes())
    for f in ("events.json", "frames.bin", "boot.cnt"):
        if (out / f).exists():
            (out / f).unlink()
    mods = mpunix.run_unix32("import firmware.spectrum as s, firmware.output as o\nprint(s._viper, o._viper)",
                             root=str(out))
    assert "spectrum_viper" in mods and "output_viper" in mods, mods
    mpunix.run_unix32(open(out / "main.py").read(), root=str(out))
    assert ((out / "events.json").read_bytes(), (out / "frames.bin").read_bytes()) == cpy
    assert np.frombuffer(cpy[1], np.uint8).any()
