# `threadbeat run` (host_tools/pi_run.py) end to end with Blinka's OS-agnostic board (only the lowest
# neopixel_write is a recorder) and a file as the microphone, tuned over its pty with the same
# client code `threadbeat tune/monitor` use; and `replay --live`'s scheduler against a fake audio
# clock and output stream: every frame goes out within one frame period of when it is heard.
import json
import os
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import FIXTURES, ROOT
from host_tools import cli
from host_tools.pi_run import PiController, PlaybackClock, play_live, schedule_frames
from test_blinka import _purge, blinka  # noqa: F401  (the fixture)

AUDIO = os.path.join(FIXTURES, "mix_clean.flac")
EPS = 1e-9  # float rounding of the fake clock (it counts seconds from 100.0)


def _vest_for_agnostic_board(tmp_path):
    with open(os.path.join(ROOT, "boards", "pi-zero-vest.json")) as f:
        d = json.load(f)
    for p in d["panels"]:
        p["pin"] = "NEOPIXEL"
    path = tmp_path / "vest.json"
    path.write_text(json.dumps(d))
    return str(path)


def _wait_for(cond, limit=60.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_run_lights_the_chain_and_answers_the_tuning_protocol(blinka, tmp_path):
    pytest.importorskip("serial")
    from host_tools.link import open_link

    board, neopixel, writes = blinka
    link = str(tmp_path / "tty")
    ctl = PiController(_vest_for_agnostic_board(tmp_path), state=str(tmp_path / "state"), audio=AUDIO,
                       link_path=link, board_module=board, neopixel_module=neopixel)
    path = ctl.build()
    assert os.path.realpath(link) == os.path.realpath(path)
    t = threading.Thread(target=ctl.run, daemon=True)
    t.start()
    try:
        assert _wait_for(lambda: len(writes) >= 100), "no frames reached the strip"
        with open_link(link, 10.0) as c:  # through the stable symlink, as the systemd unit's users do
            hello = c.hello()
            assert hello["board"] == "Raspberry Pi Zero vest" and hello["chip"] == "blinka"
            assert hello["panels"] == ["front_left", "front_right", "back"]
            r = c.request("set", values={"brightness": 40})
            assert r["params"]["brightness"] == 40
            c.request("save")
        csv_path = tmp_path / "levels.csv"
        assert cli.main(["monitor", "--port", link, "--seconds", "1.5", "--csv", str(csv_path)]) == 0
        rows = csv_path.read_text().splitlines()
        assert rows[0].startswith("t,level,bass") and len(rows) > 3  # telemetry, as from a garment
        n = len(writes)
        assert _wait_for(lambda: len(writes) >= n + 50)
    finally:
        ctl.stop()
        t.join(30)
        ctl.close()
    assert not t.is_alive()
    assert all(len(b) == 124 * 3 for _, b in writes)  # one chain: the three panels back to back
    assert sum(any(b) for _, b in writes) > 50  # the music lit it
    assert writes[-1][1] == bytes(124 * 3)  # close() blanked the strip
    assert not os.path.lexists(link)
    saved = json.loads((tmp_path / "state" / "config.json").read_text())
    assert saved["params"]["brightness"] == 40
    assert ctl.app.frames >= 150


def test_run_refuses_a_microcontroller_profile_and_names_the_fix(capsys):
    assert cli.main(["run", "--board", "esp32-jacket", "--sink", "none"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "chip 'esp32' is a microcontroller" in err and "pi-zero-vest" in err


def test_run_on_a_computer_blinka_cannot_drive(monkeypatch, capsys, tmp_path):
    _purge()
    for v in ("BLINKA_OS_AGNOSTIC", "BLINKA_FORCEBOARD", "BLINKA_FORCECHIP"):
        monkeypatch.delenv(v, raising=False)
    from host_tools.blinka_sink import pi_model

    if pi_model() is not None:
        pytest.skip("running on a Raspberry Pi")
    assert cli.main(["run", "--board", "pi-zero-vest", "--state", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("threadbeat: ") and err.count("\n") == 1 and "Blinka" in err
    _purge()


def test_live_replay_needs_a_blinka_profile(capsys):
    assert cli.main(["replay", AUDIO, "--live", "--sink", "blinka"]) == 1
    assert "--sink blinka needs a profile with \"chip\": \"blinka\"" in capsys.readouterr().err


# --- live replay scheduling against a fake audio clock -------------------------------------------

class FakeClock:
    def __init__(self):
        self.t = 100.0
        self.streams = []

    def advance(self, dt):
        self.t += dt
        for s in self.streams:
            s.service()


class FakeOutputStream:
    # PortAudio's shape: the callback is asked for block k `latency` seconds before block k reaches
    # the DAC, and told that DAC time; blocks follow each other at the sample rate.
    latency = 0.030
    block = 512

    def __init__(self, clock, samplerate, channels, dtype, latency, callback, finished_callback):
        self.clock = clock
        self.rate = samplerate
        self.channels = channels
        self.callback = callback
        self.finished_callback = finished_callback
        self.t0 = None
        self.k = 0
        self.stopped = False
        self.done = False
        clock.streams.append(self)

    @property
    def time(self):
        return self.clock.t

    def __enter__(self):
        self.t0 = self.clock.t
        self.service()
        return self

    def __exit__(self, *exc):
        self.clock.streams.remove(self)

    def service(self):
        if self.t0 is None:
            return
        while not self.stopped and self.clock.t >= self.t0 + self.k * self.block / self.rate:
            call = self.t0 + self.k * self.block / self.rate
            out = np.zeros((self.block, self.channels), dtype=np.float32)
            try:
                self.callback(out, self.block, SimpleNamespace(outputBufferDacTime=call + self.latency), 0)
            except FakeStop:
                self.stopped = True
            self.k += 1
        end = self.t0 + self.latency + self.k * self.block / self.rate
        if self.stopped and not self.done and self.clock.t >= end:
            self.done = True
            self.finished_callback()

    def heard_s(self, t):
        # Ground truth: seconds of the file that have come out of the DAC at time t.
        return t - self.t0 - self.latency


class FakeStop(Exception):
    pass


def _fake_sd(clock):
    def OutputStream(**kw):
        return FakeOutputStream(clock, **kw)

    return SimpleNamespace(OutputStream=OutputStream, CallbackStop=FakeStop)


class RecordingSink:
    def __init__(self, clock, cost):
        self.clock = clock
        self.cost = cost
        self.shown = []

    def show_bytes(self, frame):
        self.shown.append((self.clock.t, frame))
        self.clock.advance(self.cost)  # sending takes time (about 4 ms for 124 px on a Pi)


def _replay(seconds=3.0):
    from firmware.profile import read_profile
    from host_tools import replay
    from host_tools.audio import load

    profile = read_profile(os.path.join(ROOT, "boards", "pi-zero-vest.json"))
    x, _ = load(AUDIO, 16000)
    return replay.run(x[:int(seconds * 16000)], profile, render=True)


def _clip(tmp_path, seconds=3.0):
    import soundfile as sf

    d, rate = sf.read(AUDIO, always_2d=True)
    path = str(tmp_path / "clip.wav")
    sf.write(path, d[:int(seconds * rate)], rate)
    return path


@pytest.mark.parametrize("jitter", [0.0, 0.0015])
def test_every_frame_goes_out_within_one_frame_of_its_audio_time(tmp_path, jitter):
    res = _replay()
    clock = FakeClock()
    sink = RecordingSink(clock, cost=0.004)

    def sleep(dt):  # the OS wakes us a little late
        clock.advance(dt + jitter)

    shown, skipped, lag = play_live(res, _clip(tmp_path), sink, sd=_fake_sd(clock), sleep=sleep, quiet=True)
    n = res.led.shape[0]
    assert shown == n and skipped == 0
    period = res.hop_s
    assert len(sink.shown) == n
    for h, (t, frame) in enumerate(sink.shown):
        assert frame == res.led[h].tobytes()
        heard = _heard(sink, t)
        due = (h + 1) * period
        assert -EPS <= heard - due < period, "frame %d shown %.2f ms after its audio" % (h, (heard - due) * 1000)
    assert -EPS <= lag < period
    assert FakeOutputStream.latency > period  # so a clock that ignored the output latency would fail above


def _heard(sink, t):
    return t - sink.t0 - FakeOutputStream.latency


@pytest.fixture(autouse=True)
def _remember_start(monkeypatch):
    # RecordingSink learns when the fake stream started (its t0), for the ground-truth check.
    real_enter = FakeOutputStream.__enter__

    def enter(self):
        r = real_enter(self)
        RecordingSink.t0 = self.t0
        return r

    monkeypatch.setattr(FakeOutputStream, "__enter__", enter)


def test_a_slow_strip_skips_stale_frames_instead_of_lagging(tmp_path):
    res = _replay(2.0)
    clock = FakeClock()
    period = res.hop_s
    sink = RecordingSink(clock, cost=1.4 * period)  # each show takes longer than a frame
    shown, skipped, lag = play_live(res, _clip(tmp_path, 2.0), sink, sd=_fake_sd(clock), sleep=clock.advance, quiet=True)
    n = res.led.shape[0]
    assert skipped > n // 4 and shown + skipped == n
    last = -1
    for t, frame in sink.shown:
        h = int((_heard(sink, t) + EPS) // period) - 1  # the one frame whose audio time lies in the last period
        assert h > last and frame == res.led[h].tobytes()  # ... is the one that went out, in order
        last = h
    assert lag < period


def test_schedule_stops_when_the_audio_stops():
    # An output that dies after 10 frames: the rest is counted as skipped, the loop ends.
    t = [0.0]
    times = [(h + 1) * 0.008 for h in range(100)]
    done = [False]

    def position():
        return min(t[0], 10 * 0.008)

    def sleep(dt):
        t[0] += dt
        if t[0] > 0.2:
            done[0] = True

    shown, skipped = schedule_frames(times, position, lambda h: None, sleep, 0.008, lambda: done[0])
    assert [h for h, _ in shown] == list(range(10)) and skipped == 90


def test_playback_clock_counts_from_the_dac_not_the_buffer():
    now = [0.0]
    c = PlaybackClock(48000, lambda: now[0])
    assert c.position() is None
    c.block(dac_time=0.050, first=0, frames=1024)  # written now, heard 50 ms later
    assert c.position() == 0.0
    now[0] = 0.060
    assert c.position() == pytest.approx(0.010)
    now[0] = 1.0
    assert c.position() == pytest.approx(1024 / 48000)  # never past what was written
