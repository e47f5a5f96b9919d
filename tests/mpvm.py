# Python wrapper around tests/mpvm/run.mjs: run code on the real MicroPython WebAssembly port from pytest.
# Exists so tests can prove firmware code works on MicroPython itself (its int/float/alloc rules), not just CPython.
"""Run Python source on real MicroPython (the official WebAssembly port, driven by Node).

    from mpvm import run_micropython, requires_vm, MicroPythonError
    out = run_micropython("import firmware.fft\\nprint(firmware.fft.__name__)")

The repo root (or ``root``) is copied into the VM at /app (.py .json .pcm .bin only) and the code runs
there as __main__ with cwd /app. ``collect`` maps VM paths (relative to /app, or absolute) to host paths
that receive byte-exact copies of files the code wrote. Port quirks: no native emitter
(``@micropython.viper``/``@micropython.native`` raise SyntaxError), allocating while
``micropython.heap_lock()`` is held hangs instead of raising MemoryError (the timeout then kills it), and
the GC heap grows on demand (``heap`` is no cap; measure with gc.mem_alloc() deltas instead).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import zlib

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(REPO_ROOT, "tests", "mpvm", "run.mjs")
PACKAGE = "@micropython/micropython-webassembly-pyscript"
DEFAULT_HEAP = 4 * 1024 * 1024
_INSTALL_HINT = "run `npm ci` in the repo root"


class MicroPythonError(Exception):
    """The code failed in the VM: ``traceback`` holds the VM's stderr (its traceback text)."""

    def __init__(self, traceback: str, returncode: int | None = None, stdout: str = ""):
        super().__init__(traceback)
        self.traceback = traceback
        self.returncode = returncode
        self.stdout = stdout
        last = traceback.strip().splitlines()[-1] if traceback.strip() else ""
        self.exc_type = last.split(":", 1)[0] if ":" in last else None


def node_available() -> bool:
    return shutil.which("node") is not None


# Skip VM tests only where node is absent AND this is not CI: CI has node and must really run them.
requires_vm = pytest.mark.skipif(
    not node_available() and not os.environ.get("CI"),
    reason="node not found (install Node >= 18, then " + _INSTALL_HINT + ")",
)


def _pinned_version() -> str:
    with open(os.path.join(REPO_ROOT, "package.json")) as f:
        return json.load(f)["dependencies"][PACKAGE]


def _installed_version() -> str | None:
    try:
        with open(os.path.join(REPO_ROOT, "node_modules", PACKAGE, "package.json")) as f:
            return json.load(f).get("version")
    except (OSError, ValueError):
        return None


_installed = False


def ensure_installed() -> None:
    """Run `npm ci` in the repo root unless the pinned package is already there (idempotent, quiet)."""
    global _installed
    if _installed:
        return
    if not node_available():
        raise RuntimeError("node not found: install Node >= 18, then " + _INSTALL_HINT)
    want = _pinned_version()
    if _installed_version() != want:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm not found: " + _INSTALL_HINT)
        lock_path = os.path.join(tempfile.gettempdir(), "threadbeat-mpvm-%08x.lock" % zlib.crc32(REPO_ROOT.encode()))
        with open(lock_path, "w") as lock:  # one installer at a time (e.g. pytest-xdist workers)
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _installed_version() != want:
                proc = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                    cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                )
                if proc.returncode != 0 or _installed_version() != want:
                    raise RuntimeError(
                        f"`npm ci` in {REPO_ROOT} failed ({proc.returncode}); {_INSTALL_HINT} by hand:\n"
                        + proc.stderr[-4000:]
                    )
    _installed = True


def run_micropython(
    code: str,
    root: str = REPO_ROOT,
    heap: int = DEFAULT_HEAP,
    collect: dict[str, str] | None = None,
    timeout: float = 120,
) -> str:
    """Run ``code`` on MicroPython with ``root`` mounted at /app; return its stdout.

    Raises MicroPythonError (VM traceback text, exit code, stdout so far) if the code raises, calls
    sys.exit(n != 0), a ``collect`` file is missing, or the run exceeds ``timeout`` seconds.
    """
    ensure_installed()
    cmd = ["node", RUNNER, "--root", os.fspath(root), "--heap", str(int(heap))]
    for vm_path, host_path in (collect or {}).items():
        cmd += ["--collect", f"{vm_path}={os.path.abspath(host_path)}"]
    cmd.append("-")
    try:
        proc = subprocess.run(cmd, input=code.encode(), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "surrogateescape")
        raise MicroPythonError(
            f"timed out after {timeout:g}s (an endless loop, or an allocation under micropython.heap_lock(), which hangs this port)",
            None, out,
        ) from None
    out = proc.stdout.decode("utf-8", "surrogateescape")
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace") or f"exit code {proc.returncode}"
        raise MicroPythonError(err, proc.returncode, out)
    return out
