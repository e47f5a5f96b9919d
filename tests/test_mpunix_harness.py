# Tests for the 32-bit MicroPython unix harness (tests/mpunix.py): it is MicroPython, 32-bit, with viper.
# Pins the machine facts viper code on the ESP32 relies on (int wrap, pointer widths, 31-bit small ints).
import random

import pytest

try:
    from tests import mpunix  # if tests/ is (or becomes) a package
except ImportError:
    import mpunix

from firmware.fft import RealFFT, or_bound

MicroPythonUnixError, requires_unix32, run_unix32 = mpunix.MicroPythonUnixError, mpunix.requires_unix32, mpunix.run_unix32

pytestmark = requires_unix32


def test_is_32bit_micropython_with_native_emitter():
    out = run_unix32(
        "import sys, micropython\n"
        "@micropython.native\n"
        "def nat(a, b):\n"
        "    return a * b\n"
        "print(sys.implementation.name, sys.maxsize, sys.implementation.version[:2] >= (1, 20), nat(6, 7))\n"
    )
    assert out.split() == ["micropython", "2147483647", "True", "42"]


def test_viper_ints_are_32bit_machine_words():
    out = run_unix32(
        "import micropython\n"
        "@micropython.viper\n"
        "def wrap() -> int:\n"
        "    x = int(0x7fffffff)\n"
        "    return x + 1\n"
        "@micropython.viper\n"
        "def mul(a: int, b: int) -> int:\n"
        "    return a * b\n"
        "@micropython.viper\n"
        "def sar(a: int) -> int:\n"
        "    return a >> 31\n"
        "print(wrap(), mul(65536, 65536), mul(46341, 46341), sar(-5), sar(5))\n"
    )
    assert out.split() == ["-2147483648", "0", "-2147479015", "-1", "0"]


def test_viper_pointer_widths():
    out = run_unix32(
        "import micropython\n"
        "from array import array\n"
        "@micropython.viper\n"
        "def ld16(a) -> int:\n"
        "    return ptr16(a)[0]\n"
        "@micropython.viper\n"
        "def ld32(a) -> int:\n"
        "    return ptr32(a)[1]\n"
        "@micropython.viper\n"
        "def st32(a, v: int):\n"
        "    p = ptr32(a)\n"
        "    p[0] = v\n"
        "b = array('i', [0, -7])\n"
        "st32(b, -123456)\n"
        "print(ld16(array('h', [-1])), ld32(b), b[0])\n"
    )
    # ptr16 loads zero-extend (-1 reads 65535); ptr32 is a full signed word
    assert out.split() == ["65535", "-7", "-123456"]


def test_small_ints_are_31_bit():
    # Values in [-2**30, 2**30) are small ints (no heap); one past either end allocates a long int.
    out = run_unix32(
        "import gc\n"
        "def d(f, n):\n"
        "    gc.collect()\n"
        "    a = gc.mem_alloc()\n"
        "    f(n)\n"
        "    return gc.mem_alloc() - a\n"
        "def big(n):\n"
        "    return 1 << n\n"
        "def top(n):\n"
        "    return (1 << n) - 1 + (1 << n)\n"
        "def neg(n):\n"
        "    return -(1 << n) - (1 << n)\n"
        "def neg1(n):\n"
        "    return -(1 << n) - (1 << n) - 1\n"
        "print(d(big, 30) > 0, d(top, 29), d(neg, 29), d(neg1, 29) > 0)\n"
    )
    assert out.split() == ["True", "0", "0", "True"]


def test_heap_lock_raises_memory_error():
    # Unlike the WebAssembly VM (which hangs), this port raises MemoryError under heap_lock.
    out = run_unix32(
        "import micropython\n"
        "micropython.heap_lock()\n"
        "try:\n"
        "    x = [1, 2, 3]\n"
        "    r = 'allocated'\n"
        "except MemoryError:\n"
        "    r = 'MemoryError'\n"
        "micropython.heap_unlock()\n"
        "print(r)\n"
    )
    assert out.strip() == "MemoryError"


def test_errors_carry_the_traceback():
    with pytest.raises(MicroPythonUnixError) as ei:
        run_unix32("print('before')\nraise ValueError('boom')\n")
    assert "ValueError: boom" in ei.value.traceback
    assert ei.value.stdout == "before\n"
    assert ei.value.returncode == 1


def test_firmware_fft_runs_bit_identical_to_cpython():
    n = 512
    rng = random.Random(7)
    frame = [rng.randint(-20000, 20000) for _ in range(n)]
    f = RealFFT(n)
    for i, v in enumerate(frame):
        f.data[i] = v
    sh = f.run(or_bound(f.data, 0, n))
    want = f"{sh} {sum((i + 1) * v for i, v in enumerate(f.data))} {list(f.data[:8])}"
    out = run_unix32(
        "import firmware.fft as F\n"
        f"x = {frame!r}\n"
        f"f = F.RealFFT({n})\n"
        "for i, v in enumerate(x):\n"
        "    f.data[i] = v\n"
        f"sh = f.run(F.or_bound(f.data, 0, {n}))\n"
        "print(sh, sum((i + 1) * v for i, v in enumerate(f.data)), list(f.data[:8]))\n"
    )
    assert out.strip() == want
