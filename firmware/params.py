# The one parameter schema: every tunable number of the engine, with its range and unit (help:
# firmware/params_help.py). It serves the garment's validation, the host's `tune`/`set` commands
# and replay alike. A new parameter: its 5-tuple here, its help text there.
import sys
from array import array

# (name, default, min, max, unit) -- all integers, so the per-frame path stays integer. The help
# texts are in firmware/params_help.py: on the desk SCHEMA entries get them as a sixth field
# (name, default, min, max, unit, help); the garment carries none (its heap, issue 3).
SCHEMA = (
    ("brightness", 160, 0, 255, ""),
    ("gamma", 22, 10, 30, "x0.1"),
    ("bass_lo", 40, 20, 200, "Hz"),
    ("bass_hi", 160, 60, 400, "Hz"),
    ("gate", 6, 0, 30, "dB"),
    ("floor_rise", 3, 1, 30, "dB/s"),
    ("agc_hold", 600, 0, 5000, "ms"),
    ("agc_release", 20, 1, 60, "dB/s"),
    ("agc_range", 18, 6, 48, "dB"),
    ("rise", 200, 1, 256, "/256"),
    ("decay", 40, 1, 256, "/256"),
    ("sensitivity", 50, 0, 100, "%"),
    ("refractory", 120, 40, 1000, "ms"),
    ("voice_guard", 15, 0, 40, "dB"),
    ("speed", 64, 0, 255, ""),
)

if sys.implementation.name != "micropython":  # the desk: `threadbeat params`, tune
    from firmware.params_help import HELP

    SCHEMA = tuple(p if len(p) > 5 else p + (HELP.get(p[0], ""),) for p in SCHEMA)

NAMES = tuple(p[0] for p in SCHEMA)


def index(name):
    # Position of a parameter in the schema, or -1.
    for i in range(len(SCHEMA)):
        if SCHEMA[i][0] == name:
            return i
    return -1


class Params:
    # Current parameter values (array('h') in schema order) with validated updates.
    def __init__(self):
        self.values = array("h", [p[1] for p in SCHEMA])
        self.version = 0  # bumped on every change, so consumers re-derive their constants

    def get(self, name):
        i = index(name)
        if i < 0:
            raise KeyError(name)
        return self.values[i]

    def check(self, name, value):
        # None if `value` is acceptable for `name` on its own, else a message saying what fits.
        i = index(name)
        if i < 0:
            return "unknown parameter '%s'; known: %s" % (name, ", ".join(NAMES))
        p = SCHEMA[i]
        if isinstance(value, bool) or not isinstance(value, int):
            return "%s must be an integer (%s), got %r" % (name, p[4] or "no unit", value)
        if value < p[2] or value > p[3]:
            return "%s must be between %d and %d%s, got %d" % (name, p[2], p[3], " " + p[4] if p[4] else "", value)
        return None

    def _cross_error(self, values):
        lo = values[index("bass_lo")]
        hi = values[index("bass_hi")]
        if lo >= hi:
            return "bass_lo (%d Hz) must be below bass_hi (%d Hz)" % (lo, hi)
        return None

    def set(self, name, value):
        # Validate and apply one value; returns None or the error message (nothing changes on error).
        return self.update({name: value})

    def update(self, d):
        # Apply a dict of values all-or-nothing; returns None or the first error.
        for k in d:
            err = self.check(k, d[k])
            if err:
                return err
        new = array("h", self.values)
        for k in d:
            new[index(k)] = d[k]
        err = self._cross_error(new)
        if err:
            return err
        self.values = new
        self.version += 1
        return None

    def as_dict(self):
        d = {}
        for i in range(len(SCHEMA)):
            d[SCHEMA[i][0]] = self.values[i]
        return d
