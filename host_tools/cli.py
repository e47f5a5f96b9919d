# The `threadbeat` command: a table of verbs, one handler each, in mpremote's shape.
# Every user-facing failure is a CommandError, printed as `threadbeat: message` with exit code 1.
import argparse
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARDS_DIR = os.path.join(REPO, "boards")
DEFAULT_BOARD = "esp32-jacket"
DEMO_AUDIO = os.path.join(REPO, "demo", "demo.ogg")
DEMO_KICKS = os.path.join(REPO, "demo", "demo.json")


from host_tools.errors import CommandError, dispatch  # noqa: E402,F401  (CommandError re-exported)


def board_path(name):
    # A board profile's file: the path itself, or the bundled profile of that name.
    if os.path.exists(name):
        return name
    cand = os.path.join(BOARDS_DIR, name if name.endswith(".json") else name + ".json")
    if not os.path.exists(cand):
        raise CommandError("no board profile '%s' (bundled: %s)" % (name, ", ".join(board_names())))
    return cand


def resolve_board(name):
    # A board profile by path or by name in boards/; returns the validated profile dict.
    from firmware.profile import ProfileError, read_profile

    path = board_path(name)
    try:
        return read_profile(path)
    except ProfileError as e:
        raise CommandError(str(e)) from None


def board_names():
    return sorted(f[:-5] for f in os.listdir(BOARDS_DIR) if f.endswith(".json"))


def read_config(path):
    if path is None:
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise CommandError("%s: cannot read config (%s)" % (path, e.strerror or e)) from None
    except ValueError as e:
        raise CommandError("%s: not valid JSON (%s)" % (path, e)) from None


def cmd_replay(args):
    from host_tools import replay
    from host_tools.audio import AudioError, load

    profile = resolve_board(args.board)
    config = read_config(args.config)
    audio = args.audio or DEMO_AUDIO
    try:
        samples, src_rate = load(audio, profile["sample_rate"])
    except AudioError as e:
        raise CommandError(str(e)) from None
    duration = len(samples) / profile["sample_rate"]
    if len(samples) < profile["fft_size"]:
        raise CommandError("%s: too short (%.3f s); the engine needs at least %d samples" % (audio, duration, profile["fft_size"]))
    if getattr(args, "live", False):  # play it and light the panels in step (host_tools/pi_run.py)
        if args.kick_model != "full":
            raise CommandError("--kick-model small replays a file; --live runs the full model")
        from host_tools.pi_run import replay_live

        return replay_live(args, profile, config, samples, audio)
    t0 = time.perf_counter()
    res = replay.run(samples, profile, config, engine=args.engine, render=not args.no_preview,
                     progress=sys.stderr.isatty() and not args.quiet, kick_model=args.kick_model)
    t1 = time.perf_counter()
    for p in res.problems:
        print("threadbeat: warning: " + p, file=sys.stderr)
    kicks = None
    if args.kicks is None and args.audio is None and os.path.exists(DEMO_KICKS):
        args.kicks = DEMO_KICKS  # the demo track's annotated kicks: the timeline shows hits and misses
    if args.kicks:
        try:
            with open(args.kicks) as f:
                kicks = json.load(f)["kicks"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CommandError("%s: cannot read kick annotations (%s)" % (args.kicks, e)) from None
    written = replay.write_outputs(res, args.out, duration, source=audio, preview=not args.no_preview,
                                   kicks=kicks, preview_seconds=args.preview_seconds)
    t2 = time.perf_counter()
    if not args.quiet:
        beats = res.beats
        print("%s: %.1f s of audio (%d Hz -> %d Hz), %d hops, %d beats" % (
            os.path.basename(audio), duration, src_rate, profile["sample_rate"], res.features.shape[0], len(beats)))
        print("engine %.2f s (%.0fx real time), outputs %.2f s" % (t1 - t0, duration / max(t1 - t0, 1e-9), t2 - t1))
        if kicks is not None:
            print(kick_summary(kicks, beats))
        for w in written:
            print("wrote " + w)


def kick_summary(kicks, beats):
    # One line on how the beats met the annotated kicks, scored as bench/detect.py scores them.
    from host_tools.scoring import pooled, score

    s = pooled([score(kicks, beats)])
    lat = "" if not s["tp"] else ", latency median %.0f ms, p90 %.0f ms" % (s["lat_median_ms"], s["lat_p90_ms"])
    return "kicks: %d annotated, %d hit within +-50 ms, %d missed, %d beats on no kick (F1 %.2f, precision %.2f, " \
           "recall %.2f%s)" % (len(kicks), s["tp"], s["fn"], s["fp"], s["f1"], s["precision"], s["recall"], lat)


def cmd_build(args):
    from host_tools import build

    path = board_path(args.board)
    profile = resolve_board(path)
    config = read_config(args.config)
    small = {"auto": None, "full": False, "small": True}[args.kick_model]
    files = build.build(path, profile, args.out, source=args.source, config=config, romfs=args.romfs,
                        small_kick=small)
    total = sum(size for _, size in files)
    if not args.quiet:
        for rel, size in files:
            print("%7d  %s" % (size, rel))
        kind = "sources" if args.source else "mpy for %s%s" % (build.ARCH.get(profile["chip"]) or "bytecode",
                                                             " in a ROMFS image" if args.romfs else "")
        print("%7d  total in %s (%s; firmware sources are %d bytes)" % (total, args.out, kind, build.source_size()))


def cmd_boards(args):
    for name in board_names():
        p = resolve_board(name)
        px = sum(q["count"] for q in p["panels"])
        print("%-16s %-28s %-8s %4d px  %d panels  %d mA" % (name, p["name"], p["chip"], px, len(p["panels"]), p["power"]["budget_ma"]))


def cmd_palettes(args):
    from firmware.palettes import BUILTIN

    for name in BUILTIN:
        print(name)


def cmd_params(args):
    from firmware.params import SCHEMA

    for name, default, lo, hi, unit, help_ in SCHEMA:
        print("%-12s %5d  [%d..%d] %-6s %s" % (name, default, lo, hi, unit, help_))


COMMANDS = {
    "replay": (cmd_replay, "run the garment engine over an audio file and write what it did"),
    "build": (cmd_build, "write the deployable firmware bundle for a board into a folder"),
    "boards": (cmd_boards, "list the bundled board profiles"),
    "palettes": (cmd_palettes, "list the built-in palettes"),
    "params": (cmd_params, "list the tunable parameters with ranges"),
}

from host_tools.cli_link import LINK_COMMANDS  # noqa: E402  (the verbs that talk to a garment)

COMMANDS.update({name: entry[:2] for name, entry in LINK_COMMANDS.items()})

from host_tools.flash import FLASH_COMMANDS  # noqa: E402  (flash a board, draw its wiring)

COMMANDS.update({name: entry[:2] for name, entry in FLASH_COMMANDS.items()})

from host_tools.pi_run import RUN_COMMANDS  # noqa: E402  (run the garment on a Raspberry Pi / Linux host)

COMMANDS.update({name: entry[:2] for name, entry in RUN_COMMANDS.items()})


def build_parser():
    ap = argparse.ArgumentParser(prog="threadbeat", description="audio-reactive garments: replay, tune and flash")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        if name in LINK_COMMANDS:
            LINK_COMMANDS[name][2](sp)
        if name in FLASH_COMMANDS:
            FLASH_COMMANDS[name][2](sp)
        if name in RUN_COMMANDS:
            RUN_COMMANDS[name][2](sp)
        if name == "replay":
            sp.add_argument("audio", nargs="?", help="WAV/FLAC/OGG file (default: the bundled demo track)")
            sp.add_argument("--board", default=DEFAULT_BOARD, help="profile name in boards/ or a path (default %(default)s)")
            sp.add_argument("--config", help="settings JSON (params, panel modes and palettes)")
            sp.add_argument("--out", default="out", help="output directory (default %(default)s)")
            sp.add_argument("--no-preview", action="store_true", help="skip the timeline picture and the animation")
            sp.add_argument("--preview-seconds", type=float, default=30.0, help="length of the animated preview (default %(default)s)")
            sp.add_argument("--kicks", help="annotation JSON with true kick times, drawn on the timeline")
            sp.add_argument("--kick-model", choices=("full", "small"), default="full",
                            help="small: the kick model a garment runs from its filesystem (threadbeat build "
                                 "puts the smaller one there; ROMFS and frozen firmware run the full one)")
            sp.add_argument("--engine", choices=("fast", "frame"), default="fast",
                            help="fast: numpy front end (bit-identical); frame: the firmware's per-frame code")
            sp.add_argument("--live", action="store_true",
                            help="play the file through the speakers and light the panels in step (no files written)")
            sp.add_argument("--sink", choices=("blinka", "none"), default="none",
                            help="with --live: blinka = the profile's NeoPixels through Blinka (chip \"blinka\"), "
                                 "none = sound only (default %(default)s)")
            sp.add_argument("-q", "--quiet", action="store_true")
        if name == "build":
            sp.add_argument("--board", default=DEFAULT_BOARD, help="profile name in boards/ or a path (default %(default)s)")
            sp.add_argument("--config", help="settings JSON to ship instead of the profile's defaults")
            sp.add_argument("--source", action="store_true", help="ship .py sources instead of compiled .mpy")
            sp.add_argument("--romfs", action="store_true",
                            help="put the compiled modules into romfs.img (for `mpremote romfs deploy`; needs a "
                                 "MicroPython >= 1.25 built with MICROPY_VFS_ROM) instead of firmware/")
            sp.add_argument("--kick-model", choices=("auto", "full", "small"), default="auto",
                            help="which kick model goes in: the full one's 9.9 KB of tables sit in the heap when "
                                 "loaded from a filesystem, so auto = small there, full in ROMFS and on the desk")
            sp.add_argument("--out", required=True, help="output folder")
            sp.add_argument("-q", "--quiet", action="store_true")
    return ap


def main(argv=None):
    return dispatch(build_parser(), COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
