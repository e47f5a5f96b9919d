# The live-tuning protocol (docs/PROTOCOL.md): one JSON request line in, one JSON reply line out,
# against the running Engine; also the telemetry lines and the identify blink. Never raises.
# Resident on the garment: parsing, dispatch, the tuning loop's get/set/telemetry, telemetry lines
# and the identify overlay. The other commands (hello, panel, palette, preset, save, reset,
# identify, status) are in firmware/protocol_extra.py, imported for one request and released
# afterwards (issue 3).
import json

from firmware.compat import const
from firmware.params import NAMES, index
from firmware.store import release

PROTOCOL_VERSION = 1
MAX_LINE = 512  # bytes of one request line, without its newline (firmware/link_usb.py enforces it)
MAX_RATE_HZ = 50
MAX_USER_PALETTES = 8  # each costs a 768-byte table once used
MAX_IDENTIFY_MS = 60000
_BLINK_MS = const(250)  # identify: the panel is white this long, then dark this long
_ID_CHARS = const(64)  # longer string ids are answered with "id": null
_ID_LIMIT = 2147483647  # integer ids beyond +-(2**31 - 1) likewise
_SHOW = const(32)  # characters of a client's string quoted back in an error
_INTERNAL = '{"id": null, "ok": false, "error": "internal error"}'
_COMMANDS = "hello, get, set, panel, palette, preset, save, reset, telemetry, identify, status"
_EXTRA = ("hello", "panel", "palette", "preset", "save", "reset", "identify", "status")  # protocol_extra.py
_EXTRA_MODULE = "firmware.protocol_extra"


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


def _extra():
    # firmware/protocol_extra.py for one call; release it with _release() (a MemoryError while
    # importing reaches Control._handle and becomes an "out of memory" reply).
    from firmware import protocol_extra

    return protocol_extra


def _release():
    # Forget protocol_extra and the store_io it imports (firmware/store.py's release: MicroPython
    # only), so the next collection frees their bytecode.
    release(_EXTRA_MODULE, "protocol_extra")
    release("firmware.store_io", "store_io")


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
        self._tfmt = ""  # the telemetry line's format and values: made for the first line
        self._tvals = []
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
                raise RequestError("missing field 'cmd' (one of %s)" % _COMMANDS)
            cmd = req["cmd"]
            now = self.now_ms() if now_ms is None else now_ms
            if cmd == "get":
                pairs = self.cmd_get(req, now)
            elif cmd == "set":
                pairs = self.cmd_set(req, now)
            elif cmd == "telemetry":
                pairs = self.cmd_telemetry(req, now)
            elif isinstance(cmd, str) and cmd in _EXTRA:
                try:
                    pairs = _extra().run(self, cmd, req, now)
                finally:
                    _release()
            else:
                raise RequestError("unknown command %s; commands: %s" % (show(cmd), _COMMANDS))
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
        try:
            return _extra().settings(self)
        finally:
            _release()

    def faults(self):
        return self.app.fault_list() if self.app is not None else list(self.engine.problems)

    # --- commands: each returns a list of (key, value) for the reply or raises RequestError ----

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
        b = f.bands
        nb = len(b)
        v = self._tvals  # one format with a %d per band: ~0.4 KB allocated per line (VM: was 0.7)
        if not v:  # the first line (not made at start-up: most shows never ask for telemetry)
            self._tfmt = ('{"t": %d, "level": %d, "bass": %d, "mid": %d, "treble": %d, "bands": [' +
                          ", ".join(["%d"] * nb) + '], "beat": %d, "onset": %d, "fps": %d, "frame_us": %d, '
                          '"heap": %d, "ma": %d, "faults": %s}')
            v = self._tvals = list((0,) * (11 + nb) + ("[]",))  # ints, then the faults' JSON
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
