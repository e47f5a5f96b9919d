# What every viper twin must do outside the 32-bit unix port (tests/test_*_viper.py check each twin's
# arithmetic): refuse CPython, fail as a SyntaxError in the WebAssembly VM (no native emitter) with its
# portable module falling back, and compile with mpy-cross for the ESP32 chips (xtensawin: ESP32, S3;
# rv32imc: C3) and x86 (the unix port the benchmarks use).
import importlib
import os
import subprocess

import pytest

import mpvm
import viper_sim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# kernel module -> the portable module that imports it in a try
TWINS = {"fft_viper": "fft", "spectrum_viper": "spectrum", "analyzer_viper": "analyzer",
         "kick_viper": "kick", "kick_mlp_viper": "kick_mlp", "mapper_viper": "mapper", "output_viper": "output"}


def test_every_viper_module_is_covered():
    found = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "firmware")) if f.endswith("_viper.py"))
    assert found == sorted(TWINS)


@pytest.mark.parametrize("kernel", sorted(TWINS))
def test_cpython_refuses_the_kernel_and_the_portable_module_falls_back(kernel):
    with pytest.raises(ImportError):
        importlib.import_module("firmware." + kernel)
    assert importlib.import_module("firmware." + TWINS[kernel])._viper is None


@mpvm.requires_vm
def test_the_webassembly_vm_rejects_every_kernel_with_syntax_error():
    # Why the portable modules import them in try/except (ImportError, SyntaxError, ValueError).
    code = "".join(
        "try:\n    import firmware.%s\n    print('imported')\nexcept SyntaxError:\n    print('SyntaxError')\n"
        "import firmware.%s as m\nprint(m._viper)\n" % (k, TWINS[k]) for k in sorted(TWINS))
    assert mpvm.run_micropython(code).split() == ["SyntaxError", "None"] * len(TWINS)


@pytest.mark.skipif(not viper_sim.HAVE_MPY_CROSS, reason="mpy-cross not found")
@pytest.mark.parametrize("arch", ["xtensawin", "rv32imc", "x86"])
@pytest.mark.parametrize("kernel", sorted(TWINS))
def test_mpy_cross_compiles_the_kernel_to_native_code(tmp_path, kernel, arch):
    out = tmp_path / ("%s_%s.mpy" % (kernel, arch))
    r = subprocess.run([viper_sim.MPY_CROSS, "-march=" + arch, "-o", str(out), os.path.join(ROOT, "firmware", kernel + ".py")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    head = out.read_bytes()[:4]
    assert head[:1] == b"M" and head[2] >> 2 != 0  # an architecture in the header: native code inside
    assert out.stat().st_size > 200
