# Viper twin of RealFFT.run (firmware/fft.py): bit reversal, radix-2 stages and real split, same integers.
# Why: the FFT runs every hop. 512 points on the 32-bit x86 unix port: bytecode ~900 us, this 9.7 us, C 5.3 us.
#
#   shifts = run(d, tw, sp, sw, n, nsw, bound)
#
# does to d (RealFFT.data, array('i') of n ints) exactly what RealFFT(n).run(bound) does, given
# tw = .tw, sp = .split_tw, sw = .swaps, nsw = len(.swaps), and returns the same block exponent
# (the caller keeps it in .exponent). Bit-identical: tests/test_fft_viper.py runs it in a CPython
# simulation of viper (tests/viper_sim.py) and on a 32-bit MicroPython unix port, against fft.py.
# Import it optionally: the WebAssembly VM (no native emitter) rejects the file with SyntaxError when
# compiling it, CPython gets ImportError from the guard below. No allocation; not reentrant (_ARGS).
#
# Machine facts this relies on (DESIGN.md section 3):
# - viper ints are 32-bit words that wrap. Nothing wraps here for valid input (an honest `bound`,
#   i.e. >= the OR of v ^ (v >> 31) over d, and any int32 data): the bounds fft.py argues are
#   restated beside each step, and every data intermediate stays below 2**30 as there. The one
#   deliberate wrap is the sign extension (w << 16) >> 16, marked "intended wrap".
# - a twiddle table (array('h') of interleaved pairs) is read one pair per 32-bit word: low half =
#   first entry, high half = second (little-endian, as on every native-emitter target; checked
#   below). Word loads are signed, so w >> 16 is the second entry already sign-extended and
#   (w << 16) >> 16 the first. Whole arrays are heap blocks, hence 4-byte aligned.
# - ptr16 loads are unsigned: right for the bit-reversal indices (0..m-1).
# - only the first locals of a function live in registers (2 in an .mpy from mpy-cross, 3 when the
#   board compiles the source) and a function with more arguments than that gives one up. So run()
#   only parks its arguments in _ARGS and calls _fft(), which takes none and declares its hottest
#   locals first: p (the butterfly pointer), x (the value just stored), bound. On the unix port this
#   took the transform from 18.4 us (everything in run(), arguments in the registers) to 11.5 us.
# - no `-x` (up to 1.28 it overwrites x), no // or % (helper calls), no default arguments.
#
# Addresses are ints (int(ptr) and ptr32(int) are free casts), so every access is a constant offset
# from a pointer (p[0], p[1], ...), and loops end on `!=` against an end address: right whether the
# heap lies above or below 2**31, where signed comparisons of addresses would not be.
import micropython
import sys
from array import array

if sys.implementation.name != "micropython" or sys.byteorder != "little":
    raise ImportError("fft_viper needs MicroPython's viper emitter on a little-endian machine")

# run()'s arguments for _fft(): data address, tw address, split_tw address, swaps address, n, nsw, bound
_ARGS = array("i", [0] * 7)


@micropython.viper
def run(d, tw, sp, sw, n: int, nsw: int, bound: int) -> int:
    a = ptr32(_ARGS)
    a[0] = int(ptr32(d))
    a[1] = int(ptr32(tw))
    a[2] = int(ptr32(sp))
    a[3] = int(ptr16(sw))
    a[4] = n
    a[5] = nsw
    a[6] = bound
    return int(_fft())


@micropython.viper
def _fft() -> int:
    p = ptr32(0)  # local 0 (register): the butterfly pointer
    x = 0  # local 1 (register): the value being stored, OR-ed into bound
    bound = 0  # local 2 (register when the device compiles the source)
    a = ptr32(_ARGS)
    base = a[0]
    bound = a[6]
    n = a[4]
    m = n >> 1
    end = base + (n << 2)

    # Bit reversal: swap complex points sw[2k] and sw[2k + 1] (8 bytes each), k < nsw / 2.
    s = ptr16(a[3])
    k = a[5] >> 1
    while k > 0:
        k -= 1
        p = ptr32(base + (s[0] << 3))
        q = ptr32(base + (s[1] << 3))
        x = p[0]
        p[0] = q[0]
        q[0] = x
        x = p[1]
        p[1] = q[1]
        q[1] = x
        s = ptr16(int(s) + 4)

    # Stages, size = 2, 4, ..., m ints between the two points of a butterfly (fft.py's `size`);
    # one more round (size = n) applies the split's shift. Each round first brings the OR-bound
    # below the limit with a rounded shift of all data (fft.py's bound_shift and shift_all).
    shifts = 0
    size = 2
    limit = 32768
    tw = a[1]
    # Stages 1 and 2 have only the twiddles 1 and -j; their special loops rely on the table holding
    # them exactly, (16384, 0) and (0, -16384) (fft.py's cos_sin does): checked, else general loops.
    t = ptr32(tw)
    fast = t[0] == 16384 and (t[m >> 2] >> 16) == 0 - 16384 and (t[m >> 2] & 65535) == 0
    tstep = m << 1  # bytes from one used twiddle to the next at size 2: (m/2 pairs) * 4 bytes
    while size <= n:
        if size > m:
            limit = 8192
        sh = 0
        while bound >= limit:
            bound >>= 1
            sh += 1
        if sh:
            shifts += sh
            p = ptr32(base)
            if sh == 1:  # the usual case; then |v| < 65536, so v + 1 cannot wrap
                while int(p) != end:
                    p[0] = (p[0] + 1) >> 1
                    p[1] = (p[1] + 1) >> 1
                    p[2] = (p[2] + 1) >> 1
                    p[3] = (p[3] + 1) >> 1
                    p[4] = (p[4] + 1) >> 1
                    p[5] = (p[5] + 1) >> 1
                    p[6] = (p[6] + 1) >> 1
                    p[7] = (p[7] + 1) >> 1
                    p = ptr32(int(p) + 32)
            else:
                # (v + 2**(sh-1)) >> sh computed as ((v >> (sh-1)) + 1) >> 1: the same integer
                # (floor division identity), without the add that could wrap for |v| near 2**31
                sh -= 1
                while int(p) != end:
                    p[0] = ((p[0] >> sh) + 1) >> 1
                    p[1] = ((p[1] >> sh) + 1) >> 1
                    p[2] = ((p[2] >> sh) + 1) >> 1
                    p[3] = ((p[3] >> sh) + 1) >> 1
                    p = ptr32(int(p) + 16)
        if size > m:
            break
        # Every value now has v ^ (v >> 31) < 32768, so |v| <= 32768; a butterfly output is at
        # most 32768 + 32768 * sqrt(2) < 2**17 and the twiddle sums below stay under 7.6e8 < 2**30.
        bound = 0
        if size == 2 and fast:
            # twiddle 1: t = b exactly ((b * 16384 + 8192) >> 14 == b)
            p = ptr32(base)
            while int(p) != end:
                ar = p[0]
                br = p[2]
                x = ar + br
                p[0] = x
                bound = ((x >> 31) ^ x) | bound
                x = ar - br
                p[2] = x
                bound = ((x >> 31) ^ x) | bound
                ar = p[1]
                br = p[3]
                x = ar + br
                p[1] = x
                bound = ((x >> 31) ^ x) | bound
                x = ar - br
                p[3] = x
                bound = ((x >> 31) ^ x) | bound
                p = ptr32(int(p) + 16)
        elif size == 4 and fast:
            # twiddles 1 and -j: for w = (0, -16384), t = (bi, -br) exactly
            # ((bi * 16384 + 8192) >> 14 == bi, (-br * 16384 + 8192) >> 14 == -br)
            p = ptr32(base)
            while int(p) != end:
                ar = p[0]
                br = p[4]
                x = ar + br
                p[0] = x
                bound = ((x >> 31) ^ x) | bound
                x = ar - br
                p[4] = x
                bound = ((x >> 31) ^ x) | bound
                ar = p[1]
                br = p[5]
                x = ar + br
                p[1] = x
                bound = ((x >> 31) ^ x) | bound
                x = ar - br
                p[5] = x
                bound = ((x >> 31) ^ x) | bound
                # second butterfly, w = -j: a + t = (ar + bi, ai - br), a - t = (ar - bi, ai + br)
                ar = p[2]
                ai = p[3]
                br = p[6]
                bi = p[7]
                x = ar + bi
                p[2] = x
                bound = ((x >> 31) ^ x) | bound
                x = ai - br
                p[3] = x
                bound = ((x >> 31) ^ x) | bound
                x = ar - bi
                p[6] = x
                bound = ((x >> 31) ^ x) | bound
                x = ai + br
                p[7] = x
                bound = ((x >> 31) ^ x) | bound
                p = ptr32(int(p) + 32)
        else:
            sb = size << 2  # bytes from a to b
            if size * size > n << 4:
                # Late stages (over 16 twiddles per group: size**2 / n of them): the twiddle loop
                # inside, a group at a time, so loop set-up is paid per group, not per twiddle.
                p = ptr32(base)
                while int(p) != end:
                    pend = int(p) + sb
                    t = ptr32(tw)
                    while int(p) != pend:
                        x = t[0]
                        wr = (x << 16) >> 16  # intended wrap: sign extension of the low half
                        wi = x >> 16
                        q = ptr32(int(p) + sb)
                        x = q[0]  # br, in a register for the two products
                        bi = q[1]
                        tr = (x * wr - bi * wi + 8192) >> 14
                        ti = (x * wi + bi * wr + 8192) >> 14
                        x = p[0] - tr
                        q[0] = x
                        bound = ((x >> 31) ^ x) | bound
                        x = p[1] - ti
                        q[1] = x
                        bound = ((x >> 31) ^ x) | bound
                        x = p[0] + tr
                        p[0] = x
                        bound = ((x >> 31) ^ x) | bound
                        x = p[1] + ti
                        p[1] = x
                        bound = ((x >> 31) ^ x) | bound
                        p = ptr32(int(p) + 8)
                        t = ptr32(int(t) + tstep)
                    p = ptr32(int(p) + sb)
            else:
                # Early stages: one twiddle at a time, all its groups (fft.py's loop order).
                span = size << 3  # bytes from one group to the next
                ja = base
                t = ptr32(tw)
                while ja != base + sb:
                    x = t[0]
                    wr = (x << 16) >> 16  # intended wrap: sign extension of the low half
                    wi = x >> 16
                    p = ptr32(ja)
                    pend = ja + (n << 2)
                    while int(p) != pend:
                        q = ptr32(int(p) + sb)
                        x = q[0]
                        bi = q[1]
                        tr = (x * wr - bi * wi + 8192) >> 14
                        ti = (x * wi + bi * wr + 8192) >> 14
                        x = p[0] - tr
                        q[0] = x
                        bound = ((x >> 31) ^ x) | bound
                        x = p[1] - ti
                        q[1] = x
                        bound = ((x >> 31) ^ x) | bound
                        x = p[0] + tr
                        p[0] = x
                        bound = ((x >> 31) ^ x) | bound
                        x = p[1] + ti
                        p[1] = x
                        bound = ((x >> 31) ^ x) | bound
                        p = ptr32(int(p) + span)
                    ja += 8
                    t = ptr32(int(t) + tstep)
        size <<= 1
        tstep >>= 1

    # Split (fft.py's _split): values are now below 8192 in magnitude, so E, D < 16384, E << 14 <
    # 2**28, each twiddled sum < 16384 * 16384 * sqrt(2) < 3.8e8 and every sum below < 2**30.
    p = ptr32(base + 8)  # bin k = 1
    q = ptr32(base + ((m - 1) << 3))  # bin m - k
    t = ptr32(a[2] + 4)  # split twiddle k = 1: (cos, sin)
    while int(p) != int(q):
        x = p[0]  # ar
        br = q[0]
        er = ((x + br) << 14) + 16384  # E.re << 14, plus the rounding constant of both bins
        dr = x - br
        x = p[1]  # ai
        bi = q[1]
        ei = (x - bi) << 14
        di = x + bi
        x = t[0]
        c = (x << 16) >> 16  # intended wrap: sign extension of the low half
        x = x >> 16  # s
        ti = 16384 - c * dr - x * di  # 16384 - fft.py's q
        x = c * di - x * dr  # fft.py's p
        p[0] = (er + x) >> 15
        q[0] = (er - x) >> 15
        p[1] = (ti + ei) >> 15
        q[1] = (ti - ei) >> 15
        p = ptr32(int(p) + 8)
        q = ptr32(int(q) - 8)
        t = ptr32(int(t) + 4)
    # k = m/2 (a == b): E = (2 ar, 0), D = (0, 2 ai)
    di = p[1] << 1
    x = t[0]
    c = (x << 16) >> 16  # intended wrap: sign extension of the low half
    x = x >> 16  # s
    p[1] = (16384 - x * di) >> 15
    p[0] = ((p[0] << 15) + c * di + 16384) >> 15
    p = ptr32(base)
    p[0] = 0
    p[1] = 0
    return shifts
