# Audio files in, the garment's input out: any WAV/FLAC/OGG (libsndfile via soundfile), mixed to
# mono, resampled to the device rate and quantised to int16, exactly what the microphone would feed.
import os

import numpy as np


class AudioError(Exception):
    # A one-line, user-facing reason why an audio file cannot be used.
    pass


def load(path, rate):
    # (int16 mono samples at `rate`, original rate). Raises AudioError with a one-line reason.
    import soundfile as sf

    if not os.path.exists(path):
        raise AudioError("%s: no such file" % path)
    if os.path.isdir(path):
        raise AudioError("%s: is a directory, not an audio file" % path)
    if os.path.getsize(path) == 0:
        raise AudioError("%s: the file is empty" % path)
    cut = check_truncated_wav(path)
    if cut:
        raise AudioError(cut)
    try:
        with sf.SoundFile(path) as f:
            expected = f.frames
            src_rate = f.samplerate
            data = f.read(dtype="float64", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, ValueError, TypeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AudioError("%s: not a readable audio file (%s)" % (path, msg)) from None
    if len(data) == 0:
        raise AudioError("%s: contains no audio samples" % path)
    if 0 < expected != len(data) and expected < 2**62:
        raise AudioError("%s: truncated: the header promises %d frames, only %d are there" % (path, expected, len(data)))
    if not np.all(np.isfinite(data)):
        raise AudioError("%s: contains NaN or infinite samples" % path)
    mono = data.mean(axis=1)
    return to_device(mono, src_rate, rate), src_rate


def to_device(mono, src_rate, rate):
    # Float mono at src_rate (full scale 1.0) -> int16 at rate (libsoxr, high quality).
    if src_rate != rate:
        import soxr

        mono = soxr.resample(np.ascontiguousarray(mono, dtype=np.float64), int(src_rate), int(rate), quality="HQ")
    return np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)


def check_truncated_wav(path):
    # libsndfile quietly reads a WAV whose data chunk is cut short; compare the header with the size.
    if not path.lower().endswith(".wav"):
        return None
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = os.path.getsize(path)
        while True:
            ch = f.read(8)
            if len(ch) < 8:
                return None
            n = int.from_bytes(ch[4:8], "little")
            if ch[:4] == b"data":
                have = size - f.tell()
                if n != 0xFFFFFFFF and have < n:
                    return "%s: truncated: the data chunk promises %d bytes, only %d are there" % (path, n, have)
                return None
            f.seek(n + (n & 1), 1)
