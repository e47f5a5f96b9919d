# From band levels to the features every mapper reads: noise gate with adaptive per-band floor,
# automatic gain with hold and release, rise/decay smoothing, and a kick-drum beat detector.
# Everything works on integer log2 levels (Q12 inside: 4096 = 3.01 dB), so gain is an addition.
from array import array
from firmware.compat import const
from firmware.kick import KickModel
from firmware.spectrum import N_BANDS, N_LEVELS, BASS, MID, TREBLE, LEVEL

try:  # viper twins of the per-level loops where MicroPython has a native emitter: same integers
    from firmware import analyzer_viper as _viper
except (ImportError, SyntaxError, ValueError):  # CPython, the WebAssembly VM (no viper), .mpy of another arch
    _viper = None  # type: ignore[assignment]

_DB_Q12 = const(1361)  # Q12 log2 units per dB: 4096 / 3.0103
_RAMP = const(8166)  # 6 dB in Q12: the voice guard's fade
_FALL_RATIO = const(4)  # the floor falls this many times faster than it rises: over a steady sound
# it settles near the 20th percentile of the level, and the gate above it keeps noise dark
_DROP_MS = const(250)  # a level under its floor this long has dropped (not dipped): the floor jumps
# down to it, so a 30 dB drop in loudness is not held dark while the floor walks down
_STEP_DB = const(10)  # a loudness step: the whole-range level's 0.25 s mean this far over or under its 4 s
# mean moves every floor by the whole step at once (below)
_LOUD_MS = const(256)  # the short mean's time constant (a power-of-two number of hops)
_REF_MS = const(4096)  # the long mean's
_BOX_MS = const(256)  # a step is measured over this many ms of levels after it is seen, then over twice
# as many
_CONTACT_MS = const(2000)  # a floor in contact with its level: the level was under it this recently
_SOUND_Q12 = const(-163320)  # -120 dB: over it is sound (a microphone's own noise is over -100 dBFS),
# under it digital silence (a file's lead-in), which no step is measured from
_DARK_RELEASE = const(4)  # the gain's release runs this many times faster while the level sits more
# than agc_range under its peak (the band dark) after the hold: a drop in loudness is followed quickly


def _log2_hops(ms, fs, hop):
    # The shift of an exponential mean over about `ms` milliseconds of hops: log2 of the hop count.
    n = (ms * fs) // (1000 * hop)
    k = 0
    while (2 << k) <= n:
        k += 1
    return k


class Features:
    # One record per hop; every field an int. Values 0..255 unless noted.
    def __init__(self):
        self.t_ms = 0  # time of the end of the hop the features describe
        self.level = 0
        self.bass = 0
        self.mid = 0
        self.treble = 0
        self.bands = bytearray(N_BANDS)
        self.beat = 0  # 1 on the hop a beat is detected
        self.beat_count = 0
        self.beat_ms = -100000  # time of the last beat
        self.onset = 0  # kick onset strength
        self.silent = 1  # 1 while the whole-range level is under its gate (only noise floor)
        self.raw = None  # the band levels (array 'h', Q8 log2) the features came from


def _trained_model():
    # firmware.kick_weights as the model tuple; its MLP only where it has one (kick_weights_small.py, the
    # filesystem model, has none). app.unload_boot_modules drops the module once the KickModel holds it.
    from firmware import kick_weights as w

    return (w.TREES, w.BIAS, w.SCALE, w.THRESHOLD, getattr(w, "MLP", None))


class Analyzer:
    def __init__(self, params, fs, hop, warm_hops=4, model=None):
        # warm_hops: hops before the first full frame (fft size / hop); no beats before it.
        # model: (trees, bias, scale, threshold[, mlp]) of the kick model (mlp: kick_mlp.py's model tuple,
        # averaged with the trees; absent or None: the trees alone); default: the trained one.
        if model is None:
            model = _trained_model()
        self.kick = KickModel(model[0], model[1], model[4] if len(model) > 4 else None)
        self.scale = model[2]
        self.threshold = model[3]
        self.params = params
        self.warm_hops = warm_hops
        self.fs = fs
        self.hop = hop
        self.features = Features()
        self.floor = array("i", [0] * N_LEVELS)  # Q12 log2
        self.peak = array("i", [0] * N_LEVELS)  # Q12, the recent peak of each level
        self.hold = array("h", [0] * N_LEVELS)
        self.under = array("h", [0] * N_LEVELS)  # hops each level has stayed under its floor
        self.smooth = array("h", [0] * N_LEVELS)  # 0..255 smoothed outputs
        self.last_beat_hop = -1000
        self.prominence = 0  # Q12: smoothed bass level minus mid level (speech: far below 0)
        self.voice = 256  # 0..256: how much the features show (0 while it sounds like speech)
        self.active = 0  # hops with sound so far (the guard's average locks on over 64)
        self.hops = 0
        # loudness steps (_step): the short and long means of the whole-range level (Q12), hops since
        # the level was last under its floor and since it was last digital silence (both capped), the
        # hops measured since a step was seen (0: none), the sum of their levels, the step moved by the
        # first measure, the floors when it was seen, and the steps taken so far
        self.loud = 0
        self.ref = 0
        self.contact = 0
        self.sound = 0
        self.armed = 0
        self.acc = 0
        self.first = 0
        self.snap = array("i", [0] * N_LEVELS)
        self.low = array("i", [0] * N_LEVELS)
        self.steps = 0
        self._version = -1
        # configure()'s per-hop constants for the viper loop: gate, floor_rise, fall, release, span,
        # span_inv, rise, decay, hold_hops, drop_hops, dark_release
        self._prm = array("i", [0] * 11)
        self.configure()

    def configure(self):
        # Derive per-hop constants from the parameters (start-up and after every change).
        p = self.params
        self._version = p.version
        fs = self.fs
        hop = self.hop
        self.gate = p.get("gate") * _DB_Q12
        self.floor_rise = (p.get("floor_rise") * _DB_Q12 * hop) // fs
        if self.floor_rise < 1:
            self.floor_rise = 1
        self.hold_hops = (p.get("agc_hold") * fs) // (1000 * hop)
        self.release = (p.get("agc_release") * _DB_Q12 * hop) // fs
        if self.release < 1:
            self.release = 1
        self.dark_release = self.release * _DARK_RELEASE
        self.drop_hops = (_DROP_MS * fs) // (1000 * hop)
        self.loud_shift = _log2_hops(_LOUD_MS, fs, hop)
        self.ref_shift = _log2_hops(_REF_MS, fs, hop)
        self.box_shift = _log2_hops(_BOX_MS, fs, hop)
        self.contact_hops = (_CONTACT_MS * fs) // (1000 * hop)
        self.step_q12 = _STEP_DB * _DB_Q12
        self.span = p.get("agc_range") * _DB_Q12
        self.span_inv = (255 << 16) // self.span
        self.rise = p.get("rise")
        self.decay = p.get("decay")
        self.refractory_hops = (p.get("refractory") * fs + 999 * hop) // (1000 * hop)
        # sensitivity 50 is the threshold chosen in training; each 25 points move it one logit
        self.guard = p.get("voice_guard") * _DB_Q12
        self.kick_thr = self.threshold + ((50 - p.get("sensitivity")) * self.scale) // 25
        c = self._prm
        c[0] = self.gate
        c[1] = self.floor_rise
        c[2] = self.floor_rise * _FALL_RATIO
        c[3] = self.release
        c[4] = self.span
        c[5] = self.span_inv
        c[6] = self.rise
        c[7] = self.decay
        c[8] = self.hold_hops
        c[9] = self.drop_hops
        c[10] = self.dark_release

    def update(self, lv, now_ms, kick_score=None):
        # lv: band levels (array 'h', Q8 log2, N_LEVELS entries) of the newest frame.
        # kick_score: the kick model's score for this hop if the caller computed it already
        # (the desktop replay does, vectorised and bit-identical); None: compute it here.
        if self._version != self.params.version:
            self.configure()
        f = self.features
        f.t_ms = now_ms
        f.raw = lv
        if self.hops < self.warm_hops:  # the frame is still filling: start the floors from here
            for b in range(N_LEVELS):
                self.floor[b] = lv[b] << 4
                self.peak[b] = lv[b] << 4
            self.kick.prime(lv)
            self.loud = self.ref = lv[LEVEL] << 4
            self.sound = self.armed = 0
        else:
            self._step(lv)
        self._dynamics(lv)
        v = self._voice_guard(lv)
        sm = self.smooth
        bands = f.bands
        if _viper is not None:
            _viper.shade(sm, bands, N_BANDS, v)
        else:
            for b in range(N_BANDS):
                bands[b] = (sm[b] * v) >> 8
        f.bass = (sm[BASS] * v) >> 8
        f.mid = (sm[MID] * v) >> 8
        f.treble = (sm[TREBLE] * v) >> 8
        f.level = (sm[LEVEL] * v) >> 8
        if self.hops >= self.warm_hops:
            self._beat(lv, now_ms, kick_score)
        self.hops += 1
        return f

    def _step(self, lv):
        # A step in loudness (the music turned up or down, the wearer walking up to the speakers or out of
        # the hall) moves every floor by the step at once: at floor_rise (3 dB/s) a 30 dB rise takes 10 s
        # while the garment shows far more than it will once settled, and after a drop the bass bands'
        # floors, which the kicks keep poking over, walk down for seconds. A step is seen when the
        # whole-range level's short mean stands more than _STEP_DB over or under its long mean while the
        # floors are in contact with the sound (the whole-range level was under its floor within
        # contact_hops, not in digital silence: through a garment microphone the floors sit in the music;
        # a file's floors still climbing from its silent lead-in are far under it and stay put). It is then
        # measured as the mean of the next 1 << box_shift hops' levels (0.26 s) against the long mean (held
        # meanwhile), and every floor is set to its value when the step was seen plus that (what the
        # per-band loop did meanwhile, a drop's jumps included, is undone), after a drop never under the
        # lowest level its band showed since (a band left to the microphone's noise does not scale with
        # the music); the mean over twice as many hops then corrects every floor. A boxcar of hops that
        # all lie after the change, not the short mean, whose tail lags it (bench/agc.py: more songs
        # settle within 2 s). Never from or into digital silence.
        x = lv[LEVEL] << 4
        s = self.loud + ((x - self.loud) >> self.loud_shift)
        self.loud = s
        if _SOUND_Q12 < x < self.floor[LEVEL]:  # (a file's digital silence under it is no contact)
            self.contact = 0
        elif self.contact < self.contact_hops:
            self.contact += 1
        if s <= _SOUND_Q12:
            self.sound = 0
        elif self.sound < self.contact_hops:
            self.sound += 1
        if self.sound < self.contact_hops:  # digital silence lately: the long mean starts from here
            self.ref = s
            self.armed = 0
            return
        a = self.armed
        if a:
            if x <= _SOUND_Q12:  # into digital silence: no step
                self.armed = 0
                return
            self.acc += x  # |x| < 2**18 Q12, at most 2 << box_shift (64) of them: |acc| < 2**25
            a += 1
            k = self.box_shift
            mn = self.low
            if a <= 1 << k:
                for b in range(N_LEVELS):
                    v = lv[b] << 4
                    if v < mn[b]:
                        mn[b] = v
            if a == 1 << k:
                d = (self.acc >> k) - self.ref
                if -self.step_q12 <= d <= self.step_q12:  # not a step after all
                    self.armed = 0
                    return
                fl = self.floor
                sn = self.snap
                for b in range(N_LEVELS):
                    v = sn[b] + d
                    if d < 0 and v < mn[b]:  # a drop: never under the lowest level since it was seen
                        v = mn[b]
                    fl[b] = v
                self.first = d
                self.steps += 1
            elif a == 2 << k:
                d = (self.acc >> (k + 1)) - self.ref
                c = d - self.first
                fl = self.floor
                for b in range(N_LEVELS):
                    fl[b] += c
                self.ref += d
                self.armed = 0
                return
            self.armed = a
            return
        d = s - self.ref
        if (d > self.step_q12 or d < -self.step_q12) and self.contact < self.contact_hops:
            sn = self.snap
            fl = self.floor
            mn = self.low
            for b in range(N_LEVELS):
                sn[b] = fl[b]
                mn[b] = lv[b] << 4
            self.acc = x
            self.armed = 1
            return
        self.ref += d >> self.ref_shift

    def _voice_guard(self, lv):
        # Speech carries little bass under strong mids (its bass sits 10-30 dB under the mids,
        # music's within about 10 dB): while the smoothed difference stays more than
        # `voice_guard` dB under, the features fade out over a 6 dB ramp, and no beat fires.
        if (lv[LEVEL] << 4) - self.floor[LEVEL] > self.gate:  # pauses between words don't count
            d = (lv[BASS] - lv[MID]) << 4
            n = self.active
            if n < 63:  # a running mean while it locks on, then a ~0.5 s average
                self.active = n + 1
                self.prominence += (d - self.prominence) // (n + 1)
            else:
                self.prominence += (d - self.prominence) >> 6
        if self.guard == 0:
            self.voice = 256
            return 256
        x = self.prominence + self.guard  # |x| < 2**19: the product < 2**27
        v = 0 if x <= 0 else (256 if x >= _RAMP else (x * 256) // _RAMP)
        self.voice = v
        return v

    def _dynamics(self, lv):
        # Gate, gain and smoothing for all N_LEVELS levels.
        if _viper is not None:
            _viper.dynamics(lv, self.floor, self.peak, self.hold, self.under, self.smooth, self._prm, N_LEVELS)
            self.features.silent = 1 if (lv[LEVEL] << 4) - self.floor[LEVEL] <= self.gate else 0
            return
        floor = self.floor
        peak = self.peak
        hold = self.hold
        under = self.under
        drop_hops = self.drop_hops
        sm = self.smooth
        gate = self.gate
        rise_f = self.floor_rise
        fall_f = rise_f * _FALL_RATIO
        release = self.release
        dark_release = self.dark_release
        span = self.span
        inv = self.span_inv
        rise = self.rise
        decay = self.decay
        for b in range(N_LEVELS):
            x = lv[b] << 4  # Q12; |x| < 2**18
            fl = floor[b]
            if x < fl:
                u = under[b] + 1
                if u >= drop_hops:  # under it for _DROP_MS: the sound has dropped, start again from here
                    fl = x
                    u = 0
                else:
                    fl -= fall_f
                    if fl < x:
                        fl = x
                under[b] = u
            else:
                under[b] = 0
                fl += rise_f
            floor[b] = fl
            # gain: the top `agc_range` dB under the band's recent peak map to 0..255
            pk = peak[b]
            if x >= pk:
                pk = x
                hold[b] = self.hold_hops
            elif hold[b] > 0:
                hold[b] -= 1
            else:
                pk -= release if x + span >= pk else dark_release
                if pk < x:
                    pk = x
            top = fl + gate + span  # a quiet passage is never stretched over more than the span
            if pk < top:
                pk = top
            peak[b] = pk
            if x - fl <= gate:
                v = 0
            else:
                e = pk - x
                if e >= span:
                    v = 0
                else:
                    v = 255 - ((e * inv) >> 16)  # e < span < 2**16, inv < 2**12: product < 2**28
            o = sm[b]
            if v > o:
                o += ((v - o) * rise + 255) >> 8
            else:
                o -= ((o - v) * decay + 255) >> 8
            sm[b] = o
        # many bins make the whole-range level steady, so its gate tells silence reliably
        self.features.silent = 1 if (lv[LEVEL] << 4) - floor[LEVEL] <= gate else 0

    def _beat(self, lv, now_ms, s):
        # Kick onset: the trained model's score over the hop's features, above the threshold set
        # by `sensitivity`, while the bass stands clear of its gate, outside the refractory time.
        f = self.features
        if s is None:
            km = self.kick
            km.features(lv, self.floor)
            s = km.score()
        thr = self.kick_thr
        d = s - thr + 2 * self.scale  # logit thr-2 .. thr+2 -> onset 0..255
        if d <= 0:
            f.onset = 0
        elif d >= 4 * self.scale:
            f.onset = 255
        else:
            f.onset = (d * 64) // self.scale  # d < 4 * scale < 2**22: the product < 2**28
        f.beat = 0
        if s > thr and self.voice >= 128 and (lv[BASS] << 4) - self.floor[BASS] > self.gate \
                and self.hops - self.last_beat_hop >= self.refractory_hops:
            f.beat = 1
            f.beat_count += 1
            f.beat_ms = now_ms
            self.last_beat_hop = self.hops
