# The `threadbeat` verbs that talk to a running garment over its serial link (hello, get, set, save,
# preset, panel, monitor) plus `simulate`; merged into host_tools/cli.py's COMMANDS via LINK_COMMANDS.
import sys
import time

from host_tools.errors import CommandError

_BAR = 20  # characters of one level bar in `monitor`
CSV_FIELDS = ("t", "level", "bass", "mid", "treble", "beat", "onset", "fps", "frame_us", "heap", "ma")


def _link(args):
    from host_tools.link import open_link

    return open_link(args.port, args.timeout)


def _port_args(sp):
    sp.add_argument("--port", help="serial port of the garment, or the pty `threadbeat simulate` printed "
                                   "(default: the one USB port with a known ESP32 VID:PID)")
    sp.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for each reply (default %(default)s)")


def _print_params(params):
    for k, v in params.items():
        print("%s=%s" % (k, v))


# --- handlers ----------------------------------------------------------------------------------

def cmd_hello(args):
    with _link(args) as c:
        r = c.hello()
    lim = r.get("limits", {})
    print("board     %s (%s)" % (r.get("board"), r.get("chip")))
    print("firmware  %s, protocol %s" % (r.get("firmware"), r.get("protocol")))
    print("panels    %s" % ", ".join(r.get("panels", [])))
    print("modes     %s" % ", ".join(r.get("modes", [])))
    print("palettes  %s" % ", ".join(r.get("palettes", [])))
    print("limits    max brightness %s, budget %s mA, telemetry up to %s Hz" % (
        lim.get("max_brightness"), lim.get("budget_ma"), lim.get("telemetry_hz")))
    print("storage   %s" % ("yes" if r.get("storage") else "no (save and presets unavailable)"))


def cmd_get(args):
    with _link(args) as c:
        if args.name:
            r = c.request("get", name=args.name)
            print("%s=%s" % (r["name"], r["value"]))
            return
        r = c.request("get")
    _print_params(r.get("params", {}))
    for name, s in r.get("panels", {}).items():
        print("panel %s: mode=%s palette=%s" % (name, s.get("mode"), s.get("palette")))


def parse_assignments(items):
    # ["gate=9", "speed=120"] -> {"gate": 9, "speed": 120}; CommandError for anything else.
    values = {}
    for it in items:
        name, eq, text = it.partition("=")
        name = name.strip()
        if not eq or not name:
            raise CommandError("'%s': write NAME=VALUE, e.g. brightness=90" % it)
        try:
            values[name] = int(text.strip(), 10)
        except ValueError:
            raise CommandError("'%s': the value must be an integer" % it) from None
    return values


def cmd_set(args):
    values = parse_assignments(args.assignments)
    with _link(args) as c:
        r = c.request("set", values=values)
    params = r.get("params", {})
    for k in values:
        print("%s=%s" % (k, params.get(k)))


def cmd_save(args):
    with _link(args) as c:
        r = c.request("save")
    print("saved %s on the garment" % r.get("saved"))


def cmd_preset(args):
    if args.action != "list" and not args.name:
        raise CommandError("preset %s needs a NAME" % args.action)
    fields = {"action": args.action}
    if args.action != "list":
        fields["name"] = args.name
    with _link(args) as c:
        r = c.request("preset", **fields)
    if args.action == "list":
        for n in r.get("presets", []):
            print(n)
    elif args.action == "load":
        print("loaded preset %s" % r.get("preset"))
        for p in r.get("problems", []):
            print("threadbeat: warning: %s" % p, file=sys.stderr)
    else:
        print("%s preset %s (presets: %s)" % ("saved" if args.action == "save" else "deleted", r.get("preset"),
                                               ", ".join(r.get("presets", [])) or "none"))


def cmd_panel(args):
    fields = {"name": args.name}
    if args.mode:
        fields["mode"] = args.mode
    if args.palette:
        fields["palette"] = args.palette
    with _link(args) as c:
        r = c.request("panel", **fields)
    print("panel %s: mode=%s palette=%s" % (r.get("panel"), r.get("mode"), r.get("palette")))


def bar(v, width=_BAR):
    v = max(0, min(255, int(v)))
    n = (v * width + 127) // 255
    return "#" * n + "." * (width - n)


def level_line(m):
    # One text line for a telemetry record: level/bass/mid/treble bars and the beat mark.
    return "%7d ms  level %s %3d  bass %s %3d  mid %s %3d  treble %s %3d  %s" % (
        m.get("t", 0), bar(m.get("level", 0), 12), m.get("level", 0), bar(m.get("bass", 0), 12), m.get("bass", 0),
        bar(m.get("mid", 0), 8), m.get("mid", 0), bar(m.get("treble", 0), 8), m.get("treble", 0),
        "BEAT" if m.get("beat") else "    ")


def cmd_monitor(args):
    import csv

    if not 1 <= args.rate <= 50:
        raise CommandError("--rate must be 1..50 Hz, got %s" % args.rate)
    out = None
    writer = None
    rows = 0
    c = _link(args)
    try:
        if args.csv:
            try:
                out = open(args.csv, "w", newline="")
            except OSError as e:
                raise CommandError("%s: cannot write (%s)" % (args.csv, e.strerror or e)) from None
        c.request("telemetry", on=True, rate_hz=args.rate)
        end = time.monotonic() + args.seconds if args.seconds else None
        idle_limit = max(args.timeout, 3.0 / args.rate)
        last = time.monotonic()
        try:
            while end is None or time.monotonic() < end:
                left = idle_limit if end is None else min(idle_limit, max(0.0, end - time.monotonic()))
                m = c.read_message(left)
                now = time.monotonic()
                if m is None:
                    if now - last >= idle_limit:
                        raise CommandError("telemetry stopped: nothing from the garment for %.1f s" % (now - last))
                    continue
                if not c.is_telemetry(m):
                    continue
                last = now
                if out is not None:
                    if writer is None:
                        nb = len(m.get("bands", []))
                        fields = list(CSV_FIELDS) + ["band%d" % i for i in range(nb)]
                        writer = csv.writer(out)
                        writer.writerow(fields)
                    bands = m.get("bands", [])
                    writer.writerow([m.get(k, "") for k in CSV_FIELDS] + list(bands))
                    rows += 1
                else:
                    print(level_line(m), flush=True)
        except KeyboardInterrupt:
            pass
    finally:
        try:
            c.request("telemetry", on=False)
        except CommandError:
            pass  # the garment went away; nothing to turn off
        c.close()
        if out is not None:
            out.close()
    if args.csv:
        print("wrote %d telemetry rows to %s" % (rows, args.csv))


def cmd_simulate(args):
    from host_tools.simulate import cmd_simulate as run

    run(args)


# --- argument builders -------------------------------------------------------------------------

def _args_get(sp):
    sp.add_argument("name", nargs="?", help="a parameter (default: all parameters and panels)")
    _port_args(sp)


def _args_set(sp):
    sp.add_argument("assignments", nargs="+", metavar="NAME=VALUE", help="integer parameter values, applied together")
    _port_args(sp)


def _args_preset(sp):
    sp.add_argument("action", choices=("save", "load", "list", "delete"))
    sp.add_argument("name", nargs="?", help="preset name (1..24 of A-Z a-z 0-9 _ -)")
    _port_args(sp)


def _args_panel(sp):
    sp.add_argument("name", help="panel name (see `threadbeat hello`)")
    sp.add_argument("--mode", help="new mode, e.g. vu, ripple, off")
    sp.add_argument("--palette", help="new palette, e.g. fire")
    _port_args(sp)


def _args_monitor(sp):
    sp.add_argument("--csv", help="write the telemetry to this CSV file instead of printing bars")
    sp.add_argument("--rate", type=int, default=10, help="telemetry lines per second, 1..50 (default %(default)s)")
    sp.add_argument("--seconds", type=float, default=0, help="stop after this many seconds (default: until Ctrl-C)")
    _port_args(sp)


def _args_simulate(sp):
    from host_tools.simulate import add_arguments

    add_arguments(sp)


def cmd_tune(args):
    from host_tools.tune import cmd_tune as run  # lazy: only the tuner needs curses

    run(args)


def _args_tune(sp):
    from host_tools.tune import add_arguments

    add_arguments(sp)


LINK_COMMANDS = {
    "hello": (cmd_hello, "connect to a garment and show what it is", _port_args),
    "get": (cmd_get, "read a parameter (or all settings) from the garment", _args_get),
    "set": (cmd_set, "set parameters live on the garment: NAME=VALUE ...", _args_set),
    "save": (cmd_save, "make the garment's live settings its power-up settings", _port_args),
    "preset": (cmd_preset, "save, load, list or delete presets on the garment", _args_preset),
    "panel": (cmd_panel, "change a panel's mode and/or palette live", _args_panel),
    "monitor": (cmd_monitor, "watch the garment's audio analysis live (bars or CSV)", _args_monitor),
    "simulate": (cmd_simulate, "run the garment firmware on this computer behind a pty", _args_simulate),
    "tune": (cmd_tune, "tune the garment live in the terminal: arrows pick and change, s saves", _args_tune),
}


def main(argv=None):
    # These verbs alone, with the same contract as host_tools.cli.main.
    from host_tools.errors import dispatch, verb_parser

    return dispatch(verb_parser(LINK_COMMANDS, "talk to a running garment"), LINK_COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
