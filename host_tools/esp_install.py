# `threadbeat flash --micropython FIRMWARE.bin`: write MicroPython itself onto an ESP32 with esptool when
# the board has none (or one older than flash.MIN_MICROPYTHON), before the garment's files are copied.
# The esptool command lines and the checks are pure functions; `run` is injectable so tests need no board.
import os
import re
import subprocess
import sys

from host_tools.errors import CommandError

# Where a micropython.org "firmware.bin" (bootloader + partition table + app, one image) goes per chip.
OFFSET = {"esp32": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0}
# The image header's chip id (u16 at byte 12 of the first image, the bootloader's): esptool's numbering.
IMAGE_CHIP_ID = {0x0000: "esp32", 0x0002: "esp32s2", 0x0005: "esp32c3", 0x0009: "esp32s3", 0x000C: "esp32c2",
                 0x000D: "esp32c6"}
ESPTOOL_TIMEOUT = 300.0  # seconds: erasing 4 MB takes ~15 s, writing 1.6 MB at 460800 baud ~40 s


def esptool_base():
    return [sys.executable, "-m", "esptool"]


def image_chip(path):
    # The chip a firmware image is built for, from its header; CommandError when it is no ESP image.
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as e:
        raise CommandError("cannot read MicroPython firmware %s: %s" % (path, e.strerror or e)) from None
    if len(head) < 24 or head[0] != 0xE9:
        raise CommandError("%s is not an ESP32 firmware image (no 0xE9 header); download the .bin for your board "
                           "from micropython.org/download" % path)
    cid = head[12] | head[13] << 8
    return IMAGE_CHIP_ID.get(cid, "chip id %d" % cid)


def parse_chip(text):
    # The chip esptool detected ("Detecting chip type... ESP32-S3", "Chip is ESP32-D0WD-V3 (revision 3)",
    # "Chip type: ESP32-C3 (QFN32)"), as a profile chip name (esp32, esp32s3, esp32c3 …), or None.
    m = (re.search(r"Detecting chip type\.*\s*(ESP32[-\w]*)", text) or re.search(r"Chip is (ESP32[-\w]*)", text)
         or re.search(r"Chip type:\s*(ESP32[-\w]*)", text))
    if not m:
        return None
    name = m.group(1).upper()
    for family in ("S3", "S2", "C3", "C2", "C6", "H2", "P4"):
        if name.startswith("ESP32-" + family):
            return "esp32" + family.lower()
    return "esp32"


def detect_command(port):
    return esptool_base() + ["--port", port, "read-mac"]


def install_commands(chip, port, firmware, baud=460800, erase=False):
    # The esptool runs that put `firmware` on a `chip` at `port`: [erase-flash], write-flash.
    if chip not in OFFSET:
        raise CommandError("threadbeat can install MicroPython on %s; not on %s" % (", ".join(sorted(OFFSET)), chip))
    base = esptool_base() + ["--chip", chip, "--port", port, "--baud", str(int(baud))]
    cmds = []
    if erase:
        cmds.append(base + ["erase-flash"])
    cmds.append(base + ["write-flash", "-z", "0x%x" % OFFSET[chip], os.path.abspath(firmware)])
    return cmds


def esptool_error(port, text):
    low = (text or "").lower()
    last = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    last = last[-1] if last else "no output"
    if "no module named esptool" in low:
        return CommandError("esptool is not installed; `pip install esptool`")
    if "could not open" in low and ("busy" in low or "exist" in low):
        return CommandError("esptool cannot open %s: missing or busy (close serial monitors, mpremote, Thonny)" % port)
    if "failed to connect" in low or "no serial data received" in low or "wrong boot mode" in low:
        return CommandError("esptool cannot reach the ESP32 bootloader on %s: hold the BOOT button, press and release "
                            "RESET (EN), release BOOT, then retry (some cables are charge-only)" % port)
    return CommandError("esptool failed on %s: %s" % (port, last))


def run_esptool(cmd, port, timeout=ESPTOOL_TIMEOUT, run=subprocess.run):
    try:
        r = run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CommandError("esptool timed out after %.0f s on %s; press the board's RESET button and retry"
                           % (timeout, port)) from None
    if r.returncode != 0:
        raise esptool_error(port, (r.stdout or "") + "\n" + (r.stderr or ""))
    return r.stdout or ""


def plan_install(profile_chip, firmware, port, baud=460800, erase=False, chip=None, detected=None):
    # Check the firmware image, the profile and the detected chip against each other; return the
    # esptool commands. `chip` is --chip (default: the profile's); `detected` what esptool saw.
    want = chip or profile_chip
    if want == "desk":
        raise CommandError("the desk profile has no board to install MicroPython on")
    if detected is not None and detected != want:
        raise CommandError("esptool found an %s on %s but the profile (or --chip) says %s: wrong --board or --port?"
                           % (detected, port, want))
    img = image_chip(firmware)
    if img != want:
        raise CommandError("%s is MicroPython for %s, but the board is an %s; download the %s build from "
                           "micropython.org/download" % (firmware, img, want, want.upper().replace("ESP32", "ESP32-")))
    return install_commands(want, port, firmware, baud, erase)


def print_plan(args, profile):
    # --dry-run: the commands, checked against the image (the chip is not detected without a board).
    port = args.port or "PORT"
    print("MicroPython install (when the board has none older than required, or with --force):")
    for cmd in plan_install(profile["chip"], args.micropython, port, args.baud, args.erase, args.chip):
        print("  esptool " + " ".join(cmd[len(esptool_base()):]))


def board_micropython(exe, port, timeout=10.0):
    # The board's MicroPython version tuple, or None when no MicroPython answers on the raw REPL.
    from host_tools import flash

    try:
        info = flash.parse_survey(flash.run_mpremote([exe, "connect", port, "exec", flash.survey_script("/")],
                                                     port, timeout))
    except CommandError:
        return None
    return info.get("version") if info.get("impl") == "micropython" else None


def install_if_needed(args, profile, port, exe, run=subprocess.run, current=None, out=print):
    # Write MicroPython when the board has none or an older one than supported (or --force).
    from host_tools import flash

    if not os.path.isfile(args.micropython):
        raise CommandError("%s: no such MicroPython firmware file" % args.micropython)
    version = current if current is not None else (None if args.force else board_micropython(exe, port))
    if version is not None and version >= flash.MIN_MICROPYTHON and not args.force:
        out("the board already runs MicroPython %s (>= %s): not rewriting it (--force to rewrite)"
            % (flash.version_text(version), flash.version_text(flash.MIN_MICROPYTHON)))
        return False
    detected = parse_chip(run_esptool(detect_command(port), port, 60, run))
    if detected is None:
        raise CommandError("esptool answered on %s but named no ESP32 chip" % port)
    cmds = plan_install(profile["chip"], args.micropython, port, args.baud, args.erase, args.chip, detected)
    out("installing MicroPython (%s) on the %s at %s%s" % (os.path.basename(args.micropython), detected, port,
                                                          ", erasing the flash first" if args.erase else ""))
    for cmd in cmds:
        run_esptool(cmd, port, ESPTOOL_TIMEOUT, run)
    # esptool resets the board; MicroPython's first boot makes its filesystem (a few seconds).
    for _ in range(3 if current is None else 0):
        version = board_micropython(exe, port)
        if version is not None:
            out("MicroPython %s answers on %s" % (flash.version_text(version), port))
            break
    else:
        if current is None:
            raise CommandError("MicroPython was written, but nothing answers on %s: press RESET and run the flash "
                               "again without --micropython" % port)
    return True
