# MicroPython-side stand-in for `machine` on the WebAssembly VM REPL (tests/mpvm_repl.py): just enough
# Pin and I2S for `threadbeat doctor`'s microphone and LED checks to run their board code for real.
# The "microphone" plays what /mic_mode.txt names: tone (default), zeros, stuck or clip.
import math


class Pin:
    IN = 1
    OUT = 3

    def __init__(self, id, mode=-1, *a, **kw):
        self.id = id
        self.mode = mode

    def init(self, mode=-1, *a, **kw):
        self.mode = mode


class I2S:
    RX = 0
    MONO = 0

    def __init__(self, id, sck=None, ws=None, sd=None, mode=0, bits=32, format=0, rate=16000, ibuf=0):
        self.rate = rate
        self.t = 0
        try:
            self.kind = open("/mic_mode.txt").read().strip()
        except OSError:
            self.kind = "tone"

    def sample(self):
        self.t += 1
        if self.kind == "zeros":
            return 0
        if self.kind == "stuck":
            return 1234
        if self.kind == "clip":
            return 32767 if self.t % 2 else -32768
        return int(8000 * math.sin(2 * math.pi * 440 * self.t / self.rate))

    def readinto(self, buf):
        # buf: int16 array, two per 32-bit frame (little-endian: low half, then the sample)
        for j in range(1, len(buf), 2):
            buf[j - 1] = 0
            buf[j] = self.sample()
        return 2 * len(buf)

    def deinit(self):
        pass
