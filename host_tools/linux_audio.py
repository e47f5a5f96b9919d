# Audio source for a Linux host (Raspberry Pi): a USB microphone or an I2S MEMS microphone (through
# its ALSA overlay) captured with PortAudio (the `sounddevice` package) at the device's own rate,
# mixed to mono, resampled to the engine's rate (libsoxr, streaming) and handed to the engine as
# hops with the I2S microphone's contract (firmware/mic_i2s.py):
#   read_hop(dst) -> 1 (dst holds a new hop), 0 (none ready yet; never waits), -1 (closed / ended);
#   `dropped` counts hops of audio skipped because the loop fell behind (App moves audio time on).
#
# Newest-hop semantics: PortAudio's thread appends blocks to a queue; read_hop resamples what has
# arrived and, when more hops wait than `max_behind` (default 4 = 32 ms, for the OS's scheduling
# hiccups) or than one delivery's worth plus one (ALSA periods larger than a hop), hands out the
# newest hop and drops the stale ones before it. A loop that keeps up never loses a sample; one
# that stalls catches up at once instead of lagging the music. (The ESP32 drops past one hop: its
# loop is alone on the CPU.)
import threading
import time
from collections import deque

import numpy as np

INSTALL = "pip install 'threadbeat[pi]' (or: pip install sounddevice)"


class AudioSourceError(Exception):
    # One line for a person: which package, device or permission is missing.
    pass


def load_sounddevice():
    try:
        import sounddevice
    except ModuleNotFoundError as e:
        if e.name == "sounddevice":
            raise AudioSourceError("sounddevice is not installed: %s" % INSTALL) from None
        raise AudioSourceError("sounddevice needs the Python package '%s': pip install %s" % (e.name, e.name)) from None
    except OSError as e:  # "PortAudio library not found"
        raise AudioSourceError("the PortAudio library is missing (%s): sudo apt install libportaudio2" % e) from None
    return sounddevice


def _no_device(device, why):
    which = "matching %r" % device if device is not None else "(the default)"
    return AudioSourceError(
        "no audio input device %s: %s; plug in a USB microphone or enable the I2S microphone's overlay, list the "
        "devices with `python -m sounddevice`, and add this user to the audio group (sudo usermod -aG audio $USER)"
        % (which, why))


def find_input(sd, device):
    # PortAudio's description of the capture device (a name, part of one, or a number; None = default).
    try:
        info = sd.query_devices(device, "input")
    except (ValueError, sd.PortAudioError) as e:
        raise _no_device(device, str(e).strip() or type(e).__name__) from None
    if not info or info.get("max_input_channels", 0) < 1:
        raise _no_device(device, "it has no input channels")
    return info


class StreamResampler:
    # Float mono at in_rate -> int16 at out_rate, block by block (libsoxr HQ, the same filter as
    # host_tools.audio.to_device, so a stream gives the samples a whole-file load gives). Equal
    # rates pass int16 through untouched.
    def __init__(self, in_rate, out_rate):
        self.in_rate = int(in_rate)
        self.out_rate = int(out_rate)
        self._rs = None
        if self.in_rate != self.out_rate:
            import soxr

            self._rs = soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="float64", quality="HQ")

    def push(self, block):
        # block: int16 (mono, exact) or float64 mono in int16 units.
        if self._rs is None:
            if block.dtype == np.int16:
                return block
            return np.clip(np.round(block), -32768, 32767).astype(np.int16)
        y = self._rs.resample_chunk(np.ascontiguousarray(block, dtype=np.float64) / 32768.0)
        return np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)


class LinuxAudioSource:
    def __init__(self, hop, rate, device=None, device_rate=None, channels=None, max_behind=4,
                 stream_factory=None, queue_seconds=1.0, start=True):
        # hop, rate: the engine's. device / device_rate: from the profile's alsa source (None = the
        # default device at its default rate). stream_factory: called like sounddevice.RawInputStream
        # (a stand-in in tests, or FileInputStream); without one, PortAudio is opened.
        self.hop = hop
        self.rate = rate
        self.max_behind = max(1, max_behind)
        self.dropped = 0  # hops skipped (stale audio, or audio lost while the queue overflowed)
        self.overflows = 0  # PortAudio said input overflowed (the OS lost audio before us)
        self.lost_samples = 0  # device samples thrown away because nobody read them for queue_seconds
        self.hops = 0
        self.name = "stand-in"
        if stream_factory is None:
            sd = load_sounddevice()
            info = find_input(sd, device)
            self.name = info.get("name", str(device))
            if device_rate is None:
                device_rate = int(round(info.get("default_samplerate") or 48000))
            if channels is None:
                channels = 1
                try:
                    sd.check_input_settings(device, channels=1, dtype="int16", samplerate=device_rate)
                except Exception:  # some I2S/USB devices only capture stereo: take two, mix them
                    channels = min(2, int(info["max_input_channels"]))
            stream_factory = sd.RawInputStream
            errors = (sd.PortAudioError, ValueError)
        else:
            errors = (ValueError, OSError)
            if device_rate is None:
                device_rate = rate
        self.device_rate = int(device_rate)
        self.channels = int(channels or 1)
        self.blocksize = max(1, int(round(hop * self.device_rate / rate)))
        self._resampler = StreamResampler(self.device_rate, rate)
        self._q = deque()
        self._q_samples = 0
        self._q_max = int(queue_seconds * self.device_rate)
        self._lock = threading.Lock()
        self.ready = threading.Event()  # set by the audio thread whenever a block arrived
        self._fifo = np.zeros(0, dtype=np.int16)  # engine-rate samples not yet handed out
        self._burst = 1  # most hops one block has brought
        self._lost_hops_part = 0  # device samples lost, not yet counted as whole hops
        self._closed = False
        try:
            self.stream = stream_factory(device=device, samplerate=self.device_rate, channels=self.channels,
                                         dtype="int16", blocksize=self.blocksize, latency="low", callback=self._callback)
        except errors as e:
            raise _no_device(device, "cannot capture %d channel(s) at %d Hz (%s)" % (
                self.channels, self.device_rate, str(e).strip() or type(e).__name__)) from None
        if start:
            self.stream.start()

    # --- the audio thread ------------------------------------------------------------------------
    def _callback(self, indata, frames, time_info, status):
        # PortAudio's thread: copy the block (its buffer is reused), mix to mono, queue it.
        a = np.frombuffer(indata, dtype=np.int16)
        if self.channels > 1:
            a = a.reshape(-1, self.channels).astype(np.float64).mean(axis=1)
        else:
            a = a.copy()
        with self._lock:
            if status:
                self.overflows += 1
            self._q.append(a)
            self._q_samples += len(a)
            while self._q_samples > self._q_max and len(self._q) > 1:
                old = self._q.popleft()
                self._q_samples -= len(old)
                self.lost_samples += len(old)
                self._lost_hops_part += len(old)
        self.ready.set()

    # --- the engine's side -----------------------------------------------------------------------
    def _drain(self):
        with self._lock:
            blocks = list(self._q)
            self._q.clear()
            self._q_samples = 0
            lost = self._lost_hops_part
            self._lost_hops_part = 0
            self.ready.clear()
        if lost:
            # audio lost in the queue: whole hops of it move audio time on, the rest is kept in the count
            per_hop = self.hop * self.device_rate
            n = (lost * self.rate) // per_hop
            self.dropped += n
            with self._lock:
                self._lost_hops_part += lost - (n * per_hop) // self.rate
        if not blocks:
            return
        outs = []
        for b in blocks:
            y = self._resampler.push(b)
            if len(y):
                outs.append(y)
                h = -(-len(y) // self.hop)
                if h > self._burst:
                    self._burst = h
        if outs:
            self._fifo = np.concatenate([self._fifo] + outs) if len(self._fifo) else np.concatenate(outs)

    def read_hop(self, dst):
        if self._closed:
            return -1
        self._drain()
        hop = self.hop
        avail = len(self._fifo) // hop
        if avail == 0:
            if getattr(self.stream, "ended", False):  # a file stand-in that has played out
                return -1
            return 0
        behind = max(self.max_behind, self._burst + 1)
        start = 0
        if avail > behind:  # stale: keep only the newest hop
            self.dropped += avail - 1
            start = (avail - 1) * hop
        chunk = self._fifo[start:start + hop]
        dst[:] = memoryview(chunk.tobytes()).cast("h")
        self._fifo = self._fifo[start + hop:]
        self.hops += 1
        return 1

    def wait(self, timeout):
        # Block until the audio thread delivered something (or timeout seconds); True if it did.
        return self.ready.wait(timeout)

    def close(self):
        if self._closed:
            return
        self._closed = True
        for m in ("stop", "close"):
            try:
                getattr(self.stream, m)()
            except Exception:
                pass


class FileInputStream:
    # A capture stream with sounddevice.RawInputStream's shape, playing int16 samples instead of a
    # microphone: pump(n) delivers n blocks at once (tests), start() delivers them in real time from
    # a thread (`threadbeat run --audio FILE`). `ended` once the samples are used up (loop=False).
    def __init__(self, samples, device=None, samplerate=48000, channels=1, dtype="int16", blocksize=512,
                 latency=None, callback=None, loop=False, clock=time.monotonic, sleep=time.sleep):
        a = np.asarray(samples, dtype=np.int16)
        if a.ndim == 1 and channels > 1:
            a = np.repeat(a[:, None], channels, axis=1)
        self.samples = a.reshape(-1, channels)
        self.samplerate = samplerate
        self.channels = channels
        self.blocksize = blocksize
        self.callback = callback
        self.loop = loop
        self.pos = 0
        self.ended = False
        self.active = False
        self._clock = clock
        self._sleep = sleep
        self._thread = None
        self._stop = threading.Event()

    def pump(self, blocks=1):
        for _ in range(blocks):
            n = len(self.samples)
            if self.pos >= n:
                if not self.loop or n == 0:
                    self.ended = True
                    return
                self.pos = 0
            b = self.samples[self.pos:self.pos + self.blocksize]
            self.pos += len(b)
            self.callback(b.tobytes(), len(b), None, 0)
        if self.pos >= len(self.samples) and not self.loop:
            self.ended = True

    def start(self):
        self.active = True
        self._thread = threading.Thread(target=self._run, name="file-input", daemon=True)
        self._thread.start()

    def _run(self):
        period = self.blocksize / self.samplerate
        t = self._clock()
        while not self._stop.is_set() and not self.ended:
            t += period
            wait = t - self._clock()
            if wait > 0:
                self._sleep(wait)
            self.pump(1)

    def stop(self):
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self.active = False

    def close(self):
        self.stop()


def source_from_profile(profile, audio=None, loop=True):
    # The profile's alsa source, or (audio given) a file played in real time as the microphone.
    src = profile["source"]
    hop, rate = profile["hop"], profile["sample_rate"]
    if audio is not None:
        from host_tools.audio import load

        samples, _ = load(audio, rate)

        def factory(**kw):
            return FileInputStream(samples, loop=loop, **kw)

        s = LinuxAudioSource(hop, rate, device_rate=rate, channels=1, stream_factory=factory)
        s.name = audio
        return s
    if src.get("type") != "alsa":
        raise AudioSourceError("source.type is %r; a Linux host captures from an ALSA device: use "
                               "{\"type\": \"alsa\", \"device\": \"default\"} (or --audio FILE)" % src.get("type"))
    return LinuxAudioSource(hop, rate, device=src.get("device"), device_rate=src.get("rate"))
