# Replay: run the garment's firmware engine over a recording on the desktop and keep everything
# it did (features, beats, LED bytes), then write events.json, features.csv and the pictures.
import csv
import json
import os
from array import array

import numpy as np

from firmware.engine import Engine
from firmware.output import ORDERS
from firmware.spectrum import BAND_EDGES_HZ, N_BANDS, N_LEVELS
from host_tools.fastspectrum import FastSpectrum

EVENTS_VERSION = 1
_FEATURE_FIELDS = ("t_ms", "level", "bass", "mid", "treble", "onset", "beat", "silent")
_LEVEL_NAMES = tuple("band%d" % b for b in range(N_BANDS)) + ("bass", "mid", "treble", "level")


class ReplayResult:
    def __init__(self, profile, hop_s):
        self.profile = profile
        self.hop_s = hop_s
        self.features = None  # int array (T, len(_FEATURE_FIELDS))
        self.bands = None  # uint8 (T, 16), the smoothed band features
        self.levels = None  # int (T, 20), raw band levels, Q8 log2
        self.led = None  # uint8 (T, bytes per frame): exactly what the strips are sent, or None
        self.est_ma = None  # estimated current draw per frame (mA), or None
        self.problems = []  # what was wrong with the config (skipped entries)

    @property
    def beats(self):
        f = self.features
        return [t / 1000.0 for t in f[f[:, 6] == 1, 0].tolist()]

    def display_rgb(self):
        # (T, P, 3) uint8 colours for pictures: LED bytes back in RGB order (W added to each
        # channel), lifted from linear light to display gamma so dim pixels stay visible.
        if self.led is None:
            return None
        t = self.led.shape[0]
        cols = []
        off = 0
        for p in self.profile["panels"]:
            bpp = 4 if len(p["order"]) == 4 else 3
            blk = self.led[:, off:off + p["count"] * bpp].reshape(t, p["count"], bpp).astype(np.int32)
            o = ORDERS[p["order"]]
            rgb = blk[:, :, list(o)]
            if bpp == 4:
                rgb = rgb + blk[:, :, 3:4]
            cols.append(np.minimum(rgb, 255))
            off += p["count"] * bpp
        lin = np.concatenate(cols, axis=1) / 255.0
        return np.round(255.0 * lin ** (1 / 2.2)).astype(np.uint8)


def kick_model_for(which):
    # The Analyzer's model for "full" (None: the engine's own, kick_weights, with its MLP if it has one) or
    # "small": the kick model a garment runs from its filesystem (firmware/kick_weights_small.py, which
    # `threadbeat build` installs as kick_weights there): the trees alone.
    if which == "full":
        return None
    if which != "small":
        raise ValueError("kick model %r: full or small" % (which,))
    from firmware import kick_weights_small as w

    return (w.TREES, w.BIAS, w.SCALE, w.THRESHOLD)


def run(samples, profile, config=None, engine="fast", render=True, progress=False, kick_model="full"):
    # Run the engine over int16 samples at the profile's rate. engine: "fast" (numpy front end,
    # firmware analyzer) or "frame" (the firmware's per-frame code throughout); both give the
    # same numbers. render: also run the mapper and output stage for every hop. kick_model: "full"
    # or "small" (see kick_model_for).
    eng = Engine(profile, config, kick_model=kick_model_for(kick_model))
    fs, hop = eng.fs, eng.hop
    t = len(samples) // hop
    res = ReplayResult(profile, hop / fs)
    res.problems = eng.problems
    feats = np.zeros((t, len(_FEATURE_FIELDS)), dtype=np.int64)
    bands = np.zeros((t, N_BANDS), dtype=np.uint8)
    levels = np.zeros((t, N_LEVELS), dtype=np.int64)
    frame_bytes = sum(len(b) for b in eng.panel_buffers())
    led = np.zeros((t, frame_bytes), dtype=np.uint8) if render else None
    ma = np.zeros(t, dtype=np.int64) if render else None
    bar = _progress(t, progress)
    if engine == "fast":
        rows = FastSpectrum(fs, eng.n, hop, eng._bass).levels(samples).tolist()
        step = _fast_step(eng, rows)
    elif engine == "frame":
        step = _frame_step(eng, samples)
    else:
        raise ValueError("engine must be 'fast' or 'frame'")
    bufs = eng.panel_buffers()
    for h in range(t):
        f = step(h)
        feats[h] = (f.t_ms, f.level, f.bass, f.mid, f.treble, f.onset, f.beat, f.silent)
        bands[h] = f.bands
        levels[h] = f.raw
        if render:
            ma[h] = eng.render(f.t_ms)
            led[h] = np.frombuffer(b"".join(bufs), dtype=np.uint8)
        if bar is not None and (h & 255) == 255:
            bar.update(256)
    if bar is not None:
        bar.update(t - bar.n)
        bar.close()
    res.features, res.bands, res.levels, res.led, res.est_ma = feats, bands, levels, led, ma
    return res


def _fast_step(eng, rows):
    from host_tools.fastkick import kick_scores

    an = eng.analyzer
    ks = kick_scores(rows, an).tolist()

    def step(h):
        eng.hops = h + 1
        return an.update(rows[h], eng.hop_time_ms(h), ks[h])

    return step


def _frame_step(eng, samples):
    hop = eng.hop

    def step(h):
        buf = eng.hop_buffer()
        buf[:] = array("h", samples[h * hop:(h + 1) * hop].tobytes())
        return eng.process()

    return step


def _progress(total, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="hop", desc="replay", leave=False, mininterval=0.25)


def events(res, duration_s, source=None):
    # The events.json document.
    p = res.profile
    return {
        "version": EVENTS_VERSION,
        "source": source,
        "board": p["name"],
        "sample_rate": p["sample_rate"],
        "hop": p["hop"],
        "fft_size": p["fft_size"],
        "duration": round(duration_s, 6),
        "frames": int(res.features.shape[0]),
        "beats": res.beats,
    }


def write_outputs(res, out_dir, duration_s, source=None, preview=True, kicks=None, preview_seconds=30.0):
    # Write events.json, features.csv and (with preview) timeline.png and preview.gif into out_dir.
    os.makedirs(out_dir, exist_ok=True)
    written = []
    path = os.path.join(out_dir, "events.json")
    with open(path, "w") as f:
        json.dump(events(res, duration_s, source), f, indent=1)
    written.append(path)
    path = os.path.join(out_dir, "features.csv")
    write_features_csv(path, res)
    written.append(path)
    if preview and res.led is not None:
        from firmware.layout import garment_positions
        from host_tools import preview as pv

        rgb = res.display_rgb()
        panels = [(p["name"], p["first"], p["count"]) for p in res.profile["panels"]]
        path = os.path.join(out_dir, "timeline.png")
        pv.write_timeline(path, rgb, res.hop_s, res.features[:, 2], res.beats, panels, kicks=kicks,
                          title="%s: %s" % (res.profile["name"], os.path.basename(source or "")))
        written.append(path)
        pos = np.array(garment_positions(res.profile), dtype=np.float64).reshape(-1, 2)
        path = os.path.join(out_dir, "preview.gif")
        pv.write_animation(path, rgb, pos, res.hop_s, panels, max_seconds=preview_seconds)
        written.append(path)
    return written


def write_features_csv(path, res):
    # One row per hop: time, the features, the 16 band features, then the raw levels in dB.
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s"] + list(_FEATURE_FIELDS[1:]) + ["f_%d_%dHz" % (b, BAND_EDGES_HZ[b]) for b in range(N_BANDS)]
                   + ["db_" + n for n in _LEVEL_NAMES] + (["est_ma"] if res.est_ma is not None else []))
        db = np.round(res.levels * (3.0103 / 256.0), 2)
        for h in range(res.features.shape[0]):
            row = res.features[h]
            extra = [int(res.est_ma[h])] if res.est_ma is not None else []
            w.writerow(["%.3f" % (row[0] / 1000.0)] + row[1:].tolist() + res.bands[h].tolist() + db[h].tolist() + extra)
