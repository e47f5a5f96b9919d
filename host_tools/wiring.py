# `threadbeat wiring`: a board profile's wiring drawn as hand-written SVG -- the ESP32 board and its
# GPIOs, the I2S microphone, each panel's data line (resistor, level shifter) and the 5 V power.
import os
import sys
from xml.sax.saxutils import escape

from host_tools.errors import CommandError

BOARD_NAMES = {
    "esp32": "ESP32 DevKitC (WROOM-32)",
    "esp32s3": "ESP32-S3-DevKitC-1",
    "esp32c3": "ESP32-C3-DevKitM-1",
    "desk": "desk (no board: GPIOs only name panels)",
}
# The microphone's pin names for (VDD, GND, clock, word select, data, channel select) per mic type.
MIC_PINS = {
    "inmp441": ("INMP441", ("VDD", "GND", "SCK", "WS", "SD", "L/R")),
    "ics43434": ("ICS-43434", ("VDD", "GND", "SCK", "WS", "SD", "L/R")),
    "sph0645": ("SPH0645LM4H", ("3V", "GND", "BCLK", "LRCL", "DOUT", "SEL")),
}
INJECT_PX = 100  # panels longer than this get 5 V + GND fed at both ends
ROW = 26  # pixels between the rows of a small group
PANEL_ROW = 70  # pixels between panel rows
W = 960
X_PIN = 230  # the board's pin stubs
X_RES = 290  # 330 ohm resistor
X_LS = 400  # level shifter
X_PANEL = 590
W_PANEL = 270
X_5V = 900
X_GND = 925
SIGNAL_COLOURS = ("#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


class _Svg:
    def __init__(self):
        self.parts = []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, anchor="start", weight="normal", fill="#222", italic=False):
        self.add('<text x="%g" y="%g" font-size="%g" text-anchor="%s" font-weight="%s" fill="%s"%s>%s</text>' % (
            x, y, size, anchor, weight, fill, ' font-style="italic"' if italic else "", escape(s)))

    def line(self, x1, y1, x2, y2, colour="#222", width=2, dash=None):
        self.add('<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="%g"%s/>' % (
            x1, y1, x2, y2, colour, width, ' stroke-dasharray="%s"' % dash if dash else ""))

    def rect(self, x, y, w, h, fill="#fff", stroke="#222", rx=4, dash=None, width=1.5):
        self.add('<rect x="%g" y="%g" width="%g" height="%g" rx="%g" fill="%s" stroke="%s" stroke-width="%g"%s/>' % (
            x, y, w, h, rx, fill, stroke, width, ' stroke-dasharray="%s"' % dash if dash else ""))

    def dot(self, x, y, colour="#222", r=3.5):
        self.add('<circle cx="%g" cy="%g" r="%g" fill="%s"/>' % (x, y, r, colour))

    def ground(self, x, y):
        # A ground symbol hanging below (x, y).
        self.line(x, y, x, y + 8)
        for i, half in enumerate((9, 6, 3)):
            self.line(x - half, y + 8 + 4 * i, x + half, y + 8 + 4 * i, width=1.5)


def panel_full_white_ma(panel, power):
    return panel["count"] * panel.get("bpp", 3) * power.get("ma_per_channel", 20)


def render(profile, title=None):
    # The SVG text for a validated profile.
    s = _Svg()
    chip = profile["chip"]
    source = profile["source"]
    power = profile["power"]
    panels = profile["panels"]
    is_mic = source.get("type") == "i2s"

    # the board's pin rows: (y, label, colour, role)
    rows = []
    y = 110
    if is_mic:
        rows += [(y, "3V3", "#d62728", "3v3"), (y + ROW, "GND", "#222", "gnd")]
        for i, key in enumerate(("sck", "ws", "sd")):
            rows.append((y + ROW * (2 + i), pin_label(source[key]), SIGNAL_COLOURS[i], key))
        y += ROW * 6 + 80
    else:
        y += 70
    panel_y = []
    for i, p in enumerate(panels):
        py = y + PANEL_ROW * i
        panel_y.append(py)
        label = pin_label(p["pin"]) if p.get("pin") is not None else "(no pin)"
        rows.append((py, label, SIGNAL_COLOURS[(i + 3) % len(SIGNAL_COLOURS)], "panel"))
    y = y + PANEL_ROW * len(panels) + 10
    power_rows = (y, y + ROW)
    rows += [(power_rows[0], "5V / VIN", "#d62728", "5v"), (power_rows[1], "GND", "#222", "gnd")]
    supply_y = power_rows[1] + 50
    height = supply_y + 150

    s.text(20, 30, title or "%s: wiring" % profile["name"], size=18, weight="bold")
    s.text(20, 50, "chip %s; %d panels, %d px; power budget %d mA, max brightness %d/255 (threadbeat wiring)" % (
        chip, len(panels), sum(p["count"] for p in panels), power["budget_ma"], power["max_brightness"]), size=12, fill="#555")

    # the board
    s.rect(40, 70, X_PIN - 40, rows[-1][0] + 30 - 70, fill="#e8f0e8", stroke="#2b5", rx=8, width=2)
    s.text((40 + X_PIN) / 2, 92, BOARD_NAMES.get(chip, chip), size=11, anchor="middle", weight="bold")
    for ry, label, colour, _ in rows:
        s.text(X_PIN - 10, ry + 4, label, size=12, anchor="end", weight="bold")
        s.dot(X_PIN, ry, colour)

    # the microphone
    if is_mic:
        mic_name, pins = MIC_PINS.get(source["mic"], (source["mic"].upper(), ("VDD", "GND", "SCK", "WS", "SD", "L/R")))
        my = rows[0][0]
        mx = 560
        s.rect(mx, my - 30, 200, ROW * 6 + 30, fill="#eef2fb", stroke="#36c", rx=8, width=2)
        s.text(mx + 100, my - 12, "%s I2S microphone" % mic_name, size=12, anchor="middle", weight="bold")
        names = {"3v3": pins[0], "gnd": pins[1], "sck": pins[2], "ws": pins[3], "sd": pins[4]}
        for ry, label, colour, role in rows[:5]:
            s.line(X_PIN, ry, mx, ry, colour)
            s.dot(mx, ry, colour)
            s.text(mx + 10, ry + 4, names[role], size=12, weight="bold")
            if role in ("sck", "ws", "sd"):
                s.text((X_PIN + mx) / 2, ry - 4, "%s -> %s" % (label, names[role]), size=10, anchor="middle", fill=colour)
        lr_y = my + ROW * 5
        s.dot(mx, lr_y)
        s.text(mx + 10, lr_y + 4, pins[5], size=12, weight="bold")
        s.line(mx, lr_y, mx - 30, lr_y)
        s.ground(mx - 30, lr_y)
        s.text(mx + 60, lr_y + 4, "%s to GND = left slot" % pins[5], size=10, italic=True)
        s.text(mx + 210, my + 4, "VDD 3.3 V only", size=10, fill="#555")
        s.text(mx + 210, my + 4 + ROW * 2, "keep mic wires short", size=10, fill="#555")
        s.text(mx + 210, my + 4 + ROW * 2 + 14, "(< 20 cm, twisted with GND)", size=10, fill="#555")
    else:
        s.rect(560, 100, 300, 50, fill="#f6f6f6", stroke="#999", dash="4 3")
        s.text(570, 120, "no microphone: %s replays %s" % (source.get("type"), source.get("path", "a file")), size=12)
        s.text(570, 138, "LED frames go to the profile's sink instead of strips", size=10, fill="#555")

    # panels: GPIO -> 330 ohm -> level shifter -> DIN; 5 V and GND from the rails
    if panels:
        top, bottom = panel_y[0] - 34, panel_y[-1] + 30
        s.rect(X_LS, top, 110, bottom - top, fill="#fdf6e3", stroke="#b58900", dash="5 3")
        s.text(X_LS + 55, top - 20, "level shifter (74AHCT125)", size=11, anchor="middle", weight="bold", fill="#b58900")
        s.text(X_LS + 55, top - 7, "recommended for 5 V strips", size=10, anchor="middle", fill="#b58900")
    for i, p in enumerate(panels):
        py = panel_y[i]
        colour = SIGNAL_COLOURS[(i + 3) % len(SIGNAL_COLOURS)]
        s.line(X_PIN, py, X_RES, py, colour)
        s.rect(X_RES, py - 7, 50, 14, fill="#fff", stroke=colour, rx=2)
        s.text(X_RES + 25, py - 11, "330 Ω", size=10, anchor="middle", fill=colour)
        s.line(X_RES + 50, py, X_LS, py, colour)
        s.text(X_LS + 8, py + 4, "A%d" % (i + 1), size=10, fill="#b58900")
        s.text(X_LS + 102, py + 4, "Y%d" % (i + 1), size=10, anchor="end", fill="#b58900")
        s.line(X_LS + 110, py, X_PANEL, py, colour)
        s.dot(X_PANEL, py, colour)
        ma = panel_full_white_ma(p, power)
        inject = p["count"] > INJECT_PX
        s.rect(X_PANEL, py - 24, W_PANEL, 56, fill="#fff8f0", stroke=colour, rx=6, width=2)
        s.text(X_PANEL + 8, py - 8, "%s" % p["name"], size=12, weight="bold")
        s.text(X_PANEL + 8, py + 4, "DIN", size=10, fill=colour)
        s.text(X_PANEL + 36, py + 4, "%d px %s, pixels %d..%d" % (p["count"], p["order"], p.get("first", 0),
                                                                p.get("first", 0) + p["count"] - 1), size=10)
        s.text(X_PANEL + 8, py + 18, "up to %d mA at full white" % ma,
               size=10, fill="#c00" if inject else "#555")
        # 5 V and GND into the panel's input end, and the far end for long panels
        s.line(X_PANEL + W_PANEL, py - 12, X_5V, py - 12, "#d62728")
        s.dot(X_5V, py - 12, "#d62728")
        s.line(X_PANEL + W_PANEL, py, X_GND, py, "#222")
        s.dot(X_GND, py, "#222")
        if inject:
            s.line(X_PANEL + W_PANEL, py + 14, X_5V, py + 14, "#d62728", dash="4 3")
            s.line(X_PANEL + W_PANEL, py + 22, X_GND, py + 22, "#222", dash="4 3")
            s.dot(X_5V, py + 14, "#d62728")
            s.dot(X_GND, py + 22, "#222")
            s.text(X_PANEL + W_PANEL - 4, py + 28, "injection point (far end)", size=9, anchor="end", fill="#c00")

    # power: the rails, the board's 5 V input, the supply and its capacitor
    rail_top = (panel_y[0] - 12) if panels else power_rows[0]
    s.line(X_5V, rail_top, X_5V, supply_y + 20, "#d62728", 3)
    s.line(X_GND, rail_top, X_GND, supply_y + 40, "#222", 3)
    s.text(X_5V - 4, rail_top - 8, "+5V", size=10, anchor="middle", fill="#d62728", weight="bold")
    s.text(X_GND + 4, rail_top - 8, "GND", size=10, anchor="middle", weight="bold")
    s.line(X_PIN, power_rows[0], X_5V, power_rows[0], "#d62728")
    s.dot(X_5V, power_rows[0], "#d62728")
    s.line(X_PIN, power_rows[1], X_GND, power_rows[1], "#222")
    s.dot(X_GND, power_rows[1], "#222")
    s.text(X_PIN + 20, power_rows[0] - 4, "board from the same 5 V (common GND with every strip)", size=10, fill="#555")
    s.rect(560, supply_y, 300, 60, fill="#fdecec", stroke="#d62728", rx=8, width=2)
    s.text(570, supply_y + 20, "5 V supply (power bank or battery + 5 V regulator)", size=12, weight="bold")
    s.text(570, supply_y + 36, "budget %d mA: the firmware dims to stay under it" % power["budget_ma"], size=10)
    total = sum(panel_full_white_ma(p, power) for p in panels)
    s.text(570, supply_y + 50, "full white %d mA; supply must give >= %d mA" % (total, power["budget_ma"]), size=10, fill="#555")
    s.line(860, supply_y + 20, X_5V, supply_y + 20, "#d62728", 3)
    s.line(860, supply_y + 40, X_GND, supply_y + 40, "#222", 3)
    # the capacitor across the rails
    cy = supply_y + 85
    s.line(X_5V, supply_y + 20, X_5V, cy, "#d62728", 2)
    s.line(X_5V - 10, cy, X_5V + 10, cy, width=2)
    s.line(X_5V - 10, cy + 6, X_5V + 10, cy + 6, width=2)
    s.line(X_5V, cy + 6, X_5V, cy + 16)
    s.line(X_5V, cy + 16, X_GND, cy + 16)
    s.line(X_GND, supply_y + 40, X_GND, cy + 16, "#222", 2)
    s.text(X_5V - 16, cy + 8, "1000 µF (≥ 6.3 V) across 5 V / GND at the strips' input", size=10, anchor="end")
    s.text(20, height - 40, "Notes: 330 Ω in series at each strip's DIN, close to the strip. A 3.3 V GPIO often drives "
           "5 V WS2812 data, but not reliably: use the 74AHCT125 (VCC 5 V, OE to GND).", size=10, fill="#555")
    s.text(20, height - 24, "Panels over %d px: feed 5 V + GND at both ends (about every %d px). Connect GND first; "
           "never power the strips from the board's 5V pin over USB alone." % (INJECT_PX, INJECT_PX), size=10, fill="#555")

    head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
            'font-family="Helvetica, Arial, sans-serif">\n<rect width="100%%" height="100%%" fill="#fff"/>\n' % (W, height, W, height))
    return head + "\n".join(s.parts) + "\n</svg>\n"


def pin_label(pin):
    # An ESP32 GPIO number as "GPIO13"; a Blinka pin name (a Linux host: "D18") as it is.
    return "GPIO%d" % pin if isinstance(pin, int) else str(pin)


def profile_pins(profile):
    # Every GPIO the profile names: the mic's, then the panels'.
    pins = []
    if profile["source"].get("type") == "i2s":
        pins += [profile["source"][k] for k in ("sck", "ws", "sd")]
    pins += [p["pin"] for p in profile["panels"] if p.get("pin") is not None]
    return pins


def cmd_wiring(args):
    from host_tools import cli

    path = cli.board_path(args.board)
    profile = cli.resolve_board(path)
    svg = render(profile)
    out = args.out or "wiring-%s.svg" % os.path.splitext(os.path.basename(path))[0]
    if out == "-":
        sys.stdout.write(svg)
        return
    if not out.lower().endswith(".svg"):
        raise CommandError("%s: only SVG output is supported (name it .svg)" % out)
    try:
        d = os.path.dirname(out)
        if d:
            os.makedirs(d, exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            f.write(svg)
    except OSError as e:
        raise CommandError("%s: cannot write (%s)" % (out, e.strerror or e)) from None
    print("wrote %s" % out)


def add_arguments(sp):
    sp.add_argument("--board", default="esp32-jacket", help="profile name in boards/ or a path (default %(default)s)")
    sp.add_argument("--out", help="SVG file to write, or - for stdout (default wiring-BOARD.svg)")
