# The kick model's ensemble: KickModel with an MLP (firmware/kick_mlp.py's PatchMLP) beside its trees scores
# (trees + mlp) >> 1 hop for hop; host_tools/fastkick.kick_scores gives the Analyzer's own frame-path scores
# and replay's fast path its frame path; the Analyzer with an MLP runs on real MicroPython (the WebAssembly
# VM: bytecode) and on the 32-bit unix port (viper) with CPython's scores and beats and without allocating
# a hop. The default model takes kick_weights.MLP where there is one; a model without one (the small
# filesystem model) never imports kick_mlp and scores as the trees always did.
import json
import os
import shutil
import subprocess
import sys
from array import array

import numpy as np
import pytest

from conftest import FIXTURES, ROOT
from firmware import kick_weights
from firmware.analyzer import Analyzer
from firmware.kick import KickModel
from firmware.kick_mlp import N_X, PatchMLP
from firmware.params import Params
from firmware.profile import read_profile
from firmware.spectrum import N_LEVELS
from host_tools import build, fastkick, fastmlp, replay
from host_tools.audio import load
from mpunix import firmware_root, requires_unix32, run_unix32
from mpvm import requires_vm, run_micropython
from test_analyzer_viper import FS, HOP, real_levels, synthetic_levels
from test_vm_engine import desk_bundle

JACKET = os.path.join(ROOT, "boards", "esp32-jacket.json")


def random_mlp(seed=1, nh=16, b2=40000):
    """A PatchMLP model tuple inside its bounds, from seeded numpy: int8 weights of a normal spread (none on the
    whole-range level's input, which is always 0), small multipliers with each unit's least shift (0 for these
    weights), biases that leave the hidden units between their rails about a quarter of the time on music,
    and b2 that puts the MLP's scores near the trees' (seed 1: the ensemble fires on the fixture, on hops
    the trees alone do not all share)."""
    rng = np.random.default_rng(seed)
    w1 = np.clip(np.round(rng.normal(0, 24, (nh, N_X))), -128, 127).astype(np.int64)
    w1[:, N_LEVELS - 1::N_LEVELS] = 0
    m1 = rng.integers(8, 64, nh) * rng.choice((-1, 1), nh)
    b1 = rng.integers(-(1 << 23), 1 << 23, nh)
    a = 2047 * np.abs(w1).sum(axis=1)  # the bound of each unit's |acc|
    s1 = [next(s for s in range(27) if ((int(a[u]) >> s) + 1) * abs(int(m1[u])) + abs(int(b1[u])) < 1 << 30)
          for u in range(nh)]
    w2 = rng.integers(-128, 128, nh)
    return (w1.astype(np.int8).tobytes(), array("h", m1.tolist()), array("i", b1.tolist()), bytes(s1),
            w2.astype(np.int8).tobytes(), 1, b2, 1)


def full_model(mlp):
    return (kick_weights.TREES, kick_weights.BIAS, kick_weights.SCALE, kick_weights.THRESHOLD, mlp)


def trees_model():
    return (kick_weights.TREES, kick_weights.BIAS, kick_weights.SCALE, kick_weights.THRESHOLD)


def frame_path(levels, model, warm=4):
    """The Analyzer fed hop by hop (it primes, then computes features and scores itself): per hop its kick
    score (None during the warm-up; score() again after update() gives the one update() used, it only
    reads the model's state), beat and onset."""
    an = Analyzer(Params(), FS, HOP, warm, model)
    out = []
    for h, row in enumerate(levels):
        f = an.update(array("h", row), h * 8)
        out.append((an.kick.score() if h >= warm else None, f.beat, f.onset))
    return an, out


@pytest.fixture(scope="module")
def mix():
    return real_levels("mix_garment", 10.0)


def test_the_factory_makes_an_mlp_that_matters(mix):
    # the tests below mean something only if the MLP moves the scores and the beats
    mlp = random_mlp()
    PatchMLP(mlp)
    assert list(mlp[3]) == [0] * 16  # small weights: no first-layer shift needed
    h = fastmlp.hidden(mix, mlp, 4)
    assert 0.1 < np.mean((h > 0) & (h < 255)) < 0.9
    _, ens = frame_path(mix, full_model(mlp))
    _, trees = frame_path(mix, trees_model())
    assert np.mean([e[0] != t[0] for e, t in zip(ens[4:], trees[4:])]) > 0.99
    beats_e = {h for h, e in enumerate(ens) if e[1]}
    beats_t = {h for h, t in enumerate(trees) if t[1]}
    assert len(beats_e) >= 5 and beats_e != beats_t


# --- the ensemble score -------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["recording", "synthetic"])
def test_ensemble_score_is_the_mean_of_trees_and_mlp_hop_for_hop(stream, mix):
    levels = mix if stream == "recording" else synthetic_levels(3, 720)
    mlp = random_mlp(2)
    ens = KickModel(kick_weights.TREES, kick_weights.BIAS, mlp)
    trees = KickModel(kick_weights.TREES, kick_weights.BIAS)
    net = PatchMLP(mlp)
    assert isinstance(ens.mlp, PatchMLP) and trees.mlp is None
    floor = array("i", [-3000 << 4] * N_LEVELS)  # any floors: both models get the same
    got, want = [], []
    for t, row in enumerate(levels):
        lv = array("h", row)
        if t < 4:
            ens.prime(lv)
            trees.prime(lv)
            net.prime(lv)
            continue
        assert list(ens.features(lv, floor)) == list(trees.features(lv, floor))
        net.push(lv)
        got.append(ens.score())
        want.append((trees.score() + net.score()) >> 1)
    assert got == want
    assert len(set(got)) > 50


def test_ensemble_refuses_a_bias_that_could_break_its_bound():
    # |trees| < 2**23 needs |bias| < 2**15 beside 255 int16 leaves; the trees alone keep taking any bias
    mlp = random_mlp()
    KickModel(kick_weights.TREES, 32767, mlp)
    for bias in (32768, -32768, 1 << 20):
        with pytest.raises(ValueError):
            KickModel(kick_weights.TREES, bias, mlp)
        assert KickModel(kick_weights.TREES, bias).bias == bias
    with pytest.raises(ValueError):  # PatchMLP's own checks apply (here s2 = 0)
        KickModel(kick_weights.TREES, 0, random_mlp()[:7] + (0,))


# --- the fast path ------------------------------------------------------------------------------


@pytest.mark.parametrize("warm", [1, 4, 7])
def test_fast_scores_equal_the_analyzer_s_frame_path_with_an_mlp(mix, warm):
    levels = mix + synthetic_levels(warm, 300)
    an, frame = frame_path(levels, full_model(random_mlp()), warm)
    assert an.kick.mlp is not None
    fast = fastkick.kick_scores(levels, Analyzer(Params(), FS, HOP, warm, full_model(random_mlp())))
    assert fast[warm:].tolist() == [s for s, _, _ in frame[warm:]]


def test_replay_fast_path_equals_the_frame_path_with_an_mlp_in_kick_weights(monkeypatch):
    # "full" is the engine's own model: kick_weights with its MLP; "small" stays the trees alone
    profile = read_profile(JACKET)
    x, _ = load(os.path.join(FIXTURES, "mix_garment.flac"), 16000)
    x = x[: 16000 * 3]
    trees = replay.run(x, profile, engine="fast", render=False)
    monkeypatch.setattr(kick_weights, "MLP", random_mlp(), raising=False)
    fast = replay.run(x, profile, engine="fast")
    frame = replay.run(x, profile, engine="frame")
    assert (fast.features == frame.features).all() and (fast.led == frame.led).all()
    assert fast.features[:, 6].sum() >= 1  # beats, so the comparison means something
    assert (fast.features[:, 5] != trees.features[:, 5]).any()  # the onsets: the MLP was in
    from firmware.engine import Engine

    assert Engine(profile, kick_model=replay.kick_model_for("small")).analyzer.kick.mlp is None
    assert Engine(profile).analyzer.kick.mlp is not None


# --- the default model and the lazy import --------------------------------------------------------


def test_default_model_takes_kick_weights_mlp_where_there_is_one(monkeypatch):
    monkeypatch.delattr(kick_weights, "MLP", raising=False)
    assert Analyzer(Params(), FS, HOP, 4).kick.mlp is None
    mlp = random_mlp()
    monkeypatch.setattr(kick_weights, "MLP", mlp, raising=False)
    an = Analyzer(Params(), FS, HOP, 4)
    assert an.kick.mlp is not None and an.kick.mlp.s1 is mlp[3]
    assert Analyzer(Params(), FS, HOP, 4, trees_model() + (None,)).kick.mlp is None


def test_a_model_without_mlp_does_not_import_kick_mlp():
    code = ("import sys\nfrom firmware.analyzer import Analyzer\nfrom firmware.params import Params\n"
            "from firmware import kick_weights_small as w\n"
            "an = Analyzer(Params(), 16000, 128, 4, (w.TREES, w.BIAS, w.SCALE, w.THRESHOLD))\n"
            "print('firmware.kick_mlp' in sys.modules, an.kick.mlp)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "None"]


# --- the bound of the sum -----------------------------------------------------------------------------

_BOUNDS = r"""
import json, sys
sys.path.insert(0, %(root)r); sys.path.insert(0, %(tests)r)
import intbounds
intbounds.install(%(root)r)
from array import array
from firmware import kick_weights as w
from firmware.analyzer import Analyzer
from firmware.params import Params
models, levels = json.load(open(%(path)r))
for w1, m1, b1, s1, w2, m2, b2, s2 in models:
    mlp = (bytes(w1), array('h', m1), array('i', b1), bytes(s1), bytes(w2), m2, b2, s2)
    an = Analyzer(Params(), 16000, 128, 4, (w.TREES, w.BIAS, w.SCALE, w.THRESHOLD, mlp))
    for h, row in enumerate(levels):
        lv = array('h', row)
        intbounds.STATE["armed"] = True
        an.update(lv, h * 8)
        an.kick.score()
        intbounds.STATE["armed"] = False
print(json.dumps(intbounds.STATE["worst"]))
"""


def test_the_ensemble_sum_stays_below_2_to_the_30_with_the_largest_mlp_scores(tmp_path, mix):
    # tests/intbounds.py's probes on every arithmetic result of the Analyzer's hops with an MLP whose score
    # sits near -2**29 (test_kick_mlp's worst first layer: every unit at 255; w2 = -128, m2 at its largest
    # with b2 = 0) and one near +2**29 (w2 = +127), so that trees + mlp comes as close to 2**30 as the
    # bounds allow
    from test_kick_mlp import m2_max, random_model

    worst = random_model(4, kind="worst")[:5] + (m2_max(32, 0), 0, 1)
    flip = worst[:4] + (bytes(array("b", [127] * 32)),) + worst[5:]
    levels = mix[:300] + synthetic_levels(4, 200)
    for mlp in (worst, flip):
        m = fastmlp.scores(levels, mlp, 4)
        t = fastkick.scores(fastkick.features(levels, fastkick.floors(levels, Analyzer(Params(), FS, HOP, 4)), 4),
                            KickModel(kick_weights.TREES, kick_weights.BIAS))
        assert np.abs(t + m).max() > (1 << 29) - (1 << 23)  # within the trees' range of 2**29
    path = str(tmp_path / "bounds.json")
    with open(path, "w") as f:
        json.dump([[[list(w1), list(m1), list(b1), list(s1), list(w2), m2, b2, s2]
                    for w1, m1, b1, s1, w2, m2, b2, s2 in (worst, flip)], levels], f)
    code = _BOUNDS % {"root": ROOT, "tests": os.path.join(ROOT, "tests"), "path": path}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {}


# --- real MicroPython: the WebAssembly VM (bytecode) and the 32-bit unix port (viper) ---------------

# The small (filesystem) model first: kick_mlp must stay unimported. Then the analyzer with the full trees and
# the MLP over the levels in levels.bin: per hop its score, beat and onset. The steady hops run between two
# gc.mem_alloc() readings (the VM's heap_lock hangs), and on the unix port also under heap_lock.
_VM_CODE = """
import gc
import sys
from array import array
from firmware.analyzer import Analyzer
from firmware.params import Params
from firmware import kick_weights_small as s

Analyzer(Params(), 16000, 128, 4, (s.TREES, s.BIAS, s.SCALE, s.THRESHOLD))
print('small', 'firmware.kick_mlp' in sys.modules)
from firmware import kick_weights as w
from firmware import kick, kick_mlp
from mlp_model import MLP
with open('levels.bin', 'rb') as f:
    LEVELS = array('h', f.read())
LOCK = {lock}
if LOCK:
    import micropython
print('viper', kick._viper is not None, kick_mlp._viper is not None)


def run(an, n):
    sc = array('i', [0] * n)
    beat = bytearray(n)
    onset = bytearray(n)
    lv = array('h', bytearray(40))
    locked = 'ok'
    a0 = 0
    for h in range(n):
        if h == 20:
            gc.collect()
            a0 = gc.mem_alloc()
        for j in range(20):
            lv[j] = LEVELS[h * 20 + j]
        if LOCK and h % 50 == 7:
            micropython.heap_lock()
            try:
                f = an.update(lv, h * 8)
            except MemoryError:
                locked = 'allocated'
            micropython.heap_unlock()
        else:
            f = an.update(lv, h * 8)
        sc[h] = an.kick.score()
        beat[h] = f.beat
        onset[h] = f.onset
    grew = gc.mem_alloc() - a0
    for h in range(4, n):
        print(h, sc[h], beat[h], onset[h])
    print('grew', grew, locked)


run(Analyzer(Params(), 16000, 128, 4, (w.TREES, w.BIAS, w.SCALE, w.THRESHOLD, MLP)), len(LEVELS) // 20)
"""


def vm_case(tmp_path, levels, lock):
    # the firmware, the MLP and the levels (int16, read before the measured hops) in one folder
    root = firmware_root(tmp_path)
    mlp = random_mlp()
    with open(os.path.join(root, "mlp_model.py"), "w") as f:
        f.write("from array import array\nMLP = %r\n" % (mlp,))
    with open(os.path.join(root, "levels.bin"), "wb") as f:
        f.write(array("h", [v for row in levels for v in row]).tobytes())
    _, frame = frame_path(levels, full_model(mlp))
    want = ["%d %d %d %d" % (h, s, b, o) for h, (s, b, o) in enumerate(frame) if h >= 4]
    assert any(b for _, b, _ in frame)  # beats on the stream, so the comparison means something
    return root, _VM_CODE.format(lock=lock), want


@requires_vm
def test_the_analyzer_with_an_mlp_runs_in_the_webassembly_vm_like_cpython(tmp_path, mix):
    levels = mix[:700] + synthetic_levels(8, 120)
    root, code, want = vm_case(tmp_path, levels, False)
    lines = run_micropython(code, root=root, timeout=600).strip().split("\n")
    assert lines[0] == "small False"  # the filesystem model does not load kick_mlp
    assert lines[1] == "viper False False"
    assert lines[2:-1] == want
    assert lines[-1] == "grew 0 ok", "the steady hops allocated: " + lines[-1]


@requires_unix32
def test_the_analyzer_with_an_mlp_runs_on_the_32_bit_unix_port_with_viper_like_cpython(tmp_path, mix):
    levels = mix[:700] + synthetic_levels(8, 120)
    root, code, want = vm_case(tmp_path, levels, True)
    lines = run_unix32(code, root=root, timeout=600).strip().split("\n")
    assert lines[0] == "small False"
    assert lines[1] == "viper True True"  # the trees' walk and the MLP's dot products both in viper
    assert lines[2:-1] == want
    assert lines[-1] == "grew 0 ok", "the steady hops allocated: " + lines[-1]


# The desk bundle's app with an MLP in its kick_weights (the module app.unload_boot_modules drops after
# start-up): which model it runs, whether kick_weights is gone, then the ALLOC measurement of test_vm_engine.
_APP_ALLOC = """
import gc
import sys
from firmware.app import build

def measure():
    app = build("")
    kick = app.engine.analyzer.kick
    print(kick.mlp is not None, 'firmware.kick_weights' in sys.modules)
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
def test_desk_main_with_an_mlp_in_kick_weights_runs_in_the_vm_like_cpython(tmp_path):
    out, _ = desk_bundle(tmp_path, 1400 * 128 / 16000)  # hops enough for _APP_ALLOC
    with open(out / "firmware" / "kick_weights.py", "a") as f:
        f.write("\nfrom array import array\nMLP = %r\n" % (random_mlp(),))
    for name in build.MLP_MODULES:  # what `threadbeat build` adds for weights with an MLP (build.has_mlp)
        shutil.copyfile(os.path.join(ROOT, "firmware", name), out / "firmware" / name)
    pcm = (out / "audio.pcm").read_bytes()
    (out / "audio.pcm").write_bytes(pcm[:2 * 16000 * 4])  # main.py: 4 s are enough
    r = subprocess.run([sys.executable, "main.py"], cwd=out, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(out)))
    assert r.returncode == 0, r.stderr
    cpy = ((out / "events.json").read_bytes(), (out / "frames.bin").read_bytes())
    for f in ("events.json", "frames.bin", "boot.cnt"):
        (out / f).unlink()
    vm_dir = tmp_path / "vm"
    vm_dir.mkdir()
    run_micropython(open(out / "main.py").read(), root=str(out), timeout=600,
                    collect={"events.json": str(vm_dir / "events.json"), "frames.bin": str(vm_dir / "frames.bin")})
    assert ((vm_dir / "events.json").read_bytes(), (vm_dir / "frames.bin").read_bytes()) == cpy
    assert b'"beats": [0.' in cpy[0]
    (out / "audio.pcm").write_bytes(pcm)
    model, left, hops, grew = run_micropython(_APP_ALLOC, root=str(out), timeout=600).split()
    assert (model, left, hops) == ("True", "False", "1000")
    assert grew == "0", "the frame loop allocated %s bytes over 1000 hops" % grew
