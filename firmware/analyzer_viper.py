# Viper twins of the Analyzer's per-level loops (firmware/analyzer.py): floor, gain and smoothing, and the
# voice guard's scaling of the smoothed levels. Same integers; tests/test_analyzer_viper.py checks them.
#
#   dynamics(lv, floor, peak, hold, under, sm, prm, n)   # Analyzer._dynamics' loop over levels 0..n-1
#   shade(sm, out, n, v)                          # out[b] = (sm[b] * v) >> 8 for b < n (update()'s bands)
#
# lv: band levels (array('h'), Q8 log2); floor, peak: array('i') (Q12); hold, under, sm: array('h'); out:
# a bytearray. prm: array('i') of the per-hop constants Analyzer.configure derives, in this order:
# gate, floor_rise, fall (= floor_rise * _FALL_RATIO), release, span, span_inv, rise, decay, hold_hops,
# drop_hops, dark_release (= release * _DARK_RELEASE).
# The `silent` flag after the loop stays in bytecode. The kernels check their arrays' lengths
# (IndexError, as the bytecode's lookups would raise) since a pointer would write past them. No
# allocation; not reentrant (the _A argument block). Import optionally, like fft_viper: CPython gets
# ImportError from the guard, the WebAssembly VM (no native emitter) a SyntaxError.
#
# Why no 32-bit viper int wraps (analyzer.py's own bounds, restated; nothing is marked but the sign
# extensions): levels are int16, so |x| = |lv << 4| < 2**20; the floor moves towards x by at most
# fall (or jumps to x) and settles within [min x - fall, max x + floor_rise], the peak within floor +
# gate + span and max x (the dark release stops at x too), and every constant (gate, span: dB x 1361
# for dB < 2**8; floor_rise, fall, release and dark_release = 4 * release: per-hop steps of such) is
# below 2**20, so |fl|, |pk|, top = fl + gate + span and x - fl stay below 2**23; under counts up to
# drop_hops < 2**15; e * inv < span * (255 << 16) / span < 2**24 (e < span); (v - o) * rise with
# |v - o| < 2**9 and rise, decay 0..256 is below 2**17. shade: sm (0..255) * v (0..256) < 2**16. The int16 arrays are
# read through ptr16 (unsigned) and sign-extended with (w << 16) >> 16 ("intended wrap"); stores keep
# the low 16 bits, as MicroPython's array('h') stores do.
#
# Viper facts used (fft_viper.py's header): only the first 2-3 locals get registers, so dynamics
# parks its arguments in _A and calls a worker that takes none and declares its hottest locals first;
# addresses are walked as ints and loops end on != (right whatever the sign of an address).
import micropython
import sys
from array import array

if sys.implementation.name != "micropython" or sys.byteorder != "little":
    raise ImportError("analyzer_viper needs MicroPython's viper emitter on a little-endian machine")

# dynamics()'s arguments for _dynamics(): lv, floor, peak, hold, under, sm, prm addresses and n
_A = array("i", [0] * 8)


@micropython.viper
def dynamics(lv, floor, peak, hold, under, sm, prm, n: int):
    if n < 0 or int(len(lv)) < n or int(len(floor)) < n or int(len(peak)) < n or int(len(hold)) < n \
            or int(len(under)) < n or int(len(sm)) < n or int(len(prm)) < 11:
        raise IndexError("level arrays shorter than the levels")
    a = ptr32(_A)
    a[0] = int(ptr16(lv))
    a[1] = int(ptr32(floor))
    a[2] = int(ptr32(peak))
    a[3] = int(ptr16(hold))
    a[4] = int(ptr16(under))
    a[5] = int(ptr16(sm))
    a[6] = int(ptr32(prm))
    a[7] = n
    _dynamics()


@micropython.viper
def _dynamics():
    x = 0  # local 0 (register): the level, Q12
    fl = 0  # local 1 (register): its floor
    pk = 0  # local 2: its peak
    a = ptr32(_A)
    lv = ptr16(a[0])
    floor = ptr32(a[1])
    peak = ptr32(a[2])
    hold = ptr16(a[3])
    under = ptr16(a[4])
    sm = ptr16(a[5])
    c = ptr32(a[6])
    gate = c[0]
    rise_f = c[1]
    fall_f = c[2]
    release = c[3]
    span = c[4]
    inv = c[5]
    rise = c[6]
    decay = c[7]
    hold_hops = c[8]
    drop_hops = c[9]
    dark_release = c[10]
    end = a[0] + (a[7] << 1)
    while int(lv) != end:
        x = (lv[0] << 16) >> 12  # intended wrap: the int16 level sign-extended, times 16 (Q12)
        fl = floor[0]
        if x < fl:
            u = ((under[0] << 16) >> 16) + 1  # intended wrap: sign extension of the int16 count
            if u >= drop_hops:  # under it for _DROP_MS: the sound has dropped, start again from here
                fl = x
                u = 0
            else:
                fl -= fall_f
                if fl < x:
                    fl = x
            under[0] = u
        else:
            under[0] = 0
            fl += rise_f
        floor[0] = fl
        # gain: the top `agc_range` dB under the band's recent peak map to 0..255
        pk = peak[0]
        if x >= pk:
            pk = x
            hold[0] = hold_hops
        else:
            h = (hold[0] << 16) >> 16  # intended wrap: sign extension of the int16 hold count
            if h > 0:
                hold[0] = h - 1
            else:
                if x + span >= pk:
                    pk -= release
                else:  # dark (more than span under the peak): the faster release
                    pk -= dark_release
                if pk < x:
                    pk = x
        top = fl + gate + span
        if pk < top:
            pk = top
        peak[0] = pk
        if x - fl <= gate:
            v = 0
        else:
            e = pk - x
            if e >= span:
                v = 0
            else:
                v = 255 - ((e * inv) >> 16)
        o = (sm[0] << 16) >> 16  # intended wrap: sign extension of the int16 smoothed value
        if v > o:
            o += ((v - o) * rise + 255) >> 8
        else:
            o -= ((o - v) * decay + 255) >> 8
        sm[0] = o
        lv = ptr16(int(lv) + 2)
        floor = ptr32(int(floor) + 4)
        peak = ptr32(int(peak) + 4)
        hold = ptr16(int(hold) + 2)
        under = ptr16(int(under) + 2)
        sm = ptr16(int(sm) + 2)


@micropython.viper
def shade(sm, out, n: int, v: int):
    # update()'s scaling by the voice guard: out[b] = (sm[b] * v) >> 8 for b < n (sm: array('h')).
    if n < 0 or int(len(sm)) < n or int(len(out)) < n:
        raise IndexError("shade past an array")
    d = ptr8(out)
    s = ptr16(sm)
    end = int(d) + n
    while int(d) != end:
        x = (s[0] << 16) >> 16  # intended wrap: sign extension of the int16 value
        d[0] = (x * v) >> 8
        s = ptr16(int(s) + 2)
        d = ptr8(int(d) + 1)
