# User settings (parameters, per-panel mode and palette, user palettes) from a parsed JSON dict.
# Bad entries are skipped one by one with a message; everything valid still applies.
from firmware.mapper import mode_index, MODES

SCHEMA_VERSION = 1
KNOWN_KEYS = ("schema", "params", "panels", "palettes")


def defaults_from_profile(profile):
    # The settings a fresh garment starts with: every panel's default mode and palette.
    panels = {}
    for p in profile["panels"]:
        panels[p["name"]] = {"mode": p.get("mode") or "pulse", "palette": p.get("palette") or "rainbow"}
    return {"schema": SCHEMA_VERSION, "params": {}, "panels": panels, "palettes": {}}


def apply_config(data, params, palettes, panel_settings):
    # Apply `data` onto params (Params), palettes (Palettes) and panel_settings
    # ({panel name: {"mode", "palette"}}, changed in place). Returns a list of problems found.
    problems = []
    if not isinstance(data, dict):
        return ["config: expected a JSON object, got %s" % type(data).__name__]
    for k in data:
        if k not in KNOWN_KEYS and not k.startswith("_"):
            problems.append("config: unknown key '%s' ignored (known: %s)" % (k, ", ".join(KNOWN_KEYS)))
    schema = data.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        problems.append("config: schema %r is not %d; reading what still fits" % (schema, SCHEMA_VERSION))
    pal = data.get("palettes", {})
    if isinstance(pal, dict):
        for name in pal:
            try:
                palettes.add(name, pal[name])
            except ValueError as e:
                problems.append("config.palettes.%s: %s" % (name, e))
    else:
        problems.append("config.palettes: expected an object of name: stops")
    ps = data.get("params", {})
    if isinstance(ps, dict):
        good = {}
        for name in ps:  # each value on its own first: a bad one is skipped, the rest apply
            err = params.check(name, ps[name])
            if err:
                problems.append("config.params: " + err)
            else:
                good[name] = ps[name]
        err = params.update(good)  # then together, so pairs like bass_lo/bass_hi move as one
        if err:
            problems.append("config.params: " + err + "; parameters left at their defaults")
    else:
        problems.append("config.params: expected an object of name: value")
    pn = data.get("panels", {})
    if isinstance(pn, dict):
        for name in pn:
            err = set_panel(panel_settings, palettes, name, pn[name])
            if err:
                problems.append("config.panels." + err)
    else:
        problems.append("config.panels: expected an object of panel name: settings")
    return problems


def set_panel(panel_settings, palettes, name, settings):
    # Validate and apply {"mode": ..., "palette": ...} to one panel; returns None or the error.
    if name not in panel_settings:
        return "%s: no such panel (panels: %s)" % (name, ", ".join(panel_settings.keys()))
    if not isinstance(settings, dict):
        return "%s: expected {\"mode\": ..., \"palette\": ...}" % name
    mode = settings.get("mode", panel_settings[name]["mode"])
    palette = settings.get("palette", panel_settings[name]["palette"])
    if not isinstance(mode, str) or mode_index(mode) < 0:
        return "%s.mode: '%s' is not a mode; use one of %s" % (name, mode, ", ".join(MODES))
    if not isinstance(palette, str) or not palettes.has(palette):
        return "%s.palette: '%s' is not a palette; use one of %s" % (name, palette, ", ".join(palettes.names()))
    panel_settings[name]["mode"] = mode
    panel_settings[name]["palette"] = palette
    return None
