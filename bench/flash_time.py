# `threadbeat flash` against the MicroPython REPL without hardware (the WebAssembly port behind a pty,
# tests/mpvm_repl.py): first flash onto an empty board vs a second flash with nothing changed, the bytes
# that crossed the "serial line" each time, and the deployed bundle size (.mpy for xtensawin vs .py).
# Usage: python bench/flash_time.py [--no-readme] [--runs N]
import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.abspath(os.path.dirname(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from bench import readme  # noqa: E402
from host_tools import build  # noqa: E402
from host_tools.cli import board_path, resolve_board  # noqa: E402
from host_tools.flash import main as cli  # noqa: E402
from mpvm_repl import VmBoard  # noqa: E402

BOARD = "esp32-jacket"
BAUD = 115200  # the ESP32 DevKitC's USB-UART at MicroPython's default rate: 10 bits per byte on the wire


def flash_once(port):
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        rc = cli(["flash", "--board", BOARD, "--port", port, "--source", "--no-reset"])
    dt = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit("flash failed:\n" + out.getvalue())
    return dt


def measure(runs, raw_paste):
    first, second, wire1, wire2 = [], [], [], []
    for _ in range(runs):
        with VmBoard(raw_paste=raw_paste) as board:
            n0 = board.bytes_in + board.bytes_out
            first.append(flash_once(board.port))
            n1 = board.bytes_in + board.bytes_out
            second.append(flash_once(board.port))
            n2 = board.bytes_in + board.bytes_out
            wire1.append(n1 - n0)
            wire2.append(n2 - n1)
    return statistics.median(first), statistics.median(second), max(wire1), max(wire2)


def bundle_sizes():
    path = board_path(BOARD)
    profile = resolve_board(path)
    sizes = {}
    for source in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            files = build.build(path, profile, tmp, source=source)
            mods = [(rel, n) for rel, n in files if rel.startswith("firmware/")]
            sizes[source] = (len(files), sum(n for _, n in files), sum(n for _, n in mods))
    return sizes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    paste = measure(args.runs, True)
    plain = measure(args.runs, False)
    sizes = bundle_sizes()
    mpy, py = sizes[False], sizes[True]
    wire = lambda n: n * 10 / BAUD  # noqa: E731
    lines = [
        "`threadbeat flash --board %s --source --no-reset` against the MicroPython WebAssembly REPL behind a "
        "pseudo-terminal (tests/mpvm_repl.py; median of %d runs; wire time = bytes x 10 / %d baud, what a "
        "DevKitC's USB-UART needs at least):" % (BOARD, args.runs, BAUD),
        "",
        "| flash | REPL mode | time (VM) | bytes on the line | wire time at %d baud |" % BAUD,
        "|---|---|---|---|---|",
        "| first (empty board, %d files) | raw-paste | %.1f s | %d | %.0f s |" % (py[0], paste[0], paste[2], wire(paste[2])),
        "| second (nothing changed) | raw-paste | %.1f s | %d | %.1f s |" % (paste[1], paste[3], wire(paste[3])),
        "| first | plain raw REPL (no raw-paste) | %.1f s | %d | %.0f s |" % (plain[0], plain[2], wire(plain[2])),
        "| second | plain raw REPL | %.1f s | %d | %.1f s |" % (plain[1], plain[3], wire(plain[3])),
        "",
        "| bundle for %s | files | bytes | of which firmware/ modules |" % BOARD,
        "|---|---|---|---|",
        "| `.mpy` (mpy-cross -march=xtensawin, what `threadbeat flash` ships) | %d | %d | %d |" % mpy,
        "| `.py` sources (`--source`) | %d | %d | %d |" % py,
        "",
        "The VM has no UART and no flash writes: a board needs at least the larger of the VM time and the wire "
        "time (the plain raw REPL also sleeps 10 ms per 256 bytes sent; mpremote uses raw-paste when the board "
        "has it, as ESP32 builds do). The `.mpy` bundle a real flash sends is %d%% of the sources' bytes. A second "
        "flash hashes the board's files and sends nothing else. _%s; `python bench/flash_time.py`_"
        % (round(100 * mpy[1] / py[1]), readme.stamp()),
    ]
    print("\n".join(lines))
    if not args.no_readme:
        readme.update("flash", lines)


if __name__ == "__main__":
    main()
