# The `threadbeat` verbs that talk to a running garment over its serial link (hello, get, set, save,
# preset, panel, palette, reset, identify, status, monitor) plus `simulate`; merged into host_tools/cli.py's
# COMMANDS via LINK_COMMANDS.
import json
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


# --- palette, reset, identify, status -----------------------------------------------------------

def parse_stop(text, where):
    # One palette stop from the command line or a JSON file: "POS:#RRGGBB" -> [pos, r, g, b];
    # "#RRGGBB" stays a string (the garment spreads those evenly); the "#" may be left out
    # (an unquoted # starts a comment in the shell). [pos, r, g, b] lists pass as they are.
    if isinstance(text, list):
        return text
    if not isinstance(text, str):
        raise CommandError("%s: a stop is \"POS:#RRGGBB\", \"#RRGGBB\" or [pos, r, g, b], got %s" % (where, json.dumps(text)))
    pos, colon, colour = text.strip().rpartition(":")
    c = colour.strip()
    c = c[1:] if c.startswith("#") else c
    if len(c) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in c):
        raise CommandError("%s: '%s' is not a colour; write POS:#RRGGBB or #RRGGBB, e.g. 128:#ff0080" % (where, text))
    if not colon:
        return "#" + c.lower()
    try:
        p = int(pos.strip(), 10)
    except ValueError:
        raise CommandError("%s: '%s': the position before ':' must be an integer 0..255" % (where, text)) from None
    v = int(c, 16)
    return [p, v >> 16, (v >> 8) & 255, v & 255]


def read_stops_file(path):
    # Stops from a JSON file: a list of stops, or an object with "stops" (a palette as saved).
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise CommandError("%s: cannot read (%s)" % (path, e.strerror or e)) from None
    except ValueError as e:
        raise CommandError("%s: not valid JSON (%s)" % (path, e)) from None
    if isinstance(data, dict) and "stops" in data:
        data = data["stops"]
    if not isinstance(data, list):
        raise CommandError("%s: expected a list of stops or {\"stops\": [...]}, e.g. [\"0:#000000\", \"255:#ffffff\"]" % path)
    return [parse_stop(s, "%s: stop %d" % (path, i)) for i, s in enumerate(data)]


def cmd_palette(args):
    action = args.action
    if action == "list":
        if args.name or args.stops or args.file:
            raise CommandError("palette list takes no NAME or stops")
        with _link(args) as c:
            r = c.request("palette", action="list")
        user = set(r.get("user", []))
        for n in r.get("palettes", []):
            print("%-24s %s" % (n, "user" if n in user else "built-in"))
        return
    if not args.name:
        raise CommandError("palette %s needs a NAME" % action)
    if action == "remove":
        if args.stops or args.file:
            raise CommandError("palette remove takes only a NAME")
        with _link(args) as c:
            c.request("palette", action="remove", name=args.name)
        print("removed palette %s from the garment (live; `threadbeat save` makes it stick)" % args.name)
        return
    if args.file and args.stops:
        raise CommandError("give the stops on the command line or with --file, not both")
    if args.file:
        stops = read_stops_file(args.file)
    elif args.stops:
        stops = [parse_stop(s, "stop %d" % i) for i, s in enumerate(args.stops)]
    else:
        raise CommandError("palette add needs stops, e.g. %s \"0:#000000\" \"128:#ff0080\" \"255:#ffffff\", "
                           "or --file STOPS.json" % args.name)
    with _link(args) as c:
        c.request("palette", name=args.name, stops=stops)  # no "action": add is the default (any firmware)
    print("uploaded palette %s (%d stops); show it with `threadbeat panel PANEL --palette %s`; "
          "live until `threadbeat save`" % (args.name, len(stops), args.name))


def _confirm(question):
    # True when the person at the terminal answers yes (cmd_reset checked there is a terminal).
    try:
        answer = input(question + " [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def cmd_reset(args):
    if not args.yes and not sys.stdin.isatty():
        raise CommandError("reset needs --yes (stdin is not a terminal to ask)")
    with _link(args) as c:
        if not args.yes:
            board = c.hello().get("board")
            if not _confirm("Reset %s on %s to factory defaults? Every parameter, panel mode and palette goes back "
                            "to the board's defaults and user palettes are removed (presets are kept)." % (board, c.port)):
                raise CommandError("reset cancelled; nothing changed")
        c.request("reset")
        if args.save:
            saved = c.request("save").get("saved")
    if args.save:
        print("reset to factory defaults and saved to %s" % saved)
    else:
        print("reset to factory defaults (live; `threadbeat save` makes it stick)")


def cmd_identify(args):
    if args.stop:
        ms = 0
    elif not 0 < args.seconds <= 60:
        raise CommandError("--seconds must be more than 0 and at most 60, got %s" % args.seconds)
    else:
        ms = max(1, int(round(args.seconds * 1000)))
    with _link(args) as c:
        r = c.request("identify", panel=args.panel, ms=ms)
    if ms:
        print("%s blinks white for %.1f s; every other panel is dark" % (r.get("panel"), r.get("ms", ms) / 1000.0))
    else:
        print("stopped identifying; %s shows its own light again" % r.get("panel"))


def status_snapshot(c):
    # hello + status + one telemetry line as one flat dict (telemetry is turned on for the one
    # line and off again, unless it was on already).
    from host_tools.link import LinkError

    h = c.hello()
    st = c.request("status")
    was_on = st.get("telemetry") is True
    if not was_on:
        c.request("telemetry", on=True)  # the first line comes at the garment's next poll
    deadline = time.monotonic() + c.timeout
    m = None
    while m is None:
        m = c.read_message(max(0.0, deadline - time.monotonic()))
        if m is None:
            raise LinkError("no telemetry from the garment on %s within %.1f s" % (c.port, c.timeout))
        if not c.is_telemetry(m):
            m = None
    if not was_on:
        c.request("telemetry", on=False)
    out = {"board": h.get("board"), "firmware": h.get("firmware"), "port": c.port}
    out.update(m)
    out.update((k, v) for k, v in st.items() if k not in ("id", "ok"))
    return out


def status_text(s):
    # The snapshot for people: one topic per line.
    frame_us = s.get("frame_us") or 0
    heap = s.get("heap") or 0
    faults = s.get("faults") or []
    lines = [
        "garment    %s, firmware %s on %s" % (s.get("board"), s.get("firmware"), s.get("port")),
        "running    %.1f s of audio, %s frames, %s hops dropped" % ((s.get("uptime_ms") or 0) / 1000.0, s.get("frames"),
                                                                 s.get("dropped")),
        "speed      %s frames/s, frame time %s" % (s.get("fps"), "%.2f ms" % (frame_us / 1000.0) if frame_us else "not measured"),
        "memory     %s" % ("%d bytes free" % heap if heap else "not reported (not MicroPython)"),
        "current    %s mA estimated%s" % (s.get("ma"), ", limited to the budget" if s.get("limited") else ""),
        "levels     level %s %3d  bass %s %3d  mid %s %3d  treble %s %3d" % (
            bar(s.get("level", 0), 10), s.get("level", 0), bar(s.get("bass", 0), 10), s.get("bass", 0),
            bar(s.get("mid", 0), 10), s.get("mid", 0), bar(s.get("treble", 0), 10), s.get("treble", 0)),
        "bands      %s" % " ".join("%d" % b for b in s.get("bands", [])),
        "link       %s requests, %s refused, telemetry %s" % (s.get("requests"), s.get("errors"),
                                                            "on" if s.get("telemetry") else "off"),
        "faults     %s" % ("none" if not faults else faults[0]),
    ]
    lines.extend("           %s" % f for f in faults[1:])
    return "\n".join(lines)


def cmd_status(args):
    with _link(args) as c:
        s = status_snapshot(c)
    if args.json:
        print(json.dumps(s, sort_keys=True))
    else:
        print(status_text(s))


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


def _args_palette(sp):
    sp.add_argument("action", nargs="?", default="list", choices=("list", "add", "remove"),
                    help="list (default): every palette on the garment; add: upload or replace one; remove: a user palette")
    sp.add_argument("name", nargs="?", help="palette name (1..24 of A-Z a-z 0-9 _ -)")
    sp.add_argument("stops", nargs="*", metavar="STOP",
                    help="2..16 stops POS:#RRGGBB (positions 0..255 ascending) or #RRGGBB (spread evenly); quote the #")
    sp.add_argument("--file", help="JSON file with the stops: a list, or an object with \"stops\"")
    _port_args(sp)


def _args_reset(sp):
    sp.add_argument("--yes", action="store_true", help="do not ask (needed when stdin is not a terminal)")
    sp.add_argument("--save", action="store_true", help="also save, so the defaults survive a power cycle")
    _port_args(sp)


def _args_identify(sp):
    sp.add_argument("panel", help="panel name (see `threadbeat hello`)")
    sp.add_argument("--seconds", type=float, default=3.0, help="how long it blinks, up to 60 (default %(default)s)")
    sp.add_argument("--stop", action="store_true", help="stop a blink in progress")
    _port_args(sp)


def _args_status(sp):
    sp.add_argument("--json", action="store_true", help="one JSON object (for scripts) instead of text")
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
    "palette": (cmd_palette, "list the garment's palettes, upload a gradient, or remove one", _args_palette),
    "reset": (cmd_reset, "put the garment back to factory defaults (asks first, or --yes)", _args_reset),
    "identify": (cmd_identify, "blink one panel white so you can tell which it is", _args_identify),
    "status": (cmd_status, "one snapshot: levels, frame rate and time, free memory, faults (--json)", _args_status),
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
