# bench/detect.py's bookkeeping on made-up results: pooled kick scores and false beats per condition,
# the markdown table, and the note on which drum kits training heard (from index files in a tmp dir).
import json
import os

from bench import detect


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
    assert any(line.startswith("| all mixes, clean mic | F1 0.67 (P 0.75 R 0.60)") for line in lines)
    assert "| speech, clean mic | 4.0 |" in lines


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
