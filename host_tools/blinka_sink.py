# LED sink for a Linux host (Raspberry Pi): the profile's NeoPixel panels driven through Adafruit
# Blinka (`board`, `digitalio`) and Adafruit's `neopixel` library. The host twin of
# firmware/panels_np.py: the engine's Output writes each panel's bytes (colour order, RGBW, gamma,
# brightness, current limit) straight into the strip's own buffer, and show() sends them, so a strip
# gets exactly the bytes the ESP32 sends for the same frame.
#
# Panels that follow each other on one data pin (a chain, allowed for chip "blinka") share one
# neopixel.NeoPixel of their summed length; each panel gets a memoryview slice of its buffer, so the
# chain's stream is the panels' ESP32 streams back to back.
#
# Every failure a person can fix (library missing, not a supported board, no GPIO permission, the
# PWM/DMA driver needing root) is raised as BlinkaError with one line naming the package or the fix.

PI_LED_PINS = (10, 12, 13, 18, 19, 21)  # GPIOs rpi_ws281x can clock NeoPixels on (SPI, PWM0/1, PCM)
INSTALL = "pip install 'threadbeat[pi]' (or: pip install adafruit-blinka adafruit-circuitpython-neopixel)"


# import name -> the package that provides it (the platform drivers Blinka imports on a Pi)
PIP_NAMES = {"_rpi_ws281x": "rpi_ws281x", "adafruit_raspberry_pi5_neopixel_write": "Adafruit-Blinka-Raspberry-Pi5-Neopixel",
             "gpiod": "gpiod", "RPi": "RPi.GPIO", "lgpio": "adafruit-lgpio", "adafruit_pixelbuf": "adafruit-circuitpython-pixelbuf"}


def pip_name(import_name):
    return PIP_NAMES.get(import_name, import_name)


class BlinkaError(Exception):
    # One line for a person: what is wrong and what to install, enable or run differently.
    pass


def load_blinka():
    # (board, neopixel) modules, or BlinkaError naming what to install or which board was found.
    try:
        import board
    except ModuleNotFoundError as e:
        if e.name in ("board", "adafruit_blinka", "adafruit_platformdetect"):
            raise BlinkaError("Adafruit Blinka is not installed: %s" % INSTALL) from None
        raise BlinkaError("Blinka needs the Python module '%s': pip install %s" % (e.name, pip_name(e.name))) from None
    except NotImplementedError as e:
        raise BlinkaError("Blinka does not support this computer (%s); run on a Raspberry Pi or another board "
                          "Blinka knows" % (str(e).strip() or "unknown board")) from None
    except RuntimeError as e:  # Blinka's own "platform library X was not found. To install ..."
        raise BlinkaError("Blinka: %s" % str(e).strip()) from None
    try:
        import neopixel
    except ModuleNotFoundError as e:
        if e.name in ("neopixel", "adafruit_pixelbuf"):
            raise BlinkaError("Adafruit's neopixel library is not installed: pip install "
                              "adafruit-circuitpython-neopixel") from None
        raise BlinkaError("the neopixel library needs the Python module '%s': pip install %s" % (e.name, pip_name(e.name))) from None
    except NotImplementedError:
        raise BlinkaError("Blinka cannot drive NeoPixels on this board (%s): run on a Raspberry Pi, or pass "
                          "--sink none to go without LEDs" % _board_id()) from None
    except RuntimeError as e:  # e.g. "The platform library '_rpi_ws281x' was not found. To install ..."
        raise BlinkaError("neopixel: %s" % str(e).strip()) from None
    if not hasattr(neopixel, "NeoPixel") or not hasattr(neopixel, "GRBW"):
        raise BlinkaError("the 'neopixel' module found (%s) is not Adafruit's: pip install "
                          "adafruit-circuitpython-neopixel" % getattr(neopixel, "__file__", "?"))
    return board, neopixel


def _board_id():
    try:
        from adafruit_blinka.agnostic import board_id

        return board_id or "unknown"
    except Exception:
        return "unknown"


def pi_model():
    # "pi5", "pi" (Raspberry Pi 1-4 and Zero: rpi_ws281x) or None (not a Raspberry Pi).
    try:
        from adafruit_blinka.agnostic import detector

        if not detector.board.any_raspberry_pi:
            return None
        return "pi5" if detector.board.any_raspberry_pi_5_board else "pi"
    except Exception:
        return None


def chains(panels):
    # Consecutive panels on one pin: [(pin_name, bpp, order, [panel index, ...]), ...].
    out = []
    for i, p in enumerate(panels):
        if p["pin"] is None:
            raise BlinkaError("panels[%d] (%s): no data pin; give the Blinka pin name, e.g. \"D18\"" % (i, p["name"]))
        if out and out[-1][0] == p["pin"] and out[-1][1] == p["bpp"]:
            out[-1][3].append(i)
        else:
            out.append((p["pin"], p["bpp"], p["order"], [i]))
    return out


def _pin_id(pin):
    return getattr(pin, "id", None)


def _permission_hint(model):
    if model == "pi":
        return ("run as root (sudo): the Raspberry Pi's NeoPixel driver (rpi_ws281x) needs /dev/mem for its "
                "PWM/DMA; on GPIO 10 enable SPI (dtparam=spi=on in /boot/firmware/config.txt)")
    return "add this user to the gpio group (sudo usermod -aG gpio $USER, then log in again) or run as root"


class BlinkaPanels:
    # show() / blank() / close() / buffers(), as firmware.panels_np.NeoPixelPanels.
    def __init__(self, panels, board_module=None, neopixel_module=None, model=None):
        # panels: the validated profile's panel list. The modules default to the real Blinka ones.
        if board_module is None or neopixel_module is None:
            board_module, neopixel_module = load_blinka()
            if model is None:
                model = pi_model()
        self.model = model
        self.chains = chains(panels)
        self.strips = []
        self.raw = []  # each chain's bytearray: what show() hands the wire
        self._sends = []
        self._bufs = [None] * len(panels)
        self.pins = []
        ids = {}
        if model == "pi" and len(set(c[0] for c in self.chains)) > 1:
            raise BlinkaError("pins %s: a Raspberry Pi 1-4/Zero drives one NeoPixel strip through Blinka; chain the "
                              "panels on one pin (give them the same pin)" % ", ".join(c[0] for c in self.chains))
        try:
            self._open(panels, board_module, neopixel_module, model, ids)
        except BlinkaError:
            self._release()
            raise
        self.n = len(self.strips)
        self.frames = 0
        self.bytes_per_frame = sum(len(r) for r in self.raw)

    def _open(self, panels, board_module, neopixel_module, model, ids):
        for pin_name, bpp, order, members in self.chains:
            pin = getattr(board_module, pin_name, None)
            if pin is None:
                near = [n for n in dir(board_module) if n[:1] == pin_name[:1] and n[1:].isdigit()]
                raise BlinkaError("pin %s: this board (%s) has no such pin in Blinka's `board` module%s"
                                  % (pin_name, _board_id(), "; it has " + ", ".join(sorted(near)[:40]) if near else ""))
            pid = _pin_id(pin)
            if pid in ids and ids[pid] != pin_name:
                raise BlinkaError("pins %s and %s are the same GPIO; chain those panels on one pin name" % (ids[pid], pin_name))
            ids[pid] = pin_name
            if model == "pi" and pid not in PI_LED_PINS:
                raise BlinkaError("pin %s: a Raspberry Pi 1-4/Zero drives NeoPixels only on GPIO 10, 12, 13, 18, 19 or 21 "
                                  "(D18 is the usual one); move the data wire" % pin_name)
            count = sum(panels[i]["count"] for i in members)
            try:
                strip = neopixel_module.NeoPixel(pin, count, bpp=bpp, brightness=1.0, auto_write=False, pixel_order=order)
            except PermissionError as e:
                raise BlinkaError("pin %s: no permission to use the GPIO (%s); %s" % (pin_name, e, _permission_hint(None))) from None
            except (OSError, RuntimeError, ValueError) as e:
                raise BlinkaError("pin %s: cannot open it for NeoPixels (%s); check that this is the Pi's GPIO header "
                                  "(/dev/gpiochip*), and %s" % (pin_name, str(e).strip(), _permission_hint(None))) from None
            raw = getattr(strip, "_post_brightness_buffer", None)
            if isinstance(raw, bytearray) and len(raw) == count * bpp and getattr(strip, "_offset", 0) == 0:
                send = strip.show  # brightness 1.0: show() sends this very buffer
            else:  # another pixelbuf implementation: own buffer, the library's transmit call
                raw = bytearray(count * bpp)
                send = _transmitter(strip, raw)
            mv = memoryview(raw)
            off = 0
            for i in members:
                n = panels[i]["count"] * bpp
                self._bufs[i] = mv[off:off + n]
                off += n
            self.strips.append(strip)
            self.raw.append(raw)
            self._sends.append(send)
            self.pins.append(pin_name)

    def buffers(self):
        # Per profile panel, the slice of its chain's buffer the engine writes into.
        return list(self._bufs)

    def show(self):
        sends = self._sends
        try:
            for i in range(self.n):
                sends[i]()
        except PermissionError as e:
            raise BlinkaError("sending to the LEDs: no permission (%s); %s" % (e, _permission_hint(self.model))) from None
        except (OSError, RuntimeError) as e:
            raise BlinkaError("sending to the LEDs failed (%s); %s" % (str(e).strip(), _permission_hint(self.model))) from None
        self.frames += 1

    def show_bytes(self, frame):
        # Send one whole frame given as the panels' bytes back to back (replay's LED rows).
        off = 0
        for raw in self.raw:
            raw[:] = frame[off:off + len(raw)]
            off += len(raw)
        if off != len(frame):
            raise ValueError("frame has %d bytes, the panels take %d" % (len(frame), off))
        self.show()

    def blank(self):
        for raw in self.raw:
            raw[:] = bytes(len(raw))
        self.show()

    def close(self):
        try:
            self.blank()
        finally:
            self._release()

    def _release(self):
        # Give the data pins back (the strips keep showing their last frame).
        for s in self.strips:
            pin = getattr(s, "pin", None)
            if pin is not None and hasattr(pin, "deinit"):
                try:
                    pin.deinit()
                except Exception:
                    pass
        self.strips = []
        self._sends = []
        self.n = 0


def _transmitter(strip, raw):
    def send():
        strip._transmit(raw)

    return send
