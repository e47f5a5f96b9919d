# The live-tuning protocol's less frequent commands (docs/PROTOCOL.md): hello, panel, palette,
# preset, save, reset, identify and status, and the settings document. protocol.Control imports
# this module (and the store_io it imports) for one request and releases them afterwards, so on
# the garment their bytecode is in the heap only while a request runs (issue 3). Every function
# takes the Control `c`; the commands return a list of (key, value) for the reply or raise
# protocol.RequestError, as the resident ones do.
from firmware.config import defaults_from_profile
from firmware.mapper import MODES, mode_index
from firmware.palettes import BUILTIN
from firmware.params import SCHEMA
from firmware.protocol import (MAX_IDENTIFY_MS, MAX_LINE, MAX_RATE_HZ, MAX_USER_PALETTES, PROTOCOL_VERSION, Obj,
                               RequestError, _int, _text, show)
from firmware.store import MAX_PRESETS
from firmware.store_io import valid_name


def run(c, cmd, req, now):
    # One of protocol._EXTRA.
    if cmd == "hello":
        return cmd_hello(c, req, now)
    if cmd == "panel":
        return cmd_panel(c, req, now)
    if cmd == "status":
        return cmd_status(c, req, now)
    if cmd == "palette":
        return cmd_palette(c, req, now)
    if cmd == "preset":
        return cmd_preset(c, req, now)
    if cmd == "save":
        return cmd_save(c, req, now)
    if cmd == "reset":
        return cmd_reset(c, req, now)
    return cmd_identify(c, req, now)


def _param_defaults():
    d = {}
    for p in SCHEMA:
        d[p[0]] = p[1]
    return d


def settings(c):
    # The settings document (firmware/config.py's format) for config.json and presets.
    eng = c.engine
    panels = {}
    for n in c.panel_names:
        panels[n] = {"mode": eng.settings[n]["mode"], "palette": eng.settings[n]["palette"]}
    pals = {}
    user = eng.palettes.user
    for n in user:
        pals[n] = [list(s) for s in user[n]]
    return {"schema": 1, "params": eng.params.as_dict(), "panels": panels, "palettes": pals}


def cmd_hello(c, req, now):
    eng = c.engine
    out = eng.output
    return [("protocol", PROTOCOL_VERSION), ("firmware", c.version), ("board", eng.profile["name"]),
            ("chip", eng.profile["chip"]), ("panels", c.panel_names), ("modes", MODES),
            ("palettes", c.palette_names()), ("params", [p[:5] for p in SCHEMA]),
            ("limits", Obj([("max_brightness", out.cap), ("budget_ma", out.budget), ("max_line", MAX_LINE),
                            ("telemetry_hz", MAX_RATE_HZ), ("presets", MAX_PRESETS),
                            ("user_palettes", MAX_USER_PALETTES)])),
            ("storage", c.store is not None)]


def _add_palette(c, name, stops):
    # Validate and add one user palette; returns None or the problem (nothing changes then).
    pal = c.engine.palettes
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


def cmd_palette(c, req, now):
    # "action": "add" (the default: upload or replace), "remove" (a user palette no panel
    # shows) or "list" (every name, and which are user palettes).
    action = _text(req, "action", "one of add, remove, list", False)
    if action is not None and action not in ("add", "remove", "list"):
        raise RequestError("field 'action' must be one of add, remove, list, got %s" % show(action))
    user = c.engine.palettes.user
    if action == "list":
        return [("palettes", c.palette_names()), ("user", sorted(user))]
    name = _text(req, "name", "a palette name")
    if action == "remove":
        if name in BUILTIN:
            raise RequestError("'%s' is a built-in palette and cannot be removed" % name)
        if name not in user:
            raise RequestError("no user palette %s; user palettes: %s" % (show(name), ", ".join(sorted(user)) or "none"))
        using = [n for n in c.panel_names if c.engine.settings[n]["palette"] == name]
        if using:
            raise RequestError("palette '%s' is shown on %s; give %s another palette first" % (
                name, ", ".join(using), "that panel" if len(using) == 1 else "those panels"))
        c.engine.palettes.remove(name)
        return [("name", name), ("palettes", c.palette_names())]
    if "stops" not in req:
        raise RequestError("missing field 'stops' (2..16 of [position, r, g, b] or \"#rrggbb\")")
    err = _add_palette(c, name, req["stops"])
    if err:
        raise RequestError(err)
    return [("name", name), ("palettes", c.palette_names())]


def _need_store(c):
    if c.store is None:
        raise RequestError("this garment was started without storage; nothing can be saved")
    return c.store


def cmd_preset(c, req, now):
    action = _text(req, "action", "one of save, load, list, delete")
    if action not in ("save", "load", "list", "delete"):
        raise RequestError("field 'action' must be one of save, load, list, delete, got %s" % show(action))
    st = _need_store(c)
    if action == "list":
        return [("presets", st.preset_names())]
    name = _text(req, "name", "a preset name")
    if not valid_name(name):
        raise RequestError("preset names are 1..24 characters of A-Z a-z 0-9 _ -, got %s" % show(name))
    try:
        if action == "save":
            st.preset_save(name, settings(c))
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
    problems = apply(c, doc)
    if problem:
        problems.insert(0, problem)
    return [("preset", name), ("problems", problems), ("params", c.params_obj()), ("panels", c.panels_obj())]


def apply(c, doc):
    # Apply a settings document live (preset load): every valid entry applies, the rest are
    # listed. Parameters go in one update, so bass_lo/bass_hi pairs apply whatever their order.
    eng = c.engine
    problems = []
    pals = doc.get("palettes", {})
    if isinstance(pals, dict):
        for n in sorted(pals):
            err = _add_palette(c, n, pals[n])
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
            if n not in c.panel_names:
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


def cmd_save(c, req, now):
    st = _need_store(c)
    try:
        st.save_settings(settings(c))
    except OSError:
        raise RequestError("could not write %s: flash error (full?); the previous settings are kept" % st.config_path)
    return [("saved", st.config_path)]


def factory_reset(c):
    # Parameter defaults, every panel's mode and palette from the profile, no user palettes.
    # Live only: `save` makes it stick.
    eng = c.engine
    eng.params.update(_param_defaults())
    defaults = defaults_from_profile(eng.profile)["panels"]
    for n in c.panel_names:
        s = defaults[n]
        mode = s["mode"] if mode_index(s["mode"]) >= 0 else "pulse"
        palette = s["palette"] if s["palette"] in BUILTIN else "rainbow"
        eng.set_panel(n, {"mode": mode, "palette": palette})
    pal = eng.palettes
    for n in list(pal.user):
        pal.remove(n)


def cmd_reset(c, req, now):
    factory_reset(c)
    return [("params", c.params_obj()), ("panels", c.panels_obj()), ("palettes", c.palette_names())]


def cmd_identify(c, req, now):
    name = _panel_name(c, req, "panel")
    ms = _int(req, "ms", 0, MAX_IDENTIFY_MS, 3000)
    c.identify_index = c.panel_names.index(name) if ms else -1
    c.identify_start_ms = now
    c.identify_until_ms = now + ms
    return [("panel", name), ("ms", ms)]


def _panel_name(c, req, key):
    name = _text(req, key, "a panel name")
    if name not in c.panel_names:
        raise RequestError("no panel %s; panels: %s" % (show(name), ", ".join(c.panel_names)))
    return name


def cmd_panel(c, req, now):
    name = _panel_name(c, req, "name")
    mode = _text(req, "mode", "a mode name", False)
    palette = _text(req, "palette", "a palette name", False)
    change = {}
    if mode is not None:
        if mode_index(mode) < 0:
            raise RequestError("mode %s is not a mode; modes: %s" % (show(mode), ", ".join(MODES)))
        change["mode"] = mode
    if palette is not None:
        if not c.engine.palettes.has(palette):
            raise RequestError("palette %s is not a palette; palettes: %s" % (show(palette), ", ".join(c.palette_names())))
        change["palette"] = palette
    if change:
        err = c.engine.set_panel(name, change)
        if err:
            raise RequestError(err)
    s = c.engine.settings[name]
    return [("panel", name), ("mode", s["mode"]), ("palette", s["palette"])]


def cmd_status(c, req, now):
    app = c.app
    out = c.engine.output
    return [("faults", c.faults()), ("fps", c.fps), ("frames", app.frames if app is not None else 0),
            ("dropped", app.dropped if app is not None else 0), ("hops", c.engine.hops),
            ("ma", out.est_ma), ("limited", out.limited), ("uptime_ms", now),
            ("telemetry", c.telemetry_on), ("requests", c.requests), ("errors", c.errors)]
