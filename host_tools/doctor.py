# `threadbeat doctor`: a checklist of the board over mpremote's raw REPL (works in safe mode, or with
# no garment app at all): MicroPython version, free heap, filesystem space, the firmware it imports,
# its board.json, the microphone (a short capture judged by firmware/health.py), a short LED test per
# panel, and the current budget from the profile. Exit 1 when a check fails.
import json
import sys

from host_tools.errors import CommandError

MARK = "TBD"
# Bytes free after gc.collect() with nothing running. The README's "vm" figures: the 300-px dress needs
# ~100 kB after start-up with its modules in the filesystem (~61 kB from a ROMFS image).
MIN_HEAP = 100 * 1024  # below: a warning
LOW_HEAP = 64 * 1024  # below: a failure
MIN_FS = 16 * 1024  # bytes free on the filesystem for settings, presets and their .bak copies
MIC_MS = 1500  # microphone capture: longer than health.py's 1 s for a verdict
LED_MS = 400  # each panel lit this long
LED_LEVEL = 24  # of 255: visible, far below any budget

OK, FAIL, WARN, SKIP = "ok", "FAIL", "warn", "--"


def board_script(mic_ms=MIC_MS, led_ms=LED_MS, led_level=LED_LEVEL):
    # Runs on the board; prints one "TBD {json}" line per finding. Everything that can fail is caught.
    return "\n".join([
        "import sys, gc, os, json",
        "def _o(k, **v):",
        " v['k']=k",
        " print('%s', json.dumps(v))" % MARK,
        "_i=sys.implementation",
        "_o('mp', version=list(_i.version[:3]), platform=sys.platform, machine=getattr(_i,'_machine','?'))",
        "gc.collect()",
        "_o('heap', free=gc.mem_free(), used=gc.mem_alloc())",
        "try:",
        " _s=os.statvfs('/')",
        " _o('fs', free=_s[0]*_s[3], size=_s[0]*_s[2])",
        "except Exception as e:",
        " _o('fs', error=repr(e))",
        "if '/' not in sys.path: sys.path.insert(0, '/')",
        "try:",
        " from firmware.app import VERSION",
        " _o('fw', version=VERSION)",
        "except Exception as e:",
        " _o('fw', error=repr(e))",
        "_p=None",
        "try:",
        " from firmware.profile import load_profile",
        " _p=load_profile(json.load(open('board.json')))",
        " _o('board', name=_p['name'], chip=_p['chip'])",
        "except Exception as e:",
        " _o('board', error=repr(e))",
        "try:",
        " import machine",
        "except ImportError:",
        " machine=None",
        "if _p is None or _p['source']['type']!='i2s':",
        " _o('mic', skip='the profile names no I2S microphone')",
        "elif machine is None or not hasattr(machine,'I2S'):",
        " _o('mic', skip='no machine.I2S on this board')",
        "else:",
        " _m=None",
        " try:",
        "  from array import array",
        "  from firmware.mic_i2s import I2SMic, make_i2s",
        "  from firmware.health import MicHealth, NAMES",
        "  _h=128",
        "  _r=_p['sample_rate']",
        "  _m=I2SMic(make_i2s(machine,_p['source'],_r,_h),_p['source']['mic'],_h,irq=False)",
        "  _mh=MicHealth(_r,_h)",
        "  _b=array('h',bytes(2*_h))",
        "  _hi=-32768",
        "  _lo=32767",
        "  _n=0",
        "  for _k in range(%d*_r//(1000*_h)):" % mic_ms,
        "   if _m.read_hop(_b)!=1: continue",
        "   _n+=1",
        "   _a=max(_b)",
        "   _z=min(_b)",
        "   _hi=max(_hi,_a)",
        "   _lo=min(_lo,_z)",
        "   _st=_mh.update(_a,_z)",
        "  _o('mic', hops=_n, hi=_hi, lo=_lo, state=_mh.state, message=NAMES[_mh.state])",
        " except Exception as e:",
        "  _o('mic', error=repr(e))",
        " finally:",
        "  if _m: _m.close()",
        "try:",
        " import neopixel",
        "except ImportError:",
        " neopixel=None",
        "if _p is None or _p['sink']['type']!='neopixel':",
        " _o('led', skip='the profile names no NeoPixel panels')",
        "elif machine is None or neopixel is None:",
        " _o('led', skip='no machine/neopixel modules on this board')",
        "else:",
        " try:",
        "  import time",
        "  from firmware.panels_np import NeoPixelPanels",
        "  _np=NeoPixelPanels(neopixel,machine,_p['panels'])",
        "  _np.blank()",
        "  for _k in range(_np.n):",
        "   _s=_np.strips[_k]",
        "   _bb=_s.buf",
        "   for _j in range(len(_bb)): _bb[_j]=%d" % led_level,
        "   _s.write()",
        "   time.sleep_ms(%d)" % led_ms,
        "   for _j in range(len(_bb)): _bb[_j]=0",
        "   _s.write()",
        "   _o('led', panel=_p['panels'][_k]['name'], pixels=_p['panels'][_k]['count'], pin=_p['panels'][_k]['pin'])",
        " except Exception as e:",
        "  _o('led', error=repr(e))",
    ])


def parse(text):
    out = []
    for line in text.splitlines():
        if line.startswith(MARK + " "):
            try:
                out.append(json.loads(line[len(MARK) + 1:]))
            except ValueError:
                continue
    return out


def budget_line(profile):
    # The current budget from the profile and what the panels could draw at the brightness cap.
    pw = profile.get("power") or {}
    budget = pw.get("budget_ma")
    if not budget:
        return SKIP, "current budget: the profile sets none"
    chans = sum(p["count"] * p.get("bpp", 3) for p in profile["panels"])
    pixels = sum(p["count"] for p in profile["panels"])
    cap = pw.get("max_brightness", 255)
    worst = chans * pw.get("ma_per_channel", 20) * cap // 255 + pixels * pw.get("idle_ma_per_pixel", 1)
    return OK, ("current budget %d mA (%s): %d pixels could draw %d mA at brightness %d, the limiter holds them "
                "at %d mA; use a supply of at least %d mA" % (budget, pw.get("_comment", "profile"), pixels, worst, cap,
                                                            min(budget, worst), min(budget, worst) * 5 // 4))


def checklist(findings, host_version, min_version, profile=None):
    # [(status, text)] from the board's findings; profile: the host's (--board) when board.json fails.
    rows = []
    by = {}
    for f in findings:
        by.setdefault(f["k"], []).append(f)
    mp = (by.get("mp") or [None])[0]
    if mp is None:
        return [(FAIL, "no MicroPython answered on the raw REPL")]
    v = tuple(mp["version"])
    vt = ".".join(map(str, v))
    if v >= min_version:
        rows.append((OK, "MicroPython %s (%s, %s)" % (vt, mp["platform"], mp["machine"])))
    else:
        rows.append((FAIL, "MicroPython %s is older than %s: `threadbeat flash --micropython FIRMWARE.bin`"
                     % (vt, ".".join(map(str, min_version)))))
    heap = by["heap"][0]
    hs = OK if heap["free"] >= MIN_HEAP else WARN if heap["free"] >= LOW_HEAP else FAIL
    rows.append((hs, "free heap %d kB (%d kB in use)%s" % (
        heap["free"] // 1024, heap["used"] // 1024,
        "" if hs == OK else "; a garment needs up to ~%d kB (less with `threadbeat build --romfs`)" % (MIN_HEAP // 1024))))
    fs = by["fs"][0]
    if "error" in fs:
        rows.append((FAIL, "filesystem: %s" % fs["error"]))
    else:
        rows.append((OK if fs["free"] >= MIN_FS else FAIL, "filesystem %d kB free of %d kB%s" % (
            fs["free"] // 1024, fs["size"] // 1024, "" if fs["free"] >= MIN_FS else "; settings cannot be saved")))
    fw = by["fw"][0]
    if "error" in fw:
        rows.append((FAIL, "firmware does not import (%s): `threadbeat flash`" % fw["error"]))
    elif fw["version"] != host_version:
        rows.append((WARN, "firmware %s on the board, %s here: `threadbeat flash` to update" % (fw["version"], host_version)))
    else:
        rows.append((OK, "firmware %s" % fw["version"]))
    board = by["board"][0]
    if "error" in board:
        rows.append((FAIL, "board.json: %s" % board["error"]))
    else:
        rows.append((OK, "board.json: %s (%s)" % (board["name"], board["chip"])))
    on_esp = mp["platform"].startswith("esp")
    mic = by["mic"][0]
    if "skip" in mic:
        rows.append((FAIL if on_esp and "machine" in mic["skip"] else SKIP, "microphone: not checkable: %s" % mic["skip"]))
    elif "error" in mic:
        rows.append((FAIL, "microphone: %s (check the pins in board.json and the wiring)" % mic["error"]))
    elif mic["hops"] == 0:
        rows.append((FAIL, "microphone: no audio arrived in %.1f s (no clock? check SCK/WS wiring)" % (MIC_MS / 1000)))
    else:
        rows.append((OK if mic["state"] == 0 else FAIL, "microphone: %s (%d hops, samples %d..%d)" % (
            "alive" if mic["state"] == 0 else mic["message"], mic["hops"], mic["lo"], mic["hi"])))
    for led in by.get("led", []):
        if "skip" in led:
            rows.append((FAIL if on_esp and "machine" in led["skip"] else SKIP, "LEDs: not checkable: %s" % led["skip"]))
        elif "error" in led:
            rows.append((FAIL, "LEDs: %s" % led["error"]))
        else:
            rows.append((OK, "panel %s: %d pixels on GPIO %s lit dim white for %.1f s (did you see it?)" % (
                led["panel"], led["pixels"], led["pin"], LED_MS / 1000)))
    if profile is not None:
        rows.append(budget_line(profile))
    return rows


def format_rows(rows):
    return "\n".join("[%-4s] %s" % (st, text) for st, text in rows)


def cmd_doctor(args):
    from host_tools import flash
    from host_tools.cli import resolve_board

    port = args.port
    if not port:
        from host_tools.link import detect_port

        port = detect_port()
    exe = flash.mpremote_exe()
    flash.probe_port(port)
    text = flash.run_mpremote([exe, "connect", port, "exec", board_script()], port, args.timeout)
    findings = parse(text)
    profile = None
    board = [f for f in findings if f.get("k") == "board"]
    try:
        profile = resolve_board(args.board) if args.board else None
    except CommandError:
        raise
    if profile is None and board and "error" not in board[0]:
        # the board's own board.json, validated here too (for the budget line)
        raw = flash.run_mpremote([exe, "connect", port, "exec", "print(open('board.json').read())"], port, args.timeout)
        from firmware.profile import ProfileError, load_profile

        try:
            profile = load_profile(json.loads(raw))
        except (ValueError, ProfileError):
            profile = None
    rows = checklist(findings, flash.firmware_version(), flash.MIN_MICROPYTHON, profile)
    print("threadbeat doctor on %s" % port)
    print(format_rows(rows))
    print("(the garment app, if it was running, is stopped: press RESET to start it again)")
    bad = [t for st, t in rows if st == FAIL]
    if bad:
        raise CommandError("%d check%s failed: %s" % (len(bad), "s" if len(bad) > 1 else "", bad[0]))


def add_arguments(sp):
    sp.add_argument("--port", help="serial port of the board (default: the one USB port with a known ESP32 VID:PID)")
    sp.add_argument("--board", help="profile for the budget line (default: the board's own board.json)")
    sp.add_argument("--timeout", type=float, default=60.0, help="seconds for the checks (default %(default)s)")


def main(argv=None):
    from host_tools.errors import dispatch, verb_parser

    cmds = {"doctor": (cmd_doctor, "check a board: MicroPython, heap, filesystem, microphone, LEDs, budget", add_arguments)}
    return dispatch(verb_parser(cmds, "check a board"), cmds, argv)


if __name__ == "__main__":
    sys.exit(main())
