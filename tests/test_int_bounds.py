# Every per-hop integer in the firmware stays inside the ESP32's 31-bit small-int range
# (|v| < 2**30), under hostile audio and extreme parameters; see tests/intbounds.py for how.
import json
import os
import subprocess
import sys

from conftest import ROOT

SCRIPT = r"""
import json, random, sys
sys.path.insert(0, %(root)r); sys.path.insert(0, %(tests)r)
import intbounds
intbounds.install(%(root)r)
from firmware.engine import Engine
from firmware.profile import read_profile

def signals(fs, n):
    rnd = random.Random(7)
    yield "square", [32767 if (i // 40) %% 2 else -32768 for i in range(n)]
    yield "noise", [rnd.randint(-32768, 32767) for _ in range(n)]
    yield "silence", [0] * n
    yield "one_lsb", [rnd.choice((-1, 0, 1)) for _ in range(n)]
    yield "dc_rail", [32767] * (n // 2) + [-32768] * (n // 2)
    yield "impulses", [32767 if i %% 4000 == 0 else 0 for i in range(n)]
    yield "bursts", [rnd.randint(-32768, 32767) if (i // 3000) %% 2 else rnd.randint(-3, 3) for i in range(n)]

extreme = [
    {},
    {"rise": 256, "decay": 256, "agc_range": 6, "gate": 0, "floor_rise": 30, "agc_release": 60,
     "agc_hold": 0, "sensitivity": 100, "refractory": 40, "speed": 255, "brightness": 255, "gamma": 30},
    {"rise": 1, "decay": 1, "agc_range": 48, "gate": 30, "floor_rise": 1, "agc_release": 1,
     "agc_hold": 5000, "sensitivity": 0, "refractory": 1000, "speed": 0, "gamma": 10},
]
hops = 0
modes = ("pulse", "sweep", "spectrum", "ripple", "vu", "sparkle", "solid", "breathe")
for board in ("esp32-jacket", "esp32s3-dress"):
    prof = read_profile("%(root)s/boards/" + board + ".json")
    for params in extreme:
        for rot in (0, 4):  # every mode on some panel across the two rotations
            panels = {}
            for i, p in enumerate(prof["panels"]):
                panels[p["name"]] = {"mode": modes[(i + rot) %% 8], "palette": "rainbow"}
            eng = Engine(prof, {"params": params, "panels": panels})
            for name, x in signals(prof["sample_rate"], 6400):
                hop = eng.hop
                for h in range(len(x) // hop):
                    buf = eng.hop_buffer()
                    for i in range(hop):
                        buf[i] = x[h * hop + i]
                    intbounds.STATE["armed"] = True
                    eng.process()
                    eng.render(eng.hop_time_ms(eng.hops))
                    intbounds.STATE["armed"] = False
                    hops += 1
print(json.dumps({"hops": hops, "worst": intbounds.STATE["worst"]}))
"""


def test_no_per_hop_intermediate_reaches_2_to_the_30():
    code = SCRIPT % {"root": ROOT, "tests": os.path.join(ROOT, "tests")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["hops"] > 4000
    assert out["worst"] == {}, "values beyond the ESP32 small-int range: %s" % out["worst"]
