# CPython stand-in for MicroPython's `neopixel` module: same buffer layout (GRB order, .buf), records written frames.
# Lets host tests see exactly the bytes each strip would be sent and how long the blocking writes would take.
from collections import deque

MAX_FRAMES = 1000  # frames kept per strip (the newest)

total_write_us = 0  # simulated time spent in write() by all strips


class NeoPixel:
    # G R B W, as MicroPython's neopixel.py
    ORDER = (1, 0, 2, 3)

    instances = []  # every strip made, in order

    def __init__(self, pin, n, bpp=3, timing=1):
        self.pin = pin
        self.n = n
        self.bpp = bpp
        self.buf = bytearray(n * bpp)
        if hasattr(pin, "init"):
            pin.init(pin.OUT)
        # 1 = 800 kHz, 0 = 400 kHz, or a (high_0, low_0, high_1, low_1) ns tuple
        if isinstance(timing, int):
            self.timing = (400, 850, 800, 450) if timing else (800, 1700, 1600, 900)
        else:
            self.timing = tuple(timing)
        self.frames = deque(maxlen=MAX_FRAMES)
        self.writes = 0
        self.write_us = 0
        NeoPixel.instances.append(self)

    def __len__(self):
        return self.n

    def __setitem__(self, i, v):
        offset = i * self.bpp
        for k in range(self.bpp):
            self.buf[offset + self.ORDER[k]] = v[k]

    def __getitem__(self, i):
        offset = i * self.bpp
        return tuple(self.buf[offset + self.ORDER[k]] for k in range(self.bpp))

    def fill(self, v):
        for i in range(self.n):
            self[i] = v

    def bit_ns(self):
        # Average time per bit on the wire (1250 ns at 800 kHz).
        return (self.timing[0] + self.timing[1] + self.timing[2] + self.timing[3]) // 2

    def write(self):
        global total_write_us
        self.frames.append(bytes(self.buf))
        self.writes += 1
        us = len(self.buf) * 8 * self.bit_ns() // 1000
        self.write_us += us
        total_write_us += us


def reset_stand_in():
    global total_write_us
    NeoPixel.instances = []
    total_write_us = 0
