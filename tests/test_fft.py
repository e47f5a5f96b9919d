# The fixed-point FFT against a float64 numpy reference: accuracy, scaling, saturation.
import numpy as np
import pytest

from firmware.fft import RealFFT, or_bound


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


def float_spectrum(x, n):
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
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
