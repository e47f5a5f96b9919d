# Python wrapper around a local 32-bit MicroPython unix build: run code with 32-bit machine ints from pytest.
# Exists because the WebAssembly VM (tests/mpvm.py) has no native emitter, so viper code can only be tested here.
"""Run Python source on a 32-bit (x86) MicroPython unix port with the native/viper emitter.

    from mpunix import run_unix32, requires_unix32, MicroPythonUnixError
    out = run_unix32("import firmware.fft\\nprint(firmware.fft.__name__)")

The binary is not part of the repo (nothing that builds MicroPython is committed): point
THREADBEAT_MPY_UNIX32 at it, or put it at /work/mpy-unix32/micropython. Without it the tests that use
it skip (CI). Like the ESP32: sys.maxsize == 2**31 - 1, small ints are 31-bit, viper ints wrap at 32 bits.
Unlike it: floats are double precision (ESP32: single) and the heap is 1 MiB (pass args=("-X", "heapsize=120K")).
Uncaught-exception tracebacks go to stdout on this port; run_unix32 moves them into the error.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV_VAR = "THREADBEAT_MPY_UNIX32"
DEFAULT_PATH = "/work/mpy-unix32/micropython"


class MicroPythonUnixError(Exception):
    """The code failed: ``traceback`` holds stderr and the traceback, plus the exit code and prior stdout."""

    def __init__(self, traceback: str, returncode: int | None = None, stdout: str = ""):
        super().__init__(traceback)
        self.traceback = traceback
        self.returncode = returncode
        self.stdout = stdout


def unix32_path() -> str | None:
    """The binary from $THREADBEAT_MPY_UNIX32, else the default path if present, else None."""
    p = os.environ.get(ENV_VAR)
    if p:
        return p if os.path.isfile(p) and os.access(p, os.X_OK) else None
    return DEFAULT_PATH if os.path.isfile(DEFAULT_PATH) and os.access(DEFAULT_PATH, os.X_OK) else None


requires_unix32 = pytest.mark.skipif(
    unix32_path() is None,
    reason="set THREADBEAT_MPY_UNIX32 to a 32-bit MicroPython unix build to run viper tests",
)


def run_unix32(
    code: str, root: str = REPO_ROOT, timeout: float = 60, args: tuple[str, ...] = (), exe: str | None = None
) -> str:
    """Run ``code`` (as __main__, cwd ``root``, ``import firmware.x`` works); return its stdout.

    ``args`` go before the script, e.g. ("-X", "heapsize=100K"). Raises MicroPythonUnixError on a
    non-zero exit (uncaught exception, sys.exit(n)), a timeout, or a missing binary. ``exe``: another
    binary of the same kind instead (bench/vm_cost.py: one with the firmware frozen in).
    """
    exe = exe or unix32_path()
    if exe is None:
        raise MicroPythonUnixError(f"no 32-bit MicroPython unix binary: set {ENV_VAR}")
    env = dict(os.environ)
    env["MICROPYPATH"] = ".frozen:" + os.path.abspath(root)
    try:
        proc = subprocess.run(
            [exe, *args, "-c", code], cwd=root, env=env, capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "surrogateescape")
        raise MicroPythonUnixError(f"timed out after {timeout:g}s", None, out) from None
    out = proc.stdout.decode("utf-8", "surrogateescape")
    if proc.returncode != 0:
        # v1.27's unix port prints uncaught-exception tracebacks to stdout (shared/runtime/pyexec.c)
        cut = out.rfind("Traceback (most recent call last):")
        err = proc.stderr.decode("utf-8", "replace") + (out[cut:] if cut >= 0 else "")
        raise MicroPythonUnixError(err or f"exit code {proc.returncode}", proc.returncode, out[:cut] if cut >= 0 else out)
    return out


def firmware_root(tmp_path, compiled: str | None = None) -> str:
    # A folder holding a copy of firmware/*.py, for run_unix32(root=...). `compiled` (a module name,
    # e.g. "mapper_viper") is replaced by its .mpy for x86, the form mpy-cross deploys to this port.
    root = os.path.join(os.fspath(tmp_path), "root")
    os.makedirs(os.path.join(root, "firmware"))
    for name in os.listdir(os.path.join(REPO_ROOT, "firmware")):
        if name.endswith(".py"):
            shutil.copy(os.path.join(REPO_ROOT, "firmware", name), os.path.join(root, "firmware", name))
    if compiled:
        src = os.path.join(root, "firmware", compiled + ".py")
        from host_tools.build import mpy_cross

        subprocess.run([mpy_cross(), "-march=x86", "-o", src[:-3] + ".mpy", src], check=True)
        os.unlink(src)
    return root
