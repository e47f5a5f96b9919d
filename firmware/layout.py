# Pixel layout expansion: turns a validated panel's "layout" into integer millimetre positions.
# Spatial effects need to know where each LED sits; integer-only maths keeps it bit-identical.

# Coordinates: integer millimetres in a front view of the garment, x to the right, y DOWNWARD
# (as in a garment drawing; collar at the top). Positions are returned as array('h') holding
# x0, y0, x1, y1, ... so they fit -32768..32767 (profile.py keeps them within +/-32767).
#
# Layout types (profile.py validates them and fills in defaults; this module trusts its input):
#   line   {"start": [x, y], "end": [x, y]}: count pixels evenly spaced from start to end, both
#          ends included (rounded to the nearest mm, halves away from zero); count 1 sits at start.
#   matrix {"width", "height", "pitch", "origin": [x, y], "serpentine", "vertical", "corner"}:
#          a width x height grid, pitch mm apart. Pixel 0 sits at origin, which is the grid corner
#          named by "corner" (top_left, top_right, bottom_left, bottom_right); the grid extends
#          away from it. Rows of width pixels (or columns of height pixels when vertical) are
#          filled one after another; serpentine reverses every other row (column), as in the
#          usual zig-zag wired flexible matrices.
#   ring   {"center": [x, y], "radius", "start_deg", "clockwise"}: count pixels evenly spaced on a
#          circle. Angles are in degrees, 0 = +x (right), 90 = +y (DOWN, because y grows down),
#          so increasing angle runs clockwise on screen. Pixel 0 sits at start_deg; with clockwise
#          true (default) pixel i sits at start_deg + 360*i/count, otherwise at start_deg - 360*i/count.
#   points {"points": [[x, y], ...]}: explicit positions, one per pixel, passed through.
from array import array

from firmware.compat import const

# Fixed-point scale for the ring maths: 1.0 == 10**20. The ESP32 port has arbitrary-precision
# ints; these big ints are only used while expanding a layout (at load time), never per frame.
_ONE = const(100000000000000000000)
_PI = const(314159265358979323846)  # floor(pi * 10**20)
# A product within 10**-12 of a half-millimetre is treated as an exact half (e.g. r * sin 30deg)
# and rounded away from zero, so rings come out symmetric and match exact arithmetic.
_TIE = const(100000000)


def _div_round(num, den):
    # num / den rounded to the nearest integer, halves away from zero (den > 0).
    if num >= 0:
        return (2 * num + den) // (2 * den)
    return -((2 * -num + den) // (2 * den))


def _fixed_round(v):
    # v / _ONE rounded to the nearest integer; near-halves (see _TIE) go away from zero.
    neg = v < 0
    if neg:
        v = -v
    q, rem = divmod(v, _ONE)
    if 2 * rem + _TIE >= _ONE:
        q += 1
    return -q if neg else q


def _sincos_small(x):
    # Taylor series for sin and cos of x (fixed point, 0 <= x <= pi/4); returns (sin, cos).
    x2 = x * x
    s = x
    c = _ONE
    ts = x
    tc = _ONE
    k = 1
    while ts or tc:
        ts = -ts * x2 // ((2 * k) * (2 * k + 1) * _ONE * _ONE)
        tc = -tc * x2 // ((2 * k - 1) * (2 * k) * _ONE * _ONE)
        s += ts
        c += tc
        k += 1
    return s, c


def sincos_turn(n, d):
    # sin and cos (fixed point, 1.0 == 10**20) of the exact angle n/d of a full turn (d > 0).
    # The angle is reduced to the first octant with exact integer arithmetic, so symmetric
    # angles give exactly symmetric results.
    n = n % d
    quadrant = (4 * n) // d
    r = 4 * n - quadrant * d  # angle within the quadrant is (pi/2) * r/d
    swap = 2 * r > d
    if swap:
        r = d - r
    s, c = _sincos_small((_PI * r) // (2 * d))
    if 2 * r == d:  # exactly 45 degrees: make sin == cos
        s = c = (s + c) // 2
    if swap:
        s, c = c, s
    if quadrant == 1:
        return c, -s
    if quadrant == 2:
        return -s, -c
    if quadrant == 3:
        return -c, s
    return s, c


def _line(out, lay, count):
    x0, y0 = lay["start"]
    x1, y1 = lay["end"]
    if count == 1:
        out.append(x0)
        out.append(y0)
        return
    dx = x1 - x0
    dy = y1 - y0
    den = count - 1
    for i in range(count):
        out.append(x0 + _div_round(dx * i, den))
        out.append(y0 + _div_round(dy * i, den))


def _matrix(out, lay, count):
    w = lay["width"]
    h = lay["height"]
    pitch = lay["pitch"]
    ox, oy = lay["origin"]
    serp = lay.get("serpentine", False)
    vert = lay.get("vertical", False)
    corner = lay.get("corner", "top_left")
    sx = -pitch if corner.endswith("right") else pitch
    sy = -pitch if corner.startswith("bottom") else pitch
    for p in range(count):
        if vert:
            col = p // h
            row = p % h
            if serp and col & 1:
                row = h - 1 - row
        else:
            row = p // w
            col = p % w
            if serp and row & 1:
                col = w - 1 - col
        out.append(ox + col * sx)
        out.append(oy + row * sy)


def _ring(out, lay, count):
    cx, cy = lay["center"]
    r = lay["radius"]
    # Exact angles would need count-fold big-int series; instead rotate a fixed-point vector by
    # the step angle. With 10**20 scaling the drift after 1024 steps is ~1e-17, far below the
    # rounding step, so the result equals the exactly computed positions.
    s, c = sincos_turn(lay.get("start_deg", 0), 360)
    ss, cs = sincos_turn(1, count)
    if not lay.get("clockwise", True):
        ss = -ss
    half = _ONE // 2
    for i in range(count):
        out.append(cx + _fixed_round(r * c))
        out.append(cy + _fixed_round(r * s))
        c, s = (c * cs - s * ss + half) // _ONE, (s * cs + c * ss + half) // _ONE


def _points(out, lay, count):
    pts = lay["points"]
    for i in range(count):
        xy = pts[i]
        out.append(xy[0])
        out.append(xy[1])


def panel_positions(panel):
    # array('h') of 2*count ints (x0, y0, x1, y1, ...) in mm for one panel of a loaded profile.
    count = panel["count"]
    lay = panel["layout"]
    kind = lay["type"]
    out = array("h")
    if kind == "line":
        _line(out, lay, count)
    elif kind == "matrix":
        _matrix(out, lay, count)
    elif kind == "ring":
        _ring(out, lay, count)
    elif kind == "points":
        _points(out, lay, count)
    else:
        raise ValueError("unknown layout type %r" % (kind,))
    return out


def garment_positions(profile):
    # One array('h') with the positions of every pixel of the garment, panels in profile order
    # (pixel k is at out[2k], out[2k+1]; a panel's pixels start at its "first").
    out = array("h")
    for panel in profile["panels"]:
        out.extend(panel_positions(panel))
    return out


def bounds(positions):
    # (xmin, ymin, xmax, ymax) of an x, y, x, y, ... sequence.
    n = len(positions)
    if n < 2:
        raise ValueError("bounds() needs at least one x, y position")
    xmin = xmax = positions[0]
    ymin = ymax = positions[1]
    for i in range(2, n - 1, 2):
        x = positions[i]
        y = positions[i + 1]
        if x < xmin:
            xmin = x
        elif x > xmax:
            xmax = x
        if y < ymin:
            ymin = y
        elif y > ymax:
            ymax = y
    return xmin, ymin, xmax, ymax
