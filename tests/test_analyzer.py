# The analyzer on recorded audio: hum, hiss and silence stay dark and beat-free, kicks in a
# garment-microphone mix are found, gain settles after a 30 dB drop without pumping.
import json
import os

import numpy as np
from array import array

from host_tools.scoring import score
from conftest import FIXTURES, ROOT
from firmware.analyzer import Analyzer
from firmware.params import Params
from firmware.profile import read_profile
from firmware.spectrum import LEVEL, N_LEVELS
from host_tools import replay
from host_tools.audio import load

PROFILE = read_profile(os.path.join(ROOT, "boards", "esp32-jacket.json"))
SETTLE = 62  # hops (0.5 s) for the floors to settle


def run(x):
    return replay.run(x, PROFILE, render=False)


def fixture(name):
    x, _ = load(os.path.join(FIXTURES, name + ".flac"), 16000)
    with open(os.path.join(FIXTURES, name + ".json")) as f:
        return x, json.load(f)


def test_mains_hum_stays_dark():
    x, _ = fixture("hum50_clean")
    r = run(x)
    f = r.features[SETTLE:]
    assert len(r.beats) == 0
    assert f[:, 1:5].max() == 0  # level, bass, mid, treble all dark


def test_hiss_and_silence_stay_dark():
    rng = np.random.default_rng(3)
    hiss = np.round(rng.normal(0, 32767 * 10 ** (-45 / 20), 16000 * 6)).astype(np.int16)
    quiet = np.round(rng.normal(0, 2, 16000 * 6)).astype(np.int16)
    for x in (hiss, quiet, np.zeros(16000 * 3, np.int16)):
        r = run(x)
        f = r.features[125:]  # after a second
        assert len(r.beats) == 0
        assert f[:, 1:5].mean() < 3 and (f[:, 7] == 1).mean() > 0.9


def test_kicks_in_a_garment_mic_mix_are_found_on_time():
    x, ann = fixture("mix_garment")
    r = run(x)
    s = score(ann["kicks"], r.beats)
    assert s["f1"] >= 0.7
    assert np.median(s["latencies"]) <= 0.025


def test_a_bass_line_without_kick_fires_rarely():
    x, ann = fixture("kickfree_clean")
    r = run(x)
    # 6 s of bass notes on every beat position (13 at 131 bpm): a detector that fired on the bass line
    # would flash on most of them. The rate over many clips is bench/detect.py's (kick-free false beats
    # a minute); on this one clip the shipped model fires 6 (a model trained for session 12's quarter-fall window: 7).
    positions = ann["duration"] * 131.3 / 60
    assert "131.3 bpm" in ann["source"]
    assert len(r.beats) <= 0.6 * positions


def test_gain_settles_after_a_30_db_drop_and_does_not_pump():
    x, _ = fixture("mix_clean")
    quiet = np.round(x * 10 ** (-30 / 20)).astype(np.int16)
    y = np.concatenate([x, x, quiet, quiet])
    f = run(y).features
    loud = f[125 * 6:125 * 12, 2].mean()  # bass feature, second loud copy
    late = f[125 * 14:125 * 24, 2].mean()  # the quiet part from 2 s after the drop
    assert abs(late - loud) < 0.2 * loud  # settled back to the same brightness
    chunks = [f[125 * a:125 * (a + 2), 2].mean() for a in range(14, 24, 2)]
    assert max(chunks) - min(chunks) < 0.25 * loud  # steady: no pumping within the quiet part


def test_speech_stays_dark_and_beat_free():
    x, _ = fixture("speech_clean")
    r = run(x)
    f = r.features[SETTLE:]
    assert len(r.beats) == 0
    assert f[:, 1].mean() < 10 and f[:, 2].mean() < 10  # level and bass stay (nearly) dark


def test_voice_guard_off_lets_speech_light_up():
    # the guard is what keeps speech dark: with it off the same speech lights the bass
    x, _ = fixture("speech_clean")
    r = replay.run(x, PROFILE, {"params": {"voice_guard": 0}}, render=False)
    assert r.features[SETTLE:, 2].mean() > 50


def test_gain_settles_after_a_30_db_rise_and_kicks_keep_firing():
    # the other way round: a quiet start, then the same music 30 dB louder (a DJ set starting,
    # the wearer walking up to the speakers): brightness is back within 2 s, and the kick detector
    # finds the loud part's kicks as it found the quiet part's
    x, ann = fixture("mix_clean")
    quiet = np.round(x * 10 ** (-30 / 20)).astype(np.int16)
    n = len(x) / 16000.0
    r = run(np.concatenate([quiet, quiet, x, x]))
    f = r.features
    ref = run(np.concatenate([x, x])).features[125 * 6:125 * 12, 2].mean()  # steady loud brightness
    start = int(125 * 2 * n)  # the rise
    late = f[start + 250:, 2].mean()  # from 2 s after it
    assert abs(late - ref) < 0.2 * ref
    beats = np.array(r.beats)
    for part in (1, 3):  # the second quiet copy, the second loud copy
        kicks = [k + part * n for k in ann["kicks"]]
        got = beats[(beats >= part * n) & (beats < (part + 1) * n)].tolist()
        assert score(kicks, got)["f1"] >= 0.7


def q8(db):
    return int(round(db / 3.0103 * 256))


def steady(db):
    # every level at `db` dB (Q8 log2), as the spectrum hands them over
    return array("h", [q8(db)] * N_LEVELS)


def q12(db):
    return q8(db) << 4


def test_the_floor_jumps_down_to_a_level_that_stays_under_it_for_a_quarter_second():
    an = Analyzer(Params(), 16000, 128, 4)
    h = 0
    for _ in range(200):  # the floor starts at -20 dB and rises onto it
        an.update(steady(-20), h * 8)
        h += 1
    walk = an.floor_rise * 4  # its fall per hop
    for dip in (20, an.drop_hops):  # a dip of 0.16 s walks down; 0.25 s under it is a drop
        fl0 = an.floor[LEVEL]
        for i in range(dip):
            an.update(steady(-50), h * 8)
            h += 1
            if i < an.drop_hops - 1:
                assert an.floor[LEVEL] == fl0 - (i + 1) * walk  # 12 dB/s, as before
        for _ in range(5 if dip == 20 else 0):  # back up: the count starts again
            an.update(steady(-20), h * 8)
            h += 1
    assert an.drop_hops == 31 and an.floor[LEVEL] == q12(-50)


def test_the_gain_follows_a_drop_faster_while_the_band_is_dark():
    an = Analyzer(Params(), 16000, 128, 4)
    h = 0
    for db in [-150] * 8 + [-20] * 125:  # silence, then a second of sound: the peak sits at -20 dB
        an.update(steady(db), h * 8)
        h += 1
    assert an.peak[LEVEL] == q12(-20)
    for _ in range(an.hold_hops):  # 30 dB down: the peak is held for agc_hold (0.6 s)
        an.update(steady(-60), h * 8)
        h += 1
    assert an.peak[LEVEL] == q12(-20)
    x, steps = q12(-60), []
    for _ in range(60):
        pk = an.peak[LEVEL]
        an.update(steady(-60), h * 8)
        h += 1
        steps.append((pk - x > an.span, pk - an.peak[LEVEL]))
    # dark (more than agc_range under the peak): 4x the release (80 dB/s); then the usual 20 dB/s
    assert {s for dark, s in steps if dark} == {4 * an.release}
    assert {s for dark, s in steps if not dark} == {an.release}
    assert 33 <= sum(dark for dark, _ in steps) <= 36  # the 22 dB to agc_range in 0.28 s, not 1.1 s
