# Kick-detection benchmark: the firmware engine (through replay) and the peers' published methods
# on the annotated set from bench/make_dataset.py, per condition: F1 at +-50 ms, precision, recall,
# latency (kick onset -> end of the frame that raises the beat), false beats per minute. Each F1
# carries a 95 % bootstrap interval over songs (how much one song more or less moves it).
# The test split is bench/data's test clips plus, when present, bench/data/extra_test
# (`python bench/make_extra_dev.py --split test`: more songs on the same held-out kits).
# Usage: python bench/detect.py [--split test|dev|all] [--no-extra] [--config CONFIG] [--no-readme] [--no-peers]
#        python bench/detect.py --extra-test extra_test2 --extra-only   (a fresh draw of test songs alone)
#        python bench/detect.py --sweep 20,35,50,65,80   (what each `sensitivity` costs: README table)
#        python bench/detect.py --by kit   (our F1 per drum kit, groove, bass_style, ... of the mixes)
#        python bench/detect.py --kick-model small   (the smaller model a filesystem garment runs)
import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import readme  # noqa: E402
from host_tools import scoring  # noqa: E402

DATA = os.path.join(ROOT, "bench", "data")
EXTRA_TEST = "extra_test"  # under DATA
KICK_CATS = ("mix", "mix_voice")
QUIET_CATS = ("kickfree", "speech", "silence", "hiss", "hum50", "hum60")


def detect_file(job):
    # Beats of every detector on one file: {"ours": [...], "wled": [...], "ledfx": [...]}.
    path, board, config, peers, kick_model = job
    import soundfile as sf

    from firmware.profile import read_profile
    from host_tools import replay
    from host_tools.audio import load

    profile = read_profile(os.path.join(ROOT, "boards", board + ".json"))
    samples, _ = load(path, profile["sample_rate"])
    out = {"ours": replay.run(samples, profile, config, render=False, kick_model=kick_model).beats}
    if peers:
        from bench.peers import ledfx_beats, wled_beats

        x, fs = sf.read(path, always_2d=True)
        x = x.mean(axis=1)
        out["wled"] = wled_beats(x, fs)
        out["ledfx"] = ledfx_beats(x, fs)
    return out


def evaluate(files, results, detectors):
    # Per detector and condition (category x mic): pooled kick scores or false beats per minute.
    table = {}
    for det in detectors:
        rows = {}
        for mic in ("clean", "garment"):
            for cat in KICK_CATS + QUIET_CATS:
                sel = [(f, r) for f, r in zip(files, results) if f["category"] == cat and f["mic"] == mic]
                if not sel:
                    continue
                if cat in KICK_CATS:
                    rows[(cat, mic)] = kick_row([scoring.score(f["kicks"], r[det]) for f, r in sel])
                else:
                    rows[(cat, mic)] = {"fpm": scoring.false_per_minute([len(r[det]) for f, r in sel],
                                                                        [f["duration"] for f, r in sel])}
            kick = [(f, r) for f, r in zip(files, results) if f["category"] in KICK_CATS and f["mic"] == mic]
            if kick:
                rows[("all mixes", mic)] = kick_row([scoring.score(f["kicks"], r[det]) for f, r in kick])
        table[det] = rows
    return table


def kick_row(per_file):
    # pooled scores of a condition's files, with the F1's bootstrap interval over them and their count
    return dict(scoring.pooled(per_file), f1_ci=scoring.f1_interval(per_file), files=len(per_file))


def f1_cell(r):
    # "F1 0.74 [0.69-0.78] (P 0.78 R 0.70)" of a kick_row
    return "F1 %.2f [%.2f-%.2f] (P %.2f R %.2f)" % (r["f1"], r["f1_ci"][0], r["f1_ci"][1], r["precision"], r["recall"])


def markdown(table, split, config, source=None):
    # source: where the songs come from when not the README's yardstick (printed in the heading)
    dets = list(table)
    names = {"ours": "threadbeat", "wled": "WLED-style one bin", "ledfx": "LedFx-style bass energy"}
    lines = ["Kick F1 at +-50 ms [95 %% interval over songs] / median latency / p90 latency, on the `%s` split%s%s:" % (
        split, " (%s)" % source if source else "", " with %s" % os.path.basename(config) if config else ""), "",
             "| condition | " + " | ".join(names[d] for d in dets) + " |", "|---|" + "---|" * len(dets)]
    conds = [c for c in table[dets[0]] if c[0] in KICK_CATS + ("all mixes",)]
    for c in conds:
        cells = []
        for d in dets:
            r = table[d][c]
            cells.append("%s / %.0f / %.0f ms" % (f1_cell(r), r["lat_median_ms"], r["lat_p90_ms"]))
        lines.append("| %s, %s mic (%d songs) | %s |" % (c[0], c[1], table[dets[0]][c]["files"], " | ".join(cells)))
    quiet = [c for c in table[dets[0]] if c[0] in QUIET_CATS]
    if not quiet:  # e.g. bench/data/extra_ext_test: mixes only
        return lines
    lines += ["", "False beats per minute on material without a kick:", "",
              "| condition | " + " | ".join(names[d] for d in dets) + " |", "|---|" + "---|" * len(dets)]
    for c in quiet:
        lines.append("| %s, %s mic | %s |" % (c[0], c[1], " | ".join("%.1f" % table[d][c]["fpm"] for d in dets)))
    return lines


def read_index(d, keep):
    # Index entries of directory d for which keep(entry) holds, each with its annotation merged in
    # and its directory ("dir").
    out = []
    for f in json.load(open(os.path.join(d, "index.json")))["files"]:
        if keep(f):
            with open(os.path.join(d, f["json"])) as fh:
                out.append(dict(f, dir=d, **json.load(fh)))
    return out


def scored_files(split, extra=True, extra_dir=EXTRA_TEST, extra_only=False):
    # Entries of bench/data in `split` ("all": both), and for test (or all) those of the extra test
    # directory under bench/data (extra_test; another draw with --extra-test); extra_only: its alone.
    files = [] if extra_only else read_index(DATA, lambda f: split == "all" or f["split"] == split)
    more = os.path.join(DATA, extra_dir)
    if extra and split != "dev" and os.path.exists(os.path.join(more, "index.json")):
        files += read_index(more, lambda f: f["split"] == "test")
    return files


def run_all(files, board, config, peers, kick_model="full"):
    # detect_file on every file, on all cores; kick_model: "full" or "small" (replay.kick_model_for).
    jobs = [(os.path.join(f.get("dir", DATA), f["name"] + ".wav"), board, config, peers, kick_model) for f in files]
    with ProcessPoolExecutor(max(1, os.cpu_count() or 1)) as ex:
        return list(ex.map(detect_file, jobs))


def kit_note(files):
    # Which drum kits the scored mixes use, and whether training (bench/data's dev split and
    # bench/data/extra, all dev) ever heard them.
    def kits(entries):
        return {f.get("details", {}).get("kit") for f in entries if f["category"] in KICK_CATS} - {None}

    dev = []
    for d in (DATA, os.path.join(DATA, "extra")):
        if os.path.exists(os.path.join(d, "index.json")):
            dev += read_index(d, lambda f: f["split"] == "dev" and f["category"] in KICK_CATS and f["mic"] == "clean")
    scored, heard = kits(files), kits(dev)
    both = sorted(scored & heard)
    return "Drum kits in the scored mixes: %d; heard in training: %s. Training kits: %d." % (
        len(scored), ", ".join(both) if both else "none", len(heard))


def breakdown(files, results, key):
    # Our pooled kick scores per value of the mixes' `details[key]` (kit, groove, bass_style, voice...)
    # and microphone, worst first: where the misses are.
    groups = {}
    for f, r in zip(files, results):
        if f["category"] in KICK_CATS:
            g = (str(f.get("details", {}).get(key)), f["mic"])
            groups.setdefault(g, []).append(scoring.score(f["kicks"], r["ours"]))
    rows = [(g, kick_row(res)) for g, res in groups.items()]
    rows.sort(key=lambda gr: gr[1]["f1"])
    return ["%-28s %-8s %3d songs  %s" % (g[0], g[1], r["files"], f1_cell(r)) for g, r in rows]


def sweep_lines(files, board, values):
    # Our detector at each `sensitivity` value: all mixes per microphone, false beats per minute.
    lines = ["`sensitivity` against what it costs, on the `test` split (our detector only; all mixes "
             "F1 (P R), false beats per minute on kick-free music and, worst of, speech, silence, hiss "
             "and hum):", "",
             "| sensitivity | clean mic | garment mic | kick-free music (clean / garment) | speech, silence, hiss, hum |",
             "|---|---|---|---|---|"]
    for v in values:
        results = run_all(files, board, {"params": {"sensitivity": v}}, False)
        rows = evaluate(files, results, ["ours"])["ours"]
        cells = [f1_cell(rows[("all mixes", mic)]) for mic in ("clean", "garment")]
        kf = "%.1f / %.1f" % (rows[("kickfree", "clean")]["fpm"], rows[("kickfree", "garment")]["fpm"])
        quiet = max(r["fpm"] for c, r in rows.items() if c[0] in QUIET_CATS and c[0] != "kickfree")
        lines.append("| %d%s | %s | %s | %s | %.1f |" % (v, " (default)" if v == 50 else "", cells[0], cells[1], kf,
                                                        quiet))
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="test", choices=("test", "dev", "all"))
    ap.add_argument("--config", help="settings JSON for our engine (e.g. tuned parameters)")
    ap.add_argument("--board", default="esp32-jacket")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-extra", action="store_true", help="bench/data's own test clips only (not extra_test)")
    ap.add_argument("--extra-test", default=EXTRA_TEST,
                    help="directory under bench/data with more test songs (e.g. a fresh draw made by "
                         "make_extra_dev.py --split test --seed S --out bench/data/NAME); README only for extra_test")
    ap.add_argument("--extra-only", action="store_true", help="the extra test directory's songs alone")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--json", help="write the full table here")
    ap.add_argument("--sweep", help="comma-separated sensitivity values: their cost table instead")
    ap.add_argument("--kick-model", choices=("full", "small"), default="full",
                    help="small: the model a garment runs from its filesystem (firmware/kick_weights_small.py); "
                         "the README tables are the full model's")
    ap.add_argument("--by", help="our F1 per value of this annotation detail (kit, groove, bass_style, voice, ...) "
                                 "instead of the table")
    args = ap.parse_args()
    index = os.path.join(DATA, "index.json")
    if not os.path.exists(index):
        print("no dataset: run `python bench/make_dataset.py` first", file=sys.stderr)
        return 2
    if args.extra_only and (args.no_extra or args.split != "test"):
        ap.error("--extra-only scores the extra test directory: with --split test and without --no-extra")
    files = scored_files(args.split, not args.no_extra, args.extra_test, args.extra_only)
    if not files:
        print("nothing to score (is %s there?)" % os.path.join(DATA, args.extra_test), file=sys.stderr)
        return 2
    usual_songs = args.extra_test == EXTRA_TEST and not args.extra_only  # bench/data's and extra_test's
    # only the README's yardstick (the test split with extra_test) writes the README tables
    write_readme = (usual_songs and args.split == "test" and not args.no_extra and not args.no_readme
                    and args.kick_model == "full")
    if args.sweep:
        lines = sweep_lines(files, args.board, [int(v) for v in args.sweep.split(",")])
        print("\n".join(lines))
        if write_readme:
            readme.update("sensitivity", lines + ["", "_%s; `python bench/detect.py --sweep %s`_" % (
                readme.stamp(), args.sweep)])
        return 0
    config = json.load(open(args.config)) if args.config else None
    if args.by:
        print("\n".join(breakdown(files, run_all(files, args.board, config, False, args.kick_model), args.by)))
        return 0
    results = run_all(files, args.board, config, not args.no_peers, args.kick_model)
    dets = ["ours"] + ([] if args.no_peers else ["wled", "ledfx"])
    table = evaluate(files, results, dets)
    source = None if usual_songs else "bench/data/%s%s" % (args.extra_test, " alone" if args.extra_only else " and bench/data's")
    if args.kick_model == "small":
        source = (source + ", " if source else "") + "the small kick model (kick_weights_small)"
    lines = markdown(table, args.split, args.config, source)
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({d: {"%s/%s" % k: v for k, v in rows.items()} for d, rows in table.items()}, f, indent=1)
    if write_readme:
        readme.update("detect", lines + ["", kit_note(files), "", "_%s; %d files_" % (readme.stamp(), len(files))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
