# Typed uses of threadbeat's hardware adapters with the ESP32's own machine and neopixel modules (micropython-esp32-stubs).
# Read by mypy only (tests/test_typecheck.py), never run: it proves the real modules fit what the adapters take from them.
#
# The firmware has no annotations, so mypy would see the adapters' `machine_module`, `i2s`, ...
# parameters as Any and check none of the calls made on them. tests/test_typecheck.py therefore
# checks a copy of firmware/ in which those parameters (and nothing else) are annotated with the
# types below, on the same lines, so every I2S/Pin/NeoPixel/WDT call in the adapters is checked
# against the stubs. This file closes the loop: it passes the real modules where those protocols
# are expected (mypy accepts a module for a protocol when it has every member with its type).
from typing import Protocol

import machine
import neopixel

from firmware.app import App
from firmware.mic_i2s import I2SMic, make_i2s
from firmware.panels_np import NeoPixelPanels


class MachineModule(Protocol):
    # What the adapters take from `machine`.
    @property
    def I2S(self) -> type[machine.I2S]: ...

    @property
    def Pin(self) -> type[machine.Pin]: ...


class NeoPixelModule(Protocol):
    # What NeoPixelPanels takes from `neopixel`.
    @property
    def NeoPixel(self) -> type[neopixel.NeoPixel]: ...


JACKET_MIC = {"type": "i2s", "mic": "inmp441", "i2s_id": 0, "sck": 14, "ws": 15, "sd": 32}
PANELS = [{"name": "collar", "pin": 27, "count": 16, "bpp": 3}]


def microphone() -> I2SMic:
    i2s: machine.I2S = make_i2s(machine, JACKET_MIC, 16000, 128)
    return I2SMic(i2s, "inmp441", 128)


def panels() -> NeoPixelPanels:
    p = NeoPixelPanels(neopixel, machine, PANELS)
    strip: neopixel.NeoPixel = p.strips[0]
    strip.write()
    return p


def watchdog(app: App) -> None:
    app.wdt = machine.WDT(timeout=5000)
    app.step()
