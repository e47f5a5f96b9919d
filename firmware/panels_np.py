# LED sink for real strips: one neopixel.NeoPixel per profile panel, whose .buf the engine fills.
# The machine and neopixel modules are passed in, so the core never imports hardware and tests use stand-ins.


class NeoPixelPanels:
    def __init__(self, neopixel_module, machine_module, panels):
        # panels: the validated profile's panel list (pin, count, bpp, name, ... per panel).
        Pin = machine_module.Pin
        NeoPixel = neopixel_module.NeoPixel
        self.strips = []
        self.pins = []
        for i in range(len(panels)):
            p = panels[i]
            pin = p["pin"]
            if pin is None:
                raise ValueError(
                    "panels[%d] (%s): no data pin; give the GPIO in the profile, or use the record sink"
                    % (i, p["name"])
                )
            self.strips.append(NeoPixel(Pin(pin, Pin.OUT), p["count"], bpp=p["bpp"]))
            self.pins.append(pin)
        self.n = len(self.strips)
        self.frames = 0

    def buffers(self):
        # Each strip's own .buf (count * bpp bytes in the strip's colour order): the engine
        # writes into these, so show() sends them with no copy.
        return [s.buf for s in self.strips]

    def show(self):
        strips = self.strips
        for i in range(self.n):  # index loop: no iterator object per frame
            strips[i].write()
        self.frames += 1

    def blank(self):
        # All pixels off (boot, safe mode, shutdown).
        strips = self.strips
        for i in range(self.n):
            b = strips[i].buf
            for j in range(len(b)):
                b[j] = 0
            strips[i].write()

    def close(self):
        self.blank()
