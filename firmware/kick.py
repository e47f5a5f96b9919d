# Kick-drum onset model: 95 integer features per hop (rises over 1, 2 and 3 hops, the rise over
# the last four hops' maximum and the height above the noise floor, for the 16 bands, bass, mid
# and treble), scored by small decision trees trained offline (bench/train_detector.py on the
# dataset's dev split) and evaluated with integer compares and additions only.
from array import array
from firmware.compat import const

N_IN = const(19)  # the 16 bands, bass, mid and treble levels
N_FEAT = const(95)  # per level: r1, r2, above floor, r3, rise over the recent max
_CLAMP = const(2047)  # features clamp to +-2047 Q8 log2 (about +-24 dB)
_LEAF = const(255)  # node feature index marking a leaf


class KickModel:
    def __init__(self, trees, bias):
        # trees: (roots, feature, threshold, left, right, value) flat node tables; a node goes
        # left when feature <= threshold; a leaf's value is added to the score.
        roots, feat, thr, left, right, value = trees
        self.roots = array("H", roots)
        self.tf = bytearray(feat)
        self.thr = array("h", thr)
        self.left = array("H", left)
        self.right = array("H", right)
        self.value = array("i", value)  # |leaf| < 2**16, fewer than 256 trees: the sum < 2**24
        self.bias = bias
        self.hist = array("h", [0] * (4 * N_IN))  # levels 1..4 hops ago, level-major
        self.feat = array("h", [0] * N_FEAT)

    def prime(self, lv):
        # Start the history from the current levels (no rise before the first full frame).
        h = self.hist
        for i in range(N_IN):
            x = lv[i]
            h[4 * i] = x
            h[4 * i + 1] = x
            h[4 * i + 2] = x
            h[4 * i + 3] = x

    def features(self, lv, floor):
        # lv: band levels (Q8 log2); floor: the analyzer's noise floors (Q12 log2).
        ft = self.feat
        h = self.hist
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
            # inline clamps to +-_CLAMP (a function call per feature costs too much bytecode)
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
            h[k + 3] = c
            h[k + 2] = b
            h[k + 1] = a
            h[k] = x
            j += 5
        return ft

    def score(self):
        # Sum of the trees' leaves plus the bias (integer units; see kick_weights.SCALE).
        ft = self.feat
        tf = self.tf
        thr = self.thr
        left = self.left
        right = self.right
        roots = self.roots
        s = self.bias
        for t in range(len(roots)):
            n = roots[t]
            f = tf[n]
            while f != _LEAF:
                if ft[f] <= thr[n]:
                    n = left[n]
                else:
                    n = right[n]
                f = tf[n]
            s += self.value[n]
        return s

