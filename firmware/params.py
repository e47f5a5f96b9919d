# The one parameter schema: every tunable number of the engine, with its range, unit and help.
# It serves the garment's validation, the host's `tune`/`set` commands and replay alike.
from array import array

# (name, default, min, max, unit, help) -- all integers, so the per-frame path stays integer
SCHEMA = (
    ("brightness", 160, 0, 255, "", "global brightness; the board's max_brightness caps it"),
    ("gamma", 22, 10, 30, "x0.1", "LED gamma correction (22 = 2.2)"),
    ("bass_lo", 40, 20, 200, "Hz", "lower edge of the bass band"),
    ("bass_hi", 160, 60, 400, "Hz", "upper edge of the bass band"),
    ("gate", 6, 0, 30, "dB", "how far a band must rise above its noise floor to light"),
    ("floor_rise", 3, 1, 30, "dB/s", "how fast the noise floor climbs onto a steady sound (hum, hiss)"),
    ("agc_hold", 600, 0, 5000, "ms", "how long the gain holds after a peak before it recovers"),
    ("agc_release", 20, 1, 60, "dB/s", "how fast the gain recovers after the hold"),
    ("agc_range", 18, 6, 48, "dB", "how far under the recent peak a band fades to dark; quiet passages stay dim"),
    ("rise", 200, 1, 256, "/256", "attack of the smoothed features, per hop"),
    ("decay", 40, 1, 256, "/256", "release of the smoothed features, per hop"),
    ("sensitivity", 50, 0, 100, "%", "beat sensitivity: higher fires on softer kicks"),
    ("refractory", 120, 40, 1000, "ms", "shortest time between two beats"),
    ("voice_guard", 15, 0, 40, "dB", "dim while the bass sits this far under the mids, as in speech (0 = off)"),
    ("speed", 64, 0, 255, "", "animation speed of sweeps, ripples and sparkles"),
)

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
