# CPython stand-ins for MicroPython's `machine`, `neopixel` and `micropython` modules (host tests only).
# install() puts this directory on sys.path so firmware/main.py and the adapters import them unchanged on a laptop.
#
# Tests that only need the objects can import them without touching sys.path:
#     from host_tools.stand_ins import machine, neopixel
# (those are separate module objects from the top-level `machine` that install() exposes; reset()
# clears both). Tests that run firmware code which does `import machine` use install()/uninstall().
import os
import sys

PATH = os.path.dirname(os.path.abspath(__file__))
_NAMES = ("machine", "neopixel", "micropython")


def install():
    # Make `import machine`, `import neopixel` and `import micropython` find the stand-ins.
    # Returns the directory; idempotent.
    if PATH not in sys.path:
        sys.path.insert(0, PATH)
    return PATH


def _ours(mod):
    f = getattr(mod, "__file__", None) or ""
    return os.path.dirname(os.path.abspath(f)) == PATH if f else False


def uninstall():
    # Undo install(): drop the directory from sys.path and forget the top-level stand-in modules,
    # so later code sees plain CPython again (firmware.compat falls back to its own const).
    while PATH in sys.path:
        sys.path.remove(PATH)
    for name in _NAMES:
        mod = sys.modules.get(name)
        if mod is not None and _ours(mod):
            del sys.modules[name]


def reset():
    # Forget every stand-in object made so far (I2S/WDT/NeoPixel instance lists, feeders, counters)
    # in every loaded copy of the stand-ins, for test isolation.
    for name in _NAMES:
        for key in (name, __name__ + "." + name):
            mod = sys.modules.get(key)
            if mod is not None and _ours(mod) and hasattr(mod, "reset_stand_in"):
                mod.reset_stand_in()
