# `threadbeat build` and the ESP32 compiler: every firmware module compiles with mpy-cross for
# the ESP32 (xtensawin) and the ESP32-C3 (rv32imc), and the bundle holds what the board needs.
import os
import subprocess

import pytest

from conftest import ROOT
from host_tools import build
from host_tools.cli import main as cli

MODULES = build.firmware_modules()


@pytest.mark.parametrize("arch", ["xtensawin", "rv32imc"])
@pytest.mark.parametrize("module", MODULES + ["main.py"])
def test_module_compiles_for_the_target(tmp_path, arch, module):
    r = subprocess.run([build.mpy_cross(), "-march=" + arch, "-o", str(tmp_path / "m.mpy"),
                        os.path.join(ROOT, "firmware", module)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_bundle_for_the_jacket_is_compiled_and_complete(tmp_path):
    out = tmp_path / "b"
    assert cli(["build", "--board", "esp32-jacket", "--out", str(out), "-q"]) == 0
    names = set(os.listdir(out / "firmware"))
    assert {m[:-3] + ".mpy" for m in MODULES} <= names
    assert not any(n.endswith(".py") for n in names)
    for f in ("main.py", "board.json", "config.json"):
        assert (out / f).exists()
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
