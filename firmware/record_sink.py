# LED sink that appends every frame's panel bytes to a file instead of driving strips.
# The desk run and the tests compare these bytes with the host replay, frame by frame.


class RecordSink:
    # Each show() writes the panel buffers in order (colour-ordered bytes, as the strips would
    # get them), so one frame is sum(len(b) for b in buffers) bytes and the file is N frames.

    def __init__(self, f, buffers):
        # f: an open binary file; buffers: the per-panel byte buffers (kept by reference, so
        # whatever the engine writes into them is what gets recorded).
        self.f = f
        self.buffers = list(buffers)
        self.n = len(self.buffers)
        size = 0
        for b in self.buffers:
            size += len(b)
        self.frame_bytes = size
        self.frames = 0

    def show(self):
        f = self.f
        bufs = self.buffers
        for i in range(self.n):  # an index loop: no iterator object per frame
            f.write(bufs[i])
        self.frames += 1

    def blank(self):
        # Same interface as NeoPixelPanels; a recording keeps every frame, so nothing to do.
        pass

    def close(self):
        f = self.f
        if f is not None:
            self.f = None
            f.close()
