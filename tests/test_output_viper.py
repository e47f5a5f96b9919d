# firmware/output_viper.py (viper twins of Output.show's panel packing and Output.limit's scale pass) gives
# firmware/output.py's bytes and estimates bit for bit: simulated on CPython, on the 32-bit unix port, compiled for the ESP32s.
import os
import random

import pytest

from conftest import ROOT
from firmware.output import ORDERS, Output
from firmware.params import Params

try:
    from tests import mpunix, viper_sim  # if tests/ is (or becomes) a package
except ImportError:
    import mpunix
    import viper_sim

VIPER_SRC = os.path.join(ROOT, "firmware", "output_viper.py")
MPY_CROSS = viper_sim.MPY_CROSS
HAVE_MPY_CROSS = viper_sim.HAVE_MPY_CROSS


def wired_module(viper, name="output_wired"):
    return viper_sim.wired_module("output", viper, name)


@pytest.fixture(scope="module")
def sim():
    return viper_sim.load(VIPER_SRC)


@pytest.fixture(scope="module")
def wired(sim):
    return wired_module(sim)


def make(cls, panels, budget, brightness, gamma, cap=255, ma=20, idle=1):
    p = Params()
    p.update({"brightness": brightness, "gamma": gamma})
    out = cls({"budget_ma": budget, "ma_per_channel": ma, "idle_ma_per_pixel": idle, "max_brightness": cap}, p)
    first = 0
    for order, n in panels:
        out.add_panel(first, n, order)
        first += n
    return out, first


def frames(total, rng):
    """RGB frames: noise, black, white, single channels, grey ramps (white extraction ties), sparse."""
    t = 3 * total
    out = [
        bytearray(rng.randrange(256) for _ in range(t)),
        bytearray(t),
        bytearray([255] * t),
        bytearray([255, 0, 0] * total),
        bytearray([0, 0, 255] * total),
        bytearray(v for i in range(total) for v in (i & 255, i & 255, i & 255)),
        bytearray(v for i in range(total) for v in (200, (i * 37) & 255, 100)),
        bytearray(rng.choice((0, 0, 0, 1, 254, 255)) for _ in range(t)),
    ]
    return out


# every order alone, mixed garments with RGBW panels, one-pixel and empty panels
LAYOUTS = [[(o, 7)] for o in ORDERS] + [
    [("GRB", 35), ("GRB", 35), ("GRB", 64), ("GRB", 16)],  # the desk jacket
    [("RGBW", 5), ("BGR", 1), ("GRBW", 9), ("GBR", 0), ("RGB", 3)],
    [("GRBW", 1)],
]
# budget (mA), brightness, gamma, cap: the limiter idle, engaged, starved (avail 0), and brightness extremes
SETTINGS = [(16000, 255, 10, 255), (2000, 160, 22, 200), (300, 255, 22, 255), (60, 255, 30, 255),
            (5, 255, 10, 255), (1000, 0, 22, 255), (900, 1, 17, 255), (100000, 77, 28, 130)]


def compare(a, b, rgb):
    ma_a = a.show(rgb)
    ma_b = b.show(rgb)
    got = (ma_b, b.est_ma, b.limited, [bytes(p.buf) for p in b.panels])
    want = (ma_a, a.est_ma, a.limited, [bytes(p.buf) for p in a.panels])
    return got, want


def test_simulated_kernels_give_the_portable_bytes(sim, wired):
    rng = random.Random(4)
    limited = set()
    viper_sim.reset_audit(sim)
    for layout in LAYOUTS:
        for budget, bright, gamma, cap in SETTINGS:
            a, total = make(Output, layout, budget, bright, gamma, cap)
            b, _ = make(wired.Output, layout, budget, bright, gamma, cap)
            for k, rgb in enumerate(frames(total, rng)):
                got, want = compare(a, b, rgb)
                assert got == want, "%s budget %d brightness %d gamma %d frame %d" % (layout, budget, bright, gamma, k)
                limited.add(a.limited)
    assert limited == {0, 1}  # both sides of the limiter were exercised
    assert not sim.wraps, "wrapped on lines %s" % sorted(sim.wraps)
    assert max(sim.audit.values()) < 1 << 30


def test_panels_may_start_anywhere_in_the_frame(sim, wired):
    # Panels in any order over a longer frame, overlapping ones too: the kernel reads from 3 * first.
    rng = random.Random(5)
    spec = [(40, 10, "GRB"), (0, 25, "RGBW"), (12, 30, "BRG"), (49, 1, "GRBW")]
    p = Params()
    p.update({"brightness": 200, "gamma": 22})
    power = {"budget_ma": 400, "ma_per_channel": 20, "idle_ma_per_pixel": 1, "max_brightness": 255}
    a = Output(power, p)
    b = wired.Output(power, p)
    for first, count, order in spec:
        a.add_panel(first, count, order)
        b.add_panel(first, count, order)
    for k in range(20):
        rgb = bytearray(rng.randrange(256) for _ in range(3 * 50))
        got, want = compare(a, b, rgb)
        assert got == want, k


def test_scale_kernel_on_any_bytes_and_scale(sim):
    rng = random.Random(6)
    for n in (0, 1, 7, 300):
        for s in (0, 1, 128, 254, 255):
            buf = bytearray(rng.randrange(256) for _ in range(n))
            want = bytearray((v * s) >> 8 for v in buf)
            assert sim.scale(buf, n, s) == sum(want)
            assert buf == want


def test_short_buffers_raise_like_the_bytecode(sim, wired):
    # The bytecode raises IndexError on a frame shorter than its panels; the kernel must not write
    # past a buffer instead.
    b, total = make(wired.Output, [("GRB", 10)], 2000, 255, 22)
    with pytest.raises(IndexError):
        b.show(bytearray(3 * total - 1))
    a, _ = make(Output, [("GRB", 10)], 2000, 255, 22)
    with pytest.raises(IndexError):
        a.show(bytearray(3 * total - 1))
    with pytest.raises(IndexError):
        sim.show(bytearray(30), bytearray(256), bytearray(29), 0, 10, 1, 0, 2, 3)
    with pytest.raises(IndexError):
        sim.scale(bytearray(3), 4, 100)


@pytest.mark.parametrize("start", [0xF7F00000, 0x80000000 - 64], ids=["heap_above_2**31", "buffers_straddle_2**31"])
def test_addresses_above_2_31_do_not_matter(start):
    sim = viper_sim.load(VIPER_SRC, memory=viper_sim.Memory(start))
    w = wired_module(sim, "output_wired_high")
    rng = random.Random(7)
    layout = [("RGBW", 5), ("GRB", 30)]
    for budget in (16000, 200):
        a, total = make(Output, layout, budget, 255, 22)
        b, _ = make(w.Output, layout, budget, 255, 22)
        for rgb in frames(total, rng)[:3]:
            got, want = compare(a, b, rgb)
            assert got == want


# --- the real 32-bit unix port ----------------------------------------------------------------

# For each case: a bytecode Output (_viper None) and a kernel Output built alike, shown the same
# frames; prints the kernel side's estimates and a hash of its bytes, which CPython must reproduce.
_UNIX_CODE = """
import micropython
import firmware.output as O
from firmware.params import Params
V = O._viper
assert V is not None, 'no viper kernels'
print('module', V.__file__)
src = open('{path}', 'rb')

def make(layout, budget, bright, gamma, cap):
    p = Params()
    p.update({{'brightness': bright, 'gamma': gamma}})
    out = O.Output({{'budget_ma': budget, 'ma_per_channel': 20, 'idle_ma_per_pixel': 1, 'max_brightness': cap}}, p)
    first = 0
    for order, n in layout:
        out.add_panel(first, n, order)
        first += n
    return out, first

locked = 'ok'
for c, (layout, budget, bright, gamma, cap, nframes) in enumerate({cases}):
    a, total = make(layout, budget, bright, gamma, cap)
    b, _ = make(layout, budget, bright, gamma, cap)
    for k in range(nframes):
        rgb = bytearray(3 * total)
        src.readinto(rgb)
        O._viper = None
        ma_a = a.show(rgb)
        O._viper = V
        if c == 0 and k == 1:
            micropython.heap_lock()
            try:
                ma_b = b.show(rgb)
            except MemoryError:
                locked = 'allocated'
            micropython.heap_unlock()
        else:
            ma_b = b.show(rgb)
        same = ma_a == ma_b and a.limited == b.limited and all(a.panels[i].buf == b.panels[i].buf for i in range(len(a.panels)))
        h = 0
        for p in b.panels:
            for v in p.buf:
                h = (h * 31 + v) & 0xffffff
        print(c, k, ma_b, b.limited, h, 'same' if same else 'DIFF')
print('heap', locked)
"""


def _cases(tmp_path):
    rng = random.Random(8)
    path = str(tmp_path / "frames")
    cases, want = [], []
    with open(path, "wb") as f:
        for c, (layout, (budget, bright, gamma, cap)) in enumerate(
                (lay, st) for lay in LAYOUTS for st in SETTINGS[::3] + [SETTINGS[2]]):
            fr = frames(sum(n for _, n in layout), rng)
            cases.append((layout, budget, bright, gamma, cap, len(fr)))
            a, _ = make(Output, layout, budget, bright, gamma, cap)
            for k, rgb in enumerate(fr):
                f.write(rgb)
                ma = a.show(rgb)
                h = 0
                for p in a.panels:
                    for v in p.buf:
                        h = (h * 31 + v) & 0xFFFFFF
                want.append("%d %d %d %d %d same" % (c, k, ma, a.limited, h))
    want.append("heap ok")
    return path, [(tuple(tuple(p) for p in lay), *rest) for lay, *rest in cases], want




@mpunix.requires_unix32
@pytest.mark.parametrize("mpy", [False, pytest.param(True, marks=pytest.mark.skipif(not HAVE_MPY_CROSS,
                                                                                   reason="mpy-cross not found"))],
                         ids=["source", "mpy"])
def test_unix_port_kernels_are_bit_identical_and_allocate_nothing(tmp_path, mpy):
    root = mpunix.firmware_root(tmp_path, "output_viper" if mpy else None)
    path, cases, want = _cases(tmp_path)
    out = mpunix.run_unix32(_UNIX_CODE.format(path=path, cases=cases), root=root, timeout=600)
    lines = out.split("\n")[:-1]
    assert lines[0].endswith(".mpy" if mpy else ".py"), lines[0]
    assert lines[1:] == want
