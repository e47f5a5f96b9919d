# Colour mapper: each mode does what its name promises, panels keep their own mode and palette,
# and palettes (built-in and user) expand correctly.
from array import array

import pytest

from firmware.analyzer import Features
from firmware.mapper import MODES, Mapper
from firmware.palettes import BUILTIN, Palettes, build_lut, parse_stops
from firmware.params import Params

N = 20


def line_positions(n, pitch=10):
    a = array("h")
    for i in range(n):
        a.append(i * pitch)
        a.append(0)
    return a


def mapper(mode, palette="white", n=N, origin=(0, 0)):
    m = Mapper(n, line_positions(n), Params(), origin=origin)
    m.add_panel(0, n, Palettes().lut(palette), mode, palette)
    return m


def brightness(rgb, i):
    return rgb[3 * i] + rgb[3 * i + 1] + rgb[3 * i + 2]


def test_at_least_ten_palettes_and_six_modes():
    assert len(BUILTIN) >= 10
    for m in ("pulse", "sweep", "spectrum", "ripple", "vu", "sparkle"):
        assert m in MODES


def test_palette_lut_hits_its_stops_and_interpolates():
    lut = build_lut(((0, 0, 0, 0), (255, 255, 128, 0)))
    assert tuple(lut[0:3]) == (0, 0, 0) and tuple(lut[765:768]) == (255, 128, 0)
    assert abs(lut[3 * 128] - 128) <= 1 and abs(lut[3 * 128 + 1] - 64) <= 1


def test_user_palette_from_hex_and_errors():
    p = Palettes()
    p.add("mine", ["#ff0000", "#0000ff"])
    assert tuple(p.lut("mine")[0:3]) == (255, 0, 0)
    for bad in (["#ff0000"], [[0, 1, 2]], [[10, 0, 0, 0], [5, 0, 0, 0]], [[0, 0, 0, 300], [255, 0, 0, 0]], "red"):
        with pytest.raises(ValueError):
            parse_stops(bad)


def test_pulse_follows_bass_and_flashes_on_beat():
    m = mapper("pulse")
    f = Features()
    f.bass = 40
    dim = bytes(m.render(f, 1000))
    f.bass = 200
    bright = bytes(m.render(f, 1008))
    assert brightness(bright, 0) > brightness(dim, 0)
    assert len(set(bright[i:i + 3] for i in range(0, 3 * N, 3))) == 1  # one colour for the panel
    f.bass = 0
    f.beat_ms, f.beat_count = 1100, 1
    assert brightness(m.render(f, 1110), 0) > 400  # flash right after the beat
    assert brightness(m.render(f, 1400), 0) < 10  # and gone after it fades


def test_spectrum_lights_the_pixels_of_the_loud_band():
    m = mapper("spectrum")
    f = Features()
    f.bands[3] = 255
    rgb = m.render(f, 0)
    lit = [i for i in range(N) if brightness(rgb, i) > 30]
    assert lit and all(3 * N // 16 <= i < 4 * N // 16 + 1 for i in lit)


def test_vu_lights_a_length_proportional_to_level():
    m = mapper("vu")
    f = Features()
    f.level = 128
    rgb = m.render(f, 0)
    lit = sum(1 for i in range(N) if brightness(rgb, i) > 0)
    assert N // 2 - 1 <= lit <= N // 2 + 1


def test_ripple_grows_from_the_origin():
    m = mapper("ripple")
    f = Features()
    f.beat_ms, f.beat_count = 1000, 1
    early = bytes(m.render(f, 1050))
    late = bytes(m.render(f, 1250))
    def centroid(rgb):
        w = [brightness(rgb, i) for i in range(N)]
        return sum(i * v for i, v in enumerate(w)) / max(1, sum(w))
    assert centroid(late) > centroid(early) + 3
    assert sum(m.render(f, 3000)) == 0  # a ripple dies out


def test_sparkle_needs_treble():
    m = mapper("sparkle")
    f = Features()
    for t in range(0, 400, 8):
        rgb = m.render(f, t)
    assert sum(rgb) == 0
    f.treble = 255
    for t in range(400, 600, 8):
        rgb = m.render(f, t)
    assert sum(1 for i in range(N) if brightness(rgb, i) > 0) >= 3


def test_sweep_moves_with_bass():
    m = mapper("sweep", "rainbow")
    f = Features()
    f.bass, f.level = 255, 255
    a = bytes(m.render(f, 0))
    for t in range(8, 400, 8):
        b = bytes(m.render(f, t))
    assert a != b


def test_each_panel_keeps_its_own_mode_and_palette():
    m = Mapper(2 * N, line_positions(2 * N), Params())
    pal = Palettes()
    m.add_panel(0, N, pal.lut("fire"), "solid", "fire")
    m.add_panel(N, N, pal.lut("ice"), "off", "ice")
    rgb = m.render(Features(), 0)
    assert sum(rgb[: 3 * N]) > 0 and sum(rgb[3 * N:]) == 0


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        mapper("strobe-o-matic")
