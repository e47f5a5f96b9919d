# `threadbeat tune`: an interactive curses tuner for a running garment -- pick a parameter, nudge it
# with the arrow keys, watch the level bars; TunerModel holds all logic, draw() only paints it.
import os
import sys
import time

from host_tools.errors import CommandError

SET_INTERVAL = 0.05  # at most one batch of changes (set and/or panel) per 50 ms: ~20 requests/s
TELEMETRY_HZ = 10
QUIET_S = 5.0  # no telemetry this long: say so in the status line (the port itself still works)
_BAR = 16

# The cross-check the garment makes on the resulting values (firmware/params.py): lo < hi.
_PAIRS = (("bass_lo", "bass_hi"),)


def _help_texts():
    # name -> help from the one schema (hello carries no help text); empty when unavailable.
    try:
        from firmware.params import SCHEMA
    except Exception:
        return {}
    return {p[0]: p[5] for p in SCHEMA if len(p) > 5}


def steps(lo, hi):
    # (small, big) step for a parameter with range lo..hi: 1 for byte-sized ranges, coarser for
    # wide ones (agc_hold 0..5000 moves 25 ms / 500 ms), the big step about a tenth of the range.
    span = max(1, hi - lo)
    small = max(1, span // 200)
    big = max(small * 5, span // 10)
    return small, big


def bar(v, width=_BAR, top=255):
    v = max(0, min(top, int(v or 0)))
    n = (v * width + top // 2) // top
    return "#" * n + "." * (width - n)


class TunerModel:
    # Everything the tuner knows and does, without a terminal:
    #   key(name)       -- a key by name ("up", "down", "left", "right", "sleft", "sright", "pgup",
    #                      "pgdn", "tab", "enter", "backspace", "esc" or one character)
    #   on_telemetry(m) -- one telemetry line
    #   flush(conn, now)-- send what is due (coalesced sets, panel changes, save, preset)
    # State: section ("params" / "panels"), row, values (shown), confirmed (the garment's),
    # pending (name -> value not yet sent), pending_panels, status, prompt, quit.
    def __init__(self, hello, current, help_texts=None, interval=SET_INTERVAL):
        self.hello = hello
        self.params = [tuple(p[:5]) for p in hello.get("params", [])]  # (name, default, min, max, unit)
        self.spec = {p[0]: p for p in self.params}
        self.help = _help_texts() if help_texts is None else help_texts
        self.values = dict(current.get("params", {}))
        for p in self.params:
            self.values.setdefault(p[0], p[1])
        self.confirmed = dict(self.values)
        self.panel_names = list(hello.get("panels", []))
        self.modes = list(hello.get("modes", []))
        self.palettes = list(current.get("palettes") or hello.get("palettes", []))
        self.panels = {n: dict(s) for n, s in current.get("panels", {}).items()}
        for n in self.panel_names:
            self.panels.setdefault(n, {"mode": None, "palette": None})
        self.panels_confirmed = {n: dict(s) for n, s in self.panels.items()}
        self.section = "params"
        self.row = 0  # index into params, or into panel_rows()
        self.pending = {}
        self.pending_panels = {}
        self.action = None  # ("save",) or ("preset", name), done by the next flush
        self.prompt = None  # text typed so far while asking for a preset name
        self.status = "arrows pick and change, Tab: panels, s: save, p: preset, q: quit"
        self.status_error = False
        self.quit = False
        self.interval = interval
        self.last_send = None
        self.telemetry = {}
        self.last_telemetry = None  # monotonic time of the last line
        self.beat_until = 0.0
        self.requests = 0  # change requests sent (set + panel), for tests and the curious

    # --- rows ------------------------------------------------------------------------------------

    def panel_rows(self):
        # [(panel, "mode" | "palette")]: two rows per panel.
        return [(n, f) for n in self.panel_names for f in ("mode", "palette")]

    def rows(self):
        return len(self.params) if self.section == "params" else len(self.panel_rows())

    def selected(self):
        # The selected parameter's spec, or the selected (panel, field).
        if self.section == "params":
            return self.params[self.row] if self.params else None
        pr = self.panel_rows()
        return pr[self.row] if pr else None

    def bounds(self, name):
        # (min, max) for `name` given the other values: bass_lo stays below bass_hi and vice versa.
        _, _, lo, hi, _ = self.spec[name]
        for a, b in _PAIRS:
            if name == a and b in self.values:
                hi = min(hi, self.values[b] - 1)
            elif name == b and a in self.values:
                lo = max(lo, self.values[a] + 1)
        return lo, hi

    def _say(self, text, error=False):
        self.status = text
        self.status_error = error

    # --- keys --------------------------------------------------------------------------------------

    def key(self, k):
        if k is None:
            return
        if self.prompt is not None:
            self._prompt_key(k)
            return
        n = self.rows()
        if k == "q":
            self.quit = True
        elif k == "up" and n:
            self.row = (self.row - 1) % n
        elif k == "down" and n:
            self.row = (self.row + 1) % n
        elif k == "tab" or k == "btab":
            if self.panel_names:
                self.section = "panels" if self.section == "params" else "params"
                self.row = 0
        elif k in ("left", "right", "sleft", "sright", "pgup", "pgdn"):
            up = k in ("right", "sright", "pgup")
            big = k in ("sleft", "sright", "pgup", "pgdn")
            if self.section == "params":
                self._nudge(up, big)
            else:
                self._cycle(1 if up else -1)
        elif k == "s":
            self.action = ("save",)
            self._say("saving...")
        elif k == "p":
            self.prompt = ""
            self._say("preset name (A-Z a-z 0-9 _ -), Enter saves, Esc cancels: ")

    def _prompt_key(self, k):
        if k == "esc":
            self.prompt = None
            self._say("preset not saved")
        elif k == "enter":
            name = self.prompt
            self.prompt = None
            if name:
                self.action = ("preset", name)
                self._say("saving preset %s..." % name)
            else:
                self._say("preset not saved (no name)")
        elif k == "backspace":
            self.prompt = self.prompt[:-1]
        elif len(k) == 1 and k.isprintable() and len(self.prompt) < 24:
            self.prompt += k

    def _nudge(self, up, big):
        p = self.selected()
        if p is None:
            return
        name = p[0]
        small, large = steps(p[2], p[3])
        step = large if big else small
        lo, hi = self.bounds(name)
        old = self.values[name]
        new = max(lo, min(hi, old + (step if up else -step)))
        if new == old:
            self._say("%s is at its %s (%d)" % (name, "maximum" if up else "minimum", old))
            return
        self.values[name] = new
        self.pending[name] = new

    def _cycle(self, d):
        sel = self.selected()
        if sel is None:
            return
        panel, field = sel
        choices = self.modes if field == "mode" else self.palettes
        if not choices:
            return
        cur = self.panels[panel].get(field)
        i = choices.index(cur) if cur in choices else -1
        new = choices[(i + d) % len(choices)]
        self.panels[panel][field] = new
        self.pending_panels.setdefault(panel, {})[field] = new

    # --- telemetry ---------------------------------------------------------------------------------

    def on_telemetry(self, m, now=None):
        now = time.monotonic() if now is None else now
        self.telemetry = m
        self.last_telemetry = now
        if m.get("beat"):
            self.beat_until = now + 0.15

    def quiet_for(self, now):
        # Seconds since the last telemetry line (since `now` if there never was one: 0).
        return 0.0 if self.last_telemetry is None else now - self.last_telemetry

    # --- talking to the garment ----------------------------------------------------------------------

    def flush(self, conn, now, force=False):
        # Send what is due. Changes go out at most once per `interval` (coalesced: only the newest
        # value of each parameter); a pending save/preset, `force` or quitting sends them at once.
        # Garment errors land in the status line and undo the refused change; LinkError propagates.
        from host_tools.link import GarmentError, LinkError

        due = force or self.action is not None or self.last_send is None or now - self.last_send >= self.interval
        if due and (self.pending or self.pending_panels):
            self.last_send = now
            if self.pending:
                values, self.pending = self.pending, {}
                try:
                    r = conn.request("set", values=values)
                    self.requests += 1
                    self.confirmed.update({k: v for k, v in r.get("params", {}).items() if k in self.spec})
                    self.values.update(self.confirmed)
                    self._say("set " + ", ".join("%s=%s" % kv for kv in sorted(values.items())))
                except LinkError:
                    raise
                except CommandError as e:
                    self.requests += 1
                    for k in values:
                        self.values[k] = self.confirmed.get(k, self.values[k])
                    self._say("garment: %s" % e, error=True)
            for panel in list(self.pending_panels):
                fields = self.pending_panels.pop(panel)
                try:
                    r = conn.request("panel", name=panel, **fields)
                    self.requests += 1
                    st = {"mode": r.get("mode"), "palette": r.get("palette")}
                    self.panels[panel] = dict(st)
                    self.panels_confirmed[panel] = dict(st)
                    self._say("panel %s: mode=%s palette=%s" % (panel, st["mode"], st["palette"]))
                except LinkError:
                    raise
                except CommandError as e:
                    self.requests += 1
                    self.panels[panel] = dict(self.panels_confirmed.get(panel, {}))
                    self._say("garment: %s" % e, error=True)
        if self.action is not None:
            action, self.action = self.action, None
            try:
                if action[0] == "save":
                    r = conn.request("save")
                    self._say("saved: the garment keeps these settings at power-up (%s)" % r.get("saved"))
                else:
                    r = conn.request("preset", action="save", name=action[1])
                    self._say("saved preset %s (presets: %s)" % (r.get("preset"), ", ".join(r.get("presets", []))))
            except LinkError:
                raise
            except GarmentError as e:
                self._say("garment: %s" % e, error=True)
            except CommandError as e:
                self._say(str(e), error=True)


# --- curses ------------------------------------------------------------------------------------------

def key_name(ch):
    # A curses getch() code -> the TunerModel key name (None for keys the tuner ignores).
    import curses

    table = {
        curses.KEY_UP: "up", curses.KEY_DOWN: "down", curses.KEY_LEFT: "left", curses.KEY_RIGHT: "right",
        curses.KEY_SLEFT: "sleft", curses.KEY_SRIGHT: "sright", curses.KEY_PPAGE: "pgup", curses.KEY_NPAGE: "pgdn",
        curses.KEY_BTAB: "btab", curses.KEY_ENTER: "enter", curses.KEY_BACKSPACE: "backspace",
        9: "tab", 10: "enter", 13: "enter", 27: "esc", 127: "backspace", 8: "backspace",
    }
    if ch in table:
        return table[ch]
    if 32 <= ch < 127:
        return chr(ch)
    return None


def _put(win, y, x, text, attr=0):
    h, w = win.getmaxyx()
    if y < 0 or y >= h or x >= w:
        return
    text = text[:max(0, w - x - (1 if y == h - 1 else 0))]
    try:
        win.addstr(y, x, text, attr)
    except Exception:  # curses.error at the bottom-right corner or on a tiny window
        pass


def draw(stdscr, model, now=None):
    import curses

    now = time.monotonic() if now is None else now
    stdscr.erase()
    h, w = stdscr.getmaxyx()
    hl = model.hello
    bold, rev = curses.A_BOLD, curses.A_REVERSE
    _put(stdscr, 0, 0, "threadbeat tune  %s  firmware %s" % (hl.get("board", "?"), hl.get("firmware", "?")), bold)
    m = model.telemetry
    beat = now < model.beat_until
    _put(stdscr, 1, 0, "level  %s %3d   bass %s %3d   %s" % (
        bar(m.get("level")), m.get("level", 0), bar(m.get("bass")), m.get("bass", 0), "BEAT" if beat else "    "),
        bold if beat else 0)
    _put(stdscr, 2, 0, "mid    %s %3d   treble %s %3d   %s fps  %s mA" % (
        bar(m.get("mid")), m.get("mid", 0), bar(m.get("treble")), m.get("treble", 0), m.get("fps", "-"), m.get("ma", "-")))
    q = model.quiet_for(now)
    if q > QUIET_S:
        _put(stdscr, 2, 0, "no telemetry for %.0f s (the garment is busy or stalled)" % q, bold)

    lines = []  # (text, attr, is_selected)
    act_p = model.section == "params"
    lines.append(("-- parameters %s" % ("(Tab: panels)" if act_p else ""), bold, False))
    for i, (name, default, lo, hi, unit) in enumerate(model.params):
        v = model.values.get(name, default)
        mark = "*" if name in model.pending else " "
        txt = "%s %-12s %5d %-5s %s  %d..%d" % (mark, name, v, unit, bar(v - lo, 12, max(1, hi - lo)), lo, hi)
        sel = act_p and i == model.row
        lines.append((txt, rev if sel else 0, sel))
    if model.panel_names:
        lines.append(("-- panels %s" % ("(Tab: parameters)" if not act_p else ""), bold, False))
        for i, (panel, field) in enumerate(model.panel_rows()):
            val = model.panels.get(panel, {}).get(field)
            txt = "  %-12s %-8s < %s >" % (panel if field == "mode" else "", field, val)
            sel = not act_p and i == model.row
            lines.append((txt, rev if sel else 0, sel))

    top, bottom = 4, h - 4  # list area rows [top, bottom)
    room = max(1, bottom - top)
    sel_i = next((i for i, ln in enumerate(lines) if ln[2]), 0)
    first = 0 if len(lines) <= room else max(0, min(sel_i - room // 2, len(lines) - room))
    for j, (txt, attr, _) in enumerate(lines[first:first + room]):
        _put(stdscr, top + j, 0, txt, attr)

    sel = model.selected()
    if model.section == "params" and sel:
        name, default, lo, hi, unit = sel
        u = (" " + unit) if unit else ""
        info = "%s: %s  (range %d..%d%s, default %d)" % (name, model.help.get(name, ""), lo, hi, u, default)
    elif sel:
        info = "panel %s: left/right cycles the %s" % sel
    else:
        info = ""
    _put(stdscr, h - 3, 0, info)
    _put(stdscr, h - 2, 0, "up/down pick  left/right change (Shift, PgUp/PgDn: big steps)  Tab panels  s save  p preset  q quit")
    if model.prompt is not None:
        _put(stdscr, h - 1, 0, model.status + model.prompt, bold)
    else:
        _put(stdscr, h - 1, 0, model.status, bold if model.status_error else 0)
    stdscr.refresh()


def _pump_telemetry(conn, model, limit=50):
    # Hand every telemetry line already received to the model (none waits for long).
    for m in conn.telemetry:
        model.on_telemetry(m)
    conn.telemetry = []
    for _ in range(limit):
        m = conn.read_message(0.001)
        if m is None:
            return
        if conn.is_telemetry(m):
            model.on_telemetry(m)


def run(stdscr, conn, model):
    # The tuner loop; returns when the model quits. LinkError propagates (the port is gone).
    import curses

    try:
        curses.curs_set(0)
    except curses.error:
        pass
    stdscr.keypad(True)
    stdscr.timeout(30)  # getch waits at most 30 ms: telemetry and sends keep flowing
    last_draw = 0.0
    while True:
        ch = stdscr.getch()
        stdscr.timeout(0)  # then take every key already typed (key repeat) before sending
        while ch != -1 and not model.quit:
            if ch != curses.KEY_RESIZE:
                model.key(key_name(ch))
            ch = stdscr.getch()
        stdscr.timeout(30)
        now = time.monotonic()
        model.flush(conn, now, force=model.quit)
        if model.quit:
            return
        _pump_telemetry(conn, model)
        if now - last_draw >= 0.03:
            draw(stdscr, model, now)
            last_draw = now


def tune(port=None, timeout=2.0):
    # Open the garment, run the tuner in curses, turn telemetry off on the way out.
    import curses

    from host_tools.link import LinkError, open_link

    os.environ.setdefault("ESCDELAY", "25")
    conn = open_link(port, timeout)
    lost = None
    try:
        hello = conn.hello()
        current = conn.request("get")
        model = TunerModel(hello, current)
        conn.request("telemetry", on=True, rate_hz=TELEMETRY_HZ)
        try:
            curses.wrapper(run, conn, model)
        except LinkError as e:
            lost = e
        except OSError as e:  # pyserial's SerialException can escape link.py (setting ser.timeout)
            lost = LinkError("lost the garment on %s: %s" % (conn.port, e))
        except KeyboardInterrupt:
            try:
                model.flush(conn, time.monotonic(), force=True)
            except (LinkError, OSError) as e:
                lost = e
    finally:
        if lost is None:
            try:
                conn.request("telemetry", on=False)
            except (CommandError, OSError):
                pass
        conn.close()
    if lost is not None:
        raise CommandError("%s; the tuner stopped (check the cable or the simulator)" % lost)


def add_arguments(sp):
    sp.add_argument("--port", help="serial port of the garment, or the pty `threadbeat simulate` printed "
                                   "(default: the one USB port with a known ESP32 VID:PID)")
    sp.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for each reply (default %(default)s)")


def cmd_tune(args):
    tune(args.port, args.timeout)


def main(argv=None):
    # `python -m host_tools.tune ...` is `threadbeat tune ...`: the one CLI dispatcher handles errors.
    from host_tools.cli import main as cli_main

    return cli_main(["tune"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
