# Audio source over a file of mono s16le PCM: hands the engine one hop of samples per call.
# Lets the desk run (and the VM tests) replay recorded audio through the same loop as the mic.
from firmware.compat import const

_BYTES_PER_SAMPLE = const(2)


class PcmFileSource:
    # read_hop(dst) -> 1 (a new hop is in dst), 0 (none ready yet; never for a file), -1 (end).
    # A short last read ends the stream and its partial hop is discarded. Files are not real
    # time, so nothing is ever dropped: `dropped` stays 0.

    def __init__(self, f, hop):
        # f: an open binary file (or anything with readinto); hop: samples per hop.
        self.f = f
        self.hop = hop
        self.nbytes = _BYTES_PER_SAMPLE * hop
        self.dropped = 0
        self.hops = 0
        self.ended = False

    def read_hop(self, dst):
        # dst: a memoryview/array of `hop` int16 samples. Little-endian file bytes go straight
        # into it (the ESP32 and desk hosts are little-endian): no per-hop allocation.
        if self.ended:
            return -1
        n = self.f.readinto(dst)
        if n is None or n < self.nbytes:
            self.ended = True
            return -1
        self.hops += 1
        return 1

    def close(self):
        self.ended = True
        f = self.f
        if f is not None:
            self.f = None
            f.close()
