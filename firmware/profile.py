# Garment profiles: validates a boards/*.json dict and returns it normalised, every default filled in.
# Bad wiring or typos must fail at load time with a message naming the exact field and the fix.

# load_profile(data) -> new dict; read_profile(path) -> same, from a JSON file. Errors raise
# ProfileError("<field path>: <what is wrong>; <how to fix it>"), e.g. "panels[1].order: ...".
# Keys starting with "_" are comments and allowed anywhere (they are dropped from the result).
# JSON null counts as "not given". Layout maths lives in firmware/layout.py.
import json

from firmware.compat import const
from firmware.layout import bounds, panel_positions

_MAX_PANEL = const(1024)  # pixels per panel
_MAX_TOTAL = const(2048)  # pixels per garment (RAM for frame buffers on the ESP32)
_COORD = const(32767)  # positions are array('h'): |x|, |y| <= 32767 mm
_DEFAULT_PITCH = const(10)  # mm, default line layout and matrix pitch

_REQUIRED = object()  # sentinel: the field has no default

_TOP_KEYS = ("schema", "name", "chip", "sample_rate", "fft_size", "hop", "source", "sink", "power", "panels")
_PANEL_KEYS = ("name", "pin", "count", "order", "layout", "mode", "palette")
_POWER_KEYS = ("budget_ma", "ma_per_channel", "idle_ma_per_pixel", "max_brightness")
# "blinka": a Linux host (Raspberry Pi) through Adafruit Blinka: pins are Blinka names ("D18"), the
# microphone is an ALSA capture device, panels may share a data pin as one chain (host_tools/pi_run.py).
_CHIPS = ("esp32", "esp32s3", "esp32c3", "desk", "blinka")
_ORDERS = ("RGB", "GRB", "BRG", "RBG", "GBR", "BGR", "RGBW", "GRBW")
_MICS = ("inmp441", "ics43434", "sph0645")
_FFT_SIZES = (256, 512, 1024)
_SOURCE_KEYS = {"i2s": ("type", "mic", "i2s_id", "sck", "ws", "sd"), "pcm_file": ("type", "path"),
                "alsa": ("type", "device", "rate")}
_SINK_KEYS = {"neopixel": ("type",), "record": ("type", "path")}
_LAYOUT_KEYS = {
    "line": ("type", "start", "end"),
    "matrix": ("type", "width", "height", "pitch", "origin", "serpentine", "vertical", "corner"),
    "ring": ("type", "center", "radius", "start_deg", "clockwise"),
    "points": ("type", "points"),
}
_CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
_I2S_PORTS = {"esp32": 2, "esp32s3": 2, "esp32c3": 1, "desk": 2, "blinka": 1}
# Pins known to work for LED data on each chip, suggested in pin error messages.
_GOOD_PINS = {"esp32": "13, 25, 26, 27", "esp32s3": "4-18, 21, 38-42", "esp32c3": "3-7, 10"}


class ProfileError(ValueError):
    pass


def _fail(path, msg):
    raise ProfileError(path + ": " + msg)


def _sub(path, key):
    return key if not path else path + "." + key


def _item(path, i):
    return "%s[%d]" % (path, i)


def _choices(seq):
    return ", ".join(seq)


def _describe(v):
    # Human wording of a JSON value's type, for "expected X, got Y" messages.
    if v is True or v is False:
        return "the boolean %s" % ("true" if v else "false")
    if isinstance(v, int):
        return "the integer %d" % v
    if isinstance(v, float):
        return "the number %r" % v
    if isinstance(v, str):
        if len(v) > 40:
            v = v[:37] + "..."
        return "the string %r" % v
    if isinstance(v, (list, tuple)):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return "a %s" % type(v).__name__


def _is_int(v):
    # bool is an int subclass on CPython (not on MicroPython): reject it explicitly.
    return isinstance(v, int) and not (v is True or v is False)


def _distance(a, b):
    # Levenshtein distance, for "did you mean" hints on mistyped keys.
    prev = list(range(len(b) + 1))
    for i in range(len(a)):
        cur = [i + 1]
        for j in range(len(b)):
            cost = 0 if a[i] == b[j] else 1
            cur.append(min(prev[j + 1] + 1, cur[j] + 1, prev[j] + cost))
        prev = cur
    return prev[-1]


def _check_keys(d, path, known):
    for k in d:
        if k in known or (isinstance(k, str) and k.startswith("_")):
            continue
        k = str(k)
        best = None
        best_dist = 3  # suggest names at most 2 edits away, or containing the key ("budget")
        for name in known:
            dist = _distance(k, name)
            if len(k) >= 3 and (k in name or name in k) and dist > 2:
                dist = 2
            if dist < best_dist:
                best = name
                best_dist = dist
        hint = " (did you mean %r?)" % best if best else ""
        where = "top-level keys" if not path else "keys of " + path
        _fail(
            _sub(path, k),
            "unknown key%s; the %s are %s (prefix a key with '_' to make it a comment)" % (hint, where, _choices(known)),
        )


def _obj(v, path, example):
    if not isinstance(v, dict):
        _fail(path, "expected an object like %s, got %s" % (example, _describe(v)))
    return v


def _int(d, key, path, lo, hi, default=_REQUIRED, what=""):
    p = _sub(path, key)
    v = d.get(key)
    if v is None:
        if default is _REQUIRED:
            _fail(p, "missing; add %s (a whole number %d..%d)" % (what or key, lo, hi))
        return default
    if not _is_int(v):
        _fail(p, "expected a whole number %d..%d, got %s" % (lo, hi, _describe(v)))
    if v < lo or v > hi:
        _fail(p, "%d is out of range; use a whole number %d..%d" % (v, lo, hi))
    return v


def _str(d, key, path, default=_REQUIRED, what="a non-empty string"):
    p = _sub(path, key)
    v = d.get(key)
    if v is None:
        if default is _REQUIRED:
            _fail(p, "missing; add %s" % what)
        return default
    if not isinstance(v, str) or not v:
        _fail(p, "expected %s, got %s" % (what, _describe(v)))
    return v


def _bool(d, key, path, default):
    v = d.get(key)
    if v is None:
        return default
    if not (v is True or v is False):
        _fail(_sub(path, key), "expected true or false, got %s" % _describe(v))
    return v


def _choice(d, key, path, options, default=_REQUIRED, noun="value", hint=""):
    p = _sub(path, key)
    v = d.get(key)
    if v is None:
        if default is _REQUIRED:
            _fail(p, "missing; use one of %s%s" % (_choices(options), hint))
        return default
    if not isinstance(v, str):
        _fail(p, "expected a string, one of %s, got %s" % (_choices(options), _describe(v)))
    if v not in options:
        if v.upper() in options or v.lower() in options:
            hint = " (names are case-sensitive)" + hint
        _fail(p, "%r is not %s; use one of %s%s" % (v, noun, _choices(options), hint))
    return v


def _xy(v, path):
    # An [x, y] pair of whole millimetres within +/-32767; returns a new list.
    if not isinstance(v, (list, tuple)) or len(v) != 2 or not _is_int(v[0]) or not _is_int(v[1]):
        shown = _describe(v)
        if isinstance(v, (list, tuple)):
            shown = "%r" % (list(v),) if len(v) <= 4 else "a list of %d items" % len(v)
        _fail(path, "expected [x, y] in whole millimetres, got %s" % shown)
    for c in v:
        if c < -_COORD or c > _COORD:
            _fail(path, "%d mm is outside the +/-%d mm coordinate range; move it closer to 0" % (c, _COORD))
    return [v[0], v[1]]


def _blinka_pin(v, path):
    # A pin as Blinka's `board` module names it ("D18" is GPIO 18 on a Raspberry Pi); whether the
    # pin exists and can drive NeoPixels is checked on the host when the board is known.
    ok = isinstance(v, str) and 0 < len(v) <= 32 and v[0].isalpha()
    if ok:
        for c in v:
            if not (c.isalpha() or c.isdigit() or c == "_"):
                ok = False
    if not ok:
        _fail(path, 'expected a Blinka pin name such as "D18" (GPIO 18 on a Raspberry Pi), got %s' % _describe(v))
    return v


def _pin(v, path, chip, role):
    # role: "led" (LED data out), "clock" (mic sck/ws, driven by the chip) or "in" (mic sd).
    # The desk chip has no GPIOs: pins are kept but not checked beyond being whole numbers.
    if chip == "blinka":
        return _blinka_pin(v, path)
    if not _is_int(v):
        _fail(path, "expected a GPIO number (whole number), got %s" % _describe(v))
    if chip == "desk":
        return v
    other = "pick another GPIO (e.g. %s)" % _GOOD_PINS[chip]
    if chip == "esp32":
        if v < 0 or v > 39 or v == 20 or v == 24 or (28 <= v <= 31):
            _fail(path, "GPIO %d does not exist on the esp32 (GPIOs are 0-19, 21-23, 25-27, 32-39); %s" % (v, other))
        if 6 <= v <= 11:
            _fail(path, "GPIO %d is a flash pin on the esp32 (6-11 connect the SPI flash); %s" % (v, other))
        if v >= 34 and role != "in":
            use = "drive LED data" if role == "led" else "drive the microphone clock"
            _fail(path, "GPIO %d is input-only on the esp32 (34-39) and cannot %s; %s" % (v, use, other))
    elif chip == "esp32s3":
        if v < 0 or v > 48 or (22 <= v <= 25):
            _fail(path, "GPIO %d does not exist on the esp32s3 (GPIOs are 0-21, 26-48); %s" % (v, other))
        if 26 <= v <= 32:
            _fail(
                path,
                "GPIO %d is a flash/PSRAM pin on most esp32s3 modules (26-32 connect the SPI flash); %s" % (v, other),
            )
    elif chip == "esp32c3":
        if v < 0 or v > 21:
            _fail(path, "GPIO %d does not exist on the esp32c3 (GPIOs are 0-21); %s" % (v, other))
        if 12 <= v <= 17:
            _fail(path, "GPIO %d is a flash pin on the esp32c3 (12-17 connect the SPI flash); %s" % (v, other))
        if v == 11:
            _fail(path, "GPIO 11 powers the SPI flash (VDD_SPI) on the esp32c3 by default; %s" % other)
    return v


def _source(d, path, chip):
    d = _obj(d, path, '{"type": "i2s", "mic": "inmp441", "sck": 14, "ws": 15, "sd": 32}')
    kind = _choice(d, "type", path, ("i2s", "pcm_file", "alsa"), noun="a source type")
    _check_keys(d, path, _SOURCE_KEYS[kind])
    if (kind == "alsa") != (chip == "blinka") and chip != "desk":
        if kind == "alsa":
            _fail(_sub(path, "type"), "'alsa' is a Linux host's microphone; chip %r needs an i2s source" % chip)
        _fail(_sub(path, "type"), "on a Linux host (chip 'blinka') the microphone is an ALSA capture device; "
                                  'use {"type": "alsa", "device": "default"}')
    if kind == "alsa":
        dev = d.get("device")
        if dev is not None and not ((isinstance(dev, str) and dev) or _is_int(dev)):
            _fail(_sub(path, "device"), "expected a device name (or part of one) or a device number, got %s" % _describe(dev))
        return {"type": kind, "device": dev, "rate": _int(d, "rate", path, 8000, 192000, None)}
    if kind == "pcm_file":
        return {"type": kind, "path": _str(d, "path", path, what="a file path (mono s16le PCM at sample_rate)")}
    out = {
        "type": kind,
        "mic": _choice(d, "mic", path, _MICS, noun="a supported microphone"),
        "i2s_id": _int(d, "i2s_id", path, 0, _I2S_PORTS[chip] - 1, 0),
    }
    seen = {}
    for key in ("sck", "ws", "sd"):
        p = _sub(path, key)
        v = d.get(key)
        if v is None:
            if chip == "desk":
                out[key] = None
                continue
            _fail(p, "missing; add the GPIO wired to the microphone's %s pin" % key.upper())
        v = _pin(v, p, chip, "in" if key == "sd" else "clock")
        if chip != "desk":
            if v in seen:
                _fail(p, "GPIO %d is already %s; each microphone signal needs its own GPIO" % (v, seen[v]))
            seen[v] = p
        out[key] = v
    return out


def _sink(d, path):
    if d is None:
        return {"type": "neopixel"}
    d = _obj(d, path, '{"type": "neopixel"}')
    kind = _choice(d, "type", path, ("neopixel", "record"), noun="a sink type")
    _check_keys(d, path, _SINK_KEYS[kind])
    if kind == "record":
        return {"type": kind, "path": _str(d, "path", path, what="a file path for the recorded frames")}
    return {"type": kind}


def _check_extent(path, what, lo_x, lo_y, hi_x, hi_y):
    for c in (lo_x, lo_y, hi_x, hi_y):
        if c < -_COORD or c > _COORD:
            _fail(
                path,
                "the %s reaches %d mm, outside the +/-%d mm coordinate range; move it closer to 0" % (what, c, _COORD),
            )


def _layout(d, path, count, prev):
    # Normalised layout dict for one panel; prev is the previous normalised panel (or None).
    if d is None:
        # Default: a horizontal line, 10 mm pitch, 10 mm below the previous panel, left-aligned.
        if prev is None:
            x, y = 0, 0
        else:
            b = bounds(panel_positions(prev))
            x, y = b[0], b[3] + _DEFAULT_PITCH
        x1 = x + _DEFAULT_PITCH * (count - 1)
        if y > _COORD or x1 > _COORD:
            _fail(
                path,
                "missing, and the default (a horizontal line 10 mm below the previous panel) would leave "
                "the +/-%d mm range; give a layout" % _COORD,
            )
        return {"type": "line", "start": [x, y], "end": [x1, y]}
    d = _obj(d, path, '{"type": "line", "start": [0, 0], "end": [0, 300]}')
    kind = _choice(d, "type", path, ("line", "matrix", "ring", "points"), noun="a layout type")
    _check_keys(d, path, _LAYOUT_KEYS[kind])
    if kind == "line":
        start = d.get("start")
        if start is None:
            _fail(_sub(path, "start"), "missing; add the [x, y] position of pixel 0 in mm")
        end = d.get("end")
        if end is None:
            _fail(_sub(path, "end"), "missing; add the [x, y] position of the last pixel in mm")
        return {"type": kind, "start": _xy(start, _sub(path, "start")), "end": _xy(end, _sub(path, "end"))}
    if kind == "matrix":
        w = _int(d, "width", path, 1, _MAX_PANEL, what="the number of pixels per row")
        h = _int(d, "height", path, 1, _MAX_PANEL, what="the number of rows")
        if w * h != count:
            _fail(
                path,
                "width %d x height %d = %d pixels but the panel count is %d; make width x height equal count"
                % (w, h, w * h, count),
            )
        pitch = _int(d, "pitch", path, 1, 1000, _DEFAULT_PITCH)
        origin = d.get("origin")
        if origin is None:
            _fail(_sub(path, "origin"), "missing; add the [x, y] position of pixel 0 in mm")
        ox, oy = _xy(origin, _sub(path, "origin"))
        corner = _choice(d, "corner", path, _CORNERS, "top_left", noun="a matrix corner")
        dx = -(w - 1) * pitch if corner.endswith("right") else (w - 1) * pitch
        dy = -(h - 1) * pitch if corner.startswith("bottom") else (h - 1) * pitch
        _check_extent(path, "matrix", ox, oy, ox + dx, oy + dy)
        return {
            "type": kind,
            "width": w,
            "height": h,
            "pitch": pitch,
            "origin": [ox, oy],
            "serpentine": _bool(d, "serpentine", path, False),
            "vertical": _bool(d, "vertical", path, False),
            "corner": corner,
        }
    if kind == "ring":
        center = d.get("center")
        if center is None:
            _fail(_sub(path, "center"), "missing; add the [x, y] position of the ring centre in mm")
        cx, cy = _xy(center, _sub(path, "center"))
        r = _int(d, "radius", path, 1, _COORD, what="the ring radius in mm")
        start = _int(d, "start_deg", path, -3600, 3600, 0)
        _check_extent(path, "ring", cx - r, cy - r, cx + r, cy + r)
        return {
            "type": kind,
            "center": [cx, cy],
            "radius": r,
            "start_deg": start % 360,
            "clockwise": _bool(d, "clockwise", path, True),
        }
    pts = d.get("points")
    p = _sub(path, "points")
    if not isinstance(pts, (list, tuple)):
        _fail(p, "expected a list of [x, y] positions (one per pixel), got %s" % _describe(pts))
    if len(pts) != count:
        _fail(p, "%d points but the panel count is %d; give exactly one [x, y] per pixel" % (len(pts), count))
    return {"type": kind, "points": [_xy(pts[i], _item(p, i)) for i in range(count)]}


def _panels(v, chip, mic_pins):
    if v is None:
        _fail("panels", 'missing; add a list of LED panels, e.g. [{"name": "sleeve", "pin": 13, "count": 30}]')
    if not isinstance(v, (list, tuple)):
        _fail("panels", "expected a list of panel objects, got %s" % _describe(v))
    if not v:
        _fail("panels", "the list is empty; add at least one LED panel")
    out = []
    names = {}
    pins = {}
    first = 0
    prev = None
    for i in range(len(v)):
        path = _item("panels", i)
        d = _obj(v[i], path, '{"name": "sleeve", "pin": 13, "count": 30}')
        _check_keys(d, path, _PANEL_KEYS)
        name = _str(d, "name", path, "panel%d" % i)
        if name in names:
            _fail(_sub(path, "name"), "%r is already used by %s; panel names must be unique" % (name, names[name]))
        names[name] = path
        pin = d.get("pin")
        pp = _sub(path, "pin")
        if pin is None:
            if chip != "desk":
                _fail(pp, "missing; add the GPIO wired to this strip's data input")
        else:
            pin = _pin(pin, pp, chip, "led")
            if chip == "blinka":
                # one data pin may carry several panels in a row (a chain), all of one pixel size
                if pin in pins and (prev is None or prev["pin"] != pin):
                    _fail(pp, "%s is already used by %s; panels sharing a data pin form one chain and must "
                              "follow each other in the list" % (pin, pins[pin]))
                if pin not in pins:
                    pins[pin] = path + " (" + name + ")"
            elif chip != "desk":
                if pin in mic_pins:
                    _fail(pp, "GPIO %d is the microphone's %s pin; pick another GPIO" % (pin, mic_pins[pin]))
                if pin in pins:
                    _fail(
                        pp,
                        "GPIO %d is already used by %s; each panel needs its own data pin "
                        "(chain strips into one panel instead)" % (pin, pins[pin]),
                    )
                pins[pin] = path + " (" + name + ")"
        count = _int(d, "count", path, 1, _MAX_PANEL, what="the number of pixels")
        order = _choice(
            d, "order", path, _ORDERS, "GRB", noun="a colour order", hint=" (WS2812 strips are usually GRB)"
        )
        panel = {
            "name": name,
            "pin": pin,
            "count": count,
            "order": order,
            "bpp": 4 if len(order) == 4 else 3,
            "first": first,
            "layout": _layout(d.get("layout"), _sub(path, "layout"), count, prev),
            "mode": _str(d, "mode", path, None, "a non-empty mode name"),
            "palette": _str(d, "palette", path, None, "a non-empty palette name"),
        }
        if chip == "blinka" and prev is not None and pin is not None and prev["pin"] == pin and prev["bpp"] != panel["bpp"]:
            _fail(_sub(path, "order"), "%s has %d bytes per pixel but %s on the same data pin has %d; a chain sends one "
                                      "pixel size (RGB or RGBW): give this panel its own pin"
                  % (order, panel["bpp"], pins[pin], prev["bpp"]))
        first += count
        if first > _MAX_TOTAL:
            _fail(
                "panels",
                "%d pixels in total (up to %s); the firmware drives at most %d pixels per garment; "
                "shorten or remove panels" % (first, path, _MAX_TOTAL),
            )
        out.append(panel)
        prev = panel
    return out, first


def _power(d, total):
    if d is None:
        d = {}
    d = _obj(d, "power", '{"budget_ma": 2000}')
    _check_keys(d, "power", _POWER_KEYS)
    out = {
        "budget_ma": _int(d, "budget_ma", "power", 100, 100000, 2000),
        "ma_per_channel": _int(d, "ma_per_channel", "power", 1, 100, 20),
        "idle_ma_per_pixel": _int(d, "idle_ma_per_pixel", "power", 0, 20, 1),
        "max_brightness": _int(d, "max_brightness", "power", 1, 255, 255),
    }
    idle = total * out["idle_ma_per_pixel"]
    if out["budget_ma"] < idle:
        _fail(
            "power.budget_ma",
            "%d mA does not even cover the idle current of the %d pixels (%d x idle_ma_per_pixel %d = %d mA, "
            "drawn even when they are dark); raise budget_ma above %d or use a bigger supply"
            % (out["budget_ma"], total, total, out["idle_ma_per_pixel"], idle, idle),
        )
    return out


def load_profile(data):
    # Validate a profile dict (parsed from JSON) and return a new normalised dict (see header).
    if not isinstance(data, dict):
        _fail("profile", "expected a JSON object at the top level, got %s" % _describe(data))
    _check_keys(data, "", _TOP_KEYS)
    schema = data.get("schema")
    if schema is not None and not (_is_int(schema) and schema == 1):
        _fail("schema", "%s is not supported; this firmware reads schema 1" % _describe(schema))
    name = _str(data, "name", "", "threadbeat garment")
    chip = _choice(data, "chip", "", _CHIPS, "esp32", noun="a supported chip")
    rate = _int(data, "sample_rate", "", 8000, 48000, 16000)
    fft = data.get("fft_size")
    if fft is None:
        fft = 512
    elif not _is_int(fft) or fft not in _FFT_SIZES:
        _fail("fft_size", "%s is not supported; use 256, 512 or 1024" % _describe(fft))
    hop = data.get("hop")
    if hop is None:
        hop = 128
    elif not _is_int(hop):
        _fail("hop", "expected a whole number (a power of two such as %d), got %s" % (fft // 4, _describe(hop)))
    if hop < 1 or hop & (hop - 1) or fft % hop:
        _fail("hop", "%d must be a power of two that divides fft_size (%d), e.g. %d" % (hop, fft, fft // 4))
    if hop < 32 or hop > fft // 2:
        _fail("hop", "%d must be between 32 and fft_size/2 (%d), e.g. %d" % (hop, fft // 2, fft // 4))
    src = data.get("source")
    if src is None:
        _fail("source", 'missing; add e.g. {"type": "i2s", "mic": "inmp441", "sck": 14, "ws": 15, "sd": 32}')
    source = _source(src, "source", chip)
    sink = _sink(data.get("sink"), "sink")
    mic_pins = {}
    if source["type"] == "i2s":
        for key in ("sck", "ws", "sd"):
            if source[key] is not None:
                mic_pins[source[key]] = "source." + key
    panels, total = _panels(data.get("panels"), chip, mic_pins)
    return {
        "schema": 1,
        "name": name,
        "chip": chip,
        "sample_rate": rate,
        "fft_size": fft,
        "hop": hop,
        "source": source,
        "sink": sink,
        "power": _power(data.get("power"), total),
        "panels": panels,
        "pixels": total,
    }


def read_profile(path):
    # Read and validate a profile file; every error message starts with the file path.
    try:
        f = open(path)
    except OSError as e:
        raise ProfileError("%s: cannot open the profile file (%s); check the path" % (path, e)) from None
    try:
        data = json.load(f)
    except ValueError as e:  # json's errors (and undecodable bytes) are ValueErrors everywhere
        raise ProfileError("%s: not valid JSON: %s; check commas, quotes and brackets" % (path, e)) from None
    finally:
        f.close()
    try:
        return load_profile(data)
    except ProfileError as e:
        raise ProfileError("%s: %s" % (path, e.args[0])) from None
