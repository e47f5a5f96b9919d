# Tests for firmware/layout.py: line, matrix, ring and points expansion in integer millimetres,
# garment-wide concatenation, bounds, and property tests over random valid layouts.
import json
import math
import random
import sys
from array import array
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from firmware.layout import bounds, garment_positions, panel_positions, sincos_turn  # noqa: E402
from firmware.profile import load_profile, read_profile  # noqa: E402

try:  # the MicroPython WebAssembly harness (tests/mpvm.py), when present
    from tests import mpvm
except ImportError:
    try:
        import mpvm
    except ImportError:
        mpvm = None

ONE = 10**20


def panel(count, layout):
    # Validate one panel through load_profile (desk chip: no pins) and return the normalised panel.
    prof = load_profile(
        {"chip": "desk", "source": {"type": "pcm_file", "path": "a.pcm"}, "panels": [{"count": count, "layout": layout}]}
    )
    return prof["panels"][0]


def pairs(pos):
    return [(pos[i], pos[i + 1]) for i in range(0, len(pos), 2)]


# --- line -------------------------------------------------------------------------------------


def test_positions_are_a_signed_short_array():
    pos = panel_positions(panel(3, {"type": "line", "start": [0, 0], "end": [20, 0]}))
    assert isinstance(pos, array) and pos.typecode == "h"
    assert list(pos) == [0, 0, 10, 0, 20, 0]


def test_line_endpoints_are_exact():
    pos = pairs(panel_positions(panel(35, {"type": "line", "start": [-210, 30], "end": [-490, 520]})))
    assert len(pos) == 35
    assert pos[0] == (-210, 30) and pos[-1] == (-490, 520)


def test_line_is_evenly_spaced_and_rounded_symmetrically():
    pos = pairs(panel_positions(panel(10, {"type": "line", "start": [0, 0], "end": [90, -45]})))
    assert pos == [(10 * i, -5 * i) for i in range(10)]
    # 0..5 over 3 pixels: 2.5 rounds away from zero, mirrored line mirrors exactly
    fwd = pairs(panel_positions(panel(3, {"type": "line", "start": [0, 0], "end": [5, -5]})))
    assert fwd == [(0, 0), (3, -3), (5, -5)]


def test_line_of_one_pixel_sits_at_start():
    assert list(panel_positions(panel(1, {"type": "line", "start": [7, -3], "end": [100, 100]}))) == [7, -3]


def test_zero_length_line():
    assert pairs(panel_positions(panel(4, {"type": "line", "start": [5, 5], "end": [5, 5]}))) == [(5, 5)] * 4


# --- matrix -----------------------------------------------------------------------------------


def matrix(w, h, **kw):
    lay = {"type": "matrix", "width": w, "height": h, "pitch": 10, "origin": [100, 200]}
    lay.update(kw)
    return pairs(panel_positions(panel(w * h, lay)))


def test_matrix_progressive_rows():
    assert matrix(3, 2) == [(100, 200), (110, 200), (120, 200), (100, 210), (110, 210), (120, 210)]


def test_matrix_serpentine_flips_every_other_row():
    assert matrix(3, 3, serpentine=True) == [
        (100, 200), (110, 200), (120, 200),
        (120, 210), (110, 210), (100, 210),
        (100, 220), (110, 220), (120, 220),
    ]  # fmt: skip


def test_matrix_vertical_serpentine_flips_every_other_column():
    assert matrix(2, 3, serpentine=True, vertical=True) == [
        (100, 200), (100, 210), (100, 220),
        (110, 220), (110, 210), (110, 200),
    ]  # fmt: skip


def test_matrix_vertical_progressive():
    assert matrix(2, 2, vertical=True) == [(100, 200), (100, 210), (110, 200), (110, 210)]


def test_matrix_pitch_and_origin():
    pos = pairs(panel_positions(panel(64, {"type": "matrix", "width": 8, "height": 8, "pitch": 25, "origin": [-90, 80], "serpentine": True})))
    assert pos[0] == (-90, 80)
    assert pos[7] == (-90 + 7 * 25, 80)
    assert pos[8] == (-90 + 7 * 25, 105)  # row 1 runs back
    assert pos[15] == (-90, 105)
    assert bounds(array("h", [c for p in pos for c in p])) == (-90, 80, 85, 255)
    assert len(set(pos)) == 64


@pytest.mark.parametrize(
    "corner, expected",
    [
        ("top_left", [(100, 200), (110, 200), (110, 210), (100, 210)]),
        ("top_right", [(100, 200), (90, 200), (90, 210), (100, 210)]),
        ("bottom_left", [(100, 200), (110, 200), (110, 190), (100, 190)]),
        ("bottom_right", [(100, 200), (90, 200), (90, 190), (100, 190)]),
    ],
)
def test_matrix_corner_is_where_pixel_zero_sits(corner, expected):
    assert matrix(2, 2, serpentine=True, corner=corner) == expected


def test_matrix_single_row_and_column():
    assert matrix(4, 1, serpentine=True) == [(100, 200), (110, 200), (120, 200), (130, 200)]
    assert matrix(1, 3, serpentine=True) == [(100, 200), (100, 210), (100, 220)]


# --- ring -------------------------------------------------------------------------------------


def ring(count, radius, start_deg=0, center=(0, 0), clockwise=True):
    lay = {"type": "ring", "center": list(center), "radius": radius, "start_deg": start_deg, "clockwise": clockwise}
    return pairs(panel_positions(panel(count, lay)))


@pytest.mark.parametrize(
    "start, expected",
    [(0, (60, 0)), (90, (0, 60)), (180, (-60, 0)), (270, (0, -60)), (-90, (0, -60)), (450, (0, 60))],
)
def test_ring_pixel_zero_sits_at_start_deg(start, expected):
    pos = ring(16, 60, start, center=(5, -7))
    assert pos[0] == (expected[0] + 5, expected[1] - 7)


def test_ring_runs_clockwise_on_screen_with_y_down():
    # 0 deg = right, 90 deg = down: a quarter turn from the right-hand pixel reaches the bottom.
    pos = ring(4, 50)
    assert pos == [(50, 0), (0, 50), (-50, 0), (0, -50)]
    assert ring(4, 50, clockwise=False) == [(50, 0), (0, -50), (-50, 0), (0, 50)]


def test_ring_sixteen_from_the_spec():
    pos = ring(16, 60, 90)
    assert pos[0] == (0, 60) and pos[4] == (-60, 0) and pos[8] == (0, -60) and pos[12] == (60, 0)
    assert pos[2] == (-42, 42)  # 135 deg: 60 * sqrt(1/2) = 42.43
    # mirror symmetry about the vertical axis through pixel 0
    for i in range(1, 16):
        assert pos[i] == (-pos[16 - i][0], pos[16 - i][1])


def test_ring_exact_halves_round_away_from_zero_symmetrically():
    # r = 61 and 30 deg steps: 61 * sin 30 = 30.5 exactly -> 31 everywhere, a perfectly symmetric ring.
    pos = ring(12, 61)
    assert pos[1] == (53, 31) and pos[5] == (-53, 31) and pos[7] == (-53, -31) and pos[11] == (53, -31)
    assert pos[2] == (31, 53)


def exact_ring(count, radius, start_deg, center, clockwise):
    # Reference: every pixel's angle computed directly (no rotation recurrence), rounded like layout.
    out = []
    for i in range(count):
        n = start_deg * count + (360 * i if clockwise else -360 * i)
        s, c = sincos_turn(n, 360 * count)
        out.append((center[0] + _round(radius * c), center[1] + _round(radius * s)))
    return out


def _round(v):
    neg = v < 0
    q, rem = divmod(abs(v), ONE)
    if 2 * rem + 10**8 >= ONE:
        q += 1
    return -q if neg else q


@pytest.mark.parametrize(
    "count, radius, start, clockwise",
    [(1, 10, 0, True), (2, 10, 45, True), (7, 61, 30, True), (12, 18, 90, True), (16, 65, 90, False),
     (60, 500, 13, True), (1024, 32000, 7, False), (1000, 16000, 359, True)],
)  # fmt: skip
def test_ring_matches_per_pixel_exact_angles(count, radius, start, clockwise):
    assert ring(count, radius, start, (1, 2), clockwise) == exact_ring(count, radius, start, (1, 2), clockwise)


def test_ring_agrees_with_floating_point():
    for count, radius, start in [(16, 60, 90), (12, 18, 90), (37, 301, 17), (200, 9000, 250)]:
        for i, (x, y) in enumerate(ring(count, radius, start)):
            a = math.radians(start + 360.0 * i / count)
            assert abs(x - radius * math.cos(a)) <= 0.5 + 1e-9
            assert abs(y - radius * math.sin(a)) <= 0.5 + 1e-9


def test_sincos_turn_is_accurate():
    for n, d in [(0, 1), (1, 12), (1, 8), (1, 6), (1, 4), (7, 9), (355, 360), (-1, 3), (123457, 1000003)]:
        s, c = sincos_turn(n, d)
        a = 2 * math.pi * n / d
        assert abs(s / ONE - math.sin(a)) < 1e-12
        assert abs(c / ONE - math.cos(a)) < 1e-12
    assert sincos_turn(1, 4) == (ONE, 0)
    assert sincos_turn(1, 2) == (0, -ONE)
    assert sincos_turn(1, 8)[0] == sincos_turn(1, 8)[1]


# --- points -----------------------------------------------------------------------------------


def test_points_pass_through():
    pts = [[0, 0], [10, 0], [20, 5], [-32767, 32767]]
    assert pairs(panel_positions(panel(4, {"type": "points", "points": pts}))) == [tuple(p) for p in pts]


# --- garment and bounds -----------------------------------------------------------------------


def test_garment_positions_concatenates_panels_in_order():
    prof = read_profile(str(ROOT / "boards" / "esp32-jacket.json"))
    pos = garment_positions(prof)
    assert isinstance(pos, array) and pos.typecode == "h"
    assert len(pos) == 2 * prof["pixels"]
    for p in prof["panels"]:
        mine = panel_positions(p)
        assert pos[2 * p["first"] : 2 * (p["first"] + p["count"])] == mine


def test_bounds():
    assert bounds(array("h", [3, -4])) == (3, -4, 3, -4)
    assert bounds(array("h", [3, -4, -10, 7, 5, 0])) == (-10, -4, 5, 7)
    assert bounds([1, 2, 3, 4]) == (1, 2, 3, 4)
    with pytest.raises(ValueError):
        bounds(array("h"))


# --- properties -------------------------------------------------------------------------------

coord = st.integers(-32767, 32767)


@settings(max_examples=300, deadline=None)
@given(count=st.integers(1, 1024), x0=coord, y0=coord, x1=coord, y1=coord)
def test_any_valid_line_gives_count_positions_within_its_box(count, x0, y0, x1, y1):
    pos = panel_positions(panel(count, {"type": "line", "start": [x0, y0], "end": [x1, y1]}))
    assert len(pos) == 2 * count
    xmin, ymin, xmax, ymax = bounds(pos)
    assert min(x0, x1) <= xmin and xmax <= max(x0, x1)
    assert min(y0, y1) <= ymin and ymax <= max(y0, y1)
    assert (pos[0], pos[1]) == (x0, y0)
    if count > 1:
        assert (pos[-2], pos[-1]) == (x1, y1)


@st.composite
def matrices(draw):
    w = draw(st.integers(1, 32))
    h = draw(st.integers(1, 1024 // w))
    pitch = draw(st.integers(1, 1000))
    corner = draw(st.sampled_from(["top_left", "top_right", "bottom_left", "bottom_right"]))
    span_x, span_y = (w - 1) * pitch, (h - 1) * pitch
    if span_x > 32767 or span_y > 32767:
        pitch = 1
        span_x, span_y = w - 1, h - 1
    right, bottom = corner.endswith("right"), corner.startswith("bottom")
    ox = draw(st.integers(-32767 + (span_x if right else 0), 32767 - (0 if right else span_x)))
    oy = draw(st.integers(-32767 + (span_y if bottom else 0), 32767 - (0 if bottom else span_y)))
    lay = {
        "type": "matrix",
        "width": w,
        "height": h,
        "pitch": pitch,
        "origin": [ox, oy],
        "serpentine": draw(st.booleans()),
        "vertical": draw(st.booleans()),
        "corner": corner,
    }
    return w * h, lay


@settings(max_examples=300, deadline=None)
@given(matrices())
def test_any_valid_matrix_gives_count_distinct_positions_within_its_box(case):
    count, lay = case
    p = panel(count, lay)
    pos = panel_positions(p)
    assert len(pos) == 2 * count
    w, h, pitch = lay["width"], lay["height"], lay["pitch"]
    ox, oy = lay["origin"]
    fx = ox - (w - 1) * pitch if lay["corner"].endswith("right") else ox + (w - 1) * pitch
    fy = oy - (h - 1) * pitch if lay["corner"].startswith("bottom") else oy + (h - 1) * pitch
    assert bounds(pos) == (min(ox, fx), min(oy, fy), max(ox, fx), max(oy, fy))
    pts = pairs(pos)
    assert pts[0] == (ox, oy)
    assert len(set(pts)) == count
    # consecutive pixels of a serpentine are always neighbours (one pitch apart)
    if lay["serpentine"]:
        for a, b in zip(pts, pts[1:]):
            assert abs(a[0] - b[0]) + abs(a[1] - b[1]) == pitch


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(1, 256),
    radius=st.integers(1, 20000),
    start=st.integers(-3600, 3600),
    cx=st.integers(-12000, 12000),
    cy=st.integers(-12000, 12000),
    clockwise=st.booleans(),
)
def test_any_valid_ring_stays_on_its_circle(count, radius, start, cx, cy, clockwise):
    pos = ring(count, radius, start, (cx, cy), clockwise)
    assert len(pos) == count
    for x, y in pos:
        assert cx - radius <= x <= cx + radius and cy - radius <= y <= cy + radius
        d = math.hypot(x - cx, y - cy)
        assert abs(d - radius) <= 0.75  # each coordinate is within half a millimetre
    a = math.radians(start)
    assert abs(pos[0][0] - cx - radius * math.cos(a)) <= 0.5 + 1e-9
    assert abs(pos[0][1] - cy - radius * math.sin(a)) <= 0.5 + 1e-9


# --- bit-identical on real MicroPython --------------------------------------------------------


def _random_panels(rng, n):
    out = []
    for _ in range(n):
        kind = rng.choice(["line", "matrix", "ring", "ring", "points"])
        if kind == "line":
            count = rng.randint(1, 300)
            lay = {"type": "line", "start": [rng.randint(-30000, 30000), rng.randint(-30000, 30000)],
                   "end": [rng.randint(-30000, 30000), rng.randint(-30000, 30000)]}  # fmt: skip
        elif kind == "matrix":
            w, h = rng.randint(1, 20), rng.randint(1, 20)
            count = w * h
            lay = {"type": "matrix", "width": w, "height": h, "pitch": rng.randint(1, 50), "origin": [0, 0],
                   "serpentine": rng.random() < 0.5, "vertical": rng.random() < 0.5,
                   "corner": rng.choice(["top_left", "top_right", "bottom_left", "bottom_right"])}  # fmt: skip
        elif kind == "ring":
            count = rng.choice([1, 2, 3, 7, 12, 16, 24, 60, 241, 1024])
            lay = {"type": "ring", "center": [rng.randint(-100, 100), rng.randint(-100, 100)],
                   "radius": rng.randint(1, 32000), "start_deg": rng.randint(-720, 720),
                   "clockwise": rng.random() < 0.5}  # fmt: skip
        else:
            count = rng.randint(1, 20)
            lay = {"type": "points", "points": [[rng.randint(-32767, 32767), rng.randint(-32767, 32767)] for _ in range(count)]}
        out.append(panel(count, lay))
    return out


def test_micropython_gives_bit_identical_positions():
    if mpvm is None or not mpvm.node_available():
        pytest.skip("MicroPython VM harness (tests/mpvm.py + node) not available")
    panels = _random_panels(random.Random(1234), 40)
    code = (
        "import json\n"
        "from firmware.layout import panel_positions, bounds, sincos_turn\n"
        "out = []\n"
        "for p in json.loads(%r):\n"
        "    pos = panel_positions(p)\n"
        "    out.append([list(pos), list(bounds(pos))])\n"
        "print(json.dumps([out, [list(sincos_turn(n, 997)) for n in range(0, 997, 37)]]))\n"
    ) % json.dumps(panels)
    got = json.loads(mpvm.run_micropython(code))
    want = [[list(panel_positions(p)), list(bounds(panel_positions(p)))] for p in panels]
    assert got[0] == want
    assert got[1] == [list(sincos_turn(n, 997)) for n in range(0, 997, 37)]
