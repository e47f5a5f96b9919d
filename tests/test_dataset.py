# Tests for the kick-detection development set: the committed fixtures (schema, and that the kick
# annotations sit on real low-frequency onsets) and a --quick run of bench/make_dataset.py.
"""Fixture and generator tests.  The generator test is skipped when the Debian tools/data
(hydrogen-data, hydrogen-drumkits, fluidsynth, fluid-soundfont-gm, espeak-ng) are not installed."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SCRIPT = os.path.join(ROOT, "bench", "make_dataset.py")
FIXTURE_NAMES = ["mix_clean", "mix_garment", "kickfree_clean", "speech_clean", "hum50_clean"]
CATEGORIES = {"mix", "mix_voice", "kickfree", "speech", "silence", "hiss", "hum50", "hum60"}
KICK_CATEGORIES = {"mix", "mix_voice"}
KEYS = {"name", "category", "mic", "split", "kicks", "duration", "source", "pair"}


def load_annotation(directory: str, name: str) -> dict:
    with open(os.path.join(directory, name + ".json")) as fh:
        return json.load(fh)


def audio_path(directory: str, name: str) -> str:
    for ext in (".flac", ".wav"):
        if os.path.isfile(os.path.join(directory, name + ext)):
            return os.path.join(directory, name + ext)
    raise FileNotFoundError(name)


def check_annotation(meta: dict, path: str) -> None:
    """Schema and audio/annotation consistency shared by fixtures and generated files."""
    assert KEYS <= set(meta), KEYS - set(meta)
    assert meta["category"] in CATEGORIES
    assert meta["mic"] in ("clean", "garment")
    assert meta["split"] in ("dev", "test")
    assert meta["name"] == os.path.splitext(os.path.basename(path))[0]
    info = sf.info(path)
    assert info.channels == 1 and info.subtype == "PCM_16"
    assert abs(info.frames / info.samplerate - meta["duration"]) <= 1.0 / info.samplerate
    kicks = meta["kicks"]
    assert kicks == sorted(kicks)
    assert all(0.0 <= t < meta["duration"] for t in kicks)
    if meta["category"] in KICK_CATEGORIES:
        assert len(kicks) >= 3
    else:
        assert kicks == []


# --------------------------------------------------------------------------------------------
# (a) fixtures: present, loadable, consistent with their annotations, small
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_matches_annotation(name):
    meta = load_annotation(FIXTURES, name)
    path = audio_path(FIXTURES, name)
    check_annotation(meta, path)
    x, sr = sf.read(path)
    assert sr in (16000, 22050)
    assert 4.0 <= len(x) / sr <= 8.0
    assert meta["category"] == name.rsplit("_", 1)[0]
    assert meta["mic"] == name.rsplit("_", 1)[1]
    assert np.max(np.abs(x)) > 1e-3, "fixture is silent"


def test_fixture_pairs_and_size():
    mix, garment = load_annotation(FIXTURES, "mix_clean"), load_annotation(FIXTURES, "mix_garment")
    assert mix["pair"] == "mix_garment" and garment["pair"] == "mix_clean"
    assert mix["kicks"] == garment["kicks"]
    total = sum(os.path.getsize(audio_path(FIXTURES, n)) for n in FIXTURE_NAMES)
    assert total < 600_000, total


# --------------------------------------------------------------------------------------------
# (b) annotation accuracy: each annotated kick sits on a sharp rise of low-frequency energy
# --------------------------------------------------------------------------------------------

def lf_rise_db(x: np.ndarray, sr: int) -> np.ndarray:
    """Per sample: how much the low-frequency (< 150 Hz) envelope rises, in dB, comparing the
    next 4 ms with the previous 8 ms.

    Causal 2nd-order low-pass (nothing leaks backwards ahead of an onset), then the Hilbert
    magnitude, which stays smooth on sustained bass/organ tones where short-window energy ripples.
    """
    lp = signal.sosfilt(signal.butter(2, 150.0, "lowpass", fs=sr, output="sos"), x)
    c = np.concatenate([[0.0], np.cumsum(np.abs(signal.hilbert(lp)))])
    i = np.arange(len(x))
    post, pre = int(0.004 * sr), int(0.008 * sr)
    e_post = (c[np.minimum(i + post, len(x))] - c[i]) / post
    e_pre = (c[i] - c[np.maximum(i - pre, 0)]) / pre
    return 20 * np.log10((e_post + 1e-9) / (e_pre + 1e-9))


def onset_hits(x: np.ndarray, sr: int, times, tol_s=0.005, search_s=0.015, min_rise_db=6.0):
    """For each time: is the steepest low-frequency rise within +-search_s at most tol_s away,
    and at least min_rise_db steep?"""
    rise = lf_rise_db(x, sr)
    hits = []
    for t in times:
        i, w = int(round(t * sr)), int(search_s * sr)
        lo, hi = max(0, i - w), min(len(x), i + w)
        j = lo + int(np.argmax(rise[lo:hi]))
        hits.append(abs(j - i) <= tol_s * sr and rise[j] >= min_rise_db)
    return np.array(hits)


def test_clean_mix_kicks_sit_on_low_frequency_onsets():
    """At (nearly) every annotated kick the steepest LF rise is within +-5 ms.  "Nearly": in a
    real mix a bass note starting with the kick can now and then out-rise it."""
    meta = load_annotation(FIXTURES, "mix_clean")
    x, sr = sf.read(audio_path(FIXTURES, "mix_clean"))
    hits = onset_hits(x, sr, meta["kicks"])
    assert hits.mean() >= 0.85, [t for t, h in zip(meta["kicks"], hits) if not h]


def test_onset_check_rejects_shifted_annotations():
    """The check above has teeth: annotations 12 ms off (either way) mostly fail it."""
    meta = load_annotation(FIXTURES, "mix_clean")
    x, sr = sf.read(audio_path(FIXTURES, "mix_clean"))
    kicks = np.array(meta["kicks"])
    for shift in (-0.012, 0.012):
        assert onset_hits(x, sr, kicks + shift).mean() <= 0.25, shift


def test_garment_mix_kicks_mostly_on_onsets():
    """Through reverb, high-pass and hiss the annotated kicks still sit on LF rises (the
    garment version keeps the clean version's times)."""
    meta = load_annotation(FIXTURES, "mix_garment")
    x, sr = sf.read(audio_path(FIXTURES, "mix_garment"))
    assert onset_hits(x, sr, meta["kicks"]).mean() >= 0.85


def test_garment_fixture_is_quieter():
    clean, _ = sf.read(audio_path(FIXTURES, "mix_clean"))
    garment, _ = sf.read(audio_path(FIXTURES, "mix_garment"))
    drop_db = 20 * np.log10(np.std(clean) / np.std(garment))
    assert 15.0 <= drop_db <= 45.0, drop_db


# --------------------------------------------------------------------------------------------
# (c) the generator: --quick into a temporary directory
# --------------------------------------------------------------------------------------------

def _bench_module(name: str):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        return __import__(name)
    finally:
        sys.path.pop(0)


def _missing_requirements() -> list[str]:
    return _bench_module("dataset_lib").missing_requirements()


@pytest.fixture(scope="module")
def quick_set(tmp_path_factory):
    missing = _missing_requirements()
    if missing:
        pytest.skip("dataset generator needs Debian packages not installed here: "
                    + ", ".join(missing))
    out = tmp_path_factory.mktemp("devset")
    run = subprocess.run([sys.executable, SCRIPT, "--out", str(out), "--quick"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return out, run.stdout


def test_quick_run_writes_consistent_files(quick_set):
    out, _ = quick_set
    with open(os.path.join(out, "index.json")) as fh:
        index = json.load(fh)
    metas = {f["name"]: load_annotation(str(out), f["name"]) for f in index["files"]}
    assert {m["category"] for m in metas.values()} == CATEGORIES
    assert len(metas) == 2 * len(CATEGORIES)
    for name, meta in metas.items():
        check_annotation(meta, os.path.join(out, name + ".wav"))
        partner = metas[meta["pair"]]
        assert partner["pair"] == name and partner["mic"] != meta["mic"]
        assert partner["kicks"] == meta["kicks"] and partner["split"] == meta["split"]
        assert partner["category"] == meta["category"]


def test_quick_run_garment_versions_are_quieter(quick_set):
    out, _ = quick_set
    for category in ("mix", "mix_voice", "kickfree", "speech"):
        clean, _ = sf.read(os.path.join(out, f"{category}_01_clean.wav"))
        garment, _ = sf.read(os.path.join(out, f"{category}_01_garment.wav"))
        drop_db = 20 * np.log10(np.std(clean) / np.std(garment))
        assert 15.0 <= drop_db <= 45.0, (category, drop_db)


def test_quick_run_is_skipped_when_up_to_date(quick_set):
    out, _ = quick_set
    run = subprocess.run([sys.executable, SCRIPT, "--out", str(out), "--quick"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "up to date" in run.stdout


# --------------------------------------------------------------------------------------------
# (c) the split by drum kit, the extra dev material's kick pool, the extra test songs
# --------------------------------------------------------------------------------------------

def _mix_kits(md, indices_by_category) -> set:
    # the kit build_mix picks for each (category, index) without overrides
    offset = {"mix": 0, "mix_voice": md.PLAN["mix"]}
    return {md.KITS[(i - 1 + offset[c]) % len(md.KITS)] for c, idx in indices_by_category.items() for i in idx}


def test_dev_and_test_mixes_share_no_kit_and_the_pool_stays_on_dev_kits():
    # bench/data's test mixes are played on kits that no dev mix uses (train_detector's folds by kit
    # rely on it), and the kick pool of the extra dev material only takes kicks of dev kits
    md = _bench_module("make_dataset")
    xd = _bench_module("make_extra_dev")
    test = _mix_kits(md, {c: [i for i in range(1, md.PLAN[c] + 1) if md.split_of(i) == "test"]
                          for c in ("mix", "mix_voice")})
    dev_idx = {c: [i for i in range(1, 400) if md.split_of(i) == "dev"] for c in ("mix", "mix_voice")}
    dev = _mix_kits(md, dev_idx)
    assert test and dev and not test & dev
    pool = xd.pool_jobs(1, 40)
    assert {ov["kit"] for _, ov in pool} <= dev
    assert {kit for kit, _ in md.dl.DEV_KICK_POOL} <= dev
    names = [j.base for j, _ in pool]
    assert len(set(names)) == len(names) == 80
    assert all(md.split_of(j.index) == "dev" and j.index >= xd.POOL_FIRST for j, _ in pool)
    extra = {j.base for j, _ in xd.extra_jobs(1, 40)}
    assert not extra & set(names)
    # --split test: more songs past bench/data's, on the test kits only
    more = [j for j, _ in xd.extra_jobs(1, 40, "test")]
    assert all(md.split_of(j.index) == "test" and j.index > md.PLAN[j.category] for j in more)
    more_kits = _mix_kits(md, {c: [j.index for j in more if j.category == c] for c in ("mix", "mix_voice")})
    assert more_kits == test
    assert not {j.base for j in more} & (extra | set(names))
    # the widest --per-category whose clips stay under the pool's numbers, and one more
    assert max(j.index for j, _ in xd.extra_jobs(1, 95) + xd.extra_jobs(1, 95, "test")) < xd.POOL_FIRST
    for split in ("dev", "test"):
        with pytest.raises(ValueError, match="kick-pool"):
            xd.extra_jobs(1, 96, split)
    # likewise the widest --kick-pool whose clips stay under the synthesized kicks' numbers
    assert max(j.index for j, _ in xd.pool_jobs(1, 50)) < xd.SYNTH_FIRST
    with pytest.raises(ValueError, match="kick-synth|synthesized"):
        xd.pool_jobs(1, 51)
    rated = [ov for _, ov in pool if "kick_rate" in ov]
    assert len(rated) == 40 and {ov["kick_rate"] for ov in rated} <= set(xd.KICK_RATES)
    for kit, kick in md.dl.DEV_KICK_POOL:  # every kick both as recorded and resampled
        assert any(ov["kick"] == kick and ov["kit"] == kit and "kick_rate" in ov for _, ov in pool)
        assert any(ov["kick"] == kick and ov["kit"] == kit and "kick_rate" not in ov for _, ov in pool)


def _check_dev_mix_recipe(md, jobs, count, first, widest_before):
    # count dev clips numbered from `first`, on the pool's dev kits, none named as a clip of the recipe
    # before it at its widest
    assert len(jobs) == count and all(md.split_of(j.index) == "dev" and j.index >= first for j, _ in jobs)
    assert {ov["kit"] for _, ov in jobs} <= {kit for kit, _ in md.dl.DEV_KICK_POOL}
    assert not {j.base for j, _ in jobs} & {j.base for j, _ in widest_before}


def test_synthesized_kick_clips_are_dev_material_with_falling_pitch():
    md = _bench_module("make_dataset")
    xd = _bench_module("make_extra_dev")
    dl = md.dl
    jobs = xd.synth_jobs(1, 16)
    _check_dev_mix_recipe(md, jobs, 32, xd.SYNTH_FIRST, xd.pool_jobs(1, (xd.SYNTH_FIRST - xd.POOL_FIRST) // 2))
    assert jobs == xd.synth_jobs(1, 16)  # the same recipes every time
    p = jobs[0][1]["kick_synth"]
    x, onset = dl.synth_kick(**p)
    assert np.array_equal(x, dl.synth_kick(**p)[0]) and 0 <= onset < dl.SR // 20
    assert 40 <= p["f_end"] <= 65 and p["f_end"] * 1.5 <= p["f_start"] + 0.1 and p["f_start"] <= 320

    def dominant(a, b):  # strongest frequency (Hz) between a and b ms after the onset
        seg = x[onset + dl.SR * a // 1000: onset + dl.SR * b // 1000]
        spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), 1 << 15))
        return np.fft.rfftfreq(1 << 15, 1 / dl.SR)[np.argmax(spec)]

    early, late = dominant(0, 15), dominant(150, 250)
    assert early > 1.2 * late and abs(late - p["f_end"]) < 8


def test_recorded_outside_kicks_are_dev_material_on_dev_kits(tmp_path, monkeypatch):
    md = _bench_module("make_dataset")
    xd = _bench_module("make_extra_dev")
    dl = md.dl
    jobs = xd.ext_jobs(1, 30)
    _check_dev_mix_recipe(md, jobs, 60, xd.EXT_FIRST, xd.synth_jobs(1, (xd.EXT_FIRST - xd.SYNTH_FIRST) // 2))
    with pytest.raises(ValueError, match="kick-ext"):
        xd.synth_jobs(1, (xd.EXT_FIRST - xd.SYNTH_FIRST) // 2 + 1)
    # every outside kick is used, in both categories
    for cat in ("mix", "mix_voice"):
        assert {ov["kick_file"] for j, ov in jobs if j.category == cat} == \
            {dl.ext_kick_path(*k) for k in dl.EXT_KICKS}
    # none of them is a test kit's sample (they live outside hydrogen's kits)
    assert not any(ov["kick_file"].startswith(dl.DRUMKIT_DIR) for _, ov in jobs)
    # --split test: the same kicks on the test kits (the kits of bench/data's test mixes), test numbers
    held = xd.ext_jobs(1, 30, "test")
    test_kits = _mix_kits(md, {c: [i for i in range(1, md.PLAN[c] + 1) if md.split_of(i) == "test"]
                               for c in ("mix", "mix_voice")})
    assert {ov["kit"] for _, ov in held} == set(xd.split_kits("test")) == test_kits
    assert all(md.split_of(j.index) == "test" and j.index >= xd.EXT_FIRST for j, _ in held)
    assert {ov["kick_file"] for _, ov in held} == {ov["kick_file"] for _, ov in jobs}
    assert not {j.base for j, _ in held} & {j.base for j, _ in jobs}
    monkeypatch.setattr(dl, "EXT_KICK_DIRS", {k: str(tmp_path / k) for k in dl.EXT_KICK_DIRS})
    assert dl.missing_ext_kicks() == sorted(dl.EXT_KICK_DIRS)
    with pytest.raises(SystemExit):  # the test split takes no pool or synthesized kicks
        xd.main(["--split", "test", "--kick-synth", "2", "--out", str(tmp_path / "x")])


def test_an_outside_kick_replaces_only_the_kick():
    dl = _bench_module("dataset_lib")
    if not os.path.isdir(dl.DRUMKIT_DIR) or dl.missing_ext_kicks():
        pytest.skip("hydrogen-data, sonic-pi-samples or lmms-common is not installed")
    path = dl.ext_kick_path(*dl.EXT_KICKS[0])
    plain = dl.DrumKit("GMRockKit", np.random.default_rng(5))
    other = dl.DrumKit("GMRockKit", np.random.default_rng(5), kick_file=path)
    assert {r: i.name for r, i in plain.roles.items()} == {r: i.name for r, i in other.roles.items()}
    x, onset = dl.load_sample(path)
    y, onset_y, gain = other.hit("kick", 0.5, np.random.default_rng(0))
    assert np.array_equal(x, y) and onset_y == onset and gain * np.max(np.abs(y)) == pytest.approx(0.5)
    assert "kick=" + path in other.describe()
    lag = dl.kit_kick_attack_ms(other)
    assert lag[0] == lag[1] and 0 <= lag[0] < 30
    assert other.hit("snare", 0.5, np.random.default_rng(0))[0].shape == \
        plain.hit("snare", 0.5, np.random.default_rng(0))[0].shape


def test_kick_override_and_rate_keep_the_rest_of_the_kit():
    if not os.path.isdir(_bench_module("dataset_lib").DRUMKIT_DIR):
        pytest.skip("hydrogen-data is not installed")
    dl = _bench_module("dataset_lib")
    plain = dl.DrumKit("ElectricEmpireKit", np.random.default_rng(5))
    other = dl.DrumKit("ElectricEmpireKit", np.random.default_rng(5), "Kick Old", 0.8)
    assert other.roles["kick"].name == "Kick Old" != plain.roles["kick"].name
    assert {r: i.name for r, i in plain.roles.items() if r != "kick"} == \
        {r: i.name for r, i in other.roles.items() if r != "kick"}
    x, onset = dl.load_sample(other.roles["kick"].layers[0].path)
    y, onset_y = other.hit("kick", 1.0, np.random.default_rng(0))[:2]
    assert abs(len(y) - len(x) / 0.8) <= 2  # 0.8 times as fast: longer, lower
    assert abs(onset_y - onset / 0.8) <= 0.002 * dl.SR
    n = 1 << int(np.ceil(np.log2(len(y))))
    power = lambda v: np.abs(np.fft.rfft(v, n)) ** 2  # noqa: E731
    freqs = np.fft.rfftfreq(n, 1 / dl.SR)
    centroid = lambda v: np.sum(freqs * power(v)) / np.sum(power(v))  # noqa: E731
    assert centroid(y) == pytest.approx(0.8 * centroid(x), rel=0.05)  # about four semitones lower
    z, _ = dl.DrumKit("ElectricEmpireKit", np.random.default_rng(5)).hit("kick", 1.0, np.random.default_rng(0))[:2]
    assert len(z) == len(dl.load_sample(plain.roles["kick"].layers[0].path)[0])  # rate 1: as recorded


def test_missing_requirements_names_the_package_of_each_missing_kit(tmp_path, monkeypatch):
    dl = _bench_module("dataset_lib")
    kits, demos = tmp_path / "drumkits", tmp_path / "demo_songs"
    monkeypatch.setattr(dl, "DRUMKIT_DIR", str(kits))
    monkeypatch.setattr(dl, "DEMO_SONG_DIR", str(demos))
    named = lambda: {m.split()[0] for m in dl.missing_requirements()}  # noqa: E731
    assert {"hydrogen-data", "hydrogen-drumkits"} <= named()
    demos.mkdir()
    for kit in dl.HYDROGEN_DATA_KITS:  # hydrogen-data alone: its two kits, not the other ten
        (kits / kit).mkdir(parents=True)
    assert "hydrogen-drumkits" in named() and "hydrogen-data" not in named()
    for kit in dl.KIT_ROLES:
        (kits / kit).mkdir(exist_ok=True)
    assert not {"hydrogen-data", "hydrogen-drumkits"} & named()


def test_more_dev_speech_stays_dev_and_clear_of_the_per_category_clips():
    md = _bench_module("make_dataset")
    xd = _bench_module("make_extra_dev")
    jobs = [j for j, _ in xd.speech_jobs(1, 40)]
    assert len(jobs) == 40 and all(j.category == "speech" and md.split_of(j.index) == "dev" for j in jobs)
    widest = {j.base for j, _ in xd.extra_jobs(1, 95) if j.category == "speech"}
    assert min(j.index for j in jobs) >= xd.SPEECH_FIRST and not widest & {j.base for j in jobs}
