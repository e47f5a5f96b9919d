# `threadbeat doctor` against the MicroPython WebAssembly REPL behind a pty (tests/mpvm_repl.py): the
# board-side checks run on real MicroPython; the microphone and LED checks run through firmware/mic_i2s.py,
# firmware/health.py and firmware/panels_np.py over small MicroPython stand-ins for machine and neopixel
# (tests/mpvm/board/), since the VM has no I2S or NeoPixel hardware.
import os
import subprocess
import sys

import pytest

from host_tools import doctor
from host_tools.flash import MIN_MICROPYTHON, firmware_version, main as cli
from mpvm import requires_vm

HERE = os.path.dirname(os.path.abspath(__file__))
MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")
STAND_INS = os.path.join(HERE, "mpvm", "board")


def mpremote(port, *args):
    r = subprocess.run([MPREMOTE, "connect", port, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def garment():
    # A VM "board" with the jacket flashed (--source: the VM runs no xtensa code).
    from mpvm import node_available

    if not node_available() and not os.environ.get("CI"):
        pytest.skip("node not found")
    from mpvm_repl import VmBoard

    with VmBoard() as board:
        assert cli(["flash", "--board", "esp32-jacket", "--port", board.port, "--source", "--no-reset"]) == 0
        yield board


def rows(out):
    return [line for line in out.splitlines() if line.startswith("[")]


@requires_vm
def test_doctor_on_a_fresh_vm_board(capsys):
    from mpvm_repl import VmBoard

    with VmBoard() as board:
        assert cli(["doctor", "--port", board.port]) == 1
    cap = capsys.readouterr()
    out = rows(cap.out)
    assert out[0] == "[ok  ] MicroPython 1.27.0 (webassembly, JS with Emscripten)"
    assert any(r.startswith("[FAIL] firmware does not import") and "threadbeat flash" in r for r in out)
    assert any(r.startswith("[FAIL] board.json:") for r in out)
    assert cap.err.startswith("threadbeat: 2 checks failed: firmware does not import")


@requires_vm
def test_doctor_on_the_flashed_vm_board(garment, capsys):
    capsys.readouterr()
    assert cli(["doctor", "--port", garment.port]) == 0
    out = rows(capsys.readouterr().out)
    assert out[3] == "[ok  ] firmware %s" % firmware_version()
    assert out[4] == "[ok  ] board.json: ESP32 DevKitC jacket (esp32)"
    # no machine.I2S / neopixel in this port: not checkable, and not a failure off an ESP32
    assert "[--  ] microphone: not checkable: no machine.I2S on this board" in out
    assert "[--  ] LEDs: not checkable: no machine/neopixel modules on this board" in out
    assert out[-1].startswith("[ok  ] current budget 1800 mA") and "150 pixels" in out[-1]


@requires_vm
@pytest.mark.parametrize("mode, verdict", [("tone", "[ok  ] microphone: alive"),
                                           ("zeros", "[FAIL] microphone: mic: all zeros"),
                                           ("stuck", "[FAIL] microphone: mic: stuck at one value"),
                                           ("clip", "[FAIL] microphone: mic: clipping constantly")])
def test_doctor_mic_and_leds_through_the_firmware(garment, tmp_path, capsys, mode, verdict):
    # machine/neopixel stand-ins on the board: the capture goes through I2SMic and MicHealth for real.
    (tmp_path / "mic_mode.txt").write_text(mode)
    mpremote(garment.port, "fs", "cp", os.path.join(STAND_INS, "machine.py"), ":machine.py", "+",
             "fs", "cp", os.path.join(STAND_INS, "neopixel.py"), ":neopixel.py", "+",
             "fs", "cp", str(tmp_path / "mic_mode.txt"), ":mic_mode.txt", "+",
             "exec", "import os\ntry: os.remove('led_log.txt')\nexcept OSError: pass")
    try:
        capsys.readouterr()
        rc = cli(["doctor", "--port", garment.port])
        cap = capsys.readouterr()
        out = rows(cap.out)
        assert rc == (0 if mode == "tone" else 1), cap
        assert any(r.startswith(verdict) for r in out), out
        panels = [r for r in out if r.startswith("[ok  ] panel ")]
        assert [r.split()[3] for r in panels] == ["left_sleeve:", "right_sleeve:", "back:", "collar:"]
        log = mpremote(garment.port, "exec", "print(open('led_log.txt').read())").split()
        writes = [tuple(int(x) for x in log[i:i + 3]) for i in range(0, len(log), 3)]
        lit = [w for w in writes if w[2] == doctor.LED_LEVEL]
        assert [w[1] for w in lit] == [35, 35, 64, 16]  # each panel lit once, then cleared
        assert writes[-1][2] == 0
    finally:
        mpremote(garment.port, "exec", "import os\nfor f in ('machine.py','neopixel.py','mic_mode.txt'):\n os.remove(f)")


def test_checklist_rules():
    base = [{"k": "mp", "version": [1, 22, 0], "platform": "esp32", "machine": "ESP32"},
            {"k": "heap", "free": 30000, "used": 50000}, {"k": "fs", "free": 4096, "size": 2 ** 21},
            {"k": "fw", "version": "0.0.9"}, {"k": "board", "name": "j", "chip": "esp32"},
            {"k": "mic", "skip": "no machine.I2S on this board"}, {"k": "led", "error": "ValueError('invalid pin')"}]
    rows_ = doctor.checklist(base, "0.1.0", MIN_MICROPYTHON)
    st = [s for s, _ in rows_]
    assert st == ["FAIL", "FAIL", "FAIL", "warn", "ok", "FAIL", "FAIL"]  # on an ESP32 a missing I2S is a fault
    assert "older than 1.23.0" in rows_[0][1] and "`threadbeat flash` to update" in rows_[3][1]
    assert doctor.checklist([], "0.1.0", MIN_MICROPYTHON) == [("FAIL", "no MicroPython answered on the raw REPL")]
    mic = dict(k="mic", hops=0, hi=0, lo=0, state=0, message="ok")
    assert "no audio arrived" in doctor.checklist(base[:5] + [mic], "0.1.0", MIN_MICROPYTHON)[-1][1]
