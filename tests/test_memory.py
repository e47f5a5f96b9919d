# What the garment keeps in its heap after start-up (issue 3): palette tables only for the palettes
# panels show, shared between panels and dropped when no panel shows them any more; built-in
# palettes stored as text; boot-only data released. The figures are in bench/vm_cost.py.
import os
import shutil

import pytest

from conftest import ROOT
from firmware.engine import Engine
from firmware.palettes import BUILTIN, Palettes, build_lut, builtin_stops, parse_stops
from firmware.profile import read_profile

# Two built-ins as the tuples they were written as before they became text.
RAINBOW = ((0, 255, 0, 0), (42, 255, 160, 0), (85, 255, 255, 0), (128, 0, 255, 0), (170, 0, 80, 255),
           (213, 140, 0, 255), (255, 255, 0, 0))
AURORA = ((0, 0, 40, 20), (70, 0, 220, 120), (140, 40, 120, 255), (210, 200, 40, 220), (255, 0, 255, 160))


def test_builtin_palettes_parse_into_valid_stops():
    assert len(BUILTIN) == 14
    for name in BUILTIN:
        st = builtin_stops(name)
        assert parse_stops(st) == st, name  # ascending positions, values 0..255
        assert st[0][0] == 0 and st[-1][0] == 255, name
    assert builtin_stops("rainbow") == RAINBOW
    assert builtin_stops("aurora") == AURORA
    assert Palettes().lut("aurora") == build_lut(AURORA)


def dress_engine():
    return Engine(read_profile(os.path.join(ROOT, "boards", "esp32s3-dress.json")))


def test_only_the_palettes_panels_show_are_expanded_and_tables_are_shared():
    eng = dress_engine()
    shown = {pm.palette for pm in eng.mapper.panels}
    assert shown == {"rainbow", "ocean", "ice", "warm_white"}
    assert set(eng.palettes._luts) == shown  # 4 tables of 768 bytes, not 14
    by_name = {}
    for pm in eng.mapper.panels:
        assert len(pm.lut) == 768 and isinstance(pm.lut, bytearray)
        assert by_name.setdefault(pm.palette, pm.lut) is pm.lut  # one table per palette


def test_switching_palettes_drops_tables_no_panel_shows():
    eng = dress_engine()
    for name in ("skirt_2", "skirt_3"):
        assert eng.set_panel(name, {"palette": "fire"}) is None
        if name == "skirt_2":
            assert "ice" in eng.palettes._luts  # skirt_3 still shows it
    assert "ice" not in eng.palettes._luts
    assert set(eng.palettes._luts) == {pm.palette for pm in eng.mapper.panels}
    assert eng.mapper.panels[2].lut is eng.mapper.panels[3].lut is eng.palettes.lut("fire")
    # a user palette: a table only once shown, rebuilt in place when replaced while shown
    eng.palettes.add("club", ["#ff0000", "#0000ff"])
    assert "club" not in eng.palettes._luts
    assert eng.set_panel("belt", {"palette": "club"}) is None
    lut = eng.mapper.panels[5].lut
    eng.palettes.add("club", ["#00ff00", "#00ff00"])
    assert eng.mapper.panels[5].lut is lut and lut[:3] == bytearray(b"\x00\xff\x00")
    assert eng.set_panel("belt", {"palette": "warm_white"}) is None
    assert "club" not in eng.palettes._luts and "club" in eng.palettes.user


def test_build_keeps_no_layouts_after_start_up(tmp_path):
    from firmware.app import build

    d = tmp_path / "desk"
    d.mkdir()
    prof = read_profile(os.path.join(ROOT, "boards", "desk.json"))
    assert all("layout" in p for p in prof["panels"])  # the profile has them
    shutil.copy(os.path.join(ROOT, "boards", "desk.json"), d / "board.json")
    (d / "audio.pcm").write_bytes(bytes(2 * 128 * 8))
    app = build(str(d))
    assert app.engine.profile["panels"] and not any("layout" in p for p in app.engine.profile["panels"])
    assert app.engine.mapper.panels[0].dist is not None  # the distances the layouts gave stay
    while app.step() >= 0:
        pass
    assert app.frames == 8


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_lut_matches_its_stops(name):
    lut = Palettes().lut(name)
    st = builtin_stops(name)
    for pos, r, g, b in st:
        assert tuple(lut[3 * pos:3 * pos + 3]) == (r, g, b)
