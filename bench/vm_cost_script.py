# MicroPython side of bench/vm_cost.py: runs inside a desk bundle (VM or unix port) and prints one JSON line.
# Measures per-hop cost by stage and the bytes allocated per hop of the steady loop.
#
# bench/vm_cost.py prepends the settings: MODE ("time" or "alloc"), WARM (hops before measuring),
# HOPS (hops measured), BLOCK (hops per timed block). "time": blocks of plain app.step() alternate
# with blocks in which every stage's method is wrapped in a timer; HOPS hops of each kind. "alloc": gc.mem_alloc() around HOPS hops of the steady loop (locals
# only: a new global would grow the globals dict inside the measurement). The heap after start-up
# is measured by bench/vm_cost.py itself (HEAP_STEPS there), since the VM collects garbage only
# between top-level calls.
import gc
import json
import sys
from array import array
from time import ticks_diff, ticks_us

STAGES = ("read", "spectrum", "fft", "analyzer", "mapper", "output", "sink", "step")
_acc = array("i", [0] * len(STAGES))


def _wrap0(obj, name, k):
    f = getattr(obj, name)

    def timed():
        t = ticks_us()
        r = f()
        _acc[k] += ticks_diff(ticks_us(), t)
        return r

    return timed


def _wrap1(obj, name, k):
    f = getattr(obj, name)

    def timed(a):
        t = ticks_us()
        r = f(a)
        _acc[k] += ticks_diff(ticks_us(), t)
        return r

    return timed


def _wrap2(obj, name, k):
    f = getattr(obj, name)

    def timed(a, b):
        t = ticks_us()
        r = f(a, b)
        _acc[k] += ticks_diff(ticks_us(), t)
        return r

    return timed


def _loaded():
    return sorted(m for m in sys.modules if m.startswith("firmware"))


def time_run():
    from firmware.app import build

    app = build("")
    eng = app.engine
    n = 0
    for i in range(WARM):
        n += app.step()
    # (object, method, timer): instance attributes that shadow the methods while they are set
    timers = []
    for obj, name, wrap, k in ((app.source, "read_hop", _wrap1, 0), (eng.spectrum, "push", _wrap0, 1),
                               (eng.spectrum.fft, "run", _wrap1, 2), (eng.analyzer, "update", _wrap2, 3),
                               (eng.mapper, "render", _wrap2, 4), (eng.output, "show", _wrap1, 5),
                               (app.sink, "show", _wrap0, 6)):
        timers.append((obj, name, wrap(obj, name, k)))
    plain = []
    stages = {}
    for name in STAGES:
        stages[name] = []
    # Blocks alternate: BLOCK hops of plain app.step() (the honest total), then BLOCK hops with
    # every stage timed, so a burst of other load on the machine hits both alike.
    for b in range(HOPS // BLOCK):
        t = ticks_us()
        for i in range(BLOCK):
            n += app.step()
        plain.append(ticks_diff(ticks_us(), t))
        for obj, name, timed in timers:
            setattr(obj, name, timed)
        for k in range(len(STAGES)):
            _acc[k] = 0
        for i in range(BLOCK):
            t = ticks_us()
            n += app.step()
            _acc[7] += ticks_diff(ticks_us(), t)
        for obj, name, timed in timers:
            delattr(obj, name)
        for k in range(len(STAGES)):
            stages[STAGES[k]].append(_acc[k])
    if n != WARM + 2 * BLOCK * (HOPS // BLOCK):
        raise SystemExit("the audio ended early: %d hops" % n)
    print(json.dumps({"pixels": eng.total, "block": BLOCK, "plain": plain, "stages": stages,
                      "modules": _loaded(), "platform": sys.platform}))


def alloc_run():
    from firmware.app import build

    app = build("")
    n = 0
    for i in range(WARM):
        n += app.step()
    gc.collect()
    a = gc.mem_alloc()
    for i in range(HOPS):
        n += app.step()
    b = gc.mem_alloc()
    print(json.dumps({"pixels": app.engine.total, "hops": n - WARM, "alloc_bytes": b - a, "platform": sys.platform}))


if MODE == "time":  # noqa: F821 (set by bench/vm_cost.py)
    time_run()
else:
    alloc_run()
