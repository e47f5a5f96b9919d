# The colour mapper: features in, an RGB colour for every pixel of the garment out.
# Each panel has its own mode and palette; modes read only the Features record and the clock.
from array import array
from firmware.compat import const

try:  # viper twins of the per-pixel loops where MicroPython has a native emitter: same bytes
    from firmware import mapper_viper as _viper
except (ImportError, SyntaxError, ValueError):  # CPython, the WebAssembly VM (no viper), .mpy of another arch
    _viper = None  # type: ignore[assignment]

MODES = ("pulse", "sweep", "spectrum", "ripple", "vu", "sparkle", "solid", "breathe", "off")
_PULSE = const(0)
_SWEEP = const(1)
_SPECTRUM = const(2)
_RIPPLE = const(3)
_VU = const(4)
_SPARKLE = const(5)
_SOLID = const(6)
_BREATHE = const(7)
_OFF = const(8)

_FLASH_MS = const(180)  # a beat flash fades over this long
_RIPPLE_MS = const(900)  # a ripple lives this long
_RIPPLE_WIDTH = const(70)  # mm, the width of a ripple's ring
_N_RIPPLES = const(4)
_PEAK_FALL_MS = const(1500)  # the VU peak dot falls the whole panel in this long


def isqrt(v):
    # Integer square root (start-up use).
    if v <= 0:
        return 0
    x = v
    y = (x + 1) >> 1
    while y < x:
        x = y
        y = (x + v // x) >> 1
    return x


def mode_index(name):
    for i in range(len(MODES)):
        if MODES[i] == name:
            return i
    return -1


class PanelMap:
    # Per-panel mapping state: where its pixels sit and what it shows.
    def __init__(self, first, count, positions, origin):
        self.first = first
        self.count = count
        self.mode = _PULSE
        self.lut = None
        self.palette = ""
        pos = bytearray(count)  # 0..255 along the panel
        for i in range(count):
            pos[i] = (i * 256) // count
        self.pos = pos
        dist = array("H", [0] * count)  # mm from the ripple origin
        for i in range(count):
            dx = positions[2 * (first + i)] - origin[0]
            dy = positions[2 * (first + i) + 1] - origin[1]
            d = isqrt(dx * dx + dy * dy)
            dist[i] = 65535 if d > 65535 else d
        self.dist = dist
        self.level = bytearray(count)  # sparkle brightness per pixel
        self.hue = bytearray(count)  # sparkle palette index per pixel
        self.phase = 0  # sweep position, Q8
        self.peak = 0  # VU peak, Q8 pixels
        self.acc = 0  # sparkle spawn accumulator


class Mapper:
    def __init__(self, total, positions, params, origin=(0, 0)):
        # origin: where ripples start, in mm (the engine passes the garment's centre)
        self.total = total
        self.rgb = bytearray(3 * total)
        self.params = params
        self.positions = positions
        self.origin = origin
        self.panels = []
        self.ripple_ms = array("i", [-100000] * _N_RIPPLES)
        self.ripple_hue = bytearray(_N_RIPPLES)
        self.rings = array("i", [0] * (3 * _N_RIPPLES))  # the live rings for the ripple kernel
        self.next_ripple = 0
        self.last_beat = 0
        self.last_ms = 0
        self.seed = 0xACE1
        self.idle = False  # True while the microphone is faulty: every panel breathes instead

    def add_panel(self, first, count, lut, mode="pulse", palette=""):
        pm = PanelMap(first, count, self.positions, self.origin)
        pm.lut = lut
        pm.palette = palette
        m = mode_index(mode)
        if m < 0:
            raise ValueError("unknown mode '%s'; use one of %s" % (mode, ", ".join(MODES)))
        pm.mode = m
        self.panels.append(pm)
        return pm

    def rand(self):
        # 16-bit xorshift: small ints everywhere, same sequence on every platform.
        x = self.seed
        x ^= (x << 7) & 0xFFFF
        x ^= x >> 9
        x ^= (x << 8) & 0xFFFF
        self.seed = x
        return x

    def render(self, f, now_ms):
        dt = now_ms - self.last_ms
        if dt < 0 or dt > 250:
            dt = 0
        self.last_ms = now_ms
        if f.beat_count != self.last_beat:  # a new beat since the last frame: launch a ripple
            self.last_beat = f.beat_count
            i = self.next_ripple
            self.ripple_ms[i] = f.beat_ms
            self.ripple_hue[i] = (f.beat_count * 37) & 255
            self.next_ripple = (i + 1) % _N_RIPPLES
        speed = self.params.get("speed")
        for pm in self.panels:
            m = _BREATHE if self.idle else pm.mode
            if m == _PULSE:
                self._pulse(pm, f, now_ms)
            elif m == _SWEEP:
                self._sweep(pm, f, dt, speed)
            elif m == _SPECTRUM:
                self._spectrum(pm, f)
            elif m == _RIPPLE:
                self._ripple(pm, now_ms, speed)
            elif m == _VU:
                self._vu(pm, f, dt)
            elif m == _SPARKLE:
                self._sparkle(pm, f, dt, speed)
            elif m == _SOLID:
                self._solid(pm)
            elif m == _BREATHE:
                self._breathe(pm, now_ms, speed)
            else:
                self._fill(pm, 0, 0)
        return self.rgb

    def _fill(self, pm, ci, v):
        # Every pixel of the panel in palette colour ci at brightness v.
        lut = pm.lut
        if _viper is not None:
            _viper.fill(self.rgb, lut, pm.first, pm.count, ci, v)
            return
        r = (lut[3 * ci] * v) >> 8
        g = (lut[3 * ci + 1] * v) >> 8
        b = (lut[3 * ci + 2] * v) >> 8
        rgb = self.rgb
        o = 3 * pm.first
        for _ in range(pm.count):
            rgb[o] = r
            rgb[o + 1] = g
            rgb[o + 2] = b
            o += 3

    def _put(self, o, lut, ci, v):
        rgb = self.rgb
        rgb[o] = (lut[3 * ci] * v) >> 8
        rgb[o + 1] = (lut[3 * ci + 1] * v) >> 8
        rgb[o + 2] = (lut[3 * ci + 2] * v) >> 8

    def _pulse(self, pm, f, now):
        # The whole panel breathes with the bass; a beat flashes it and steps the colour on.
        v = f.bass
        age = now - f.beat_ms
        if 0 <= age < _FLASH_MS:
            fl = 255 - (age * 255) // _FLASH_MS
            if fl > v:
                v = fl
        # colours from the middle of the palette: many palettes start or end near black
        self._fill(pm, 64 + ((f.beat_count * 24) & 127), v + 1)

    def _sweep(self, pm, f, dt, speed):
        # The palette scrolls along the panel, pushed forward by the bass.
        pm.phase = (pm.phase + ((f.bass + 16) * speed * dt >> 8)) & 0xFFFF
        shift = pm.phase >> 8
        v = 48 + ((f.level * 208) >> 8)
        if _viper is not None:
            _viper.ramp(self.rgb, pm.lut, pm.pos, pm.first, pm.count, shift, v)
            return
        pos = pm.pos
        lut = pm.lut
        o = 3 * pm.first
        for i in range(pm.count):
            self._put(o, lut, (pos[i] + shift) & 255, v)
            o += 3

    def _spectrum(self, pm, f):
        # The 16 bands laid along the panel, low to high, each in its palette colour.
        if _viper is not None:
            _viper.spectrum(self.rgb, pm.lut, pm.pos, f.bands, pm.first, pm.count)
            return
        pos = pm.pos
        bands = f.bands
        lut = pm.lut
        o = 3 * pm.first
        for i in range(pm.count):
            p = pos[i]
            self._put(o, lut, p, bands[p >> 4] + 1)
            o += 3

    def _ripple(self, pm, now, speed):
        # Rings spread from the origin on every beat and fade as they grow.
        mm_per_s = 200 + speed * 6
        if _viper is not None:  # the live rings here (4 a hop), the pixels in the kernel
            rings = self.rings
            nr = 0
            for k in range(_N_RIPPLES):
                age = now - self.ripple_ms[k]
                if 0 <= age < _RIPPLE_MS:
                    rings[3 * nr] = (age * mm_per_s) // 1000
                    rings[3 * nr + 1] = _RIPPLE_MS - age
                    rings[3 * nr + 2] = self.ripple_hue[k]
                    nr += 1
            _viper.ripple(self.rgb, pm.lut, pm.dist, pm.first, pm.count, rings, nr)
            return
        dist = pm.dist
        lut = pm.lut
        rgb = self.rgb
        o = 3 * pm.first
        for i in range(pm.count):
            d = dist[i]
            best = 0
            hue = 0
            for k in range(_N_RIPPLES):
                age = now - self.ripple_ms[k]
                if age < 0 or age >= _RIPPLE_MS:
                    continue
                r = (age * mm_per_s) // 1000
                e = d - r
                if e < 0:
                    e = 0 - e
                if e < _RIPPLE_WIDTH:
                    v = ((_RIPPLE_WIDTH - e) * 255 // _RIPPLE_WIDTH) * (_RIPPLE_MS - age) // _RIPPLE_MS
                    if v > best:
                        best = v
                        hue = self.ripple_hue[k]
            if best:
                self._put(o, lut, (hue + (d >> 2)) & 255, best)
            else:
                rgb[o] = 0
                rgb[o + 1] = 0
                rgb[o + 2] = 0
            o += 3

    def _vu(self, pm, f, dt):
        # A level meter along the panel with a falling peak dot.
        n = pm.count
        lit = f.level * n  # Q8 pixels
        if lit >= pm.peak:
            pm.peak = lit
        else:
            pm.peak -= (dt * n * 256) // _PEAK_FALL_MS
            if pm.peak < 0:
                pm.peak = 0
        top = pm.peak >> 8
        if _viper is not None:
            _viper.vu(self.rgb, pm.lut, pm.pos, pm.first, n, lit, top)
            return
        pos = pm.pos
        lut = pm.lut
        o = 3 * pm.first
        for i in range(n):
            x = i << 8
            if x + 256 <= lit:
                v = 256
            elif x < lit:
                v = lit - x
            elif i == top and top > 0:
                v = 200
            else:
                v = 0
            self._put(o, lut, pos[i], v)
            o += 3

    def _sparkle(self, pm, f, dt, speed):
        # Pixels flash at random on the highs (hi-hats, cymbals) and fade.
        n = pm.count
        lvl = pm.level
        hue = pm.hue
        fade = (dt * (speed + 32)) >> 5
        if _viper is not None:
            _viper.fade(lvl, n, fade)
        else:
            for i in range(n):
                v = lvl[i] - fade
                lvl[i] = v if v > 0 else 0
        pm.acc += f.treble * n * dt
        while pm.acc >= 24000:
            pm.acc -= 24000
            i = self.rand() % n
            lvl[i] = 255
            hue[i] = self.rand() & 255
        if pm.acc > 96000:
            pm.acc = 0
        lut = pm.lut
        if _viper is not None:
            _viper.paint(self.rgb, lut, hue, lvl, pm.first, n)
            return
        o = 3 * pm.first
        for i in range(n):
            self._put(o, lut, hue[i], lvl[i])
            o += 3

    def _solid(self, pm):
        # The palette laid along the panel, steady: for fittings and calm moments.
        if _viper is not None:
            _viper.ramp(self.rgb, pm.lut, pm.pos, pm.first, pm.count, 0, 256)
            return
        pos = pm.pos
        lut = pm.lut
        o = 3 * pm.first
        for i in range(pm.count):
            self._put(o, lut, pos[i], 256)
            o += 3

    def _breathe(self, pm, now, speed):
        # A slow triangle-wave glow: the idle animation (also shown when the microphone is dead).
        period = 4000 - speed * 10
        t = now % period
        half = period >> 1
        v = (t * 200) // half if t < half else ((period - t) * 200) // half
        self._fill(pm, (now // 64) & 255, 16 + v)

