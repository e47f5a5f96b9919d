# The kick MLP's scores (firmware/kick_mlp.py's PatchMLP), vectorised with numpy over a whole recording,
# bit-identical to feeding PatchMLP hop by hop (tests/test_kick_mlp.py compares the two paths).
import numpy as np

from firmware.kick_mlp import N_HOPS, N_X
from firmware.spectrum import N_LEVELS

_CLAMP = 2047
_TOP = N_LEVELS - 1  # the whole-range level


def _model(model):
    # (w1 (H, 160), m1, b1, s1 (H,), w2, m2, b2, s2) as int64 arrays and ints, from the model tuple or a PatchMLP
    if isinstance(model, tuple):
        w1, m1, b1, s1, w2, m2, b2, s2 = model
    else:
        w1, m1, b1, s1, w2, m2, b2, s2 = (model.w1, model.m1, model.b1, model.s1, model.w2, model.m2, model.b2,
                                          model.s2)

    def int8(w):  # bytes (two's complement) or an array('b'), or a sequence of ints
        if isinstance(w, (bytes, bytearray)) or (hasattr(w, "typecode") and w.typecode == "b"):
            return np.frombuffer(bytes(w), dtype=np.int8).astype(np.int64)
        return np.asarray(w, dtype=np.int64)

    w1 = int8(w1).reshape(-1, N_X)
    s1 = np.array(list(s1), dtype=np.int64)  # one shift a unit: bytes or a sequence of ints
    return (w1, np.asarray(m1, dtype=np.int64), np.asarray(b1, dtype=np.int64), s1, int8(w2), int(m2), int(b2),
            int(s2))


def inputs(levels, warm):
    # (T, 160) inputs x as PatchMLP sees them after hop t's prime (t < warm) or push (t >= warm):
    # x[t, k * 20 + j] = d[src(t, k), j] with d the clamped differences to the whole-range level and
    # src(t, k) = max(t - k, min(t, warm - 1)): on a primed hop every slot holds that hop; after the
    # warm-up the history is frozen at the warm-up's last hop until real hops replace it (as
    # fastkick.features). With warm = 0 nothing is primed: slots before the first hop are the
    # constructor's zeros (src < 0).
    lv = np.asarray(levels, dtype=np.int64)
    d = np.clip(lv - lv[:, _TOP:_TOP + 1], -_CLAMP, _CLAMP)
    d = np.vstack([d, np.zeros((1, N_LEVELS), dtype=np.int64)])  # row -1: the empty ring
    t = np.arange(len(lv))
    first = np.minimum(t, warm - 1)
    cols = [d[np.maximum(t - k, first)] for k in range(N_HOPS)]  # src -1 (warm 0 only) reads the zeros
    return np.stack(cols, axis=1).reshape(len(lv), N_X)


def preactivations(levels, model, warm, x=None):
    # (T, H) pre-activations (acc >> s1[u]) * m1[u] + b1[u], before the >> 15 and the clamp (PatchMLP's
    # bound keeps each below 2**30 in size); x: the (T, 160) inputs if the caller has them (levels unused)
    w1, m1, b1, s1, _, _, _, _ = _model(model)
    acc = (inputs(levels, warm) if x is None else np.asarray(x, dtype=np.int64)) @ w1.T  # exact: |acc| < 2**26
    return (acc >> s1) * m1 + b1


def hidden(levels, model, warm, x=None):
    # (T, H) uint8 hidden units h[u] = clamp(((acc >> s1[u]) * m1[u] + b1[u]) >> 15, 0, 255)
    return np.clip(preactivations(levels, model, warm, x) >> 15, 0, 255)


def scores(levels, model, warm, x=None):
    # (T,) int64 PatchMLP scores for (T, 20) levels: hop t primes (t < warm) or pushes (t >= warm), then
    # scores; or for the rows of inputs x (train_detector's training rows), levels and warm unused.
    _, _, _, _, w2, m2, b2, s2 = _model(model)
    o = hidden(levels, model, warm, x) @ w2
    return (o * m2 + b2) >> s2
