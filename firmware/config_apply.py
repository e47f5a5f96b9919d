# Applies a settings document at start-up (firmware/config.py's apply_config, which imports this
# module for the call and releases it afterwards on the garment: issue 3). Bad entries are skipped
# one by one with a message; everything valid still applies.
from firmware.config import SCHEMA_VERSION, set_panel

KNOWN_KEYS = ("schema", "params", "panels", "palettes")


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
