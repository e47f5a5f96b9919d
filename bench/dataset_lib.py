# Building blocks for the kick-detection development set: real drum samples from hydrogen's kits,
# General MIDI parts rendered by fluidsynth, espeak-ng speech, noise/hum, and the garment-mic model.
"""Helpers used by ``bench/make_dataset.py``.

Everything audible comes from material nobody on this project wrote: recorded drum kits and demo
songs from the Debian packages ``hydrogen-data`` and ``hydrogen-drumkits``, the FluidR3 General MIDI soundfont
(``fluid-soundfont-gm``) played by ``fluidsynth``, and ``espeak-ng`` voices.  This module only
sequences them (at exactly known sample positions) and mixes them.  Noise and mains hum are
synthesised, since they are signals rather than recordings.

Kick annotations are exact by construction: each kick sample is placed so that its *true onset*
(see :func:`true_onset`) lands on a chosen sample index, and that index is what gets annotated.
"""
from __future__ import annotations

import math
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soundfile as sf
from scipy import signal

DRUMKIT_DIR = "/usr/share/hydrogen/data/drumkits"
DEMO_SONG_DIR = "/usr/share/hydrogen/data/demo_songs"
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SR = 44100            # music, noise and hum are made at this rate
ESPEAK_SR = 22050     # espeak-ng's native rate; speech-only files keep it
MAX_SAMPLE_S = 1.5    # drum samples are cut (with a fade) to this length

# Recorded kick samples from outside hydrogen's kits, for dev material only (make_extra_dev.py
# --kick-ext): Sonic Pi's bass drums (Debian sonic-pi-samples) and LMMS's (lmms-common), mostly
# electronic and dance-music kicks. Left out: lmms kick04.ogg (libsndfile cannot read it), kicks with
# under 30 % of their first 50 ms under 150 Hz (bd_mehackit, kick_hard01, kick_long01: tom-like), and
# bd_gas, whose first 100 ms correlate 0.88 with a test kit's kick (VariBreaks Kick 3; every other
# one at most 0.84, none a copy).
EXT_KICK_DIRS = {"sonic-pi-samples": "/usr/share/sonic-pi/samples", "lmms-common": "/usr/share/lmms/samples/drums"}
EXT_KICKS: list[tuple[str, str]] = [("sonic-pi-samples", "bd_%s.flac" % k) for k in (
    "808", "ada", "boom", "fat", "haus", "klub", "pure", "sone", "tek", "zome", "zum")] + [
    ("lmms-common", f) for f in ("bassdrum01.ogg", "bassdrum02.ogg", "bassdrum03.ogg", "bassdrum04.ogg",
                                 "bassdrum_acoustic01.ogg", "bassdrum_acoustic02.ogg", "kick01.ogg",
                                 "kick02.ogg", "kick03.ogg", "kick_distorted01.ogg", "kick_hardcore01.ogg",
                                 "kick_hiphop01.ogg", "kick_soft01.ogg", "kick_soft02.ogg")]


def ext_kick_path(package: str, name: str) -> str:
    return os.path.join(EXT_KICK_DIRS[package], name)


def missing_ext_kicks() -> list[str]:
    """The Debian packages holding EXT_KICKS that are not installed (named once each)."""
    return sorted({pkg for pkg, name in EXT_KICKS if not os.path.isfile(ext_kick_path(pkg, name))})


HYDROGEN_DATA_KITS = ("GMRockKit", "TR808EmulationKit")  # KIT_ROLES' other kits come with hydrogen-drumkits


def missing_requirements() -> list[str]:
    """The Debian tools/data this module needs that are not installed: the package's name first,
    then (for data) where it was looked for."""
    missing = [tool for tool in ("fluidsynth", "espeak-ng") if shutil.which(tool) is None]
    if not os.path.isdir(DEMO_SONG_DIR) or not all(os.path.isdir(os.path.join(DRUMKIT_DIR, k))
                                                   for k in HYDROGEN_DATA_KITS):
        missing.append(f"hydrogen-data ({DRUMKIT_DIR})")
    if not all(os.path.isdir(os.path.join(DRUMKIT_DIR, k)) for k in KIT_ROLES if k not in HYDROGEN_DATA_KITS):
        missing.append(f"hydrogen-drumkits ({DRUMKIT_DIR})")
    if not os.path.isfile(SOUNDFONT):
        missing.append(f"fluid-soundfont-gm ({SOUNDFONT})")
    return missing


# --------------------------------------------------------------------------------------------
# Small audio helpers
# --------------------------------------------------------------------------------------------

def db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def rms_db(x: np.ndarray) -> float:
    return 20.0 * math.log10(math.sqrt(float(np.mean(np.square(x)))) + 1e-12)


def to_mono(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 1 else x.mean(axis=1)


def resample(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Polyphase resampling; zero-phase, so event times (in seconds) do not move."""
    if sr_from == sr_to:
        return x
    g = math.gcd(sr_from, sr_to)
    return signal.resample_poly(x, sr_to // g, sr_from // g)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Truncate or zero-pad ``x`` to exactly ``n`` samples."""
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros(n - len(x), dtype=x.dtype)])


def fade_out(x: np.ndarray, sr: int, ms: float = 30.0) -> np.ndarray:
    n = min(len(x), int(sr * ms / 1000))
    y = x.copy()
    if n > 0:
        y[-n:] *= np.linspace(1.0, 0.0, n)
    return y


def set_peak(x: np.ndarray, peak_db: float) -> np.ndarray:
    peak = float(np.max(np.abs(x)))
    return x if peak == 0 else x * (db_to_gain(peak_db) / peak)


def set_rms(x: np.ndarray, level_db: float) -> np.ndarray:
    return x * db_to_gain(level_db - rms_db(x))


def hit_level_db(x: np.ndarray, times: list[float], sr: int, window_s: float = 0.1) -> float:
    """Mean level (dB) of ``x`` over the ``window_s`` after each time: how loud hits are."""
    w = int(window_s * sr)
    energy = [np.mean(np.square(x[int(t * sr): int(t * sr) + w])) for t in times]
    return 10.0 * math.log10(float(np.mean(energy)) + 1e-12)


def write_audio(path: str, x: np.ndarray, sr: int) -> None:
    """Mono 16-bit PCM; the container (WAV/FLAC) follows the file extension."""
    sf.write(path, np.clip(x, -1.0, 32767 / 32768), sr, subtype="PCM_16")


# --------------------------------------------------------------------------------------------
# Hydrogen drum kits
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Layer:
    path: str
    vmin: float
    vmax: float
    gain: float


@dataclass(frozen=True)
class Instrument:
    kit: str
    name: str
    volume: float
    layers: tuple[Layer, ...]


# Which instruments of which kits play which role.  Curated by hand from each drumkit.xml
# (names are matched exactly, else by unique prefix).  Left out on purpose: "Audiophob" (its
# "Kick" is a tom sample, 86335__zgump__tom-0105.wav), "The Black Pearl 1.0" (byte-identical
# samples to GMRockKit), and the hand-percussion kits "Gimme A Hand 1.0" and "circAfrique v4".
KIT_ROLES: dict[str, dict[str, list[str]]] = {
    "GMRockKit": dict(kick=["Kick"], snare=["Snare"], hat=["Hat Closed"], hat_open=["Hat Open"],
                      tom_hi=["Tom 1"], tom_mid=["Tom 2"], tom_lo=["Floor Tom"], ride=["Ride"]),
    "ColomboAcousticDrumkit": dict(kick=["BassDrum"], snare=["Snare1", "Snare Rock"],
                                   hat=["Closed HH"], hat_open=["Open HH"], tom_hi=["Tom Hi"],
                                   tom_mid=["Tom Mid"], tom_lo=["Tom Low"],
                                   ride=["ride-crash20inch"]),
    "ForzeeStereo": dict(kick=["Kick (Tama"], snare=["Snare (Pearl"], hat=["Hi-Hat Closed"],
                         hat_open=["Hi-Hat Semiopen"], tom_hi=["Tom High"], tom_mid=["Tom Mid"],
                         tom_lo=["Tom Low"], ride=["Ride Bow"]),
    "Millo_MultiLayered2": dict(kick=["Kick"], snare=["Snare Rock", "Snare Jazz"],
                                hat=["Closed HH"], hat_open=["Open HH"], tom_hi=["Tom Hi"],
                                tom_mid=["Tom Mid"], tom_lo=["Tom Low"], ride=["Ride Rock"]),
    "Millo_MultiLayered3": dict(kick=["Kick"], snare=["Snare Rock"], hat=["Closed HH"],
                                hat_open=["Open HH"], tom_hi=["Tom Hi"], tom_mid=["Tom Mid"],
                                tom_lo=["Tom Low"], ride=["Ride Jazz"]),
    "Millo-Drums_v.1": dict(kick=["Kick"], snare=["Snare Rock"], hat=["Closed HH"],
                            hat_open=["Open HH"], tom_hi=["Tom Hi"], tom_mid=["Tom Mid"],
                            tom_lo=["Tom Low"], ride=["Ride Rock"]),
    "BJA_Pacific": dict(kick=["BassDrum"], snare=["Snare", "Snare Dry"], hat=["Hi Hat Closed"],
                        hat_open=["Hi Hat Opened"], tom_hi=["Tom"], tom_mid=["Tom"],
                        tom_lo=["Floor Tom"], ride=["Ride"]),
    "VariBreaks": dict(kick=["VariBreaks Kick 1", "VariBreaks Kick 2", "VariBreaks Kick 3"],
                       snare=["VariBreaks Snare 1", "VariBreaks Snare 2"],
                       hat=["VariBreaks Hat 1 Cl", "VariBreaks Hat 2 Cl"],
                       hat_open=["VariBreaks Hat 1 Op"], tom_hi=["VariBreaks Tom Hi"],
                       tom_mid=["VariBreaks Tom Mid"], tom_lo=["VariBreaks Tom Low"]),
    "rumpf_kit_z01_h2": dict(kick=["c3 - bass drum 1", "g3 - bass drum 3"],
                             snare=["d3 - snare 1"], hat=["f#3 - hi-hat closed"],
                             hat_open=["a#3 - hi-hat open"], tom_hi=["d4 - high tom"],
                             tom_mid=["c4 - middle tom"], tom_lo=["b3 - low tom"]),
    "TR808EmulationKit": dict(kick=["Kick Long", "Kick Short"], snare=["Snare 1", "Clap"],
                              hat=["Closed Hat"], hat_open=["Open Hat"], tom_hi=["Tom Hi"],
                              tom_mid=["Tom Mid"], tom_lo=["Tom Low"]),
    "ElectricEmpireKit": dict(kick=["Kick Hard 1", "Kick Low 2", "Kick Power", "Kick Stomp"],
                              snare=["Snare 1", "Snare 2", "Clap"], hat=["Hat Closed Dirty"],
                              hat_open=["Hat Op Dirty"]),
    "HardElectro1": dict(kick=["Kick 1", "Kick 3"], snare=["Snare", "Clap 1"],
                         hat=["Closed HH 2"], hat_open=["Open HH"]),
}
# Further kicks of the kits that bench/data's dev split already uses, for extra DEV material only
# (bench/make_extra_dev.py --kick-pool): no kit of the test split appears here, and KIT_ROLES is left
# as it is, so the test split's recipes (and random streams) stay the same.
DEV_KICK_POOL: list[tuple[str, str]] = [
    ("ElectricEmpireKit", k) for k in ("Kick Lite 1", "Kick Lite 2", "Kick Low 1", "Kick Nz",
                                       "Kick Old", "Kick Ring", "Kick Dist", "Kick Hard 2")
] + [("rumpf_kit_z01_h2", "f3 - bass drum 2"), ("rumpf_kit_z01_h2", "a3 - bass drum 4"),
     ("GMRockKit", "Kick"), ("ForzeeStereo", "Kick (Tama"), ("BJA_Pacific", "BassDrum"),
     ("Millo_MultiLayered3", "Kick")]
TOM_ROLES = ("tom_hi", "tom_mid", "tom_lo")
KITS_WITH_TOMS = [k for k, roles in KIT_ROLES.items() if all(r in roles for r in TOM_ROLES)]


def _tag(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


def _child_text(el: ET.Element, name: str, default: str | None = None) -> str | None:
    for child in el:
        if _tag(child) == name:
            return child.text
    return default


def _parse_layer(kit_dir: str, el: ET.Element) -> Layer:
    return Layer(os.path.join(kit_dir, _child_text(el, "filename") or ""),
                 float(_child_text(el, "min", "0") or 0), float(_child_text(el, "max", "1") or 1),
                 float(_child_text(el, "gain", "1") or 1))


def _parse_instrument(kit: str, kit_dir: str, el: ET.Element) -> Instrument | None:
    """One <instrument>: velocity layers (new format) or a single <filename> (old format)."""
    name = _child_text(el, "name")
    layers = [_parse_layer(kit_dir, lay) for lay in el.iter() if _tag(lay) == "layer"]
    direct = _child_text(el, "filename")
    if not layers and direct:
        layers = [Layer(os.path.join(kit_dir, direct), 0.0, 1.0, 1.0)]
    layers = [lay for lay in layers if os.path.isfile(lay.path)]
    if not name or not layers:
        return None
    volume = float(_child_text(el, "volume", "1") or 1)
    return Instrument(kit, name, volume, tuple(layers))


@lru_cache(maxsize=None)
def parse_drumkit(kit: str) -> dict[str, Instrument]:
    """All instruments (with sample files present) of a hydrogen kit, keyed by name."""
    kit_dir = os.path.join(DRUMKIT_DIR, kit)
    root = ET.parse(os.path.join(kit_dir, "drumkit.xml")).getroot()
    out: dict[str, Instrument] = {}
    for el in root.iter():
        if _tag(el) == "instrument":
            inst = _parse_instrument(kit, kit_dir, el)
            if inst is not None and inst.name not in out:
                out[inst.name] = inst
    return out


def find_instrument(kit: str, name: str) -> Instrument:
    instruments = parse_drumkit(kit)
    if name in instruments:
        return instruments[name]
    matches = [v for k, v in instruments.items() if k.startswith(name)]
    if len(matches) != 1:
        raise KeyError(f"kit {kit!r}: no unique instrument named {name!r}")
    return matches[0]


def true_onset(x: np.ndarray, sr: int, floor_db: float = -40.0) -> int:
    """Index of a drum sample's true onset: first sample reaching ``floor_db`` below its peak.

    A few recorded samples open with noise or bleed already above -40 dB (e.g. BJA_Pacific
    BD_01, Colombo's bass drum); for those the threshold is raised to 10 dB above the level of
    the first millisecond (but never above -20 dB re peak) so the head noise is not taken for
    the hit.
    """
    a = np.abs(x)
    peak = float(a.max())
    if peak == 0.0:
        return 0
    head = a[: max(1, sr // 1000)]
    head_db = 20 * math.log10(math.sqrt(float(np.mean(head ** 2))) / peak + 1e-12)
    thr_db = min(max(floor_db, head_db + 10.0), -20.0)
    return int(np.flatnonzero(a >= peak * db_to_gain(thr_db))[0])


@lru_cache(maxsize=None)
def load_sample(path: str) -> tuple[np.ndarray, int]:
    """A drum sample as mono float at :data:`SR`, cut to MAX_SAMPLE_S, and its true onset."""
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    x = resample(to_mono(x), sr, SR)
    if len(x) > MAX_SAMPLE_S * SR:
        x = fade_out(x[: int(MAX_SAMPLE_S * SR)], SR, ms=200)
    return x, true_onset(x, SR)


@lru_cache(maxsize=None)
def rated_sample(path: str, rate: float) -> tuple[np.ndarray, int]:
    """load_sample's sample played ``rate`` times faster (pitch up by ``rate``), and its onset."""
    x, _ = load_sample(path)
    y = resample(x, int(round(SR * rate)), SR)
    return y, true_onset(y, SR)


@lru_cache(maxsize=None)
def instrument_peak(inst: Instrument) -> float:
    """Peak over all layers, so layers keep their recorded relative loudness."""
    return max(float(np.max(np.abs(load_sample(lay.path)[0]))) for lay in inst.layers) or 1.0


class DrumKit:
    """One hydrogen kit with one instrument chosen per role (e.g. which of several kicks)."""

    def __init__(self, kit: str, rng: np.random.Generator, kick: str | None = None,
                 kick_rate: float = 1.0, kick_synth: dict | None = None, kick_file: str | None = None):
        # kick: this instrument as the kick instead of KIT_ROLES' choice (the random stream is
        # used the same either way); kick_rate: the kick sample resampled by this factor (< 1
        # lower, longer and slower to swell; > 1 higher and snappier), dev material only.
        # kick_synth: synth_kick's parameters: a synthesized kick instead (dev material only);
        # kick_file: a recorded kick sample from outside the kit (EXT_KICKS; dev material only).
        self.name = kit
        self.kick_rate = kick_rate
        self.kick_synth = kick_synth
        self.kick_file = kick_file
        self.roles: dict[str, Instrument] = {}
        for role, names in KIT_ROLES[kit].items():
            self.roles[role] = find_instrument(kit, names[int(rng.integers(len(names)))])
        if kick is not None:
            self.roles["kick"] = find_instrument(kit, kick)

    def describe(self, with_kick: bool = True) -> str:
        parts = [f"{role}={inst.name}" for role, inst in self.roles.items()
                 if with_kick or role != "kick"]
        if self.own_kick() is not None and with_kick:
            own = "synthesized" if self.kick_synth is not None else self.kick_file
            parts = [p for p in parts if not p.startswith("kick=")] + ["kick=" + own]
        return f"hydrogen kit {self.name} ({', '.join(parts)})"

    def own_kick(self):
        """(samples, onset) of a kick that replaces the kit's (kick_synth or kick_file), else None."""
        if self.kick_synth is not None:
            return synth_kick(**self.kick_synth)
        if self.kick_file is not None:
            return load_sample(self.kick_file)
        return None

    def hit(self, role: str, velocity: float, rng: np.random.Generator):
        """(samples, onset index, gain) for one hit, or None if the kit lacks the role."""
        inst = self.roles.get(role)
        if inst is None:
            return None
        own = self.own_kick() if role == "kick" else None
        if own is not None:
            x, onset = own
            return x, onset, velocity / float(np.max(np.abs(x)))
        layer = _pick_layer(inst.layers, velocity, rng)
        if role == "kick" and self.kick_rate != 1.0:
            x, onset = rated_sample(layer.path, self.kick_rate)
        else:
            x, onset = load_sample(layer.path)
        gain = velocity * layer.gain * inst.volume / instrument_peak(inst)
        return x, onset, gain


@lru_cache(maxsize=None)
def synth_kick(f_start: float, f_end: float, sweep_ms: float, attack_ms: float, t60_s: float,
               drive: float, click_db: float) -> tuple[np.ndarray, int]:
    """A drum-machine kick (808/909/hard-house style) and its onset: a sine whose pitch falls
    exponentially from f_start to f_end (time constant sweep_ms), faded in over attack_ms,
    decaying to -60 dB in t60_s, through tanh drive (1 = clean), with a 2 ms noise click
    click_db under it. Deterministic: the same parameters give the same samples."""
    n = int(SR * min(1.0, t60_s + 0.05))
    t = np.arange(n) / SR
    f = f_end + (f_start - f_end) * np.exp(-t / (sweep_ms / 1000.0))
    x = np.sin(2 * np.pi * np.cumsum(f) / SR)
    env = np.exp(-6.91 * t / t60_s) * np.minimum(1.0, t / max(attack_ms / 1000.0, 1.0 / SR))
    x = np.tanh(drive * x * env) / np.tanh(drive)
    k = int(SR * 0.002)
    click = np.random.default_rng(int(f_start * 1000 + sweep_ms * 10)).standard_normal(k)
    x[:k] += np.diff(np.concatenate([[0.0], click])) * np.hanning(2 * k)[k:] * db_to_gain(click_db)
    x = fade_out(x, SR, ms=20)
    return x, true_onset(x, SR)


def synth_kick_params(rng: np.random.Generator) -> dict:
    """Random synth_kick parameters over drum-machine and dance-music kicks: ending at 40-65 Hz,
    starting 1.5-5x higher (up to 320 Hz), sweeping in 6-45 ms, swelling 0.3-20 ms, 0.15-0.7 s long."""
    f_end = float(rng.uniform(40, 65))
    return dict(f_start=round(min(320.0, f_end * float(rng.uniform(1.5, 5.0))), 1), f_end=round(f_end, 1),
                sweep_ms=round(float(rng.uniform(6, 45)), 1), attack_ms=round(float(rng.uniform(0.3, 20)), 1),
                t60_s=round(float(rng.uniform(0.15, 0.7)), 2), drive=round(float(rng.uniform(1, 8)), 2),
                click_db=round(float(rng.uniform(-40, -12)), 1))


def attack_ms(inst: Instrument) -> tuple[float, float]:
    """(min, max) over layers of the time from the annotated onset to half the sample's peak.

    Tells how far after the annotated (-40 dB) onset the bulk of the hit arrives: about 1-6 ms
    for most kicks, up to ~15 ms for soft, slowly swelling ones.
    """
    lags = [_half_peak_ms(*load_sample(lay.path)) for lay in inst.layers]
    return round(min(lags), 2), round(max(lags), 2)


def _half_peak_ms(x: np.ndarray, onset: int) -> float:
    a = np.abs(x)
    return (int(np.argmax(a >= 0.5 * a.max())) - onset) / SR * 1000


def kit_kick_attack_ms(kit: "DrumKit") -> tuple[float, float]:
    """attack_ms of the kit's kick as it plays (a kick of its own, synthesized or from a file, has one layer)."""
    own = kit.own_kick()
    if own is not None:
        lag = round(_half_peak_ms(*own), 2)
        return lag, lag
    return attack_ms(kit.roles["kick"])


def _pick_layer(layers: tuple[Layer, ...], velocity: float, rng: np.random.Generator) -> Layer:
    fits = [lay for lay in layers if lay.vmin <= velocity <= lay.vmax]
    if not fits:
        fits = [min(layers, key=lambda lay: abs((lay.vmin + lay.vmax) / 2 - velocity))]
    return fits[int(rng.integers(len(fits)))]


# --------------------------------------------------------------------------------------------
# Drum patterns (own grooves and the grooves of hydrogen's demo songs) and drum rendering
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hit:
    time: float       # seconds; for a kick this becomes the annotated onset (after rounding)
    role: str
    velocity: float


# One string per bar of 16 sixteenths, cycled.  X accent, x normal, o medium, g ghost note.
VELOCITY_CHARS = {"X": 1.0, "x": 0.85, "o": 0.6, "g": 0.3}
PATTERNS: dict[str, dict] = {
    "four_on_floor": dict(bpm=(116, 132), swing=0.0, bars=dict(
        kick=("x...x...x...x...", "x...x...x...x..g"), snare=("....x.......x...",),
        hat=("o..go..go..go..g",), hat_open=("..x...x...x...x.",))),
    "rock": dict(bpm=(84, 150), swing=0.0, bars=dict(
        kick=("x.......x.x.....", "x.....x.x.x....."),
        snare=("....X.......X...", "....X.......X..g"), hat=("x.o.x.o.x.o.x.o.",))),
    "breakbeat": dict(bpm=(86, 170), swing=0.08, bars=dict(
        kick=("x.x.......x..x..", "x.x.......xx...."),
        snare=("....x..g.g..x..g", "....x..g.g..x.g."), hat=("x.x.x.x.x.x.x.x.",),
        ride=("................", "..............o."))),
    "half_time": dict(bpm=(130, 170), swing=0.05, bars=dict(
        kick=("x.........x.....", "x.....x...x....."),
        snare=("........X.......", "........X.....g."), hat=("xgxgxgxgxgxgxgxg",))),
    "funk": dict(bpm=(80, 112), swing=0.1, bars=dict(
        kick=("x..x..x...x..x..", "x..x......x.x..."),
        snare=("....x..g.g..x..g", ".g..x..g....x.g."), hat=("xgogxgogxgogxgog",),
        hat_open=("..............x.", "................"))),
    "two_step": dict(bpm=(160, 170), swing=0.0, bars=dict(
        kick=("x.........x.....", "x.x.......x....."),
        snare=("....x.......x...", "....x..g....x..."), hat=("x.x.x.x.x.x.x.x.",),
        ride=("o...o...o...o...",))),
    # kick-free groove where the floor tom carries the low end (a hard negative)
    "tom_groove": dict(bpm=(88, 130), swing=0.0, bars=dict(
        tom_lo=("x..x..x.x..x..x.", "x..x..x.x.x.x..."), tom_mid=("......o.......o.",),
        snare=("....x.......x...",), hat=("x.o.x.o.x.o.x.o.",))),
}
KICK_PATTERNS = [p for p, d in PATTERNS.items() if "kick" in d["bars"]]
# hydrogen demo songs whose grooves are reused (notes only; instruments mapped to roles by name)
DEMO_SONGS = ["GM_kit_demo1", "GM_kit_demo2", "GM_kit_demo3", "GM_kit_Diddley", "GM_kit_Jazzy",
              "TR808kit-demo", "tutorial_georgyporgy"]
FILL = dict(tom_hi=(12, 13), tom_mid=(14,), tom_lo=(15,))


def pattern_bar(pattern: str, bar: int) -> list[tuple[float, str, float]]:
    """(step, role, velocity) events of one bar of a built-in pattern."""
    events = []
    for role, bars in PATTERNS[pattern]["bars"].items():
        for step, ch in enumerate(bars[bar % len(bars)]):
            if ch in VELOCITY_CHARS:
                events.append((float(step), role, VELOCITY_CHARS[ch]))
    return events


def with_fill(events: list, rng: np.random.Generator) -> list:
    """Replace the last beat of a bar by a tom (or snare) fill; kicks before it stay."""
    kept = [e for e in events if e[0] < 12]
    roles = FILL if rng.random() < 0.7 else dict(snare=(12, 13, 14, 15))
    for role, steps in roles.items():
        kept += [(float(s), role, 0.7 + 0.2 * rng.random()) for s in steps]
    return kept


def _role_from_name(name: str) -> str | None:
    """Map a hydrogen instrument name (from a demo song) to one of our roles."""
    n = name.lower()
    if "kick" in n or "bass drum" in n or "bassdrum" in n:
        return "kick"
    if any(w in n for w in ("snare", "clap", "stick", "rim")):
        return "snare"
    if "hat" in n or "hh" in n:
        return "hat_open" if ("open" in n or "semi" in n) else "hat"
    if "tom" in n:
        if "floor" in n or "low" in n:
            return "tom_lo"
        return "tom_mid" if ("mid" in n or "2" in n) else "tom_hi"
    return "ride" if "ride" in n else None


def _demo_patterns(root: ET.Element, roles: dict[str, str]) -> dict[str, list]:
    patterns = {}
    for pat in (e for e in root.iter() if _tag(e) == "pattern"):
        notes = []
        for note in (e for e in pat.iter() if _tag(e) == "note"):
            role = roles.get(_child_text(note, "instrument") or "")
            if role is None or (_child_text(note, "note_off") or "false") == "true":
                continue
            if float(_child_text(note, "probability", "1") or 1) < 0.5:
                continue
            step = int(_child_text(note, "position", "0") or 0) / 12.0  # 48 ticks per beat
            notes.append((step, role, float(_child_text(note, "velocity", "0.8") or 0.8)))
        patterns[_child_text(pat, "name") or ""] = notes
    return patterns


@lru_cache(maxsize=None)
def load_demo_groove(song: str) -> tuple[float, tuple]:
    """(bpm, bars) of a hydrogen demo song; each bar is a tuple of (step, role, velocity)."""
    root = ET.parse(os.path.join(DEMO_SONG_DIR, song + ".h2song")).getroot()
    roles = {}
    for inst in (e for e in root.iter() if _tag(e) == "instrument"):
        role = _role_from_name(_child_text(inst, "name") or "")
        if role is not None:
            roles[_child_text(inst, "id") or ""] = role
    patterns = _demo_patterns(root, roles)
    bars = []
    for group in (e for e in root.iter() if _tag(e) == "group"):
        ids = [c.text for c in group if _tag(c) == "patternID"]
        bar = tuple(sorted(ev for pid in ids for ev in patterns.get(pid, [])))
        if bar:
            bars.append(bar)
    return float(_child_text(root, "bpm", "120") or 120), tuple(bars)


def render_drums(hits: list[Hit], kit: DrumKit, n: int, role_gain_db: dict[str, float],
                 rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Mono drum stem of ``n`` samples and (exact onset time [s], velocity) of every kick.

    Each sample is placed so its true onset falls on ``round(hit.time * SR)``; for kicks
    that sample index / SR is the annotation.
    """
    out = np.zeros(n)
    kicks = []
    for h in hits:
        got = kit.hit(h.role, h.velocity, rng)
        if got is None:
            continue
        x, onset, gain = got
        pos = int(round(h.time * SR))
        start = pos - onset
        seg = x[max(0, -start): max(0, n - start)]
        out[max(0, start): max(0, start) + len(seg)] += seg * gain * db_to_gain(
            role_gain_db.get(h.role, 0.0))
        if h.role == "kick":
            kicks.append((pos / SR, round(h.velocity, 2)))
    return out, sorted(kicks)


# --------------------------------------------------------------------------------------------
# MIDI writing and fluidsynth rendering
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Note:
    start: float   # seconds
    dur: float     # seconds
    pitch: int     # MIDI note number
    vel: int       # 1..127


MIDI_TPQ = 960
MIDI_TEMPO_US = 500_000                      # fixed 120 bpm: 1920 ticks per second
TICKS_PER_S = MIDI_TPQ * 1_000_000 / MIDI_TEMPO_US


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def midi_bytes(notes: list[Note], program: int, channel: int = 0) -> bytes:
    """A one-track Standard MIDI File (format 0) playing ``notes`` with a GM ``program``."""
    ch = channel & 0x0F
    events = [(0, 0, b"\xff\x51\x03" + MIDI_TEMPO_US.to_bytes(3, "big")),
              (0, 0, bytes([0xC0 | ch, program])), (0, 0, bytes([0xB0 | ch, 7, 110]))]
    for nt in notes:
        on = int(round(nt.start * TICKS_PER_S))
        off = max(on + 1, int(round((nt.start + nt.dur) * TICKS_PER_S)))
        events.append((on, 2, bytes([0x90 | ch, nt.pitch, max(1, min(127, nt.vel))])))
        events.append((off, 1, bytes([0x80 | ch, nt.pitch, 0])))
    data, now = b"", 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        data += _vlq(tick - now) + msg
        now = tick
    data += _vlq(0) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, MIDI_TPQ)
    return header + b"MTrk" + struct.pack(">I", len(data)) + data


def render_notes(notes: list[Note], program: int, n: int, tmpdir: str, tag: str,
                 reverb: bool = True) -> np.ndarray:
    """Render ``notes`` on a GM ``program`` with fluidsynth + FluidR3_GM; mono, ``n`` samples."""
    if not notes:
        return np.zeros(n)
    mid, wav = os.path.join(tmpdir, tag + ".mid"), os.path.join(tmpdir, tag + ".wav")
    with open(mid, "wb") as fh:
        fh.write(midi_bytes(notes, program))
    on = "1" if reverb else "0"
    cmd = ["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(SR), "-R", on, "-C", on,
           "-O", "float", "-F", wav, SOUNDFONT, mid]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    x, sr = sf.read(wav, dtype="float64", always_2d=True)
    assert sr == SR, (sr, SR)
    return fit_length(to_mono(x), n)


# --------------------------------------------------------------------------------------------
# Music parts: harmony, bass line, chords, lead, choir
# --------------------------------------------------------------------------------------------

GM_NAMES = {0: "Acoustic Grand Piano", 4: "Electric Piano 1", 11: "Vibraphone",
            16: "Drawbar Organ", 25: "Acoustic Guitar (steel)", 27: "Electric Guitar (clean)",
            32: "Acoustic Bass", 33: "Electric Bass (finger)", 34: "Electric Bass (pick)",
            35: "Fretless Bass", 36: "Slap Bass 1", 38: "Synth Bass 1", 39: "Synth Bass 2",
            48: "String Ensemble 1", 50: "Synth Strings 1", 52: "Choir Aahs", 53: "Voice Oohs",
            54: "Synth Voice", 56: "Trumpet", 65: "Alto Sax", 73: "Flute",
            80: "Lead 1 (square)", 81: "Lead 2 (sawtooth)", 89: "Pad 2 (warm)",
            90: "Pad 3 (polysynth)"}
BASS_PROGRAMS = [33, 34, 38, 36, 39, 35, 32]
CHORD_PROGRAMS = [89, 4, 48, 0, 90, 16, 50, 25]
LEAD_PROGRAMS = [81, 73, 80, 65, 11, 56, 27]
CHOIR_PROGRAMS = [52, 53, 54]
CHORD_SHAPES = {"maj": (0, 4, 7), "min": (0, 3, 7), "maj7": (0, 4, 7, 11),
                "min7": (0, 3, 7, 10), "dom7": (0, 4, 7, 10)}
PROGRESSIONS = [  # (semitones above the key root, chord quality) per bar
    [(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")],
    [(9, "min"), (5, "maj"), (0, "maj"), (7, "maj")],
    [(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")],
    [(0, "min"), (5, "min"), (7, "min"), (0, "min")],
    [(2, "min7"), (7, "dom7"), (0, "maj7"), (0, "maj7")],
    [(0, "min7"), (10, "maj"), (8, "maj7"), (10, "dom7")],
]
BASS_STYLES = ["kick_lock", "offbeat", "eighths", "syncopated", "sustained"]
CHORD_STYLES = ["pad", "stabs", "comp", "halves"]


@dataclass
class Grid:
    """Maps (bar, sixteenth step) to seconds; odd sixteenths are delayed by ``swing`` steps."""
    bpm: float
    start: float
    swing: float = 0.0

    @property
    def step(self) -> float:
        return 60.0 / self.bpm / 4.0

    def time(self, bar: int, step: float) -> float:
        t = self.start + (bar * 16 + step) * self.step
        if self.swing and float(step).is_integer() and int(step) % 2 == 1:
            t += self.swing * self.step
        return t


def chord_pitches(key: int, chord: tuple[int, str], low: int) -> list[int]:
    """Chord tones as MIDI notes, root placed in [low, low + 12)."""
    root = low + (key + chord[0] - low) % 12
    return [root + iv for iv in CHORD_SHAPES[chord[1]]]


def bass_rhythm(style: str, kick_steps: list[float], rng: np.random.Generator) -> list[float]:
    """Steps (sixteenths) of one bar of bass line."""
    if style == "kick_lock":   # on every kick, plus one or two notes between the kicks
        free = [s for s in (2.0, 6.0, 7.0, 11.0, 14.0) if s not in kick_steps]
        extra = list(rng.choice(free, size=min(len(free), 1 + int(rng.integers(2))),
                                replace=False))
        return sorted(set(kick_steps or [0.0, 8.0]) | set(float(e) for e in extra))
    if style == "offbeat":
        return [2.0, 6.0, 10.0, 14.0]
    if style == "eighths":
        return [float(s) for s in range(0, 16, 2)]
    if style == "syncopated":
        pool = [3.0, 6.0, 8.0, 10.0, 11.0, 14.0]
        return sorted({0.0} | {s for s in pool if rng.random() < 0.6})
    return [0.0, 8.0] if rng.random() < 0.5 else [0.0]   # sustained


def bass_line(grid: Grid, chords: list, key: int, style: str, kick_steps_by_bar: list,
              rng: np.random.Generator, end: float) -> list[Note]:
    notes = []
    for bar, chord in enumerate(chords):
        steps = bass_rhythm(style, kick_steps_by_bar[bar], rng)
        root = chord_pitches(key, chord, 28)[0]
        for i, st in enumerate(steps):
            nxt = steps[i + 1] if i + 1 < len(steps) else 16.0
            t0, t1 = grid.time(bar, st), grid.time(bar, nxt)
            if t0 >= end:
                break
            legato = 0.45 if style == "offbeat" else 0.9
            pitch = root if st == 0 else root + int(rng.choice([0, 0, 12, 7, -5]))
            notes.append(Note(t0, (t1 - t0) * legato, max(24, pitch), int(rng.integers(90, 118))))
    return notes


def chord_part(grid: Grid, chords: list, key: int, style: str, rng: np.random.Generator,
               end: float) -> list[Note]:
    rhythm = {"pad": [(0, 16)], "halves": [(0, 7.5), (8, 7.5)],
              "stabs": [(2, 1), (6, 1), (10, 1), (14, 1)],
              "comp": [(0, 2), (3, 2), (6, 3), (10, 2), (12, 3)]}[style]
    notes = []
    for bar, chord in enumerate(chords):
        for st, length in rhythm:
            t0 = grid.time(bar, st)
            if t0 < end:
                vel = int(rng.integers(60, 92))
                notes += [Note(t0, length * grid.step, p, vel)
                          for p in chord_pitches(key, chord, 52)]
    return notes


def melody(grid: Grid, chords: list, key: int, rng: np.random.Generator, end: float,
           low: int, high: int, step_choices: tuple, rest_p: float) -> list[Note]:
    """Random-walk melody on the pentatonic scale of the key (minor if the first chord is)."""
    minor = chords[0][1].startswith("min")
    scale = (0, 3, 5, 7, 10) if minor else (0, 2, 4, 7, 9)
    pitches = [p for p in range(low, high + 1) if (p - key) % 12 in scale]
    idx, notes, t_steps = len(pitches) // 2, [], 0.0
    total = len(chords) * 16
    while t_steps < total:
        length = float(rng.choice(step_choices))
        t0 = grid.time(int(t_steps // 16), t_steps % 16)
        if t0 >= end:
            break
        if rng.random() > rest_p:
            idx = int(np.clip(idx + rng.integers(-2, 3), 0, len(pitches) - 1))
            notes.append(Note(t0, length * grid.step * 0.9, pitches[idx], int(rng.integers(70, 105))))
        t_steps += length
    return notes


# --------------------------------------------------------------------------------------------
# espeak-ng speech and "singing"
# --------------------------------------------------------------------------------------------

# Public-domain texts (authors long dead): Dickens 1859, Austen 1813, Melville 1851,
# Lincoln 1863, Carroll 1865, Grimm 1812, Hugo 1862, Cervantes 1605, Dante c. 1320.
PASSAGES = {
    "en": ["It was the best of times, it was the worst of times, it was the age of wisdom, "
           "it was the age of foolishness.",
           "It is a truth universally acknowledged, that a single man in possession of a good "
           "fortune, must be in want of a wife.",
           "Call me Ishmael. Some years ago, never mind how long precisely, having little or no "
           "money in my purse, I thought I would sail about a little and see the watery part "
           "of the world.",
           "Four score and seven years ago our fathers brought forth on this continent a new "
           "nation, conceived in liberty.",
           "Alice was beginning to get very tired of sitting by her sister on the bank, and of "
           "having nothing to do."],
    "de": ["Es war einmal eine kleine süße Dirne, die hatte jedermann lieb, der sie nur ansah, "
           "am allerliebsten aber ihre Großmutter."],
    "fr": ["En mille huit cent quinze, monsieur Charles François Bienvenu Myriel était évêque "
           "de Digne. C'était un vieillard d'environ soixante-quinze ans."],
    "es": ["En un lugar de la Mancha, de cuyo nombre no quiero acordarme, no ha mucho tiempo "
           "que vivía un hidalgo de los de lanza en astillero."],
    "it": ["Nel mezzo del cammin di nostra vita mi ritrovai per una selva oscura, ché la "
           "diritta via era smarrita."],
}
LYRICS = ["twin kle twin kle lit tle star how I won der what you are",
          "row row row your boat gent ly down the stream mer ri ly mer ri ly life is but a dream",
          "ma ry had a lit tle lamb its fleece was white as snow"]
# (espeak-ng voice, variant); mbrola voices are not used (not installed by espeak-ng)
VOICES = [("en-us", "m3"), ("en-gb", "f2"), ("en-gb-scotland", "m1"), ("en-us", "f4"),
          ("en-029", "m7"), ("en-gb-x-rp", "f3"), ("de", "m2"), ("fr", "f1"), ("es", "m4"),
          ("it", "f5")]


def espeak(text: str, voice: str, speed: int, pitch: int, tmpdir: str, tag: str,
           ssml: bool = False) -> np.ndarray:
    """Synthesise ``text`` with espeak-ng; returns mono float at :data:`ESPEAK_SR`."""
    wav = os.path.join(tmpdir, tag + ".wav")
    cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", wav]
    cmd += (["-m"] if ssml else []) + [text]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    x, sr = sf.read(wav, dtype="float64", always_2d=True)
    assert sr == ESPEAK_SR, sr
    return to_mono(x)


def speech_track(rng: np.random.Generator, duration: float, sr: int, tmpdir: str,
                 n_voices: int = 1) -> tuple[np.ndarray, str]:
    """Sentences from PASSAGES read by 1-2 espeak-ng voices with pauses, ``duration`` long."""
    picks = [VOICES[i] for i in rng.choice(len(VOICES), size=n_voices, replace=False)]
    settings = [(v, var, int(rng.integers(130, 190)), int(rng.integers(30, 70))) for v, var in picks]
    out, t, k = np.zeros(int(duration * sr)), float(rng.uniform(0.1, 0.8)), 0
    while t < duration - 1.0:
        voice, variant, speed, pitch = settings[k % len(settings)]
        texts = PASSAGES[voice.split("-")[0]]
        x = espeak(texts[int(rng.integers(len(texts)))], f"{voice}+{variant}", speed, pitch,
                   tmpdir, f"speech{k}")
        x = resample(x, ESPEAK_SR, sr)
        i = int(t * sr)
        seg = x[: max(0, len(out) - i)]
        out[i: i + len(seg)] += seg
        t += len(x) / sr + float(rng.uniform(0.25, 1.0))
        k += 1
    desc = ", ".join(f"espeak-ng {v}+{var} {s} wpm pitch {p}" for v, var, s, p in settings)
    return fade_out(out, sr), desc


def _ssml_song(words: list[str], semitones: list[int]) -> str:
    parts = []
    for word, st in zip(words, semitones):
        pct = int(np.clip((2 ** (st / 12) - 1) * 100, -50, 150))
        parts.append(f'<prosody pitch="{pct:+d}%">{word}</prosody>')
    return '<speak><prosody rate="x-slow">' + " ".join(parts) + "</prosody></speak>"


def sung_track(rng: np.random.Generator, grid: Grid, n_bars: int, duration: float, sr: int,
               tmpdir: str) -> tuple[np.ndarray, str]:
    """espeak-ng "singing": nursery-rhyme syllables with per-syllable pitch, one phrase per 2 bars."""
    voice, variant = VOICES[int(rng.integers(6))]   # English voices
    out = np.zeros(int(duration * sr))
    for k, bar in enumerate(range(0, n_bars - 1, 2)):
        t0 = grid.time(bar, 0)
        if t0 >= duration - 1.0:
            break
        words = LYRICS[k % len(LYRICS)].split()[: 8]
        contour = list(np.cumsum(rng.choice([-2, -1, 0, 2, 3, 5, -3], size=len(words))) % 12)
        x = espeak(_ssml_song(words, [int(c) for c in contour]), f"{voice}+{variant}",
                   95, 45, tmpdir, f"sung{k}", ssml=True)
        x = resample(x, ESPEAK_SR, sr)
        i = int(t0 * sr)
        seg = x[: max(0, len(out) - i)]
        out[i: i + len(seg)] += seg
    return fade_out(out, sr), f"espeak-ng sung syllables {voice}+{variant} (SSML pitch)"


# --------------------------------------------------------------------------------------------
# Noise, hum, and the garment-microphone model
# --------------------------------------------------------------------------------------------

def pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """1/f noise by spectral shaping of white noise, unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=float)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n)
    return x / (np.std(x) + 1e-12)


def slow_wander(rng: np.random.Generator, n: int, sr: int, depth: float,
                points_per_s: float = 0.5) -> np.ndarray:
    """Smooth random curve within +-depth (piecewise linear between random anchor points)."""
    k = max(2, int(n / sr * points_per_s) + 2)
    anchors = rng.uniform(-depth, depth, size=k)
    return np.interp(np.arange(n), np.linspace(0, n, k), anchors)


def mains_hum(rng: np.random.Generator, n: int, sr: int, f0: float, n_harm: int,
              odd_boost_db: float) -> np.ndarray:
    """Mains hum/buzz: f0 and harmonics with slightly drifting frequency; unit RMS."""
    drift = 1.0 + slow_wander(rng, n, sr, 0.0005, 0.2)   # frequency wanders +-0.05 %
    phase = 2 * np.pi * np.cumsum(f0 * drift) / sr
    x = np.zeros(n)
    for h in range(1, n_harm + 1):
        amp_db = -6.0 * math.log2(h) + float(rng.uniform(-4, 4)) + (odd_boost_db if h % 2 else 0)
        x += db_to_gain(amp_db) * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    return x / (np.std(x) + 1e-12)


def room_ir(rng: np.random.Generator, sr: int, rt60: float, drr_db: float) -> np.ndarray:
    """Direct path at index 0 plus an exponentially decaying, slightly darkened noise tail.

    Scaled to unit energy, so convolving keeps the overall level; because the direct path is
    the first tap, onsets do not move.
    """
    n = int(rt60 * sr * 1.2)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.91 * t / rt60)
    tail[: int(sr * rng.uniform(0.002, 0.008))] = 0.0              # pre-delay
    tail = signal.lfilter(*signal.butter(1, 5000, fs=sr), tail)     # absorption
    tail *= math.sqrt(db_to_gain(-drr_db) ** 2 / (np.sum(tail ** 2) + 1e-12))
    ir = tail
    ir[0] = 1.0
    return ir / math.sqrt(float(np.sum(ir ** 2)))


def garment_version(x: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Simulate the garment microphone: room reverb, 60 Hz high-pass, 20-40 dB less level, hiss."""
    p = dict(rt60_s=round(float(rng.uniform(0.3, 0.6)), 3),
             drr_db=round(float(rng.uniform(-3.0, 6.0)), 1),
             highpass_hz=60.0, highpass_order=2,
             level_db=round(float(rng.uniform(-40.0, -20.0)), 1),
             hiss_dbfs=round(float(rng.uniform(-70.0, -60.0)), 1))
    y = signal.fftconvolve(x, room_ir(rng, sr, p["rt60_s"], p["drr_db"]))[: len(x)]
    y = signal.sosfilt(signal.butter(2, 60.0, "highpass", fs=sr, output="sos"), y)
    y = y * db_to_gain(p["level_db"])
    y = y + rng.standard_normal(len(y)) * db_to_gain(p["hiss_dbfs"])
    return y, p
