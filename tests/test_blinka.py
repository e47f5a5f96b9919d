# The Blinka sink (host_tools/blinka_sink.py) sends exactly the bytes the ESP32 sink sends for the
# same frames. The Blinka side is the real Adafruit Blinka + neopixel library on Blinka's own
# OS-agnostic test board (BLINKA_OS_AGNOSTIC); only the lowest write call,
# neopixel_write(pin, buf) of that board, is replaced by a recorder. The ESP32 side is
# firmware/panels_np.py + firmware/output.py on the MicroPython neopixel stand-in.
import copy
import sys

import numpy as np
import pytest

from conftest import FIXTURES, ROOT
from firmware.app import App
from firmware.engine import Engine
from firmware.panels_np import NeoPixelPanels
from firmware.profile import ProfileError, load_profile, read_profile
from host_tools import blinka_sink
from host_tools.audio import load
from host_tools.blinka_sink import BlinkaError, BlinkaPanels

pytest.importorskip("adafruit_blinka")

_BLINKA_MODULES = ("board", "digitalio", "neopixel", "neopixel_write", "microcontroller", "adafruit_pixelbuf",
                   "adafruit_blinka", "adafruit_platformdetect", "busio", "analogio", "pwmio")
# distinct output pins of Blinka's OS-agnostic test board
AGNOSTIC_PINS = ("NEOPIXEL", "Dx_OUTPUT", "DOTSTAR_DATA", "DOTSTAR_CLK", "Ax_OUTPUT", "Dx_INPUT_TRUE")


def _purge():
    for name in list(sys.modules):
        if name.split(".")[0] in _BLINKA_MODULES:
            del sys.modules[name]


@pytest.fixture
def blinka(monkeypatch):
    # Real Blinka on its OS-agnostic board; yields (board, neopixel, writes) where writes collects
    # (gpio number, bytes) for every neopixel_write call.
    _purge()
    monkeypatch.setenv("BLINKA_OS_AGNOSTIC", "1")
    monkeypatch.delenv("BLINKA_FORCEBOARD", raising=False)
    monkeypatch.delenv("BLINKA_FORCECHIP", raising=False)
    board, neopixel = blinka_sink.load_blinka()
    from adafruit_blinka.microcontroller.generic_agnostic_board import neopixel as lowest

    writes = []
    monkeypatch.setattr(lowest, "neopixel_write", lambda gpio, buf: writes.append((gpio._pin.id, bytes(buf))))
    yield board, neopixel, writes
    _purge()


class ArraySource:
    # read_hop from an int16 array, then -1 (the end), like firmware.pcm_source.
    def __init__(self, samples, hop):
        self.samples = samples
        self.hop = hop
        self.pos = 0
        self.dropped = 0

    def read_hop(self, dst):
        if self.pos + self.hop > len(self.samples):
            return -1
        dst[:] = memoryview(self.samples[self.pos:self.pos + self.hop].tobytes()).cast("h")
        self.pos += self.hop
        return 1


def _samples(seconds=3.0):
    s, _ = load(FIXTURES + "/mix_clean.flac", 16000)
    return s[:int(seconds * 16000)]


def _dress(budget=None):
    raw = read_profile(ROOT + "/boards/esp32s3-dress.json")
    d = {k: copy.deepcopy(raw[k]) for k in ("name", "chip", "sample_rate", "fft_size", "hop", "source", "sink", "power")}
    d["panels"] = [{k: p[k] for k in ("name", "pin", "count", "order", "layout", "mode", "palette")} for p in raw["panels"]]
    if budget is not None:
        d["power"]["budget_ma"] = budget
    return d


def _as_blinka(d, pins):
    b = copy.deepcopy(d)
    b["chip"] = "blinka"
    b["source"] = {"type": "alsa"}
    for p, pin in zip(b["panels"], pins):
        p["pin"] = pin
    return load_profile(b)


def _run(profile, sink, bufs, samples, config):
    eng = Engine(profile, config, bufs)
    app = App(eng, ArraySource(samples, eng.hop), sink)
    limited = 0
    while app.step() >= 0:
        limited += eng.output.limited
    return app, limited


def _esp32_streams(d, samples, config):
    from host_tools.stand_ins import machine, neopixel

    neopixel.reset_stand_in()
    neopixel.MAX_FRAMES = 100000
    prof = load_profile(d)
    panels = NeoPixelPanels(neopixel, machine, prof["panels"])
    app, limited = _run(prof, panels, panels.buffers(), samples, config)
    return [list(s.frames) for s in panels.strips], app.frames, limited


CONFIG = {"params": {"brightness": 255}}


def test_same_bytes_as_the_esp32_panel_for_panel(blinka):
    board, neopixel, writes = blinka
    samples = _samples()
    d = _dress(budget=900)  # a low budget so the current limiter scales many frames
    esp, frames, limited = _esp32_streams(d, samples, CONFIG)
    assert frames > 300 and limited > 10
    prof = _as_blinka(d, AGNOSTIC_PINS)
    sink = BlinkaPanels(prof["panels"], board, neopixel)
    _, limited_b = _run(prof, sink, sink.buffers(), samples, CONFIG)
    assert limited_b == limited
    ids = [getattr(board, n).id for n in AGNOSTIC_PINS]
    for i, pid in enumerate(ids):
        got = [b for (g, b) in writes if g == pid]
        assert len(got) == frames
        assert got == esp[i], "panel %d (%s) differs" % (i, prof["panels"][i]["name"])
    # the frames are not trivially dark, and the RGBW belt extracted white
    assert sum(any(f) for f in esp[0]) > frames // 2
    belt = np.frombuffer(b"".join(esp[5]), dtype=np.uint8).reshape(-1, 4)
    assert belt[:, 3].max() > 0


def test_a_chain_on_one_pin_sends_the_panels_back_to_back(blinka):
    board, neopixel, writes = blinka
    samples = _samples(2.0)
    d = _dress()
    esp, frames, _ = _esp32_streams(d, samples, None)
    # the five RGB panels chained on one pin, the RGBW belt on its own
    prof = _as_blinka(d, ["NEOPIXEL"] * 5 + ["Dx_OUTPUT"])
    sink = BlinkaPanels(prof["panels"], board, neopixel)
    assert len(sink.strips) == 2 and sink.bytes_per_frame == 288 * 3 + 12 * 4
    _run(prof, sink, sink.buffers(), samples, None)
    chain = [b for (g, b) in writes if g == board.NEOPIXEL.id]
    belt = [b for (g, b) in writes if g == board.Dx_OUTPUT.id]
    assert len(chain) == len(belt) == frames
    assert chain == [b"".join(esp[i][k] for i in range(5)) for k in range(frames)]
    assert belt == esp[5]


def test_show_bytes_and_close_blank_the_strips(blinka):
    board, neopixel, writes = blinka
    prof = _as_blinka(_dress(), ["NEOPIXEL"] * 5 + ["Dx_OUTPUT"])
    sink = BlinkaPanels(prof["panels"], board, neopixel)
    frame = bytes(range(256)) * 4
    frame = frame[:sink.bytes_per_frame]
    sink.show_bytes(frame)
    assert [b for _, b in writes] == [frame[:864], frame[864:]]
    with pytest.raises(ValueError):
        sink.show_bytes(frame + b"x")
    writes.clear()
    sink.close()
    assert [b for _, b in writes] == [bytes(864), bytes(48)]


def test_pi_zero_vest_profile_loads_as_one_chain():
    prof = read_profile(ROOT + "/boards/pi-zero-vest.json")
    assert prof["chip"] == "blinka" and prof["source"]["type"] == "alsa"
    assert blinka_sink.chains(prof["panels"]) == [("D18", 3, "GRB", [0, 1, 2])]


def test_profile_rules_for_blinka_pins():
    base = {"chip": "blinka", "source": {"type": "alsa"}}
    with pytest.raises(ProfileError, match=r'panels\[0\]\.pin: expected a Blinka pin name such as "D18"'):
        load_profile(dict(base, panels=[{"pin": 18, "count": 3}]))
    with pytest.raises(ProfileError, match="must follow each other"):
        load_profile(dict(base, panels=[{"pin": "D18", "count": 3}, {"pin": "D12", "count": 3}, {"pin": "D18", "count": 3}]))
    with pytest.raises(ProfileError, match=r"panels\[1\]\.order: .*give this panel its own pin"):
        load_profile(dict(base, panels=[{"pin": "D18", "count": 3}, {"pin": "D18", "count": 3, "order": "GRBW"}]))
    with pytest.raises(ProfileError, match="source.type: on a Linux host"):
        load_profile({"chip": "blinka", "source": {"type": "i2s", "mic": "inmp441"}, "panels": [{"pin": "D18", "count": 1}]})
    with pytest.raises(ProfileError, match="source.type: 'alsa' is a Linux host's microphone"):
        load_profile({"chip": "esp32", "source": {"type": "alsa"}, "panels": [{"pin": 13, "count": 1}]})


# --- clear messages -----------------------------------------------------------------------------

def test_missing_blinka_names_the_package(monkeypatch):
    _purge()
    monkeypatch.setitem(sys.modules, "board", None)
    with pytest.raises(BlinkaError, match="Blinka is not installed: pip install 'threadbeat\\[pi\\]'.*adafruit-blinka"):
        blinka_sink.load_blinka()
    _purge()


def test_missing_neopixel_library_names_the_package(monkeypatch):
    _purge()
    monkeypatch.setenv("BLINKA_OS_AGNOSTIC", "1")
    monkeypatch.setitem(sys.modules, "neopixel", None)
    with pytest.raises(BlinkaError, match="pip install adafruit-circuitpython-neopixel"):
        blinka_sink.load_blinka()
    _purge()


def test_this_computer_is_not_a_neopixel_board(monkeypatch):
    # Real detection on this (non-Pi) machine: Blinka imports `board` but has no NeoPixel driver.
    _purge()
    for v in ("BLINKA_OS_AGNOSTIC", "BLINKA_FORCEBOARD", "BLINKA_FORCECHIP"):
        monkeypatch.delenv(v, raising=False)
    if blinka_sink.pi_model() is not None:
        pytest.skip("running on a Raspberry Pi")
    with pytest.raises(BlinkaError, match=r"(cannot drive NeoPixels on this board|does not support this computer|Blinka: )"):
        blinka_sink.load_blinka()
    _purge()


def test_unknown_pin_and_pi_pin_rules(blinka):
    board, neopixel, _ = blinka
    prof = _as_blinka(_dress(), ["D18"] * 5 + ["D12"])
    with pytest.raises(BlinkaError, match="pin D18: this board .* has no such pin"):
        BlinkaPanels(prof["panels"], board, neopixel)

    class Pin:
        def __init__(self, i):
            self.id = i

    class PiBoard:
        D5, D12, D18 = Pin(5), Pin(12), Pin(18)

    d = _dress()
    d["panels"] = d["panels"][:3]
    with pytest.raises(BlinkaError, match="pin D5: a Raspberry Pi 1-4/Zero drives NeoPixels only on GPIO 10, 12, 13, 18, 19 or 21"):
        BlinkaPanels(_as_blinka(d, ["D5"] * 3)["panels"], PiBoard, neopixel, model="pi")


def test_one_strip_per_pi_and_permission_messages(blinka, monkeypatch):
    board, neopixel, _ = blinka
    prof = _as_blinka(_dress(), ["NEOPIXEL"] * 5 + ["Dx_OUTPUT"])
    monkeypatch.setattr(blinka_sink, "PI_LED_PINS", (board.NEOPIXEL.id, board.Dx_OUTPUT.id))
    with pytest.raises(BlinkaError, match="drives one NeoPixel strip through Blinka; chain the panels"):
        BlinkaPanels(prof["panels"], board, neopixel, model="pi")


def test_driver_errors_become_one_line_with_the_fix(blinka, monkeypatch):
    board, neopixel, _ = blinka
    d = _dress()
    d["panels"] = d["panels"][:2]
    prof = _as_blinka(d, ["NEOPIXEL", "NEOPIXEL"])
    monkeypatch.setattr(blinka_sink, "PI_LED_PINS", (board.NEOPIXEL.id,))
    sink = BlinkaPanels(prof["panels"], board, neopixel, model="pi")
    from adafruit_blinka.microcontroller.generic_agnostic_board import neopixel as lowest

    def sudo(gpio, buf):  # the message Blinka's Raspberry Pi driver raises without root
        raise RuntimeError("NeoPixel support requires running with sudo, please try again!")

    monkeypatch.setattr(lowest, "neopixel_write", sudo)
    with pytest.raises(BlinkaError, match="run as root"):
        sink.show()

    class DeniedNeoPixel:
        def __init__(self, *a, **k):
            raise PermissionError(13, "Permission denied", "/dev/gpiochip0")

    class Mod:
        NeoPixel = DeniedNeoPixel

    with pytest.raises(BlinkaError, match="no permission to use the GPIO.*gpio group"):
        BlinkaPanels(prof["panels"], board, Mod)


def test_a_pixelbuf_without_a_visible_buffer_uses_the_library_transmit(blinka):
    # Another pixelbuf implementation (no _post_brightness_buffer): the sink keeps its own buffer and
    # hands it to the strip's transmit call; the wire bytes are the same.
    board, neopixel, writes = blinka

    class Hidden(neopixel.NeoPixel):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self._post_brightness_buffer = None

    class Mod:
        NeoPixel = Hidden

    samples = _samples(1.0)
    d = _dress()
    esp, frames, _ = _esp32_streams(d, samples, None)
    prof = _as_blinka(d, AGNOSTIC_PINS)
    sink = BlinkaPanels(prof["panels"], board, Mod)
    _run(prof, sink, sink.buffers(), samples, None)
    for i, name in enumerate(AGNOSTIC_PINS):
        assert [b for (g, b) in writes if g == getattr(board, name).id] == esp[i]


def test_platform_driver_modules_map_to_their_packages(monkeypatch):
    # Blinka imports the Pi's drivers under other names than their packages carry.
    assert blinka_sink.pip_name("_rpi_ws281x") == "rpi_ws281x"
    assert blinka_sink.pip_name("adafruit_raspberry_pi5_neopixel_write") == "Adafruit-Blinka-Raspberry-Pi5-Neopixel"
    _purge()
    monkeypatch.setenv("BLINKA_OS_AGNOSTIC", "1")
    import board  # noqa: F401  (Blinka itself is there)

    real = __import__

    def imp(name, *a, **k):
        if name == "neopixel":
            e = ModuleNotFoundError("No module named '_rpi_ws281x'")
            e.name = "_rpi_ws281x"
            raise e
        return real(name, *a, **k)

    monkeypatch.setattr("builtins.__import__", imp)
    with pytest.raises(BlinkaError, match="needs the Python module '_rpi_ws281x': pip install rpi_ws281x$"):
        blinka_sink.load_blinka()
    monkeypatch.undo()
    _purge()
