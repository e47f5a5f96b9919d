# The C port in bench/c_fft (the baseline of the viper-vs-C FFT benchmark) is bit-identical to firmware/fft.py.
# Without that the benchmark would compare different algorithms; skipped when gcc is missing.
import importlib.util
import os
import random
import shutil

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("c_fft_run", os.path.join(ROOT, "bench", "c_fft", "run.py"))
c_fft = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(c_fft)

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not found (needed to build bench/c_fft)")


@pytest.fixture(scope="module")
def exe(tmp_path_factory):
    return c_fft.build(str(tmp_path_factory.mktemp("c_fft")))[0]  # -m32, or -m64 without multilib


def _frames(n):
    rng = random.Random(n)
    yield c_fft.make_frame(n)  # tones + noise, windowed: several block shifts
    yield c_fft.make_frame(n, seed=2, amp=40)  # quiet: few or no shifts
    yield [rng.choice((-32768, 32767)) for _ in range(n)]  # full-scale rails, unwindowed
    yield [rng.randint(-5, 5) for _ in range(n)]  # a few LSBs
    yield [0] * n
    yield [32767 if i == 3 else 0 for i in range(n)]  # impulse


@pytest.mark.parametrize("n", [256, 512, 1024])
def test_c_port_is_bit_identical(exe, n):
    for k, frame in enumerate(_frames(n)):
        sh, want = c_fft.run_python(n, frame)
        got = c_fft.run_c(exe, n, frame, reps=10)
        assert got["shifts"] == sh, f"frame {k}"
        assert got["data"] == want, f"frame {k}: {sum(a != b for a, b in zip(got['data'], want))} values differ"


def test_m64_build_is_bit_identical_too(tmp_path, monkeypatch):
    monkeypatch.setenv("C_FFT_M64", "1")
    exe64, is32 = c_fft.build(str(tmp_path))
    assert not is32
    frame = c_fft.make_frame(512)
    assert c_fft.run_c(exe64, 512, frame)["data"] == c_fft.run_python(512, frame)[1]
