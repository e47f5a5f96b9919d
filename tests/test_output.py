# Output stage: colour order, RGBW white extraction, gamma and brightness, and the current limiter
# (no frame may exceed the profile's budget, whatever the mapper asks for).
from hypothesis import given, settings, strategies as st

from firmware.fixmath import gamma_table
from firmware.output import Output
from firmware.params import Params


def make(budget=2000, cap=255, orders=(("GRB", 10),), brightness=255, gamma=10):
    p = Params()
    p.update({"brightness": brightness, "gamma": gamma})
    out = Output({"budget_ma": budget, "ma_per_channel": 20, "idle_ma_per_pixel": 1, "max_brightness": cap}, p)
    first = 0
    for order, n in orders:
        out.add_panel(first, n, order)
        first += n
    return out, first


def test_colour_order_grb_and_rgb():
    out, n = make(orders=(("GRB", 1), ("RGB", 1), ("BGR", 1)))
    rgb = bytearray([10, 20, 30] * 3)
    out.show(rgb)
    assert bytes(out.panels[0].buf) == bytes([20, 10, 30])
    assert bytes(out.panels[1].buf) == bytes([10, 20, 30])
    assert bytes(out.panels[2].buf) == bytes([30, 20, 10])


def test_rgbw_extracts_white():
    out, n = make(orders=(("GRBW", 1),))
    out.show(bytearray([200, 150, 100]))
    assert bytes(out.panels[0].buf) == bytes([50, 100, 0, 100])  # G R B W


def test_gamma_table_is_exact_and_monotonic():
    g = gamma_table(22)
    assert g[0] == 0 and g[255] == 255
    assert all(g[i] <= g[i + 1] for i in range(255))
    assert all(abs(g[x] - round(255 * (x / 255) ** 2.2)) == 0 for x in range(256))


def test_profile_cap_limits_brightness_no_matter_the_parameter():
    out, n = make(cap=100, brightness=255)
    out.show(bytearray([255] * (3 * n)))
    assert max(out.panels[0].buf) == 100


@settings(max_examples=200, deadline=None)
@given(st.integers(100, 5000), st.lists(st.integers(0, 255), min_size=30, max_size=30),
       st.integers(1, 80), st.sampled_from(["GRB", "GRBW"]))
def test_limiter_keeps_every_frame_within_budget(budget, colours, npx, order):
    out, n = make(budget=budget + npx, orders=((order, npx),), gamma=22)
    rgb = bytearray((colours * (3 * npx // 30 + 1))[: 3 * n])
    ma = out.show(rgb)
    total = sum(out.panels[0].buf)
    est = total * 20 // 255 + npx
    assert est <= budget + npx
    assert ma == est or not out.limited


def test_limiter_leaves_frames_within_budget_untouched():
    out, n = make(budget=5000, orders=(("GRB", 10),))
    rgb = bytearray([255] * 30)  # 10 px white = 600 mA + idle
    out.show(rgb)
    assert not out.limited and max(out.panels[0].buf) == 255


def test_limiter_scales_a_full_white_jacket_down():
    out, n = make(budget=1800, orders=(("GRB", 150),))
    out.show(bytearray([255] * 450))  # 150 px white would draw 9,000 mA
    assert out.limited and out.est_ma <= 1800
    assert out.est_ma > 1600  # and uses most of what it may
