# `threadbeat flash` (deploy the build bundle to a board over mpremote, copying only what changed)
# and the FLASH_COMMANDS table (flash, wiring) that host_tools/cli.py merges into its COMMANDS.
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


def plan(profile_path, profile, board_files, reset_config=False, config=None, source=False, bundle_dir=None):
    # Build the bundle (into bundle_dir, or a temporary folder that is removed) and plan against it.
    from host_tools import build

    if bundle_dir is not None:
        files = build.build(profile_path, profile, bundle_dir, source=source, config=config)
        return plan_bundle(bundle_index(bundle_dir, files), board_files, reset_config)
    with tempfile.TemporaryDirectory(prefix="threadbeat-flash-") as tmp:
        files = build.build(profile_path, profile, tmp, source=source, config=config)
        return plan_bundle(bundle_index(tmp, files), board_files, reset_config)


def transfers(actions):
    # The actions that send bytes to the board.
    return [a for a in actions if a.action in ("copy", "write") and a.reason != "unchanged"]


def format_plan(actions, port=None):
    lines = []
    for a in actions:
        size = "%7d" % a.size if a.action in ("copy", "write") else "       "
        lines.append("%-6s %s  %-28s %s" % (a.action, size, a.path, a.reason))
    moved = transfers(actions)
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


def mpremote_exe():
    exe = shutil.which("mpremote")
    if not exe:
        cand = os.path.join(os.path.dirname(sys.executable), "mpremote")
        exe = cand if os.path.exists(cand) else None
    if not exe:
        raise CommandError("mpremote not found; install it with `pip install mpremote`")
    return exe


def hash_command(exe, port):
    return [exe, "connect", port, "exec", hash_script("/")]


def copy_command(exe, port, bundle_dir, actions):
    # One mpremote run that makes /firmware, copies what changed and removes stale files;
    # None when there is nothing to do. mpremote chains commands with "+".
    moved = transfers(actions)
    removed = [a for a in actions if a.action == "remove"]
    if not moved and not removed:
        return None
    cmd = [exe, "connect", port,
           "exec", "import os\ntry: os.mkdir('/firmware')\nexcept OSError: pass"]
    for a in moved:
        cmd += ["+", "fs", "cp", os.path.join(bundle_dir, *a.path.split("/")), ":" + a.path]
    for a in removed:
        cmd += ["+", "fs", "rm", ":" + a.path]
    return cmd


def mpremote_error(port, text):
    # A CommandError that says what to do, from mpremote's stderr/stdout.
    t = (text or "").strip()
    low = t.lower()
    last = t.splitlines()[-1] if t else "no output"
    if "no device found" in low or "no such file" in low:
        return CommandError("no board on %s (unplugged? wrong --port?)" % port)
    if "failed to access" in low or "busy" in low or "in use" in low or "permission denied" in low:
        return CommandError("cannot open %s: missing, busy or not permitted (close serial monitors, Thonny, "
                            "`threadbeat monitor`; on Linux join the dialout group)" % port)
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


def cmd_flash(args):
    from host_tools import cli

    path = cli.board_path(args.board)
    profile = cli.resolve_board(path)
    config = cli.read_config(getattr(args, "config", None))
    if args.dry_run:
        actions = plan(path, profile, {}, reset_config=args.reset_config, config=config, source=args.source)
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
    probe_port(port)
    board_files = parse_hashes(run_mpremote(hash_command(exe, port), port))
    with tempfile.TemporaryDirectory(prefix="threadbeat-flash-") as tmp:
        actions = plan(path, profile, board_files, reset_config=args.reset_config, config=config,
                       source=args.source, bundle_dir=tmp)
        print(format_plan(actions, port))
        cmd = copy_command(exe, port, tmp, actions)
        if cmd:
            run_mpremote(cmd, port)
    r = reset_and_hello(port, firmware_version())
    print("garment %s answers: firmware %s, panels %s" % (r.get("board"), r.get("firmware"), ", ".join(r.get("panels", []))))


def _args_flash(sp):
    sp.add_argument("--board", default="esp32-jacket", help="profile name in boards/ or a path (default %(default)s)")
    sp.add_argument("--port", help="serial port of the board (default: the one USB port with a known ESP32 VID:PID)")
    sp.add_argument("--config", help="settings JSON to write as config.json (when absent, or with --reset-config)")
    sp.add_argument("--reset-config", action="store_true", help="overwrite board.json and config.json on the board")
    sp.add_argument("--source", action="store_true", help="ship .py sources instead of compiled .mpy")
    sp.add_argument("--dry-run", action="store_true", help="print what would be copied, without a board")


def cmd_wiring(args):
    from host_tools import wiring

    wiring.cmd_wiring(args)


def _args_wiring(sp):
    from host_tools import wiring

    wiring.add_arguments(sp)


FLASH_COMMANDS = {
    "flash": (cmd_flash, "copy the firmware bundle to a board (only changed files), reset, check hello", _args_flash),
    "wiring": (cmd_wiring, "draw a board profile's wiring (ESP32, microphone, panels, power) as SVG", _args_wiring),
}


def main(argv=None):
    # These verbs alone, with the same contract as host_tools.cli.main.
    from host_tools.errors import dispatch, verb_parser

    return dispatch(verb_parser(FLASH_COMMANDS, "flash a board and draw its wiring"), FLASH_COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
