# Loudness steps (Analyzer._step): a 30 dB rise or drop through the garment microphone moves every noise
# floor by the step within a second instead of at floor_rise (3 dB/s) or band by band; steady music, a
# file's silent lead-in, music stopping into digital silence and floors still climbing under a clean file's
# music take no step; the numpy mirror (host_tools.fastkick.floors) and real MicroPython give the same
# integers, and the step allocates nothing.
import os
from array import array

import numpy as np

from conftest import FIXTURES
from firmware.analyzer import Analyzer
from firmware.params import Params
from firmware.spectrum import LEVEL, BASS
from host_tools import fastkick
from host_tools.audio import load
from host_tools.cli import main as cli
from host_tools.fastspectrum import FastSpectrum
from mpvm import requires_vm, run_micropython

HOPS_S = 125  # hops a second (8 ms hops)
NEVER = 1 << 30


def clip(name, *parts):
    # the fixture's 6 s clip once per entry of `parts` (dB; None: digital silence), as band level rows
    x, _ = load(os.path.join(FIXTURES, name + ".flac"), 16000)
    y = np.concatenate([np.zeros_like(x) if db is None else np.round(x * 10 ** (db / 20)).astype(np.int16)
                        for db in parts])
    return FastSpectrum(16000, 512, 128).levels(y).tolist(), len(x) // 128


def floors(rows, steps=True):
    # the firmware analyzer over the rows (no kick model: score 0): its floors after every hop
    an = Analyzer(Params(), 16000, 128, 4)
    if not steps:
        an.step_q12 = NEVER
    out = []
    for h, row in enumerate(rows):
        an.update(array("h", row), h * 8, 0)
        out.append(list(an.floor))
    return an, np.array(out)


def db(q12):
    return q12 * 3.0103 / 4096


def test_a_30_db_rise_through_the_garment_microphone_moves_the_floors_up_within_a_second_and_a_half():
    rows, n = clip("mix_garment", -30, -30, 0, 0)
    ref_rows, _ = clip("mix_garment", 0, 0, 0, 0)  # the same music at the new level all along
    an, fl = floors(rows)
    _, slow = floors(rows, steps=False)
    _, ref = floors(ref_rows)
    at = 2 * n + int(1.5 * HOPS_S)  # 1.5 s after the rise
    assert an.steps == 1
    for b in (LEVEL, BASS):
        assert abs(db(fl[at, b] - ref[at, b])) < 4  # where the floor of the loud music sits
        assert db(ref[at, b] - slow[at, b]) > 15  # at 3 dB/s it would still be far under it
    assert (fl[:2 * n] == slow[:2 * n]).all()  # nothing moved before the rise


def test_a_30_db_drop_through_the_garment_microphone_moves_the_floors_down_within_a_second():
    rows, n = clip("mix_garment", 0, 0, -30, -30)
    ref_rows, _ = clip("mix_garment", -30, -30, -30, -30)
    an, fl = floors(rows)
    _, slow = floors(rows, steps=False)
    _, ref = floors(ref_rows)
    at = 2 * n + HOPS_S  # 1 s after the drop
    assert an.steps == 1
    err = np.abs(db(fl[at] - ref[at]))
    assert np.median(err) < 2 and err.max() < 8, err  # every band near where the quiet music's floor sits
    # without the step the drop rule leaves a band (the kicks keep poking over its floor) far off; and a band
    # the quiet version's noise fills is held at the lowest level it showed, not moved 30 dB under it
    assert np.abs(db(slow[at] - ref[at])).max() > 12
    assert (fl[:2 * n] == slow[:2 * n]).all()


def test_steady_music_a_silent_lead_in_and_a_clean_files_floors_take_no_step():
    for name, parts in (("mix_garment", (0, 0, 0, 0)),  # steady music
                        ("mix_garment", (None, 0, 0)),  # digital silence, then music: 150 dB up
                        ("mix_garment", (0, 0, None)),  # music stopping into digital silence
                        ("mix_clean", (-30, -30, 0, 0)),  # floors still climbing far under the music
                        ("speech_clean", (0, 0, 0))):
        rows, _ = clip(name, *parts)
        an, fl = floors(rows)
        _, slow = floors(rows, steps=False)
        assert an.steps == 0, (name, parts)
        assert (fl == slow).all()


def test_the_numpy_floors_follow_the_step_exactly():
    rows, _ = clip("mix_garment", -30, 0, -12, 6)  # a rise of 30 dB, a drop of 12 dB, a rise of 18 dB
    an, fl = floors(rows)
    assert an.steps == 3
    assert (fastkick.floors(rows, an) == fl).all()


STEP_VM = """
import gc
from array import array
from firmware.analyzer import Analyzer
from firmware.params import Params

def main():
    with open("levels.bin", "rb") as f:
        raw = f.read()
    rows = len(raw) // (2 * N)
    an = Analyzer(Params(), 16000, 128, 4)
    lv = array("h", bytes(2 * N))
    acc = 0
    grew = 0
    for h in range(rows):
        mv = memoryview(raw)[2 * N * h:2 * N * (h + 1)]
        for i in range(N):
            lv[i] = mv[2 * i] | (mv[2 * i + 1] << 8) if mv[2 * i + 1] < 128 else (mv[2 * i] | (mv[2 * i + 1] << 8)) - 65536
        gc.collect()
        a = gc.mem_alloc()
        an.update(lv, h * 8, 0)
        grew += gc.mem_alloc() - a
        for v in an.floor:
            acc = (acc * 31 + v) & 0xFFFFFFF
    print(an.steps, acc, grew)

main()
"""


@requires_vm
def test_micropython_takes_the_same_step_without_allocating(tmp_path):
    out = tmp_path / "desk"
    assert cli(["build", "--board", "desk", "--source", "--out", str(out), "-q"]) == 0
    rows, _ = clip("mix_garment", -30, 0)
    rows = rows[:int(2.5 * 6 * HOPS_S) // 2 * 2]  # 7.5 s: the step and a little after
    (out / "levels.bin").write_bytes(np.array(rows, dtype="<i2").tobytes())
    an, fl = floors(rows)
    acc = 0
    for row in fl:
        for v in row:
            acc = (acc * 31 + int(v)) & 0xFFFFFFF
    steps, vm_acc, grew = map(int, run_micropython("N = %d\n" % len(rows[0]) + STEP_VM, root=str(out),
                                                     timeout=300).split())
    assert an.steps == 1 and steps == 1
    assert vm_acc == acc
    assert grew == 0, "the analyzer allocated %d bytes" % grew
