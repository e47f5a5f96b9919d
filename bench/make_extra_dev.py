# More material from bench/make_dataset.py's own recipes, with clip numbers past the ones in
# bench/data, written to a directory with its own index.json:
# - dev (default): odd numbers (dev by make_dataset's split rule, so the dev kits), into
#   bench/data/extra, for training the kick model. The test split (even numbers up to
#   make_dataset.PLAN's counts, in bench/data) is neither touched nor re-made; no extra clip shares a
#   name or a random stream with a test clip.
# - --split test: even numbers (the test kits, which no dev clip uses), into bench/data/extra_test,
#   so that bench/detect.py scores many more songs than bench/data's nine per microphone. Nothing
#   trains on it (train_detector reads dev entries only).
# --kick-pool N adds N mixes and N mixes with voice (numbers from POOL_FIRST on) whose kick comes from
# dataset_lib.DEV_KICK_POOL (more kicks of the dev kits), half of them resampled (KICK_RATES), so the
# model meets more kinds of kick than the dev kits' own; the test split's kits stay unseen.
# --kick-synth N adds N mixes and N mixes with voice (numbers from SYNTH_FIRST on) on the pool's dev
# kits whose kick is synthesized (dataset_lib.synth_kick: drum-machine and dance-music kicks whose
# pitch falls from up to 320 Hz, kinds no recorded dev kit has). The shipped model: --kick-synth 32.
# --kick-ext N adds N mixes and N mixes with voice (numbers from EXT_FIRST on) on the pool's dev kits
# whose kick is a recorded sample from outside hydrogen's kits (dataset_lib.EXT_KICKS: Sonic Pi's and
# LMMS's bass drums, Debian sonic-pi-samples and lmms-common), cycled through. With --split test,
# only such mixes, on the test kits, into bench/data/extra_ext_test: a yardstick of kinds of kick
# from outside hydrogen's kits (`bench/detect.py --extra-test extra_ext_test --extra-only`), held out
# for a model that did not train on --kick-ext material.
# --speech N adds N dev speech clips (numbers from SPEECH_FIRST on): minutes of speech to hold the
# kick threshold's false beats to (train_detector --max-quiet). The shipped model: --kick-synth 32 --speech 40.
# Usage: python bench/make_extra_dev.py [--split dev|test] [--out DIR] [--per-category N] [--kick-pool N]
#        [--kick-synth N] [--kick-ext N] [--speech N]
# (--per-category at most 95, --kick-pool 50, --kick-synth 350: past that their clip numbers would
# reach the next recipe's.)
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_dataset as md  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
DEFAULT_OUT = {"dev": os.path.join(DATA, "extra"), "test": os.path.join(DATA, "extra_test")}
EXT_TEST_OUT = os.path.join(DATA, "extra_ext_test")  # --split test --kick-ext N: its own directory
# clips per category for a given --per-category N (kick material weighs most)
SHARE = {"mix": 1.0, "mix_voice": 0.8, "kickfree": 0.6, "speech": 0.2}
POOL_FIRST = 201  # kick-pool clips' numbers start here (past every --per-category clip up to 40)
KICK_RATES = (0.75, 0.8, 0.9, 1.1, 1.25)  # resampling factors for half of the kick-pool clips
SYNTH_FIRST = 301  # --kick-synth clips' numbers start here (past --kick-pool up to 50)
EXT_FIRST = 1001  # --kick-ext clips' numbers start here (past --kick-synth up to 350)
SPEECH_FIRST = 101  # --speech clips' numbers start here (past every --per-category speech clip up to 95)


def dev_mix_jobs(seed, first, n, split="dev"):
    # (k, job) for n dev (or test) mixes and as many with voice numbered from `first`; k counts per category.
    for cat in ("mix", "mix_voice"):
        idx = [i for i in range(first, first + 2 * n) if md.split_of(i) == split]
        for k, i in enumerate(idx):
            yield k, md.Job(cat, i, seed, False)


def pool_jobs(seed, n):
    # (job, overrides) for n kick-pool mixes and n kick-pool mixes with voice: the kit and kick
    # cycle through DEV_KICK_POOL; every other clip's kick is resampled by a rate drawn from its own stream.
    if n > (SYNTH_FIRST - POOL_FIRST) // 2:  # the names would run into --kick-synth's numbers
        raise ValueError("--kick-pool %d numbers clips past %d, where the synthesized-kick clips start"
                         % (n, SYNTH_FIRST))
    pool = md.dl.DEV_KICK_POOL
    out = []
    for k, job in dev_mix_jobs(seed, POOL_FIRST, n):
        kit, kick = pool[k % len(pool)]
        ov = dict(kit=kit, kick=kick)
        if (k + k // len(pool)) % 2:  # each kick both as it is and resampled
            ov["kick_rate"] = KICK_RATES[int(job.rng(7).integers(len(KICK_RATES)))]
        out.append((job, ov))
    return out


def synth_jobs(seed, n):
    # (job, overrides) for n mixes and n mixes with voice on the pool's dev kits whose kick is
    # synthesized (dataset_lib.synth_kick), its parameters drawn from the clip's own stream.
    if n > (EXT_FIRST - SYNTH_FIRST) // 2:
        raise ValueError("--kick-synth %d numbers clips past %d, where the --kick-ext clips start" % (n, EXT_FIRST))
    kits = split_kits("dev")
    return [(job, dict(kit=kits[k % len(kits)], kick_synth=md.dl.synth_kick_params(job.rng(8))))
            for k, job in dev_mix_jobs(seed, SYNTH_FIRST, n)]


def speech_jobs(seed, n):
    # (job, None) for n more dev speech clips (the quiet material the threshold is held to).
    return [(md.Job("speech", i, seed, False), None)
            for i in range(SPEECH_FIRST, SPEECH_FIRST + 2 * n) if md.split_of(i) == "dev"]


def split_kits(split):
    # The drum kits of a split's mixes: dev's are the pool's (DEV_KICK_POOL), test's the other six.
    dev = {kit for kit, _ in md.dl.DEV_KICK_POOL}
    return sorted(dev if split == "dev" else set(md.dl.KIT_ROLES) - dev)


def ext_jobs(seed, n, split="dev"):
    # (job, overrides) for n mixes and n mixes with voice on the split's kits whose kick is one of
    # dataset_lib.EXT_KICKS (cycled through, and the kits beside them). On the test kits, a held-out
    # yardstick of kicks from outside hydrogen's kits (for a model not trained on --kick-ext).
    kits = split_kits(split)
    ext = md.dl.EXT_KICKS
    return [(job, dict(kit=kits[k % len(kits)], kick_file=md.dl.ext_kick_path(*ext[k % len(ext)])))
            for k, job in dev_mix_jobs(seed, EXT_FIRST, n, split)]


def extra_jobs(seed, per_category, split="dev"):
    jobs = []
    for cat, share in SHARE.items():
        count = max(1, int(round(per_category * share)))
        first = md.PLAN[cat] + 1  # past every clip of bench/data
        idx = [i for i in range(first, first + 4 * count) if md.split_of(i) == split][:count]
        if idx[-1] >= POOL_FIRST:  # the names would be --kick-pool's, and a pool clip on disk taken for this one
            raise ValueError("--per-category %d numbers %s clips past %d, where the kick-pool clips start"
                             % (per_category, cat, POOL_FIRST))
        jobs += [md.Job(cat, i, seed, False) for i in idx]
    return [(j, None) for j in jobs]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="dev", choices=("dev", "test"))
    ap.add_argument("--out", help="default bench/data/extra (dev), bench/data/extra_test (test) or "
                    "bench/data/extra_ext_test (test with --kick-ext)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--per-category", type=int, default=40)
    ap.add_argument("--kick-pool", type=int, default=0, help="mixes (and as many with voice) with pool kicks")
    ap.add_argument("--kick-synth", type=int, default=0,
                    help="mixes (and as many with voice) with synthesized drum-machine kicks")
    ap.add_argument("--kick-ext", type=int, default=0,
                    help="mixes (and as many with voice) with recorded kicks from Sonic Pi and LMMS")
    ap.add_argument("--speech", type=int, default=0, help="more dev speech clips")
    args = ap.parse_args(argv)
    if args.split == "test" and (args.kick_pool or args.kick_synth or args.speech):
        ap.error("--kick-pool, --kick-synth and --speech make dev material only")
    ext_test = args.split == "test" and args.kick_ext > 0  # outside kicks on the test kits, alone
    missing = md.dl.missing_requirements() + (md.dl.missing_ext_kicks() if args.kick_ext else [])
    if missing:
        print("missing: " + ", ".join(missing), file=sys.stderr)
        return 2
    args.out = args.out or (EXT_TEST_OUT if ext_test else DEFAULT_OUT[args.split])
    try:
        if ext_test:
            jobs = ext_jobs(args.seed, args.kick_ext, "test")
        else:
            jobs = (extra_jobs(args.seed, args.per_category, args.split) + pool_jobs(args.seed, args.kick_pool)
                    + synth_jobs(args.seed, args.kick_synth) + ext_jobs(args.seed, args.kick_ext)
                    + speech_jobs(args.seed, args.speech))
    except ValueError as e:
        ap.error(str(e))
    assert all(md.split_of(j.index) == args.split and j.index > md.PLAN[j.category] for j, _ in jobs)
    assert len({j.base for j, _ in jobs}) == len(jobs)
    os.makedirs(args.out, exist_ok=True)
    index_path = os.path.join(args.out, "index.json")
    done = set()
    if os.path.exists(index_path):
        with open(index_path) as fh:
            old = json.load(fh)
        if old.get("seed") == args.seed:
            done = {f["name"] for f in old["files"]
                    if all(os.path.isfile(os.path.join(args.out, f[k])) for k in ("wav", "json"))}
    todo = [(j, ov) for j, ov in jobs if j.base + "_clean" not in done or j.base + "_garment" not in done]
    t0 = time.time()
    print("%d extra %s clips x 2 versions into %s (%d to make)" % (len(jobs), args.split, args.out, len(todo)))
    failed = set()
    for k, (job, ov) in enumerate(todo, 1):  # one at a time, so that a recipe failing on one clip skips only it
        try:
            m = md.run_job(job, args.out, ov)[0]
            print("[%2d/%d] %-14s %5.1f s %3d kicks" % (k, len(todo), job.base, m["duration"], len(m["kicks"])),
                  flush=True)
        except Exception as e:  # noqa: BLE001 -- e.g. a tool failing on one clip
            print("[%2d/%d] %-14s skipped: %s" % (k, len(todo), job.base, e), flush=True)
            failed.add(job.base)
    names = {j.base + s for j, _ in jobs if j.base not in failed for s in ("_clean", "_garment")}
    metas = []
    for name in sorted(names):
        with open(os.path.join(args.out, name + ".json")) as fh:
            metas.append(json.load(fh))
    index = dict(md.stamp_of(args.seed, False), **{"extra_" + args.split: True}, files=[md.index_entry(m) for m in metas])
    with open(index_path, "w") as fh:
        json.dump(index, fh, indent=1)
    print("done: %d files, %.1f s" % (len(metas), time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
