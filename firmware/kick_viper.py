# Viper twins of KickModel's per-hop loops (firmware/kick.py): the 171 features and the tree walk, same integers.
# tests/test_kick_viper.py checks them against the bytecode in simulation and on the 32-bit unix port.
#
#   features(lv, floor, hist, feat)                              # KickModel.features (19 levels, 171 features)
#   s = bias + score(feat, tf, thr, value)                       # KickModel.score
#
# features is tied to kick.py's feature layout: a change there needs the same change here and in N_FEAT
# (kick.py runs this loop only while N_FEAT matches its own), and tests/test_kick_viper.py fails until
# both agree. The walk is not tied to a model.
#
# score: complete trees of one depth d in heap order; thr and value are int16 little-endian bytes (a
# bytes object, in flash if frozen: kick.py hands them over as they are), tf bytes of feature indices.
# T = len(value) / 2 - len(tf) trees with I = len(tf) / T = 2**d - 1 internal nodes each (I + 1 leaf
# values a tree, left to right); tree t's internal node k (0..I-1) is tf[It + k] and thr[It + k]; from
# k = 0, k = 2k + 1 + (feat[tf[It + k]] > thr[It + k]) (feat: array('h')) while k < I, then add
# value[(I + 1)t + k - I]. Any tables of that format work (the walk ends at a leaf I..2I, so it never
# reads past a tree); node tables that are not a whole number of complete trees raise IndexError, and
# so does a feature index outside feat, as the bytecode's lookups would. The bias is added by the
# caller. No allocation; not reentrant (the _A argument block). Import optionally, like fft_viper:
# CPython gets ImportError from the guard, the WebAssembly VM (no native emitter) a SyntaxError.
#
# Why no 32-bit viper int wraps in score (features argues its own): the tables' own bound (kick.py):
# every leaf value is int16 and there are fewer than 256 trees (kick.py refuses more), so the sum stays
# below 2**23. Features, thresholds and leaves are int16, read through ptr16 (unsigned) and
# sign-extended with (w << 16) >> 16, the one deliberate wrap ("intended wrap"); feature indices are
# bytes compared against the feature count, so a bad index cannot read past feat.
#
# Viper facts used (fft_viper.py's header): only the first 2-3 locals get registers, so each entry
# parks its arguments in _A and calls a worker that takes none and declares its hottest locals first;
# addresses are walked as ints and loops end on != (right whatever the sign of an address).
import micropython
import sys
from array import array

if sys.implementation.name != "micropython" or sys.byteorder != "little":
    raise ImportError("kick_viper needs MicroPython's viper emitter on a little-endian machine")

N_FEAT = 171  # the feature layout features() computes (kick.py checks it before wiring it in)

# score()'s arguments for _score(): feat, tf, thr, value addresses, the tree count, the feature count,
# a tree's internal nodes
_A = array("i", [0] * 7)


@micropython.viper
def score(feat, tf, thr, value) -> int:
    nodes = int(len(tf))
    trees = (int(len(value)) >> 1) - nodes  # 2**d leaves and 2**d - 1 nodes a tree
    if trees < 1:
        if trees == 0 and nodes == 0:
            return 0  # no trees
        raise IndexError("node tables no shorter than the leaves")
    inner = 1  # 2**d - 1 internal nodes a tree: the smallest such that covers the node table
    while inner * trees < nodes and inner < 255:
        inner = 2 * inner + 1
    if inner * trees != nodes or (int(len(thr)) >> 1) < nodes:
        raise IndexError("node tables not a whole number of complete trees")
    a = ptr32(_A)
    a[0] = int(ptr16(feat))
    a[1] = int(ptr8(tf))
    a[2] = int(ptr16(thr))
    a[3] = int(ptr16(value))
    a[4] = trees
    a[5] = int(len(feat))
    a[6] = inner
    return int(_score())


@micropython.viper
def _score() -> int:
    n = 0  # local 0 (register): the heap position in the tree (0..inner - 1, then the leaf inner..2 inner)
    f = 0  # local 1 (register): the split's feature index
    tf = ptr8(0)  # local 2: the tree's first feature byte
    a = ptr32(_A)
    ft = ptr16(a[0])
    tf = ptr8(a[1])
    thr = ptr16(a[2])  # the tree's first threshold (walked with tf)
    val = ptr16(a[3])  # the tree's first leaf
    inner = a[6]  # a tree's internal nodes (2**d - 1); inner + 1 leaves
    tf_end = a[1] + inner * a[4]
    nf = a[5]
    s = 0
    while int(tf) != tf_end:
        n = 0
        while n < inner:
            f = tf[n]
            if f >= nf:
                raise IndexError("feature index outside the features")
            if ((ft[f] << 16) >> 16) > ((thr[n] << 16) >> 16):  # intended wrap: int16 sign extensions
                n = 2 * n + 2
            else:
                n = 2 * n + 1
        s += (val[n - inner] << 16) >> 16  # intended wrap: int16 sign extension
        tf = ptr8(int(tf) + inner)
        thr = ptr16(int(thr) + 2 * inner)
        val = ptr16(int(val) + 2 * inner + 2)
    return s


@micropython.viper
def features(lv, floor, hist, feat):
    # KickModel.features: for each of the 19 levels i (lv: array('h') of 20, Q8 log2, the whole-range
    # level `top` last; floor: array('i'), Q12), with a..d = hist[4i .. 4i+3] (the level 1..4 hops
    # ago, array('h')), m and n their largest and smallest, feat[9i .. 9i+8] = clamp(x - a),
    # clamp(x - b), clamp(((x << 4) - floor[i]) >> 4), clamp(x - c), clamp(x - m), clamp(x - d),
    # clamp(x - n), clamp(a - b), clamp(x - top), each clamped to +-2047; then the history moves on:
    # hist[4i .. 4i+3] = x, a, b, c.
    # No wrap: levels and history are int16, so the differences are below 2**17; the analyzer's floors
    # stay below 2**23 (analyzer_viper.py's header), so (x << 4) - floor is below 2**24.
    # exact sizes: a model with another feature layout must not run this loop by mistake
    if int(len(lv)) < 20 or int(len(floor)) < 19 or int(len(hist)) != 76 or int(len(feat)) != 171:
        raise IndexError("kick_viper.features is the loop for 19 levels and 171 features")
    a = ptr32(_A)
    a[0] = int(ptr16(lv))
    a[1] = int(ptr32(floor))
    a[2] = int(ptr16(hist))
    a[3] = int(ptr16(feat))
    _features()


@micropython.viper
def _features():
    x = 0  # local 0 (register): the level
    e = 0  # local 1 (register): the feature being clamped
    ft = ptr16(0)  # local 2: walks the features, 9 a level
    a = ptr32(_A)
    lv = ptr16(a[0])
    fl = ptr32(a[1])
    h = ptr16(a[2])
    ft = ptr16(a[3])
    top = (lv[19] << 16) >> 16  # intended wrap: sign extensions of int16 values
    end = a[0] + 38
    while int(lv) != end:
        x = (lv[0] << 16) >> 16  # intended wrap
        h0 = (h[0] << 16) >> 16  # intended wrap
        h1 = (h[1] << 16) >> 16  # intended wrap
        h2 = (h[2] << 16) >> 16  # intended wrap
        h3 = (h[3] << 16) >> 16  # intended wrap
        m = h0
        if h1 > m:
            m = h1
        if h2 > m:
            m = h2
        if h3 > m:
            m = h3
        n = h0
        if h1 < n:
            n = h1
        if h2 < n:
            n = h2
        if h3 < n:
            n = h3
        e = x - h0
        if e > 2047:
            e = 2047
        elif e < -2047:
            e = -2047
        ft[0] = e
        e = x - h1
        if e > 2047:
            e = 2047
        elif e < -2047:
            e = -2047
        ft[1] = e
        e = ((x << 4) - fl[0]) >> 4
        if e > 2047:
            e = 2047
        elif e < -2047:
            e = -2047
        ft[2] = e
        e = x - h2
        if e > 2047:
            e = 2047
        elif e < -2047:
            e = -2047
        ft[3] = e
        e = x - m
        if e > 2047:
            e = 2047
        elif e < -2047:
            e = -2047
        ft[4] = e
        e = x - h3
        if e > 2047:
            e = 2047
        elif e < -2047:
            e = -2047
        ft[5] = e
        e = x - n
        if e > 2047:
            e = 2047
        elif e < -2047:
            e = -2047
        ft[6] = e
        e = h0 - h1
        if e > 2047:
            e = 2047
        elif e < -2047:
            e = -2047
        ft[7] = e
        e = x - top
        if e > 2047:
            e = 2047
        elif e < -2047:
            e = -2047
        ft[8] = e
        h[3] = h2
        h[2] = h1
        h[1] = h0
        h[0] = x
        lv = ptr16(int(lv) + 2)
        fl = ptr32(int(fl) + 4)
        h = ptr16(int(h) + 8)
        ft = ptr16(int(ft) + 18)
