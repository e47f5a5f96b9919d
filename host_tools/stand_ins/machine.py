# CPython stand-in for MicroPython's `machine` module: Pin, I2S (fed with test audio), WDT, reset and clock calls.
# Lets host tests run firmware/main.py and the adapters, and simulate DMA timing such as "two hops finished while busy".
#
# I2S model (after ports/esp32/machine_i2s.c): the "DMA" is a FIFO of raw left-slot int32 samples
# that tests fill with feed()/feed_raw(). Blocking readinto() takes from it at once (silence and
# `underruns` once it runs dry). After irq(handler), readinto(buf) only queues buf and returns;
# deliver(n) plays the background task: it fills the queued buffer, then calls handler(i2s) as the
# scheduler would (the handler may queue the next buffer), n times. Like the ESP32 port's
# depth-1 queue, a readinto while a request is already queued is silently dropped; it is
# counted in `lost_requests` so tests can prove the firmware never does it.
import struct
from collections import deque

# reset causes (MicroPython's ESP32 values)
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_freq = 240000000
_reset_cause = PWRON_RESET
_irq_state = 0


class ResetCalled(SystemExit):
    # Raised by reset()/soft_reset() so a test sees the firmware asked for a reboot.
    pass


def reset():
    raise ResetCalled("machine.reset()")


def soft_reset():
    raise ResetCalled("machine.soft_reset()")


def reset_cause():
    return _reset_cause


def set_reset_cause(cause):
    # Test hook: what reset_cause() reports.
    global _reset_cause
    _reset_cause = cause


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = hz
    return None


def unique_id():
    return b"\x24\x0a\xc4\x00\x7b\x42"


def idle():
    pass


def disable_irq():
    global _irq_state
    _irq_state += 1
    return _irq_state - 1


def enable_irq(state=0):
    global _irq_state
    _irq_state = state


def lightsleep(ms=None):
    pass


def deepsleep(ms=None):
    raise ResetCalled("machine.deepsleep()")


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None, **kw):
        if isinstance(id, bool) or not isinstance(id, int) or id < 0:
            raise ValueError("invalid pin")
        self.id = id
        self.mode = None
        self.pull = None
        self._value = 0
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None, **kw):
        if mode != -1:
            self.mode = mode
        if pull != -1:
            self.pull = pull
        if value is not None:
            self._value = 1 if value else 0

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = 1 if v else 0
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self._value = 1

    def off(self):
        self._value = 0

    def irq(self, handler=None, trigger=3, **kw):
        self.irq_handler = handler

    def __repr__(self):
        return "Pin(%d)" % self.id


class WDT:
    instances = []

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        WDT.instances.append(self)

    def feed(self):
        self.feeds += 1


def _wrap32(v):
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


def _clamp16(v):
    return -32768 if v < -32768 else 32767 if v > 32767 else v


def mic_word(sample, mic="inmp441", dc=0):
    # The raw 32-bit left slot a mic sends for one Q15 sample (plus dc, in Q15 units):
    # INMP441/ICS-43434 24-bit data at bits 31..8, SPH0645 18-bit data at bits 31..14.
    s = _clamp16(int(sample) + dc)
    if mic in ("inmp441", "ics43434"):
        return _wrap32((s << 8) << 8)
    if mic == "sph0645":
        return _wrap32((s << 2) << 14)
    raise ValueError("unknown mic %r" % (mic,))


class I2S:
    RX = 0
    TX = 1
    MONO = 0
    STEREO = 1

    instances = []  # every I2S made, newest last: how a test reaches the one main.py built
    feeder = None  # optional hook, called with each new I2S (e.g. lambda i2s: i2s.feed(pcm))

    def __init__(self, id, *, sck, ws, sd, mode, bits, format, rate, ibuf):
        if mode not in (I2S.RX, I2S.TX):
            raise ValueError("invalid mode")
        if bits not in (16, 32):
            raise ValueError("invalid bits")
        if format not in (I2S.MONO, I2S.STEREO):
            raise ValueError("invalid format")
        self.id = id
        self.sck = sck
        self.ws = ws
        self.sd = sd
        self.mode = mode
        self.bits = bits
        self.format = format
        self.rate = rate
        self.ibuf = ibuf
        self.handler = None
        self.queued = None  # the buffer of the outstanding non-blocking readinto
        self.dma = deque()  # raw left-slot int32 words not yet read
        self.lost_requests = 0
        self.underruns = 0
        self.completed = 0  # buffers filled (both modes)
        self.deinited = False
        I2S.instances.append(self)
        if I2S.feeder is not None:
            I2S.feeder(self)

    # --- test side -----------------------------------------------------------------------
    def feed(self, samples, mic="inmp441", dc=0):
        # Queue Q15 audio as the given mic would send it: an iterable of ints, or bytes of s16le.
        if isinstance(samples, (bytes, bytearray, memoryview)):
            b = bytes(samples)
            samples = struct.unpack("<%dh" % (len(b) // 2), b[: len(b) // 2 * 2])
        for s in samples:
            self.dma.append(mic_word(s, mic, dc))

    def feed_raw(self, words):
        # Queue raw 32-bit slot values as they come off the wire.
        for w in words:
            self.dma.append(_wrap32(int(w)))

    def pending(self):
        return self.queued is not None

    def deliver(self, n=1):
        # Non-blocking mode: complete up to n queued reads, calling the handler after each, as the
        # background task and the scheduler would. Returns how many completed (stops early when
        # nothing is queued: on the device the DMA ring would just keep recording).
        done = 0
        while done < n and self.queued is not None and not self.deinited:
            buf = self.queued
            self.queued = None
            self._fill(buf)
            done += 1
            if self.handler is not None:
                self.handler(self)
        return done

    # --- MicroPython API -----------------------------------------------------------------
    def init(self, **kw):
        raise NotImplementedError("I2S.init is not modelled; make a new I2S")

    def irq(self, handler):
        if handler is not None and not callable(handler):
            raise ValueError("invalid callback")
        self.handler = handler
        if handler is None:
            self.queued = None

    def _frame_size(self):
        return (self.bits // 8) * (2 if self.format == I2S.STEREO else 1)

    def _fill(self, buf):
        mv = memoryview(buf).cast("B")
        word = self.bits // 8
        step = self._frame_size()
        for off in range(0, len(mv) - step + 1, step):
            if self.dma:
                v = self.dma.popleft()
            else:
                v = 0
                self.underruns += 1
            if word == 4:
                struct.pack_into("<i", mv, off, v)
            else:
                struct.pack_into("<h", mv, off, v >> 16)
            if self.format == I2S.STEREO:
                struct.pack_into("<i" if word == 4 else "<h", mv, off + word, 0)  # right slot: silent
        self.completed += 1

    def readinto(self, buf):
        if self.deinited:
            raise OSError(9, "I2S deinitialised")
        if self.mode != I2S.RX:
            raise OSError(1, "EPERM")
        n = memoryview(buf).nbytes
        if n % self._frame_size():
            raise OSError(22, "EINVAL")
        if n == 0:
            return 0
        if self.handler is not None:
            if self.queued is not None:
                self.lost_requests += 1  # the ESP32 port's xQueueSend(..., 0) fails silently
            else:
                self.queued = buf
            return n
        self._fill(buf)
        return n

    def write(self, buf):
        raise OSError(1, "EPERM: the stand-in models RX only")

    def deinit(self):
        self.deinited = True
        self.queued = None
        self.handler = None

    @staticmethod
    def shift(*, buf, bits, shift):
        a = memoryview(buf).cast("B").cast("i" if bits == 32 else "h")
        for i in range(len(a)):
            v = a[i] << shift if shift >= 0 else a[i] >> -shift
            a[i] = _wrap32(v) if bits == 32 else ((v + 0x8000) & 0xFFFF) - 0x8000


def reset_stand_in():
    # Test isolation: forget instances, feeders and counters.
    global _freq, _reset_cause, _irq_state
    I2S.instances = []
    I2S.feeder = None
    WDT.instances = []
    _freq = 240000000
    _reset_cause = PWRON_RESET
    _irq_state = 0
