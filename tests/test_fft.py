# The fixed-point FFT against a float64 numpy reference: accuracy, scaling, saturation.
import numpy as np
import pytest

from firmware.fft import RealFFT, analysis_window, or_bound


def fixed_spectrum(x, n):
    # Window like the front end does (x already within int16), run the FFT, return complex X.
    f = RealFFT(n)
    w = np.array(f.window, dtype=np.int64)
    xw = (np.asarray(x, dtype=np.int64) * w + (1 << 14)) >> 15
    for i, v in enumerate(xw.tolist()):
        f.data[i] = v
    sh = f.run(or_bound(f.data, 0, n))
    d = np.array(f.data, dtype=np.float64)
    return (d[0::2] + 1j * d[1::2]) * 2.0**sh


def float_window(n, fall):
    # The analysis window in float64: a raised-cosine rise over n - fall samples, a fall over `fall`.
    i = np.arange(n, dtype=np.float64)
    rise = n - fall
    return np.where(i < rise, 0.5 - 0.5 * np.cos(np.pi * i / rise), 0.5 + 0.5 * np.cos(np.pi * (i - rise) / fall))


def float_spectrum(x, n):
    w = float_window(n, RealFFT(n).fall)
    return np.fft.rfft(np.asarray(x, dtype=np.float64) * w)[: n // 2]


def snr_db(ref, got):
    err = got[1:] - ref[1:]
    return 10 * np.log10(np.sum(np.abs(ref[1:]) ** 2) / np.sum(np.abs(err) ** 2))


@pytest.mark.parametrize("n", [256, 512, 1024])
@pytest.mark.parametrize("cycles", [3.0, 37.3, 100.5])
def test_full_scale_sine_snr_at_least_60_db(n, cycles):
    t = np.arange(n)
    x = np.round(32767 * np.sin(2 * np.pi * cycles * t / n))
    assert snr_db(float_spectrum(x, n), fixed_spectrum(x, n)) >= 60.0


@pytest.mark.parametrize("n", [256, 512, 1024])
def test_white_noise_snr(n):
    x = np.random.default_rng(n).integers(-20000, 20000, n)
    assert snr_db(float_spectrum(x, n), fixed_spectrum(x, n)) >= 60.0


def test_clipped_square_saturates_without_wrapping():
    # a hard-clipped full-scale square wave: every value at the rails; the spectrum must still
    # match (a wrap would scatter energy everywhere)
    n = 512
    x = np.where(np.sin(2 * np.pi * 8 * np.arange(n) / n) >= 0, 32767, -32768)
    ref = float_spectrum(x, n)
    got = fixed_spectrum(x, n)
    assert snr_db(ref, got) >= 55.0
    peak = np.argmax(np.abs(got[1:])) + 1
    assert peak == 8


def test_rejects_other_sizes():
    with pytest.raises(ValueError):
        RealFFT(300)


def test_no_allocation_of_new_buffers_between_runs():
    f = RealFFT(256)
    data_id, tw_id = id(f.data), id(f.tw)
    for _ in range(3):
        f.run(32767)
    assert id(f.data) == data_id and id(f.tw) == tw_id


@pytest.mark.parametrize("n", [256, 512, 1024])
@pytest.mark.parametrize("quarters", [1, 2, 3])
def test_window_matches_its_formula_and_keeps_the_sine_level(n, quarters):
    fall = n * quarters // 4
    w = np.array(analysis_window(n, fall), dtype=np.float64)
    ref = np.minimum(float_window(n, fall) * 32768, 32767)
    assert np.abs(w - ref).max() <= 1.0
    assert w.max() == w[n - fall] == 32767  # peak where the fall starts
    # sum of squares 3n/8 and sum n/2 under any fall: a sine reads the same level (reference_q8)
    assert abs((w / 32768) @ (w / 32768) / (3 * n / 8) - 1) < 1e-3
    assert abs(w.sum() / 32768 / (n / 2) - 1) < 1e-3


def test_half_frame_fall_is_the_hann_window():
    n = 512
    hann = np.minimum(np.round((0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)) * 32768), 32767)
    assert np.abs(np.array(analysis_window(n, n // 2)) - hann).max() <= 1
    assert list(RealFFT(n, n // 2).window) == list(analysis_window(n, n // 2))


def test_quarter_fall_window_weighs_the_newest_samples_more():
    # the frame's newest quarter holds more of the window than its oldest quarter: a new onset counts
    w = np.array(RealFFT(512, 128).window, dtype=np.float64)
    assert w[-128:].sum() > 2 * w[:128].sum()


@pytest.mark.parametrize("fall", [0, 1, 127, 512, 511])
def test_window_rejects_odd_or_out_of_range_falls(fall):
    with pytest.raises(ValueError):
        analysis_window(512, fall)
