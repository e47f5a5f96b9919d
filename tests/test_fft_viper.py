# firmware/fft_viper.py (viper twin of RealFFT.run) gives firmware/fft.py's integers bit for bit: simulated on
# CPython (tests/viper_sim.py), on a real 32-bit MicroPython unix port when present, and it compiles for the ESP32s.
import functools
import math
import os
import random
from array import array

import pytest

from conftest import ROOT
from firmware.fft import RealFFT, or_bound

try:
    from tests import mpunix, viper_sim  # if tests/ is (or becomes) a package
except ImportError:
    import mpunix
    import viper_sim

VIPER_SRC = os.path.join(ROOT, "firmware", "fft_viper.py")
SIZES = (256, 512, 1024)
MPY_CROSS = viper_sim.MPY_CROSS
HAVE_MPY_CROSS = viper_sim.HAVE_MPY_CROSS


# --- frames -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def tables(n):
    """A RealFFT(n) whose tables are shared (building them takes a while on CPython)."""
    return RealFFT(n)


def _windowed(n, f):
    win = tables(n).window
    return [(max(-32768, min(32767, int(f(i)))) * win[i] + (1 << 14)) >> 15 for i in range(n)]


def frames(n):
    """(name, samples) covering loud, quiet, structured and extreme input; each fits array('i')."""
    rng = random.Random(n)
    out = [
        ("tones", _windowed(n, lambda i: 14400 * math.sin(2 * math.pi * 37.3 * i / n)
                            + 7200 * math.sin(2 * math.pi * 5.1 * i / n) + rng.uniform(-2400, 2400))),
        ("quiet_tone", _windowed(n, lambda i: 40 * math.sin(2 * math.pi * 11.7 * i / n))),
        ("bin_centred", _windowed(n, lambda i: 32767 * math.cos(2 * math.pi * 64 * i / n))),
        ("chirp", _windowed(n, lambda i: 30000 * math.sin(math.pi * i * i / n))),
        ("noise", [rng.randint(-32768, 32767) for _ in range(n)]),
        ("rails", [rng.choice((-32768, 32767)) for _ in range(n)]),
        ("square", [32767 if i < n // 2 else -32768 for i in range(n)]),
        ("nyquist", [32767 if i & 1 else -32768 for i in range(n)]),
        ("dc_max", [32767] * n),
        ("dc_min", [-32768] * n),
        ("tiny", [rng.randint(-5, 5) for _ in range(n)]),
        ("one_lsb", [1 if i == n // 3 else 0 for i in range(n)]),
        ("zeros", [0] * n),
        ("impulse_first", [32767 if i == 0 else 0 for i in range(n)]),
        ("impulse_last", [-32768 if i == n - 1 else 0 for i in range(n)]),
        ("impulse_odd", [32767 if i == 3 else 0 for i in range(n)]),
        # multiples of 4096: twiddle products land exactly on rounding ties (x.5 before >> 14, >> 15)
        ("ties", [rng.choice((-24576, -8192, 0, 0, 4096, 8192, 24576)) for _ in range(n)]),
        # a complex impulse of 8192 at point 3 meets odd twiddles as exact ties in the late stages
        ("tie_impulse_re", [8192 if i == 6 else 0 for i in range(n)]),
        ("tie_impulse_im", [-8192 if i == 7 else 0 for i in range(n)]),
        # an impulse keeps its height through every stage: OR-bounds exactly at the two limits
        ("stage_limit", [32768 if i == 0 else 0 for i in range(n)]),
        ("split_limit", [8192 if i == 0 else 0 for i in range(n)]),
        ("big", [rng.randint(-(1 << 30) + 1, (1 << 30) - 1) for _ in range(n)]),
        ("int32_extremes", [rng.choice((-(1 << 31), (1 << 31) - 1, 0, 1, -1)) for _ in range(n)]),
    ]
    return out


def portable(n, frame, bound, tw=None):
    f = tables(n)
    saved = f.tw
    f.tw = saved if tw is None else tw
    try:
        for i, v in enumerate(frame):
            f.data[i] = v
        sh = f.run(bound)
    finally:
        f.tw = saved
    return sh, list(f.data)


def simulated(sim, n, frame, bound, tw=None):
    f = tables(n)
    d = array("i", frame)
    sh = sim.run(d, f.tw if tw is None else tw, f.split_tw, f.swaps, n, len(f.swaps), bound)
    return sh, list(d)


@pytest.fixture(scope="module")
def sim():
    return viper_sim.load(VIPER_SRC)


# --- bit identity in the simulator --------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_simulated_viper_is_bit_identical(sim, n):
    for name, frame in frames(n):
        bound = or_bound(array("i", frame), 0, n)
        want = portable(n, frame, bound)
        got = simulated(sim, n, frame, bound)
        assert got[0] == want[0], "%s: shifts %d, portable %d" % (name, got[0], want[0])
        assert got[1] == want[1], "%s: %d of %d values differ" % (name, sum(a != b for a, b in zip(got[1], want[1])), n)


@pytest.mark.parametrize("n", SIZES)
def test_loose_bounds_as_the_spectrum_passes_them(sim, n):
    # Any bound >= the OR of |v| is valid (spectrum.py passes 32767); a loose one adds shifts.
    for name, frame in frames(n)[:4]:
        for bound in (32767, 1 << 20, (1 << 31) - 1):
            want = portable(n, frame, bound)
            assert simulated(sim, n, frame, bound) == want, "%s, bound %d" % (name, bound)


@pytest.mark.parametrize("start", [0xF7F00000, 0x80000000 - 1024], ids=["heap_above_2**31", "data_straddles_2**31"])
def test_addresses_above_2_31_do_not_matter(start):
    # Viper ints are signed, addresses are not: loops end on != so the sign of an address is irrelevant.
    sim = viper_sim.load(VIPER_SRC, memory=viper_sim.Memory(start))
    for n in SIZES:
        for name, frame in frames(n)[:6]:
            bound = or_bound(array("i", frame), 0, n)
            assert simulated(sim, n, frame, bound) == portable(n, frame, bound), "%s n=%d" % (name, n)


def test_general_loops_when_the_table_lacks_exact_1_and_minus_j():
    # Stages 1 and 2 use special loops only if tw holds (16384, 0) and (0, -16384) exactly; a table
    # without them (here: perturbed on purpose) goes through the general twiddle loops, still exact.
    sim = viper_sim.load(VIPER_SRC)
    n = 512
    for k in (0, 1, n // 4, n // 4 + 1):
        tw = array("h", tables(n).tw)
        tw[k] += 3
        for name, frame in frames(n)[:4]:
            bound = or_bound(array("i", frame), 0, n)
            assert simulated(sim, n, frame, bound, tw) == portable(n, frame, bound, tw), "tw[%d] %s" % (k, name)


def test_no_intermediate_wraps_and_data_stay_below_2_30():
    # The bounds argued in the comments, measured: no arithmetic result wraps (except the marked
    # sign extensions), and for 16-bit-range input every value stays below 2**30 as in fft.py.
    sim = viper_sim.load(VIPER_SRC)
    for n in SIZES:
        for name, frame in frames(n):
            viper_sim.reset_audit(sim)
            simulated(sim, n, frame, or_bound(array("i", frame), 0, n))
            assert not sim.wraps, "%s n=%d wrapped on lines %s" % (name, n, sorted(sim.wraps))
            if max(abs(v) for v in frame) <= 32768:
                worst = max(sim.audit.values())
                line = max(sim.audit, key=sim.audit.get)
                assert worst < 1 << 30, "%s n=%d: %d on line %d" % (name, n, worst, line)


# --- the simulator itself -------------------------------------------------------------------------

_SNIPPETS = '''
import micropython

@micropython.viper
def wrap() -> int:
    x = int(0x7fffffff)
    return x + 1

@micropython.viper
def mul(a: int, b: int) -> int:
    return a * b

@micropython.viper
def sar(a: int) -> int:
    return a >> 31

@micropython.viper
def ld16(a) -> int:
    return ptr16(a)[0]

@micropython.viper
def ld16_signed(a) -> int:
    return (ptr16(a)[0] << 16) >> 16  # intended wrap

@micropython.viper
def ld32(a) -> int:
    return ptr32(a)[1]

@micropython.viper
def st32(a, v: int):
    p = ptr32(a)
    p[0] = v

@micropython.viper
def st16(a, v: int):
    p = ptr16(a)
    p[0] = v

@micropython.viper
def sum16(a, n: int) -> int:
    p = ptr16(a)
    s = 0
    for i in range(n):
        s += p[i]
    return s

@micropython.viper
def addr_roundtrip(a) -> int:
    p = ptr32(int(ptr32(a)) + 4)
    return p[0]
'''


def test_simulator_matches_the_device_facts():
    # The same expectations as tests/test_mpunix_harness.py checks on the real 32-bit port.
    m = viper_sim.load_source(_SNIPPETS)
    assert [m.wrap(), m.mul(65536, 65536), m.mul(46341, 46341), m.sar(-5), m.sar(5)] == [
        -2147483648, 0, -2147479015, -1, 0]
    b = array("i", [0, -7])
    m.st32(b, -123456)
    assert (m.ld16(array("h", [-1])), m.ld32(b), b[0]) == (65535, -7, -123456)
    assert m.ld16_signed(array("h", [-1])) == -1
    h = array("h", [0])
    m.st16(h, 0x12345678)  # a store keeps the low 16 bits
    assert h[0] == 0x5678
    assert m.addr_roundtrip(array("i", [1, 2])) == 2
    assert m.mul(1 << 40, 3) == 0  # an oversized Python int wraps when passed to an int argument


def test_simulator_shows_the_unsigned_ptr16_trap():
    # Summing array('h') through ptr16 without sign extension is wrong on the device: here too.
    m = viper_sim.load_source(_SNIPPETS)
    a = array("h", [-3, 5, -32768, 100])
    assert m.sum16(a, 4) == sum(v & 0xFFFF for v in a) != sum(a)


def test_forgetting_the_sign_extension_in_the_fft_is_caught():
    # The kernel reads each twiddle pair as one word; read through ptr16 instead, the halves must be
    # sign-extended. A copy that forgets it is detectably wrong in the simulator; with it, exact.
    src = open(VIPER_SRC).read()
    ind = " " * 24  # the late-stage loop's twiddle load
    old = (ind + "x = t[0]\n" + ind + "wr = (x << 16) >> 16  # intended wrap: sign extension of the low half\n"
           + ind + "wi = x >> 16\n")
    assert src.count(old) == 1, "anchor changed: update this test"
    forgot = ind + "u = ptr16(int(t))\n" + ind + "wr = u[0]\n" + ind + "wi = u[1]\n"
    fixed = (ind + "u = ptr16(int(t))\n" + ind + "wr = (u[0] << 16) >> 16  # intended wrap\n"
             + ind + "wi = (u[1] << 16) >> 16  # intended wrap\n")
    n = 512
    frame = frames(n)[0][1]
    bound = or_bound(array("i", frame), 0, n)
    want = portable(n, frame, bound)
    bad = viper_sim.load_source(src.replace(old, forgot), VIPER_SRC)
    assert simulated(bad, n, frame, bound) != want
    good = viper_sim.load_source(src.replace(old, fixed), VIPER_SRC)
    assert simulated(good, n, frame, bound) == want


@pytest.mark.parametrize(
    "body, message",
    [
        ("    y = -x\n    return y", "unary minus"),
        ("    return x // 2", "use shifts"),
        ("    return x % 8", "use masks"),
    ],
)
def test_simulator_rejects_the_viper_traps(body, message):
    src = "import micropython\n@micropython.viper\ndef f(x: int) -> int:\n" + body + "\n"
    with pytest.raises(viper_sim.ViperSimError, match=message):
        viper_sim.load_source(src)


def test_simulator_rejects_defaults_and_bad_accesses():
    with pytest.raises(viper_sim.ViperSimError, match="default"):
        viper_sim.load_source("import micropython\n@micropython.viper\ndef f(x: int = 1) -> int:\n    return x\n")
    m = viper_sim.load_source(
        "import micropython\n@micropython.viper\ndef at(a, i: int) -> int:\n    return ptr32(a)[i]\n"
        "@micropython.viper\ndef odd(a) -> int:\n    return ptr32(int(ptr32(a)) + 2)[0]\n"
    )
    a = array("i", [1, 2, 3])
    assert m.at(a, 2) == 3
    with pytest.raises(viper_sim.ViperSimError, match="outside"):
        m.at(a, 3)
    with pytest.raises(viper_sim.ViperSimError, match="misaligned"):
        m.odd(a)


# --- the real 32-bit unix port ----------------------------------------------------------------

_UNIX_FRAMES = ("tones", "quiet_tone", "noise", "rails", "nyquist", "tiny", "zeros", "impulse_odd", "big",
                "int32_extremes")

_UNIX_CODE = """
import sys
from array import array
import firmware.fft as F
import firmware.fft_viper as V
for n in (256, 512, 1024):
    f = F.RealFFT(n)
    g = F.RealFFT(n)
    src = open('{path}_%d' % n, 'rb')
    count = 0
    while True:
        d = array('i', bytearray(4 * n))
        if src.readinto(d) != 4 * n:
            break
        for i in range(n):
            f.data[i] = d[i]
        b = F.or_bound(d, 0, n)
        sh_b = f.run(b)
        sh_v = V.run(d, g.tw, g.split_tw, g.swaps, n, len(g.swaps), b)
        same = sh_b == sh_v and d == f.data
        h = 0
        for i in range(n):
            h = (h * 31 + d[i]) & 0xffffff
        print(n, count, sh_v, h, 'same' if same else 'DIFF')
        count += 1
"""


def _frames_file(tmp_path):
    path = str(tmp_path / "frames")
    want = []
    for n in SIZES:
        with open("%s_%d" % (path, n), "wb") as f:
            for k, (name, frame) in enumerate(x for x in frames(n) if x[0] in _UNIX_FRAMES):
                f.write(array("i", frame).tobytes())
                sh, out = portable(n, frame, or_bound(array("i", frame), 0, n))
                h = 0
                for v in out:
                    h = (h * 31 + v) & 0xFFFFFF
                want.append("%d %d %d %d same" % (n, k, sh, h))
    return path, want


@mpunix.requires_unix32
def test_unix_port_viper_is_bit_identical_to_bytecode(tmp_path):
    # The source compiled on the port itself (3 register locals, like a .py on the ESP32).
    path, want = _frames_file(tmp_path)
    out = mpunix.run_unix32(_UNIX_CODE.format(path=path), timeout=300)
    assert out.split("\n")[:-1] == want


@mpunix.requires_unix32
@pytest.mark.skipif(not HAVE_MPY_CROSS, reason="mpy-cross not found")
def test_unix_port_mpy_is_bit_identical_too(tmp_path):
    # fft_viper as mpy-cross compiles it (-march=x86, 2 register locals: the deployed form on the ESP32).
    root = mpunix.firmware_root(tmp_path, compiled="fft_viper")
    path, want = _frames_file(tmp_path)
    code = "import firmware.fft_viper as V\nassert V.__file__.endswith('.mpy'), V.__file__\n"
    code += _UNIX_CODE.format(path=path)
    out = mpunix.run_unix32(code, root=root, timeout=300)
    assert out.split("\n")[:-1] == want


@mpunix.requires_unix32
def test_unix_port_run_allocates_nothing():
    # Per hop, run() must not allocate (GC pauses): a hop's refill and transform under heap_lock.
    out = mpunix.run_unix32(
        "import micropython\n"
        "import firmware.fft as F\n"
        "import firmware.fft_viper as V\n"
        "def hop(f, run, nsw):\n"
        "    d = f.data\n"
        "    for i in range(512):\n"
        "        d[i] = (i * 7919) % 20001 - 10000\n"
        "    return run(d, f.tw, f.split_tw, f.swaps, 512, nsw, 32767)\n"
        "f = F.RealFFT(512)\n"
        "sh = hop(f, V.run, len(f.swaps))\n"
        "r = 'allocated'\n"
        "micropython.heap_lock()\n"
        "try:\n"
        "    sh = hop(f, V.run, len(f.swaps))\n"
        "    r = 'ok'\n"
        "except MemoryError:\n"
        "    pass\n"
        "micropython.heap_unlock()\n"
        "print(r, sh)\n"
    )
    assert out.split()[0] == "ok"


# --- compiles for the ESP32 family ------------------------------------------------------------

