# Named colour palettes as gradient stops, expanded into 256-entry RGB lookup tables.
# User palettes are the same data: a list of [position 0..255, r, g, b] stops (or "#rrggbb" strings).

# name -> stops ((pos, r, g, b), ...); positions ascend from 0 to 255
BUILTIN = {
    "rainbow": ((0, 255, 0, 0), (42, 255, 160, 0), (85, 255, 255, 0), (128, 0, 255, 0), (170, 0, 80, 255), (213, 140, 0, 255), (255, 255, 0, 0)),
    "fire": ((0, 0, 0, 0), (70, 160, 0, 0), (140, 255, 60, 0), (200, 255, 170, 0), (255, 255, 255, 120)),
    "ocean": ((0, 0, 0, 40), (80, 0, 40, 160), (160, 0, 160, 200), (220, 80, 230, 255), (255, 200, 255, 255)),
    "forest": ((0, 0, 30, 0), (90, 20, 120, 10), (170, 110, 200, 20), (255, 220, 255, 120)),
    "lava": ((0, 20, 0, 0), (96, 200, 10, 0), (160, 255, 90, 0), (210, 255, 0, 40), (255, 255, 200, 160)),
    "party": ((0, 90, 0, 255), (64, 255, 0, 120), (128, 255, 90, 0), (192, 255, 220, 0), (255, 90, 0, 255)),
    "sunset": ((0, 40, 0, 80), (80, 200, 0, 90), (150, 255, 80, 20), (210, 255, 170, 40), (255, 255, 230, 140)),
    "ice": ((0, 0, 10, 40), (100, 0, 90, 200), (180, 120, 200, 255), (255, 255, 255, 255)),
    "neon": ((0, 255, 0, 200), (85, 0, 255, 220), (170, 180, 255, 0), (255, 255, 0, 200)),
    "pastel": ((0, 255, 170, 190), (64, 255, 230, 150), (128, 170, 255, 190), (192, 160, 200, 255), (255, 255, 170, 190)),
    "candy": ((0, 255, 40, 120), (128, 255, 255, 255), (255, 40, 200, 255)),
    "aurora": ((0, 0, 40, 20), (70, 0, 220, 120), (140, 40, 120, 255), (210, 200, 40, 220), (255, 0, 255, 160)),
    "white": ((0, 255, 255, 255), (255, 255, 255, 255)),
    "warm_white": ((0, 255, 160, 60), (255, 255, 200, 120)),
}


def parse_stops(stops):
    # Validate user stops; returns a tuple of (pos, r, g, b) or raises ValueError saying what is wrong.
    if not isinstance(stops, (list, tuple)) or len(stops) < 2 or len(stops) > 16:
        raise ValueError("a palette is a list of 2 to 16 stops")
    out = []
    last = -1
    for i in range(len(stops)):
        s = stops[i]
        if isinstance(s, str):
            if len(s) != 7 or s[0] != "#":
                raise ValueError("stop %d: colour strings look like #ff8800" % i)
            try:
                c = int(s[1:], 16)
            except ValueError:
                raise ValueError("stop %d: %s is not a hex colour" % (i, s))
            pos = (i * 255) // (len(stops) - 1)
            s = (pos, c >> 16, (c >> 8) & 255, c & 255)
        if not isinstance(s, (list, tuple)) or len(s) != 4:
            raise ValueError("stop %d: expected [position, r, g, b]" % i)
        for v in s:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 255:
                raise ValueError("stop %d: position and colour values are integers 0..255" % i)
        if s[0] <= last:
            raise ValueError("stop %d: positions must ascend" % i)
        last = s[0]
        out.append((s[0], s[1], s[2], s[3]))
    return tuple(out)


def build_lut(stops, lut=None):
    # 256 RGB entries (bytearray of 768) interpolated linearly between the stops.
    if lut is None:
        lut = bytearray(768)
    first = stops[0]
    last = stops[-1]
    for x in range(256):
        if x <= first[0]:
            c = first
            lut[3 * x] = c[1]
            lut[3 * x + 1] = c[2]
            lut[3 * x + 2] = c[3]
            continue
        if x >= last[0]:
            c = last
            lut[3 * x] = c[1]
            lut[3 * x + 1] = c[2]
            lut[3 * x + 2] = c[3]
            continue
        j = 1
        while stops[j][0] < x:
            j += 1
        a = stops[j - 1]
        b = stops[j]
        span = b[0] - a[0]
        t = x - a[0]
        for ch in range(3):
            lut[3 * x + ch] = a[ch + 1] + ((b[ch + 1] - a[ch + 1]) * t + (span >> 1)) // span
    return lut


class Palettes:
    # Built-in and user palettes by name, each expanded once into a 768-byte table.
    def __init__(self):
        self.user = {}
        self._luts = {}

    def names(self):
        out = list(BUILTIN.keys())
        for k in self.user:
            if k not in BUILTIN:
                out.append(k)
        return out

    def has(self, name):
        return name in self.user or name in BUILTIN

    def add(self, name, stops):
        # Add or replace a user palette; raises ValueError on bad stops or name.
        if not isinstance(name, str) or not name or len(name) > 24:
            raise ValueError("palette names are 1..24 characters")
        st = parse_stops(stops)
        self.user[name] = st
        if name in self._luts:
            build_lut(st, self._luts[name])

    def remove(self, name):
        # Forget a user palette and its table (built-ins stay).
        self.user.pop(name, None)
        self._luts.pop(name, None)

    def lut(self, name):
        t = self._luts.get(name)
        if t is None:
            st = self.user.get(name) or BUILTIN.get(name)
            if st is None:
                raise ValueError("unknown palette '%s'" % name)
            t = build_lut(st)
            self._luts[name] = t
        return t
