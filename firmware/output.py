# From the mapper's RGB colours to the bytes each NeoPixel panel is sent: gamma, brightness,
# colour order (RGB/GRB/…, RGBW with white extraction) and a current limiter for battery garments.
from firmware.compat import const
from firmware.fixmath import gamma_table

try:  # viper twins of the per-pixel loops where MicroPython has a native emitter: same bytes
    from firmware import output_viper as _viper
except (ImportError, SyntaxError, ValueError):  # CPython, the WebAssembly VM (no viper), .mpy of another arch
    _viper = None  # type: ignore[assignment]

_MAX_BUDGET_MA = const(16000)  # keeps (budget * 255) << 8 below 2**30

# byte offset of R, G, B inside a pixel for each order (W, when present, is always last)
ORDERS = {
    "RGB": (0, 1, 2), "RBG": (0, 2, 1), "GRB": (1, 0, 2), "GBR": (2, 0, 1),
    "BRG": (1, 2, 0), "BGR": (2, 1, 0), "RGBW": (0, 1, 2), "GRBW": (1, 0, 2),
}


class PanelOut:
    def __init__(self, first, count, order, buf=None):
        if order not in ORDERS:
            raise ValueError("unknown colour order '%s'" % order)
        self.first = first
        self.count = count
        self.rgbw = len(order) == 4
        self.bpp = 4 if self.rgbw else 3
        o = ORDERS[order]
        self.ro = o[0]
        self.go = o[1]
        self.bo = o[2]
        # the bytes sent to the strip; a NeoPixel object's own .buf can be handed in
        self.buf = buf if buf is not None else bytearray(self.bpp * count)


class Output:
    def __init__(self, power, params):
        # power: the profile's power section (budget_ma, ma_per_channel, idle_ma_per_pixel, max_brightness)
        self.params = params
        self.budget = power["budget_ma"] if power["budget_ma"] < _MAX_BUDGET_MA else _MAX_BUDGET_MA
        self.ma_per_channel = power["ma_per_channel"]
        self.idle_ma = power["idle_ma_per_pixel"]
        self.cap = power["max_brightness"]
        self.panels = []
        self.total = 0
        self.lut = bytearray(256)
        self._gamma = bytearray(256)
        self._g = -1  # the gamma and brightness the table was built for
        self._b = -1
        self.est_ma = 0  # estimated draw of the last frame, after limiting
        self.limited = 0  # 1 if the limiter scaled the last frame down
        self.configure()

    def add_panel(self, first, count, order, buf=None):
        p = PanelOut(first, count, order, buf)
        self.panels.append(p)
        self.total += count
        return p

    def brightness(self):
        b = self.params.get("brightness")
        return b if b < self.cap else self.cap

    def configure(self):
        # Rebuild the gamma x brightness table when either changed.
        g = self.params.get("gamma")
        b = self.brightness()
        if g == self._g and b == self._b:
            return
        if g != self._g:
            gamma_table(g, self._gamma)
        self._g = g
        self._b = b
        gt = self._gamma
        lut = self.lut
        for x in range(256):
            lut[x] = (gt[x] * b + 127) // 255

    def show(self, rgb):
        # Fill every panel's buffer from the garment-wide RGB frame; returns the estimated mA.
        self.configure()
        lut = self.lut
        total = 0
        for p in self.panels:
            if _viper is not None:
                total += _viper.show(rgb, lut, p.buf, p.first, p.count, p.ro, p.go, p.bo, p.bpp)
                continue
            buf = p.buf
            src = 3 * p.first
            dst = 0
            bpp = p.bpp
            ro = p.ro
            go = p.go
            bo = p.bo
            w4 = p.rgbw
            for _ in range(p.count):
                r = lut[rgb[src]]
                g = lut[rgb[src + 1]]
                b = lut[rgb[src + 2]]
                if w4:
                    w = r if r < g else g
                    if b < w:
                        w = b
                    r -= w
                    g -= w
                    b -= w
                    buf[dst + 3] = w
                    total += w
                buf[dst + ro] = r
                buf[dst + go] = g
                buf[dst + bo] = b
                total += r + g + b
                src += 3
                dst += bpp
        return self.limit(total)

    def limit(self, total):
        # Scale every panel down so the estimated draw fits the budget. The estimate is
        # channel_sum * ma_per_channel / 255 + idle; flooring the scaled bytes can only lower it.
        idle = self.idle_ma * self.total
        need = total * self.ma_per_channel  # < 2048 px * 4 * 255 * 60 < 2**30
        avail = self.budget - idle
        if avail < 0:
            avail = 0
        self.limited = 0
        if need <= avail * 255:
            self.est_ma = need // 255 + idle
            return self.est_ma
        s = ((avail * 255) << 8) // need  # Q8 scale, < 256
        self.limited = 1
        total = 0
        for p in self.panels:
            buf = p.buf
            if _viper is not None:
                total += _viper.scale(buf, len(buf), s)
                continue
            for i in range(len(buf)):
                v = (buf[i] * s) >> 8
                buf[i] = v
                total += v
        self.est_ma = (total * self.ma_per_channel) // 255 + idle
        return self.est_ma
