# Tests of `threadbeat tune`: TunerModel's keys, clamping, throttled sets and panel cycling without a
# terminal, then the real curses tuner in tmux against `host_tools.simulate` over its pty.
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest

from firmware.params import SCHEMA
from host_tools.link import GarmentError
from host_tools.tune import TunerModel, bar, steps

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUDIO = os.path.join(REPO, "tests", "fixtures", "mix_clean.flac")

HELLO = {
    "protocol": 1, "board": "test jacket", "firmware": "0.1.0",
    "panels": ["left_sleeve", "back"],
    "modes": ["pulse", "sweep", "vu", "off"],
    "palettes": ["aurora", "fire", "ice"],
    "params": [[p[0], p[1], p[2], p[3], p[4]] for p in SCHEMA],
}
CURRENT = {
    "params": {p[0]: p[1] for p in SCHEMA},
    "panels": {"left_sleeve": {"mode": "vu", "palette": "fire"}, "back": {"mode": "off", "palette": "ice"}},
    "palettes": ["aurora", "fire", "ice"],
}
NAMES = [p[0] for p in SCHEMA]


class FakeConn:
    # Records requests; answers like the garment (set checks ranges and bass_lo < bass_hi).
    def __init__(self):
        self.sent = []
        self.params = dict(CURRENT["params"])
        self.fail = None  # a message: the next request is refused with it

    def request(self, cmd, timeout=None, **fields):
        self.sent.append((cmd, fields))
        if self.fail:
            msg, self.fail = self.fail, None
            raise GarmentError(msg)
        if cmd == "set":
            self.params.update(fields["values"])
            return {"ok": True, "params": dict(self.params)}
        if cmd == "panel":
            return {"ok": True, "panel": fields["name"], "mode": fields.get("mode", "vu"),
                    "palette": fields.get("palette", "fire")}
        if cmd == "save":
            return {"ok": True, "saved": "config.json"}
        if cmd == "preset":
            return {"ok": True, "preset": fields["name"], "presets": [fields["name"]]}
        raise AssertionError(cmd)


def model():
    return TunerModel(HELLO, json.loads(json.dumps(CURRENT)), help_texts={p[0]: p[5] for p in SCHEMA})


def select(m, name):
    m.row = NAMES.index(name)


# --- model: keys -------------------------------------------------------------------------------

def test_up_down_wraps_and_tab_switches_sections():
    m = model()
    assert m.selected()[0] == "brightness"
    m.key("down")
    assert m.selected()[0] == "gamma"
    m.key("up")
    m.key("up")
    assert m.selected()[0] == NAMES[-1]
    m.key("tab")
    assert m.section == "panels" and m.selected() == ("left_sleeve", "mode")
    m.key("down")
    assert m.selected() == ("left_sleeve", "palette")
    m.key("tab")
    assert m.section == "params" and m.row == 0


def test_left_right_steps_and_big_steps():
    m = model()
    m.key("right")
    assert m.values["brightness"] == 161 and m.pending == {"brightness": 161}
    small, big = steps(0, 255)
    assert small == 1 and big >= 10
    m.key("sright")
    assert m.values["brightness"] == 161 + big
    m.key("pgdn")
    m.key("left")
    assert m.values["brightness"] == 160
    select(m, "agc_hold")  # 0..5000: coarser steps so a designer is not pressing 500 times
    m.key("right")
    assert m.values["agc_hold"] == 600 + steps(0, 5000)[0] > 601


def test_clamped_to_min_and_max():
    m = model()
    for _ in range(40):
        m.key("pgup")
    assert m.values["brightness"] == 255
    m.key("right")
    assert m.values["brightness"] == 255 and "maximum" in m.status
    select(m, "gamma")
    for _ in range(40):
        m.key("left")
    assert m.values["gamma"] == 10
    assert "minimum" in m.status


def test_bass_lo_stays_below_bass_hi():
    m = model()
    m.values["bass_hi"] = 60
    select(m, "bass_lo")
    for _ in range(10):
        m.key("pgup")
    assert m.values["bass_lo"] == 59
    select(m, "bass_hi")
    m.key("pgdn")
    assert m.values["bass_hi"] == 60


def test_panel_cycling_mode_and_palette():
    m = model()
    m.key("tab")
    m.key("right")
    assert m.panels["left_sleeve"]["mode"] == "off"
    m.key("right")
    assert m.panels["left_sleeve"]["mode"] == "pulse"  # wraps
    m.key("left")
    m.key("left")
    assert m.panels["left_sleeve"]["mode"] == "vu"
    m.key("down")
    m.key("right")
    assert m.panels["left_sleeve"]["palette"] == "ice"
    assert m.pending_panels == {"left_sleeve": {"mode": "vu", "palette": "ice"}}
    c = FakeConn()
    m.flush(c, 1.0)
    assert c.sent == [("panel", {"name": "left_sleeve", "mode": "vu", "palette": "ice"})]
    assert m.pending_panels == {}


def test_save_preset_prompt_and_quit():
    m = model()
    c = FakeConn()
    m.key("s")
    m.flush(c, 0.0)
    assert c.sent == [("save", {})] and m.status.startswith("saved")
    m.key("p")
    for ch in "club x":
        m.key(ch)
    m.key("backspace")
    m.key("backspace")
    m.key("q")  # typed into the name, does not quit
    assert m.prompt == "clubq" and not m.quit
    m.key("backspace")
    m.key("enter")
    m.flush(c, 1.0)
    assert c.sent[-1] == ("preset", {"action": "save", "name": "club"})
    assert "saved preset club" in m.status
    m.key("p")
    m.key("x")
    m.key("esc")
    assert m.prompt is None and m.action is None
    m.key("q")
    assert m.quit


# --- model: sending ----------------------------------------------------------------------------

def test_sets_are_coalesced_and_throttled():
    m = model()
    c = FakeConn()
    t = 100.0
    m.key("right")
    m.flush(c, t)  # the first change goes at once
    assert c.sent == [("set", {"values": {"brightness": 161}})]
    # a held key: 200 presses over 1 s, flushed every 5 ms
    for i in range(200):
        m.key("right")
        m.flush(c, t + 0.005 * (i + 1))
    m.flush(c, t + 2.0)
    sets = [f["values"] for cmd, f in c.sent if cmd == "set"]
    assert len(sets) <= 1 + 1.0 / 0.05 + 2, len(sets)  # ~20 per second
    assert sets[-1] == {"brightness": 255} and m.values["brightness"] == 255 and not m.pending
    assert c.params["brightness"] == 255


def test_several_params_go_in_one_set_and_save_forces_send():
    m = model()
    c = FakeConn()
    m.flush(c, 0.0)
    m.key("right")
    m.flush(c, 0.0)
    m.key("right")
    m.key("down")
    m.key("left")
    m.flush(c, 0.01)  # too soon: nothing
    assert len(c.sent) == 1
    m.key("s")
    m.flush(c, 0.02)  # a save sends the pending values first
    assert c.sent[1:] == [("set", {"values": {"brightness": 162, "gamma": 21}}), ("save", {})]


def test_garment_error_goes_to_status_and_reverts():
    m = model()
    c = FakeConn()
    m.key("right")
    c.fail = "values.brightness must be between 0 and 200, got 161"
    m.flush(c, 0.0)  # must not raise
    assert m.status_error and "must be between" in m.status
    assert m.values["brightness"] == 160 and not m.pending
    m.key("tab")
    m.key("right")
    c.fail = "mode 'off' is not a mode"
    m.flush(c, 1.0)
    assert m.panels["left_sleeve"]["mode"] == "vu" and "not a mode" in m.status
    m.key("s")
    c.fail = "could not write config.json: flash error (full?)"
    m.flush(c, 2.0)
    assert "flash error" in m.status and m.status_error


def test_telemetry_updates_levels_and_beat():
    m = model()
    m.on_telemetry({"t": 100, "level": 200, "bass": 100, "mid": 5, "treble": 0, "beat": 1}, now=10.0)
    assert m.telemetry["level"] == 200 and m.beat_until > 10.0
    assert m.quiet_for(12.0) == pytest.approx(2.0)
    assert bar(255, 8) == "#" * 8 and bar(0, 8) == "." * 8 and bar(None, 4) == "...."


# --- end to end: the curses tuner in tmux against the simulator ------------------------------------

def _tmux():
    if shutil.which("tmux"):
        return shutil.which("tmux")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "tmux"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
    return shutil.which("tmux")


def _wait(pred, timeout, what, show=lambda: ""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s; screen:\n%s" % (what, show()))


def test_tune_in_tmux_against_simulator(tmp_path):
    pytest.importorskip("serial")
    from host_tools.link import open_link

    tmux = _tmux()
    if not tmux:
        pytest.skip("tmux is not installed and could not be installed (apt-get install -y tmux)")
    sock = "threadbeat-test-%s" % uuid.uuid4().hex[:8]
    state = tmp_path / "state"
    rcfile = tmp_path / "rc"
    errfile = tmp_path / "stderr"
    sim = subprocess.Popen([sys.executable, "-m", "host_tools.simulate", "--audio", AUDIO, "--state", str(state)],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    started = [False, False]  # tmux server up; early exit reported

    def tm(*a, **kw):
        return subprocess.run([tmux, "-L", sock] + list(a), capture_output=True, text=True, timeout=10, **kw)

    def pane():
        if rcfile.exists() and not started[1]:
            started[1] = True  # exited early: say why
            raise AssertionError("the tuner exited: rc %s, stderr %s" % (rcfile.read_text(), errfile.read_text()))
        return tm("capture-pane", "-p", "-t", "tune").stdout

    try:
        got = []
        t = threading.Thread(target=lambda: got.append(sim.stdout.readline()), daemon=True)
        t.start()
        t.join(30)
        assert got and got[0].startswith("/dev/"), "simulator did not print its pty: %r" % got
        pty = got[0].strip()
        with open_link(pty) as c:
            gamma0 = c.request("get", name="gamma")["value"]
        cmd = "%s -m host_tools.tune --port %s 2>%s; echo $? > %s" % (sys.executable, pty, errfile, rcfile)
        r = tm("-f", "/dev/null", "new-session", "-d", "-s", "tune", "-x", "120", "-y", "45", "-c", REPO, cmd)
        assert r.returncode == 0, r.stderr
        started[0] = True
        _wait(lambda: "speed" in pane(), 20, "the tuner to draw", pane)
        _wait(lambda: "fps" in pane(), 10, "telemetry in the level bars", pane)
        tm("send-keys", "-t", "tune", "Down")
        _wait(lambda: "gamma: LED gamma" in pane(), 5, "gamma to be selected (help line)", pane)
        tm("send-keys", "-t", "tune", "Right")
        _wait(lambda: "set gamma=%d" % (gamma0 + 1) in pane(), 5, "the set confirmation", pane)
        tm("send-keys", "-t", "tune", "s")
        _wait(lambda: "saved:" in pane(), 5, "the save confirmation", pane)
        screen = pane()
        started[1] = True  # from here on the tuner is meant to exit
        tm("send-keys", "-t", "tune", "q")
        _wait(lambda: rcfile.exists() and rcfile.read_text().strip(), 10, "the tuner to exit", pane)
        assert rcfile.read_text().strip() == "0", pane()
        assert "level" in screen and "range 10..30 x0.1" in screen
        with open_link(pty) as c:
            assert c.request("get", name="gamma")["value"] == gamma0 + 1
            assert c.request("status")["telemetry"] is False  # q turned telemetry off
        with open(state / "config.json") as f:
            assert json.load(f)["params"]["gamma"] == gamma0 + 1  # saved, not just live
    finally:
        if started[0]:
            tm("kill-server")
        if sim.poll() is None:
            sim.terminate()
            try:
                sim.wait(5)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait(5)
        sim.stdout.close()
