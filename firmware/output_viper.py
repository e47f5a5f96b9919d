# Viper twins of Output's per-pixel loops (firmware/output.py): one panel's packing, and the limiter's scale pass.
# Same bytes and sums as the bytecode; tests/test_output_viper.py checks them in simulation and on the unix port.
#
#   total += show(rgb, lut, buf, first, count, ro, go, bo, bpp)   # one panel of Output.show
#   total += scale(buf, n, s)                                     # one panel of Output.limit's pass
#
# show packs pixels first .. first+count-1 of the RGB frame (bytearray, 3 bytes a pixel) through the
# 256-byte gamma x brightness lut into buf at byte offsets ro, go, bo of each bpp-byte pixel (bpp 4:
# RGBW, the white min(r, g, b) taken out of r, g, b and stored at offset 3) and returns the channel
# sum, as the loop body in Output.show does. scale sets buf[i] = (buf[i] * s) >> 8 for i < n and
# returns the sum of the new bytes. Both check their buffers' lengths (raising IndexError, where the
# bytecode would too) since a pointer would write past them. No allocation; not reentrant (_A).
# Import optionally, like fft_viper: CPython gets ImportError, the WebAssembly VM a SyntaxError.
#
# No 32-bit wrap: bytes are 0..255, a panel's channel sum is < count * 4 * 255 (2048 px: < 2.1e6),
# and s < 256 in the limiter (Output.limit's Q8 scale), so buf[i] * s < 2**16.
# Viper facts used (fft_viper.py's header): only the first 2-3 locals get registers, so show parks
# its nine arguments in _A and calls a worker that takes none; addresses are walked as ints and loops
# end on != (right whatever the sign of an address).
import micropython
import sys
from array import array

if sys.implementation.name != "micropython":
    raise ImportError("output_viper needs MicroPython's viper emitter")

# show()'s arguments for _show(): rgb address (at the panel's first pixel), lut, buf, count, ro, go, bo, bpp
_A = array("i", [0] * 8)


@micropython.viper
def show(rgb, lut, buf, first: int, count: int, ro: int, go: int, bo: int, bpp: int) -> int:
    if first < 0 or count < 0 or int(len(rgb)) < 3 * (first + count) or int(len(buf)) < bpp * count:
        raise IndexError("panel outside the frame or its buffer")
    a = ptr32(_A)
    a[0] = int(ptr8(rgb)) + 3 * first
    a[1] = int(ptr8(lut))
    a[2] = int(ptr8(buf))
    a[3] = count
    a[4] = ro
    a[5] = go
    a[6] = bo
    a[7] = bpp
    if bpp == 4:
        return int(_show_rgbw())
    return int(_show())


@micropython.viper
def _show() -> int:
    s = ptr8(0)  # local 0 (register): walks the RGB frame
    d = ptr8(0)  # local 1 (register): walks the panel's buffer
    lut = ptr8(0)  # local 2
    a = ptr32(_A)
    s = ptr8(a[0])
    lut = ptr8(a[1])
    d = ptr8(a[2])
    end = a[0] + 3 * a[3]
    ro = a[4]
    go = a[5]
    bo = a[6]
    step = a[7]
    total = 0
    while int(s) != end:
        v = lut[s[0]]
        d[ro] = v
        total += v
        v = lut[s[1]]
        d[go] = v
        total += v
        v = lut[s[2]]
        d[bo] = v
        total += v
        s = ptr8(int(s) + 3)
        d = ptr8(int(d) + step)
    return total


@micropython.viper
def _show_rgbw() -> int:
    s = ptr8(0)  # local 0 (register): walks the RGB frame
    d = ptr8(0)  # local 1 (register): walks the panel's buffer
    lut = ptr8(0)  # local 2
    a = ptr32(_A)
    s = ptr8(a[0])
    lut = ptr8(a[1])
    d = ptr8(a[2])
    end = a[0] + 3 * a[3]
    ro = a[4]
    go = a[5]
    bo = a[6]
    total = 0
    while int(s) != end:
        r = lut[s[0]]
        g = lut[s[1]]
        b = lut[s[2]]
        w = r
        if g < w:
            w = g
        if b < w:
            w = b
        d[3] = w
        d[ro] = r - w
        d[go] = g - w
        d[bo] = b - w
        # (r - w) + (g - w) + (b - w) + w
        total += r + g + b - (w << 1)
        s = ptr8(int(s) + 3)
        d = ptr8(int(d) + 4)
    return total


@micropython.viper
def scale(buf, n: int, s: int) -> int:
    # Output.limit's pass over one panel: buf[i] = (buf[i] * s) >> 8 for i < n; returns the new sum.
    if n < 0 or int(len(buf)) < n:
        raise IndexError("scale past the buffer")
    p = ptr8(buf)
    end = int(p) + n
    total = 0
    while int(p) != end:
        v = (p[0] * s) >> 8
        p[0] = v
        total += v
        p = ptr8(int(p) + 1)
    return total
