# `threadbeat simulate` boots the firmware's own start-up (firmware/app.py's run/build) in its state folder:
# board.json written or kept, profile and config fallbacks with faults, the boot guard, the console on the pty.
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("serial")

from host_tools.link import open_link  # noqa: E402
from test_cli_link import AUDIO, REPO, run, sim_factory  # noqa: E402,F401  (fixtures)

BOARDS = os.path.join(REPO, "boards")


def _read_console(path, want, timeout=30.0):
    # Raw bytes from the pty (no link, no flush of what the garment printed before) up to `want`.
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        buf = b""
        deadline = time.monotonic() + timeout
        while want not in buf:
            assert time.monotonic() < deadline, buf[-300:]
            import select

            if select.select([fd], [], [], 0.2)[0]:
                buf += os.read(fd, 4096)
        return buf
    finally:
        os.close(fd)


def test_fresh_folder_gets_the_default_board_and_its_settings(sim_factory, tmp_path, capsys):
    state = tmp_path / "flash"
    s = sim_factory(state)
    with open(state / "board.json", "rb") as f, open(os.path.join(BOARDS, "esp32-jacket.json"), "rb") as g:
        assert f.read() == g.read()
    code, out, _ = run(capsys, "get", "--port", s.path)
    assert code == 0 and "panel back: mode=ripple palette=party\n" in out  # the profile's panel defaults
    assert (state / "boot.cnt").read_text() == "1"  # the boot guard counted this boot
    s.stop()
    assert (state / "boot.cnt").read_text() == "0"  # a clean stop is not a crash


def test_board_option_writes_board_json_and_the_folder_keeps_it(sim_factory, tmp_path, capsys):
    state = tmp_path / "flash"
    s = sim_factory(state, "--board", "esp32s3-dress")
    with open_link(s.path) as c:
        h = c.hello()
    assert h["board"].startswith("ESP32-S3") and h["chip"] == "esp32s3" and "belt" in " ".join(h["panels"])
    s.stop()
    s2 = sim_factory(state)  # no --board: the folder's board.json boots
    with open_link(s2.path) as c:
        assert c.hello()["board"] == h["board"]


def test_broken_board_json_boots_the_safe_profile_with_a_fault(sim_factory, tmp_path, capsys):
    state = tmp_path / "flash"
    state.mkdir()
    (state / "board.json").write_text('{"name": "half a profi')
    err_file = open(tmp_path / "stderr.txt", "w")
    s = sim_factory(state, stderr=err_file)
    console = _read_console(s.path, b"safe default profile")
    assert b"threadbeat: fault: %s: not valid JSON" % str(state / "board.json").encode() in console  # as on the board
    with open_link(s.path) as c:
        h = c.hello()
        st = c.request("status")
    assert h["board"] == "safe default (board.json missing or broken)" and h["panels"] == ["strip"]
    assert h["limits"]["max_brightness"] == 64
    assert len(st["faults"]) == 1 and st["faults"][0].startswith("%s: not valid JSON" % (state / "board.json"))
    assert st["faults"][0].endswith("; running the safe default profile")
    code, out, _ = run(capsys, "status", "--port", s.path)
    assert code == 0 and "faults     %s: not valid JSON" % (state / "board.json") in out
    s.stop()
    err_file.close()
    assert "threadbeat: fault: %s: not valid JSON" % (state / "board.json") in (tmp_path / "stderr.txt").read_text()


def test_corrupt_config_boots_defaults_with_a_fault_and_a_bad_entry_is_skipped(sim_factory, tmp_path, capsys):
    state = tmp_path / "flash"
    state.mkdir()
    shutil.copy(os.path.join(BOARDS, "esp32-jacket.json"), state / "board.json")
    (state / "config.json").write_text('{"params": {"brightness": 90,')
    s = sim_factory(state)
    code, out, _ = run(capsys, "status", "--json", "--port", s.path)
    faults = json.loads(out)["faults"]
    assert code == 0 and len(faults) == 1
    assert faults[0] == "%s: not valid JSON and no usable backup; using default settings" % (state / "config.json")
    assert run(capsys, "get", "brightness", "--port", s.path)[1] == "brightness=160\n"
    s.stop()
    (state / "config.json").write_text(json.dumps({"params": {"brightness": 90, "gate": 999}}))
    s2 = sim_factory(state)
    assert run(capsys, "get", "brightness", "--port", s2.path)[1] == "brightness=90\n"
    faults = json.loads(run(capsys, "status", "--json", "--port", s2.path)[1])["faults"]
    assert len(faults) == 1 and faults[0].startswith("config.params: gate")


def test_safe_mode_after_crashed_boots(tmp_path):
    state = tmp_path / "flash"
    state.mkdir()
    (state / "boot.cnt").write_text("3")  # three boots in a row that never ran 10 s
    r = subprocess.run([sys.executable, "-m", "host_tools.simulate", "--audio", AUDIO, "--state", str(state)],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stdout == ""  # the pty path is printed once the firmware listens: never, in safe mode
    assert "threadbeat: crashed at boot 3 times; safe mode, REPL free." in r.stderr
    assert r.stderr.splitlines()[-1].startswith("threadbeat: the firmware is in safe mode after 3 boots")
    os.remove(state / "boot.cnt")  # what the message says to do: then it boots
    r = subprocess.Popen([sys.executable, "-m", "host_tools.simulate", "--audio", AUDIO, "--state", str(state)],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        path = r.stdout.readline().strip()
        with open_link(path, timeout=10) as c:
            assert c.hello()["protocol"] == 1
    finally:
        r.terminate()
        r.wait(10)
        r.stdout.close()


def test_bad_command_line_is_one_line(tmp_path):
    for extra, want in ((["--board", "nope"], "threadbeat: no board profile 'nope'"),
                        (["--audio", str(tmp_path / "none.wav")], "threadbeat: %s: no such file" % (tmp_path / "none.wav")),
                        (["--record", str(tmp_path / "no" / "dir.bin")], "threadbeat: %s: cannot write" % (tmp_path / "no" / "dir.bin"))):
        argv = [sys.executable, "-m", "host_tools.simulate", "--state", str(tmp_path / "s")]
        if extra[0] != "--audio":
            argv += ["--audio", AUDIO]
        r = subprocess.run(argv + extra, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and r.stdout == "", extra
        assert r.stderr.startswith(want) and r.stderr.count("\n") == 1, (extra, r.stderr)


def test_raw_pcm_audio_through_the_mic_health_check(sim_factory, tmp_path, capsys):
    # A raw s16le file is the microphone: silence trips the firmware's dead-mic check, a tone does not.
    import numpy as np

    zeros = tmp_path / "zeros.pcm"
    np.zeros(16000, dtype="<i2").tofile(zeros)
    s = sim_factory(tmp_path / "a", "--audio", zeros)
    deadline = time.monotonic() + 60
    while True:
        faults = json.loads(run(capsys, "status", "--json", "--port", s.path)[1])["faults"]
        if faults or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert faults == ["mic: all zeros (check the SD/data pin, the L/R pin and power)"]
    tone = tmp_path / "tone.pcm"
    t = np.arange(16000 * 2)
    (np.sin(2 * np.pi * 440 * t / 16000) * 8000 * (1 + np.sin(2 * np.pi * t / 4000))).astype("<i2").tofile(tone)
    s2 = sim_factory(tmp_path / "b", "--audio", tone)
    with open_link(s2.path) as c:
        frames = c.request("status")["frames"]
        while c.request("status")["frames"] < frames + 250:  # 2 s of audio: the check would have tripped
            time.sleep(0.1)
        assert c.request("status")["faults"] == []
