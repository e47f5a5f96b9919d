# bench/detect.py's bookkeeping on made-up results: pooled kick scores and false beats per condition,
# the F1's bootstrap interval over songs, the markdown table, which files the test split scores, and
# the note on which drum kits training heard (from index files in a tmp dir).
import json
import os

from bench import detect
from host_tools import scoring


def test_evaluate_pools_kicks_and_counts_false_beats():
    files = [
        dict(category="mix", mic="clean", kicks=[1.0, 2.0, 3.0], duration=4.0),
        dict(category="mix_voice", mic="clean", kicks=[1.0, 2.0], duration=3.0),
        dict(category="speech", mic="clean", kicks=[], duration=30.0),
    ]
    results = [{"ours": [1.01, 2.02, 3.5]}, {"ours": [1.0]}, {"ours": [5.0, 9.0]}]
    t = detect.evaluate(files, results, ["ours"])["ours"]
    assert (t[("mix", "clean")]["tp"], t[("mix", "clean")]["fp"], t[("mix", "clean")]["fn"]) == (2, 1, 1)
    allm = t[("all mixes", "clean")]
    assert (allm["tp"], allm["fp"], allm["fn"]) == (3, 1, 2)
    assert t[("speech", "clean")]["fpm"] == 4.0  # 2 beats in 30 s
    assert ("mix", "garment") not in t
    lines = detect.markdown({"ours": t}, "test", None)
    assert allm["files"] == 2 and allm["f1_ci"][0] - 1e-9 <= allm["f1"] <= allm["f1_ci"][1] + 1e-9
    assert any(line.startswith("| all mixes, clean mic (2 songs) | F1 0.67 [") and "(P 0.75 R 0.60)" in line
               for line in lines)
    assert "| speech, clean mic | 4.0 |" in lines
    # mixes only (e.g. bench/data/extra_ext_test): no empty false-beats table after them
    mixes_only = detect.evaluate(files[:2], results[:2], ["ours"])
    lines = detect.markdown(mixes_only, "test", None)
    assert lines[-1].startswith("| all mixes, clean mic (2 songs) |")
    assert not any("without a kick" in line for line in lines)


def test_kit_note_says_which_scored_kits_training_heard(tmp_path, monkeypatch):
    def write(d, name, split, kit):
        os.makedirs(d, exist_ok=True)
        meta = dict(name=name, category="mix", mic="clean", split=split, details=dict(kit=kit))
        with open(os.path.join(d, name + ".json"), "w") as fh:
            json.dump(meta, fh)
        return dict(meta, json=name + ".json")

    data, extra = str(tmp_path), str(tmp_path / "extra")
    base = [write(data, "mix_01_clean", "dev", "KitA"), write(data, "mix_02_clean", "test", "KitB")]
    more = [write(extra, "mix_11_clean", "dev", "KitC")]
    for d, entries in ((data, base), (extra, more)):
        with open(os.path.join(d, "index.json"), "w") as fh:
            json.dump({"files": entries}, fh)
    monkeypatch.setattr(detect, "DATA", data)
    scored = [dict(base[1])]
    assert detect.kit_note(scored) == "Drum kits in the scored mixes: 1; heard in training: none. Training kits: 2."
    scored.append(dict(category="mix", mic="clean", details=dict(kit="KitC")))
    assert "heard in training: KitC." in detect.kit_note(scored)


def _score(tp, fp, fn):
    return dict(tp=tp, fp=fp, fn=fn, latencies=[])


def test_f1_interval_is_a_point_for_alike_songs_and_narrows_with_more_songs():
    alike = [_score(8, 2, 2)] * 6
    lo, hi = scoring.f1_interval(alike)
    assert abs(lo - 0.8) < 1e-12 and abs(hi - 0.8) < 1e-12
    mixed = [_score(9, 1, 1), _score(2, 6, 8), _score(7, 2, 3)]
    f1 = scoring.pooled(mixed)["f1"]
    lo3, hi3 = scoring.f1_interval(mixed)
    assert lo3 < f1 < hi3 and hi3 - lo3 > 0.2  # one bad song in three moves it a lot
    lo30, hi30 = scoring.f1_interval(mixed * 10)
    assert lo3 < lo30 < f1 < hi30 < hi3
    assert scoring.f1_interval(mixed) == (lo3, hi3)  # seeded: the README does not wobble between runs


def test_test_split_adds_extra_test_clips_unless_told_not_to(tmp_path, monkeypatch):
    def index(d, entries):
        os.makedirs(d, exist_ok=True)
        for e in entries:
            with open(os.path.join(d, e["json"]), "w") as fh:
                json.dump(dict(name=e["name"], kicks=[]), fh)
        with open(os.path.join(d, "index.json"), "w") as fh:
            json.dump({"files": entries}, fh)

    def entry(name, split):
        return dict(name=name, json=name + ".json", split=split, category="mix", mic="clean")

    data = str(tmp_path)
    index(data, [entry("mix_01_clean", "dev"), entry("mix_02_clean", "test")])
    monkeypatch.setattr(detect, "DATA", data)
    assert [f["name"] for f in detect.scored_files("test")] == ["mix_02_clean"]  # no extra_test yet
    index(os.path.join(data, detect.EXTRA_TEST), [entry("mix_12_clean", "test")])
    test = detect.scored_files("test")
    assert [(f["name"], f["dir"]) for f in test] == [("mix_02_clean", data),
                                                     ("mix_12_clean", os.path.join(data, detect.EXTRA_TEST))]
    assert [f["name"] for f in detect.scored_files("test", extra=False)] == ["mix_02_clean"]
    assert [f["name"] for f in detect.scored_files("dev")] == ["mix_01_clean"]
    # another draw of test songs in its own directory, with or without bench/data's own
    index(os.path.join(data, "extra_test2"), [entry("mix_12_clean", "test"), entry("mix_14_clean", "test")])
    fresh = detect.scored_files("test", extra_dir="extra_test2", extra_only=True)
    assert [(f["name"], f["dir"]) for f in fresh] == [("mix_12_clean", os.path.join(data, "extra_test2")),
                                                      ("mix_14_clean", os.path.join(data, "extra_test2"))]
    assert len(detect.scored_files("test", extra_dir="extra_test2")) == 3


def test_breakdown_groups_mixes_by_a_detail_worst_first():
    def mix(kit, mic, kicks):
        return dict(category="mix", mic=mic, kicks=kicks, duration=5.0, details=dict(kit=kit))

    files = [mix("KitA", "clean", [1.0, 2.0]), mix("KitA", "clean", [1.0]), mix("KitB", "clean", [1.0, 2.0]),
             mix("KitB", "garment", [1.0]), dict(category="speech", mic="clean", kicks=[], duration=5.0)]
    results = [{"ours": [1.0, 2.0]}, {"ours": [1.0]}, {"ours": [3.0]}, {"ours": [1.0]}, {"ours": [2.0]}]
    lines = detect.breakdown(files, results, "kit")
    assert [line.split()[:3] for line in lines] == [["KitB", "clean", "1"], ["KitA", "clean", "2"],
                                                     ["KitB", "garment", "1"]]
    assert "F1 0.00" in lines[0] and "F1 1.00" in lines[1]


def test_detect_file_runs_the_kick_model_it_is_given(monkeypatch):
    # --kick-model small scores the filesystem garment's model: the job carries the choice to replay.
    from host_tools import replay

    seen = []
    real = replay.kick_model_for
    monkeypatch.setattr(replay, "kick_model_for", lambda which: seen.append(which) or real(which))
    path = os.path.join(os.path.dirname(__file__), "fixtures", "mix_garment.flac")
    small = detect.detect_file((path, "esp32-jacket", None, False, "small"))["ours"]
    full = detect.detect_file((path, "esp32-jacket", None, False, "full"))["ours"]
    assert seen == ["small", "full"]
    assert small and full and small != full  # two different models on a real mix
