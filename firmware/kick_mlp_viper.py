# Viper twin of PatchMLP.score (firmware/kick_mlp.py): the 160 x H dot products, the requantization to
# uint8 hidden units and the output layer, same integers. tests/test_kick_mlp.py checks it against the bytecode.
#
#   s = score(x, st, w1, m1, b1, s1, w2, prm)                    # PatchMLP.score
#
# x: the ring, array('h') of 160 inputs; st: where the newest hop starts in it (0..159), so the inputs in
# weight order are x[st:160] then x[0:st]; w1: int8 bytes (H rows of 160, in that order); m1: array('h')
# of H multipliers; b1: array('i') of H biases; s1: bytes, H shifts (one a unit); w2: int8 bytes, H of
# them; prm: array('i') of m2, b2, s2. H = len(m1). Per unit acc = w1[u] . x;
# h = clamp(((acc >> s1[u]) * m1[u] + b1[u]) >> 15, 0, 255); then o = w2 . h and the score
# (o * m2 + b2) >> s2. The ring's update (push, prime) stays in bytecode: 20 stores a hop. The kernel
# checks the arrays' lengths (IndexError, as the bytecode's lookups would raise) since a pointer would
# read past them, and the shifts (ValueError: outside 0..31 a shift gives a different result on each
# CPU). No allocation; not reentrant (the _A argument block). Import optionally, like fft_viper: CPython
# gets ImportError from the guard, the WebAssembly VM (no native emitter) a SyntaxError.
#
# Why no 32-bit viper int wraps (kick_mlp.py's header, which PatchMLP.__init__ enforces): |x| <= 2047
# (push and prime clamp it), so |acc| <= A[u] = 2047 * sum |w1[u]| < 2**26, every partial sum too; the
# floor shift gives |acc >> s1[u]| <= (A[u] >> s1[u]) + 1, and each unit satisfies
# ((A[u] >> s1[u]) + 1) * |m1[u]| + |b1[u]| < 2**30, which bounds the product and the pre-activation;
# h is 0..255 so |o| <= H * 32640, and the model's H * 32640 * max(|m2|, 1) + |b2| < 2**30 bounds the
# output. The int8 weights are read through ptr8 (unsigned) and sign-extended with (b << 24) >> 24, the
# int16 inputs and multipliers through ptr16 with (w << 16) >> 16: the deliberate wraps ("intended
# wrap"). The kernel itself does not check the model's bounds (PatchMLP does, once); its arithmetic
# right shifts of signed words match Python's >>.
#
# Viper facts used (fft_viper.py's header): only the first 2-3 locals get registers, so the entry
# parks its arguments in _A and calls a worker that takes none and declares its hottest locals first;
# addresses are walked as ints and loops end on != (right whatever the sign of an address).
import micropython
import sys
from array import array

if sys.implementation.name != "micropython" or sys.byteorder != "little":
    raise ImportError("kick_mlp_viper needs MicroPython's viper emitter on a little-endian machine")

N_X = 160  # inputs a unit (8 hops x 20 levels)

# score()'s arguments for _score(): x, w1, m1, b1, s1, w2 addresses, st, H, m2, b2, s2
_A = array("i", [0] * 11)


@micropython.viper
def score(x, st: int, w1, m1, b1, s1, w2, prm) -> int:
    nh = int(len(m1))
    if int(len(x)) != 160 or st < 0 or st >= 160 or nh < 1 or int(len(w1)) < 160 * nh or int(len(b1)) < nh \
            or int(len(s1)) < nh or int(len(w2)) < nh or int(len(prm)) < 3:
        raise IndexError("kick_mlp_viper.score: a ring of 160, H * 160 weights, H multipliers, biases, shifts "
                         "and outputs")
    c = ptr32(prm)
    if c[2] < 0 or c[2] > 31:
        raise ValueError("kick_mlp_viper.score: s2 outside 0..31")
    sp = ptr8(s1)
    u = 0
    while u < nh:  # ptr8 reads 0..255: only the top end to check
        if sp[u] > 31:
            raise ValueError("kick_mlp_viper.score: a shift s1[u] outside 0..31")
        u += 1
    a = ptr32(_A)
    a[0] = int(ptr16(x))
    a[1] = int(ptr8(w1))
    a[2] = int(ptr16(m1))
    a[3] = int(ptr32(b1))
    a[4] = int(sp)
    a[5] = int(ptr8(w2))
    a[6] = st
    a[7] = nh
    a[8] = c[0]
    a[9] = c[1]
    a[10] = c[2]
    return int(_score())


@micropython.viper
def _score() -> int:
    acc = 0  # local 0 (register): the unit's dot product
    wp = ptr8(0)  # local 1 (register): walks w1, one row a unit, in x's order
    xp = ptr16(0)  # local 2: walks the ring
    a = ptr32(_A)
    wp = ptr8(a[1])
    m1 = ptr16(a[2])
    b1 = ptr32(a[3])
    s1 = ptr8(a[4])
    w2 = ptr8(a[5])
    x0 = a[0]  # the ring's start
    xs = x0 + (a[6] << 1)  # the newest hop
    xe = x0 + 320  # the ring's end (160 int16)
    nh = a[7]
    o = 0
    u = 0
    while u < nh:
        acc = 0
        xp = ptr16(xs)
        while int(xp) != xe:  # the hops k = 0 .. 7 - head
            w = (wp[0] << 24) >> 24  # intended wrap: int8 sign extension
            v = (xp[0] << 16) >> 16  # intended wrap: int16 sign extension
            acc += w * v
            wp = ptr8(int(wp) + 1)
            xp = ptr16(int(xp) + 2)
        xp = ptr16(x0)
        while int(xp) != xs:  # the older hops, from the start of the ring
            w = (wp[0] << 24) >> 24  # intended wrap: int8 sign extension
            v = (xp[0] << 16) >> 16  # intended wrap: int16 sign extension
            acc += w * v
            wp = ptr8(int(wp) + 1)
            xp = ptr16(int(xp) + 2)
        m = (m1[u] << 16) >> 16  # intended wrap: int16 sign extension
        h = ((acc >> s1[u]) * m + b1[u]) >> 15
        if h < 0:
            h = 0
        elif h > 255:
            h = 255
        w = (w2[u] << 24) >> 24  # intended wrap: int8 sign extension
        o += w * h
        u += 1
    return (o * a[8] + a[9]) >> a[10]
