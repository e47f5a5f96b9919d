# Generates the annotated kick-detection development set (clean + garment-mic versions, exact
# kick times) from hydrogen's kits (hydrogen-data, hydrogen-drumkits), fluidsynth GM renders and espeak-ng; also the test fixtures.
"""Build the kick-detection development set.

    python bench/make_dataset.py                      # -> bench/data (gitignored)
    python bench/make_dataset.py --out /tmp/d --quick # one short file per category
    python bench/make_dataset.py --fixtures tests/fixtures

Categories: ``mix`` (real drum kit + GM bass line, chords, sometimes a lead), ``mix_voice``
(the same plus espeak-ng speech, espeak-ng "singing" or a GM choir), ``kickfree`` (bass line,
chords, snare/hats/toms, no kick), ``speech``, ``silence``, ``hiss``, ``hum50``, ``hum60``.

Every clip is written twice, ``<name>_clean.wav`` and ``<name>_garment.wav`` (60 Hz high-pass,
20-40 dB quieter, room reverb, hiss; same kick times), mono 16-bit at 44.1 kHz (speech-only
clips at espeak-ng's 22.05 kHz).  Each gets ``<name>.json``:

    name, category, mic ("clean"|"garment"), split ("dev"|"test": odd clip numbers dev, even
    test), kicks (seconds: the sample where each kick's true onset was placed), duration,
    sample_rate, source (what went in), pair (the other version's name), details (kit and
    instruments, groove, bpm, GM programs, kick_velocities, kick_attack_ms = onset-to-half-peak
    of the kick sample, stem levels, garment parameters ...)

plus ``index.json`` listing all files.  A ``.stamp`` (script version, seed, mode, code hash)
makes re-runs a no-op until something changes; ``--force`` regenerates.  Output is
deterministic for a given ``--seed`` (also across ``--jobs``).  Needs the Debian packages
hydrogen-data, hydrogen-drumkits, fluidsynth, fluid-soundfont-gm and espeak-ng.

Fixtures (``--fixtures DIR``) are short 16 kHz FLAC versions made by the same recipes with a
few settings pinned; they are all split "dev", and ``pair`` is null where the other version
is not shipped.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dataset_lib as dl  # noqa: E402

SCRIPT_VERSION = "1"
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
PLAN = {"mix": 10, "mix_voice": 8, "kickfree": 8, "speech": 4, "silence": 2, "hiss": 3,
        "hum50": 3, "hum60": 3}
CATEGORY_ID = {c: i for i, c in enumerate(PLAN)}
KITS = list(dl.KIT_ROLES)
GROOVES = dl.KICK_PATTERNS + ["demo:" + s for s in dl.DEMO_SONGS]
KICKFREE_GROOVES = ["tom_groove", "rock", "funk", "demo:GM_kit_demo1", "tom_groove",
                    "breakbeat", "half_time", "four_on_floor"]
ELECTRONIC_KITS = {"TR808EmulationKit", "ElectricEmpireKit", "HardElectro1"}
FIXTURE_SR = 16000
DRUM_BUS_DB = -20.0   # reference level (dBFS RMS) of a mix's parts before the master gain


@dataclass
class Clip:
    """One generated clean recording and what went into it."""
    x: np.ndarray
    sr: int
    kicks: list[float]
    source: str
    details: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Music: arrangement, drums, GM parts, mixing
# --------------------------------------------------------------------------------------------

def groove_tempo(name: str, rng: np.random.Generator, ov: dict) -> tuple[float, float]:
    """(bpm, swing) for a built-in pattern or a hydrogen demo-song groove ("demo:<song>")."""
    if name.startswith("demo:"):
        song_bpm, _ = dl.load_demo_groove(name[5:])
        return ov.get("bpm") or float(np.clip(song_bpm * rng.uniform(0.9, 1.15), 80, 170)), 0.0
    lo, hi = dl.PATTERNS[name]["bpm"]
    return ov.get("bpm") or float(rng.uniform(lo, hi)), dl.PATTERNS[name]["swing"] * float(rng.random())


def groove_bars(name: str):
    """Function bar index -> [(step, role, velocity)] of a pattern or demo-song groove."""
    if name.startswith("demo:"):
        _, bars = dl.load_demo_groove(name[5:])
        return lambda b: list(bars[b % len(bars)])
    return lambda b: dl.pattern_bar(name, b)


def arrangement(n_bars: int, rng: np.random.Generator, ov: dict) -> list[dict]:
    """Per bar: section (intro/main/breakdown), drums on?, kick on?, fill?

    Optionally 1-2 intro bars without drums and a 2-bar breakdown without kick.
    """
    plan = [dict(section="main", drums=True, kick=True, fill=(b % 4 == 3 and rng.random() < 0.5))
            for b in range(n_bars)]
    if ov.get("intro", rng.random() < 0.5):
        for b in range(min(n_bars, 1 + int(rng.integers(2)))):
            plan[b].update(section="intro", drums=False, kick=False)
    if ov.get("breakdown", rng.random() < 0.5) and n_bars >= 10:
        start = 4 * int(rng.integers(1, max(2, (n_bars - 3) // 4)))
        keep_drums = rng.random() < 0.5
        for b in range(start, min(n_bars, start + 2)):
            plan[b].update(section="breakdown", kick=False, drums=keep_drums, fill=False)
    return plan


def drum_hits(bar_fn, grid: dl.Grid, plan: list[dict], with_kick: bool, end: float,
              rng: np.random.Generator, jitter_s: float) -> tuple[list[dl.Hit], list[list[float]]]:
    """Drum hits of the whole song, and per bar the steps where the groove has its low drum."""
    hits, low_steps = [], []
    for bar, p in enumerate(plan):
        events = bar_fn(bar)
        low = "kick" if any(r == "kick" for _, r, _ in events) else "tom_lo"
        low_steps.append(sorted({s for s, r, _ in events if r == low}))
        if p["fill"]:
            events = dl.with_fill(events, rng)
        for step, role, vel in events:
            if not p["drums"] or (role == "kick" and not (with_kick and p["kick"])):
                continue
            t = grid.time(bar, step) + jitter_s * float(np.clip(rng.normal(), -2, 2))
            if t < end:
                hits.append(dl.Hit(t, role, float(np.clip(vel * rng.uniform(0.88, 1.05), 0.05, 1))))
    return hits, low_steps


def drum_role_gains(rng: np.random.Generator) -> dict[str, float]:
    return dict(kick=float(rng.uniform(-2, 1)), snare=float(rng.uniform(-5, -1)),
                hat=float(rng.uniform(-16, -9)), hat_open=float(rng.uniform(-18, -11)),
                tom_hi=float(rng.uniform(-6, -2)), tom_mid=float(rng.uniform(-6, -2)),
                tom_lo=float(rng.uniform(-6, -2)), ride=float(rng.uniform(-18, -12)))


@dataclass
class Song:
    """The plan of one piece: timing grid, bars, harmony, kit and groove."""
    grid: dl.Grid
    n_bars: int
    duration: float
    plan: list[dict]
    kit: dl.DrumKit
    groove: str
    with_kick: bool
    key: int
    chords: list

    @property
    def n(self) -> int:
        return int(round(self.duration * dl.SR))

    @property
    def end(self) -> float:
        """No note or drum hit starts after this (the file then rings out)."""
        return self.duration - 0.25


def plan_song(rng: np.random.Generator, duration: float, kit_name: str, groove: str,
              with_kick: bool, ov: dict) -> Song:
    bpm, swing = groove_tempo(groove, rng, ov)
    grid = dl.Grid(bpm, float(rng.uniform(0.05, 0.4)), swing)
    n_bars = int(math.ceil((duration - grid.start) / (16 * grid.step))) + 1
    key = int(rng.integers(12))
    prog = dl.PROGRESSIONS[int(rng.integers(len(dl.PROGRESSIONS)))]
    plan = arrangement(n_bars, rng, ov)  # before the kit: the random stream's order is the recipe
    kit = dl.DrumKit(kit_name, rng, ov.get("kick"), ov.get("kick_rate", 1.0), ov.get("kick_synth"),
                     ov.get("kick_file"))
    return Song(grid, n_bars, duration, plan, kit, groove, with_kick, key,
                [prog[b % len(prog)] for b in range(n_bars)])


def song_drums(rng: np.random.Generator, song: Song, ov: dict) -> tuple[dict, list, list]:
    """Drum stems {kick, drums} (balanced per hit, not yet levelled), kick (time, velocity)
    list, and per bar the steps of the groove's low drum (for the bass line).

    Acoustic kits are played with human timing (hits off the grid by up to +-6 ms, sd 3 ms);
    electronic kits, or ``ov["jitter"] = 0``, are quantised.
    """
    jitter = 0.0 if song.kit.name in ELECTRONIC_KITS else ov.get("jitter", 0.003)
    hits, low_steps = drum_hits(groove_bars(song.groove), song.grid, song.plan, song.with_kick,
                                song.end, rng, jitter)
    gains = drum_role_gains(rng)
    kick, kick_hits = dl.render_drums([h for h in hits if h.role == "kick"], song.kit, song.n,
                                      gains, rng)
    rest, _ = dl.render_drums([h for h in hits if h.role != "kick"], song.kit, song.n, gains, rng)
    return dict(kick=kick, drums=rest), kick_hits, low_steps


def level_drum_bus(stems: dict, kick_times: list[float], bass_db: float,
                   rng: np.random.Generator, ov: dict) -> float:
    """Scale the drum stems in place; returns how far kick hits stand above the bass (dB).

    With kicks: the first 100 ms of a kick hit sits 3-10 dB above the bass line's RMS (kick
    prominent, bass loud).  Without: the drum bus RMS is set to about DRUM_BUS_DB.
    """
    if kick_times:
        above = ov.get("kick_above_bass_db") or round(float(rng.uniform(3, 10)), 1)
        gain = dl.db_to_gain(bass_db + above - dl.hit_level_db(stems["kick"], kick_times, dl.SR))
    else:
        above = None
        gain = dl.db_to_gain(DRUM_BUS_DB + float(rng.uniform(-2, 2)) - dl.rms_db(stems["drums"]))
    for k in ("kick", "drums"):
        stems[k] = stems[k] * gain
    return above


def gm_parts(rng: np.random.Generator, song: Song, low_steps: list, bass_style: str,
             lead: bool, tmpdir: str) -> tuple[dict, dict]:
    """Render bass line, chords and (optionally) a lead with fluidsynth; returns stems, info."""
    g, ch, key, end, n = song.grid, song.chords, song.key, song.end, song.n
    programs = dict(bass=int(rng.choice(dl.BASS_PROGRAMS)),
                    chords=int(rng.choice(dl.CHORD_PROGRAMS)))
    chord_style = dl.CHORD_STYLES[int(rng.integers(len(dl.CHORD_STYLES)))]
    stems = dict(
        bass=dl.render_notes(dl.bass_line(g, ch, key, bass_style, low_steps, rng, end),
                             programs["bass"], n, tmpdir, "bass", reverb=False),
        chords=dl.render_notes(dl.chord_part(g, ch, key, chord_style, rng, end),
                               programs["chords"], n, tmpdir, "chords"))
    if lead:
        programs["lead"] = int(rng.choice(dl.LEAD_PROGRAMS))
        notes = dl.melody(g, ch, key, rng, end, 64, 84, (2, 2, 4, 1, 6), 0.35)
        stems["lead"] = dl.render_notes(notes, programs["lead"], n, tmpdir, "lead")
    info = dict(key=key, progression=" ".join(f"{st}{q}" for st, q in ch[:4]),
                chord_style=chord_style, bass_style=bass_style, programs=programs)
    return stems, info


def voice_part(kind: str, rng: np.random.Generator, song: Song, tmpdir: str
               ) -> tuple[np.ndarray, str]:
    """Speech, espeak "singing" or a GM choir melody (in the song's key) to lay over a mix."""
    if kind == "speech":
        x, desc = dl.speech_track(rng, song.duration, dl.SR, tmpdir, n_voices=1 + int(rng.integers(2)))
    elif kind == "sung":
        x, desc = dl.sung_track(rng, song.grid, song.n_bars, song.duration, dl.SR, tmpdir)
    else:
        program = int(rng.choice(dl.CHOIR_PROGRAMS))
        notes = dl.melody(song.grid, song.chords, song.key, rng, song.end, 60, 76, (4, 8, 8), 0.2)
        x = dl.render_notes(notes, program, song.n, tmpdir, "choir")
        desc = f"GM {program} {dl.GM_NAMES[program]} melody"
    # speech and singing come int(duration * SR) samples long, which may be one short of song.n
    return dl.fit_length(x, song.n), desc


def mix_stems(stems: dict[str, np.ndarray], targets_db: dict[str, float], peak_db: float
              ) -> tuple[np.ndarray, dict]:
    """Set stems that have an RMS target to it (others stay as they are), sum, set the master
    peak; returns the mix and each stem's final RMS level (dBFS)."""
    scaled = {k: (dl.set_rms(v, targets_db[k]) if k in targets_db else v)
              for k, v in stems.items() if np.any(v)}
    mix = sum(scaled.values())
    gain = dl.db_to_gain(peak_db) / float(np.max(np.abs(mix)))
    levels = {k: round(dl.rms_db(v * gain), 1) for k, v in scaled.items()}
    return mix * gain, levels


def song_details(song: Song, kick_hits: list, levels: dict, voice: str | None,
                 music: dict) -> dict:
    roles = {r: i.name for r, i in song.kit.roles.items() if song.with_kick or r != "kick"}
    attack = dl.kit_kick_attack_ms(song.kit) if song.with_kick else None
    if song.with_kick and song.kit.kick_rate != 1.0:
        music = dict(music, kick_rate=song.kit.kick_rate)
    if song.with_kick and song.kit.kick_synth is not None:
        music = dict(music, kick_synth=song.kit.kick_synth)
    if song.with_kick and song.kit.kick_file is not None:
        music = dict(music, kick_file=song.kit.kick_file)
    return dict(kit=song.kit.name, instruments=roles, groove=song.groove,
                bpm=round(song.grid.bpm, 2), swing=round(song.grid.swing, 3), bars=song.n_bars,
                sections="".join(p["section"][0].upper() for p in song.plan),
                kick_attack_ms=attack, kick_velocities=[v for _, v in kick_hits],
                stem_rms_dbfs=levels, voice=voice, **music)


def song_source(song: Song, music: dict, voice_desc: str | None) -> str:
    parts = [song.kit.describe(song.with_kick), f"groove {song.groove} @ {song.grid.bpm:.1f} bpm"
             + ("" if song.with_kick else " without kick")]
    parts += [voice_desc] if voice_desc else []
    parts.append("GM via fluidsynth/FluidR3_GM: " + ", ".join(
        f"{part} {p} {dl.GM_NAMES[p]}" for part, p in music["programs"].items()))
    return "; ".join(parts)


def make_song(rng: np.random.Generator, duration: float, tmpdir: str, kit_name: str,
              groove: str, bass_style: str, with_kick: bool, voice: str | None, lead: bool,
              ov: dict) -> Clip:
    """A full arrangement: real drum samples + GM bass/chords(/lead) (+ voice).

    Levels (before the master gain): bass line RMS about DRUM_BUS_DB +-3 dB, kick hits 3-10 dB
    above it, the other drums keep their per-hit balance with the kick; chords and lead well
    below the bass; a voice -6..0 dB relative to DRUM_BUS_DB.
    """
    song = plan_song(rng, duration, kit_name, groove, with_kick, ov)
    stems, kick_hits, low_steps = song_drums(rng, song, ov)
    music_stems, music = gm_parts(rng, song, low_steps, bass_style, lead, tmpdir)
    stems.update(music_stems)
    targets = dict(bass=DRUM_BUS_DB + float(rng.uniform(-3, 3)),
                   chords=DRUM_BUS_DB + float(rng.uniform(-12, -5)),
                   lead=DRUM_BUS_DB + float(rng.uniform(-14, -7)))
    kick_times = [t for t, _ in kick_hits]
    music["kick_hit_above_bass_db"] = level_drum_bus(stems, kick_times, targets["bass"], rng, ov)
    voice_desc = None
    if voice:
        stems["voice"], voice_desc = voice_part(voice, rng, song, tmpdir)
        targets["voice"] = DRUM_BUS_DB + float(rng.uniform(-6, 0))
    x, levels = mix_stems(stems, targets, float(rng.uniform(-3.0, -0.5)))
    return Clip(dl.fade_out(x, dl.SR), dl.SR, kick_times, song_source(song, music, voice_desc),
                song_details(song, kick_hits, levels, voice, music))


# --------------------------------------------------------------------------------------------
# Category recipes: recipe(rng, duration, tmpdir, index, overrides) -> Clip
# --------------------------------------------------------------------------------------------

def build_mix(rng, duration, tmpdir, index, ov, voice=None, offset=0):
    i = index - 1 + offset
    return make_song(rng, duration, tmpdir, ov.get("kit", KITS[i % len(KITS)]),
                     ov.get("pattern", GROOVES[i % len(GROOVES)]),
                     ov.get("bass_style", dl.BASS_STYLES[i % len(dl.BASS_STYLES)]),
                     True, voice, ov.get("lead", rng.random() < (0.3 if voice else 0.6)), ov)


def build_mix_voice(rng, duration, tmpdir, index, ov):
    voice = ov.get("voice", ("speech", "sung", "choir")[(index - 1) % 3])
    return build_mix(rng, duration, tmpdir, index, ov, voice=voice, offset=PLAN["mix"])


def build_kickfree(rng, duration, tmpdir, index, ov):
    i = index - 1
    kit = ov.get("kit", dl.KITS_WITH_TOMS[(i + 3) % len(dl.KITS_WITH_TOMS)])
    groove = ov.get("pattern", KICKFREE_GROOVES[i % len(KICKFREE_GROOVES)])
    style = ov.get("bass_style", dl.BASS_STYLES[(i + 2) % len(dl.BASS_STYLES)])
    return make_song(rng, duration, tmpdir, kit, groove, style, False, None,
                     ov.get("lead", rng.random() < 0.4), ov)


def build_speech(rng, duration, tmpdir, index, ov):
    x, desc = dl.speech_track(rng, duration, dl.ESPEAK_SR, tmpdir, n_voices=1 + (index % 2))
    peak = float(rng.uniform(-6, -1))
    return Clip(dl.set_peak(x, peak), dl.ESPEAK_SR, [], desc, dict(peak_dbfs=round(peak, 1)))


def build_silence(rng, duration, tmpdir, index, ov):
    n = int(duration * dl.SR)
    if index % 2:   # digital near-silence: sub-LSB noise, rounds mostly to exact zeros
        level = float(rng.uniform(-98, -90))
        x = rng.standard_normal(n) * dl.db_to_gain(level)
        desc = "digital near-silence (white noise below 1 LSB)"
    else:           # a very quiet preamp
        level = float(rng.uniform(-82, -74))
        x = dl.pink_noise(rng, n) * dl.db_to_gain(level)
        desc = "very low pink noise"
    return Clip(x, dl.SR, [], f"synthetic {desc} at {level:.1f} dBFS RMS",
                dict(noise_dbfs=round(level, 1)))


def build_hiss(rng, duration, tmpdir, index, ov):
    n = int(duration * dl.SR)
    kind = ("white", "pink", "wandering")[(index - 1) % 3]
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = dl.pink_noise(rng, n)
    else:
        x = (rng.standard_normal(n) + dl.pink_noise(rng, n)) / math.sqrt(2)
        x *= dl.db_to_gain(dl.slow_wander(rng, n, dl.SR, 3.0))
    level = float(rng.uniform(-45, -30))
    return Clip(dl.set_rms(x, level), dl.SR, [], f"synthetic {kind} noise at {level:.1f} dBFS RMS",
                dict(kind=kind, level_dbfs=round(level, 1)))


def build_hum(f0):
    def recipe(rng, duration, tmpdir, index, ov):
        n = int(duration * dl.SR)
        kind, n_harm, odd = [("hum", 4, 0.0), ("buzz", 20, 6.0), ("varying", 8, 2.0)][(index - 1) % 3]
        x = dl.mains_hum(rng, n, dl.SR, f0, n_harm, odd)
        if kind == "varying":
            x *= dl.db_to_gain(dl.slow_wander(rng, n, dl.SR, 3.0))
        level = float(rng.uniform(-40, -20))
        x = dl.set_rms(x, level) + rng.standard_normal(n) * dl.db_to_gain(-85)
        src = f"synthetic {f0:.0f} Hz mains {kind}, {n_harm} harmonics, {level:.1f} dBFS RMS"
        return Clip(x, dl.SR, [], src, dict(kind=kind, harmonics=n_harm, level_dbfs=round(level, 1)))
    return recipe


RECIPES = {"mix": build_mix, "mix_voice": build_mix_voice, "kickfree": build_kickfree,
           "speech": build_speech, "silence": build_silence, "hiss": build_hiss,
           "hum50": build_hum(50.0), "hum60": build_hum(60.0)}


# --------------------------------------------------------------------------------------------
# Jobs, annotation files, index, stamp
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    category: str
    index: int      # 1-based within the category
    seed: int
    quick: bool

    @property
    def base(self) -> str:
        return f"{self.category}_{self.index:02d}"

    def rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, CATEGORY_ID[self.category], self.index, stream])

    def duration(self) -> float:
        lo, hi = (6.0, 8.0) if self.quick else (20.0, 30.0)
        return round(float(self.rng(9).uniform(lo, hi)), 2)


def make_jobs(seed: int, quick: bool) -> list[Job]:
    plan = {c: 1 for c in PLAN} if quick else PLAN
    return [Job(c, i, seed, quick) for c, count in plan.items() for i in range(1, count + 1)]


def split_of(index: int) -> str:
    """Odd indices tune (dev), even indices score (test): about half of each category."""
    return "dev" if index % 2 else "test"


def annotation(name: str, clip: Clip, category: str, mic: str, split: str, pair: str | None,
               source: str, details: dict) -> dict:
    duration = len(clip.x) / clip.sr
    kicks = [round(t, 6) for t in clip.kicks if 0 <= t < duration]
    return dict(name=name, category=category, mic=mic, split=split, kicks=kicks,
                duration=round(duration, 6), sample_rate=clip.sr, source=source, pair=pair,
                details=details)


def write_clip(out_dir: str, meta: dict, x: np.ndarray, ext: str) -> None:
    dl.write_audio(os.path.join(out_dir, meta["name"] + ext), x, meta["sample_rate"])
    with open(os.path.join(out_dir, meta["name"] + ".json"), "w") as fh:
        fh.write(to_json(meta) + "\n")


def to_json(obj) -> str:
    """Indented JSON, but lists of numbers (kick times) kept on one line."""
    text = json.dumps(obj, indent=1, ensure_ascii=False)
    return re.sub(r"\[\s*([-0-9.e,\s]+?)\s*\]",
                  lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text)


def garment_clip(clip: Clip, rng: np.random.Generator) -> tuple[Clip, str, dict]:
    y, gp = dl.garment_version(clip.x, clip.sr, rng)
    src = (f"{clip.source}; garment mic: reverb RT60 {gp['rt60_s']} s (DRR {gp['drr_db']} dB), "
           f"{gp['highpass_hz']:.0f} Hz 2nd-order high-pass, level {gp['level_db']} dB, "
           f"hiss {gp['hiss_dbfs']} dBFS")
    return Clip(y, clip.sr, clip.kicks, src), src, dict(clip.details, garment=gp)


def run_job(job: Job, out_dir: str, ov: dict | None = None) -> list[dict]:
    """Generate one clip in both versions, write audio + JSON, return both annotations.

    ov: the recipe's overrides (e.g. kit, kick, kick_rate); none for bench/data's own clips."""
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="threadbeat_") as tmp:
        clip = RECIPES[job.category](job.rng(0), job.duration(), tmp, job.index, ov or {})
    garment, gsrc, gdetails = garment_clip(clip, job.rng(1))
    names = (job.base + "_clean", job.base + "_garment")
    split = split_of(job.index)
    metas = [annotation(names[0], clip, job.category, "clean", split, names[1], clip.source,
                        clip.details),
             annotation(names[1], garment, job.category, "garment", split, names[0], gsrc,
                        gdetails)]
    write_clip(out_dir, metas[0], clip.x, ".wav")
    write_clip(out_dir, metas[1], garment.x, ".wav")
    metas[0]["_seconds"] = round(time.time() - t0, 2)
    return metas


def _run_job_star(args):
    return run_job(*args)


def index_entry(meta: dict) -> dict:
    keys = ("name", "category", "mic", "split", "duration", "sample_rate", "pair")
    return dict({k: meta[k] for k in keys}, n_kicks=len(meta["kicks"]),
                wav=meta["name"] + ".wav", json=meta["name"] + ".json")


def stamp_of(seed: int, quick: bool) -> dict:
    """What the output depends on: script version, seed, mode, and the code itself."""
    digest = hashlib.sha1()
    for path in (__file__, dl.__file__):
        with open(path, "rb") as fh:
            digest.update(fh.read())
    return dict(version=SCRIPT_VERSION, seed=seed, quick=quick, code=digest.hexdigest()[:12])


def up_to_date(out_dir: str, stamp: dict) -> bool:
    try:
        with open(os.path.join(out_dir, ".stamp")) as fh:
            if json.load(fh) != stamp:
                return False
        with open(os.path.join(out_dir, "index.json")) as fh:
            files = json.load(fh)["files"]
    except (OSError, ValueError, KeyError):
        return False
    return all(os.path.isfile(os.path.join(out_dir, f[k])) for f in files for k in ("wav", "json"))


def remove_previous(out_dir: str) -> None:
    """Delete the files a previous run listed in its index (nothing else)."""
    try:
        with open(os.path.join(out_dir, "index.json")) as fh:
            files = json.load(fh)["files"]
    except (OSError, ValueError, KeyError):
        return
    for f in files:
        for k in ("wav", "json"):
            path = os.path.join(out_dir, os.path.basename(f[k]))
            if os.path.isfile(path):
                os.remove(path)


def run_jobs(jobs: list[Job], out_dir: str, n_proc: int) -> list[dict]:
    metas, args = [], [(j, out_dir) for j in jobs]
    if n_proc > 1:
        pool = multiprocessing.get_context("fork").Pool(n_proc)
        results = pool.imap_unordered(_run_job_star, args)
    else:
        pool, results = None, map(_run_job_star, args)
    for k, pair in enumerate(results, 1):
        m = pair[0]
        print(f"[{k:2d}/{len(jobs)}] {m['name'][:-6]:12s} {m['duration']:5.1f} s  "
              f"{len(m['kicks']):3d} kicks  ({m.pop('_seconds')} s)  {m['source'][:70]}", flush=True)
        metas += pair
    if pool is not None:
        pool.close()
        pool.join()
    return sorted(metas, key=lambda m: m["name"])


def generate(out_dir: str, seed: int, quick: bool, force: bool, n_proc: int) -> int:
    stamp = stamp_of(seed, quick)
    if not force and up_to_date(out_dir, stamp):
        print(f"{out_dir}: up to date (version {SCRIPT_VERSION}, seed {seed}); --force to redo")
        return 0
    os.makedirs(out_dir, exist_ok=True)
    remove_previous(out_dir)
    stamp_path = os.path.join(out_dir, ".stamp")
    if os.path.exists(stamp_path):
        os.remove(stamp_path)
    t0 = time.time()
    jobs = make_jobs(seed, quick)
    print(f"generating {len(jobs)} clips x 2 versions into {out_dir} with {n_proc} process(es)")
    metas = run_jobs(jobs, out_dir, n_proc)
    clean = [m["category"] for m in metas if m["mic"] == "clean"]
    index = dict(stamp, files=[index_entry(m) for m in metas],
                 clips_per_category={c: clean.count(c) for c in PLAN})
    with open(os.path.join(out_dir, "index.json"), "w") as fh:
        json.dump(index, fh, indent=1)
    with open(stamp_path, "w") as fh:
        json.dump(stamp, fh)
    size = sum(os.path.getsize(os.path.join(out_dir, m["name"] + ".wav")) for m in metas)
    print(f"done: {len(metas)} files, {size / 1e6:.1f} MB, {time.time() - t0:.1f} s")
    return 0


# --------------------------------------------------------------------------------------------
# Test fixtures: a few short 16 kHz FLAC clips made with the same recipes
# --------------------------------------------------------------------------------------------

FIXTURES = [  # (name, category, duration, overrides, also write the garment version?)
    # bass notes on the kicks, kick hits 8 dB above the bass line (the set spans 3-10 dB)
    ("mix", "mix", 6.0, dict(kit="Millo_MultiLayered3", pattern="rock", bpm=104.0, intro=False,
                             breakdown=False, bass_style="kick_lock", lead=False,
                             kick_above_bass_db=8.0), True),
    ("kickfree", "kickfree", 6.0, dict(kit="TR808EmulationKit", pattern="four_on_floor",
                                       intro=False, breakdown=False, bass_style="kick_lock",
                                       lead=False), False),
    ("speech", "speech", 5.0, {}, False),
    ("hum50", "hum50", 4.0, {}, False),
]


def fixture_metas(name: str, category: str, clip: Clip, rng: np.random.Generator,
                  with_garment: bool) -> list[tuple[dict, np.ndarray]]:
    clip = Clip(dl.resample(clip.x, clip.sr, FIXTURE_SR), FIXTURE_SR, clip.kicks,
                clip.source, clip.details)
    out = []
    if with_garment:
        garment, gsrc, gdetails = garment_clip(clip, rng)
        out.append((annotation(name + "_garment", garment, category, "garment", "dev",
                               name + "_clean", gsrc, gdetails), garment.x))
    pair = name + "_garment" if with_garment else None
    out.insert(0, (annotation(name + "_clean", clip, category, "clean", "dev", pair,
                              clip.source, clip.details), clip.x))
    return out


def build_fixtures(out_dir: str, seed: int) -> int:
    os.makedirs(out_dir, exist_ok=True)
    for k, (name, category, duration, ov, with_garment) in enumerate(FIXTURES):
        rng = np.random.default_rng([seed, 1000 + k])
        with tempfile.TemporaryDirectory(prefix="threadbeat_") as tmp:
            clip = RECIPES[category](rng, duration, tmp, 1, ov)
        for meta, x in fixture_metas(name, category, clip, np.random.default_rng([seed, 2000 + k]),
                                     with_garment):
            write_clip(out_dir, meta, x, ".flac")
            size = os.path.getsize(os.path.join(out_dir, meta["name"] + ".flac"))
            print(f"{meta['name']:18s} {meta['duration']:4.1f} s {len(meta['kicks']):2d} kicks "
                  f"{size / 1e3:6.1f} kB")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default bench/data)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--quick", action="store_true", help="one short clip per category")
    ap.add_argument("--force", action="store_true", help="regenerate even if up to date")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--fixtures", metavar="DIR", help="write the test fixtures to DIR instead")
    args = ap.parse_args(argv)
    missing = dl.missing_requirements()
    if missing:
        print("missing: " + ", ".join(missing) + " (apt-get install "
              + " ".join(m.split()[0] for m in missing) + ")", file=sys.stderr)
        return 2
    if args.fixtures:
        return build_fixtures(args.fixtures, args.seed)
    return generate(args.out, args.seed, args.quick, args.force, max(1, args.jobs))


if __name__ == "__main__":
    sys.exit(main())
