# The live-tuning protocol (docs/PROTOCOL.md): one JSON request line in, one JSON reply line out,
# against the running Engine; also the telemetry lines and the identify blink. Never raises.
import json

from firmware.config import defaults_from_profile
from firmware.mapper import MODES, mode_index
from firmware.palettes import BUILTIN
from firmware.params import NAMES, SCHEMA, index
from firmware.store import MAX_PRESETS, valid_name

PROTOCOL_VERSION = 1
MAX_LINE = 512  # bytes of one request line, without its newline (firmware/link_usb.py enforces it)
MAX_RATE_HZ = 50
MAX_USER_PALETTES = 8  # each costs a 768-byte table once used
MAX_IDENTIFY_MS = 60000
_BLINK_MS = 250  # identify: the panel is white this long, then dark this long
_ID_CHARS = 64  # longer string ids are answered with "id": null
_ID_LIMIT = 2147483647  # integer ids beyond +-(2**31 - 1) likewise
_SHOW = 32  # characters of a client's string quoted back in an error
_INTERNAL = '{"id": null, "ok": false, "error": "internal error"}'
COMMANDS = ("hello", "get", "set", "panel", "palette", "preset", "save", "reset", "telemetry", "identify",
            "status")


class RequestError(Exception):
    # A request the garment refuses; the message goes into the reply's "error".
    pass


class Obj:
    # A JSON object whose keys are written in the given order (MicroPython dicts have no order).
    def __init__(self, pairs):
        self.pairs = pairs


def _str(s):
    # A JSON string in ASCII with the same bytes on CPython and MicroPython: json.dumps agrees
    # on both for printable ASCII; other text (\b, \f, DEL, non-ASCII) is escaped here.
    try:
        plain = len(s.encode()) == len(s) and "\b" not in s and "\f" not in s and "\x7f" not in s
    except UnicodeError:  # CPython: a lone surrogate (from a "\ud800" escape) cannot be encoded
        plain = False
    if plain:
        return json.dumps(s)
    out = ['"']
    for c in s:
        o = ord(c)
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif 32 <= o < 127:
            out.append(c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif o < 0x10000:
            out.append("\\u%04x" % o)
        else:
            o -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
    out.append('"')
    return "".join(out)


def encode(v):
    # JSON text for replies: dicts with sorted keys, Obj in its order, ints only (no floats).
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return "%d" % v
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, Obj):
        return "{" + ", ".join([_str(k) + ": " + encode(x) for k, x in v.pairs]) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join([_str(k) + ": " + encode(v[k]) for k in sorted(v)]) + "}"
    if isinstance(v, (list, tuple, bytes, bytearray)):
        return "[" + ", ".join([encode(x) for x in v]) + "]"
    return _str(str(v))


def show(v):
    # A client's value, short, for an error message (the same text on every port).
    if v is None or v is True or v is False:
        return encode(v)
    if isinstance(v, int):
        s = "%d" % v
        return s if len(s) <= 12 else "an integer of %d digits" % len(s)
    if isinstance(v, str):
        return "'" + v + "'" if len(v) <= _SHOW else "'" + v[:_SHOW] + "...'"
    if isinstance(v, float):
        return "a number with a fraction or exponent"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return "a " + type(v).__name__


def _req_id(req):
    v = req.get("id")
    if isinstance(v, str) and len(v) <= _ID_CHARS:
        return v
    if isinstance(v, int) and not isinstance(v, bool) and -_ID_LIMIT <= v <= _ID_LIMIT:
        return v
    return None


def error_line(rid, msg):
    return '{"id": ' + encode(rid) + ', "ok": false, "error": ' + _str(msg) + "}"


def _int(req, key, lo, hi, default=None):
    # An integer field in lo..hi; default None = required.
    if key not in req:
        if default is None:
            raise RequestError("missing field '%s' (an integer %d..%d)" % (key, lo, hi))
        return default
    v = req[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or v > hi:
        raise RequestError("field '%s' must be an integer %d..%d, got %s" % (key, lo, hi, show(v)))
    return v


def _text(req, key, what, required=True):
    if key not in req:
        if required:
            raise RequestError("missing field '%s' (%s)" % (key, what))
        return None
    v = req[key]
    if not isinstance(v, str):
        raise RequestError("field '%s' must be %s, got %s" % (key, what, show(v)))
    return v


def _param_defaults():
    d = {}
    for p in SCHEMA:
        d[p[0]] = p[1]
    return d


class Control:
    # Serves requests against `engine`; `store` (firmware.store.Store) for save/presets, `app`
    # (firmware.app.App) for faults, frames and dropped hops. Both optional.
    def __init__(self, engine, store=None, version="0.1.0", app=None):
        self.engine = engine
        self.store = store
        self.version = version
        self.app = app
        self.panel_names = [p["name"] for p in engine.profile["panels"]]
        self.telemetry_on = False
        self.rate_hz = 10
        self._next_ms = 0
        self._beats = 0  # beat_count at the last telemetry line
        nb = len(engine.features.bands)
        self._tfmt = ('{"t": %d, "level": %d, "bass": %d, "mid": %d, "treble": %d, "bands": [' +
                      ", ".join(["%d"] * nb) + '], "beat": %d, "onset": %d, "fps": %d, "frame_us": %d, '
                      '"heap": %d, "ma": %d, "faults": %s}')
        self._tvals = list((0,) * (11 + nb) + ("[]",))  # ints, then the faults' JSON
        self._faults = []
        self._faults_json = "[]"
        self.fps = 0  # frames per second over the last second (tick)
        self._fps_ms = -1
        self._fps_frames = 0
        self.identify_index = -1  # panel to blink, or -1 (see overlay)
        self.identify_start_ms = 0
        self.identify_until_ms = 0
        self.requests = 0
        self.errors = 0
        self._cmds = {"hello": self.cmd_hello, "get": self.cmd_get, "set": self.cmd_set, "panel": self.cmd_panel,
                      "palette": self.cmd_palette, "preset": self.cmd_preset, "save": self.cmd_save,
                      "reset": self.cmd_reset, "telemetry": self.cmd_telemetry, "identify": self.cmd_identify,
                      "status": self.cmd_status}

    # --- the clock and rates -------------------------------------------------------------------

    def now_ms(self):
        # The garment's clock: audio time, the same `now_ms` the mapper renders with (it moves
        # on over dropped hops too). Links pass it along unless they are given another.
        eng = self.engine
        return eng.hop_time_ms(eng.hops - 1) if eng.hops > 0 else 0

    def tick(self, now_ms):
        # Called by the link on every poll: frames per second, refreshed once a second.
        app = self.app
        frames = app.frames if app is not None else self.engine.hops
        if self._fps_ms < 0 or now_ms < self._fps_ms:
            self._fps_ms = now_ms
            self._fps_frames = frames
            return
        dt = now_ms - self._fps_ms
        if dt >= 1000:
            self.fps = ((frames - self._fps_frames) * 1000 + (dt >> 1)) // dt
            self._fps_ms = now_ms
            self._fps_frames = frames

    # --- requests ------------------------------------------------------------------------------

    def handle(self, line, now_ms=None):
        # One request line (str, no newline) -> one reply line (str, no newline). Never raises
        # an Exception (KeyboardInterrupt, a BaseException, passes: Ctrl-C must reach the REPL).
        try:
            return self._handle(line, now_ms)
        except Exception:  # a MemoryError while replying, or a bug: still one reply
            self.errors += 1
            return _INTERNAL

    def _handle(self, line, now_ms):
        self.requests += 1
        try:
            req = json.loads(line)
        except Exception:  # ValueError; CPython also RecursionError, MemoryError on the board
            self.errors += 1
            return error_line(None, "not valid JSON; send one object per line, e.g. {\"id\": 1, \"cmd\": \"hello\"}")
        if not isinstance(req, dict):
            self.errors += 1
            return error_line(None, "a request is a JSON object, e.g. {\"id\": 1, \"cmd\": \"hello\"}; got %s" % show(req))
        rid = _req_id(req)
        try:
            if "cmd" not in req:
                raise RequestError("missing field 'cmd' (one of %s)" % ", ".join(COMMANDS))
            cmd = req["cmd"]
            fn = self._cmds.get(cmd) if isinstance(cmd, str) else None
            if fn is None:
                raise RequestError("unknown command %s; commands: %s" % (show(cmd), ", ".join(COMMANDS)))
            pairs = fn(req, self.now_ms() if now_ms is None else now_ms)
        except RequestError as e:
            self.errors += 1
            return error_line(rid, e.args[0])
        except MemoryError:
            self.errors += 1
            return error_line(rid, "out of memory")
        except Exception as e:
            self.errors += 1
            return error_line(rid, "internal error: %s" % type(e).__name__)
        out = ['{"id": ', encode(rid), ', "ok": true']
        for k, v in pairs:
            out.append(", ")
            out.append(_str(k))
            out.append(": ")
            out.append(encode(v))
        out.append("}")
        return "".join(out)

    # --- views of the state --------------------------------------------------------------------

    def params_obj(self):
        p = self.engine.params
        return Obj([(n, p.get(n)) for n in NAMES])

    def panels_obj(self):
        s = self.engine.settings
        return Obj([(n, Obj([("mode", s[n]["mode"]), ("palette", s[n]["palette"])])) for n in self.panel_names])

    def palette_names(self):
        return sorted(self.engine.palettes.names())

    def settings(self):
        # The settings document (firmware/config.py's format) for config.json and presets.
        eng = self.engine
        panels = {}
        for n in self.panel_names:
            panels[n] = {"mode": eng.settings[n]["mode"], "palette": eng.settings[n]["palette"]}
        pals = {}
        user = eng.palettes.user
        for n in user:
            pals[n] = [list(s) for s in user[n]]
        return {"schema": 1, "params": eng.params.as_dict(), "panels": panels, "palettes": pals}

    def faults(self):
        return self.app.fault_list() if self.app is not None else list(self.engine.problems)

    # --- commands: each returns a list of (key, value) for the reply or raises RequestError ----

    def cmd_hello(self, req, now):
        eng = self.engine
        out = eng.output
        return [("protocol", PROTOCOL_VERSION), ("firmware", self.version), ("board", eng.profile["name"]),
                ("chip", eng.profile["chip"]), ("panels", self.panel_names), ("modes", MODES),
                ("palettes", self.palette_names()), ("params", [p[:5] for p in SCHEMA]),
                ("limits", Obj([("max_brightness", out.cap), ("budget_ma", out.budget), ("max_line", MAX_LINE),
                                ("telemetry_hz", MAX_RATE_HZ), ("presets", MAX_PRESETS),
                                ("user_palettes", MAX_USER_PALETTES)])),
                ("storage", self.store is not None)]

    def cmd_get(self, req, now):
        name = _text(req, "name", "a parameter name", False)
        if name is None:
            return [("params", self.params_obj()), ("panels", self.panels_obj()), ("palettes", self.palette_names())]
        if index(name) < 0:
            raise RequestError("unknown parameter %s; known: %s" % (show(name), ", ".join(NAMES)))
        return [("name", name), ("value", self.engine.params.get(name))]

    def cmd_set(self, req, now):
        if "values" not in req:
            raise RequestError("missing field 'values' (an object of parameter: integer)")
        values = req["values"]
        if not isinstance(values, dict) or not values:
            raise RequestError("field 'values' must be a non-empty object of parameter: integer, got %s" % show(values))
        p = self.engine.params
        for k in sorted(values):  # sorted: the same first error on every port
            v = values[k]
            if index(k) < 0:
                raise RequestError("values: unknown parameter %s; known: %s" % (show(k), ", ".join(NAMES)))
            if isinstance(v, bool) or not isinstance(v, int):
                raise RequestError("values.%s must be an integer, got %s" % (k, show(v)))
            err = p.check(k, v)
            if err:
                raise RequestError("values." + err)
        err = p.update(values)  # all or nothing; also checks bass_lo < bass_hi
        if err:
            raise RequestError("values: " + err)
        return [("params", self.params_obj())]

    def _panel_name(self, req, key):
        name = _text(req, key, "a panel name")
        if name not in self.panel_names:
            raise RequestError("no panel %s; panels: %s" % (show(name), ", ".join(self.panel_names)))
        return name

    def cmd_panel(self, req, now):
        name = self._panel_name(req, "name")
        mode = _text(req, "mode", "a mode name", False)
        palette = _text(req, "palette", "a palette name", False)
        change = {}
        if mode is not None:
            if mode_index(mode) < 0:
                raise RequestError("mode %s is not a mode; modes: %s" % (show(mode), ", ".join(MODES)))
            change["mode"] = mode
        if palette is not None:
            if not self.engine.palettes.has(palette):
                raise RequestError("palette %s is not a palette; palettes: %s" % (show(palette), ", ".join(self.palette_names())))
            change["palette"] = palette
        if change:
            err = self.engine.set_panel(name, change)
            if err:
                raise RequestError(err)
        s = self.engine.settings[name]
        return [("panel", name), ("mode", s["mode"]), ("palette", s["palette"])]

    def _add_palette(self, name, stops):
        # Validate and add one user palette; returns None or the problem (nothing changes then).
        pal = self.engine.palettes
        if not valid_name(name):
            return "palette names are 1..24 characters of A-Z a-z 0-9 _ -, got %s" % show(name)
        if name in BUILTIN:
            return "'%s' is a built-in palette and cannot be replaced; choose another name" % name
        if name not in pal.user and len(pal.user) >= MAX_USER_PALETTES:
            return "%d user palettes already; remove one, reset, or reuse one of the names %s" % (
                MAX_USER_PALETTES, ", ".join(sorted(pal.user)))
        try:
            pal.add(name, stops)
        except ValueError as e:
            return "stops: %s" % e.args[0]
        return None

    def cmd_palette(self, req, now):
        # "action": "add" (the default: upload or replace), "remove" (a user palette no panel
        # shows) or "list" (every name, and which are user palettes).
        action = _text(req, "action", "one of add, remove, list", False)
        if action is not None and action not in ("add", "remove", "list"):
            raise RequestError("field 'action' must be one of add, remove, list, got %s" % show(action))
        user = self.engine.palettes.user
        if action == "list":
            return [("palettes", self.palette_names()), ("user", sorted(user))]
        name = _text(req, "name", "a palette name")
        if action == "remove":
            if name in BUILTIN:
                raise RequestError("'%s' is a built-in palette and cannot be removed" % name)
            if name not in user:
                raise RequestError("no user palette %s; user palettes: %s" % (show(name), ", ".join(sorted(user)) or "none"))
            using = [n for n in self.panel_names if self.engine.settings[n]["palette"] == name]
            if using:
                raise RequestError("palette '%s' is shown on %s; give %s another palette first" % (
                    name, ", ".join(using), "that panel" if len(using) == 1 else "those panels"))
            self.engine.palettes.remove(name)
            return [("name", name), ("palettes", self.palette_names())]
        if "stops" not in req:
            raise RequestError("missing field 'stops' (2..16 of [position, r, g, b] or \"#rrggbb\")")
        err = self._add_palette(name, req["stops"])
        if err:
            raise RequestError(err)
        return [("name", name), ("palettes", self.palette_names())]

    def _need_store(self):
        if self.store is None:
            raise RequestError("this garment was started without storage; nothing can be saved")
        return self.store

    def cmd_preset(self, req, now):
        action = _text(req, "action", "one of save, load, list, delete")
        if action not in ("save", "load", "list", "delete"):
            raise RequestError("field 'action' must be one of save, load, list, delete, got %s" % show(action))
        st = self._need_store()
        if action == "list":
            return [("presets", st.preset_names())]
        name = _text(req, "name", "a preset name")
        if not valid_name(name):
            raise RequestError("preset names are 1..24 characters of A-Z a-z 0-9 _ -, got %s" % show(name))
        try:
            if action == "save":
                st.preset_save(name, self.settings())
                return [("preset", name), ("presets", st.preset_names())]
            if action == "delete":
                if not st.preset_delete(name):
                    raise RequestError("no preset '%s'; presets: %s" % (name, ", ".join(st.preset_names())))
                return [("preset", name), ("presets", st.preset_names())]
            doc, problem = st.preset_load(name)
        except ValueError as e:
            raise RequestError(e.args[0])
        except OSError:
            raise RequestError("could not %s preset '%s': flash error (full?)" % (action, name))
        if doc is None:
            if problem is not None and problem.endswith(": missing"):
                raise RequestError("no preset '%s'; presets: %s" % (name, ", ".join(st.preset_names())))
            raise RequestError("preset '%s' is unusable: %s" % (name, problem))
        problems = self.apply(doc)
        if problem:
            problems.insert(0, problem)
        return [("preset", name), ("problems", problems), ("params", self.params_obj()), ("panels", self.panels_obj())]

    def apply(self, doc):
        # Apply a settings document live (preset load): every valid entry applies, the rest are
        # listed. Parameters go in one update, so bass_lo/bass_hi pairs apply whatever their order.
        eng = self.engine
        problems = []
        pals = doc.get("palettes", {})
        if isinstance(pals, dict):
            for n in sorted(pals):
                err = self._add_palette(n, pals[n])
                if err:
                    problems.append("palettes.%s: %s" % (show(n), err))
        else:
            problems.append("palettes: expected an object of name: stops")
        ps = doc.get("params", {})
        if isinstance(ps, dict):
            good = {}
            for k in sorted(ps):
                err = eng.params.check(k, ps[k]) if isinstance(ps[k], int) else "%s must be an integer" % k
                if err:
                    problems.append("params: " + err)
                else:
                    good[k] = ps[k]
            err = eng.params.update(good)
            if err:
                problems.append("params: " + err)
                for k in sorted(good):
                    eng.params.set(k, good[k])
        else:
            problems.append("params: expected an object of name: value")
        pn = doc.get("panels", {})
        if isinstance(pn, dict):
            for n in sorted(pn):
                s = pn[n]
                if n not in self.panel_names:
                    problems.append("panels: no panel %s on this garment" % show(n))
                elif not isinstance(s, dict):
                    problems.append("panels.%s: expected {\"mode\": ..., \"palette\": ...}" % n)
                else:
                    ch = {}
                    if "mode" in s:
                        ch["mode"] = s["mode"]
                    if "palette" in s:
                        ch["palette"] = s["palette"]
                    if isinstance(ch.get("mode", ""), str) and isinstance(ch.get("palette", ""), str):
                        err = eng.set_panel(n, ch)
                    else:
                        err = "%s: mode and palette are names" % n
                    if err:
                        problems.append("panels." + err)
        else:
            problems.append("panels: expected an object of panel name: settings")
        return problems

    def cmd_save(self, req, now):
        st = self._need_store()
        try:
            st.save_settings(self.settings())
        except OSError:
            raise RequestError("could not write %s: flash error (full?); the previous settings are kept" % st.config_path)
        return [("saved", st.config_path)]

    def factory_reset(self):
        # Parameter defaults, every panel's mode and palette from the profile, no user palettes.
        # Live only: `save` makes it stick.
        eng = self.engine
        eng.params.update(_param_defaults())
        defaults = defaults_from_profile(eng.profile)["panels"]
        for n in self.panel_names:
            s = defaults[n]
            mode = s["mode"] if mode_index(s["mode"]) >= 0 else "pulse"
            palette = s["palette"] if s["palette"] in BUILTIN else "rainbow"
            eng.set_panel(n, {"mode": mode, "palette": palette})
        pal = eng.palettes
        for n in list(pal.user):
            pal.remove(n)

    def cmd_reset(self, req, now):
        self.factory_reset()
        return [("params", self.params_obj()), ("panels", self.panels_obj()), ("palettes", self.palette_names())]

    def cmd_telemetry(self, req, now):
        if "on" not in req:
            raise RequestError("missing field 'on' (true or false)")
        on = req["on"]
        if on is not True and on is not False:
            raise RequestError("field 'on' must be true or false, got %s" % show(on))
        self.rate_hz = _int(req, "rate_hz", 1, MAX_RATE_HZ, self.rate_hz)
        if on and not self.telemetry_on:
            self._next_ms = now  # the first line goes out at the next poll
            self._beats = self.engine.features.beat_count
        self.telemetry_on = on
        return [("on", on), ("rate_hz", self.rate_hz)]

    def cmd_identify(self, req, now):
        name = self._panel_name(req, "panel")
        ms = _int(req, "ms", 0, MAX_IDENTIFY_MS, 3000)
        self.identify_index = self.panel_names.index(name) if ms else -1
        self.identify_start_ms = now
        self.identify_until_ms = now + ms
        return [("panel", name), ("ms", ms)]

    def cmd_status(self, req, now):
        app = self.app
        out = self.engine.output
        return [("faults", self.faults()), ("fps", self.fps), ("frames", app.frames if app is not None else 0),
                ("dropped", app.dropped if app is not None else 0), ("hops", self.engine.hops),
                ("ma", out.est_ma), ("limited", out.limited), ("uptime_ms", now),
                ("telemetry", self.telemetry_on), ("requests", self.requests), ("errors", self.errors)]

    # --- telemetry and identify ----------------------------------------------------------------

    def telemetry_line(self, now_ms, fps, frame_us, free_heap):
        # None, or one telemetry line (no newline) when one is due at the configured rate.
        # "beat" counts the beats since the previous line (lines are slower than hops).
        if not self.telemetry_on:
            return None
        period = 1000 // self.rate_hz
        if self._next_ms > now_ms + period:  # the clock went back (a new source): start again
            self._next_ms = now_ms
        if now_ms < self._next_ms:
            return None
        self._next_ms += period
        if self._next_ms <= now_ms:  # fell behind (a stall): no burst of catch-up lines
            self._next_ms = now_ms + period
        f = self.engine.features
        beats = f.beat_count - self._beats
        self._beats = f.beat_count
        faults = self.faults()
        if faults != self._faults:  # re-encoded only when they change
            self._faults = faults
            self._faults_json = encode(faults)
        v = self._tvals  # one format with a %d per band: ~0.4 KB allocated per line (VM: was 0.7)
        b = f.bands
        nb = len(b)
        v[0] = now_ms
        v[1] = f.level
        v[2] = f.bass
        v[3] = f.mid
        v[4] = f.treble
        for i in range(nb):
            v[5 + i] = b[i]
        v[5 + nb] = beats
        v[6 + nb] = f.onset
        v[7 + nb] = fps
        v[8 + nb] = frame_us
        v[9 + nb] = free_heap
        v[10 + nb] = self.engine.output.est_ma
        v[11 + nb] = self._faults_json
        return self._tfmt % tuple(v)

    def identify_panel(self, now_ms):
        # The index of the panel being identified, or -1 (the blink has ended).
        if self.identify_index >= 0 and now_ms >= self.identify_until_ms:
            self.identify_index = -1
        return self.identify_index

    def overlay(self, rgb, now_ms):
        # While identifying: the panel blinks white (_BLINK_MS on, _BLINK_MS off), every other
        # panel is dark. Works on the mapper's RGB frame, before Output, so the brightness cap and
        # the current limiter still apply. Allocates nothing.
        i = self.identify_panel(now_ms)
        if i < 0:
            return
        lit = ((now_ms - self.identify_start_ms) // _BLINK_MS) & 1 == 0
        panels = self.engine.profile["panels"]
        for j in range(len(panels)):
            v = 255 if (lit and j == i) else 0
            a = 3 * panels[j]["first"]
            for k in range(a, a + 3 * panels[j]["count"]):
                rgb[k] = v

    def render(self, now_ms):
        # Engine.render with the identify overlay: what the App calls instead of engine.render.
        eng = self.engine
        rgb = eng.mapper.render(eng.features, now_ms)
        self.overlay(rgb, now_ms)
        return eng.output.show(rgb)
