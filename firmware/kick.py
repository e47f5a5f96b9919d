# Kick-drum onset model: 171 integer features per hop -- for each of the 16 bands, bass, mid and
# treble: the rises over 1, 2, 3 and 4 hops, the rise over the last four hops' maximum and over
# their minimum, the previous hop's rise, the height above the noise floor and the level against
# the whole-range level (the spectrum's shape) -- scored by small decision trees trained offline
# (bench/train_detector.py on the dataset's dev split) and evaluated with integer compares and
# additions only; optionally averaged with a second scorer, an integer MLP over the last 8 hops' band
# levels (firmware/kick_mlp.py's PatchMLP): score = (trees + mlp) >> 1.
from array import array
from firmware.compat import const

try:  # viper twins of the feature loop and the tree walk where MicroPython has a native emitter
    from firmware import kick_viper as _viper
except (ImportError, SyntaxError, ValueError):  # CPython, the WebAssembly VM (no viper), .mpy of another arch
    _viper = None  # type: ignore[assignment]

N_IN = const(19)  # the 16 bands, bass, mid and treble levels
N_PER = const(9)  # features per level
N_FEAT = const(171)  # per level: r1, r2, above floor, r3, rise over the recent max, r4, rise over the
# recent min, the previous hop's rise, level against the whole range
# kick_viper.features is tied to the feature layout; it runs only while it declares the same one
_VFEAT = _viper is not None and getattr(_viper, "N_FEAT", 0) == N_FEAT
_CLAMP = const(2047)  # features clamp to +-2047 Q8 log2 (about +-24 dB)


def _table(code, v):
    # An array of type `code` from a sequence; an array is taken as it is (MicroPython's arrays
    # have no .typecode to check: kick_weights.py builds them with the types named here).
    if isinstance(v, array):
        return v
    return array(code, v)


class KickModel:
    def __init__(self, trees, bias, mlp=None):
        # trees: (feature, threshold, value) of complete trees of one depth d in heap order (node k's
        # children are 2k+1 and 2k+2): per tree 2**d - 1 split features (bytes), as many int16
        # thresholds and 2**d int16 leaf values, left to right. At node k go right (2k+2) when
        # feature > threshold, else left (2k+1); the leaf reached adds its value to the score. The
        # depth follows from the tables' sizes (leaves - nodes = trees). bench/train_detector.py's
        # implicit_tables makes them from flat node tables (a shallower leaf becomes an always-left
        # node over equal leaves). Tables that already are arrays of the right type (kick_weights.py's)
        # are used as they are.
        # thr and value may also come as int16 little-endian bytes (kick_weights.py's form): where the
        # viper walk runs, they are read where they lie (in flash when the firmware is frozen or in
        # ROMFS: no copy in the heap); the bytecode walk copies them into arrays.
        feat, thr, value = trees
        self.tf = feat if isinstance(feat, (bytes, bytearray)) else bytes(feat)
        if _viper is not None:
            self.thr = thr if isinstance(thr, bytes) else bytes(_table("h", thr))
            self.value = value if isinstance(value, bytes) else bytes(_table("h", value))
            n_thr, n_value = len(self.thr) >> 1, len(self.value) >> 1
        else:
            self.thr = _table("h", thr)  # array("h", bytes) reads little-endian int16 on the ESP32
            self.value = _table("h", value)  # |leaf| < 2**15, fewer than 256 trees: the sum < 2**23
            n_thr, n_value = len(self.thr), len(self.value)
        nt = n_value - len(self.tf)
        inner = len(self.tf) // nt if nt > 0 else 7  # no trees: any depth
        # inner & (inner + 1) == 0: inner is 2**d - 1
        if (nt < 0 or nt > 255 or inner < 1 or inner & (inner + 1) or len(self.tf) != inner * nt
                or n_thr != inner * nt):
            raise ValueError("tables of 2**d - 1 features and thresholds and 2**d leaves a tree, at most 255 trees")
        self.inner = inner  # a tree's internal nodes; inner + 1 leaves
        self.bias = bias
        self.hist = array("h", [0] * (4 * N_IN))  # levels 1..4 hops ago, level-major
        self.feat = array("h", [0] * N_FEAT)
        # mlp: PatchMLP's model tuple (kick_mlp.py's header), or None for the trees alone. Imported only
        # when given: a board running the small filesystem model does not pay for the module.
        self.mlp = None
        if mlp is not None:
            # the ensemble's bound (score) needs |trees| < 2**23: 255 leaves of int16 leave the bias +-(2**15 - 1)
            if not -32768 < bias < 32768:
                raise ValueError("with an MLP the trees' bias must be within +-(2**15 - 1)")
            from firmware.kick_mlp import PatchMLP

            self.mlp = PatchMLP(mlp)

    def prime(self, lv):
        # Start the history from the current levels (no rise before the first full frame).
        if self.mlp is not None:
            self.mlp.prime(lv)
        h = self.hist
        for i in range(N_IN):
            x = lv[i]
            h[4 * i] = x
            h[4 * i + 1] = x
            h[4 * i + 2] = x
            h[4 * i + 3] = x

    def features(self, lv, floor):
        # lv: band levels (Q8 log2, N_IN + 1 entries: the whole-range level last); floor: the
        # analyzer's noise floors (Q12 log2). Runs once a hop after the warm-up (Analyzer._beat), so the
        # MLP's history moves on here too.
        if self.mlp is not None:
            self.mlp.push(lv)
        if _VFEAT:  # kick_viper.features: this loop in viper (change both; tests/test_kick_viper.py)
            _viper.features(lv, floor, self.hist, self.feat)
            return self.feat
        ft = self.feat
        h = self.hist
        top = lv[N_IN]  # the whole-range level
        j = 0
        for i in range(N_IN):
            x = lv[i]
            k = 4 * i
            a = h[k]
            b = h[k + 1]
            c = h[k + 2]
            d = h[k + 3]
            m = a if a > b else b
            if c > m:
                m = c
            if d > m:
                m = d
            n = a if a < b else b
            if c < n:
                n = c
            if d < n:
                n = d
            # inline clamps to +-_CLAMP (a function call per feature costs too much bytecode);
            # levels are int16 and floors < 2**23, so every difference is < 2**24 before the clamp
            e = x - a
            ft[j] = e if -_CLAMP <= e <= _CLAMP else (_CLAMP if e > 0 else -_CLAMP)
            e = x - b
            ft[j + 1] = e if -_CLAMP <= e <= _CLAMP else (_CLAMP if e > 0 else -_CLAMP)
            e = ((x << 4) - floor[i]) >> 4
            ft[j + 2] = e if -_CLAMP <= e <= _CLAMP else (_CLAMP if e > 0 else -_CLAMP)
            e = x - c
            ft[j + 3] = e if -_CLAMP <= e <= _CLAMP else (_CLAMP if e > 0 else -_CLAMP)
            e = x - m
            ft[j + 4] = e if -_CLAMP <= e <= _CLAMP else (_CLAMP if e > 0 else -_CLAMP)
            e = x - d
            ft[j + 5] = e if -_CLAMP <= e <= _CLAMP else (_CLAMP if e > 0 else -_CLAMP)
            e = x - n
            ft[j + 6] = e if -_CLAMP <= e <= _CLAMP else (_CLAMP if e > 0 else -_CLAMP)
            e = a - b
            ft[j + 7] = e if -_CLAMP <= e <= _CLAMP else (_CLAMP if e > 0 else -_CLAMP)
            e = x - top
            ft[j + 8] = e if -_CLAMP <= e <= _CLAMP else (_CLAMP if e > 0 else -_CLAMP)
            h[k + 3] = c
            h[k + 2] = b
            h[k + 1] = a
            h[k] = x
            j += N_PER
        return ft

    def score(self):
        # Sum of the trees' leaves plus the bias (integer units; see kick_weights.SCALE), averaged with
        # the MLP's score when there is one: (t + m) >> 1. Why the sum stays below 2**30: with an MLP,
        # |t| <= 255 * 32768 + 32767 < 2**23 (__init__), and PatchMLP's |m| <= 2**29 (its output
        # (o * m2 + b2) is below 2**30 in size and s2 >= 1 halves it), so |t + m| < 2**29 + 2**23.
        # (One function, not a helper for the trees: a call more a hop costs the board's bytecode.)
        if _viper is not None:
            s = self.bias + _viper.score(self.feat, self.tf, self.thr, self.value)
            return s if self.mlp is None else (s + self.mlp.score()) >> 1
        ft = self.feat
        tf = self.tf
        thr = self.thr
        value = self.value
        s = self.bias
        inner = self.inner
        b = 0  # the tree's first internal node
        v = 0  # its first leaf
        end = len(value)
        while v != end:
            n = 0
            while n < inner:  # n = 2n + 1 + (feature > threshold) until a leaf: inner..2 inner
                n = 2 * n + (2 if ft[tf[b + n]] > thr[b + n] else 1)
            s += value[v + n - inner]  # |s| < 2**23 (see __init__)
            b += inner
            v += inner + 1
        return s if self.mlp is None else (s + self.mlp.score()) >> 1
