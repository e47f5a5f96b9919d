# The firmware on real MicroPython (the WebAssembly VM): the desk bundle's main.py writes the
# same events.json and frames.bin as CPython and as replay, and the loop allocates nothing per hop;
# start-up keeps the profile validator and the engine apart, so the jacket starts in 100 KB of heap.
import os
import subprocess
import sys

import numpy as np

from conftest import FIXTURES, ROOT
from firmware.profile import read_profile
from host_tools import replay
from host_tools.audio import load
from host_tools.cli import main as cli
from mpunix import requires_unix32, run_unix32
from mpvm import requires_vm, run_micropython


def desk_bundle(tmp_path, seconds):
    out = tmp_path / "desk"
    assert cli(["build", "--board", "desk", "--source", "--out", str(out), "-q"]) == 0
    x, _ = load(os.path.join(FIXTURES, "mix_garment.flac"), 16000)
    x = np.tile(x, 1 + int(seconds * 16000) // len(x))[: int(seconds * 16000)]
    (out / "audio.pcm").write_bytes(x.astype("<i2").tobytes())
    return out, x


@requires_vm
def test_desk_main_is_bit_identical_on_micropython_and_cpython(tmp_path):
    out, x = desk_bundle(tmp_path, 4.0)
    r = subprocess.run([sys.executable, "main.py"], cwd=out, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(out)))
    assert r.returncode == 0, r.stderr
    cpy_events = (out / "events.json").read_bytes()
    cpy_frames = (out / "frames.bin").read_bytes()
    for f in ("events.json", "frames.bin", "boot.cnt"):
        (out / f).unlink()
    vm_dir = tmp_path / "vm"
    vm_dir.mkdir()
    run_micropython(open(out / "main.py").read(), root=str(out),
                    collect={"events.json": str(vm_dir / "events.json"), "frames.bin": str(vm_dir / "frames.bin")})
    assert (vm_dir / "events.json").read_bytes() == cpy_events
    assert (vm_dir / "frames.bin").read_bytes() == cpy_frames
    assert b'"beats": [0.' in cpy_events  # the run had beats, so the comparison means something
    # and replay on the desk computes the very same frames
    res = replay.run(x, read_profile(os.path.join(ROOT, "boards", "desk.json")), engine="frame")
    assert res.led.tobytes() == cpy_frames


ALLOC = """
import gc
from firmware.app import build

def measure():
    # locals only: a new module-level name would grow the globals dict inside the measurement
    app = build("")
    for i in range(350):
        app.step()
    n = 0
    gc.collect()
    a = gc.mem_alloc()
    for i in range(1000):
        n += app.step()
    b = gc.mem_alloc()
    print(n, b - a)

measure()
"""


@requires_vm
def test_steady_state_loop_allocates_nothing(tmp_path):
    out, _ = desk_bundle(tmp_path, 1400 * 128 / 16000)
    hops, grew = map(int, run_micropython(ALLOC, root=str(out)).split())
    assert hops == 1000
    assert grew == 0, "the frame loop allocated %d bytes over 1000 hops" % grew


@requires_unix32
def test_desk_main_with_viper_on_the_32_bit_unix_port_matches_cpython(tmp_path):
    # the 32-bit unix port runs the viper FFT (like the ESP32 would); the output must not change
    out, _ = desk_bundle(tmp_path, 3.0)
    r = subprocess.run([sys.executable, "main.py"], cwd=out, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(out)))
    assert r.returncode == 0, r.stderr
    cpy = ((out / "events.json").read_bytes(), (out / "frames.bin").read_bytes())
    for f in ("events.json", "frames.bin", "boot.cnt"):
        (out / f).unlink()
    assert "fft_viper" in run_unix32("import firmware.fft as f; print(f._viper)", root=str(out))
    run_unix32(open(out / "main.py").read(), root=str(out))
    assert ((out / "events.json").read_bytes(), (out / "frames.bin").read_bytes()) == cpy


BOOT_ORDER = """
import sys
import firmware.app as A

seen = []
unload = A.unload_boot_modules

def spy(*names):
    seen.append((names[0] if names else None, "firmware.profile" in sys.modules, "firmware.engine" in sys.modules))
    unload(*names)

A.unload_boot_modules = spy
app = A.build("")
print(repr((seen, "firmware.profile" in sys.modules, app.step())))
"""


@requires_vm
def test_profile_validator_is_gone_before_the_engine_comes_in(tmp_path):
    # The start-up peak: the profile validator (the largest module) and the engine's modules never
    # share the heap on the board. Real MicroPython, the desk bundle.
    out, _ = desk_bundle(tmp_path, 0.1)
    seen, profile_left, stepped = eval(run_micropython(BOOT_ORDER, root=str(out)).strip().splitlines()[-1])
    names, had_profile, had_engine = seen[0]
    assert names == ("profile",) and had_profile and not had_engine
    assert not profile_left and stepped == 1


@requires_unix32
def test_the_jacket_starts_from_its_filesystem_in_100_kb_of_heap(tmp_path):
    # An ESP32 without PSRAM has about 111 KB of heap; with the modules as .mpy on its filesystem the
    # jacket (the default board) must start and run in less, with room to spare (bench/vm_cost.py
    # reports the smallest heap: 93 KB; 109 KB while the engine came in beside the profile validator).
    from bench import vm_cost

    root = vm_cost.device_bundles(str(tmp_path), "esp32-jacket.json")["fs"]
    assert "started" in run_unix32(vm_cost.START_SCRIPT % (None,), root=root, args=("-X", "heapsize=100K"))
