# The garment application with stand-in hardware: a dead microphone gives an idle animation and a
# fault, broken board/config files fall back safely, a crash loop ends in safe mode.
import json
import os
import shutil

import numpy as np
import pytest

from conftest import FIXTURES, ROOT
from host_tools import stand_ins
from host_tools.audio import load


@pytest.fixture
def hw():
    stand_ins.install()
    import machine
    import neopixel

    stand_ins.reset()
    yield machine, neopixel
    stand_ins.reset()
    stand_ins.uninstall()


def garment_dir(tmp_path, board="esp32-jacket", config=None):
    d = tmp_path / "flash"
    d.mkdir()
    shutil.copy(os.path.join(ROOT, "boards", board + ".json"), d / "board.json")
    if config is not None:
        (d / "config.json").write_text(config)
    return str(d)


def run_hops(app, i2s, samples, hop=128):
    shown = 0
    for h in range(len(samples) // hop):
        i2s.feed(samples[h * hop:(h + 1) * hop].tolist())
        i2s.deliver(1)
        shown += max(app.step(), 0)
    return shown


def test_dead_microphone_breathes_and_reports_a_fault(hw, tmp_path):
    machine, neopixel = hw
    from firmware.app import build

    app = build(garment_dir(tmp_path))
    i2s = machine.I2S.instances[-1]
    assert run_hops(app, i2s, np.zeros(16000 * 2, dtype=np.int16)) > 200
    assert any("all zeros" in f for f in app.fault_list())
    assert app.engine.mapper.idle
    lit = sum(app.engine.output.panels[0].buf)
    assert lit > 0  # the idle animation glows although there is no sound
    # and the fault clears once real audio comes back
    x, _ = load(os.path.join(FIXTURES, "mix_clean.flac"), 16000)
    run_hops(app, i2s, x[: 16000 * 2])
    assert not app.engine.mapper.idle and app.fault_list() == []


def test_corrupt_board_and_config_fall_back_with_faults(hw, tmp_path):
    from firmware.app import build, safe_profile

    d = garment_dir(tmp_path, config="{ broken")
    with open(os.path.join(d, "board.json"), "w") as f:
        f.write('{"panels": [{"count": "many"}]}')
    app = build(d)
    faults = " | ".join(app.faults)
    assert "safe default profile" in faults and "config.json: not valid JSON" in faults
    assert app.engine.profile["name"] == safe_profile()["name"]
    assert app.engine.output.cap == safe_profile()["power"]["max_brightness"]


def test_missing_board_file_falls_back(hw, tmp_path):
    from firmware.app import build

    d = tmp_path / "empty"
    d.mkdir()
    app = build(str(d))
    assert any("board.json: missing" in f for f in app.faults)


def test_crash_loop_ends_in_safe_mode(tmp_path):
    from firmware.app import boot_guard

    path = str(tmp_path / "boot.cnt")
    results = [boot_guard(path)[0] for _ in range(4)]  # four boots that never ran 10 s
    assert results == [False, False, False, True]
    _, clear = boot_guard(path)
    clear()
    assert boot_guard(path)[0] is False


def test_stale_audio_is_dropped_and_time_moves_on(hw, tmp_path):
    machine, _ = hw
    from firmware.app import build

    app = build(garment_dir(tmp_path))
    i2s = machine.I2S.instances[-1]
    x, _ = load(os.path.join(FIXTURES, "mix_clean.flac"), 16000)
    i2s.feed(x[: 128 * 5].tolist())
    i2s.deliver(5)  # five hops finished while the loop was busy
    assert app.step() == 1  # one step takes only the newest
    assert app.dropped == 4 and app.engine.hops == 5
