# Audio source for an I2S MEMS microphone (INMP441, ICS-43434, SPH0645) on machine.I2S: hops of Q15 samples.
# Non-blocking so the LED loop never stalls on audio, and always hands out the newest hop (stale ones are dropped and counted).
#
# The I2S object is read with bits=32, format=MONO: every sample is the left 32-bit slot,
# little-endian, data MSB-aligned. Q15 is the top 16 bits of that slot (raw32 >> 16) for all
# three microphones:
# - INMP441 / ICS-43434: 24-bit data in bits 31..8, so >> 16 keeps its 16 most significant bits.
# - SPH0645: 18-bit data in bits 31..14. The usual ">> 14" recipe gives the 18-bit integer
#   (+-131072), i.e. Q17; Q15 is two bits further, >> 16 again. The two dropped bits are far below
#   the mic's noise floor. Its large DC offset is left in: the engine's DC tracker removes it, and
#   no sample can wrap because >> 16 of any int32 fits int16.
# The raw buffers are array('h') of 2*hop halves, so "raw32 >> 16" is just the odd half of each
# sample: no int32 values (which exceed the ESP32's 31-bit small ints) are ever made.
#
# Non-blocking design (MicroPython's ESP32 port; see ports/esp32/machine_i2s.c): once irq(handler)
# is set, readinto(buf) only queues buf for a background task that fills it from DMA and then
# *schedules* handler(i2s) (it runs in the VM, between bytecodes, like micropython.schedule).
# That queue holds ONE request and readinto drops extra requests silently, so exactly one
# readinto is outstanding at any time: the handler re-arms the next buffer itself. Three raw
# buffers rotate: one being filled, the newest completed one, and the one read_hop is converting;
# the handler never re-arms the buffer being converted, and a completed buffer that nobody
# claimed before the next one completed is simply overwritten (counted in `dropped`).
# While nothing is queued the DMA ring (ibuf) keeps recording, so no audio is lost in between.
from array import array

from firmware.compat import const

try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython (host tests): same 30-bit wrapping millisecond clock
    from time import monotonic as _monotonic

    def ticks_ms():
        return int(_monotonic() * 1000) & 0x3FFFFFFF

    def ticks_diff(a, b):
        return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000


MICS = ("inmp441", "ics43434", "sph0645")
_NBUF = const(3)
_SEQ_MASK = const(0x3FFFFFFF)
_DMA_BYTES_PER_SAMPLE = const(8)  # the driver always DMAs 32-bit stereo frames
_DMA_BUF_BYTES = const(2048)  # MicroPython's ESP32 DMA buffers are 256 frames of 8 bytes
_IBUF_HOPS = const(4)
STALL_MS = const(500)  # no completed hop for this long while being polled: re-arm the read


def ibuf_bytes(hop):
    # DMA memory for about _IBUF_HOPS hops, rounded up to whole DMA buffers, at least two
    # (ESP-IDF needs two). 128-sample hops: 4096 bytes = 512 samples = 32 ms at 16 kHz.
    need = _DMA_BYTES_PER_SAMPLE * hop * _IBUF_HOPS
    n = (need + _DMA_BUF_BYTES - 1) // _DMA_BUF_BYTES
    if n < 2:
        n = 2
    return n * _DMA_BUF_BYTES


def make_i2s(machine_module, source_cfg, rate, hop):
    # Build the RX I2S object for a validated profile's i2s source section.
    I2S = machine_module.I2S
    Pin = machine_module.Pin
    for key in ("sck", "ws", "sd"):
        if source_cfg.get(key) is None:
            raise ValueError("source.%s: no GPIO given; the I2S microphone needs sck, ws and sd pins" % key)
    return I2S(
        source_cfg.get("i2s_id", 0),
        sck=Pin(source_cfg["sck"]),
        ws=Pin(source_cfg["ws"]),
        sd=Pin(source_cfg["sd"]),
        mode=I2S.RX,
        bits=32,
        format=I2S.MONO,
        rate=rate,
        ibuf=ibuf_bytes(hop),
    )


class I2SMic:
    # read_hop(dst) -> 1 (dst holds a new hop), 0 (none ready yet; never waits), -1 (never: a
    # mic does not end). `dropped`: completed hops overwritten before read_hop claimed them.

    def __init__(self, i2s, mic, hop, stall_ms=STALL_MS, irq=True):
        if mic not in MICS:
            raise ValueError("unknown microphone %r; use one of %s" % (mic, ", ".join(MICS)))
        self.i2s = i2s
        self.mic = mic
        self.hop = hop
        self.stall_ms = stall_ms
        self.dropped = 0
        self.stalls = 0  # times the read chain was re-armed after going quiet
        self._raw = [array("h", bytes(4 * hop)) for _ in range(_NBUF)]
        self._fill = 0  # buffer the outstanding readinto fills
        self._ready = -1  # newest completed buffer
        self._busy = -1  # buffer read_hop is converting
        self._seq = 0  # completions so far (written by the handler only)
        self._got = 0  # _seq of the last claimed buffer (written by read_hop only)
        self._t_last = ticks_ms()
        self._cb = self._done  # the bound method is made once, here, not per callback
        self.nonblocking = False
        if irq and hasattr(i2s, "irq"):
            try:
                i2s.irq(self._cb)
                self.nonblocking = True
            except (AttributeError, NotImplementedError, OSError, RuntimeError):
                # e.g. "failed to create I2S task": back to blocking reads, which need irq(None)
                # because the port switched modes before it failed
                try:
                    i2s.irq(None)
                except Exception:
                    pass
        if self.nonblocking:
            i2s.readinto(self._raw[0])

    def _done(self, _src):
        # Scheduled by the driver when the outstanding buffer is full. Runs to completion
        # between two bytecodes of the main loop; touches ints only and re-arms the next buffer
        # (never the one being converted). Allocates nothing. _src is the I2S the driver passes.
        i2s = self.i2s
        if i2s is None:  # closed while this callback was still scheduled
            return
        k = self._fill
        self._ready = k
        self._seq = (self._seq + 1) & _SEQ_MASK
        n = k + 1
        if n == _NBUF:
            n = 0
        if n == self._busy:
            n += 1
            if n == _NBUF:
                n = 0
        self._fill = n
        i2s.readinto(self._raw[n])

    def read_hop(self, dst):
        if self.i2s is None:  # closed: the stream has ended
            return -1
        if not self.nonblocking:
            return self._read_blocking(dst)
        if self._seq == self._got:
            now = ticks_ms()
            if ticks_diff(now, self._t_last) > self.stall_ms:
                # No buffer completed for a long time: the scheduled callback may have been
                # lost (full scheduler queue) or the mic clock stopped. Queue the read again.
                self._t_last = now
                self.stalls += 1
                self.i2s.readinto(self._raw[self._fill])
            return 0
        # Claim the newest buffer. These two statements contain no jump and no call, so the
        # scheduled handler cannot run between them: _busy and s describe the same buffer.
        self._busy = self._ready
        s = self._seq
        self.dropped += ((s - self._got) & _SEQ_MASK) - 1
        self._got = s
        self._t_last = ticks_ms()
        self._convert(self._raw[self._busy], dst)
        self._busy = -1
        return 1

    def _read_blocking(self, dst):
        # Ports without I2S.irq: read exactly one hop, waiting for it.
        raw = self._raw[0]
        n = self.i2s.readinto(raw)
        if n is not None and n < 4 * self.hop:
            return 0
        self._seq = (self._seq + 1) & _SEQ_MASK
        self._convert(raw, dst)
        return 1

    def _convert(self, raw, dst):
        # Q15 = raw32 >> 16 = the high int16 half of each little-endian int32 sample.
        j = 1
        for i in range(self.hop):
            dst[i] = raw[j]
            j += 2

    def raw_stats(self):
        # Diagnostics (allocates a dict: not for the per-hop path).
        return {
            "mode": "irq" if self.nonblocking else "blocking",
            "completed": self._seq,
            "dropped": self.dropped,
            "stalls": self.stalls,
        }

    def close(self):
        i2s = self.i2s
        if i2s is not None:
            self.i2s = None
            self.nonblocking = False
            try:
                i2s.deinit()
            except AttributeError:
                pass
