# The Linux audio source (host_tools/linux_audio.py) with a stand-in capture stream fed from a file
# (no audio device here): exact hops at the engine rate, resampling equal to the whole-file path,
# PortAudio's uneven blocks absorbed, stale audio dropped and counted like the I2S microphone, and
# one clear line when the library or the device is missing.
import builtins
import sys

import numpy as np
import pytest

from conftest import FIXTURES, ROOT
from firmware.app import App
from firmware.engine import Engine
from firmware.profile import read_profile
from host_tools.audio import load, to_device
from host_tools.linux_audio import AudioSourceError, FileInputStream, LinuxAudioSource, load_sounddevice
from host_tools.simulate import NullSink

HOP, RATE = 128, 16000


def _fixture(seconds=2.0):
    s, _ = load(FIXTURES + "/mix_clean.flac", RATE)
    return s[:int(seconds * RATE)]


def _source(samples, device_rate=RATE, channels=1, blocksize=None, **kw):
    streams = []

    def factory(**args):
        if blocksize is not None:
            args["blocksize"] = blocksize
        s = FileInputStream(samples, **args)
        streams.append(s)
        return s

    src = LinuxAudioSource(HOP, RATE, device_rate=device_rate, channels=channels, stream_factory=factory,
                           start=False, **kw)  # the test pumps the blocks itself
    return src, streams[0]


def _read_all(src, dst):
    out = []
    while src.read_hop(dst) == 1:
        out.append(np.frombuffer(dst, dtype=np.int16).copy())
    return out


def test_same_rate_hops_are_the_file_exactly():
    x = _fixture()
    src, stream = _source(x)
    assert stream.blocksize == HOP and stream.samplerate == RATE
    dst = np.zeros(HOP, dtype=np.int16)
    got = []
    for _ in range(len(x) // HOP):
        stream.pump(1)
        assert src.read_hop(dst) == 1
        got.append(dst.copy())
        assert src.read_hop(dst) == (-1 if stream.ended else 0)  # nothing more until the next block: never waits
    assert np.array_equal(np.concatenate(got), x[:len(got) * HOP])
    assert src.dropped == 0
    assert src.read_hop(dst) == -1  # the file stand-in has played out


def test_48k_device_resampled_like_a_whole_file_and_uneven_blocks_lose_nothing():
    x = _fixture()
    dev = to_device(x / 32768.0, RATE, 48000)  # what a 48 kHz microphone would have captured
    want = to_device(dev / 32768.0, 48000, RATE)  # the whole-file path (host_tools.audio)
    src, stream = _source(dev, device_rate=48000, blocksize=1024)  # ALSA periods, not hops
    dst = np.zeros(HOP, dtype=np.int16)
    got = []
    while not stream.ended:
        stream.pump(1)  # 1024 frames = 2.67 hops at a time, read right after each block
        got += _read_all(src, dst)
    y = np.concatenate(got)
    assert src.dropped == 0
    assert len(y) >= len(want) - 2 * HOP - 256  # libsoxr keeps its filter's delay until the end
    assert np.array_equal(y, want[:len(y)])


def test_stereo_capture_is_mixed_to_mono():
    x = _fixture(0.5)
    st = np.stack([x, np.zeros_like(x)], axis=1)
    src, stream = _source(st, channels=2)
    stream.pump(len(x) // HOP)
    src.max_behind = 10**6  # keep everything: check the mix only
    dst = np.zeros(HOP, dtype=np.int16)
    y = np.concatenate(_read_all(src, dst))
    assert np.array_equal(y, np.round(x[:len(y)] / 2.0).astype(np.int16))


def test_stale_audio_is_dropped_newest_hop_first_and_time_moves_on():
    x = _fixture()
    profile = read_profile(ROOT + "/boards/pi-zero-vest.json")
    eng = Engine(profile)
    src, stream = _source(x)
    app = App(eng, src, NullSink())
    for _ in range(5):  # keeping up: every hop, in order
        stream.pump(1)
        assert app.step() == 1
    assert app.step() == 0
    stream.pump(20)  # the loop stalled for 20 hops
    assert app.step() == 1
    assert src.dropped == 19 and app.dropped == 19
    assert eng.hops == 25  # audio time moved on over the dropped hops
    newest = x[24 * HOP:25 * HOP]
    sp = eng.spectrum
    slot = sp.slot - 1 if sp.slot else len(sp.slots) - 1
    assert np.array_equal(np.frombuffer(sp.slots[slot], dtype=np.int16), newest)
    assert app.step() == 0


def test_audio_nobody_read_for_too_long_is_counted_in_whole_hops():
    x = _fixture()
    src, stream = _source(x, queue_seconds=0.05)  # 800 samples: the queue keeps 6 hops
    stream.pump(20)
    dst = np.zeros(HOP, dtype=np.int16)
    assert src.read_hop(dst) == 1
    assert src.lost_samples == 14 * HOP
    assert src.dropped == 19
    assert np.array_equal(dst, x[19 * HOP:20 * HOP])


def test_overflow_flags_are_counted():
    src, _ = _source(_fixture(0.1))
    src._callback(np.zeros(HOP, dtype=np.int16).tobytes(), HOP, None, 2)  # paInputOverflow
    assert src.overflows == 1


# --- clear messages -----------------------------------------------------------------------------

def test_missing_sounddevice_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(AudioSourceError, match=r"sounddevice is not installed: pip install 'threadbeat\[pi\]'"):
        load_sounddevice()
    with pytest.raises(AudioSourceError, match="sounddevice is not installed"):
        LinuxAudioSource(HOP, RATE)


def test_missing_portaudio_names_the_system_package(monkeypatch):
    real = builtins.__import__

    def imp(name, *a, **k):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real(name, *a, **k)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", imp)
    with pytest.raises(AudioSourceError, match="sudo apt install libportaudio2"):
        load_sounddevice()


def test_no_capture_device_on_this_machine():
    # The real PortAudio here: no sound card, so no default input.
    try:
        sd = load_sounddevice()
        devices = sd.query_devices()
    except AudioSourceError as e:
        pytest.skip(str(e))
    if any(d["max_input_channels"] > 0 for d in devices):
        pytest.skip("this machine has an audio input")
    with pytest.raises(AudioSourceError, match=r"no audio input device \(the default\).*audio group"):
        LinuxAudioSource(HOP, RATE)
    with pytest.raises(AudioSourceError, match="no audio input device matching 'USB'"):
        LinuxAudioSource(HOP, RATE, device="USB")


def test_a_device_that_refuses_the_format_is_one_line():
    def factory(**kw):
        raise ValueError("Invalid sample rate")

    with pytest.raises(AudioSourceError, match="cannot capture 1 channel\\(s\\) at 44100 Hz \\(Invalid sample rate\\)"):
        LinuxAudioSource(HOP, RATE, device="hw:1", device_rate=44100, stream_factory=factory)


def test_a_short_hiccup_loses_nothing():
    # Up to max_behind hops waiting (the OS was busy for a moment): all of them, in order.
    x = _fixture(0.5)
    src, stream = _source(x)
    stream.pump(src.max_behind)
    dst = np.zeros(HOP, dtype=np.int16)
    y = np.concatenate(_read_all(src, dst))
    assert src.dropped == 0 and np.array_equal(y, x[:src.max_behind * HOP])
    stream.pump(src.max_behind + 1)  # one more than that: only the newest
    assert src.read_hop(dst) == 1 and src.dropped == src.max_behind
    assert np.array_equal(dst, x[(2 * src.max_behind) * HOP:(2 * src.max_behind + 1) * HOP])
