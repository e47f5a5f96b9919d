# The kick MLP's training and export (bench/train_detector.py --mlp): a float MLP fitted on the band
# history (the 160 inputs firmware/kick_mlp.py's PatchMLP sees: the last 8 hops' 20 levels against the
# whole-range level), quantized to PatchMLP's integer model tuple (w1, m1, b1, s1, w2, m2, b2, s2):
#   h[u] = clamp(((acc[u] >> s1[u]) * m1[u] + b1[u]) >> 15, 0, 255),  acc[u] = w1[u] . x
#   score = (sum_u w2[u] * h[u]) * m2 + b2) >> s2        (LEAF_SCALE units per logit, as the trees')
# The float network: x standardized, one hidden ReLU layer, a logistic output (sklearn's MLPClassifier).
# The standardization folds into layer 1; each unit's weights are int8 on their own scale; each hidden
# unit's output is its activation in steps of 1/255 of its 99.9th percentile on the training rows
# (clamped at 255, as the firmware does); the output weights are int8 on one scale. The integer bounds
# are the ones PatchMLP.__init__ checks (kick_mlp.py's header); the exporter meets them and the
# constructor refuses anything that does not.
import numpy as np

N_X = 160
LIMIT = 1 << 30  # MicroPython's small ints on the ESP32 stay below it
CLAMP = 2047  # |x| <= 2047 (the inputs are clamped)
H_STEPS = 255  # uint8 hidden units
PCTL = 99.9  # a hidden unit's full scale: this percentile of its activation on the training rows


def fit(X, y, w, hidden=32, epochs=12, seed=0):
    # A float MLP on (N, 160) integer inputs with 0/1 labels and sample weights; returns
    # (net, mu, sd, used): the sklearn network, the standardization and the inputs that vary (the
    # whole-range level against itself is always 0: its weights must not blow up in the fold).
    import warnings
    from sklearn.neural_network import MLPClassifier

    X = np.asarray(X, dtype=np.float32)
    mu = X.mean(0)
    sd = X.std(0)
    used = sd > 1e-6
    sd = np.where(used, sd, 1.0)
    Z = np.where(used, (X - mu) / sd, 0.0).astype(np.float32)
    net = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=1e-4, batch_size=1024, learning_rate_init=1e-3,
                        max_iter=epochs, early_stopping=False, random_state=seed, shuffle=True)
    with warnings.catch_warnings():  # max_iter ends the epochs on purpose: no convergence warning
        warnings.simplefilter("ignore")
        net.fit(Z, y, sample_weight=w)
    return net, mu, sd, used


def folded(net, mu, sd, used):
    # Layer 1 on the raw inputs (the standardization folded in), layer 2: (W1 (160, H), b1, W2 (H,), b2).
    W1 = np.where(used[:, None], net.coefs_[0] / sd[:, None], 0.0)
    b1 = net.intercepts_[0] - (mu * used) @ W1
    return W1, b1, net.coefs_[1][:, 0], float(net.intercepts_[1][0])


def float_logits(X, layers):
    W1, b1, W2, b2 = layers
    return np.maximum(np.asarray(X, dtype=np.float64) @ W1 + b1, 0.0) @ W2 + b2


def _unit(wq, r, bias):
    # One hidden unit's (s1, m1, b1) for h = r * acc + bias (in hidden steps), or None when the unit's
    # exact bound fails (the worst-case accumulator, every input at the rail with the weights' signs,
    # would pass 2**30: r must be coarser). The shift is the smallest that keeps m1 below 2**15 (the
    # most resolution; shifting further does not help the bound, (acc >> s) * m1 stays r * acc * 2**15).
    # Floor shifts lose half a step on average: added back in b1, as is the half step that makes the
    # final >> 15 round to nearest.
    bound = CLAMP * int(np.abs(wq).sum())  # |acc| <= bound
    s = 0
    while s < 26 and round(r * 2.0 ** (15 + s)) < (1 << 14):
        s += 1
    m = min(int(round(r * 2.0 ** (15 + s))), (1 << 15) - 1)  # the min: r > 1 step per unit of acc
    b = int(round((bias + 0.5) * 32768 + 0.5 * m))
    if abs(b) >= 1 << 29 or ((bound >> s) + 1) * abs(m) + abs(b) >= LIMIT:
        return None
    return s, m, b


def quantize(layers, X, scale):
    # The PatchMLP model tuple for float layers (folded()), with hidden full scales from the rows X;
    # scale: integer score units per logit.
    W1, b1, W2, b2 = layers
    nh = W1.shape[1]
    z = np.maximum(np.asarray(X, dtype=np.float64) @ W1 + b1, 0.0)
    full = np.percentile(z, PCTL, axis=0)
    w1q, s1, m1, bq1 = np.zeros((nh, N_X), dtype=np.int64), [], [], []
    t = np.ones(nh)  # float activation per hidden step
    live = (full > 1e-9) & (np.abs(W1).max(0) > 0)
    for u in range(nh):
        if not live[u]:  # never active on the training rows: a unit that outputs 0
            s1.append(0), m1.append(0), bq1.append(0)
            continue
        t[u] = full[u] / H_STEPS
        sw = np.abs(W1[:, u]).max() / 127.0
        w1q[u] = np.clip(np.round(W1[:, u] / sw), -127, 127)
        q = _unit(w1q[u], sw / t[u], b1[u] / t[u])
        while q is None:  # past its bound: coarser hidden steps until it fits
            t[u] *= 2.0
            q = _unit(w1q[u], sw / t[u], b1[u] / t[u])
        s1.append(q[0]), m1.append(q[1]), bq1.append(q[2])
    v = np.where(live, W2 * t, 0.0)  # the logit per hidden step of each unit
    sw2 = max(np.abs(v).max() / 127.0, 1e-12)
    w2q = np.clip(np.round(v / sw2), -127, 127).astype(np.int64)
    s2 = 31
    while s2 > 1:
        m2 = int(round(sw2 * scale * 2.0 ** s2))
        bq2 = int(round(b2 * scale * 2.0 ** s2 + 2.0 ** (s2 - 1)))  # + half: the >> s2 rounds
        if nh * 32640 * max(abs(m2), 1) + abs(bq2) < LIMIT:
            break
        s2 -= 1
    return (bytes(w1q.astype(np.int8).ravel().tobytes()), [int(m) for m in m1], [int(b) for b in bq1],
            bytes(s1), bytes(w2q.astype(np.int8).tobytes()), m2, bq2, s2)


def summary(model):
    # One line for the weights' header and the log.
    w1, m1, b1, s1, w2, m2, b2, s2 = model
    return "MLP %d x %d int8 (%d weight bytes), first-layer shifts %d..%d, output m2 %d >> %d" % (
        len(m1), N_X, len(w1) + len(w2), min(s1), max(s1), m2, s2)
