# The analyzer's noise floors and the kick model's features and scores, vectorised with numpy over
# a whole recording, bit-identical to firmware/analyzer.py and firmware/kick.py (the replay tests
# compare the two paths; the MLP's share comes from host_tools/fastmlp.py). Replay hands the scores to
# the firmware analyzer, which decides beats.
import numpy as np

from firmware.analyzer import _SOUND_Q12 as SOUND_Q12
from firmware.kick import N_IN, N_PER
from firmware.spectrum import LEVEL, N_LEVELS

_CLAMP = 2047


def floors(levels, analyzer):
    # Noise floors (T, N_LEVELS) in Q12 after each hop, following Analyzer._step, Analyzer._dynamics and
    # the warm-up in Analyzer.update exactly (a sequential recursion, in plain Python lists).
    rise = analyzer.floor_rise
    fall = rise * 4
    drop = analyzer.drop_hops
    warm = analyzer.warm_hops
    fl = [0] * N_LEVELS
    under = [0] * N_LEVELS
    out = np.empty((len(levels), N_LEVELS), dtype=np.int64)
    # Analyzer._step's loudness steps
    ls, rs, k, contact_hops, step = (analyzer.loud_shift, analyzer.ref_shift, analyzer.box_shift,
                                     analyzer.contact_hops, analyzer.step_q12)
    loud = ref = contact = sound = armed = acc = first = 0
    snap = low = fl
    for h, row in enumerate(levels):
        if h < warm:
            fl = [v << 4 for v in row]
            loud = ref = row[LEVEL] << 4
            sound = armed = 0
        else:
            x = row[LEVEL] << 4
            loud += (x - loud) >> ls
            if SOUND_Q12 < x < fl[LEVEL]:
                contact = 0
            elif contact < contact_hops:
                contact += 1
            if loud <= SOUND_Q12:
                sound = 0
            elif sound < contact_hops:
                sound += 1
            if sound < contact_hops:
                ref = loud
                armed = 0
            elif armed:
                if x <= SOUND_Q12:
                    armed = 0
                else:
                    acc += x
                    armed += 1
                    if armed <= 1 << k:
                        low = [min(m, v << 4) for m, v in zip(low, row)]
                    if armed == 1 << k:
                        d = (acc >> k) - ref
                        if -step <= d <= step:
                            armed = 0
                        else:
                            fl = [f + d for f in snap] if d > 0 else [max(f + d, m) for f, m in zip(snap, low)]
                            first = d
                    elif armed == 2 << k:
                        d = (acc >> (k + 1)) - ref
                        fl = [f + d - first for f in fl]
                        ref += d
                        armed = 0
            else:
                d = loud - ref
                if (d > step or d < -step) and contact < contact_hops:
                    snap = list(fl)
                    low = [v << 4 for v in row]
                    acc = x
                    armed = 1
                else:
                    ref += d >> rs
        for b in range(N_LEVELS):
            x = row[b] << 4
            f = fl[b]
            if x < f:
                u = under[b] + 1
                if u >= drop:
                    f = x
                    u = 0
                else:
                    f -= fall
                    if f < x:
                        f = x
                under[b] = u
            else:
                under[b] = 0
                f += rise
            fl[b] = f
        out[h] = fl
    return out


def features(levels, fl, warm):
    # (T, N_FEAT) kick features as KickModel.features computes them at every hop >= warm.
    lv = np.asarray(levels, dtype=np.int64)
    top = lv[:, N_IN:N_IN + 1]  # the whole-range level
    lv = lv[:, :N_IN]
    t = len(lv)
    idx = np.arange(t)

    def past(k):  # the history slot k hops back, frozen at the warm-up's last level
        return lv[np.maximum(idx - k, warm - 1).clip(0)]

    a, b, c, d = past(1), past(2), past(3), past(4)
    m = np.maximum(np.maximum(a, b), np.maximum(c, d))
    n = np.minimum(np.minimum(a, b), np.minimum(c, d))
    height = ((lv << 4) - fl[:, :N_IN]) >> 4
    cols = np.stack([lv - a, lv - b, height, lv - c, lv - m, lv - d, lv - n, a - b, lv - top], axis=2)  # (T, 19, 9)
    return np.clip(cols, -_CLAMP, _CLAMP).reshape(t, N_IN * N_PER)


def scores(feats, km):
    # Sum of leaf values per hop for a firmware KickModel's trees (complete, km.inner internal nodes each,
    # in heap order), plus its bias: n = 2n + 1 + (feature > threshold) until a leaf, then the leaf n - inner.
    inner = km.inner
    tf = np.frombuffer(bytes(km.tf), dtype=np.uint8).astype(np.int64).reshape(-1, inner)
    def ints(t):  # an array('h'), or int16 little-endian bytes (where kick.py hands bytes to the viper walk)
        return np.frombuffer(t, dtype="<i2").astype(np.int64) if isinstance(t, bytes) else np.array(t, dtype=np.int64)

    thr = ints(km.thr).reshape(-1, inner)
    value = ints(km.value).reshape(-1, inner + 1)
    feats = np.asarray(feats, dtype=np.int64)
    s = np.full(len(feats), km.bias, dtype=np.int64)
    rows = np.arange(len(feats))
    depth = (inner + 1).bit_length() - 1
    for t in range(len(value)):
        n = np.zeros(len(feats), dtype=np.int64)
        for _ in range(depth):
            n = 2 * n + 1 + (feats[rows, tf[t][n]] > thr[t][n])
        s += value[t][n - inner]
    return s


def kick_scores(levels, analyzer):
    # Scores for every hop (values before the warm-up are never used), as KickModel.score gives them:
    # the trees', averaged with the MLP's ((t + m) >> 1) when the model has one. The Analyzer primes the
    # MLP on the hops before warm_hops and pushes from then on (KickModel.prime, .features), which is
    # fastmlp.scores' warm-up.
    fl = floors(levels, analyzer)
    km = analyzer.kick
    t = scores(features(levels, fl, analyzer.warm_hops), km)
    if km.mlp is None:
        return t
    from host_tools import fastmlp

    return (t + fastmlp.scores(levels, km.mlp, analyzer.warm_hops)) >> 1
