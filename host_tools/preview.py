# Picture output for `threadbeat replay`: a timeline PNG (pixels x time, bass, beats/kicks) and
# an animated GIF of the garment's LEDs, so a designer can judge a look without the hardware.
"""Render what the garment engine did over a song.

Two entry points, both pure functions of the replayed data:

* :func:`write_timeline` -- one PNG: every pixel's colour over time (panel by panel), and under
  it, on the same time axis, the bass feature with detected beats and (optionally) annotated
  true kicks, so hits, misses and false beats are visible at a glance.
* :func:`write_animation` -- an animated GIF (or APNG for a .png/.apng path: ~3x smaller, as
  PNG's row prediction suits soft gradients) showing each LED as a soft glowing dot at its
  physical position on the garment, resampled to a normal video frame rate.

Colours: ``frames`` are *display* colours, shown as given.  LED duty is linear light, so the
caller lifts it to display gamma first (``replay.Result.display_rgb`` does: duty ** (1/2.2)),
or a duty of 10/255 -- clearly visible on an LED in a dark room -- would be near-black on
screen.  The animation decodes them with ``DISPLAY_GAMMA`` so that overlapping glows add up in
linear light, as light does, and re-encodes the sum for the screen.

matplotlib is used through its object API with the Agg canvas (``Figure`` +
``FigureCanvasAgg``), never through pyplot, so the caller's backend, open figures and
rcParams are left alone and nothing needs a display.
"""

import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["write_timeline", "write_animation", "DISPLAY_GAMMA", "KICK_TOLERANCE_S"]

# The gamma `frames` are encoded with (display value = linear ** (1 / DISPLAY_GAMMA)).  Only the
# animation's glow blending uses it; 1.0 would blend the values as if they were linear.
DISPLAY_GAMMA = 2.2
# A kick counts as "hit" if a detected beat lies within this many seconds of it, one beat per kick,
# as bench/detect.py scores them (host_tools.scoring.match).
KICK_TOLERANCE_S = 0.05
# Timeline: most time columns ever drawn (the brief's limit; the plot width usually binds first).
MAX_TIMELINE_COLUMNS = 2000

# Dark theme shared by both outputs.
_BG = "#0b0c10"
_PANEL_BG = "#000000"
_FG = "#d8d8e0"
_DIM = "#8a8a99"
_GRID = "#2a2c36"
_BASS = "#7fd67f"
_BEAT = "#4fc3f7"
_BEAT_FALSE = "#ff5fd2"
_KICK_HIT = "#ffb74d"
_KICK_MISS = "#ff4040"


# --------------------------------------------------------------------------- validation


def _check_frames(frames):
    arr = np.asarray(frames)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"frames must have shape (T, P, 3) (RGB per pixel per frame), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("frames is empty: no frames (T == 0)")
    if arr.shape[1] == 0:
        raise ValueError("frames is empty: no pixels (P == 0)")
    if arr.dtype != np.uint8:
        if arr.dtype.kind not in "iu":
            raise ValueError(f"frames must be uint8 (0..255), got dtype {arr.dtype}")
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"frames values must lie in 0..255, got {lo}..{hi}")
        arr = arr.astype(np.uint8)
    return arr


def _check_positive(value, name):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _check_times(times, name):
    if times is None:
        return np.zeros(0)
    try:
        arr = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of times in seconds") from None
    if arr.ndim == 0 or (arr.ndim > 1 and arr.size != max(arr.shape)):
        raise ValueError(f"{name} must be a flat list of times in seconds, got shape {arr.shape}")
    arr = arr.ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite times")
    return np.sort(arr)


def _check_panels(panels, n_pixels):
    out = []
    if panels is None:
        return out
    for i, panel in enumerate(panels):
        try:
            name, first, count = panel
            first_i, count_i = int(first), int(count)
        except (TypeError, ValueError):
            raise ValueError(f"panels[{i}] must be (name, first_pixel_index, count), got {panel!r}") from None
        if first_i != first or count_i != count:
            raise ValueError(f"panels[{i}] ({name!r}): first index and count must be integers")
        if first_i < 0 or count_i < 1 or first_i + count_i > n_pixels:
            raise ValueError(
                f"panels[{i}] ({name!r}) covers pixels {first_i}..{first_i + count_i - 1}, "
                f"outside the {n_pixels} pixels in frames"
            )
        out.append((str(name), first_i, count_i))
    spans = sorted((f, f + c, n) for n, f, c in out)
    for (_, end_a, name_a), (start_b, _, name_b) in zip(spans, spans[1:]):
        if start_b < end_a:
            raise ValueError(f"panels {name_a!r} and {name_b!r} overlap")
    return out


def _encode_lut(levels, floor=0):
    """Lookup table: linear light quantised to `levels` steps over 0..255 -> display uint8.

    `floor` (a display value) is the darkest output, e.g. a background colour's channel.
    """
    x = np.arange(levels, dtype=np.float64) / (levels - 1)
    return np.maximum(np.round(255.0 * x ** (1.0 / DISPLAY_GAMMA)), floor).astype(np.uint8)


def _decode_lut():
    """Lookup table: display uint8 -> linear light 0..255 (float32)."""
    x = np.arange(256, dtype=np.float64) / 255.0
    return (255.0 * x**DISPLAY_GAMMA).astype(np.float32)


def _pool_brightest(frames, starts, stops):
    """For each window [start, stop) of frames, each pixel's brightest frame (its true colour).

    Taking the brightest frame per pixel (rather than a per-channel max) keeps real colours
    while guaranteeing a one-frame flash survives the downsampling.
    """
    out = np.empty((len(starts),) + frames.shape[1:], dtype=np.uint8)
    for j, (a, b) in enumerate(zip(starts, stops)):
        window = frames[a:b]
        if len(window) == 1:
            out[j] = window[0]
            continue
        lum = window.sum(axis=2, dtype=np.uint16)  # (n, P)
        pick = lum.argmax(axis=0)  # (P,)
        out[j] = window[pick, np.arange(window.shape[1])]
    return out


def _pool_uniform(frames, k):
    """Brightest-frame pooling over consecutive buckets of k frames (vectorised)."""
    T, P, _ = frames.shape
    if k == 1:
        return frames
    n = -(-T // k)
    pad = n * k - T
    if pad:
        frames = np.concatenate([frames, np.zeros((pad, P, 3), np.uint8)])
    blocks = frames.reshape(n, k, P, 3)
    lum = blocks.sum(axis=3, dtype=np.uint16)  # (n, k, P)
    pick = lum.argmax(axis=1)  # (n, P)
    return np.take_along_axis(blocks, pick[:, None, :, None], axis=1)[:, 0]


def _match(beats, kicks, tol):
    """Boolean masks (beat hit a kick, kick was hit) of the one-to-one matching within `tol`."""
    from host_tools.scoring import match

    pairs = match(kicks.tolist(), beats.tolist(), tol)
    return np.isin(beats, [b for _, b in pairs]), np.isin(kicks, [k for k, _ in pairs])


# --------------------------------------------------------------------------- timeline

# Figure geometry in pixels (dpi 100): fixed margins so the image area's pixel width is known
# and time buckets can be matched to it (no column is dropped by matplotlib's resampling).
_TL_W = 1600
_TL_LEFT, _TL_RIGHT = 130, 24
_TL_TOP, _TL_GAP, _TL_BASS, _TL_BOTTOM = 46, 10, 170, 62


def write_timeline(path, frames, hop_s, bass, beats, panels, kicks=None, title=None):
    """Write a PNG timeline of a replay.

    Top: time x pixels image (x = seconds, y = pixel index panel by panel, panel names at the
    left, thin separators between panels) showing every pixel's colour over time.  Below, on
    the same time axis: the bass feature (0..255), detected beats as vertical lines and, if
    `kicks` is given, annotated true kicks as markers -- orange if a beat was detected within
    ``KICK_TOLERANCE_S`` (each beat hits one kick at most), red crosses if missed; beats that hit
    no kick turn magenta.

    Long songs are reduced to at most the plot's pixel width (<= 2000) time columns, each
    showing every pixel's brightest frame in its bucket, so one-frame flashes stay visible.
    """
    frames = _check_frames(frames)
    T, P, _ = frames.shape
    hop_s = _check_positive(hop_s, "hop_s")
    bass_arr = np.asarray(bass)
    if bass_arr.ndim != 1 or bass_arr.shape[0] != T:
        raise ValueError(
            f"bass must have shape ({T},) to match frames' T={T} frames, got shape {bass_arr.shape}"
        )
    if bass_arr.dtype.kind not in "iuf" or not np.all(np.isfinite(bass_arr)):
        raise ValueError("bass must hold finite numbers (0..255)")
    bass_arr = bass_arr.astype(np.float64)
    beats = _check_times(beats, "beats")
    kicks = None if kicks is None else _check_times(kicks, "kicks")
    panels = _check_panels(panels, P)
    if title is not None:
        title = str(title)

    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    # --- geometry
    img_h = int(np.clip(2 * P, 240, 900))
    fig_h = _TL_TOP + img_h + _TL_GAP + _TL_BASS + _TL_BOTTOM
    axes_w = _TL_W - _TL_LEFT - _TL_RIGHT
    duration = T * hop_s

    # --- image data: pool time (and rows if there are more pixels than image rows)
    k = -(-T // min(MAX_TIMELINE_COLUMNS, axes_w))
    pooled = _pool_uniform(frames, k)  # (ncols, P, 3)
    ncols = pooled.shape[0]
    kr = -(-P // img_h)
    if kr > 1:
        pooled = _pool_uniform(np.ascontiguousarray(pooled.transpose(1, 0, 2)), kr).transpose(1, 0, 2)
    image = np.ascontiguousarray(pooled.transpose(1, 0, 2))  # (rows, ncols, 3), as given
    nrows = image.shape[0]

    t_bucket = (np.arange(ncols) * k + min(k, T) / 2.0) * hop_s
    if k > 1:
        starts = np.arange(0, T, k)
        bass_plot = np.maximum.reduceat(bass_arr, starts)
    else:
        bass_plot = bass_arr

    style = {
        "font.size": 9,
        "text.color": _FG,
        "axes.labelcolor": _FG,
        "axes.edgecolor": "#444652",
        "xtick.color": _DIM,
        "ytick.color": _DIM,
        "axes.facecolor": _PANEL_BG,
        "figure.facecolor": _BG,
        "savefig.facecolor": _BG,
        "legend.facecolor": "#15161d",
        "legend.edgecolor": "#444652",
        "legend.labelcolor": _FG,
    }
    with rc_context(style):
        fig = Figure(figsize=(_TL_W / 100.0, fig_h / 100.0), dpi=100)
        FigureCanvasAgg(fig)
        fx = lambda px: px / _TL_W  # noqa: E731
        fy = lambda px: px / fig_h  # noqa: E731
        ax_img = fig.add_axes(
            (fx(_TL_LEFT), fy(_TL_BOTTOM + _TL_BASS + _TL_GAP), fx(axes_w), fy(img_h))
        )
        ax_bass = fig.add_axes((fx(_TL_LEFT), fy(_TL_BOTTOM), fx(axes_w), fy(_TL_BASS)), sharex=ax_img)

        ax_img.imshow(
            image,
            extent=(0.0, ncols * k * hop_s, nrows * kr, 0.0),
            aspect="auto",
            interpolation="nearest",
            resample=False,
        )
        ax_img.set_xlim(0.0, duration)
        ax_img.set_ylim(P, 0)
        ax_img.tick_params(axis="x", labelbottom=False)
        if panels:
            for name, first, count in panels:
                if first > 0:
                    ax_img.axhline(first, color="#9a9aa8", lw=0.6, alpha=0.8)
                if first + count < P:
                    ax_img.axhline(first + count, color="#9a9aa8", lw=0.6, alpha=0.8)
            px_per_row = img_h / P
            size = float(np.clip(min(c for _, _, c in panels) * px_per_row * 0.8, 5, 10))
            ax_img.set_yticks([f + c / 2.0 for _, f, c in panels])
            ax_img.set_yticklabels([n for n, _, _ in panels], fontsize=size, color=_FG)
            ax_img.tick_params(axis="y", length=0)
        else:
            ax_img.set_ylabel("pixel")

        # --- bass + beats + kicks
        ax_bass.fill_between(t_bucket, 0, bass_plot, color=_BASS, alpha=0.22, lw=0, zorder=1)
        ax_bass.plot(t_bucket, bass_plot, color=_BASS, lw=0.8, zorder=2)
        ax_bass.set_ylim(0, 290)
        ax_bass.set_yticks([0, 128, 255])
        ax_bass.set_ylabel("bass")
        ax_bass.set_xlabel("time (s)")
        ax_bass.grid(axis="x", color=_GRID, lw=0.5)
        handles = [Line2D([], [], color=_BASS, lw=1.5, label="bass" + (" (max per column)" if k > 1 else ""))]

        if kicks is not None:
            beat_ok, kick_hit = _match(beats, kicks, KICK_TOLERANCE_S)
        else:
            beat_ok = np.ones(len(beats), dtype=bool)
            kick_hit = None
        if beat_ok.any():
            ax_bass.vlines(beats[beat_ok], 0, 255, color=_BEAT, lw=0.8, alpha=0.85, zorder=3)
        handles.append(Line2D([], [], color=_BEAT, lw=1.5, label=f"detected beat ({int(beat_ok.sum())})"))
        if kicks is not None:
            n_false = int((~beat_ok).sum())
            if n_false:
                ax_bass.vlines(beats[~beat_ok], 0, 255, color=_BEAT_FALSE, lw=0.9, alpha=0.9, zorder=3)
            handles.append(Line2D([], [], color=_BEAT_FALSE, lw=1.5, label=f"beat, no kick ({n_false})"))
            hits, misses = kicks[kick_hit], kicks[~kick_hit]
            if len(hits):
                ax_bass.plot(hits, np.full(len(hits), 272.0), "v", color=_KICK_HIT, ms=5, mew=0)
            if len(misses):
                ax_bass.vlines(misses, 0, 255, color=_KICK_MISS, lw=0.8, alpha=0.7, linestyles="dashed", zorder=4)
                ax_bass.plot(misses, np.full(len(misses), 272.0), "x", color=_KICK_MISS, ms=6, mew=1.5)
            handles.append(Line2D([], [], color=_KICK_HIT, marker="v", ls="none", label=f"kick, hit ({len(hits)})"))
            handles.append(Line2D([], [], color=_KICK_MISS, marker="x", ls="none", label=f"kick, missed ({len(misses)})"))
        ax_bass.legend(
            handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=len(handles),
            fontsize=8, frameon=False,
        )

        # --- header
        if title:
            fig.text(fx(_TL_LEFT), 1 - fy(14), title, ha="left", va="top", fontsize=12, color=_FG, weight="bold")
        info = f"{duration:.1f} s  ·  {T} frames @ {1.0 / hop_s:.4g} Hz  ·  {P} px"
        if k > 1:
            info += f"  ·  {k} frames per column (brightest shown)"
        fig.text(1 - fx(_TL_RIGHT), 1 - fy(16), info, ha="right", va="top", fontsize=8, color=_DIM)

        fig.savefig(os.fspath(path), format="png", dpi=100)


# --------------------------------------------------------------------------- animation

_ANIM_H = 480  # target image height (px)
_ANIM_MAX_W = 960
_ANIM_MIN_W = 200
_ANIM_MARGIN = 30  # >= the largest glow radius, so glows are never clipped
_ANIM_LABEL_ROOM = 16
_ANIM_BG = (8, 9, 13)
_ANIM_DOT = (38, 40, 50)  # where an LED sits, visible when it is off
_ANIM_LABEL = (92, 94, 110)
_ANIM_CLOCK = (150, 152, 170)
_GLOW_GAIN = 1.6  # >1 gives each lit LED a saturated core
# Each LED: a flat disc (radius CORE x spacing) with a soft Gaussian rim (sigma SOFT x spacing, as
# seen on screen).  Wide halos look lovely but GIF's LZW has no vertical prediction and pays for
# every gradient pixel, so the rim is kept short.
_DOT_CORE_FRACTION = 0.2
_DOT_SOFT_FRACTION = 0.06
_ENC_LEVELS = 1024  # linear -> screen lookup resolution
_PALETTE_SAMPLES = 40
_GIF_COLOURS = 255  # palette size (one GIF index stays free)
# GIF only: an LED keeps its shown colour until the new one differs by more than this fraction of
# its on-screen brightness (>= 2 units) -- see write_animation.  0 = every change is drawn.
_GIF_KEEP_FRACTION = 0.08


def _format_for(path):
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix == ".gif":
        return "GIF"
    if suffix in (".png", ".apng"):
        return "PNG"
    raise ValueError(f"animation path must end in .gif (or .png / .apng for APNG), got {os.fspath(path)!r}")


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType
        return ImageFont.load_default()


def _layout(positions):
    """Map garment millimetres to image pixels. Returns (W, H, xy_px, led_spacing_px)."""
    lo = positions.min(axis=0)
    span = positions.max(axis=0) - lo
    avail_h = _ANIM_H - 2 * _ANIM_MARGIN - _ANIM_LABEL_ROOM
    avail_w = _ANIM_MAX_W - 2 * _ANIM_MARGIN
    scales = []
    if span[1] > 0:
        scales.append(avail_h / span[1])
    if span[0] > 0:
        scales.append(avail_w / span[0])
    s = min(scales) if scales else 1.0
    content = span * s
    W = max(_ANIM_MIN_W, int(round(content[0])) + 2 * _ANIM_MARGIN)
    H = max(160, int(round(content[1])) + 2 * _ANIM_MARGIN + _ANIM_LABEL_ROOM)
    W += W % 2
    H += H % 2
    off = np.array(
        [(W - content[0]) / 2.0, _ANIM_LABEL_ROOM + (H - _ANIM_LABEL_ROOM - content[1]) / 2.0]
    )
    xy = off + (positions - lo) * s

    # typical LED spacing on screen: median nearest-neighbour distance (coincident points ignored)
    P = len(positions)
    spacing = None
    if P > 1:
        nn = np.full(P, np.inf)
        for a in range(0, P, 512):
            d = np.linalg.norm(xy[a : a + 512, None, :] - xy[None, :, :], axis=2)
            d[d <= 1e-9] = np.inf
            nn[a : a + 512] = d.min(axis=1)
        if np.isfinite(nn).any():
            spacing = float(np.median(nn[np.isfinite(nn)]))
    if spacing is None:
        spacing = 40.0
    return W, H, xy, spacing


def _glow_matrix(W, H, xy, spacing):
    """Sparse (H*W, P) matrix: column p = LED p's dot sprite, in linear light (peak _GLOW_GAIN)."""
    from scipy import sparse

    core = float(np.clip(_DOT_CORE_FRACTION * spacing, 0.8, 12.0))
    soft = float(np.clip(_DOT_SOFT_FRACTION * spacing, 0.8, 6.0))
    R = int(math.ceil(core + 2.8 * soft))  # <= 29 < _ANIM_MARGIN
    sig_lin = soft / math.sqrt(DISPLAY_GAMMA)  # a Gaussian stays Gaussian through the encode
    d = np.arange(-R, R + 1)
    dy, dx = np.meshgrid(d, d, indexing="ij")
    r = np.sqrt((dx * dx + dy * dy).astype(np.float64))
    g = np.exp(-np.maximum(r - core, 0.0) ** 2 / (2 * sig_lin**2))
    g_edge = math.exp(-((R - core) ** 2) / (2 * sig_lin**2))
    w = np.clip((g - g_edge) / (1.0 - g_edge), 0.0, None) * _GLOW_GAIN
    keep = w > 1e-4
    dx, dy, w = dx[keep], dy[keep], w[keep]

    ix = np.round(xy[:, 0]).astype(np.int64)
    iy = np.round(xy[:, 1]).astype(np.int64)
    X = ix[:, None] + dx[None, :]
    Y = iy[:, None] + dy[None, :]
    inside = (X >= 0) & (X < W) & (Y >= 0) & (Y < H)
    rows = (Y * W + X)[inside]
    cols = np.broadcast_to(np.arange(len(xy))[:, None], X.shape)[inside]
    data = np.broadcast_to(w[None, :], X.shape)[inside].astype(np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=(H * W, len(xy)))


def _base_layer(W, H, xy, panels):
    """Static screen-space background: dark field, a dim dot per LED, faint panel labels."""
    im = Image.new("RGB", (W, H), _ANIM_BG)
    draw = ImageDraw.Draw(im)
    for x, y in xy:
        draw.ellipse((x - 1.6, y - 1.6, x + 1.6, y + 1.6), fill=_ANIM_DOT)
    font = _font(11)
    for name, first, count in panels:
        pts = xy[first : first + count]
        cx = float((pts[:, 0].min() + pts[:, 0].max()) / 2.0)
        top = float(pts[:, 1].min())
        draw.text((cx, max(top - 14, 1)), name, fill=_ANIM_LABEL, font=font, anchor="ms")
    return np.asarray(im, dtype=np.uint8)


def _build_palette(samples, reserved):
    """Adaptive palette (<= 255 entries, one index left free for the GIF encoder)."""
    mosaic = Image.fromarray(np.concatenate([s[::2, ::2] for s in samples], axis=0))
    n_adaptive = _GIF_COLOURS - len(reserved)
    q = mosaic.quantize(colors=n_adaptive, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    pal = q.getpalette()[: 3 * n_adaptive]
    colours = [tuple(pal[i : i + 3]) for i in range(0, len(pal), 3)]
    colours = list(dict.fromkeys(list(reserved) + colours))  # unique, reserved first
    flat = [c for rgb in colours for c in rgb]
    pal_img = Image.new("P", (1, 1))
    pal_img.putpalette(flat)
    return pal_img, {c: i for i, c in enumerate(colours)}


def write_animation(path, frames, positions, hop_s, panels, fps=25, max_seconds=30.0, start_s=0.0):
    """Write an animation of the garment: each LED a soft glow at its position on a dark field.

    `positions` (P, 2) are millimetres with y growing downward (collar at the top); the layout is
    scaled to about 480 px tall.  Frames are resampled from 1/hop_s to `fps`: each output frame
    shows every pixel's brightest input frame in its window, so a one-frame flash is never lost
    (if fps exceeds 1/hop_s, frames are held).  Only [start_s, start_s + max_seconds] is
    rendered; a clock in the corner shows song time.  Returns the number of frames written.

    GIF size is kept down by writing each frame as a delta (unchanged pixels transparent) and by
    letting an LED hold its shown colour while it changes by less than ``_GIF_KEEP_FRACTION`` of
    its brightness.  The clock makes consecutive frames differ, so Pillow never merges frames
    and the file holds exactly the returned number of frames (unless fps > 100).
    """
    fmt = _format_for(path)
    frames = _check_frames(frames)
    T, P, _ = frames.shape
    pos = np.asarray(positions, dtype=np.float64) if positions is not None else None
    if pos is None or pos.shape != (P, 2):
        shape = None if pos is None else pos.shape
        raise ValueError(f"positions must have shape ({P}, 2) (x, y mm per pixel of frames), got {shape}")
    if not np.all(np.isfinite(pos)):
        raise ValueError("positions contains non-finite values")
    hop_s = _check_positive(hop_s, "hop_s")
    fps = _check_positive(fps, "fps")
    if fmt == "GIF" and fps > 50:
        raise ValueError(f"fps must be <= 50 for a GIF (browsers slow down faster GIFs), got {fps!r}")
    max_seconds = _check_positive(max_seconds, "max_seconds")
    try:
        start_s = float(start_s)
    except (TypeError, ValueError):
        raise ValueError(f"start_s must be a number, got {start_s!r}") from None
    total = T * hop_s
    if not math.isfinite(start_s) or start_s < 0 or start_s >= total:
        raise ValueError(f"start_s must lie in [0, {total:.3f}) s (the replay's length), got {start_s!r}")
    panels = _check_panels(panels, P)

    # --- resampling plan: output frame j covers song time [start_s + j/fps, start_s + (j+1)/fps)
    duration = min(max_seconds, total - start_s)
    n_out = max(1, int(math.ceil(duration * fps - 1e-9)))
    eps = 1e-9
    end_idx = min(T, int(math.ceil((start_s + duration) / hop_s - eps)))
    edges = start_s + np.arange(n_out + 1) / fps
    lo = np.ceil(edges[:-1] / hop_s - eps).astype(np.int64)
    hi = np.minimum(np.ceil(edges[1:] / hop_s - eps).astype(np.int64), end_idx)
    empty = hi <= lo
    hold = np.minimum(np.floor(edges[:-1] / hop_s + eps).astype(np.int64), T - 1)
    lo = np.where(empty, hold, lo)
    hi = np.where(empty, hold + 1, hi)

    # --- static parts
    W, H, xy, spacing = _layout(pos)
    M = _glow_matrix(W, H, xy, spacing)
    base = _base_layer(W, H, xy, panels)
    L = _ENC_LEVELS
    lut = np.concatenate([_encode_lut(L, floor=c) for c in _ANIM_BG])  # per-channel, bg as floor
    decode = _decode_lut()
    # Only pixels some LED can light are computed per frame; the rest stay as the static base.
    act = np.flatnonzero(M.getnnz(axis=1))
    chan_off = np.tile(np.array([0, L, 2 * L], dtype=np.uint16), (len(act), 1))  # full size: fast add
    act3 = (act[:, None] * 3 + np.arange(3)).ravel()  # flat byte indices of the lit pixels
    M_act = (M[act] * ((L - 1) / 255.0)).astype(np.float32).tocsr()
    flat_base = base.reshape(-1, 3)
    is_overlay = np.any(flat_base[act] != np.array(_ANIM_BG, np.uint8), axis=1)
    ov_local = np.flatnonzero(is_overlay)  # LED markers / labels inside the lit area
    ov_rgb = flat_base[act[ov_local]]
    ov_max = ov_rgb.max(axis=1)
    font = _font(11)
    clock_xy = (W - 8, H - 6)

    def render(window_frames):
        """(B, P, 3) uint8 -> list of B (H, W, 3) uint8 screen images."""
        out = []
        for f in window_frames:
            lin = M_act @ decode[f]  # (n_act, 3) linear light, in LUT steps
            np.minimum(lin, L - 1, out=lin)
            code = lin.astype(np.uint16)
            code += chan_off
            scr = np.take(lut, code)
            # LED markers and labels show only where the glow is darker than they are
            under = scr[ov_local].max(axis=1) < ov_max
            scr[ov_local[under]] = ov_rgb[under]
            img = flat_base.reshape(-1).copy()
            img[act3] = scr.reshape(-1)
            out.append(img.reshape(H, W, 3))
        return out

    # --- palette from a spread of frames plus every pixel's peak over the whole span
    sel = np.unique(np.linspace(0, n_out - 1, min(n_out, _PALETTE_SAMPLES)).round().astype(int))
    sample_src = _pool_brightest(frames, lo[sel], hi[sel])
    peak = _pool_brightest(frames, [lo[0]], [hi[-1]])
    samples = render(np.concatenate([sample_src, peak]))
    samples.append(base)
    pal_img, index = _build_palette(samples, [_ANIM_BG, _ANIM_DOT, _ANIM_LABEL, _ANIM_CLOCK])
    clock_index = index[_ANIM_CLOCK]

    # --- render, quantise, stamp the clock
    # GIF only: an LED whose new colour is within _GIF_KEEP_FRACTION of its brightness (per
    # channel on screen, at least 2 units) of the colour already shown keeps the shown colour,
    # and pixels identical to the previous frame are written as transparent (= unchanged).
    # Small flickers and the tails of fades then cost nothing; whole dots update together.
    flat_pal = pal_img.getpalette()[: 3 * 255]
    use_keep = fmt == "GIF"
    transparent = 255  # _build_palette never fills this index
    bg_index = index[_ANIM_BG]

    def settle(pooled, shown_led):
        """Apply the per-LED tolerance to a batch of pooled frames; returns (frames, shown)."""
        out = np.empty_like(pooled)
        for i, new in enumerate(pooled):
            if shown_led is None:
                shown_led = new
            else:
                s_new, s_old = new.astype(np.int16), shown_led.astype(np.int16)
                tol = np.maximum(2.0, _GIF_KEEP_FRACTION * np.maximum(s_new.max(1), s_old.max(1)))
                changed = np.abs(s_new - s_old).max(axis=1) > tol
                shown_led = np.where(changed[:, None], new, shown_led)
            out[i] = shown_led
        return out, shown_led

    def generate():
        shown_led = shown_idx = None
        for a in range(0, n_out, 8):
            b = min(n_out, a + 8)
            pooled = _pool_brightest(frames, lo[a:b], hi[a:b])
            if use_keep and _GIF_KEEP_FRACTION > 0:
                pooled, shown_led = settle(pooled, shown_led)
            for j, rgb in zip(range(a, b), render(pooled)):
                im = Image.fromarray(rgb).quantize(palette=pal_img, dither=Image.Dither.NONE)
                ImageDraw.Draw(im).text(
                    clock_xy, f"{edges[j]:6.2f} s", fill=clock_index, font=font, anchor="rs"
                )
                if use_keep:
                    idx = np.array(im)
                    idx[idx == transparent] = bg_index  # (never expected; keeps the index free)
                    if shown_idx is None:
                        shown_idx = idx.copy()
                    else:
                        same = idx == shown_idx
                        shown_idx = idx.copy()
                        idx[same] = transparent
                    im = Image.fromarray(idx, mode="P")
                    im.putpalette(flat_pal)
                yield im

    frames_out = generate()
    first = next(frames_out)
    if fmt != "GIF":
        frames_out = list(frames_out)  # Pillow's APNG/WebP writers iterate the frames twice
    duration_ms = 1000.0 / fps
    common = dict(save_all=True, append_images=frames_out, loop=0)
    if fmt == "GIF":
        # GIF delays are whole centiseconds: spread the rounding so frame j starts at j/fps
        # (25 fps -> 4 cs each; 30 fps -> 3, 4, 3, 3, 4, 3, ...).
        cs = np.round(np.arange(n_out + 1) * (100.0 / fps)).astype(np.int64)
        delays = [int(d) * 10 for d in np.diff(cs)]
        first.save(
            os.fspath(path), format="GIF", duration=delays, optimize=False, disposal=1,
            transparency=transparent, **common,
        )
    else:
        first.save(os.fspath(path), format="PNG", duration=duration_ms, **common)
    return n_out
