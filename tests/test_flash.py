# `threadbeat flash` without a board: the plan (copy only what changed, keep the garment's settings),
# the mpremote command lines, the on-board hash script (run on the MicroPython unix port) and --dry-run.
import hashlib
import re
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
    assert cli(["flash", "--board", "pi-zero-vest", "--port", "/dev/null"]) == 1
    assert "threadbeat run --board pi-zero-vest" in capsys.readouterr().err


# --- against a MicroPython REPL: the WebAssembly port behind a pseudo-terminal (tests/mpvm_repl.py) ----

import json  # noqa: E402
import sys  # noqa: E402

from mpvm import requires_vm  # noqa: E402

MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")
JACKET = board_path("esp32-jacket")


def mpremote(port, *args, timeout=60):
    return subprocess.run([MPREMOTE, "connect", port, *args], capture_output=True, text=True, timeout=timeout)


def digest(data):
    return len(data), hashlib.sha256(data).hexdigest()


def jacket_bundle(tmp_path):
    # {rel: bytes} of the --source bundle `threadbeat flash --source` sends for the jacket.
    from host_tools import build

    out = tmp_path / "bundle"
    files = build.build(JACKET, resolve_board(JACKET), str(out), source=True)
    return {rel: (out / rel).read_bytes() for rel, _ in files}


@requires_vm
@pytest.mark.parametrize("raw_paste", [True, False])
def test_vm_repl_speaks_mpremote(tmp_path, raw_paste):
    # mpremote's own commands against the VM REPL, with raw-paste and with the plain raw REPL.
    from mpvm_repl import VmBoard

    src = tmp_path / "x.bin"
    src.write_bytes(bytes(range(256)) * 20 + b"\x04\x03'\"\\")  # control bytes and quotes survive the trip
    with VmBoard(raw_paste=raw_paste) as board:
        r = mpremote(board.port, "exec", "import sys; print(sys.implementation.name, sys.implementation._mpy & 0xff)")
        assert (r.returncode, r.stdout) == (0, "micropython 6\n"), r.stderr
        assert mpremote(board.port, "fs", "mkdir", ":firmware").returncode == 0
        r = mpremote(board.port, "fs", "cp", str(src), ":firmware/x.bin")
        assert r.returncode == 0, r.stderr
        r = mpremote(board.port, "fs", "sha256sum", ":firmware/x.bin")
        assert hashlib.sha256(src.read_bytes()).hexdigest() in r.stdout
        r = mpremote(board.port, "fs", "ls", ":firmware")
        assert "x.bin" in r.stdout
        r = mpremote(board.port, "fs", "cat", ":nope.txt")  # the board's errno (ENOENT 2), not the port's (44)
        assert r.returncode == 1 and "No such file" in r.stderr
        # soft reset: RAM cleared, files kept (mpremote soft-resets before its first command unless `resume`)
        assert mpremote(board.port, "exec", "tb_flag = 1").returncode == 0
        r = mpremote(board.port, "resume", "exec", "print('tb_flag' in globals())")
        assert r.stdout == "True\n"
        r = mpremote(board.port, "exec", "print('tb_flag' in globals(), open('firmware/x.bin','rb').read(3))")
        assert r.stdout == "False b'\\x00\\x01\\x02'\n"
        assert board.files()["firmware/x.bin"] == digest(src.read_bytes())


@requires_vm
def test_vm_repl_full_flash_fails_like_a_board(tmp_path):
    from mpvm_repl import VmBoard

    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 12000)
    with VmBoard(quota=8192) as board:
        r = mpremote(board.port, "exec", "import os; s=os.statvfs('/'); print(s[0]*s[2], s[0]*s[3])")
        assert r.stdout == "8192 8192\n"
        r = mpremote(board.port, "fs", "cp", str(big), ":big.bin")
        assert r.returncode == 1 and "No space left on device" in r.stderr
        assert 7000 < board.files()["big.bin"][0] <= 8192  # what fitted stays, as on a board


@pytest.fixture(scope="module")
def vm_board():
    from mpvm import node_available

    if not node_available() and not os.environ.get("CI"):
        pytest.skip("node not found")
    from mpvm_repl import VmBoard

    with VmBoard() as board:
        yield board


def flash_vm(port, *extra):
    return cli(["flash", "--board", "esp32-jacket", "--port", port, "--source", "--no-reset", *extra])


def copied(out):
    return sorted(line.split()[2] for line in out.splitlines()
                  if line.startswith(("copy ", "write ")) and not line.endswith("unchanged"))


@requires_vm
def test_flash_a_fresh_vm_board_then_only_changes(vm_board, tmp_path, capsys):
    want = jacket_bundle(tmp_path)
    # 1. a fresh board gets everything, byte for byte, and imports the app
    assert flash_vm(vm_board.port) == 0
    out = capsys.readouterr().out
    assert "board: MicroPython 1.27.0" in out
    assert copied(out) == sorted(want)
    assert "the board imports firmware %s" % flash.firmware_version() in out
    assert "--no-reset" in out
    on_board = vm_board.files()
    assert {rel: on_board.get(rel) for rel in want} == {rel: digest(b) for rel, b in want.items()}
    # 2. the same flash again copies nothing
    assert flash_vm(vm_board.port) == 0
    out = capsys.readouterr().out
    assert copied(out) == [] and "0 files, 0 bytes to copy" in out
    # 3. one module differs on the board, the garment saved its own settings: only that module goes
    settings = {"params": {"gate": 9}, "panels": {}}
    mod = tmp_path / "kick.py"
    mod.write_text("# old\n")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(settings))
    assert mpremote(vm_board.port, "fs", "cp", str(mod), ":firmware/kick.py", "+",
                    "fs", "cp", str(cfg), ":config.json").returncode == 0
    assert flash_vm(vm_board.port) == 0
    out = capsys.readouterr().out
    assert copied(out) == ["firmware/kick.py"]
    assert "keep            config.json" in out
    on_board = vm_board.files()
    assert on_board["firmware/kick.py"] == digest(want["firmware/kick.py"])
    assert on_board["config.json"] == digest(cfg.read_bytes())
    # 4. --reset-config writes the bundle's settings again
    assert flash_vm(vm_board.port, "--reset-config") == 0
    assert copied(capsys.readouterr().out) == ["config.json"]
    assert vm_board.files()["config.json"] == digest(want["config.json"])


@requires_vm
def test_flash_compiled_bundle_needs_the_boards_architecture(vm_board, capsys):
    # The jacket's .mpy hold xtensawin viper code; this "board" runs no native code at all.
    assert cli(["flash", "--board", "esp32-jacket", "--port", vm_board.port, "--no-reset"]) == 1
    err = capsys.readouterr().err
    assert "native code for xtensawin" in err and "--source" in err and err.count("\n") == 1


@requires_vm
def test_flash_onto_a_full_board(tmp_path, capsys):
    from mpvm_repl import VmBoard

    size = sum(len(b) for b in jacket_bundle(tmp_path).values())
    with VmBoard(quota=size // 2) as board:  # new files that cannot fit: refused before copying anything
        assert flash_vm(board.port) == 1
        err = capsys.readouterr().err
        assert "bytes free but" in err and "bytes of new files" in err
        assert board.files() == {}
    with VmBoard(quota=size + 8 * 4096) as board:  # a changed file that grows past the free space
        assert flash_vm(board.port) == 0
        small = tmp_path / "w.py"
        small.write_text("#\n")
        free = int(mpremote(board.port, "exec", "import os; s=os.statvfs('/'); print(s[0]*s[3])").stdout)
        junk = tmp_path / "junk.bin"
        junk.write_bytes(b"j" * (free + 4096 - 16))
        assert mpremote(board.port, "fs", "cp", str(small), ":firmware/kick_weights.py", "+",
                        "fs", "cp", str(junk), ":junk.bin").returncode == 0
        capsys.readouterr()
        assert flash_vm(board.port) == 1
        err = capsys.readouterr().err
        assert "filesystem is full" in err and "next flash copies only the rest" in err


@requires_vm
def test_flash_on_a_busy_port(vm_board, capsys):
    import serial

    s = serial.Serial(vm_board.port, exclusive=True)  # a serial monitor holding the port
    try:
        assert flash_vm(vm_board.port) == 1
    finally:
        s.close()
    assert "busy" in capsys.readouterr().err


def test_flash_to_a_board_that_does_not_answer(capsys):
    # A port that opens but where nothing answers (a hung board, a non-MicroPython firmware).
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        assert flash_vm(os.ttyname(slave), "--timeout", "3") == 1
    finally:
        os.close(slave)
        os.close(master)
    err = capsys.readouterr().err
    assert "timed out after 3 s" in err and "RESET" in err


def test_check_board_versions_and_architectures(tmp_path):
    info = {"impl": "micropython", "version": (1, 22, 2), "mpy": 6 | 2 << 8 | 10 << 10, "machine": "ESP32"}
    with pytest.raises(CommandError, match="MicroPython 1.22.2; threadbeat needs 1.23.0"):
        flash.check_board(info)
    with pytest.raises(CommandError, match="not as MicroPython"):
        flash.check_board({})
    (tmp_path / "firmware").mkdir()
    viper = tmp_path / "firmware" / "fft_viper.mpy"
    viper.write_bytes(b"M\x06" + bytes([10 << 2 | 3]) + b"\x1f")  # xtensawin native code, v6.3
    plain = tmp_path / "firmware" / "fixmath.mpy"
    plain.write_bytes(b"M\x06\x00\x1f")  # bytecode only
    ok = dict(info, version=(1, 24, 1), mpy=6 | 3 << 8 | 10 << 10)
    flash.check_board(ok, str(tmp_path), ["firmware/fft_viper.mpy", "firmware/fixmath.mpy", "main.py"])
    with pytest.raises(CommandError, match="native code for xtensawin .* v6.3.*rv32imc"):  # an ESP32-C3 board
        flash.check_board(dict(ok, mpy=6 | 3 << 8 | 11 << 10), str(tmp_path), ["firmware/fft_viper.mpy"])
    flash.check_board(dict(ok, mpy=6 | 3 << 8 | 11 << 10), str(tmp_path), ["firmware/fixmath.mpy"])
    with pytest.raises(CommandError, match="v6 but the board's MicroPython 1.24.1 loads v5"):
        flash.check_board(dict(ok, mpy=5), str(tmp_path), ["firmware/fixmath.mpy"])
    assert flash.board_mpy(774) == (6, 3, None)  # what the WebAssembly port reports


def test_survey_output_is_parsed():
    text = ("noise\nTBI micropython 1.24.1 3078 Generic ESP32 module with ESP32\nTBI! fs 1900544 2097152\n"
            "TBH main.py " + "ab" * 32 + "\n")
    assert flash.parse_survey(text) == {"impl": "micropython", "version": (1, 24, 1), "mpy": 3078,
                                        "machine": "Generic ESP32 module with ESP32", "free": 1900544, "size": 2097152}
    assert flash.parse_hashes(text) == {"main.py": "ab" * 32}
    acts = flash.plan_bundle(BUNDLE, {})
    with pytest.raises(CommandError, match="399 bytes free but 400 bytes of new files"):
        flash.check_space({"free": 399}, acts)
    flash.check_space({"free": 400}, acts)
    assert "filesystem is full" in str(flash.mpremote_error("p", "mpremote: cp: x.mpy: No space left on device."))


def test_reset_and_hello_against_the_simulated_garment(tmp_path):
    # The last step of a flash (soft reset, wait for hello, compare the version) against `threadbeat
    # simulate`, which answers hello as the garment does (the VM REPL cannot run the app's loop).
    AUDIO = os.path.join(os.path.dirname(__file__), "fixtures", "mix_clean.flac")
    p = subprocess.Popen([sys.executable, "-m", "host_tools.simulate", "--audio", AUDIO, "--state", str(tmp_path)],
                         cwd=flash.REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = p.stdout.readline().strip()
        r = flash.reset_and_hello(port, flash.firmware_version(), wait=20)
        assert r["firmware"] == flash.firmware_version()
        with pytest.raises(CommandError, match="reports firmware %s, expected 9.9.9" % flash.firmware_version()):
            flash.reset_and_hello(port, "9.9.9", wait=20)
    finally:
        p.terminate()
        p.wait(10)
        p.stdout.close()


# --- `--micropython FIRMWARE.bin`: esptool command lines and checks (no board: esptool's runs are faked) ----

from host_tools import esp_install  # noqa: E402


def esp_image(path, chip_id):
    # The first 24 bytes of an ESP image: magic 0xE9, segments, flash mode/size, entry, extended header
    # whose bytes 12-13 are the chip id (0 ESP32, 5 ESP32-C3, 9 ESP32-S3).
    head = bytes([0xE9, 3, 2, 0x20]) + b"\x00\x00\x08\x40" + b"\xee\x00\x00\x00" + bytes([chip_id, 0]) + bytes(10)
    path.write_bytes(head + bytes(1000))
    return str(path)


class FakeEsptool:
    # Records the commands and answers like esptool would.
    def __init__(self, chip_line="Detecting chip type... ESP32\nChip is ESP32-D0WD-V3 (revision v3.1)", fail=None):
        self.calls = []
        self.chip_line = chip_line
        self.fail = fail

    def __call__(self, cmd, **kw):
        self.calls.append(cmd)
        if self.fail and self.fail[0] in cmd:
            return subprocess.CompletedProcess(cmd, 2, "", self.fail[1])
        return subprocess.CompletedProcess(cmd, 0, self.chip_line if "read-mac" in cmd else "Hash of data verified.", "")


def install_args(fw, **kw):
    import argparse

    return argparse.Namespace(micropython=fw, baud=kw.get("baud", 460800), erase=kw.get("erase", False),
                              chip=kw.get("chip"), force=kw.get("force", False), port="/dev/ttyUSB0")


@pytest.mark.parametrize("chip, chip_id, offset, detect", [
    ("esp32", 0, "0x1000", "Detecting chip type... ESP32\nChip is ESP32-D0WD-V3 (revision v3.1)"),
    ("esp32s3", 9, "0x0", "Detecting chip type... ESP32-S3\nChip type:          ESP32-S3 (QFN56) (revision v0.2)"),
    ("esp32c3", 5, "0x0", "Detecting chip type... ESP32-C3\nChip is ESP32-C3 (QFN32) (revision v0.4)"),
])
def test_micropython_install_commands_per_chip(tmp_path, chip, chip_id, offset, detect):
    fw = esp_image(tmp_path / "fw.bin", chip_id)
    fake = FakeEsptool(detect)
    out = []
    assert esp_install.install_if_needed(install_args(fw, erase=True, baud=921600), {"chip": chip}, "/dev/ttyUSB0",
                                         "mpremote", run=fake, current=(1, 19, 1), out=out.append)
    base = [sys.executable, "-m", "esptool"]
    assert fake.calls == [
        base + ["--port", "/dev/ttyUSB0", "read-mac"],
        base + ["--chip", chip, "--port", "/dev/ttyUSB0", "--baud", "921600", "erase-flash"],
        base + ["--chip", chip, "--port", "/dev/ttyUSB0", "--baud", "921600", "write-flash", "-z", offset, fw],
    ]
    assert "erasing the flash first" in out[0]


def test_micropython_install_is_skipped_on_a_current_board(tmp_path):
    fw = esp_image(tmp_path / "fw.bin", 0)
    fake, out = FakeEsptool(), []
    assert not esp_install.install_if_needed(install_args(fw), {"chip": "esp32"}, "p", "mpremote", run=fake,
                                             current=(1, 24, 1), out=out.append)
    assert fake.calls == [] and "not rewriting" in out[0]
    esp_install.install_if_needed(install_args(fw, force=True), {"chip": "esp32"}, "p", "mpremote", run=fake,
                                  current=(1, 24, 1), out=out.append)
    assert [c[-3:] for c in fake.calls][-1] == ["-z", "0x1000", fw]  # no erase unless asked


def test_micropython_install_refuses_mismatches_and_reports_esptool_errors(tmp_path):
    s3 = esp_image(tmp_path / "s3.bin", 9)
    with pytest.raises(CommandError, match="s3.bin is MicroPython for esp32s3, but the board is an esp32"):
        esp_install.install_if_needed(install_args(s3), {"chip": "esp32"}, "p", "m", run=FakeEsptool(), current=(1, 19))
    with pytest.raises(CommandError, match="found an esp32 on p but the profile .* says esp32s3"):
        esp_install.install_if_needed(install_args(s3), {"chip": "esp32s3"}, "p", "m", run=FakeEsptool(), current=(1, 19))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"<html>not found</html>" * 4)
    with pytest.raises(CommandError, match="not an ESP32 firmware image"):
        esp_install.plan_install("esp32", str(junk), "p")
    with pytest.raises(CommandError, match="no such MicroPython firmware file"):
        esp_install.install_if_needed(install_args(str(tmp_path / "none.bin")), {"chip": "esp32"}, "p", "m")
    fw = esp_image(tmp_path / "fw.bin", 0)
    fake = FakeEsptool(fail=("read-mac", "A fatal error occurred: Failed to connect to ESP32: No serial data received."))
    with pytest.raises(CommandError, match="hold the BOOT button"):
        esp_install.install_if_needed(install_args(fw), {"chip": "esp32"}, "p", "m", run=fake, current=(1, 19))
    fake = FakeEsptool(fail=("write-flash", "A fatal error occurred: Packet content transfer stopped"))
    with pytest.raises(CommandError, match="esptool failed on p: A fatal error occurred: Packet content"):
        esp_install.install_if_needed(install_args(fw), {"chip": "esp32"}, "p", "m", run=fake, current=(1, 19))
    with pytest.raises(CommandError, match="not on esp32s2"):
        esp_install.install_commands("esp32s2", "p", fw)
    assert esp_install.parse_chip("Connecting....\nno chip here") is None


def test_dry_run_prints_the_esptool_commands(tmp_path, capsys):
    fw = esp_image(tmp_path / "fw.bin", 9)
    assert cli(["flash", "--dry-run", "--board", "esp32s3-dress", "--micropython", fw, "--erase"]) == 0
    out = capsys.readouterr().out
    assert "esptool --chip esp32s3 --port PORT --baud 460800 erase-flash" in out
    assert "esptool --chip esp32s3 --port PORT --baud 460800 write-flash -z 0x0 %s" % fw in out
    assert cli(["flash", "--dry-run", "--board", "esp32-jacket", "--micropython", fw]) == 1
    assert "MicroPython for esp32s3, but the board is an esp32" in capsys.readouterr().err


def test_esptool_is_installed():
    r = subprocess.run(esp_install.esptool_base() + ["version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and re.search(r"\d+\.\d+", r.stdout)


def test_verify_catches_a_write_that_did_not_take(monkeypatch):
    acts = flash.plan_bundle(BUNDLE, {})
    good = "".join("TBH %s %s\n" % (rel, sha) for rel, (_, sha) in BUNDLE.items())
    monkeypatch.setattr(flash, "run_mpremote", lambda cmd, port, timeout=0: good)
    assert flash.verify("mpremote", "p", BUNDLE, acts)["main.py"] == "c" * 64
    monkeypatch.setattr(flash, "run_mpremote", lambda cmd, port, timeout=0: good.replace("c" * 64, "0" * 64))
    with pytest.raises(CommandError, match="main.py on the board differ"):
        flash.verify("mpremote", "p", BUNDLE, acts)


@requires_vm
def test_flash_with_micropython_leaves_a_current_board_alone(vm_board, tmp_path, capsys):
    # --micropython asks the board first: MicroPython 1.27 answers, so esptool is never run.
    fw = esp_image(tmp_path / "fw.bin", 0)
    assert flash_vm(vm_board.port, "--micropython", fw) == 0
    out = capsys.readouterr().out
    assert "already runs MicroPython 1.27.0 (>= 1.23.0): not rewriting it" in out
    assert "the board imports firmware" in out


@requires_vm
def test_vm_repl_soft_reset_in_the_friendly_repl_runs_boot_and_main(tmp_path):
    # Ctrl-D at the friendly prompt: "soft reboot", boot.py, main.py (with --run-main), a fresh interpreter.
    import select

    from mpvm_repl import VmBoard

    (tmp_path / "boot.py").write_text("print('boot ran')\n")
    (tmp_path / "main.py").write_text("print('main ran', 'x' in globals())\n")

    def until(fd, want, limit=30.0):
        got = b""
        while want not in got:
            r, _, _ = select.select([fd], [], [], limit)
            assert r, got
            got += os.read(fd, 4096)
        return got

    with VmBoard(root=str(tmp_path), run_main=True) as board:
        fd = os.open(board.port, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"x = 1\r")
            until(fd, b">>> ")
            os.write(fd, b"\x04")
            got = until(fd, b">>> ")
            assert b"soft reboot\r\n" in got
            assert got.index(b"boot ran") < got.index(b"main ran False")
            os.write(fd, b"print('x' in globals())\r")
            assert b"False" in until(fd, b">>> ")
        finally:
            os.close(fd)


def test_micropython_install_then_waits_for_the_board(tmp_path, monkeypatch):
    # After esptool, the new MicroPython must answer on the raw REPL (its first boot makes the filesystem).
    fw = esp_image(tmp_path / "fw.bin", 0)
    answers = iter([None, None, (1, 24, 1)])  # not MicroPython before; booting; then up
    monkeypatch.setattr(esp_install, "board_micropython", lambda exe, port, timeout=10.0: next(answers))
    out = []
    assert esp_install.install_if_needed(install_args(fw), {"chip": "esp32"}, "p", "m", run=FakeEsptool(), out=out.append)
    assert out[-1] == "MicroPython 1.24.1 answers on p"
    monkeypatch.setattr(esp_install, "board_micropython", lambda exe, port, timeout=10.0: None)
    with pytest.raises(CommandError, match="MicroPython was written, but nothing answers on p"):
        esp_install.install_if_needed(install_args(fw), {"chip": "esp32"}, "p", "m", run=FakeEsptool())


# --- ROMFS: the modules in the board's ROMFS partition (flash --romfs) ----------------------------

def test_romfs_probe_is_parsed_and_checked():
    assert flash.parse_romfs("noise\nTBI! romfs 1 131072 " + "Ab" * 32 + "\n") == (1, 131072, "ab" * 32)
    assert flash.parse_romfs("TBI! romfs -1 0 -") == (-1, 0, None)
    with pytest.raises(CommandError):
        flash.parse_romfs("Traceback ...")
    with pytest.raises(CommandError, match="MICROPY_VFS_ROM"):
        flash.check_romfs((-1, 0, None), 1000)
    with pytest.raises(CommandError, match="no romfs partition"):
        flash.check_romfs((0, 0, None), 1000)
    with pytest.raises(CommandError, match="holds 4096"):
        flash.check_romfs((1, 4096, None), 5000)
    flash.check_romfs((1, 4096, None), 4096)


def test_dry_run_with_romfs_plans_the_image(capsys):
    assert cli(["flash", "--board", "esp32s3-dress", "--dry-run", "--romfs"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^romfs +\d+ +romfs\.img", out, re.M)
    assert "firmware/" not in out  # the modules are inside the image


@requires_vm
def test_flash_romfs_onto_a_stock_micropython_is_refused(vm_board, capsys):
    before = vm_board.files()
    assert flash_vm(vm_board.port, "--romfs") == 1  # flash_vm ships --source: sources are not for ROMFS
    assert "does not go with --source" in capsys.readouterr().err
    rc = cli(["flash", "--board", "esp32-jacket", "--port", vm_board.port, "--romfs", "--no-reset"])
    err = capsys.readouterr().err
    assert rc == 1 and "no ROMFS" in err and "flash without --romfs" in err
    assert vm_board.files() == before  # nothing copied


@requires_vm
def test_flash_romfs_runs_the_firmware_from_the_partition(tmp_path, monkeypatch, capsys):
    # The VM REPL with a ROMFS partition stand-in (tests/mpvm/board/vfs_rom.py): mpremote's own
    # `romfs deploy` writes it and the board imports the firmware from /rom.
    from mpvm_repl import VmBoard

    from host_tools import build

    with VmBoard(romfs=128 * 1024) as board:
        assert flash_vm(board.port) == 0  # an earlier flash left firmware/*.py on the filesystem
        capsys.readouterr()
        rc = cli(["flash", "--board", "esp32-jacket", "--port", board.port, "--romfs", "--no-reset"])
        assert rc == 1 and "native code for xtensawin" in capsys.readouterr().err  # the VM is no ESP32
        monkeypatch.setitem(build.ARCH, "esp32", None)  # bytecode .mpy, which the VM loads
        assert cli(["flash", "--board", "esp32-jacket", "--port", board.port, "--romfs", "--no-reset"]) == 0
        out = capsys.readouterr().out
        assert re.search(r"^romfs +\d+ +romfs\.img +changed", out, re.M)
        assert re.search(r"^remove +firmware/app\.py", out, re.M)
        assert "the board imports firmware " + flash.firmware_version() in out
        files = board.files()
        assert not [p for p in files if p.startswith("firmware/")]
        assert "rom/firmware/app.mpy" in files and "rom/firmware/engine.mpy" in files
        r = mpremote(board.port, "exec", "import os; print('firmware' in os.listdir('/'))")
        assert r.stdout == "False\n"  # no empty folder left to shadow /rom/firmware
        # again: the partition already holds this image
        assert cli(["flash", "--board", "esp32-jacket", "--port", board.port, "--romfs", "--no-reset"]) == 0
        out = capsys.readouterr().out
        assert re.search(r"^romfs +\d+ +romfs\.img +unchanged", out, re.M) and "copied 0 files" in out
    with VmBoard(romfs=4096) as board:
        assert cli(["flash", "--board", "esp32-jacket", "--port", board.port, "--romfs", "--no-reset"]) == 1
        assert "partition holds 4096" in capsys.readouterr().err
        assert "main.py" not in board.files()
