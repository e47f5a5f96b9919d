# Viper twins of Spectrum's per-hop loops (firmware/spectrum.py): hop statistics, window, bin power, band sums.
# Same integers as the bytecode; tests/test_spectrum_viper.py checks them in simulation and on the unix port.
#
#   s = hop_stats(slot, hop, his, los, idx)        # sum of the hop; his[idx], los[idx] = max, min
#   total = window(ring, win, data, n, start, dc, r)  # Spectrum.window(dc, r), start = slot * hop
#   bin_power(data, power, m)                      # Spectrum.bin_power(), m = n >> 1
#   band_sums(power, bins, nlev, out)              # band_levels' accumulators: out[2b] = acc, out[2b+1] = sh
#
# band_sums leaves band_levels' last step (log2_q8(acc) + (sh << 8) + offset, 20 calls) to bytecode.
# Import it optionally, like fft_viper: CPython gets ImportError from the guard, the WebAssembly VM
# (no native emitter) a SyntaxError. No allocation; not reentrant (the _A argument block).
#
# Why no 32-bit viper int wraps here (the portable code's own bounds, restated):
# - hop_stats: samples are int16, hop <= 1024 (it divides the FFT size), so |sum| <= 2**25.
# - window: x = sample - dc with dc = dc_q12 >> 12 in [-32768, 32767] (a mean of int16 samples),
#   so |x| < 2**16 before the clamp; after it |x| <= 32767, |x * w| <= 32767 * 32768 < 2**30 for any
#   int16 window, and half = 2**(r-1) <= 2**14 (r = 15 - norm_shift in 1..15): the sum is < 2**30.
#   Each windowed value is then below 2**15 (by r), so their total over n <= 1024 is below 2**25.
# - bin_power: RealFFT.run leaves every component below 19,777, so re*re + im*im < 7.9e8 < 2**30
#   Any data whose powers fit array('i') (< 2**31, else the portable code raises OverflowError)
#   compute without a wrap too: both squares are non-negative and their sum is < 2**31.
# - band_sums: with bin power < 7.9e8 (the FFT's bound) the sums stay below 2**30 as band_levels
#   argues: acc < 2**28 until the first halving, then each add is power >> sh with sh >= 1, and
#   acc < 2**28 + 7.9e8 before any halving. To match band_levels for *any* power in [0, 2**31) as
#   well (what array('i') can hold), acc is treated as an unsigned word: before the first halving it
#   is < 2**28 + 2**31, after the k-th halving < 2**30 + 2**(28-k) + ..., and each later add is
#   < 2**(31-k), so it never exceeds 2**31 + 2**28 < 2**32; "acc >= 2**28" is then acc >> 28 != 0
#   and the halving (acc + 1) >> 1 a logical shift, & 0x7FFFFFFF after the arithmetic one (the
#   (acc + 1) may wrap to -2**31, whose logical half is 2**30: right). sh counts the halvings:
#   acc * 2**sh tracks the band's total (< 512 bins * 2**31 = 2**40) and acc >= 2**27 after a
#   halving, so sh <= 13: always a legal shift count.
# The deliberate wraps, marked "intended wrap": the sign extensions (w << 16) >> 16 of int16 halves
# and band_sums' unsigned accumulator (which wraps only for power beyond the FFT's bound).
#
# Viper facts used (see fft_viper.py's header): int16 arrays are read two samples per 32-bit word
# (low half first: little-endian, checked below; ptr32 loads are signed, so w >> 16 is the second
# sample sign-extended and (w << 16) >> 16 the first); whole arrays and the slots (memoryviews at
# multiples of hop >= 16 samples) are 4-byte aligned, and every pair starts at an even index because
# start, hop and n are even. Only the first 2-3 locals get registers, so each entry parks its
# arguments in _A and calls a worker that takes none and declares its hottest locals first.
# Addresses are walked as ints and loops end on != (right whatever the sign of an address).
import micropython
import sys
from array import array

if sys.implementation.name != "micropython" or sys.byteorder != "little":
    raise ImportError("spectrum_viper needs MicroPython's viper emitter on a little-endian machine")

# arguments parked for the workers (addresses and ints)
_A = array("i", [0] * 8)


@micropython.viper
def hop_stats(slot, hop: int, his, los, idx: int) -> int:
    # Spectrum.hop_stats' loop: returns the sum of slot[0:hop] (int16 samples, hop even) and stores
    # the largest and smallest sample in his[idx] and los[idx] (array('h')).
    a = ptr32(_A)
    a[0] = int(ptr32(slot))
    a[1] = hop
    s = int(_hop_stats())
    h = ptr16(his)
    h[idx] = a[2]  # a store keeps the low 16 bits: the int16 value
    h = ptr16(los)
    h[idx] = a[3]
    return s


@micropython.viper
def _hop_stats() -> int:
    p = ptr32(0)  # local 0 (register): walks the samples, two per word
    v = 0  # local 1 (register): the sample in hand
    hi = -32768  # local 2
    lo = 32767
    s = 0
    a = ptr32(_A)
    p = ptr32(a[0])
    end = a[0] + (a[1] << 1)
    while int(p) != end:
        w = p[0]
        v = (w << 16) >> 16  # intended wrap: sign extension of the first sample
        s += v
        if v > hi:
            hi = v
        if v < lo:
            lo = v
        v = w >> 16
        s += v
        if v > hi:
            hi = v
        if v < lo:
            lo = v
        p = ptr32(int(p) + 4)
    a[2] = hi
    a[3] = lo
    return s


@micropython.viper
def window(ring, win, data, n: int, start: int, dc: int, r: int):
    # Spectrum.window(dc, r): data[i] = (clamp(ring[(start + i) % n] - dc, +-32767) * win[i]
    # + 2**(r-1)) >> r for i < n, oldest sample first. ring, win: array('h') of n; data: array('i').
    # start and n even, 1 <= r <= 15.
    a = ptr32(_A)
    a[0] = int(ptr32(ring))
    a[1] = int(ptr32(win))
    a[2] = int(ptr32(data))
    a[3] = n
    a[4] = start
    a[5] = dc
    a[6] = r
    return _window()


@micropython.viper
def _window() -> int:
    x = 0  # local 0 (register): the sample being windowed
    q = ptr32(0)  # local 1 (register): walks data, one int per sample
    p = ptr32(0)  # local 2: walks the ring, two samples per word
    total = 0  # the sum of data[0:n]: |total| < n * 32768 <= 2**25
    a = ptr32(_A)
    ring = a[0]
    t = ptr32(a[1])  # walks the window, two coefficients per word
    q = ptr32(a[2])
    n = a[3]
    dc = a[5]
    r = a[6]
    half = 1 << (r - 1)
    # two runs: ring[start:n], then ring[0:start] (the wrap)
    p = ptr32(ring + (a[4] << 1))
    end = ring + (n << 1)
    run = 0
    while run < 2:
        while int(p) != end:
            w = p[0]
            c = t[0]
            x = (w << 16) >> 16  # intended wrap: sign extension of the first sample
            x -= dc
            if x > 32767:
                x = 32767
            elif x < -32767:
                x = -32767
            e = (c << 16) >> 16  # intended wrap: sign extension of win[i]
            x = (x * e + half) >> r
            q[0] = x
            total += x
            x = (w >> 16) - dc
            if x > 32767:
                x = 32767
            elif x < -32767:
                x = -32767
            x = (x * (c >> 16) + half) >> r
            q[1] = x
            total += x
            p = ptr32(int(p) + 4)
            t = ptr32(int(t) + 4)
            q = ptr32(int(q) + 8)
        p = ptr32(ring)
        end = ring + (a[4] << 1)
        run += 1
    return total


@micropython.viper
def bin_power(data, power, m: int):
    # Spectrum.bin_power(): power[k] = data[2k]**2 + data[2k+1]**2 for 1 <= k < m (power[0] untouched).
    q = ptr32(data)
    p = ptr32(power)
    end = int(p) + (m << 2)
    q = ptr32(int(q) + 8)
    p = ptr32(int(p) + 4)
    while int(p) != end:
        re = q[0]
        im = q[1]
        p[0] = re * re + im * im
        p = ptr32(int(p) + 4)
        q = ptr32(int(q) + 8)


@micropython.viper
def band_sums(power, bins, nlev: int, out):
    # band_levels' accumulation for bands b < nlev over power[bins[2b]:bins[2b+1]] (power: array('i'),
    # bins: array('H')): out[2b] = acc and out[2b+1] = sh (out: array('i') of 2 * nlev), so that the
    # level is log2_q8(acc) + (sh << 8) + offset, or empty if acc == 0.
    a = ptr32(_A)
    a[0] = int(ptr32(power))
    a[1] = int(ptr16(bins))
    a[2] = nlev
    a[3] = int(ptr32(out))
    _band_sums()


@micropython.viper
def _band_sums():
    acc = 0  # local 0 (register)
    p = ptr32(0)  # local 1 (register): walks the band's bins
    sh = 0  # local 2
    a = ptr32(_A)
    pw = a[0]
    b = ptr16(a[1])
    o = ptr32(a[3])
    o_end = a[3] + (a[2] << 3)
    low31 = int(0x7FFFFFFF)  # not a small int: a literal here would be an object
    while int(o) != o_end:
        acc = 0
        sh = 0
        p = ptr32(pw + (b[0] << 2))
        end = pw + (b[1] << 2)
        if b[1] > b[0]:  # an empty range (hi <= lo) sums to 0, as range(lo, hi) does
            while int(p) != end:
                acc += p[0] >> sh  # intended wrap: acc is unsigned here (see the header)
                if acc >> 28:  # acc >= 2**28 (spectrum._ACC_LIMIT) as an unsigned word
                    acc = ((acc + 1) >> 1) & low31  # intended wrap: unsigned (acc + 1) >> 1
                    sh += 1
                p = ptr32(int(p) + 4)
        o[0] = acc
        o[1] = sh
        o = ptr32(int(o) + 8)
        b = ptr16(int(b) + 4)
