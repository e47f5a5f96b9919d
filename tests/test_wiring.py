# `threadbeat wiring`: the SVG drawn from each bundled profile parses as XML and names every GPIO,
# every panel and the parts the issue asks for (330 ohm, level shifter, 1000 uF, budget, L/R note).
import xml.etree.ElementTree as ET

import pytest

from host_tools import wiring
from host_tools.cli import board_names, resolve_board
from host_tools.flash import main as cli  # the same handlers host_tools/cli.py registers


@pytest.mark.parametrize("board", board_names())
def test_svg_parses_and_names_every_pin_and_panel(board):
    profile = resolve_board(board)
    svg = wiring.render(profile)
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for pin in wiring.profile_pins(profile):
        assert wiring.pin_label(pin) in text
    for p in profile["panels"]:
        assert p["name"] in text
    assert "330 Ω" in text and "74AHCT125" in text and "1000 µF" in text
    assert "%d mA" % profile["power"]["budget_ma"] in text


def test_all_three_bundled_profiles_are_covered():
    assert {"desk", "esp32-jacket", "esp32s3-dress"} <= set(board_names())


@pytest.mark.parametrize("board,mic", [("esp32-jacket", "INMP441"), ("esp32s3-dress", "ICS-43434")])
def test_microphone_wiring(board, mic):
    svg = wiring.render(resolve_board(board))
    assert mic in svg
    for pin in ("SCK", "WS", "SD", "VDD", "GND", "3V3"):
        assert ">%s<" % pin in svg
    assert "L/R to GND = left slot" in svg


def test_long_panels_get_injection_points():
    dress = wiring.render(resolve_board("esp32s3-dress"))  # bodice: 128 px
    jacket = wiring.render(resolve_board("esp32-jacket"))  # longest: 64 px
    assert dress.count("injection point") == 1
    assert "injection point" not in jacket


def test_cli_writes_the_file(tmp_path, capsys):
    out = tmp_path / "sub" / "jacket.svg"
    assert cli(["wiring", "--board", "esp32-jacket", "--out", str(out)]) == 0
    ET.parse(str(out))
    assert cli(["wiring", "--board", "esp32-jacket", "--out", str(tmp_path / "x.png")]) == 1
    assert "only SVG" in capsys.readouterr().err


def test_bundled_docs_match_the_profiles():
    # docs/wiring/*.svg are generated: regenerate with `threadbeat wiring --board B --out docs/wiring/B.svg`.
    import os

    from conftest import ROOT

    for board in ("esp32-jacket", "esp32s3-dress"):
        with open(os.path.join(ROOT, "docs", "wiring", board + ".svg"), encoding="utf-8") as f:
            assert f.read() == wiring.render(resolve_board(board)), "regenerate docs/wiring/%s.svg" % board
