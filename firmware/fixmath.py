# Integer maths shared by the core: exact sine, log2 and gamma tables and a fixed-point log2.
# Tables are built with integer arithmetic only (big ints at start-up are fine), so they are
# bit-identical on CPython (doubles), the MicroPython VM and the ESP32 (single-precision floats).
from firmware.compat import const

_PI_Q60 = 3622009729038561421  # round(pi * 2**60)
_ONE_Q60 = 1 << 60
_ONE_Q30 = const(1073741824)


def _sin_q60(num, den):
    # sin(pi/2 * num/den) in Q60 for 0 <= num <= den, by its Taylor series on exact ints.
    x = (_PI_Q60 * num + den) // (2 * den)
    x2 = (x * x) >> 60
    term = x
    total = x
    i = 1
    while term:
        term = (term * x2 >> 60) // ((2 * i) * (2 * i + 1))
        if i & 1:
            total -= term
        else:
            total += term
        i += 1
    return total


def quarter_sine(quarter, scale):
    # round(scale * sin(pi/2 * k/quarter)) for k = 0..quarter (quarter + 1 entries), as a list.
    out = []
    for k in range(quarter + 1):
        out.append((_sin_q60(k, quarter) * scale + (_ONE_Q60 >> 1)) >> 60)
    return out


def cos_sin(k, n, qsin):
    # (cos, sin) of 2*pi*k/n from a quarter-wave table qsin with n//4 + 1 entries.
    q = n >> 2
    k = k % n
    quad = k // q
    r = k - quad * q
    s = qsin[r]
    c = qsin[q - r]
    if quad == 0:
        return c, s
    if quad == 1:
        return -s, c
    if quad == 2:
        return -c, -s
    return s, -c


def _log2_frac_q20(m_q30):
    # log2(m) in Q20 for 1 <= m < 2 given in Q30, by repeated squaring (one bit per step).
    y = 0
    z = m_q30
    for b in range(20):
        z = (z * z) >> 30
        if z >= (2 << 30):
            z >>= 1
            y |= 1 << (19 - b)
    return y


# LOG2_Q8[i] = round(256 * log2(1 + i/256)), i = 0..255: every entry is 0..255, so a bytearray
# (256 bytes of heap, not 514 as an array('H')).
LOG2_Q8 = bytearray(256)
for _i in range(256):
    LOG2_Q8[_i] = (_log2_frac_q20(_ONE_Q30 + (_i << 22)) + 2048) >> 12


def log2_q8(v):
    # round-ish 256 * log2(v) for 1 <= v < 2**30, integer only; 0 for v <= 0 (callers treat 0 as empty).
    if v <= 0:
        return 0
    e = 0
    if v >= 65536:
        v2 = v >> 16
        e = 16
    else:
        v2 = v
    if v2 >= 256:
        v2 >>= 8
        e += 8
    if v2 >= 16:
        v2 >>= 4
        e += 4
    if v2 >= 4:
        v2 >>= 2
        e += 2
    if v2 >= 2:
        e += 1
    # now 2**e <= v < 2**(e+1); bring v to 9 bits [256, 512) with rounding
    if e > 8:
        s = e - 8
        m = (v + (1 << (s - 1))) >> s
        if m >= 512:
            m >>= 1
            e += 1
    else:
        m = v << (8 - e)
    return (e << 8) + LOG2_Q8[m - 256]


def gamma_table(gamma10, out=None):
    # out[x] = round(255 * (x/255) ** (gamma10/10)) for x = 0..255, in exact integer arithmetic:
    # y is the largest y' with (y' - 1/2)**10 <= 255**10 * (x/255)**g, i.e.
    # (2y'-1)**10 * 255**(g-10) <= 2**10 * x**g  (powers of 255 moved to keep exponents >= 0).
    if out is None:
        out = bytearray(256)
    g = gamma10
    lscale = 255 ** (g - 10) if g > 10 else 1
    rscale = 255 ** (10 - g) if g < 10 else 1
    for x in range(256):
        rhs = 1024 * x**g * rscale
        lo = 0
        hi = 255
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if (2 * mid - 1) ** 10 * lscale <= rhs:
                lo = mid
            else:
                hi = mid - 1
        out[x] = lo
    return out
