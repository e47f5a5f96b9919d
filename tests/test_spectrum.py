# The analysis front end: band levels against numpy from -60 to 0 dBFS, DC removal, and the
# numpy twin used by replay being bit-identical to the per-frame firmware code.
import numpy as np
import pytest

from firmware.spectrum import LEVEL_MIN, N_LEVELS, Spectrum, band_bins
from host_tools.fastspectrum import FastSpectrum, log2_q8 as vlog2
from firmware.fixmath import log2_q8

try:
    from tests.test_fft import float_window  # if tests/ is (or becomes) a package
except ImportError:
    from test_fft import float_window

FS, N, HOP = 16000, 512, 128
DB_PER_Q8 = 3.0103 / 256


def run_spectrum(x, fs=FS, n=N, hop=HOP, sp=None):
    # Feed x hop by hop through sp (a new Spectrum by default); the levels after every hop.
    if sp is None:
        sp = Spectrum(fs, n, hop)
    out = []
    for h in range(len(x) // hop):
        sl = sp.next_slot()
        for i in range(hop):
            sl[i] = int(x[h * hop + i])
        sp.push()
        out.append(list(sp.levels))
    return sp, np.array(out)


def reference_db(x, sp, n=N):
    # Band energies of the newest frame in float64: the front end's window, the frame's constant part
    # taken out (its window-weighted mean: Spectrum.cancel_dc), |rfft|^2 summed per band, relative to
    # a full-scale sine (3 n^2 / 32 * 32768^2).
    frame = x[-n:].astype(np.float64) - (sp.dc_q12 >> 12)
    w = float_window(n, sp.fft.fall)
    frame = frame - (frame @ w) / w.sum()
    p = np.abs(np.fft.rfft(frame * w)) ** 2
    ref = 3 * n * n / 32 * 32768.0**2
    b = np.array(sp.bins).reshape(-1, 2)
    return np.array([10 * np.log10(max(p[lo:hi].sum(), 1e-30) / ref) for lo, hi in b])


@pytest.mark.parametrize("dbfs", [0, -10, -20, -30, -40, -50, -60])
@pytest.mark.parametrize("hz", [70.0, 1000.3, 5123.0])
def test_sine_band_energy_within_half_db(dbfs, hz):
    t = np.arange(FS * 2)
    x = np.round(32767 * 10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t / FS))
    sp, lv = run_spectrum(x)
    got = lv[-1] * DB_PER_Q8
    ref = reference_db(x, sp)
    loud = ref > ref.max() - 40  # every band within 40 dB of the strongest one
    assert np.abs(got[loud] - ref[loud]).max() <= 0.5
    assert abs(got[19] - dbfs) < 0.6  # the whole-range level reads the sine's dBFS


@pytest.mark.parametrize("dbfs", [0, -20, -40, -60])
def test_noise_every_band_within_half_db(dbfs):
    rng = np.random.default_rng(-dbfs)
    # pink-ish noise: white noise through a one-pole low-pass, so every band has energy
    w = rng.normal(size=N * 6)
    y = np.zeros_like(w)
    acc = 0.0
    for i, v in enumerate(w):
        acc = 0.9 * acc + v
        y[i] = acc
    y = y / np.abs(y).max() * 32767 * 10 ** (dbfs / 20)
    x = np.round(y)
    sp, lv = run_spectrum(x)
    got = lv[-1] * DB_PER_Q8
    ref = reference_db(x, sp)
    assert np.abs(got - ref).max() <= 0.5


def test_dc_offset_is_removed():
    t = np.arange(2 * FS)
    tone = np.round(8000 * np.sin(2 * np.pi * 440 * t / FS))
    _, clean = run_spectrum(tone)
    _, offset = run_spectrum(np.clip(tone + 6000, -32768, 32767))
    # once the tracker has locked on (under a second) the offset leaves no trace: the lowest
    # band stays 50 dB under the tone and the tone's band reads as without the offset
    assert (offset[125:, 0] * DB_PER_Q8 < -62).all()
    assert np.abs(clean[125:, 7] - offset[125:, 7]).max() * DB_PER_Q8 < 0.1


def test_silence_reads_empty():
    _, lv = run_spectrum(np.zeros(N * 3))
    assert (lv == LEVEL_MIN).all()


def test_bands_cover_each_at_least_one_bin_and_ascend():
    for n in (256, 512, 1024):
        for fs in (8000, 16000, 22050, 44100):
            b = np.array(band_bins(n, fs)).reshape(-1, 2)[:16]
            assert (b[:, 1] > b[:, 0]).all()
            assert (b[1:, 0] == b[:-1, 1]).all()


def test_log2_q8_vectorised_matches_firmware():
    rng = np.random.default_rng(5)
    v = np.concatenate([np.arange(1, 5000), rng.integers(1, 2**30, 20000)])
    assert (vlog2(v) == np.array([log2_q8(int(a)) for a in v])).all()


@pytest.mark.parametrize("fs,n,hop", [(16000, 512, 128), (22050, 1024, 256), (16000, 256, 64)])
def test_numpy_twin_is_bit_identical(fs, n, hop):
    rng = np.random.default_rng(n)
    seg = fs // 4
    x = rng.normal(size=seg * 8) * np.repeat(rng.uniform(0, 12000, 8), seg)
    x[seg:seg + 900] = 0  # silence inside
    x[3 * seg:3 * seg + 2000] = 40000  # clipped rail
    x = np.clip(np.round(x + 700), -32768, 32767).astype(np.int16)
    _, ref = run_spectrum(x, fs, n, hop)
    got = FastSpectrum(fs, n, hop).levels(x)
    assert got.shape == ref.shape == (len(x) // hop, N_LEVELS)
    assert (got == ref).all()


def test_quarter_fall_window_cancels_a_constant():
    # Under the quarter-fall window a constant would leak into bins 2-8 (-18 dB at bin 2); the DC
    # cancel takes it out: frames of a constant offset the tracker has not learnt read no bass band.
    from firmware.fft import RealFFT
    from firmware.spectrum import dc_leak

    sp = Spectrum(FS, N, HOP)
    assert len(sp.leak) == 0 or sp.fft.fall != N // 2  # Hann: nothing to cancel
    sp.fft = RealFFT(N, N // 4)
    sp.leak = dc_leak(sp.fft.window)
    assert len(sp.leak) >= 3 and sp.leak[0] == 2
    x = np.concatenate([np.round(8000 * np.sin(2 * np.pi * 440 * np.arange(FS) / FS)), np.full(N * 2, 300)])
    _, out = run_spectrum(x, sp=sp)
    last = out[-1] * DB_PER_Q8
    assert last[0] < -110 and last[16] < -100  # without the cancel about -70 dB
    sp.leak = dc_leak(sp.fft.window)[:0]
    sp.push()
    assert sp.levels[0] * DB_PER_Q8 > -90
