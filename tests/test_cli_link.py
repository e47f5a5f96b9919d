# End-to-end tests of the host serial link and the garment CLI verbs against `threadbeat simulate`
# over a real pseudo-terminal: no mocks of the serial layer, every simulator process killed at the end.
import csv
import json
import os
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("serial")

from host_tools import cli_link  # noqa: E402
from host_tools.link import Connection, GarmentError, LinkError, open_link  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUDIO = os.path.join(REPO, "tests", "fixtures", "mix_clean.flac")


class Sim:
    # One `python -m host_tools.simulate` subprocess; .path is its pty. extra: more simulate options;
    # stderr: a file for its stderr (default: discarded).
    def __init__(self, state, *extra, stderr=None):
        self.proc = subprocess.Popen([sys.executable, "-m", "host_tools.simulate", "--audio", AUDIO, "--state", str(state)]
                                     + [str(a) for a in extra],
                                     cwd=REPO, stdout=subprocess.PIPE, stderr=stderr or subprocess.DEVNULL, text=True)
        got = []
        t = threading.Thread(target=lambda: got.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(30)
        if not got or not got[0].startswith("/dev/"):
            self.stop()
            raise RuntimeError("simulator did not print its pty path: %r" % got)
        self.path = got[0].strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()


@pytest.fixture
def sim_factory(tmp_path):
    sims = []

    def start(state=None, *extra, stderr=None):
        s = Sim(state or tmp_path / "state", *extra, stderr=stderr)
        sims.append(s)
        return s

    try:
        yield start
    finally:
        for s in sims:
            s.stop()


@pytest.fixture
def sim(sim_factory):
    return sim_factory()


def run(capsys, *argv):
    # The CLI verb in-process: (exit code, stdout, stderr).
    code = cli_link.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_hello_names_board_and_protocol(sim, capsys):
    code, out, err = run(capsys, "hello", "--port", sim.path)
    assert code == 0, err
    assert "ESP32 DevKitC jacket" in out
    assert "protocol 1" in out
    with open_link(sim.path) as c:
        r = c.hello()
    assert r["protocol"] == 1 and r["board"] == "ESP32 DevKitC jacket"


def test_set_then_get(sim, capsys):
    assert run(capsys, "set", "brightness=90", "--port", sim.path)[:2] == (0, "brightness=90\n")
    assert run(capsys, "get", "brightness", "--port", sim.path)[:2] == (0, "brightness=90\n")
    code, out, _ = run(capsys, "get", "--port", sim.path)
    assert code == 0 and "brightness=90\n" in out and "panel back: mode=" in out


def test_out_of_range_set_fails_and_changes_nothing(sim, capsys):
    _, out, _ = run(capsys, "get", "gate", "--port", sim.path)
    gate_before = out
    code, out, err = run(capsys, "set", "gate=9", "brightness=999", "--port", sim.path)
    assert code == 1 and out == ""
    assert err == "threadbeat: values.brightness must be between 0 and 255, got 999\n"
    assert run(capsys, "get", "gate", "--port", sim.path)[1] == gate_before
    code, _, err = run(capsys, "set", "brightness=high", "--port", sim.path)
    assert code == 1 and "must be an integer" in err
    code, _, err = run(capsys, "get", "nope", "--port", sim.path)
    assert code == 1 and err.startswith("threadbeat: unknown parameter 'nope'")


def test_save_survives_restart(sim_factory, tmp_path, capsys):
    state = tmp_path / "persist"
    s = sim_factory(state)
    assert run(capsys, "set", "brightness=77", "--port", s.path)[0] == 0
    code, out, _ = run(capsys, "save", "--port", s.path)
    assert code == 0 and "config.json" in out
    s.stop()
    s2 = sim_factory(state)
    assert run(capsys, "get", "brightness", "--port", s2.path)[1] == "brightness=77\n"


def test_presets(sim, capsys):
    p = sim.path
    assert run(capsys, "set", "brightness=60", "--port", p)[0] == 0
    assert run(capsys, "preset", "save", "dim", "--port", p)[0] == 0
    assert run(capsys, "set", "brightness=150", "--port", p)[0] == 0
    assert run(capsys, "preset", "list", "--port", p)[1] == "dim\n"
    code, out, _ = run(capsys, "preset", "load", "dim", "--port", p)
    assert code == 0 and "dim" in out
    assert run(capsys, "get", "brightness", "--port", p)[1] == "brightness=60\n"
    code, _, err = run(capsys, "preset", "load", "nope", "--port", p)
    assert code == 1 and err == "threadbeat: no preset 'nope'; presets: dim\n"
    assert run(capsys, "preset", "delete", "dim", "--port", p)[0] == 0
    assert run(capsys, "preset", "list", "--port", p)[1] == ""


def test_panel(sim, capsys):
    code, out, _ = run(capsys, "panel", "back", "--mode", "sweep", "--palette", "ice", "--port", sim.path)
    assert (code, out) == (0, "panel back: mode=sweep palette=ice\n")
    code, _, err = run(capsys, "panel", "hood", "--mode", "off", "--port", sim.path)
    assert code == 1 and err.startswith("threadbeat: no panel 'hood'")


def test_monitor_csv_then_telemetry_off(sim, tmp_path, capsys):
    f = tmp_path / "t.csv"
    code, out, err = run(capsys, "monitor", "--seconds", "1", "--rate", "20", "--csv", f, "--port", sim.path)
    assert code == 0, err
    with open(f) as fh:
        rows = list(csv.DictReader(fh))
    assert 10 <= len(rows) <= 30, len(rows)
    assert {"level", "bass", "mid", "treble", "beat"} <= set(rows[0])
    assert all(0 <= int(r["level"]) <= 255 and 0 <= int(r["bass"]) <= 255 for r in rows)
    assert any(int(r["level"]) > 0 for r in rows)  # the looped mix is not silence
    with open_link(sim.path) as c:
        assert c.request("status")["telemetry"] is False


def test_monitor_prints_bars(sim, capsys):
    code, out, _ = run(capsys, "monitor", "--seconds", "0.5", "--port", sim.path)
    lines = out.splitlines()
    assert code == 0 and len(lines) >= 3
    assert all("level " in ln and "bass " in ln and "treble " in ln for ln in lines)


def test_noise_on_the_line_does_not_break_the_next_command(sim, capsys):
    fd = os.open(sim.path, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, b"\x00\xff garbage {not json\r\n[1, 2]\n" + b"x" * 700 + b"\n{\"id\": 5, \"cmd\"")  # ends mid-line
        time.sleep(0.1)
    finally:
        os.close(fd)
    code, out, err = run(capsys, "get", "brightness", "--port", sim.path)
    assert code == 0, err
    assert out.startswith("brightness=")


def test_link_skips_boot_text_telemetry_and_stale_replies(tmp_path):
    # The host side alone over a real pty: the "garment" here is this test, writing noise first.
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    c = open_link(path, timeout=2.0)
    try:
        def garment():
            buf = b""
            while b"\n{" not in buf or not buf.endswith(b"\n"):
                buf += os.read(master, 1024)
            req = json.loads(buf.strip().splitlines()[-1])
            os.write(master, b"ets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET)\r\n\xff\xfe\x00 binary\r\n"
                             b"{broken json\n{\"t\": 5, \"level\": 3}\n"
                             b"{\"id\": 999, \"ok\": true, \"stale\": 1}\n"
                             b"{\"id\": null, \"ok\": false, \"error\": \"line too long (max 512 bytes)\"}\n"
                     + json.dumps({"id": req["id"], "ok": True, "echo": req["cmd"]}).encode() + b"\r\n")

        t = threading.Thread(target=garment, daemon=True)
        t.start()
        r = c.request("status")
        t.join(2)
        assert r["echo"] == "status" and "stale" not in r
        assert c.telemetry and c.telemetry[-1]["level"] == 3
        # nobody answers: a clear timeout naming the port and what the line said last
        with pytest.raises(LinkError) as e:
            c.request("hello", timeout=0.3)
        assert "no reply from the garment on %s within 0.3 s" % path in str(e.value)
    finally:
        c.close()
        os.close(master)
        os.close(slave)


def test_garment_error_is_a_command_error(sim):
    with open_link(sim.path) as c:
        with pytest.raises(GarmentError) as e:
            c.request("set", values={"speed": 999})
    assert "values.speed must be between 0 and 255" in str(e.value)


def test_busy_and_missing_ports(sim, capsys):
    with open_link(sim.path) as c:
        c.request("status")
        code, _, err = run(capsys, "hello", "--port", sim.path)
        assert code == 1 and "is busy" in err
    code, _, err = run(capsys, "hello", "--port", "/dev/threadbeat-no-such-port")
    assert code == 1 and err.startswith("threadbeat: no port /dev/threadbeat-no-such-port")


def test_subprocess_exit_codes(sim):
    r = subprocess.run([sys.executable, "-m", "host_tools.cli_link", "set", "brightness=300", "--port", sim.path],
                       cwd=REPO, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.strip() == "threadbeat: values.brightness must be between 0 and 255, got 300"


def test_connection_ids_fit_the_protocol():
    rid = next(Connection._ids)
    assert 0 < rid < 2**31 - 1
