# Microphone health: tells a dead microphone (all zeros, stuck at one value, clipping) from quiet
# audio, from the per-hop max and min the front end already keeps. The garment shows an idle
# animation and raises a fault flag instead of reacting to garbage.
from firmware.compat import const

OK = const(0)
ZEROS = const(1)
STUCK = const(2)
CLIPPING = const(3)
NAMES = ("ok", "mic: all zeros (check the SD/data pin, the L/R pin and power)",
         "mic: stuck at one value (check wiring and the I2S format)",
         "mic: clipping constantly (wrong bit shift for this microphone type?)")

_BAD_MS = const(1000)  # a condition must last this long to count
_GOOD_MS = const(300)  # and clears after this long of healthy audio
_CLIP = const(32700)


class MicHealth:
    def __init__(self, fs, hop):
        self.bad_hops = (_BAD_MS * fs) // (1000 * hop)
        self.good_hops = (_GOOD_MS * fs) // (1000 * hop)
        self.state = OK
        self._cand = OK
        self._run = 0
        self._clean = 0

    def update(self, hi, lo):
        # hi/lo: the largest and smallest raw sample of the newest hop. Returns the state.
        if hi == 0 and lo == 0:
            c = ZEROS
        elif hi == lo:
            c = STUCK
        elif hi >= _CLIP and lo <= -_CLIP:
            c = CLIPPING
        else:
            c = OK
        if c == OK:
            self._run = 0
            self._cand = OK
            if self.state != OK:
                self._clean += 1
                if self._clean >= self.good_hops:
                    self.state = OK
                    self._clean = 0
            return self.state
        self._clean = 0
        if c == self._cand:
            self._run += 1
        else:
            self._cand = c
            self._run = 1
        if self._run >= self.bad_hops:
            self.state = c
        return self.state

    def message(self):
        return NAMES[self.state]
