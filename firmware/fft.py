# Fixed-point real FFT with block-floating-point scaling (sizes 256, 512, 1024).
# A real frame of n samples is packed as n/2 complex points (even = re, odd = im), run through an
# in-place radix-2 FFT, then split into the n/2 bins of the real spectrum. Integer-only, no
# allocation per call; every intermediate stays below 2**30 (argued beside each step), so the
# ESP32's 31-bit small ints never promote to heap-allocated long ints.
from array import array
from firmware.compat import const
from firmware.fixmath import quarter_sine, cos_sin

try:  # viper kernels where MicroPython has a native emitter (ESP32, unix port): same integers, ~90x faster
    from firmware import fft_viper as _viper
except (ImportError, SyntaxError, ValueError):  # CPython, the WebAssembly VM (no viper), .mpy of another arch
    _viper = None  # type: ignore[assignment]

_TW_ONE = const(16384)  # twiddles are Q14: |w| <= 16384
_STAGE_LIMIT = const(32768)  # data enter a stage below this; a butterfly grows it at most 1+sqrt(2)
_SPLIT_LIMIT = const(8192)  # data enter the split below this; it grows at most 1+sqrt(2)


def bound_shift(bound, limit):
    # Right shift that brings an OR-bound of |values| below limit (limit a power of two).
    sh = 0
    while bound >= limit:
        bound >>= 1
        sh += 1
    return sh


def analysis_window(n, fall):
    # Q15 window (peak clamped to 32767), oldest sample first: a raised-cosine rise over the first
    # n - fall samples and a raised-cosine fall over the last `fall`. fall = n/2 is the Hann window.
    # Both halves hold 3/8 of their length in sum of squares and 1/2 in sum, so a sine reads the same
    # level under any fall (spectrum.reference_q8). fall and n - fall must be even (quarter-wave tables).
    rise = n - fall
    if fall < 2 or rise < 2 or fall & 1 or rise & 1:
        raise ValueError("window fall must be even, 2..n-2")
    win = array("h", [0] * n)
    qs = quarter_sine(rise >> 1, 32768)
    for i in range(rise):
        v = (32768 - cos_sin(i, rise << 1, qs)[0]) >> 1
        win[i] = 32767 if v > 32767 else v
    qs = quarter_sine(fall >> 1, 32768)
    for j in range(fall):
        v = (32768 + cos_sin(j, fall << 1, qs)[0]) >> 1
        win[rise + j] = 32767 if v > 32767 else v
    return win


class RealFFT:
    def __init__(self, n, fall=None):
        if n not in (256, 512, 1024):
            raise ValueError("fft size must be 256, 512 or 1024")
        self.n = n
        m = n >> 1
        self.m = m
        stages = 0
        while (1 << stages) < m:
            stages += 1
        self.stages = stages
        qsin = quarter_sine(n >> 2, _TW_ONE)
        # complex twiddles W_m^k = exp(-2j*pi*k/m), k < m/2, interleaved (cos, -sin), Q14
        tw = array("h", [0] * m)
        for k in range(m >> 1):
            c, s = cos_sin(2 * k, n, qsin)
            tw[2 * k] = c
            tw[2 * k + 1] = -s
        self.tw = tw
        # split twiddles for W_n^k, k = 0..m/2: (cos, sin), Q14
        sp = array("h", [0] * (m + 2))
        for k in range((m >> 1) + 1):
            c, s = cos_sin(k, n, qsin)
            sp[2 * k] = c
            sp[2 * k + 1] = s
        self.split_tw = sp
        # bit-reversal swaps of complex indices (i < j), flattened
        swaps = []
        for i in range(m):
            j = 0
            x = i
            for _ in range(stages):
                j = (j << 1) | (x & 1)
                x >>= 1
            if i < j:
                swaps.append(i)
                swaps.append(j)
        self.swaps = array("H", swaps)
        # The analysis window: Hann (fall n/2) as shipped. A fall over the newest quarter (n/4) weighs
        # the newest samples more and is a measured lead (ARCHITECTURE, "Window"), not yet shipped: the
        # kick model must be retrained for it (bench/train_detector.py).
        self.fall = n >> 1 if fall is None else fall
        self.window = analysis_window(n, self.fall)
        self.data = array("i", [0] * n)  # the work buffer: fill with windowed samples, then run()
        self.exponent = 0  # block exponent of the last run (see run())

    def run(self, bound):
        # Transform self.data in place. `bound` is an OR-bound of |data| (see or_bound).
        # On return data[2k], data[2k+1] hold X[k] * 2**-shifts for bins k = 1..m-1 (data[0:2]
        # is zeroed), every component below 19,777 so re*re + im*im < 2**30.
        # Returns the number of right shifts applied (the block exponent, also kept in .exponent).
        if _viper is not None:
            self.exponent = _viper.run(self.data, self.tw, self.split_tw, self.swaps, self.n, len(self.swaps), bound)
            return self.exponent
        d = self.data
        n = self.n
        sw = self.swaps
        for t in range(0, len(sw), 2):
            a = sw[t] << 1
            b = sw[t + 1] << 1
            x = d[a]
            d[a] = d[b]
            d[b] = x
            x = d[a + 1]
            d[a + 1] = d[b + 1]
            d[b + 1] = x
        shifts = 0
        tw = self.tw
        size = 2
        step = self.m >> 1  # twiddle stride in complex entries
        while size <= self.m:
            sh = bound_shift(bound, _STAGE_LIMIT)
            if sh:
                shift_all(d, n, sh)
                shifts += sh
            bound = 0
            half = size >> 1
            span = size << 1  # in ints
            for j in range(half):
                wr = tw[2 * j * step]
                wi = tw[2 * j * step + 1]
                a = j << 1
                while a < n:  # not range(..., span): a variable step allocates a range object
                    b = a + size
                    br = d[b]
                    bi = d[b + 1]
                    # |br|,|bi| <= 32768 and |w| <= 16384 with |w| = 1: the sum of the two
                    # products is at most 32768 * 16384 * sqrt(2) < 7.6e8 < 2**30
                    tr = (br * wr - bi * wi + 8192) >> 14
                    ti = (br * wi + bi * wr + 8192) >> 14
                    ar = d[a]
                    ai = d[a + 1]
                    x = ar + tr
                    d[a] = x
                    bound |= x ^ (x >> 31)
                    x = ai + ti
                    d[a + 1] = x
                    bound |= x ^ (x >> 31)
                    x = ar - tr
                    d[b] = x
                    bound |= x ^ (x >> 31)
                    x = ai - ti
                    d[b + 1] = x
                    bound |= x ^ (x >> 31)
                    a += span
            size <<= 1
            step >>= 1
        sh = bound_shift(bound, _SPLIT_LIMIT)
        if sh:
            shift_all(d, n, sh)
            shifts += sh
        self._split()
        self.exponent = shifts
        return shifts

    def _split(self):
        # Untangle the n/2-point complex FFT Z of the packed real frame into the real spectrum:
        # X[k] = (E + W^k (-j D)) / 2, E = Z[k] + conj(Z[m-k]), D = Z[k] - conj(Z[m-k]).
        # |Z| components < 8192, so |E|,|D| < 16384: E << 14 < 2**28, each twiddled sum
        # < 16384 * 16384 * sqrt(2) < 3.8e8, their sum < 2**30; each X component is below
        # 8192 * (1 + sqrt(2)) = 19,777, so re*re + im*im < 7.9e8 < 2**30.
        d = self.data
        sp = self.split_tw
        m = self.m
        for k in range(1, (m >> 1) + 1):
            a = k << 1
            b = (m - k) << 1
            ar = d[a]
            ai = d[a + 1]
            br = d[b]
            bi = d[b + 1]
            er = (ar + br) << 14
            ei = (ai - bi) << 14
            dr = ar - br
            di = ai + bi
            c = sp[a]
            s = sp[a + 1]
            p = c * di - s * dr
            q = c * dr + s * di
            d[a] = (er + p + 16384) >> 15
            d[a + 1] = (ei - q + 16384) >> 15
            if b != a:
                # W^(m-k) = -conj(W^k), so bin m-k reuses p and q
                d[b] = (er - p + 16384) >> 15
                d[b + 1] = (16384 - ei - q) >> 15
        d[0] = 0
        d[1] = 0


def shift_all(d, n, sh):
    # Rounded arithmetic right shift of d[0:n] by sh >= 1 (rounding keeps the error unbiased).
    r = 1 << (sh - 1)
    for i in range(n):
        d[i] = (d[i] + r) >> sh


def or_bound(values, start, stop):
    # OR of |v| (as v ^ (v >> 31)) over values[start:stop]: the highest bit of the largest magnitude.
    b = 0
    for i in range(start, stop):
        v = values[i]
        b |= v ^ (v >> 31)
    return b
