# A second kick scorer beside the trees (firmware/kick.py): a 2-layer integer MLP over the recent band
# levels (the last 8 hops' 20 levels, each against the whole-range level), int8 weights, uint8 hidden units.
# docs/detection-experiments.md (session 8) measured the float version; host_tools/fastmlp.py is its numpy twin.
#
# Model tuple (w1, m1, b1, s1, w2, m2, b2, s2), H = len(m1) hidden units, N_X = 160 inputs:
#   w1: int8 weights (bytes, two's complement), unit u's 160 at offset u * 160, weight k * 20 + j for
#       the input x[k * 20 + j] (the hop k back, k = 0 the newest, level j)
#   m1: array('h') multipliers, |m1[u]| < 2**15; b1: array('i') biases, |b1[u]| < 2**29
#   s1: one right shift a unit, 0..26 (bytes, or a sequence of ints stored as bytes: the viper twin reads
#       them through ptr8); together with w1, m1 and b1 each unit must pass the exact bound below
#   w2: int8 weights (bytes), H of them; m2, b2: ints; s2: 1..31
# Per hop (x as above: x[k * 20 + j] = clamp(L[t - k][j] - L[t - k][19], +-2047), L the band levels):
#   acc[u] = sum_i w1[u][i] * x[i]
#   h[u] = min(255, max(0, ((acc[u] >> s1[u]) * m1[u] + b1[u]) >> 15))
#   o = sum_u w2[u] * h[u]
#   score = (o * m2 + b2) >> s2
#
# Why every intermediate stays below 2**30 (MicroPython's small ints on the ESP32; the viper twin's 32-bit
# words): |x| <= 2047, so |acc[u]| <= A[u] = 2047 * sum_i |w1[u][i]|, and so is every partial sum (at most
# 2047 * 160 * 128 = 41,922,560 < 2**26). The shift floors, so |acc >> s| <= (A >> s) + 1 (the + 1: a
# negative acc rounds away from zero), and __init__ requires, per unit, the exact bound
#   ((A[u] >> s1[u]) + 1) * |m1[u]| + |b1[u]| < 2**30
# which bounds the product and the pre-activation. A trained unit's weights are far from the int8 extremes,
# so its shift can be small (s1 >= 12 only for the worst case, every |w| 128 with |m1| near 2**15 and
# |b1| near 2**29): the hidden units keep their resolution. h is 0..255, w2 in -128..127, so
# |o| <= H * 128 * 255 = H * 32640, and every partial sum of o too. The exporter must pick m2 and b2 with
# H * 32640 * max(|m2|, 1) + |b2| < 2**30 (the max: o alone must fit when m2 is 0). s2 >= 1 halves the
# score's range: |score| <= 2**29, so the kick model's ensemble (trees + score) >> 1 stays below 2**30 with
# the trees' |t| < 2**23 (firmware/kick.py). __init__ checks all of these and refuses a model that can
# break them (ValueError naming the unit and the quantity). Shifts stay below 32 (viper: a shift by 32 or
# more gives a different result on each CPU).
#
# Warm-up (as KickModel.prime): on the hops before the first full frame the caller calls prime(lv)
# instead of push(lv), so every slot holds that hop's differences; after the last primed hop the
# history holds its levels until real hops replace them. host_tools/fastmlp.py mirrors exactly this.
from array import array
from firmware.compat import const
from firmware.kick import _table  # an array of a type from a sequence, an array as it is
from firmware.spectrum import N_LEVELS

try:  # viper twin of score() where MicroPython has a native emitter: same integers
    from firmware import kick_mlp_viper as _viper
except (ImportError, SyntaxError, ValueError):  # CPython, the WebAssembly VM (no viper), .mpy of another arch
    _viper = None  # type: ignore[assignment]

N_HOPS = const(8)  # hops of band history the network sees
N_X = const(160)  # inputs: N_HOPS x N_LEVELS
_TOP = const(19)  # the whole-range level (spectrum.LEVEL): the levels are taken against it
_CLAMP = const(2047)  # the inputs clamp to +-2047 Q8 log2 (about +-24 dB), like kick.py's features
_O_UNIT = const(32640)  # 128 * 255: the largest |w2[u] * h[u]|
_LIMIT = const(1073741824)  # 2**30: MicroPython's small ints on the ESP32 stay below it
_SMALL = const(1073741823)  # 2**30 - 1: the largest of them
_B1_LIMIT = const(536870912)  # 2**29: |b1[u]| stays below it
_S1_MAX = const(26)  # |acc| < 2**26: a larger first-layer shift leaves only 0 and -1


def _int8(w):
    # int8 weights: bytes (two's complement) as they are, or a sequence of ints -128..127 as bytes
    if isinstance(w, (bytes, bytearray)):
        return w
    return bytes(array("b", w))


def _shifts(s1):
    # s1: one shift a unit, bytes (as they are) or a sequence of ints 0..26 stored as bytes (viper reads
    # them through ptr8). Checked before the conversion: MicroPython's bytes() keeps the low 8 bits of anything.
    if isinstance(s1, (bytes, bytearray)):
        return s1
    if isinstance(s1, int):
        raise ValueError("s1 must be one shift a hidden unit (H of them), not one for all units")
    out = bytearray(len(s1))
    for u in range(len(s1)):
        v = s1[u]
        if not 0 <= v <= _S1_MAX:
            raise ValueError("unit %d: s1 = %d outside 0..26" % (u, v))
        out[u] = v
    return bytes(out)


def _abs_sum(w1, u):
    # sum_i |w1[u][i]| over unit u's 160 int8 weights (bytes: two's complement); at most 160 * 128
    a = 0
    for i in range(u * N_X, u * N_X + N_X):
        v = w1[i]
        a += v if v < 128 else 256 - v
    return a


def _check_unit(u, w1, m, b, s):
    # The exact bound of hidden unit u (header): |acc| <= A = 2047 * sum |w1[u]|, |acc >> s| <= (A >> s) + 1,
    # and ((A >> s) + 1) * |m| + |b| < 2**30. Tested as q <= (2**30 - 1 - |b|) // |m|: no long ints here.
    if not 0 <= s <= _S1_MAX:
        raise ValueError("unit %d: s1 = %d outside 0..26" % (u, s))
    if not -32768 < m < 32768:
        raise ValueError("unit %d: m1 = %d outside +-(2**15 - 1)" % (u, m))
    if not -_B1_LIMIT < b < _B1_LIMIT:
        raise ValueError("unit %d: b1 = %d outside +-(2**29 - 1)" % (u, b))
    a = _CLAMP * _abs_sum(w1, u)  # < 2**26
    mm = abs(m)
    room = _SMALL - abs(b)  # > 2**29: what ((A >> s) + 1) * |m| may use
    if mm != 0 and (a >> s) + 1 > room // mm:
        raise ValueError("unit %d: ((A >> s1) + 1) * |m1| + |b1| reaches 2**30 (A = 2047 * sum |w1| = %d, s1 = %d, "
                         "m1 = %d, b1 = %d)" % (u, a, s, m, b))


class PatchMLP:
    def __init__(self, model):
        w1, m1, b1, s1, w2, m2, b2, s2 = model
        w1 = _int8(w1)
        w2 = _int8(w2)
        m1 = _table("h", m1)
        b1 = _table("i", b1)
        s1 = _shifts(s1)
        nh = len(m1)
        if nh < 1 or len(b1) != nh or len(s1) != nh or len(w2) != nh or len(w1) != nh * N_X:
            raise ValueError("an MLP of H >= 1 units needs H * 160 first-layer weights, H multipliers, biases, "
                             "shifts and output weights")
        if not 1 <= s2 <= 31:
            raise ValueError("s2 must be 1..31 (>= 1: the kick model's ensemble sum relies on it)")
        for u in range(nh):
            _check_unit(u, w1, m1[u], b1[u], s1[u])
        # |o| <= H * 32640: |o * m2| + |b2| must stay below 2**30 (o alone too, hence max(|m2|, 1));
        # the comparison runs on CPython's long ints or MicroPython's (once, at construction)
        if nh * _O_UNIT * max(abs(m2), 1) + abs(b2) >= _LIMIT:
            raise ValueError("|m2| * %d * H + |b2| must stay below 2**30 (H = %d: |m2| <= %d with b2 = 0)"
                             % (_O_UNIT, nh, (_LIMIT - 1) // (_O_UNIT * nh)))
        self.nh = nh
        self.m1 = m1
        self.b1 = b1
        self.s1 = s1
        self.m2 = m2
        self.b2 = b2
        self.s2 = s2
        if _viper is not None:  # the kernel reads int8 bytes where they lie (in flash when frozen)
            self.w1 = w1
            self.w2 = w2
        else:  # bytecode: int8 arrays, one sign conversion at construction instead of one a multiply
            self.w1 = array("b", w1)
            self.w2 = array("b", w2)
        self.prm = array("i", [m2, b2, s2])  # the kernel's constants (all below 2**30 in size)
        # The ring: slot s (20 differences) at s * 20; the newest hop in slot `head`, the hop k back in
        # slot (head + k) & 7. So x (k = 0..7) is ring[head * 20:160] followed by ring[0:head * 20]:
        # weights in their stored order, two contiguous runs.
        self.ring = array("h", [0] * N_X)
        self.head = 0

    def prime(self, lv):
        # Every slot gets this hop's differences (the warm-up: no history before the first full frame).
        r = self.ring
        top = lv[_TOP]
        for j in range(N_LEVELS):
            e = lv[j] - top  # int16 levels: |e| < 2**17 before the clamp
            e = e if -_CLAMP <= e <= _CLAMP else (_CLAMP if e > 0 else -_CLAMP)
            for s in range(j, N_X, N_LEVELS):
                r[s] = e

    def push(self, lv):
        # The newest hop's differences into the slot before the newest (the oldest hop drops out).
        # lv: band levels (array('h'), Q8 log2, N_LEVELS entries, the whole-range level last).
        r = self.ring
        self.head = h = (self.head - 1) & (N_HOPS - 1)
        p = h * N_LEVELS
        top = lv[_TOP]
        for j in range(N_LEVELS):
            e = lv[j] - top  # int16 levels: |e| < 2**17 before the clamp
            r[p + j] = e if -_CLAMP <= e <= _CLAMP else (_CLAMP if e > 0 else -_CLAMP)

    def score(self):
        # The network's score for the history in the ring (after this hop's push or prime).
        st = self.head * N_LEVELS  # where the newest hop starts in the ring
        if _viper is not None:  # kick_mlp_viper.score: this loop in viper (change both; tests/test_kick_mlp.py)
            return _viper.score(self.ring, st, self.w1, self.m1, self.b1, self.s1, self.w2, self.prm)
        x = self.ring
        w = self.w1
        m1 = self.m1
        b1 = self.b1
        w2 = self.w2
        s1 = self.s1
        i = 0  # walks w1: unit u's weights are i = u * 160 .. u * 160 + 159, in x's order
        o = 0
        for u in range(self.nh):
            acc = 0  # |acc| <= A[u] < 2**26 (header)
            for p in range(st, N_X):  # the hops k = 0 .. 7 - head
                acc += w[i] * x[p]
                i += 1
            for p in range(st):  # the older hops, from the start of the ring
                acc += w[i] * x[p]
                i += 1
            a = ((acc >> s1[u]) * m1[u] + b1[u]) >> 15  # below 2**30 before the shift (unit u's bound, header)
            if a < 0:
                a = 0
            elif a > 255:
                a = 255
            o += w2[u] * a  # |o| <= H * 32640 (header)
        return (o * self.m2 + self.b2) >> self.s2  # below 2**30 before the shift (checked in __init__)
