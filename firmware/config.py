# User settings (parameters, per-panel mode and palette, user palettes) from a parsed JSON dict.
# Bad entries are skipped one by one with a message; everything valid still applies.
from firmware.mapper import mode_index, MODES

SCHEMA_VERSION = 1


def defaults_from_profile(profile):
    # The settings a fresh garment starts with: every panel's default mode and palette.
    panels = {}
    for p in profile["panels"]:
        panels[p["name"]] = {"mode": p.get("mode") or "pulse", "palette": p.get("palette") or "rainbow"}
    return {"schema": SCHEMA_VERSION, "params": {}, "panels": panels, "palettes": {}}


def apply_config(data, params, palettes, panel_settings):
    # Apply `data` onto params (Params), palettes (Palettes) and panel_settings
    # ({panel name: {"mode", "palette"}}, changed in place). Returns a list of problems found.
    # The work is in firmware/config_apply.py, loaded for the call (start-up) and released after.
    from firmware import config_apply
    from firmware.store import release

    try:
        return config_apply.apply_config(data, params, palettes, panel_settings)
    finally:
        release("firmware.config_apply", "config_apply")


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
