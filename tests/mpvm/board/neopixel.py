# MicroPython-side stand-in for `neopixel` on the WebAssembly VM REPL: records each strip's writes in
# /led_log.txt ("pin count max-byte" per write) so a test can see every panel was lit and then cleared.
class NeoPixel:
    def __init__(self, pin, n, bpp=3, timing=1):
        self.pin = pin
        self.n = n
        self.bpp = bpp
        self.buf = bytearray(n * bpp)

    def write(self):
        with open("/led_log.txt", "a") as f:
            f.write("%d %d %d\n" % (self.pin.id, self.n, max(self.buf) if self.buf else 0))
