# The engine: one object that holds the whole chain for a garment, built from a board profile
# and user settings: audio hop -> Spectrum -> Analyzer -> Features -> Mapper -> Output bytes.
from firmware.analyzer import Analyzer
from firmware.config import apply_config, defaults_from_profile, set_panel
from firmware.mapper import Mapper, mode_index
from firmware.output import Output
from firmware.palettes import Palettes
from firmware.params import Params
from firmware.spectrum import Spectrum


class Engine:
    def __init__(self, profile, config=None, bufs=None, kick_model=None):
        # profile: a validated profile (firmware.profile.load_profile). config: settings dict or None.
        # bufs: optional list of per-panel byte buffers to fill (e.g. NeoPixel objects' .buf).
        # kick_model: the Analyzer's model argument (default: firmware.kick_weights).
        self.profile = profile
        self.fs = profile["sample_rate"]
        self.hop = profile["hop"]
        self.n = profile["fft_size"]
        self.params = Params()
        self.palettes = Palettes()
        self.settings = defaults_from_profile(profile)["panels"]
        for name in self.settings:  # a profile default that no longer exists falls back quietly
            s = self.settings[name]
            if mode_index(s["mode"]) < 0:
                s["mode"] = "pulse"
            if not self.palettes.has(s["palette"]):
                s["palette"] = "rainbow"
        self.problems = []
        if config is not None:
            self.problems = apply_config(config, self.params, self.palettes, self.settings)
        p = self.params
        self._bass = (p.get("bass_lo"), p.get("bass_hi"))
        self.spectrum = Spectrum(self.fs, self.n, self.hop, bass_hz=self._bass)
        self.analyzer = Analyzer(p, self.fs, self.hop, self.n // self.hop, kick_model)
        from firmware.layout import bounds, garment_positions  # boot-only (app.unload_boot_modules)

        positions = garment_positions(profile)  # start-up only: the mapper turns them into distances
        x0, y0, x1, y1 = bounds(positions)
        centre = ((x0 + x1) >> 1, (y0 + y1) >> 1)
        total = 0
        for panel in profile["panels"]:
            total += panel["count"]
        self.total = total
        self.mapper = Mapper(total, positions, p, centre)
        self.output = Output(profile["power"], p)
        for i in range(len(profile["panels"])):
            panel = profile["panels"][i]
            s = self.settings[panel["name"]]
            self.mapper.add_panel(panel["first"], panel["count"], self.palettes.lut(s["palette"]), s["mode"], s["palette"])
            self.output.add_panel(panel["first"], panel["count"], panel["order"], bufs[i] if bufs else None)
        self.mapper.positions = None  # each panel holds its distances now: the layout's 4 bytes a pixel go
        self.hops = 0
        self.features = self.analyzer.features

    def hop_buffer(self):
        # Where the source writes the next hop (memoryview of `hop` int16 samples).
        return self.spectrum.next_slot()

    def hop_time_ms(self, h):
        # End time of hop h (0-based) in ms since the start of the audio.
        return ((h + 1) * self.hop * 1000) // self.fs

    def process(self):
        # Analyse the hop just written into hop_buffer(); returns the Features record.
        p = self.params
        if p.get("bass_lo") != self._bass[0] or p.get("bass_hi") != self._bass[1]:
            self._bass = (p.get("bass_lo"), p.get("bass_hi"))
            self.spectrum.set_bands(self._bass)
        self.spectrum.push()
        f = self.analyzer.update(self.spectrum.levels, self.hop_time_ms(self.hops))
        self.hops += 1
        return f

    def render(self, now_ms):
        # Map the newest features to colours and fill the panel buffers; returns the estimated mA.
        return self.output.show(self.mapper.render(self.features, now_ms))

    def set_panel(self, name, settings):
        # Change one panel's mode and/or palette live; returns None or the error.
        err = set_panel(self.settings, self.palettes, name, settings)
        if err:
            return err
        s = self.settings[name]
        for i in range(len(self.profile["panels"])):
            if self.profile["panels"][i]["name"] == name:
                pm = self.mapper.panels[i]
                pm.mode = mode_index(s["mode"])
                pm.lut = self.palettes.lut(s["palette"])
                pm.palette = s["palette"]
        self.palettes.prune([pm.palette for pm in self.mapper.panels])  # a table only while shown
        return None

    def panel_buffers(self):
        return [p.buf for p in self.output.panels]
