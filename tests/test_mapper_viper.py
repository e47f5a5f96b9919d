# firmware/mapper_viper.py (viper twins of the Mapper's per-pixel loops) gives firmware/mapper.py's frames
# bit for bit, in every mode: simulated on CPython, on the 32-bit unix port, and it compiles for the ESP32s.
import os
import random
import struct
import subprocess
import sys
from array import array

import pytest

from conftest import ROOT
from firmware.analyzer import Features
from firmware.mapper import MODES, Mapper
from firmware.palettes import BUILTIN, Palettes
from firmware.params import Params

try:
    from tests import mpunix, viper_sim  # if tests/ is (or becomes) a package
except ImportError:
    import mpunix
    import viper_sim

VIPER_SRC = os.path.join(ROOT, "firmware", "mapper_viper.py")
MPY_CROSS = viper_sim.MPY_CROSS
HAVE_MPY_CROSS = viper_sim.HAVE_MPY_CROSS


def wired_module(viper, name="mapper_wired"):
    return viper_sim.wired_module("mapper", viper, name)


@pytest.fixture(scope="module")
def sim():
    return viper_sim.load(VIPER_SRC)


@pytest.fixture(scope="module")
def wired(sim):
    return wired_module(sim)


# --- garments and feature streams ---------------------------------------------------------------

# (mode, palette, count) panels: every mode, empty and one-pixel panels, the desk jacket's panels
GARMENTS = {
    "every_mode": [(m, p, n) for m, p, n in zip(MODES, sorted(BUILTIN), (9, 13, 32, 40, 17, 25, 11, 6, 5))],
    "edges": [("vu", "fire", 1), ("ripple", "party", 1), ("sparkle", "ice", 1), ("spectrum", "rainbow", 0),
              ("sweep", "ocean", 1), ("vu", "white", 0), ("ripple", "white", 3), ("pulse", "neon", 0)],
    "jacket": [("vu", "fire", 35), ("vu", "fire", 35), ("ripple", "party", 64), ("pulse", "neon", 16)],
    "dress": [("spectrum", "rainbow", 128), ("sweep", "ocean", 40), ("sparkle", "ice", 40),
              ("sparkle", "ice", 40), ("sweep", "ocean", 40), ("pulse", "warm_white", 12)],
}


def positions(total, rng):
    """Pixel positions in mm: a spiral near the origin, a few far out (a ring's distance up to 65535 mm)."""
    a = array("h")
    for i in range(total):
        if i % 11 == 10:
            a.extend((rng.choice((-32768, 32767)), rng.choice((-32768, 32767))))
        else:
            a.extend((rng.randint(-900, 900), rng.randint(-900, 900)))
    return a


def build(mod, garment, seed, speed):
    rng = random.Random(seed)
    panels = GARMENTS[garment]
    total = sum(n for _, _, n in panels)
    p = Params()
    p.update({"speed": speed})
    m = mod.Mapper(total, positions(total, rng), p, (rng.randint(-50, 50), rng.randint(-50, 50)))
    pal = Palettes()
    first = 0
    for mode, palette, n in panels:
        m.add_panel(first, n, pal.lut(palette), mode, palette)
        first += n
    return m


# a frame: now_ms (i), beat (B), level, bass, mid, treble (4 B), bands (16 B), idle (B)
FRAME = struct.Struct("<iB4B16sB")


def stream(seed, frames):
    """Feature frames: steady 8 ms hops, stalls, jumps back and forward, beats in bursts, extremes."""
    rng = random.Random(seed)
    now = rng.choice((0, 5, 123456789))
    out = []
    for k in range(frames):
        r = rng.random()
        if r < 0.8:
            now += 8
        elif r < 0.85:
            pass  # dt 0
        elif r < 0.9:
            now += rng.randint(9, 400)  # dt over 250 counts as 0
        elif r < 0.93:
            now -= rng.randint(1, 50)  # the clock stepped back
        else:
            now += rng.randint(1, 250)
        beat = 1 if rng.random() < 0.12 else 0
        ext = rng.random() < 0.2
        vals = [rng.choice((0, 255)) if ext else rng.randint(0, 255) for _ in range(4)]
        bands = bytes(rng.choice((0, 255)) if ext else rng.randint(0, 255) for _ in range(16))
        idle = 1 if 40 <= k % 97 < 46 else 0
        out.append((now, beat, *vals, bands, idle))
    return out


def apply(f, fr):
    now, beat, level, bass, mid, treble, bands, idle = fr
    if beat:
        f.beat_count += 1
        f.beat_ms = now
    f.level, f.bass, f.mid, f.treble = level, bass, mid, treble
    f.bands[:] = bands
    return now, idle


def state(m):
    return (bytes(m.rgb), m.seed, m.next_ripple, list(m.ripple_ms), bytes(m.ripple_hue),
            [(pm.phase, pm.peak, pm.acc, bytes(pm.level), bytes(pm.hue)) for pm in m.panels])


CASES = [(g, seed, speed) for g in GARMENTS for seed, speed in ((1, 64), (2, 0), (3, 255))]


# --- bit identity in the simulator --------------------------------------------------------------


@pytest.mark.parametrize("garment, seed, speed", CASES)
def test_simulated_kernels_give_the_portable_frames(sim, wired, garment, seed, speed):
    a = build(sys.modules["firmware.mapper"], garment, seed, speed)
    b = build(wired, garment, seed, speed)
    fa, fb = Features(), Features()
    viper_sim.reset_audit(sim)
    lit_rings = 0
    frames = {"dress": 90, "jacket": 150}.get(garment, 260)  # the simulator is slow: ~30k pixels each
    for k, fr in enumerate(stream(seed * 7 + speed, frames)):
        now, idle = apply(fa, fr)
        apply(fb, fr)
        a.idle = b.idle = bool(idle)
        a.render(fa, now)
        b.render(fb, now)
        assert state(b) == state(a), "%s frame %d" % (garment, k)
        lit_rings += sum(1 for t in a.ripple_ms if 0 <= now - t < 900)
    assert lit_rings > 0
    assert not sim.wraps, "wrapped on lines %s" % sorted(sim.wraps)
    assert max(sim.audit.values()) < 1 << 31


def test_every_mode_paints_something(wired):
    # the streams above are not all black: each mode's kernel lights pixels at some frame
    b = build(wired, "every_mode", 1, 64)
    f = Features()
    seen = [0] * len(b.panels)
    for fr in stream(8, 200):
        now, _ = apply(f, fr)
        rgb = b.render(f, now)
        for i, pm in enumerate(b.panels):
            seen[i] += sum(rgb[3 * pm.first: 3 * (pm.first + pm.count)])
    assert [MODES[pm.mode] for pm, s in zip(b.panels, seen) if s == 0] == ["off"]


def test_the_ring_division_is_exact_everywhere(sim):
    # x // 900 == ((x >> 2) * 37283) >> 23 for every product the ripple kernel can form, and the
    # ring table is the bytecode's (_RIPPLE_WIDTH - e) * 255 // _RIPPLE_WIDTH
    assert list(sim._RING) == [(70 - e) * 255 // 70 for e in range(70)]
    assert max(sim._RING) * 900 >> 2 == 57375
    for y in range(57376):
        assert (y * sim._DIV225_MUL) >> 23 == y // 225
    assert 57375 * sim._DIV225_MUL < 1 << 31
    for t in set(sim._RING):
        for life in range(1, 901):
            assert (((t * life) >> 2) * 37283) >> 23 == t * life // 900


def test_ripple_kernel_on_rings_at_their_limits(sim):
    # every distance against rings at the edges of their life and width, two rings tying
    rng = random.Random(9)
    lut = bytearray(rng.randrange(256) for _ in range(768))
    dist = array("H", list(range(0, 200)) + [65535, 65534, 1556, 1557, 1627, 1626, 70, 69])
    n = len(dist)
    for rings in ([(0, 900, 3)], [(0, 1, 200)], [(100, 450, 7), (100, 450, 9)], [(1557, 1, 255), (60, 899, 0)],
                  [(65535 - 69, 900, 1)], [(5, 900, 1), (10, 900, 2), (15, 900, 3), (20, 900, 4)], []):
        rip = array("i", [v for r in rings for v in r] + [0] * (12 - 3 * len(rings)))
        rgb = bytearray(3 * n + 6)
        sim.ripple(rgb, lut, dist, 2, n, rip, len(rings))
        want = bytearray(3 * n + 6)
        for i, d in enumerate(dist):
            best = hue = 0
            for r, life, h in rings:
                e = abs(d - r)
                if e < 70:
                    v = ((70 - e) * 255 // 70) * life // 900
                    if v > best:
                        best, hue = v, h
            ci = (hue + (d >> 2)) & 255
            for c in range(3):
                want[3 * (i + 2) + c] = (lut[3 * ci + c] * best) >> 8
        assert rgb == want, rings


def test_short_buffers_raise_like_the_bytecode(sim):
    lut = bytearray(768)
    pos = bytearray(10)
    with pytest.raises(IndexError):
        sim.fill(bytearray(29), lut, 0, 10, 3, 100)
    with pytest.raises(IndexError):
        sim.fill(bytearray(30), bytearray(767), 0, 10, 3, 100)
    with pytest.raises(IndexError):
        sim.fill(bytearray(30), lut, 0, 10, 256, 100)
    with pytest.raises(IndexError):
        sim.ramp(bytearray(30), lut, bytearray(9), 0, 10, 0, 256)
    with pytest.raises(IndexError):
        sim.ramp(bytearray(30), lut, pos, 1, 10, 0, 256)
    with pytest.raises(IndexError):
        sim.spectrum(bytearray(30), lut, pos, bytearray(15), 0, 10)
    with pytest.raises(IndexError):
        sim.vu(bytearray(30), lut, pos, -1, 10, 100, 0)
    with pytest.raises(IndexError):
        sim.fade(bytearray(9), 10, 1)
    with pytest.raises(IndexError):
        sim.paint(bytearray(30), lut, pos, bytearray(9), 0, 10)
    with pytest.raises(IndexError):
        sim.ripple(bytearray(30), lut, array("H", [0] * 10), 0, 10, array("i", [0] * 6), 3)
    # the bytecode raises too when a panel lies outside the frame
    m = Mapper(10, array("h", [0] * 30), Params())
    m.add_panel(5, 10, lut, "solid")
    with pytest.raises(IndexError):
        m.render(Features(), 0)


@pytest.mark.parametrize("start", [0xF7F00000, 0x80000000 - 64], ids=["heap_above_2**31", "buffers_straddle_2**31"])
def test_addresses_above_2_31_do_not_matter(start):
    sim = viper_sim.load(VIPER_SRC, memory=viper_sim.Memory(start))
    w = wired_module(sim, "mapper_wired_high")
    for garment in ("every_mode", "jacket"):
        a = build(sys.modules["firmware.mapper"], garment, 4, 64)
        b = build(w, garment, 4, 64)
        fa, fb = Features(), Features()
        for k, fr in enumerate(stream(4, 60)):
            now, _ = apply(fa, fr)
            apply(fb, fr)
            a.render(fa, now)
            b.render(fb, now)
            assert state(b) == state(a), k


# --- the real 32-bit unix port ----------------------------------------------------------------

# For each case: a bytecode Mapper (_viper None) and a kernel Mapper built alike, fed the same frames;
# prints a hash of the kernel side's frame and state, which CPython's portable code must reproduce.
# One render of each case runs with the heap locked.
_UNIX_CODE = """
import micropython, struct
from array import array
import firmware.mapper as M
from firmware.analyzer import Features
from firmware.palettes import Palettes
from firmware.params import Params
V = M._viper
assert V is not None, 'no viper kernels'
print('module', V.__file__)
FMT = '<iB4B16sB'

def build(panels, pos, origin, speed):
    p = Params()
    p.update({{'speed': speed}})
    total = 0
    for mode, palette, n in panels:
        total += n
    m = M.Mapper(total, array('h', pos), p, origin)
    pal = Palettes()
    first = 0
    for mode, palette, n in panels:
        m.add_panel(first, n, pal.lut(palette), mode, palette)
        first += n
    return m

def digest(m):
    h = m.seed
    for v in m.rgb:
        h = (h * 31 + v) & 0xffffff
    for pm in m.panels:
        h = (h * 31 + pm.phase + pm.peak + pm.acc) & 0xffffff
        for v in pm.level:
            h = (h * 31 + v) & 0xffffff
    return h

def same(a, b):
    if a.rgb != b.rgb or a.seed != b.seed:
        return False
    for i in range(len(a.panels)):
        p, q = a.panels[i], b.panels[i]
        if p.phase != q.phase or p.peak != q.peak or p.acc != q.acc or p.level != q.level or p.hue != q.hue:
            return False
    return True

src = open('{path}', 'rb')
rec = bytearray(struct.calcsize(FMT))
locked = 'ok'
for c, (panels, pos, origin, speed, nframes) in enumerate({cases}):
    a = build(panels, pos, origin, speed)
    b = build(panels, pos, origin, speed)
    fa = Features()
    fb = Features()
    for k in range(nframes):
        src.readinto(rec)
        now, beat, level, bass, mid, treble, bands, idle = struct.unpack(FMT, rec)
        for f in (fa, fb):
            if beat:
                f.beat_count += 1
                f.beat_ms = now
            f.level = level
            f.bass = bass
            f.mid = mid
            f.treble = treble
            f.bands[:] = bands
        a.idle = b.idle = bool(idle)
        M._viper = None
        a.render(fa, now)
        M._viper = V
        if k == 30:
            micropython.heap_lock()
            try:
                b.render(fb, now)
            except MemoryError:
                locked = 'allocated'
            micropython.heap_unlock()
        else:
            b.render(fb, now)
        print(c, k, digest(b), 'same' if same(a, b) else 'DIFF')
print('heap', locked)
"""


def _digest(m):
    h = m.seed
    for v in m.rgb:
        h = (h * 31 + v) & 0xFFFFFF
    for pm in m.panels:
        h = (h * 31 + pm.phase + pm.peak + pm.acc) & 0xFFFFFF
        for v in pm.level:
            h = (h * 31 + v) & 0xFFFFFF
    return h


def _cases(tmp_path):
    path = str(tmp_path / "frames")
    cases, want = [], []
    mod = sys.modules["firmware.mapper"]
    with open(path, "wb") as out:
        for c, (garment, seed, speed) in enumerate(CASES):
            m = build(mod, garment, seed, speed)
            fr = stream(seed * 7 + speed, 120)
            cases.append((tuple(GARMENTS[garment]), tuple(m.positions), m.origin, speed, len(fr)))
            f = Features()
            for k, x in enumerate(fr):
                out.write(FRAME.pack(*x))
                now, idle = apply(f, x)
                m.idle = bool(idle)
                m.render(f, now)
                want.append("%d %d %d same" % (c, k, _digest(m)))
    want.append("heap ok")
    return path, cases, want




@mpunix.requires_unix32
@pytest.mark.parametrize("mpy", [False, pytest.param(True, marks=pytest.mark.skipif(not HAVE_MPY_CROSS,
                                                                                   reason="mpy-cross not found"))],
                         ids=["source", "mpy"])
def test_unix_port_kernels_are_bit_identical_and_allocate_nothing(tmp_path, mpy):
    root = mpunix.firmware_root(tmp_path, "mapper_viper" if mpy else None)
    path, cases, want = _cases(tmp_path)
    out = mpunix.run_unix32(_UNIX_CODE.format(path=path, cases=cases), root=root, timeout=600)
    lines = out.split("\n")[:-1]
    assert lines[0].endswith(".mpy" if mpy else ".py"), lines[0]
    assert lines[1:] == want


@mpunix.requires_unix32
@pytest.mark.parametrize("garment", ["jacket", "dress"])
def test_desk_run_on_the_unix_port_with_every_kernel_matches_cpython(tmp_path, garment):
    # The whole desk engine on the port with all viper twins loaded (mapper, analyzer and kick
    # included), for the jacket's panels (vu, ripple, pulse) and the dress's (spectrum, sweep,
    # sparkle, pulse on RGBW): the same events.json and frames.bin as CPython's portable run.
    import json

    import numpy as np

    from bench import hop_speed

    out = tmp_path / "desk"
    hop_speed.desk_bundle(str(out), 4.0)
    if garment == "dress":
        board = json.loads((out / "board.json").read_text())
        with open(os.path.join(ROOT, "boards", "esp32s3-dress.json")) as f:
            board["panels"] = json.load(f)["panels"]
        (out / "board.json").write_text(json.dumps(board))
        panels = {p["name"]: {"mode": p["mode"], "palette": p["palette"]} for p in board["panels"]}
        (out / "config.json").write_text(json.dumps({"schema": 1, "params": {}, "panels": panels, "palettes": {}}))
    r = subprocess.run([sys.executable, "main.py"], cwd=out, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(out)))
    assert r.returncode == 0, r.stderr
    cpy = ((out / "events.json").read_bytes(), (out / "frames.bin").read_bytes())
    for f in ("events.json", "frames.bin", "boot.cnt"):
        if (out / f).exists():
            (out / f).unlink()
    mods = mpunix.run_unix32("import firmware.mapper as m, firmware.analyzer as a, firmware.kick as k\n"
                             "print(m._viper, a._viper, k._viper)", root=str(out))
    assert "mapper_viper" in mods and "analyzer_viper" in mods and "kick_viper" in mods, mods
    mpunix.run_unix32(open(out / "main.py").read(), root=str(out), timeout=300)
    assert ((out / "events.json").read_bytes(), (out / "frames.bin").read_bytes()) == cpy
    assert json.loads(cpy[0])["faults"] == []
    assert np.frombuffer(cpy[1], np.uint8).any()
