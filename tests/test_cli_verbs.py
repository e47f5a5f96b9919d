# End-to-end tests of `threadbeat palette`, `reset`, `identify` and `status` against `threadbeat simulate`
# over a real pty (the simulator subprocesses of tests/test_cli_link.py; every one is stopped at the end).
import json
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("serial")

from host_tools.cli_link import parse_stop  # noqa: E402
from host_tools.errors import CommandError  # noqa: E402
from host_tools.link import open_link  # noqa: E402
from test_cli_link import REPO, run, sim, sim_factory  # noqa: E402,F401  (fixtures)

JACKET_PANELS = (35, 35, 64, 16)  # left_sleeve, right_sleeve, back, collar: pixels, 3 bytes each
FRAME = 3 * sum(JACKET_PANELS)
COLLAR = 3 * sum(JACKET_PANELS[:3])  # the collar's first byte in a frame


# --- palette -----------------------------------------------------------------------------------

def test_parse_stop():
    assert parse_stop("0:#000000", "s") == [0, 0, 0, 0]
    assert parse_stop("128:FF0080", "s") == [128, 255, 0, 128]
    assert parse_stop(" 255 : #ffffff ", "s") == [255, 255, 255, 255]
    assert parse_stop("#FF0080", "s") == "#ff0080" and parse_stop("00ff00", "s") == "#00ff00"
    assert parse_stop([3, 1, 2, 3], "s") == [3, 1, 2, 3]
    for bad, why in (("#fff", "is not a colour"), ("1:#12345g", "is not a colour"), ("x:#ffffff", "must be an integer"),
                     ("128:", "is not a colour"), (5, "a stop is")):
        with pytest.raises(CommandError, match=why):
            parse_stop(bad, "stop 0")


def test_palette_add_list_use_remove(sim, capsys):
    p = sim.path
    code, out, _ = run(capsys, "palette", "--port", p)
    assert code == 0 and "fire                     built-in\n" in out and " user" not in out
    code, out, err = run(capsys, "palette", "add", "club", "0:#000000", "128:#ff0080", "255:ffffff", "--port", p)
    assert code == 0, err
    assert out.startswith("uploaded palette club (3 stops)")
    code, out, _ = run(capsys, "palette", "list", "--port", p)
    assert code == 0 and "club                     user\n" in out
    assert run(capsys, "panel", "back", "--palette", "club", "--port", p)[:2] == (0, "panel back: mode=ripple palette=club\n")
    code, out, err = run(capsys, "palette", "remove", "club", "--port", p)
    assert (code, out) == (1, "")
    assert err == "threadbeat: palette 'club' is shown on back; give that panel another palette first\n"
    assert run(capsys, "panel", "back", "--palette", "ice", "--port", p)[0] == 0
    code, out, err = run(capsys, "palette", "remove", "club", "--port", p)
    assert code == 0 and out.startswith("removed palette club"), err
    assert "club" not in run(capsys, "palette", "--port", p)[1]
    code, _, err = run(capsys, "palette", "remove", "fire", "--port", p)
    assert code == 1 and err == "threadbeat: 'fire' is a built-in palette and cannot be removed\n"


def test_palette_from_a_json_file_and_saved(sim_factory, tmp_path, capsys):
    state = tmp_path / "persist"
    s = sim_factory(state)
    f = tmp_path / "sunrise.json"
    f.write_text(json.dumps({"stops": ["0:#000000", [100, 255, 80, 0], "#ffffff"]}))
    code, out, err = run(capsys, "palette", "add", "sunrise", "--file", f, "--port", s.path)
    assert code == 0 and "(3 stops)" in out, err
    assert run(capsys, "panel", "collar", "--palette", "sunrise", "--port", s.path)[0] == 0
    assert run(capsys, "save", "--port", s.path)[0] == 0
    s.stop()
    s2 = sim_factory(state)  # boots with the saved config.json: the palette and the panel's choice are back
    assert "sunrise                  user\n" in run(capsys, "palette", "--port", s2.path)[1]
    assert "panel collar: mode=pulse palette=sunrise\n" in run(capsys, "get", "--port", s2.path)[1]


def test_palette_refusals_are_one_line(sim, tmp_path, capsys):
    p = sim.path
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("[1, 2")
    not_list = tmp_path / "obj.json"
    not_list.write_text('{"colours": []}')
    cases = [
        (["palette", "add", "x", "0:#zz0000", "#ffffff"], "threadbeat: stop 0: '0:#zz0000' is not a colour"),
        (["palette", "add", "x"], "threadbeat: palette add needs stops"),
        (["palette", "add"], "threadbeat: palette add needs a NAME"),
        (["palette", "add", "x", "--file", tmp_path / "none.json"], "threadbeat: %s: cannot read" % (tmp_path / "none.json")),
        (["palette", "add", "x", "--file", bad_json], "threadbeat: %s: not valid JSON" % bad_json),
        (["palette", "add", "x", "--file", not_list], "threadbeat: %s: expected a list of stops" % not_list),
        (["palette", "add", "x", "#ffffff", "--file", not_list], "threadbeat: give the stops on the command line or"),
        (["palette", "add", "x", "0:#000000", "0:#ffffff"], "threadbeat: stops: stop 1: positions must ascend"),
        (["palette", "add", "x", "#000000"], "threadbeat: stops: a palette is a list of 2 to 16 stops"),
        (["palette", "add", "fire", "#000000", "#ffffff"], "threadbeat: 'fire' is a built-in palette and cannot be replaced"),
        (["palette", "add", "a b", "#000000", "#ffffff"], "threadbeat: palette names are 1..24 characters"),
        (["palette", "remove", "nope"], "threadbeat: no user palette 'nope'; user palettes: none"),
        (["palette", "list", "x"], "threadbeat: palette list takes no NAME"),
    ]
    for argv, want in cases:
        code, out, err = run(capsys, *argv, "--port", p)
        assert code == 1 and out == "", argv
        assert err.startswith(want) and err.count("\n") == 1, (argv, err)
    assert run(capsys, "palette", "--port", p)[1].count(" user") == 0  # nothing was added


# --- reset -------------------------------------------------------------------------------------

def test_reset_needs_yes_without_a_terminal(sim, capsys):
    p = sim.path
    assert run(capsys, "set", "brightness=77", "--port", p)[0] == 0
    code, out, err = run(capsys, "reset", "--port", p)  # pytest's stdin is not a terminal
    assert (code, out, err) == (1, "", "threadbeat: reset needs --yes (stdin is not a terminal to ask)\n")
    assert run(capsys, "get", "brightness", "--port", p)[1] == "brightness=77\n"
    assert run(capsys, "palette", "add", "club", "#ff0000", "#0000ff", "--port", p)[0] == 0
    assert run(capsys, "panel", "back", "--mode", "off", "--palette", "club", "--port", p)[0] == 0
    code, out, _ = run(capsys, "reset", "--yes", "--port", p)
    assert code == 0 and out.startswith("reset to factory defaults (live")
    code, out, _ = run(capsys, "get", "--port", p)
    assert "brightness=160\n" in out and "panel back: mode=ripple palette=party\n" in out
    assert " user" not in run(capsys, "palette", "--port", p)[1]


def _reset_on_a_terminal(port, answer):
    # `threadbeat reset` with a pty as its stdin, answering the question with `answer`.
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "host_tools.cli_link", "reset", "--port", port], cwd=REPO,
                                stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.write(master, answer)
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    return proc.returncode, out, err


def test_reset_asks_on_a_terminal(sim, capsys):
    p = sim.path
    assert run(capsys, "set", "brightness=77", "--port", p)[0] == 0
    code, out, err = _reset_on_a_terminal(p, b"n\n")
    assert "Reset ESP32 DevKitC jacket on %s to factory defaults?" % p in out and "[y/N]" in out
    assert code == 1 and err == "threadbeat: reset cancelled; nothing changed\n"
    assert run(capsys, "get", "brightness", "--port", p)[1] == "brightness=77\n"
    code, out, err = _reset_on_a_terminal(p, b"\x04")  # Ctrl-D: no answer is no
    assert code == 1 and err == "threadbeat: reset cancelled; nothing changed\n"
    code, out, err = _reset_on_a_terminal(p, b"yes\n")
    assert code == 0 and "reset to factory defaults" in out, err
    assert run(capsys, "get", "brightness", "--port", p)[1] == "brightness=160\n"


def test_reset_save_makes_it_stick(sim_factory, tmp_path, capsys):
    state = tmp_path / "persist"
    s = sim_factory(state)
    assert run(capsys, "set", "brightness=77", "--port", s.path)[0] == 0
    assert run(capsys, "save", "--port", s.path)[0] == 0
    code, out, _ = run(capsys, "reset", "--yes", "--save", "--port", s.path)
    assert code == 0 and out == "reset to factory defaults and saved to %s\n" % os.path.join(str(state), "config.json")
    s.stop()
    s2 = sim_factory(state)
    assert run(capsys, "get", "brightness", "--port", s2.path)[1] == "brightness=160\n"


# --- identify ----------------------------------------------------------------------------------

def _frames_after(path, n, start, timeout=60.0):
    # Wait until the recording holds `n` frames past frame `start`; return every whole frame.
    deadline = time.monotonic() + timeout
    while os.path.getsize(path) < (start + n) * FRAME:
        assert time.monotonic() < deadline, "the simulator recorded too few frames"
        time.sleep(0.05)
    with open(path, "rb") as f:
        data = f.read()
    return [data[i:i + FRAME] for i in range(0, len(data) - FRAME + 1, FRAME)]


def _kind(frame):
    # "lit": the collar white, everything else dark; "dark": every byte 0; else "show".
    rest, collar = frame[:COLLAR], frame[COLLAR:]
    if rest.count(0) == len(rest):
        if collar.count(0) == len(collar):
            return "dark"
        if collar[0] > 0 and collar.count(collar[0]) == len(collar):
            return "lit"
    return "show"


def _runs(kinds):
    out = []
    for k in kinds:
        if out and out[-1][0] == k:
            out[-1][1] += 1
        else:
            out.append([k, 1])
    return out


def test_identify_blinks_the_panel_in_the_recorded_frames(sim_factory, tmp_path, capsys):
    rec = tmp_path / "frames.bin"
    s = sim_factory(tmp_path / "state", "--record", rec)
    _frames_after(rec, 50, 0)  # the show is on
    code, out, err = run(capsys, "identify", "collar", "--seconds", "1", "--port", s.path)
    assert (code, out) == (0, "collar blinks white for 1.0 s; every other panel is dark\n"), err
    at = os.path.getsize(rec) // FRAME
    frames = _frames_after(rec, 250, at)  # 2 s of frames past the request
    s.stop()
    kinds = [_kind(f) for f in frames]
    first = kinds.index("lit")
    assert "show" in kinds[:first]
    runs = _runs(kinds[first:])
    # audio time decides the blink: 250 ms lit, 250 ms dark, twice, then the show again (8 ms frames)
    assert [k for k, _ in runs[:5]] == ["lit", "dark", "lit", "dark", "show"], runs[:6]
    assert all(12 <= n <= 32 for _, n in runs[:4]), runs[:5]  # 31-32 frames each unless hops were dropped
    assert "lit" not in kinds[first + sum(n for _, n in runs[:4]):]


def test_identify_stop_ends_a_blink(sim_factory, tmp_path, capsys):
    rec = tmp_path / "frames.bin"
    s = sim_factory(tmp_path / "state", "--record", rec)
    _frames_after(rec, 20, 0)
    assert run(capsys, "identify", "back", "--seconds", "60", "--port", s.path)[0] == 0
    at = os.path.getsize(rec) // FRAME
    _frames_after(rec, 100, at)
    code, out, _ = run(capsys, "identify", "back", "--stop", "--port", s.path)
    assert (code, out) == (0, "stopped identifying; back shows its own light again\n")
    at = os.path.getsize(rec) // FRAME
    frames = _frames_after(rec, 100, at)
    s.stop()
    back = slice(3 * 70, 3 * 134)

    def identifying(f):  # only the back's bytes may be lit, all alike
        b = f[back]
        return f[:back.start].count(0) == back.start and f[back.stop:].count(0) == len(f) - back.stop and \
            b.count(b[0]) == len(b)

    assert all(identifying(f) for f in frames[at - 60:at - 10])
    assert not all(identifying(f) for f in frames[at + 20:])
    code, _, err = run(capsys, "identify", "hood", "--port", s.path)
    assert code == 1 and err.startswith("threadbeat: ") and err.count("\n") == 1


def test_identify_refusals(sim, capsys):
    code, _, err = run(capsys, "identify", "hood", "--port", sim.path)
    assert code == 1 and err.startswith("threadbeat: no panel 'hood'; panels: left_sleeve, right_sleeve, back, collar")
    for secs in ("0", "61", "-1"):
        code, _, err = run(capsys, "identify", "collar", "--seconds", secs, "--port", sim.path)
        assert code == 1 and err.startswith("threadbeat: --seconds must be more than 0 and at most 60"), secs


# --- status ------------------------------------------------------------------------------------

def test_status_text_and_json(sim, capsys):
    code, out, err = run(capsys, "status", "--port", sim.path)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "garment    ESP32 DevKitC jacket, firmware 0.1.0 on %s" % sim.path
    assert [ln.split()[0] for ln in lines] == ["garment", "running", "speed", "memory", "current", "levels", "bands",
                                             "link", "faults"]
    assert lines[-1] == "faults     none" and len(lines[6].split()) == 17
    assert lines[2].startswith("speed      ") and " frame time " in lines[2] and lines[2].endswith(" ms")
    code, out, _ = run(capsys, "status", "--json", "--port", sim.path)
    s = json.loads(out)
    assert code == 0 and out.count("\n") == 1
    assert {"level", "bass", "mid", "treble", "bands", "beat", "fps", "frame_us", "heap", "ma", "faults", "frames",
            "dropped", "uptime_ms", "board", "firmware", "port"} <= set(s)
    assert len(s["bands"]) == 16 and all(0 <= s[k] <= 255 for k in ("level", "bass", "mid", "treble"))
    assert s["faults"] == [] and s["frames"] > 0 and s["telemetry"] is False
    assert s["frame_us"] > 0 and s["heap"] == 0  # the App times its frames; CPython reports no heap
    with open_link(sim.path) as c:
        assert c.request("status")["telemetry"] is False  # status turned it off again


def test_status_leaves_running_telemetry_alone(sim, capsys):
    with open_link(sim.path) as c:
        c.request("telemetry", on=True, rate_hz=5)
    code, out, _ = run(capsys, "status", "--json", "--port", sim.path)
    assert code == 0 and json.loads(out)["telemetry"] is True
    with open_link(sim.path) as c:
        assert c.request("status")["telemetry"] is True  # still on, at its rate
        assert c.request("telemetry", on=True)["rate_hz"] == 5
        c.request("telemetry", on=False)
