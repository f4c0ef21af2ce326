"""Tests for viz: the PNG writer against a decoder written here, colour maps, text, terminal."""

import io
import re
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minimal_embed.app import viz
from minimal_embed.app.font5x7 import CHARS, glyph_bitmaps

# --- an independent PNG decoder (PNG specification, sections 5, 9 and 11) -----------------------


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> np.ndarray:
    """Decode an 8-bit RGB, non-interlaced PNG byte by byte; check every CRC on the way."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind = data[position + 4:position + 8]
        payload = data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + payload), f"bad CRC in {kind!r}"
        chunks.append((kind, payload))
        position += 12 + length
    assert [kind for kind, _ in chunks][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1])
    assert (depth, colour, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(b"".join(p for kind, p in chunks if kind == b"IDAT"))
    stride, bpp = width * 3, 3
    assert len(raw) == height * (stride + 1)
    previous = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up, up_left = previous[x], previous[x - bpp] if x >= bpp else 0
            predictor = [0, left, up, (left + up) // 2, _paeth(left, up, up_left)][kind]
            line[x] = (line[x] + predictor) % 256
        rows.append(bytes(line))
        previous = line
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(height, width, 3)


images = st.tuples(st.integers(1, 9), st.integers(1, 9)).flatmap(
    lambda hw: arrays(np.uint8, (hw[0], hw[1], 3)))


@given(images)
def test_png_decodes_back_to_the_same_pixels(image):
    decoded = decode_png(viz.png_bytes(image))
    assert decoded.shape == image.shape
    np.testing.assert_array_equal(decoded, image)


def test_written_png_file_has_the_right_size_and_pixels(tmp_path):
    image = viz.heatmap(np.arange(12.0).reshape(3, 4), "viridis", scale=5)
    path = viz.write_png(tmp_path / "h.png", image)
    decoded = decode_png(path.read_bytes())
    assert decoded.shape == (15, 20, 3)
    np.testing.assert_array_equal(decoded, image)


def test_png_writer_refuses_arrays_that_are_not_rgb8():
    with pytest.raises(ValueError, match="uint8"):
        viz.png_bytes(np.zeros((2, 2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        viz.png_bytes(np.zeros((2, 2), dtype=np.uint8))


def test_write_png_into_a_missing_folder_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.write_png(tmp_path / "nope" / "x.png", np.zeros((1, 1, 3), dtype=np.uint8))


# --- colour -------------------------------------------------------------------------------------

def test_oklab_matches_published_values_for_the_primaries():
    # Reference values for sRGB red, green, blue in OKLab (Ottosson 2020; CSS Color 4 examples).
    primaries = np.eye(3)
    expected = np.array([[0.62796, 0.22486, 0.12585],
                         [0.86644, -0.23389, 0.17950],
                         [0.45201, -0.03246, -0.31153]])
    np.testing.assert_allclose(viz.srgb_to_oklab(primaries), expected, atol=2e-4)


@given(arrays(np.float64, (5, 3), elements=st.floats(0, 1)))
def test_oklab_round_trip_returns_the_srgb_colour(rgb):
    np.testing.assert_allclose(viz.oklab_to_srgb(viz.srgb_to_oklab(rgb)), rgb, atol=1e-6)


def test_viridis_ends_and_quarter_points_are_its_anchor_colours():
    table = viz.COLORMAPS["viridis"].astype(int)
    anchors = [(0x44, 0x01, 0x54), (0x3B, 0x52, 0x8B), (0x21, 0x91, 0x8C), (0x5E, 0xC9, 0x62),
               (0xFD, 0xE7, 0x25)]
    picked = table[np.round(np.linspace(0, 255, 5)).astype(int)]
    assert np.abs(picked - np.array(anchors)).max() <= 2


def test_viridis_lightness_rises_steadily_from_dark_to_light():
    lightness = viz.srgb_to_oklab(viz.COLORMAPS["viridis"] / 255.0)[:, 0]
    assert np.all(np.diff(lightness) > -1e-3)  # rounding to 8 bits may wobble one step back
    steps = np.diff(lightness[::8])
    assert np.all(steps > 0)
    assert steps.max() < 2 * steps.mean()  # no plateaus or jumps: an even ramp


def test_coolwarm_is_lightest_in_the_middle_and_grey_at_zero():
    table = viz.COLORMAPS["coolwarm"]
    lightness = viz.srgb_to_oklab(table / 255.0)[:, 0]
    middle = int(np.argmax(lightness))
    assert abs(middle - 127.5) <= 2
    r, g, b = viz.colorize(np.array([0.0]), "coolwarm", vmin=-1, vmax=1)[0].astype(int)
    assert max(r, g, b) - min(r, g, b) <= 6


def test_colorize_maps_limits_to_table_ends_and_clips_beyond():
    table = viz.COLORMAPS["viridis"]
    out = viz.colorize(np.array([-5.0, 0.0, 1.0, 7.0]), vmin=0.0, vmax=1.0)
    np.testing.assert_array_equal(out, table[[0, 0, 255, 255]])


def test_colorize_rejects_nan_and_unknown_maps():
    with pytest.raises(ValueError, match="NaN"):
        viz.colorize(np.array([np.nan]))
    with pytest.raises(ValueError, match="cmap must be one of"):
        viz.colorize(np.zeros(2), "jet")


# --- images and text ------------------------------------------------------------------------------

@given(arrays(np.uint8, (3, 4, 3)), st.integers(1, 4))
def test_upscale_repeats_each_pixel_into_a_square(image, factor):
    big = viz.upscale(image, factor)
    naive = np.array([[image[y // factor, x // factor] for x in range(4 * factor)]
                      for y in range(3 * factor)])
    np.testing.assert_array_equal(big, naive)


def test_side_by_side_adds_gaps_and_pads_to_the_tallest():
    a, b = np.zeros((4, 3, 3), np.uint8), np.zeros((6, 2, 3), np.uint8)
    out = viz.side_by_side([a, b], gap=5)
    assert out.shape == (6, 3 + 5 + 2, 3)
    assert np.all(out[:, 3:8] == 255) and np.all(out[4:, :3] == 255)


def test_every_glyph_fits_the_box_and_distinct_glyphs_differ():
    bitmaps = glyph_bitmaps()
    assert bitmaps.shape == (len(CHARS), 9, 5)
    assert len(set(CHARS)) == len(CHARS) == 96
    flat = {bitmap.tobytes() for bitmap in bitmaps}
    assert len(flat) == len(CHARS)  # no two characters look the same
    assert all(c in CHARS for c in map(chr, range(32, 127)))


def test_text_bitmap_places_glyphs_with_one_blank_column_between():
    ink = viz.text_bitmap("T|")
    bitmaps = glyph_bitmaps()
    np.testing.assert_array_equal(ink[:, 0:5], bitmaps[CHARS.index("T")])
    assert not ink[:, 5].any()
    np.testing.assert_array_equal(ink[:, 6:11], bitmaps[CHARS.index("|")])
    np.testing.assert_array_equal(viz.text_bitmap("é"), viz.text_bitmap("?"))


@given(st.integers(-40, 40), st.integers(-20, 20))
def test_draw_text_clips_at_the_edges_and_inks_only_the_glyph_pixels(x, y):
    image = np.full((10, 20, 3), 255, np.uint8)
    viz.draw_text(image, "Hi", x, y, color=(0, 0, 0))
    full = np.zeros((10 + 40, 20 + 80), bool)  # a big canvas, then crop to the image
    ink = viz.text_bitmap("Hi")
    full[y + 20:y + 20 + ink.shape[0], x + 40:x + 40 + ink.shape[1]] = ink
    np.testing.assert_array_equal(image[..., 0] == 0, full[20:30, 40:60])


def test_scatter_draws_every_point_inside_the_square():
    points = np.array([[0.0, 0.0], [1.0, 2.0], [-3.0, 0.5]])
    image = viz.scatter(points, ["a", "b", "c"], size=200)
    assert image.shape == (200, 200, 3)
    dark = np.all(image == (68, 1, 84), axis=-1)
    assert dark.sum() == 3 * 25


# --- terminal ---------------------------------------------------------------------------------

def test_terminal_heatmap_colours_are_the_colour_map_two_rows_per_line():
    values = np.arange(15.0).reshape(5, 3)
    text = viz.terminal_heatmap(values, "viridis", color=True)
    lines = text.split("\n")
    assert len(lines) == 3  # ceil(5 / 2)
    rgb = viz.colorize(values, "viridis")
    for i, line in enumerate(lines):
        upper = [tuple(map(int, m)) for m in re.findall(r"38;2;(\d+);(\d+);(\d+)m", line)]
        lower = [tuple(map(int, m)) for m in re.findall(r"48;2;(\d+);(\d+);(\d+)m", line)]
        assert upper == [tuple(c) for c in rgb[2 * i].tolist()]
        expected_lower = [tuple(c) for c in rgb[2 * i + 1].tolist()] if 2 * i + 1 < 5 else []
        assert lower == expected_lower
        assert line.count("▀") == 3 and line.endswith("\x1b[0m")


def test_terminal_heatmap_without_colour_uses_the_character_ramp():
    values = np.linspace(0.0, 9.0, 10)[None, :]
    assert viz.terminal_heatmap(values, color=False) == " .:-=+*#%@"
    assert "\x1b" not in viz.terminal_heatmap(np.eye(3), color=False)


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_colour_is_off_for_no_color_flag_env_and_non_terminals(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert viz.use_color(stream=FakeTerminal())
    assert not viz.use_color(no_color=True, stream=FakeTerminal())
    assert not viz.use_color(stream=io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not viz.use_color(stream=FakeTerminal())


def test_colour_is_off_on_a_dumb_terminal(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "dumb")
    assert not viz.use_color(stream=FakeTerminal())


def test_terminal_scatter_shows_every_label_even_when_points_collide():
    points = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    text = viz.terminal_scatter(points, ["alpha", "beta", "gamma"], width=40, height=6)
    for label in ["*alpha", "*beta", "*gamma"]:
        assert label in text
    assert len(text.split("\n")) == 6


# --- the font's descenders, wrapped titles ---------------------------------------------------

def test_lower_case_descenders_reach_below_the_line_and_capitals_do_not():
    bitmaps = glyph_bitmaps()
    below = bitmaps[:, 7:, :].any(axis=(1, 2))  # rows under the baseline
    assert {CHARS[i] for i in np.flatnonzero(below)} == set("gjpqy,;")
    p, capital_p = bitmaps[CHARS.index("p")], bitmaps[CHARS.index("P")]
    assert not np.array_equal(p[:7], capital_p[:7])


@pytest.mark.parametrize("width", [40, 90, 300])
def test_a_title_wraps_to_the_picture_and_keeps_every_letter(width):
    title = "sinusoidal position table PE (200 positions x 9 dims)"
    image = viz.titled(np.full((10, width, 3), 255, np.uint8), title)
    assert image.shape[1] == width
    lines = viz.wrap_text(title, width)
    assert "".join(lines).replace(" ", "") == title.replace(" ", "")
    assert all(viz.text_width(line) <= width for line in lines)
    ink = (image[:-10] == 0).all(axis=-1).sum()
    assert ink == sum(int(viz.text_bitmap(line).sum()) for line in lines)
