# Named colour palettes as gradient stops, expanded into 256-entry RGB lookup tables.
# User palettes are the same data: a list of [position 0..255, r, g, b] stops (or "#rrggbb" strings).

# name -> stops as text, "position:rrggbb" each (positions 0..255, ascending). Text, not tuples of
# tuples: a loaded .mpy builds constant tuples in the heap, while a string stays in the image when
# the .mpy runs from ROMFS (the module: 3.5 -> 1.4 KB there, 5.3 -> 4.3 KB from the filesystem,
# measured on the 32-bit unix port). builtin_stops() parses one.
BUILTIN = {
    "rainbow": "0:ff0000 42:ffa000 85:ffff00 128:00ff00 170:0050ff 213:8c00ff 255:ff0000",
    "fire": "0:000000 70:a00000 140:ff3c00 200:ffaa00 255:ffff78",
    "ocean": "0:000028 80:0028a0 160:00a0c8 220:50e6ff 255:c8ffff",
    "forest": "0:001e00 90:14780a 170:6ec814 255:dcff78",
    "lava": "0:140000 96:c80a00 160:ff5a00 210:ff0028 255:ffc8a0",
    "party": "0:5a00ff 64:ff0078 128:ff5a00 192:ffdc00 255:5a00ff",
    "sunset": "0:280050 80:c8005a 150:ff5014 210:ffaa28 255:ffe68c",
    "ice": "0:000a28 100:005ac8 180:78c8ff 255:ffffff",
    "neon": "0:ff00c8 85:00ffdc 170:b4ff00 255:ff00c8",
    "pastel": "0:ffaabe 64:ffe696 128:aaffbe 192:a0c8ff 255:ffaabe",
    "candy": "0:ff2878 128:ffffff 255:28c8ff",
    "aurora": "0:002814 70:00dc78 140:2878ff 210:c828dc 255:00ffa0",
    "white": "0:ffffff 255:ffffff",
    "warm_white": "0:ffa03c 255:ffc878",
}


def builtin_stops(name):
    # The stops of a built-in palette as a tuple of (pos, r, g, b); KeyError for an unknown name.
    out = []
    for tok in BUILTIN[name].split():
        c = int(tok[-6:], 16)
        out.append((int(tok[:-7]), c >> 16, (c >> 8) & 255, c & 255))
    return tuple(out)


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
    # Built-in and user palettes by name. A table (768 bytes) is built the first time a panel asks
    # for a palette and kept while panels may still hold it; unused palettes cost nothing.
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

    def prune(self, in_use):
        # Drop the tables of palettes no panel shows any more (live tuning switches palettes).
        for name in list(self._luts):
            if name not in in_use:
                del self._luts[name]

    def lut(self, name):
        t = self._luts.get(name)
        if t is None:
            st = self.user.get(name)
            if st is None:
                if name not in BUILTIN:
                    raise ValueError("unknown palette '%s'" % name)
                st = builtin_stops(name)
            t = build_lut(st)
            self._luts[name] = t
        return t
