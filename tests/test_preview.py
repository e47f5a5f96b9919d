# Tests for host_tools.preview: the timeline PNG and the garment animation GIF of `threadbeat replay`.
# They reopen the written files with Pillow and look for colours where the input put them.
import numpy as np
import pytest
from PIL import Image

from host_tools import preview

HOP = 0.008  # seconds per analysis frame, as on the garment


def _frames(T, P, base=(0, 0, 40)):
    frames = np.zeros((T, P, 3), np.uint8)
    frames[:] = base
    return frames


def _mask(rgb, want):
    """Boolean mask of pixels matching a colour class."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    if want == "red":
        return (r > 200) & (g < 70) & (b < 70)
    if want == "green":
        return (g > 200) & (r < 70) & (b < 70)
    if want == "blue":
        return (b > 200) & (r < 70) & (g < 70)
    raise AssertionError(want)


def _bbox(mask):
    ys, xs = np.nonzero(mask)
    assert len(xs), "colour not found"
    return xs.min(), xs.max(), ys.min(), ys.max()


def _gif_frames(path):
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB")))
        return out, im.n_frames, im.info.get("duration")


# ------------------------------------------------------------------------------------ timeline


def test_timeline_shows_red_where_the_input_is_red(tmp_path):
    T, P = 400, 24
    frames = _frames(T, P, base=(0, 0, 110))  # blue everywhere: marks the image area
    frames[200:210, 5] = (255, 0, 0)  # pixel 5 flashes red at 1.6 s, halfway through
    bass = (np.arange(T) % 256).astype(np.uint8)
    out = tmp_path / "tl.png"
    preview.write_timeline(out, frames, HOP, bass, [0.4, 1.6, 2.8], [("front", 0, 12), ("back", 12, 12)])

    with Image.open(out) as im:
        assert im.format == "PNG"
        w, h = im.size
        rgb = np.asarray(im.convert("RGB"))
    assert 1000 <= w <= 2400 and 300 <= h <= 2000

    # The image area is the big blue block (colours are shown as given).
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    area = (r < 10) & (g < 10) & (abs(b - 110) < 10)
    x0, x1, y0, y1 = _bbox(area)
    assert x1 - x0 > 0.5 * w

    red = _mask(rgb, "red")
    rx0, rx1, ry0, ry1 = _bbox(red)
    assert x0 <= rx0 and rx1 <= x1 and y0 <= ry0 and ry1 <= y1, "red drawn outside the image area"
    x_frac = ((rx0 + rx1) / 2 - x0) / (x1 - x0)
    y_frac = ((ry0 + ry1) / 2 - y0) / (y1 - y0)
    assert abs(x_frac - 205 / T) < 0.03  # time runs left to right
    assert abs(y_frac - 5.5 / P) < 0.05  # pixel index runs top to bottom
    assert rx1 - rx0 < 0.05 * (x1 - x0)  # only at that moment


def test_timeline_keeps_a_one_frame_flash_in_a_long_song(tmp_path):
    T, P = 20000, 60  # 160 s: many frames per column
    frames = _frames(T, P, base=(0, 0, 0))
    frames[12345, 10] = (0, 255, 0)  # one frame, 8 ms
    out = tmp_path / "long.png"
    bass = np.zeros(T, np.uint8)
    preview.write_timeline(out, frames, HOP, bass, [], [("all", 0, P)], kicks=[1.0, 2.0], title="long")
    with Image.open(out) as im:
        rgb = np.asarray(im.convert("RGB"))
    assert _mask(rgb, "green").any()


def test_timeline_with_kicks_leaves_matplotlib_state_alone(tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    facecolor = matplotlib.rcParams["axes.facecolor"]
    T, P = 300, 10
    frames = _frames(T, P)
    bass = np.linspace(0, 255, T).astype(np.uint8)
    beats = [0.5, 1.0, 1.9]
    kicks = [0.52, 1.5, 1.88]  # one miss (1.5), one false beat (1.0)
    out = tmp_path / "kicks.png"
    preview.write_timeline(out, frames, HOP, bass, beats, [], kicks=kicks, title="kicks vs beats")
    with Image.open(out) as im:
        assert im.size[0] > 1000
    assert matplotlib.get_backend() == backend
    assert matplotlib.rcParams["axes.facecolor"] == facecolor


# ----------------------------------------------------------------------------------- animation


def _grid_positions():
    # 2 x 2 pixels, millimetres, y grows downward: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right
    return np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 200.0], [100.0, 200.0]])


@pytest.mark.parametrize(
    "seconds, fps, max_seconds, start_s, expected",
    [
        (2.0, 25, 30.0, 0.0, 50),  # 250 frames at 125 Hz -> 50 at 25 fps
        (2.0, 10, 30.0, 0.0, 20),
        (2.0, 30, 30.0, 0.0, 60),  # 33.3 ms: GIF centisecond delays must still add up
        (2.0, 25, 1.0, 0.5, 25),  # only [0.5, 1.5) s
        (2.0, 25, 30.0, 1.5, 13),  # 0.5 s left -> 12.5 -> 13 frames
    ],
)
def test_animation_frame_count_follows_resampling(tmp_path, seconds, fps, max_seconds, start_s, expected):
    T = int(round(seconds / HOP))
    frames = _frames(T, 4)
    frames[:, :, 0] = (np.arange(T) % 256)[:, None]  # changing content
    out = tmp_path / "a.gif"
    n = preview.write_animation(
        out, frames, _grid_positions(), HOP, [("g", 0, 4)], fps=fps, max_seconds=max_seconds, start_s=start_s
    )
    assert n == expected
    with Image.open(out) as im:
        assert im.format == "GIF"
        assert im.n_frames == expected
        total_ms = 0
        for i in range(im.n_frames):
            im.seek(i)
            total_ms += im.info["duration"]
    assert abs(total_ms - 1000 * expected / fps) <= 10  # plays at the requested speed


def test_animation_holds_frames_when_fps_exceeds_the_frame_rate(tmp_path):
    frames = _frames(40, 4)  # 20 Hz for 2 s
    n = preview.write_animation(tmp_path / "slow.gif", frames, _grid_positions(), 0.05, [], fps=25)
    assert n == 50


def test_one_frame_flash_survives_resampling(tmp_path):
    T = 250
    frames = _frames(T, 4, base=(0, 0, 0))
    frames[123, 0] = (255, 0, 0)  # 8 ms at 0.984 s -> output frame 24 (0.96 .. 1.00 s)
    out = tmp_path / "flash.gif"
    assert preview.write_animation(out, frames, _grid_positions(), HOP, []) == 50
    imgs, n, _ = _gif_frames(out)
    lit = [i for i, rgb in enumerate(imgs) if _mask(rgb, "red").any()]
    assert lit == [24]


def test_layout_top_left_pixel_is_drawn_top_left(tmp_path):
    frames = _frames(25, 4, base=(0, 0, 0))
    frames[:, 0] = (255, 0, 0)  # top-left of the garment
    frames[:, 3] = (0, 255, 0)  # bottom-right
    frames[:, 1] = (0, 0, 255)  # top-right
    out = tmp_path / "layout.gif"
    preview.write_animation(out, frames, _grid_positions(), HOP, [("front", 0, 2), ("back", 2, 2)])
    imgs, _, _ = _gif_frames(out)
    rgb = imgs[0]
    h, w, _ = rgb.shape
    assert 400 <= h <= 560  # about 480 px tall

    def centre(colour):
        ys, xs = np.nonzero(_mask(rgb, colour))
        assert len(xs), colour
        return xs.mean() / w, ys.mean() / h

    rx, ry = centre("red")
    gx, gy = centre("green")
    bx, by = centre("blue")
    assert rx < 0.5 and ry < 0.5  # top-left
    assert gx > 0.5 and gy > 0.5  # bottom-right
    assert bx > 0.5 and by < 0.5  # top-right: y grows downward, x to the right


def test_animation_apng_is_optional_but_works(tmp_path):
    frames = _frames(125, 4)
    frames[::10, 2] = (255, 255, 255)
    out = tmp_path / "a.png"
    n = preview.write_animation(out, frames, _grid_positions(), HOP, [])
    with Image.open(out) as im:
        assert im.n_frames == n == 25


# ---------------------------------------------------------------------------------- validation


def test_timeline_rejects_bad_inputs(tmp_path):
    out = tmp_path / "x.png"
    good = _frames(10, 3)
    bass = np.zeros(10, np.uint8)
    with pytest.raises(ValueError, match=r"\(T, P, 3\)"):
        preview.write_timeline(out, np.zeros((10, 3), np.uint8), HOP, bass, [], [])
    with pytest.raises(ValueError, match=r"\(T, P, 3\)"):
        preview.write_timeline(out, np.zeros((10, 3, 4), np.uint8), HOP, bass, [], [])
    with pytest.raises(ValueError, match="empty"):
        preview.write_timeline(out, np.zeros((0, 3, 3), np.uint8), HOP, np.zeros(0), [], [])
    with pytest.raises(ValueError, match="empty"):
        preview.write_timeline(out, np.zeros((10, 0, 3), np.uint8), HOP, bass, [], [])
    with pytest.raises(ValueError, match="T=10"):
        preview.write_timeline(out, good, HOP, np.zeros(11), [], [])
    with pytest.raises(ValueError, match="bass"):
        preview.write_timeline(out, good, HOP, np.zeros((10, 2)), [], [])
    with pytest.raises(ValueError, match="hop_s"):
        preview.write_timeline(out, good, 0, bass, [], [])
    with pytest.raises(ValueError, match="uint8"):
        preview.write_timeline(out, good.astype(float), HOP, bass, [], [])
    with pytest.raises(ValueError, match="outside"):
        preview.write_timeline(out, good, HOP, bass, [], [("front", 2, 5)])
    with pytest.raises(ValueError, match="overlap"):
        preview.write_timeline(out, good, HOP, bass, [], [("a", 0, 2), ("b", 1, 2)])
    with pytest.raises(ValueError, match="beats"):
        preview.write_timeline(out, good, HOP, bass, [float("nan")], [])
    assert not out.exists()


def test_animation_rejects_bad_inputs(tmp_path):
    good = _frames(50, 4)
    pos = _grid_positions()
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        preview.write_animation(tmp_path / "a.gif", good, pos[:3], HOP, [])
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        preview.write_animation(tmp_path / "a.gif", good, np.zeros((4, 3)), HOP, [])
    with pytest.raises(ValueError, match="empty"):
        preview.write_animation(tmp_path / "a.gif", np.zeros((0, 4, 3), np.uint8), pos, HOP, [])
    with pytest.raises(ValueError, match="start_s"):
        preview.write_animation(tmp_path / "a.gif", good, pos, HOP, [], start_s=5.0)
    with pytest.raises(ValueError, match="fps"):
        preview.write_animation(tmp_path / "a.gif", good, pos, HOP, [], fps=0)
    with pytest.raises(ValueError, match="fps"):
        preview.write_animation(tmp_path / "a.gif", good, pos, HOP, [], fps=60)
    with pytest.raises(ValueError, match=r"\.gif"):
        preview.write_animation(tmp_path / "a.mp4", good, pos, HOP, [])
    assert not any(tmp_path.iterdir())


def test_timeline_matches_one_beat_to_one_kick_as_the_benchmark_does():
    # two beats near one kick: one hits it, the other is a beat on no kick (as bench/detect.py counts)
    beat_ok, kick_hit = preview._match(np.array([1.0, 1.03, 2.3]), np.array([1.01, 2.0]), preview.KICK_TOLERANCE_S)
    assert beat_ok.tolist() == [True, False, False] and kick_hit.tolist() == [True, False]
