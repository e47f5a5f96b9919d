# The analysis front end: audio hops in, band levels out (DC removal, overlapping frames,
# normalising window, fixed-point FFT, band energies as integer log2 levels).
# Levels are Q8 log2 of band energy relative to a full-scale sine: 256 = 3.01 dB, 0 = 0 dBFS.
from array import array
from firmware.compat import const
from firmware.fft import RealFFT
from firmware.fixmath import cos_sin, log2_q8, quarter_sine

try:  # viper twins of the per-hop loops where MicroPython has a native emitter: same integers
    from firmware import spectrum_viper as _viper
except (ImportError, SyntaxError, ValueError):  # CPython, the WebAssembly VM (no viper), .mpy of another arch
    _viper = None  # type: ignore[assignment]

LEVEL_MIN = const(-12800)  # -150 dB: the level of an empty band
_ACC_LIMIT = const(268435456)  # 2**28: band accumulators halve above this (bin power < 7.9e8)
_DC_BINS = const(9)  # dc_leak looks at bins 2..8: past them the window's DC response is under -50 dB
_DC_MIN = const(8)  # Q14: a bin's DC response under this (-66 dB) is left alone

# 16 log-spaced band edges in Hz (17 edges): bass, low-mid, ... treble
BAND_EDGES_HZ = (40, 63, 90, 125, 160, 220, 300, 420, 580, 800, 1100, 1500, 2100, 2900, 4000, 5500, 8000)
N_BANDS = const(16)
# extra sums after the 16 bands: bass, mid, treble, level (whole range)
BASS = const(16)
MID = const(17)
TREBLE = const(18)
LEVEL = const(19)
N_LEVELS = const(20)


def hz_to_bin(hz, n, fs):
    # Nearest FFT bin of a frequency, clamped to 2..n/2 (DC leaks into bins 0 and 1).
    k = (hz * n + (fs >> 1)) // fs
    if k < 2:
        return 2
    if k > n >> 1:
        return n >> 1
    return k


def band_bins(n, fs, bass_hz=(40, 160), mid_hz=(160, 2000), treble_hz=(2000, 8000)):
    # (lo, hi) bin ranges, flattened, for the N_LEVELS sums: 16 log bands, each at least one bin
    # wide, then bass, mid, treble and the whole range.
    out = array("H", [0] * (2 * N_LEVELS))
    lo = hz_to_bin(BAND_EDGES_HZ[0], n, fs)
    for b in range(N_BANDS):
        hi = hz_to_bin(BAND_EDGES_HZ[b + 1], n, fs)
        if hi <= lo:
            hi = lo + 1
        out[2 * b] = lo
        out[2 * b + 1] = hi
        lo = hi
    top = out[2 * N_BANDS - 1]
    i = 2 * N_BANDS
    for lo_hz, hi_hz in (bass_hz, mid_hz, treble_hz, (BAND_EDGES_HZ[0], BAND_EDGES_HZ[-1])):
        lo = hz_to_bin(lo_hz, n, fs)
        hi = hz_to_bin(hi_hz, n, fs)
        if hi > top:
            hi = top
        if hi <= lo:
            hi = lo + 1
        out[i] = lo
        out[i + 1] = hi
        i += 2
    return out


def reference_q8(n):
    # Q8 log2 of the one-sided energy of a full-scale (32768) sine under the analysis window (any
    # fall: its sum of squares is 3n/8, as Hann's): 3 n**2 / 32 * 32768**2, so that such a sine reads 0.
    return log2_q8(3 * n * n // 32) + (30 << 8)


def dc_shift(h):
    # Time constant of the DC tracker at hop h: about h hops (a running mean) while it locks on,
    # up to 2**12 hops (~30 s), so low notes do not wobble the estimate. What it leaves, cancel_dc
    # takes out of the bands; bins 0 and 1 belong to no band.
    s = 0
    h += 1
    while h > 1 and s < 12:
        h >>= 1
        s += 1
    return s


def dc_step(dc_q12, hop_sum, hop_log2, shift):
    # One step of the DC tracker: an exponential average of hop means in Q12.
    # hop_sum < hop * 32768 <= 2**(15 + hop_log2), so the Q12 mean stays below 2**27.
    if hop_log2 >= 12:
        mean = hop_sum >> (hop_log2 - 12)
    else:
        mean = hop_sum << (12 - hop_log2)
    return dc_q12 + ((mean - dc_q12) >> shift)


def norm_shift(peak):
    # Left shift s (0..14) that brings a frame peak into [16384, 32767]; the window then scales
    # by 2**s so quiet microphones keep their precision.
    s = 0
    if peak <= 0:
        return 0
    while peak < 16384 and s < 14:
        peak <<= 1
        s += 1
    return s


def dc_leak(win):
    # (k, re, im) flattened, Q14: the window's response at bin k against its response at DC (bins
    # 2.._DC_BINS-1, where it is at least _DC_MIN). A frame's constant part (the residual DC, or the
    # zeros between a recording's words minus a DC estimate) reads X[0] at DC and X[0] times this in
    # bin k; Spectrum.cancel_dc takes it out, so no band sees a constant, as with a Hann window
    # (whose response is 0 from bin 2 on: this is then empty). Exact integers, at start-up only.
    n = len(win)
    qs = quarter_sine(n >> 2, 16384)
    w0 = 0
    for i in range(n):
        w0 += win[i]
    out = []
    for k in range(2, _DC_BINS):
        re = 0
        im = 0
        for i in range(n):
            c, sn = cos_sin(i * k, n, qs)
            re += win[i] * c
            im -= win[i] * sn  # the FFT's bins are sums of x * exp(-2j pi i k / n)
        re = (re + (w0 >> 1)) // w0
        im = (im + (w0 >> 1)) // w0
        if abs(re) >= _DC_MIN or abs(im) >= _DC_MIN:
            # the corrected components stay under 19,777 + |re| + 1 and 19,777 + |im| + 1 (X[0] is
            # below 16,400, see cancel_dc): their squares must still sum below 2**30
            if (19778 + abs(re)) ** 2 + (19778 + abs(im)) ** 2 >= 1 << 30:
                raise ValueError("window leaks too much DC into bin %d" % k)
            out.append(k)
            out.append(re)
            out.append(im)
    return array("h", out)


class Spectrum:
    def __init__(self, fs, n, hop, bass_hz=(40, 160), mid_hz=(160, 2000), treble_hz=(2000, 8000)):
        if hop < 16 or n % hop or hop & (hop - 1):
            raise ValueError("hop must be a power of two that divides the fft size")
        self.fs = fs
        self.n = n
        self.hop = hop
        hl = 0
        while (1 << hl) < hop:
            hl += 1
        self.hop_log2 = hl
        self.fft = RealFFT(n)
        self.ring = array("h", [0] * n)
        mv = memoryview(self.ring)
        k = n // hop
        self.slots = [mv[i * hop:(i + 1) * hop] for i in range(k)]
        self.slot = 0  # the slot the next hop goes into; after push() it is the oldest hop
        self.his = array("h", [0] * k)  # max and min raw sample of every hop in the frame
        self.los = array("h", [0] * k)
        self.dc_q12 = 0
        self.hops = 0
        self.bins = band_bins(n, fs, bass_hz, mid_hz, treble_hz)
        self.power = array("i", [0] * (n >> 1))
        self.levels = array("h", [LEVEL_MIN] * N_LEVELS)
        self.sums = array("i", [0] * (2 * N_LEVELS))  # band accumulators and their shifts (viper path)
        self.ref_q8 = reference_q8(n)
        self.leak = dc_leak(self.fft.window)

    def set_bands(self, bass_hz):
        # Move the bass band (a live parameter change; allocates, so only on change).
        self.bins = band_bins(self.n, self.fs, bass_hz)

    def next_slot(self):
        # The buffer (memoryview of `hop` int16 samples) the source fills before push().
        return self.slots[self.slot]

    def push(self):
        # Take the hop just written into next_slot() and analyse the newest frame into .levels.
        self.hop_stats()
        self.analyse()

    def hop_stats(self):
        r = self.slots[self.slot]
        if _viper is not None:
            s = _viper.hop_stats(r, self.hop, self.his, self.los, self.slot)
        else:
            s = 0
            hi = -32768
            lo = 32767
            for i in range(self.hop):  # an index loop: iterating the memoryview would allocate
                v = r[i]
                s += v
                if v > hi:
                    hi = v
                if v < lo:
                    lo = v
            self.his[self.slot] = hi
            self.los[self.slot] = lo
        self.dc_q12 = dc_step(self.dc_q12, s, self.hop_log2, dc_shift(self.hops))
        self.hops += 1
        self.slot += 1
        if self.slot == len(self.slots):
            self.slot = 0

    def frame_peak(self, dc):
        p = 0
        for i in range(len(self.his)):
            v = self.his[i] - dc
            if v > p:
                p = v
            v = dc - self.los[i]
            if v > p:
                p = v
        return 32767 if p > 32767 else p

    def analyse(self):
        dc = self.dc_q12 >> 12
        peak = self.frame_peak(dc)
        lv = self.levels
        if peak == 0:
            for i in range(N_LEVELS):
                lv[i] = LEVEL_MIN
            return
        s = norm_shift(peak)
        total = self.window(dc, 15 - s)
        shifts = self.fft.run(32767)
        self.cancel_dc(total, shifts)
        self.bin_power()
        self.band_levels(((shifts - s) << 9) - self.ref_q8)

    def window(self, dc, r):
        # data[i] = round(clamp(x - dc) * w[i] / 2**r), oldest sample first; < 32768 by choice of r.
        # Returns the sum of data[0:n] (|sum| < n * 32768 <= 2**25): X[0] before the FFT's shifts.
        if _viper is not None:
            return _viper.window(self.ring, self.fft.window, self.fft.data, self.n, self.slot * self.hop, dc, r)
        d = self.fft.data
        w = self.fft.window
        ring = self.ring
        n = self.n
        half = 1 << (r - 1)
        start = self.slot * self.hop
        i = 0
        j = start
        total = 0
        while i < n:
            x = ring[j] - dc
            if x > 32767:
                x = 32767
            elif x < -32767:
                x = -32767
            v = (x * w[i] + half) >> r
            d[i] = v
            total += v
            i += 1
            j += 1
            if j == n:
                j = 0
        return total

    def cancel_dc(self, total, shifts):
        # Take the frame's constant part out of the bins the window leaks it into (dc_leak): bin k
        # minus X[0] times the window's response there. X[0] = total * 2**-shifts, the DC bin on the
        # FFT's scale: below 2 * 8192 (+ the stages' rounding, under 16) like every split input.
        lk = self.leak
        if len(lk) == 0:
            return
        x0 = total
        if shifts:
            x0 = (total + (1 << (shifts - 1))) >> shifts
        d = self.fft.data
        for i in range(0, len(lk), 3):
            a = lk[i] << 1
            d[a] -= (x0 * lk[i + 1] + 8192) >> 14  # |x0 * lk| < 16,400 * 2**14 < 2**28
            d[a + 1] -= (x0 * lk[i + 2] + 8192) >> 14

    def bin_power(self):
        if _viper is not None:
            _viper.bin_power(self.fft.data, self.power, self.n >> 1)
            return
        d = self.fft.data
        pw = self.power
        for k in range(1, self.n >> 1):
            re = d[2 * k]
            im = d[2 * k + 1]
            pw[k] = re * re + im * im

    def band_levels(self, offset):
        # offset: Q8 log2 to add to every sum (block exponent, normalisation, reference).
        pw = self.power
        bins = self.bins
        lv = self.levels
        sums = self.sums
        if _viper is not None:
            _viper.band_sums(pw, bins, N_LEVELS, sums)
        for b in range(N_LEVELS):
            if _viper is not None:
                acc = sums[2 * b]
                sh = sums[2 * b + 1]
            else:
                acc = 0
                sh = 0
                for k in range(bins[2 * b], bins[2 * b + 1]):
                    acc += pw[k] >> sh
                    if acc >= _ACC_LIMIT:
                        acc = (acc + 1) >> 1
                        sh += 1
            if acc == 0:
                lv[b] = LEVEL_MIN
            else:
                v = log2_q8(acc) + (sh << 8) + offset
                lv[b] = LEVEL_MIN if v < LEVEL_MIN else v
