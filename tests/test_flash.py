# `threadbeat flash` without a board: the plan (copy only what changed, keep the garment's settings),
# the mpremote command lines, the on-board hash script (run on the MicroPython unix port) and --dry-run.
import hashlib
import os
import subprocess

import pytest

from host_tools import flash
from host_tools.cli import board_path, resolve_board
from host_tools.errors import CommandError
from host_tools.flash import Action, main as cli  # the same handlers host_tools/cli.py registers

BUNDLE = {
    "firmware/app.mpy": (100, "a" * 64),
    "firmware/fft.mpy": (200, "b" * 64),
    "main.py": (50, "c" * 64),
    "board.json": (30, "d" * 64),
    "config.json": (20, "e" * 64),
}


def test_fresh_board_gets_everything():
    acts = flash.plan_bundle(BUNDLE, {})
    assert {a.path: (a.action, a.reason) for a in acts} == {
        "firmware/app.mpy": ("copy", "new"), "firmware/fft.mpy": ("copy", "new"), "main.py": ("copy", "new"),
        "board.json": ("write", "absent"), "config.json": ("write", "absent")}
    assert sum(a.size for a in flash.transfers(acts)) == 400
    assert [a.path for a in acts][-2:] == ["board.json", "config.json"]  # settings last, after the code


def test_only_changed_files_are_copied_and_settings_are_kept():
    board = {"firmware/app.mpy": "a" * 64, "firmware/fft.mpy": "f" * 64, "main.py": "C" * 64,
             "board.json": "0" * 64, "config.json": "1" * 64, "presets.json": "2" * 64}
    acts = {a.path: a for a in flash.plan_bundle(BUNDLE, board)}
    assert acts["firmware/app.mpy"] == Action("skip", "firmware/app.mpy", 0, "unchanged")
    assert acts["firmware/fft.mpy"] == Action("copy", "firmware/fft.mpy", 200, "changed")
    assert acts["main.py"].action == "skip"  # hashes compare case-insensitively
    assert acts["board.json"].action == acts["config.json"].action == "keep"
    assert "presets.json" not in acts  # files outside firmware/ are the garment's
    assert [a.path for a in flash.transfers(acts.values())] == ["firmware/fft.mpy"]


def test_reset_config_rewrites_settings():
    acts = {a.path: a for a in flash.plan_bundle(BUNDLE, {"board.json": "0" * 64, "config.json": "e" * 64}, reset_config=True)}
    assert acts["board.json"] == Action("write", "board.json", 30, "reset")
    assert acts["config.json"].reason == "unchanged"
    assert [a.path for a in flash.transfers(acts.values()) if a.path.endswith(".json")] == ["board.json"]


def test_stale_firmware_files_are_removed():
    # a firmware/engine.py left from a --source flash would shadow engine.mpy
    acts = flash.plan_bundle(BUNDLE, {"firmware/engine.py": "9" * 64, "boot.py": "8" * 64})
    assert Action("remove", "firmware/engine.py", 0, "stale") in acts
    assert not any(a.path == "boot.py" for a in acts)


def test_plan_builds_the_real_bundle_for_the_chip(tmp_path):
    path = board_path("esp32-jacket")
    acts = flash.plan(path, resolve_board(path), {}, bundle_dir=str(tmp_path))
    paths = [a.path for a in acts]
    assert "firmware/engine.mpy" in paths and "main.py" in paths and not any(p.endswith("engine.py") for p in paths)
    again = {p: flash.sha256_file(str(tmp_path / p)) for p in paths}
    assert all(a.action in ("skip", "keep") for a in flash.plan(path, resolve_board(path), again))


def test_copy_command_line(tmp_path):
    acts = flash.plan_bundle(BUNDLE, {"firmware/app.mpy": "a" * 64, "firmware/old.mpy": "1" * 64})
    cmd = flash.copy_command("mpremote", "/dev/ttyUSB0", "/tmp/b", acts)
    assert cmd[:4] == ["mpremote", "connect", "/dev/ttyUSB0", "exec"]
    assert "os.mkdir('/firmware')" in cmd[4]
    cps = [cmd[i + 3:i + 5] for i, c in enumerate(cmd) if c == "+" and cmd[i + 2] == "cp"]
    assert cps == [[os.path.join("/tmp/b", "firmware", "fft.mpy"), ":firmware/fft.mpy"],
                   [os.path.join("/tmp/b", "main.py"), ":main.py"],
                   [os.path.join("/tmp/b", "board.json"), ":board.json"],
                   [os.path.join("/tmp/b", "config.json"), ":config.json"]]
    assert cmd[-4:] == ["+", "fs", "rm", ":firmware/old.mpy"]
    nothing = flash.plan_bundle(BUNDLE, {k: v[1] for k, v in BUNDLE.items()})
    assert flash.copy_command("mpremote", "/dev/ttyUSB0", "/tmp/b", nothing) is None
    assert flash.hash_command("mpremote", "COM3")[:4] == ["mpremote", "connect", "COM3", "exec"]


def test_parse_hashes_ignores_noise_and_reports_missing_hashlib():
    h = "ab" * 32
    out = "MicroPython v1.24\nTBH main.py %s\nTBH firmware/app.mpy %s\nTBH bad xyz\n" % (h, h.upper())
    assert flash.parse_hashes(out) == {"main.py": h, "firmware/app.mpy": h}
    with pytest.raises(CommandError, match="hashlib"):
        flash.parse_hashes("TBH! nohash\n")


def test_hash_script_on_micropython(tmp_path):
    # The script that runs on the board, run by the MicroPython unix port over a fake filesystem.
    from mpunix import unix32_path

    exe = unix32_path()
    if not exe:
        pytest.skip("no MicroPython unix build (THREADBEAT_MPY_UNIX32)")
    (tmp_path / "firmware").mkdir()
    files = {"main.py": b"run()\n", "config.json": b"{}" * 700, "firmware/app.mpy": bytes(range(256)) * 5}
    for rel, data in files.items():
        (tmp_path / rel).write_bytes(data)
    (tmp_path / "presets").mkdir()  # directories are not listed
    r = subprocess.run([exe, "-c", flash.hash_script(str(tmp_path))], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert flash.parse_hashes(r.stdout) == {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}


def test_mpremote_errors_say_what_to_do():
    assert "busy" in str(flash.mpremote_error("/dev/ttyUSB0", "mpremote: failed to access /dev/ttyUSB0 (it may be in use by another program)"))
    assert "does not answer" in str(flash.mpremote_error("COM3", "mpremote: could not enter raw repl"))
    assert "no board" in str(flash.mpremote_error("auto", "mpremote: no device found"))
    with pytest.raises(CommandError, match="not found"):
        flash.run_mpremote(["/nonexistent/mpremote", "connect", "x"], "x")


def test_firmware_version_is_the_apps():
    from firmware.app import VERSION

    assert flash.firmware_version() == VERSION


def test_dry_run_prints_the_plan(capsys):
    assert cli(["flash", "--dry-run", "--board", "esp32s3-dress"]) == 0
    out = capsys.readouterr().out
    assert "firmware/engine.mpy" in out and "write" in out and "board.json" in out
    n = out.strip().splitlines()[-1]
    assert "bytes to copy" in n and "dry run" in n


def test_flash_without_a_board_fails_clearly(capsys):
    assert cli(["flash", "--board", "esp32-jacket", "--port", "/dev/ttyNOPE-threadbeat"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("threadbeat: ") and "/dev/ttyNOPE-threadbeat" in err
    assert cli(["flash", "--board", "desk", "--port", "/dev/null"]) == 1
    assert "desk" in capsys.readouterr().err
