# `threadbeat build` and the ESP32 compiler: every firmware module compiles with mpy-cross for
# the ESP32 (xtensawin) and the ESP32-C3 (rv32imc), and the bundle holds what the board needs.
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURES, ROOT
from host_tools import build
from host_tools.audio import load
from host_tools.cli import main as cli
from mpunix import requires_unix32, run_unix32

MODULES = build.firmware_modules()
# what a bundle holds: the kick MLP's modules only with weights that have an MLP (the shipped ones have none)
BUNDLED = build.firmware_modules(mlp=build.has_mlp(build.KICK_WEIGHTS))


@pytest.mark.parametrize("arch", ["xtensawin", "rv32imc"])
@pytest.mark.parametrize("module", MODULES + list(build.DESK_ONLY) + [build.KICK_WEIGHTS_SMALL, "main.py"])
def test_module_compiles_for_the_target(tmp_path, arch, module):
    r = subprocess.run([build.mpy_cross(), "-march=" + arch, "-o", str(tmp_path / "m.mpy"),
                        os.path.join(ROOT, "firmware", module)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_a_filesystem_bundle_carries_the_smaller_kick_model_and_romfs_the_full_one(tmp_path):
    # the model's tables are bytes constants: in the heap when loaded from a filesystem, in flash from ROMFS
    import importlib.util

    def tables(name):
        spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "firmware", name + ".py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.TREES[2]  # leaf values: bytes that show up as they are in a compiled .mpy

    full, small = tables("kick_weights"), tables("kick_weights_small")
    assert len(small) < len(full) // 3
    assert "kick_weights_small.py" not in MODULES and "kick_weights.py" in MODULES
    src = tmp_path / "src"
    assert cli(["build", "--board", "esp32-jacket", "--out", str(src), "--source", "-q"]) == 0
    with open(os.path.join(ROOT, "firmware", "kick_weights_small.py"), "rb") as f:
        assert (src / "firmware" / "kick_weights.py").read_bytes() == f.read()
    assert not (src / "firmware" / "kick_weights_small.py").exists()
    mpy = tmp_path / "mpy"
    assert cli(["build", "--board", "esp32-jacket", "--out", str(mpy), "-q"]) == 0
    blob = (mpy / "firmware" / "kick_weights.mpy").read_bytes()
    assert small in blob and full not in blob
    assert not (mpy / "firmware" / "kick_weights_small.mpy").exists()
    rom = tmp_path / "rom"
    assert cli(["build", "--board", "esp32-jacket", "--out", str(rom), "--romfs", "-q"]) == 0
    image = (rom / build.ROMFS_IMAGE).read_bytes()
    assert full in image and small not in image
    big = tmp_path / "big"  # asked for: the full model on a filesystem (a board with heap to spare)
    assert cli(["build", "--board", "esp32-jacket", "--out", str(big), "--kick-model", "full", "-q"]) == 0
    assert full in (big / "firmware" / "kick_weights.mpy").read_bytes()
    desk = tmp_path / "desk"  # the desk (simulate, the VM) has no heap to spare for: the full model
    assert cli(["build", "--board", "desk", "--out", str(desk), "--source", "-q"]) == 0
    with open(os.path.join(ROOT, "firmware", "kick_weights.py"), "rb") as f:
        assert (desk / "firmware" / "kick_weights.py").read_bytes() == f.read()


def test_bundle_for_the_jacket_is_compiled_and_complete(tmp_path):
    out = tmp_path / "b"
    assert cli(["build", "--board", "esp32-jacket", "--out", str(out), "-q"]) == 0
    names = set(os.listdir(out / "firmware"))
    assert {m[:-3] + ".mpy" for m in BUNDLED} <= names
    assert not any(n.endswith(".py") for n in names)
    assert "params_help.mpy" not in names  # desk-only help texts stay off the board
    for f in ("main.py", "board.json", "config.json"):
        assert (out / f).exists()
    assert b"/" not in (out / "firmware" / "fft.mpy").read_bytes()[:64]  # -s: no build path inside
    head = (out / "firmware" / "fft.mpy").read_bytes()[:2]
    assert head == b"M\x06"  # an .mpy file, format version 6


def test_source_bundle_for_the_desk(tmp_path):
    out = tmp_path / "d"
    assert cli(["build", "--board", "desk", "--source", "--out", str(out), "-q"]) == 0
    assert (out / "firmware" / "engine.py").read_text() == open(os.path.join(ROOT, "firmware", "engine.py")).read()


def test_build_of_a_broken_profile_fails_clearly(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"chip": "desk", "source": {"type": "pcm_file", "path": "a.pcm"}, "panels": []}')
    assert cli(["build", "--board", str(bad), "--out", str(tmp_path / "x")]) == 1
    assert "panels" in capsys.readouterr().err


def test_romfs_bundle_holds_every_compiled_module_in_the_image(tmp_path):
    plain = tmp_path / "plain"
    rom = tmp_path / "rom"
    assert cli(["build", "--board", "esp32s3-dress", "--out", str(plain), "-q"]) == 0
    assert cli(["build", "--board", "esp32s3-dress", "--romfs", "--out", str(rom), "-q"]) == 0
    assert sorted(os.listdir(rom)) == ["board.json", "config.json", "main.py", build.ROMFS_IMAGE]  # no firmware/
    assert (rom / "board.json").read_bytes() == (plain / "board.json").read_bytes()
    mpys = sorted(os.listdir(plain / "firmware"))
    assert len(mpys) == len(BUNDLED)
    for img in ((rom / build.ROMFS_IMAGE).read_bytes(), build.romfs_image(str(plain / "firmware"))):
        assert img[:3] == b"\xd2\xcd\x31"  # the ROMFS header
        assert b"firmware" in img
        for name in mpys:
            assert name.encode() in img, name
    img = build.romfs_image(str(plain / "firmware"))
    for name in mpys:  # stored verbatim (a file record)
        assert (plain / "firmware" / name).read_bytes() in img, name


def test_romfs_does_not_go_with_source(tmp_path, capsys):
    assert cli(["build", "--board", "desk", "--source", "--romfs", "--out", str(tmp_path / "x")]) == 1
    assert "--romfs" in capsys.readouterr().err


ROMFS_RUN = """
import sys, vfs
f = open(%r, "rb")
img = f.read()
f.close()
vfs.mount(vfs.VfsRom(img), "/rom")
sys.path.insert(0, "/rom")
import firmware.app
assert firmware.app.__file__.startswith("/rom/firmware/"), firmware.app.__file__
firmware.app.run()
print("ran from", firmware.app.__file__)
"""


@requires_unix32
def test_romfs_image_runs_the_desk_engine_bit_identically(tmp_path):
    # The image's modules imported from a VfsRom on the 32-bit unix port (bytecode in place, as on
    # an ESP32 with a ROMFS partition) give the same events.json and frames.bin as CPython.
    if "VfsRom" not in run_unix32("import vfs; print(dir(vfs))"):
        pytest.skip("this MicroPython build has no vfs.VfsRom (MICROPY_VFS_ROM)")
    src = tmp_path / "src"
    rom = tmp_path / "rom"
    assert cli(["build", "--board", "desk", "--source", "--out", str(src), "-q"]) == 0
    assert cli(["build", "--board", "desk", "--romfs", "--out", str(rom), "-q"]) == 0
    x, _ = load(os.path.join(FIXTURES, "mix_garment.flac"), 16000)
    pcm = np.tile(x, 2)[: 3 * 16000].astype("<i2").tobytes()
    (src / "audio.pcm").write_bytes(pcm)
    (rom / "audio.pcm").write_bytes(pcm)
    r = subprocess.run([sys.executable, "main.py"], cwd=src, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(src)))
    assert r.returncode == 0, r.stderr
    out = run_unix32(ROMFS_RUN % str(rom / build.ROMFS_IMAGE), root=str(rom), timeout=120)
    assert "ran from /rom/firmware/app.mpy" in out
    assert not (rom / "firmware").exists()
    assert (rom / "events.json").read_bytes() == (src / "events.json").read_bytes()
    assert (rom / "frames.bin").read_bytes() == (src / "frames.bin").read_bytes()
    assert b'"beats": []' not in (src / "events.json").read_bytes()  # beats fired: the comparison means something


def test_the_kick_mlp_goes_in_only_with_weights_that_have_one(tmp_path, monkeypatch):
    # KickModel imports kick_mlp only for an MLP: without one the modules would be flash for nothing
    assert set(build.MLP_MODULES) <= set(MODULES)
    for weights in (build.KICK_WEIGHTS, build.KICK_WEIGHTS_SMALL):
        assert not build.has_mlp(weights)  # the shipped models are trees alone
    out = tmp_path / "plain"
    assert cli(["build", "--board", "esp32-jacket", "--out", str(out), "-q"]) == 0
    names = set(os.listdir(out / "firmware"))
    assert "kick.mpy" in names and not {"kick_mlp.mpy", "kick_mlp_viper.mpy"} & names
    # weights with an MLP (a copy of firmware/ whose kick_weights.py ends with one): the modules go in
    fw = tmp_path / "firmware"
    fw.mkdir()
    for name in os.listdir(build.FIRMWARE):
        if name.endswith(".py"):
            (fw / name).write_bytes(open(os.path.join(build.FIRMWARE, name), "rb").read())
    with open(fw / build.KICK_WEIGHTS, "a") as f:
        f.write("MLP = (b'', (), (), b'', b'', 1, 0, 1)\n")
    monkeypatch.setattr(build, "FIRMWARE", str(fw))
    assert build.has_mlp(build.KICK_WEIGHTS)
    out = tmp_path / "mlp"
    assert cli(["build", "--board", "esp32-jacket", "--kick-model", "full", "--out", str(out), "-q"]) == 0
    assert {"kick_mlp.mpy", "kick_mlp_viper.mpy"} <= set(os.listdir(out / "firmware"))
