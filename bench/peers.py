# The peers' published beat methods, re-implemented from their descriptions (shared/DESIGN.md §4)
# so the detection benchmark scores them on the same files as ours. Float numpy: these are
# references for comparison, not firmware.
import numpy as np
from scipy.signal import resample_poly
from scipy.signal.windows import blackmanharris


def _frames(x, n, hop):
    t = (len(x) - n) // hop + 1
    if t <= 0:
        return np.zeros((0, n))
    idx = np.arange(n)[None, :] + hop * np.arange(t)[:, None]
    return x[idx]


def wled_beats(x, fs, bin_hz=86.0, refractory=0.1, ratio=2.0):
    # WLED AudioReactive: 22,050 Hz, 512-point FFT, no overlap (one FFT per 512 samples, ~43/s),
    # a peak is ONE FFT bin over a threshold, with a 100 ms refractory. The threshold here follows
    # the bin's own running level (WLED scales it with its AGC): the bin must exceed `ratio`
    # times its slow average and an absolute floor. The bin is the one nearest `bin_hz` (a kick bin).
    fs2, n = 22050, 512
    y = resample_poly(x, fs2, fs) if fs != fs2 else x
    fr = _frames(y, n, n) * blackmanharris(n)
    mag = np.abs(np.fft.rfft(fr, axis=1))[:, int(round(bin_hz * n / fs2))]
    beats, avg, last = [], None, -1e9
    for i, m in enumerate(mag):
        avg = m if avg is None else 0.95 * avg + 0.05 * m
        t = (i * n + n) / fs2  # the end of the frame that raised it
        if m > ratio * avg and m > 1.0 and t - last >= refractory:
            beats.append(t)
            last = t
    return beats


def ledfx_beats(x, fs, refractory=0.1, ratio=1.5):
    # LedFx volume beat: 30 kHz, 4,096-point FFT, 60 analyses per second; a beat when the energy
    # below 100 Hz is 50% over its average of the last 0.2 s.
    fs2, n = 30000, 4096
    hop = fs2 // 60
    y = resample_poly(x, fs2, fs) if fs != fs2 else x
    fr = _frames(y, n, hop) * np.hanning(n)
    spec = np.abs(np.fft.rfft(fr, axis=1)) ** 2
    low = spec[:, 1:int(100 * n / fs2) + 1].sum(axis=1)
    hist = 12  # 0.2 s at 60 per second
    beats, last = [], -1e9
    for i in range(len(low)):
        past = low[max(0, i - hist):i]
        t = (i * hop + n) / fs2
        if len(past) and low[i] > ratio * past.mean() and low[i] > 1e-6 and t - last >= refractory:
            beats.append(t)
            last = t
    return beats
