# The palette command's "action" field (firmware/protocol.py): list, remove, and add as the default,
# against a real Engine for the jacket; a refused remove changes nothing.
import json

from test_protocol import err, make, ok


def test_list_names_user_palettes_apart():
    eng, c = make()
    r = ok(c, {"id": 1, "cmd": "palette", "action": "list"})
    assert r["user"] == [] and "fire" in r["palettes"] and r["palettes"] == sorted(r["palettes"])
    ok(c, {"cmd": "palette", "name": "club", "stops": ["#ff0066", "#00ffcc"]})  # no action: add
    ok(c, {"cmd": "palette", "action": "add", "name": "abc", "stops": [[0, 1, 2, 3], [255, 4, 5, 6]]})
    r = ok(c, {"cmd": "palette", "action": "list"})
    assert r["user"] == ["abc", "club"] and {"abc", "club", "fire"} <= set(r["palettes"])
    assert list(json.loads(c.handle('{"id": 3, "cmd": "palette", "action": "list"}'))) == ["id", "ok", "palettes", "user"]


def test_remove_a_user_palette():
    eng, c = make()
    ok(c, {"cmd": "palette", "name": "club", "stops": ["#ff0066", "#00ffcc"]})
    r = ok(c, {"id": 2, "cmd": "palette", "action": "remove", "name": "club"})
    assert r["name"] == "club" and "club" not in r["palettes"]
    assert eng.palettes.user == {} and not eng.palettes.has("club")
    assert "no user palette 'club'; user palettes: none" in err(
        c, {"cmd": "palette", "action": "remove", "name": "club"})["error"]


def test_refused_removes_change_nothing():
    eng, c = make()
    ok(c, {"cmd": "palette", "name": "club", "stops": ["#ff0066", "#00ffcc"]})
    ok(c, {"cmd": "palette", "name": "keep", "stops": ["#000000", "#ffffff"]})
    ok(c, {"cmd": "panel", "name": "back", "palette": "club"})
    ok(c, {"cmd": "panel", "name": "collar", "palette": "club"})
    before = (dict(eng.palettes.user), json.dumps(eng.settings, sort_keys=True))
    e = err(c, {"cmd": "palette", "action": "remove", "name": "club"})["error"]
    assert e == "palette 'club' is shown on back, collar; give those panels another palette first"
    assert err(c, {"cmd": "palette", "action": "remove", "name": "fire"})["error"] == \
        "'fire' is a built-in palette and cannot be removed"
    assert "no user palette 'nope'; user palettes: club, keep" in err(
        c, {"cmd": "palette", "action": "remove", "name": "nope"})["error"]
    assert "missing field 'name'" in err(c, {"cmd": "palette", "action": "remove"})["error"]
    assert "field 'action' must be one of add, remove, list, got 'rename'" in err(
        c, {"cmd": "palette", "action": "rename", "name": "club"})["error"]
    assert "field 'action' must be one of add, remove, list, got 5" in err(
        c, {"cmd": "palette", "action": 5, "name": "club"})["error"]
    assert (dict(eng.palettes.user), json.dumps(eng.settings, sort_keys=True)) == before
    assert eng.mapper.panels[2].lut is eng.palettes.lut("club")  # the panel still shows it
    ok(c, {"cmd": "panel", "name": "back", "palette": "fire"})
    assert "give that panel another palette" in err(c, {"cmd": "palette", "action": "remove", "name": "club"})["error"]
    ok(c, {"cmd": "panel", "name": "collar", "palette": "ice"})
    ok(c, {"cmd": "palette", "action": "remove", "name": "club"})
    assert sorted(eng.palettes.user) == ["keep"]


def test_remove_frees_a_slot():
    eng, c = make()
    for i in range(8):
        ok(c, {"cmd": "palette", "name": "p%d" % i, "stops": ["#000000", "#ffffff"]})
    e = err(c, {"cmd": "palette", "name": "more", "stops": ["#000000", "#ffffff"]})["error"]
    assert e.startswith("8 user palettes already; remove one")
    ok(c, {"cmd": "palette", "action": "remove", "name": "p3"})
    ok(c, {"cmd": "palette", "name": "more", "stops": ["#000000", "#ffffff"]})
