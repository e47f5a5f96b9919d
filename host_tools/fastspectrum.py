# The firmware's analysis front end (firmware/spectrum.py + firmware/fft.py) vectorised with numpy
# over every hop of a recording at once, bit-identical to the per-frame code (tests prove it).
# Replay uses it for speed; the stateful part (analyzer) still runs the firmware's own code.
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from firmware import fixmath
from firmware.fft import RealFFT
from firmware.spectrum import LEVEL_MIN, N_LEVELS, band_bins, dc_leak, dc_shift, dc_step, reference_q8

_LOG2_Q8 = np.array(fixmath.LOG2_Q8, dtype=np.int64)


def log2_q8(v):
    # Vectorised firmware.fixmath.log2_q8 for int64 arrays of values 1 <= v < 2**30.
    v = np.asarray(v, dtype=np.int64)
    e = np.frexp(v.astype(np.float64))[1].astype(np.int64) - 1  # exact: v < 2**53
    big = e > 8
    s = np.where(big, e - 8, 0)
    half = np.where(big, np.left_shift(1, np.maximum(s - 1, 0)), 0)
    m = np.where(big, (v + half) >> s, v << np.maximum(8 - e, 0))
    over = m >= 512
    m = np.where(over, m >> 1, m)
    e = e + over
    return (e << 8) + _LOG2_Q8[m - 256]


def _bound(x):
    # Per-row OR of |v| as v ^ (v >> 31), like firmware.fft.or_bound.
    return np.bitwise_or.reduce(x ^ (x >> 31), axis=1)


def _bound_shift(bound, limit):
    sh = np.zeros(bound.shape, dtype=np.int64)
    b = bound.copy()
    while True:
        over = b >= limit
        if not over.any():
            return sh
        b = np.where(over, b >> 1, b)
        sh += over


def _shift_rows(d, sh):
    # firmware.fft.shift_all per row: rounded right shift by sh (identity where sh == 0).
    s = sh.astype(d.dtype)[:, None]
    return (d + ((np.ones_like(s) << s) >> 1)) >> s


class FastSpectrum:
    def __init__(self, fs, n, hop, bass_hz=(40, 160)):
        self.fs = fs
        self.n = n
        self.hop = hop
        self.k = n // hop
        self.hop_log2 = hop.bit_length() - 1
        f = RealFFT(n)
        self.window32 = np.array(f.window, dtype=np.int32)
        self.tw = np.array(f.tw, dtype=np.int32)
        self.split_tw = np.array(f.split_tw, dtype=np.int32)
        m = n // 2
        self.m = m
        self.stages = f.stages
        rev = np.arange(m)
        sw = np.array(f.swaps, dtype=np.int64).reshape(-1, 2)
        rev[sw[:, 0]], rev[sw[:, 1]] = sw[:, 1], sw[:, 0].copy()
        self.rev = rev  # complex index permutation
        self.bins = np.array(band_bins(n, fs, bass_hz), dtype=np.int64).reshape(-1, 2)
        self.ref_q8 = reference_q8(n)
        self.leak = np.array(dc_leak(f.window), dtype=np.int64).reshape(-1, 3)

    def dc_track(self, hops):
        # DC tracker over all hops (sequential, like the firmware); returns dc after each hop.
        sums = hops.sum(axis=1, dtype=np.int64).tolist()
        out = np.empty(len(sums), dtype=np.int64)
        dc = 0
        hl = self.hop_log2
        for i, s in enumerate(sums):
            dc = dc_step(dc, s, hl, dc_shift(i))
            out[i] = dc
        return out >> 12

    def levels(self, samples, chunk=1024, threads=2):
        # Band levels (T, N_LEVELS) int64 for every complete hop of int16 `samples`. Chunks run on
        # `threads` threads (numpy releases the GIL); the arithmetic is int32 where the firmware's
        # bounds (every intermediate < 2**30) allow it.
        hop, k = self.hop, self.k
        t = len(samples) // hop
        hops = np.asarray(samples[: t * hop], dtype=np.int64).reshape(t, hop)
        dc = self.dc_track(hops)
        pad = np.zeros(k - 1, np.int64)  # the ring's slots start out as zeros
        his = np.concatenate([pad, hops.max(axis=1)])
        los = np.concatenate([pad, hops.min(axis=1)])
        padded = np.concatenate([np.zeros(((k - 1) * hop,), np.int64), hops.reshape(-1)])
        out = np.empty((t, N_LEVELS), dtype=np.int64)

        def work(c0):
            c1 = min(t, c0 + chunk)
            out[c0:c1] = self._levels_chunk(padded, his, los, dc, c0, c1)

        starts = range(0, t, chunk)
        if threads > 1 and t > chunk:
            with ThreadPoolExecutor(threads) as ex:
                list(ex.map(work, starts))
        else:
            for c0 in starts:
                work(c0)
        return out

    def _levels_chunk(self, padded, his, los, dc, c0, c1):
        hop, k, n = self.hop, self.k, self.n
        idx = np.arange(c0, c1)
        d = dc[c0:c1]
        # frame h holds hops h-k+1..h; in the padded arrays that is rows h..h+k-1
        hw = np.lib.stride_tricks.sliding_window_view(his, k)[idx]
        lw = np.lib.stride_tricks.sliding_window_view(los, k)[idx]
        peak = np.maximum((hw - d[:, None]).max(axis=1), (d[:, None] - lw).max(axis=1))
        peak = np.clip(peak, 0, 32767)
        s = np.zeros_like(peak)
        p = peak.copy()
        for _ in range(14):
            grow = (p > 0) & (p < 16384)
            p = np.where(grow, p << 1, p)
            s += grow
        r = 15 - s
        frames = np.lib.stride_tricks.sliding_window_view(padded, n)[idx * hop]
        x = np.clip(frames - d[:, None], -32767, 32767).astype(np.int32)
        # |x * w| < 2**30: int32 holds it
        data = (x * self.window32 + (np.int32(1) << (r - 1)).astype(np.int32)[:, None]) >> r.astype(np.int32)[:, None]
        shifts, spec = self._fft(data)
        spec = spec.astype(np.int64)
        if len(self.leak):  # Spectrum.cancel_dc
            total = data.sum(axis=1, dtype=np.int64)
            half = np.where(shifts > 0, np.int64(1) << np.maximum(shifts - 1, 0), 0)
            x0 = (total + half) >> shifts
            for k, re, im in self.leak.tolist():
                spec[:, k, 0] -= (x0 * re + 8192) >> 14
                spec[:, k, 1] -= (x0 * im + 8192) >> 14
        pw = spec[:, 1:, 0] ** 2 + spec[:, 1:, 1] ** 2  # bins 1..m-1
        pw = np.concatenate([np.zeros((len(idx), 1), np.int64), pw], axis=1)
        offset = ((shifts - s) << 9) - self.ref_q8
        lv = np.empty((len(idx), N_LEVELS), dtype=np.int64)
        for b, (lo, hi) in enumerate(self.bins):
            acc = np.zeros(len(idx), dtype=np.int64)
            sh = np.zeros(len(idx), dtype=np.int64)
            for kk in range(lo, hi):
                acc = acc + (pw[:, kk] >> sh)
                over = acc >= (1 << 28)
                acc = np.where(over, (acc + 1) >> 1, acc)
                sh += over
            v = log2_q8(np.maximum(acc, 1)) + (sh << 8) + offset
            v = np.maximum(v, LEVEL_MIN)
            lv[:, b] = np.where(acc == 0, LEVEL_MIN, v)
        lv[peak == 0] = LEVEL_MIN
        return lv

    def _fft(self, data):
        # data (F, n) packed real frames -> (block shifts (F,), spectrum (F, m, 2)).
        f_count = data.shape[0]
        m = self.m
        z = data.reshape(f_count, m, 2)[:, self.rev, :].copy()
        shifts = np.zeros(f_count, dtype=np.int64)
        bound = np.full(f_count, 32767, dtype=np.int32)
        size = 2
        step = m // 2
        while size <= m:
            sh = _bound_shift(bound, 32768)
            if sh.any():
                z = _shift_rows(z.reshape(f_count, -1), sh).reshape(f_count, m, 2)
                shifts += sh
            half = size // 2
            zz = z.reshape(f_count, m // size, size, 2)
            j = np.arange(half)
            wr = self.tw[2 * j * step]
            wi = self.tw[2 * j * step + 1]
            ar = zz[:, :, :half, 0]
            ai = zz[:, :, :half, 1]
            br = zz[:, :, half:, 0]
            bi = zz[:, :, half:, 1]
            tr = (br * wr - bi * wi + 8192) >> 14  # < 2**30, as argued in firmware/fft.py
            ti = (br * wi + bi * wr + 8192) >> 14
            out = np.empty_like(zz)
            out[:, :, :half, 0] = ar + tr
            out[:, :, :half, 1] = ai + ti
            out[:, :, half:, 0] = ar - tr
            out[:, :, half:, 1] = ai - ti
            z = out.reshape(f_count, m, 2)
            bound = _bound(z.reshape(f_count, -1))
            size *= 2
            step //= 2
        sh = _bound_shift(bound, 8192)
        z = _shift_rows(z.reshape(f_count, -1), sh).reshape(f_count, m, 2)
        shifts += sh
        return shifts, self._split(z)

    def _split(self, z):
        m = self.m
        k = np.arange(1, m // 2 + 1)
        a = z[:, k, :]
        b = z[:, m - k, :]
        ar, ai, br, bi = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
        er = (ar + br) << 14
        ei = (ai - bi) << 14
        dr = ar - br
        di = ai + bi
        c = self.split_tw[2 * k]
        s = self.split_tw[2 * k + 1]
        p = c * di - s * dr
        q = c * dr + s * di
        out = np.zeros_like(z)
        out[:, k, 0] = (er + p + 16384) >> 15
        out[:, k, 1] = (ei - q + 16384) >> 15
        kb = k[k != m - k]
        sel = k != m - k
        out[:, m - kb, 0] = ((er - p + 16384) >> 15)[:, sel]
        out[:, m - kb, 1] = ((16384 - ei - q) >> 15)[:, sel]
        return out
