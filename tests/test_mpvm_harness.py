# Tests for the MicroPython VM harness (tests/mpvm.py + tests/mpvm/run.mjs): it is real MicroPython, and it works.
# Also pins the port facts the firmware design relies on (int range, float width, what allocates), so an upgrade that changes them fails here.
import json
import shutil
import subprocess
import time

import pytest

try:
    from tests import mpvm  # if tests/ is (or becomes) a package
except ImportError:
    import mpvm

MicroPythonError, requires_vm, run_micropython = mpvm.MicroPythonError, mpvm.requires_vm, mpvm.run_micropython

pytestmark = requires_vm


def test_is_real_micropython_and_repo_is_importable():
    t0 = time.perf_counter()
    out = run_micropython(
        "import sys, os, micropython, gc\n"
        "from micropython import const\n"
        "import firmware\n"
        "print(sys.implementation.name, sys.implementation.version[:2], os.getcwd(), hasattr(gc, 'mem_alloc'))\n"
    )
    elapsed = time.perf_counter() - t0
    assert out.split() == ["micropython", "(1,", "27)", "/app", "True"]
    assert elapsed < 10, f"one VM run took {elapsed:.2f}s"  # ~0.1 s here


# Shared by the next two tests: measure gc.mem_alloc() growth of fn() after a gc.collect().
_MEASURE = """
import gc
from array import array
def delta(fn, *a):
    gc.collect()
    a0 = gc.mem_alloc()
    fn(*a)
    return gc.mem_alloc() - a0
"""


def test_alloc_measurement_sees_zero_and_nonzero():
    out = run_micropython(
        _MEASURE
        + """
buf = array('i', range(64))
def no_alloc(a):
    s = 0
    for i in range(1000):
        a[i & 63] = a[(i + 1) & 63] + 1
        s += a[i & 63]
def appends(n):
    l = []
    for i in range(n):
        l.append(i)
print(delta(no_alloc, buf), delta(appends, 1000))
"""
    )
    zero, grows = map(int, out.split())
    assert zero == 0
    assert grows > 0  # proves the measurement can fail


def test_port_facts_the_firmware_relies_on():
    """Measured facts of this port (numbers in bytes of gc.mem_alloc() growth per 1,000 iterations)."""
    out = run_micropython(
        _MEASURE
        + """
import sys, time, micropython
ba = bytearray(256); mv = memoryview(ba); other = memoryview(bytearray(256)); h = array('h', range(64))
class C:
    def m(self):
        return 1
o = C()
def mv_read(n):
    for i in range(n):
        x = mv[0:64]
def mv_assign(n):
    src = other[64:128]  # one 16-byte memoryview, outside the loop
    for i in range(n):
        mv[0:64] = src
def h_index(n):
    s = 0
    for i in range(n):
        s += h[i & 63]
        h[i & 63] = i & 0x3FFF
def ranges(n):
    for i in range(n):
        pass
def method_calls(n):
    for i in range(n):
        o.m()
def method_objects(n):
    for i in range(n):
        f = o.m
def floats(n):
    x = 1.5
    for i in range(n):
        y = x * 2.0
def ints(n, base, step):
    for i in range(n):
        y = base + step
facts = {
    'mv_read': delta(mv_read, 1000), 'mv_assign': delta(mv_assign, 1000), 'h_index': delta(h_index, 1000),
    'range': delta(ranges, 1000), 'method_call': delta(method_calls, 1000),
    'method_obj': delta(method_objects, 1000), 'float_op': delta(floats, 1000),
    'int_2_30_minus_1': delta(ints, 1000, (1 << 30) - 2, 1), 'int_2_30': delta(ints, 1000, (1 << 30) - 2, 2),
    'int_neg_2_30': delta(ints, 1000, -(1 << 30) + 1, -1),
    'double': 1.0 + 2.0 ** -52 != 1.0, 'big': 2 ** 62 == 4611686018427387904,
    'bit_length': hasattr(int, 'bit_length'),
    'ticks': all(hasattr(time, n) for n in ('ticks_ms', 'ticks_us', 'ticks_diff', 'sleep_ms')),
}
import json
print(json.dumps(facts))
"""
    )
    facts = json.loads(out)
    assert facts == {
        "mv_read": 16000,  # each memoryview slice read makes a new 16-byte memoryview object
        "mv_assign": 16,  # mv[0:64] = src allocates nothing (the 16 is `src` itself)
        "h_index": 0,
        "range": 0,
        "method_call": 0,  # o.m() is free; only taking o.m as a value builds a bound method
        "method_obj": 16000,
        "float_op": 16000,  # every float result is a 16-byte heap object
        "int_2_30_minus_1": 0,  # small ints are 31-bit: [-2**30, 2**30 - 1]
        "int_2_30": 32000,
        "int_neg_2_30": 0,
        "double": True,  # NB: floats are double here, single precision on the ESP32
        "big": True,
        "bit_length": False,
        "ticks": True,
    }


def test_no_native_emitter_viper_is_syntax_error():
    code = "import micropython\n@micropython.viper\ndef f(x: int) -> int:\n    return x + 1\n"
    with pytest.raises(MicroPythonError) as info:
        run_micropython(code)
    assert info.value.exc_type == "SyntaxError"
    assert "invalid micropython decorator" in info.value.traceback


def test_imports_package_from_temp_root_with_const(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(
        "from micropython import const\n_HIDDEN = const(7)\nA = const(1 << 4)\ndef get():\n    return _HIDDEN + A\n"
    )
    (pkg / "cfg.json").write_text('{"leds": 60}')
    (pkg / "notes.txt").write_text("not copied")
    (pkg / "__pycache__" / "junk.py").write_text("raise RuntimeError")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.bin").write_bytes(b"old")
    out = run_micropython(
        "import os, json, pkg.mod\n"
        "print(pkg.mod.get(), pkg.mod.A, '_HIDDEN' in dir(pkg.mod))\n"  # underscore consts are folded away
        "print(json.load(open('pkg/cfg.json'))['leds'])\n"
        "print(sorted(os.listdir('pkg')), 'out' in os.listdir('.'))\n",
        root=str(tmp_path),
    )
    assert out.splitlines() == ["23 16 False", "60", "['__init__.py', 'cfg.json', 'mod.py'] False"]


def test_exception_surfaces_with_traceback():
    with pytest.raises(MicroPythonError) as info:
        run_micropython("print('before')\ndef f():\n    raise ValueError('boom')\nf()\n")
    err = info.value
    assert err.exc_type == "ValueError" and err.returncode == 1
    assert err.stdout == "before\n"
    assert "ValueError: boom" in err.traceback and ", line 3, in f" in err.traceback


def test_sys_exit_codes():
    assert run_micropython("import sys\nprint('ok')\nsys.exit(0)\n") == "ok\n"
    with pytest.raises(MicroPythonError) as info:
        run_micropython("import sys\nsys.exit(3)\n")
    assert info.value.returncode == 3


def test_collect_returns_exact_bytes(tmp_path):
    payload = bytes(range(256)) * 3 + b"\r\n\x00\n\r\xff"
    host = tmp_path / "got" / "frames.bin"
    out = run_micropython(
        "import os\n"
        "os.mkdir('out')\n"
        f"data = {payload!r}\n"
        "with open('out/frames.bin', 'wb') as f:\n"
        "    f.write(data)\n"
        "print(len(data))\n",
        root=str(tmp_path),
        collect={"out/frames.bin": str(host)},
    )
    assert out == f"{len(payload)}\n"
    assert host.read_bytes() == payload


def test_collect_missing_file_is_an_error(tmp_path):
    with pytest.raises(MicroPythonError, match="did not leave /app/out/none.bin"):
        run_micropython("pass", root=str(tmp_path), collect={"out/none.bin": str(tmp_path / "x")})


def test_missing_package_message_is_clear(tmp_path):
    # A copy of the runner outside the repo cannot resolve the npm package.
    runner = tmp_path / "run.mjs"
    shutil.copy(mpvm.RUNNER, runner)
    proc = subprocess.run(["node", str(runner), "-"], input=b"pass", capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert b"run `npm ci` in the repo root" in proc.stderr
