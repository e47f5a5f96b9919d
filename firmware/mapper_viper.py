# Viper twins of the Mapper's per-pixel loops (firmware/mapper.py): one kernel per kind of loop, same bytes.
# tests/test_mapper_viper.py checks them against the bytecode in simulation and on the 32-bit unix port.
#
#   fill(rgb, lut, first, count, ci, v)               # _fill: pulse, breathe, off (and the idle glow)
#   ramp(rgb, lut, pos, first, count, shift, v)       # sweep (shift, v) and solid (shift 0, v 256)
#   spectrum(rgb, lut, pos, bands, first, count)      # spectrum: colour pos[i], brightness bands[pos[i] >> 4] + 1
#   vu(rgb, lut, pos, first, count, lit, top)         # vu: the meter up to lit (Q8 pixels), the peak dot at top
#   fade(lvl, count, step)                            # sparkle's fade: lvl[i] = max(lvl[i] - step, 0)
#   paint(rgb, lut, hue, lvl, first, count)           # sparkle's picture: colour hue[i], brightness lvl[i]
#   ripple(rgb, lut, dist, first, count, rip, nr)     # ripple: nr live rings, rip[3k..3k+2] = radius, life left, hue
#
# Every kernel writes pixels first .. first+count-1 of the RGB frame (bytearray, 3 bytes a pixel) as
# Mapper._put does: byte = (lut[3 * ci + c] * v) >> 8 for palette colour ci (0..255) of the panel's
# 768-byte table and brightness v (0..256). The per-ring set-up of ripple (age, radius, which rings
# live) stays in bytecode: 4 rings a hop. The kernels check their buffers' lengths (IndexError, where
# the bytecode would raise too) since a pointer would write past them. No allocation; not reentrant
# (the _A argument block). Import optionally, like fft_viper: CPython gets ImportError from the guard,
# the WebAssembly VM (no native emitter) a SyntaxError.
#
# Why no 32-bit viper int wraps (nothing here is marked "intended wrap"):
# - a pixel byte is lut byte (<= 255) * v (<= 256 in every mode: the Mapper's callers guarantee it,
#   the bytecode's bytearray stores would refuse more on CPython) < 2**16.
# - ramp: pos[i] + shift < 2**9 before the mask (shift = phase >> 8 < 256). spectrum: pos >> 4 < 16.
# - vu: lit = level * count < 2**8 * 2**16 (a panel of 2**16 pixels would need a 196 KB frame),
#   x = i << 8 < 2**24, x + 256 < 2**25. fade: lvl (0..255) - step, step = (dt * (speed + 32)) >> 5 < 2**11.
# - ripple: dist d < 2**16, radius r = age * (200 + 6 * speed) // 1000 < 2**11, e = |d - r| < 2**17;
#   a ring's value is (_RING[e] * f) // 900 for e < 70 with _RING[e] = (70 - e) * 255 // 70 <= 255 and
#   f = 900 - age in 1..900: the product <= 229,500 < 2**18. The division by 900 is exact without a
#   helper call: x // 900 == (x >> 2) // 225 (floor of a floor), and for y = x >> 2 <= 57,375,
#   y // 225 == (y * 37283) >> 23 (checked for every such y by tests/test_mapper_viper.py); the
#   product is at most 57,375 * 37,283 = 2,139,112,125 < 2**31. (hue + (d >> 2)) < 2**15.
#
# Viper facts used (fft_viper.py's header): only the first 2-3 locals get registers, so each entry
# parks its arguments in _A and calls a worker that takes none and declares its hottest locals first;
# addresses are walked as ints and loops end on != (right whatever the sign of an address).
import micropython
import sys
from array import array

if sys.implementation.name != "micropython" or sys.byteorder != "little":
    raise ImportError("mapper_viper needs MicroPython's viper emitter on a little-endian machine")

# arguments parked for the workers (addresses and ints)
_A = array("i", [0] * 8)
# a ring's brightness by the distance e (mm) from its radius: (_RIPPLE_WIDTH - e) * 255 // _RIPPLE_WIDTH
_RING = bytearray(70)
for _e in range(70):
    _RING[_e] = (70 - _e) * 255 // 70
_DIV225_MUL = 37283  # y // 225 == (y * 37283) >> 23 for 0 <= y <= 57375 (see the header)


@micropython.viper
def fill(rgb, lut, first: int, count: int, ci: int, v: int):
    # Mapper._fill: every pixel of the panel in palette colour ci (0..255) at brightness v.
    if first < 0 or count < 0 or int(len(rgb)) < 3 * (first + count) or int(len(lut)) < 768 \
            or ci < 0 or ci > 255:
        raise IndexError("panel outside the frame, a short palette or a colour outside it")
    c = ptr8(int(ptr8(lut)) + 3 * ci)
    a = ptr32(_A)
    a[0] = int(ptr8(rgb)) + 3 * first
    a[1] = 3 * count
    a[2] = (c[0] * v) >> 8
    a[3] = (c[1] * v) >> 8
    a[4] = (c[2] * v) >> 8
    _fill()


@micropython.viper
def _fill():
    d = ptr8(0)  # local 0 (register): walks the panel's RGB bytes
    end = 0  # local 1 (register)
    a = ptr32(_A)
    d = ptr8(a[0])
    end = a[0] + a[1]
    r = a[2]
    g = a[3]
    b = a[4]
    while int(d) != end:
        d[0] = r
        d[1] = g
        d[2] = b
        d = ptr8(int(d) + 3)


@micropython.viper
def ramp(rgb, lut, pos, first: int, count: int, shift: int, v: int):
    # Mapper._sweep / _solid: pixel i in colour (pos[i] + shift) & 255 at brightness v.
    if first < 0 or count < 0 or int(len(rgb)) < 3 * (first + count) or int(len(lut)) < 768 \
            or int(len(pos)) < count:
        raise IndexError("panel outside the frame, or a short palette or position table")
    a = ptr32(_A)
    a[0] = int(ptr8(rgb)) + 3 * first
    a[1] = int(ptr8(lut))
    a[2] = int(ptr8(pos))
    a[3] = count
    a[4] = shift
    a[5] = v
    _ramp()


@micropython.viper
def _ramp():
    d = ptr8(0)  # local 0 (register): walks the panel's RGB bytes
    p = ptr8(0)  # local 1 (register): walks pos
    lut = 0  # local 2
    a = ptr32(_A)
    d = ptr8(a[0])
    lut = a[1]
    p = ptr8(a[2])
    end = a[2] + a[3]
    shift = a[4]
    v = a[5]
    while int(p) != end:
        c = ptr8(lut + 3 * ((p[0] + shift) & 255))
        d[0] = (c[0] * v) >> 8
        d[1] = (c[1] * v) >> 8
        d[2] = (c[2] * v) >> 8
        d = ptr8(int(d) + 3)
        p = ptr8(int(p) + 1)


@micropython.viper
def spectrum(rgb, lut, pos, bands, first: int, count: int):
    # Mapper._spectrum: pixel i in colour pos[i] at brightness bands[pos[i] >> 4] + 1 (bands: 16 bytes).
    if first < 0 or count < 0 or int(len(rgb)) < 3 * (first + count) or int(len(lut)) < 768 \
            or int(len(pos)) < count or int(len(bands)) < 16:
        raise IndexError("panel outside the frame, or a short palette, position or band table")
    a = ptr32(_A)
    a[0] = int(ptr8(rgb)) + 3 * first
    a[1] = int(ptr8(lut))
    a[2] = int(ptr8(pos))
    a[3] = count
    a[4] = int(ptr8(bands))
    _spectrum()


@micropython.viper
def _spectrum():
    d = ptr8(0)  # local 0 (register): walks the panel's RGB bytes
    p = ptr8(0)  # local 1 (register): walks pos
    lut = 0  # local 2
    a = ptr32(_A)
    d = ptr8(a[0])
    lut = a[1]
    p = ptr8(a[2])
    end = a[2] + a[3]
    bands = ptr8(a[4])
    while int(p) != end:
        ci = p[0]
        v = bands[ci >> 4] + 1
        c = ptr8(lut + 3 * ci)
        d[0] = (c[0] * v) >> 8
        d[1] = (c[1] * v) >> 8
        d[2] = (c[2] * v) >> 8
        d = ptr8(int(d) + 3)
        p = ptr8(int(p) + 1)


@micropython.viper
def vu(rgb, lut, pos, first: int, count: int, lit: int, top: int):
    # Mapper._vu's picture: pixel i (x = i << 8) at 256 when x + 256 <= lit, lit - x when x < lit,
    # 200 for the peak dot (i == top > 0), else 0; colour pos[i].
    if first < 0 or count < 0 or int(len(rgb)) < 3 * (first + count) or int(len(lut)) < 768 \
            or int(len(pos)) < count:
        raise IndexError("panel outside the frame, or a short palette or position table")
    a = ptr32(_A)
    a[0] = int(ptr8(rgb)) + 3 * first
    a[1] = int(ptr8(lut))
    a[2] = int(ptr8(pos))
    a[3] = count
    a[4] = lit
    a[5] = top
    _vu()


@micropython.viper
def _vu():
    d = ptr8(0)  # local 0 (register): walks the panel's RGB bytes
    x = 0  # local 1 (register): i << 8
    lut = 0  # local 2
    a = ptr32(_A)
    d = ptr8(a[0])
    lut = a[1]
    p = ptr8(a[2])
    end = a[3] << 8
    lit = a[4]
    dot = a[5] << 8  # x of the peak dot; none when top is 0
    if a[5] <= 0:
        dot = -1
    x = 0
    while x != end:
        if x + 256 <= lit:
            v = 256
        elif x < lit:
            v = lit - x
        elif x == dot:
            v = 200
        else:
            v = 0
        c = ptr8(lut + 3 * p[0])
        d[0] = (c[0] * v) >> 8
        d[1] = (c[1] * v) >> 8
        d[2] = (c[2] * v) >> 8
        d = ptr8(int(d) + 3)
        p = ptr8(int(p) + 1)
        x += 256


@micropython.viper
def fade(lvl, count: int, step: int):
    # Mapper._sparkle's fade: lvl[i] = lvl[i] - step, floored at 0, for i < count (lvl: bytearray).
    if count < 0 or int(len(lvl)) < count:
        raise IndexError("fade past the buffer")
    a = ptr32(_A)
    a[0] = int(ptr8(lvl))
    a[1] = count
    a[2] = step
    _fade()


@micropython.viper
def _fade():
    p = ptr8(0)  # local 0 (register): walks the levels
    v = 0  # local 1 (register)
    a = ptr32(_A)
    p = ptr8(a[0])
    end = a[0] + a[1]
    step = a[2]
    while int(p) != end:
        v = p[0] - step
        if v > 0:
            p[0] = v
        else:
            p[0] = 0
        p = ptr8(int(p) + 1)


@micropython.viper
def paint(rgb, lut, hue, lvl, first: int, count: int):
    # Mapper._sparkle's picture: pixel i in colour hue[i] at brightness lvl[i] (bytearrays).
    if first < 0 or count < 0 or int(len(rgb)) < 3 * (first + count) or int(len(lut)) < 768 \
            or int(len(hue)) < count or int(len(lvl)) < count:
        raise IndexError("panel outside the frame, or a short palette, hue or level table")
    a = ptr32(_A)
    a[0] = int(ptr8(rgb)) + 3 * first
    a[1] = int(ptr8(lut))
    a[2] = int(ptr8(hue))
    a[3] = count
    a[4] = int(ptr8(lvl))
    _paint()


@micropython.viper
def _paint():
    d = ptr8(0)  # local 0 (register): walks the panel's RGB bytes
    p = ptr8(0)  # local 1 (register): walks hue
    lut = 0  # local 2
    a = ptr32(_A)
    d = ptr8(a[0])
    lut = a[1]
    p = ptr8(a[2])
    end = a[2] + a[3]
    q = ptr8(a[4])  # walks lvl
    while int(p) != end:
        v = q[0]
        c = ptr8(lut + 3 * p[0])
        d[0] = (c[0] * v) >> 8
        d[1] = (c[1] * v) >> 8
        d[2] = (c[2] * v) >> 8
        d = ptr8(int(d) + 3)
        p = ptr8(int(p) + 1)
        q = ptr8(int(q) + 1)


@micropython.viper
def ripple(rgb, lut, dist, first: int, count: int, rip, nr: int):
    # Mapper._ripple's pixels: for pixel i at dist[i] mm (array('H')) the brightest of the nr live
    # rings (rip: array('i'), ring k = radius rip[3k], life left rip[3k+1] = 900 - age in 1..900,
    # hue rip[3k+2]), the first on a tie; colour (hue + (dist >> 2)) & 255, black outside every ring.
    if first < 0 or count < 0 or int(len(rgb)) < 3 * (first + count) or int(len(lut)) < 768 \
            or int(len(dist)) < count or nr < 0 or int(len(rip)) < 3 * nr:
        raise IndexError("panel outside the frame, or a short palette, distance or ring table")
    a = ptr32(_A)
    a[0] = int(ptr8(rgb)) + 3 * first
    a[1] = int(ptr8(lut))
    a[2] = int(ptr16(dist))
    a[3] = count
    a[4] = int(ptr32(rip))
    a[5] = nr
    a[6] = int(ptr8(_RING))
    _ripple()


@micropython.viper
def _ripple():
    d = ptr8(0)  # local 0 (register): walks the panel's RGB bytes
    k = ptr32(0)  # local 1 (register): walks the rings
    e = 0  # local 2: distance from the ring
    a = ptr32(_A)
    d = ptr8(a[0])
    lut = a[1]
    p = ptr16(a[2])
    end = a[2] + (a[3] << 1)
    rings = a[4]
    rings_end = rings + 12 * a[5]
    tab = ptr8(a[6])
    mul = 37283  # _DIV225_MUL
    while int(p) != end:
        dd = p[0]
        best = 0
        hue = 0
        k = ptr32(rings)
        while int(k) != rings_end:
            e = dd - k[0]
            if e < 0:
                e = 0 - e
            if e < 70:
                v = (((tab[e] * k[1]) >> 2) * mul) >> 23  # (_RING[e] * life) // 900, see the header
                if v > best:
                    best = v
                    hue = k[2]
            k = ptr32(int(k) + 12)
        if best:
            c = ptr8(lut + 3 * ((hue + (dd >> 2)) & 255))
            d[0] = (c[0] * best) >> 8
            d[1] = (c[1] * best) >> 8
            d[2] = (c[2] * best) >> 8
        else:
            d[0] = 0
            d[1] = 0
            d[2] = 0
        d = ptr8(int(d) + 3)
        p = ptr16(int(p) + 2)
