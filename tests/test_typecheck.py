# Type checks the firmware with mypy against MicroPython's ESP32 API (micropython-esp32-stubs in typings/).
# Catches calls the board would reject at run time only, e.g. a method machine.I2S lacks or a wrong keyword.
#
# mypy sees the firmware as it runs on the ESP32, from a copy of firmware/ that differs in two
# ways, both keeping every line where it is (so messages name the real file and line):
# - the parameters through which the adapters receive hardware (ESP32_TYPES) get annotations,
#   so the calls made on them are checked (unannotated, they would be Any and checked for nothing);
# - the bodies of `except ImportError:` handlers become `pass`: they are the CPython fallbacks
#   (e.g. time.monotonic for ticks_ms), which never run on the board and are tested on CPython.
# tests/typecheck_esp32.py then passes the real modules to the adapters. A second run on a copy
# with deliberate mistakes (MUTATIONS) proves that each kind of misuse is actually reported.
import ast
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

FIRMWARE = os.path.join(ROOT, "firmware")
TYPINGS = os.path.join(ROOT, "typings")
CONFIG = os.path.join(ROOT, "mypy.ini")
CHECK_FILE = os.path.join(ROOT, "tests", "typecheck_esp32.py")
SCRIPT = os.path.join(ROOT, "scripts", "typings.sh")

# (file in firmware/, function, parameter, annotation): the hardware each adapter is handed.
# The protocols live in tests/typecheck_esp32.py (imported as _esp32 by the checked copy).
ESP32_TYPES = [
    ("mic_i2s.py", "make_i2s", "machine_module", "_esp32.MachineModule"),
    ("mic_i2s.py", "I2SMic.__init__", "i2s", "machine.I2S"),
    ("panels_np.py", "NeoPixelPanels.__init__", "neopixel_module", "_esp32.NeoPixelModule"),
    ("panels_np.py", "NeoPixelPanels.__init__", "machine_module", "_esp32.MachineModule"),
    ("app.py", "App.__init__", "wdt", "machine.WDT | None"),
]

# (file, text, replacement, message mypy must report on that line): misuse of the ESP32 API.
MUTATIONS = [
    ("mic_i2s.py", "i2s.readinto(self._raw[0])", "i2s.read_samples(self._raw[0])",
     '"I2S" has no attribute "read_samples"'),
    ("mic_i2s.py", "ibuf=ibuf_bytes(hop)", "ibuff=ibuf_bytes(hop)", 'Unexpected keyword argument "ibuff"'),
    ("mic_i2s.py", "mode=I2S.RX", "mode=I2S.RECEIVE", 'has no attribute "RECEIVE"'),
    ("mic_i2s.py", "i2s.irq(self._cb)", "i2s.irq(self._cb, 1)", 'Too many arguments for "irq"'),
    ("panels_np.py", "Pin(pin, Pin.OUT)", "Pin(pin, Pin.OUTPUT)", 'has no attribute "OUTPUT"'),
    ("panels_np.py", 'bpp=p["bpp"]', 'bytes_per_pixel=p["bpp"]', 'Unexpected keyword argument "bytes_per_pixel"'),
    ("panels_np.py", "strips[i].write()", "strips[i].show()", '"NeoPixel" has no attribute "show"'),
    ("app.py", "self.wdt.feed()", "self.wdt.kick()", '"WDT" has no attribute "kick"'),
    ("app.py", "machine.WDT(timeout=5000)", "machine.WDT(timeout_ms=5000)", 'Unexpected keyword argument "timeout_ms"'),
]

# Reported by mypy but not mistakes, each with its reason: (file, message fragment, why).
KNOWN = [
    ("firmware/mic_i2s.py", 'Argument 1 to "irq" of "I2S" has incompatible type "None"',
     "I2S.irq(None) returns the driver to blocking reads: the port accepts None (extmod/machine_i2s.c, "
     "machine_i2s_irq), the stub's signature omits it"),
    ("firmware/mic_i2s.py", 'Incompatible types in assignment (expression has type "None", variable has type "I2S")',
     "close() sets self.i2s = None as the closed marker, which the scheduled handler checks"),
]

# A stand-alone wrong snippet: methods and keywords the ESP32's machine module does not have.
WRONG_SNIPPET = """\
import machine
i2s = machine.I2S(0, sck=machine.Pin(14), ws=machine.Pin(15), sd=machine.Pin(32), mode=machine.I2S.RX,
                  bits=32, format=machine.I2S.MONO, rate=16000, ibuf=4096)
i2s.read_samples(bytearray(512))
machine.I2S(0, sck=machine.Pin(14), ws=machine.Pin(15), sd=machine.Pin(32), mode=machine.I2S.RX,
            bits=32, format=machine.I2S.MONO, rate=16000, buffer=4096)
"""
WRONG_EXPECTED = [(4, '"I2S" has no attribute "read_samples"'), (5, 'Unexpected keyword argument "buffer"')]


def _pinned():
    text = open(SCRIPT).read()
    return {name: re.search(r"^%s=(\S+)" % var, text, re.M).group(1)
            for name, var in (("micropython_esp32_stubs", "ESP32_STUBS"), ("micropython_stdlib_stubs", "STDLIB_STUBS"))}


def _stubs_present():
    return all(os.path.isdir(os.path.join(TYPINGS, "%s-%s.dist-info" % (n, v))) for n, v in _pinned().items())


@pytest.fixture(scope="module")
def mypy_ready():
    # In CI, missing tools fail loudly; on a developer's machine without the stubs, skip.
    ci = bool(os.environ.get("CI"))
    if importlib.util.find_spec("mypy") is None:
        msg = "mypy is not installed in this Python: pip install -e '.[dev]'"
        pytest.fail(msg) if ci else pytest.skip(msg)
    if not _stubs_present():
        if not ci:
            pytest.skip("the ESP32 type stubs are not installed: run scripts/typings.sh")
        r = subprocess.run(["bash", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PYTHON=sys.executable))
        if r.returncode != 0 or not _stubs_present():
            pytest.fail("scripts/typings.sh could not install the pinned ESP32 stubs %s into typings/ "
                        "(exit %d):\n%s" % (_pinned(), r.returncode, (r.stdout + r.stderr)[-3000:]))


def _functions(tree):
    # {"name" or "Class.name": FunctionDef} for module-level functions and methods.
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef):
                    out[node.name + "." + sub.name] = sub
    return out


def esp32_view(name, source):
    # The source as mypy should see it for the board: same lines, hardware parameters annotated,
    # CPython fallbacks (`except ImportError:` bodies) emptied.
    tree = ast.parse(source)
    lines = source.split("\n")
    edits = []  # (line index, column, text to insert)
    wanted = [t for t in ESP32_TYPES if t[0] == name]
    funcs = _functions(tree)
    for _, func, param, ann in wanted:
        assert func in funcs, "ESP32_TYPES names %s.%s, which firmware/%s no longer has: update the table" % (
            name, func, name)
        args = funcs[func].args
        hits = [a for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg == param]
        assert hits, "ESP32_TYPES: %s() in firmware/%s has no parameter %r any more: update the table" % (
            func, name, param)
        a = hits[0]
        edits.append((a.lineno - 1, a.end_col_offset, ': "%s"' % ann))
    for ln, col, text in sorted(edits, reverse=True):
        lines[ln] = lines[ln][:col] + text + lines[ln][col:]
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Name) and node.type.id == "ImportError":
            first, last = node.body[0].lineno - 1, node.end_lineno - 1
            lines[first] = " " * node.body[0].col_offset + "pass"
            for i in range(first + 1, last + 1):
                lines[i] = ""
    # Never executed (mypy reads this copy only): the names the annotations use, and viper's
    # pointer types, which MicroPython's compiler provides as builtins (the stubs declare them in
    # a __builtins__.pyi that pyright reads and mypy does not).
    lines.append("from _mpy_shed._mpy_builtins import ptr, ptr8, ptr16, ptr32, uint")
    if wanted:
        lines.append("import machine")
        lines.append("import typecheck_esp32 as _esp32")
    return "\n".join(lines)


def checked_copy(dest, mutations=()):
    # firmware/ (ESP32 view, optionally with mutations applied) plus the check file under dest.
    # Returns {(file, range of lines): message fragment} for the mutations.
    os.makedirs(os.path.join(dest, "firmware"))
    expect = {}
    for path in sorted(glob.glob(os.path.join(FIRMWARE, "*.py"))):
        name = os.path.basename(path)
        src = open(path).read()
        for file, old, new, msg in mutations:
            if file == name:
                at = src.find(old)
                assert at >= 0, "mutation anchor %r not found in firmware/%s: update MUTATIONS" % (old, name)
                src = src[:at] + new + src[at + len(old):]
                expect[("firmware/" + name, src.count("\n", 0, at) + 1)] = msg
        for (f, line) in list(expect):  # mypy reports a call at its first line: accept the statement's lines
            if f == "firmware/" + name:
                starts = [n.lineno for n in ast.walk(ast.parse(src))
                          if isinstance(n, ast.stmt) and n.lineno <= line <= n.end_lineno]
                expect[(f, range(max(starts), line + 1))] = expect.pop((f, line))
        with open(os.path.join(dest, "firmware", name), "w") as f:
            f.write(esp32_view(name, src))
    shutil.copy(CHECK_FILE, os.path.join(dest, "typecheck_esp32.py"))
    return expect


def run_mypy(cwd, files):
    # mypy with the repo's mypy.ini (stubs from typings/); returns (exit code, output).
    r = subprocess.run([sys.executable, "-m", "mypy", "--config-file", CONFIG, "--cache-dir",
                        os.path.join(cwd, ".mypy_cache"), "--no-error-summary", "--show-error-codes", *files],
                       cwd=cwd, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def _errors(out):
    # {(file, line): [messages]} of mypy's error lines.
    found = {}
    for m in re.finditer(r"^(\S+?):(\d+): error: (.*)$", out, re.M):
        found.setdefault((m.group(1), int(m.group(2))), []).append(m.group(3))
    return found


def _files(root):
    return sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "firmware", "*.py"))) + [
        "typecheck_esp32.py"]


def test_firmware_matches_the_esp32_api(mypy_ready, tmp_path):
    # Every firmware module (hardware adapters, app and the core) passes mypy against the stubs.
    root = str(tmp_path)
    checked_copy(root)
    code, out = run_mypy(root, _files(root))
    unexpected = ["%s:%d: %s" % (f, ln, m) for (f, ln), msgs in sorted(_errors(out).items()) for m in msgs
                  if not any(f == kf and frag in m for kf, frag, _ in KNOWN)]
    assert code in (0, 1) and not unexpected, (
        "mypy against the ESP32 stubs (line numbers are firmware/'s own):\n" + "\n".join(unexpected) + "\n\n" + out)


def test_the_check_reports_misuse_of_the_esp32_api(mypy_ready, tmp_path):
    # The same check on a copy with deliberate mistakes, plus a wrong stand-alone snippet: each
    # one must be reported where it is, or the check above would prove nothing.
    root = str(tmp_path)
    expect = checked_copy(root, MUTATIONS)
    with open(os.path.join(root, "wrong_i2s.py"), "w") as f:
        f.write(WRONG_SNIPPET)
    for line, msg in WRONG_EXPECTED:
        expect[("wrong_i2s.py", range(line, line + 1))] = msg
    code, out = run_mypy(root, _files(root) + ["wrong_i2s.py"])
    found = _errors(out)
    missed = ["%s:%d: %s" % (f, lines[-1], msg) for (f, lines), msg in expect.items()
              if not any(msg in m for ln in lines for m in found.get((f, ln), []))]
    assert code == 1
    assert not missed, "mypy did not report these mistakes:\n" + "\n".join(missed) + "\n\nmypy said:\n" + out
