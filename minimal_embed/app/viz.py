"""Pictures of the vectors in NumPy alone: colour maps, images, PNG files, terminal heatmaps.

1. **Colour.** A value is normalised to [0, 1] and looked up in a 256-entry table interpolated
   between a few anchor colours in OKLab (Ottosson, 2020), where equal steps look like equal
   changes of colour. ``viridis`` takes matplotlib's five anchors (van der Walt & Smith, 2015:
   lightness rises steadily, readable in greyscale and by colour-blind readers); ``coolwarm``,
   for signed values, Moreland's cool and warm ends (2009) meeting at light grey for zero.
2. **Images.** ``(H, W, 3)`` uint8 arrays: heatmaps upscaled by repeating pixels, panels side by
   side, labels in the 5×7 font of :mod:`minimal_embed.app.font5x7`.
3. **PNG.** Written by hand (W3C PNG specification): a signature, then chunks ``length | type |
   data | CRC-32``: IHDR (size, 8-bit RGB), IDAT (the zlib-compressed filtered rows), IEND.
4. **Terminal.** Two pixels per character with the half block ``▀`` in 24-bit colour, or one
   character of a ramp per value without colour (:func:`use_color` decides).
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from pathlib import Path
from typing import TextIO

import numpy as np

from minimal_embed._checks import check_choice, check_integer
from minimal_embed._files import atomic_write
from minimal_embed.app.font5x7 import CHARS, GLYPH_HEIGHT, GLYPH_WIDTH, glyph_bitmaps

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)

# --- 1. colour ---------------------------------------------------------------------------------

# Linear sRGB -> LMS cone response, then cube-rooted LMS -> (L, a, b): Ottosson's OKLab matrices.
_RGB_TO_LMS = np.array([[0.4122214708, 0.5363325363, 0.0514459929],
                        [0.2119034982, 0.6806995451, 0.1073969566],
                        [0.0883024619, 0.2817188376, 0.6299787005]])
_LMS_TO_LAB = np.array([[0.2104542553, 0.7936177850, -0.0040720468],
                        [1.9779984951, -2.4285922050, 0.4505937099],
                        [0.0259040371, 0.7827717662, -0.8086757660]])


def _srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """Undo the sRGB transfer curve (IEC 61966-2-1): values in [0, 1] -> linear light."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Apply the sRGB transfer curve: linear light in [0, 1] -> encoded values in [0, 1]."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB colours ``(..., 3)`` in [0, 1] to OKLab ``(..., 3)`` (L in [0, 1]).

    Examples
    --------
    >>> np.round(srgb_to_oklab(np.array([1.0, 1.0, 1.0])), 4) + 0.0
    array([1., 0., 0.])
    """
    lms = _srgb_to_linear(np.asarray(rgb, dtype=np.float64)) @ _RGB_TO_LMS.T
    return np.cbrt(lms) @ _LMS_TO_LAB.T


def oklab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """Convert OKLab colours ``(..., 3)`` back to sRGB ``(..., 3)`` in [0, 1] (clipped to gamut)."""
    lms = (np.asarray(lab, dtype=np.float64) @ np.linalg.inv(_LMS_TO_LAB).T) ** 3
    return _linear_to_srgb(lms @ np.linalg.inv(_RGB_TO_LMS).T)


def _hex_to_rgb(code: str) -> tuple[int, int, int]:
    return int(code[1:3], 16), int(code[3:5], 16), int(code[5:7], 16)


def colormap_table(anchors: list[str], size: int = 256) -> np.ndarray:
    """Interpolate anchor colours (``"#rrggbb"``, evenly spaced) in OKLab into a colour table.

    Returns
    -------
    numpy.ndarray
        uint8 ``(size, 3)``: row 0 is the first anchor, row ``size - 1`` the last.

    Examples
    --------
    >>> colormap_table(["#000000", "#ffffff"], size=3)[[0, 2]].tolist()
    [[0, 0, 0], [255, 255, 255]]
    """
    anchor_lab = srgb_to_oklab(np.array([_hex_to_rgb(c) for c in anchors]) / 255.0)  # (k, 3)
    anchor_at = np.linspace(0.0, 1.0, len(anchors))
    sample_at = np.linspace(0.0, 1.0, size)
    lab = np.stack([np.interp(sample_at, anchor_at, anchor_lab[:, c]) for c in range(3)], axis=1)
    return np.round(oklab_to_srgb(lab) * 255).astype(np.uint8)  # (size, 3)


COLORMAPS = {
    "viridis": colormap_table(["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]),
    "coolwarm": colormap_table(["#3b4cc0", "#dddddd", "#b40426"]),
}


def _unit_interval(values: np.ndarray, vmin: float | None, vmax: float | None) -> np.ndarray:
    """``clip((v - vmin) / (vmax - vmin), 0, 1)``, the limits defaulting to the data's range."""
    if not np.all(np.isfinite(values)):  # here, so colour and character pictures fail alike
        raise ValueError("cannot colour NaN or infinite values; check the array being drawn")
    low = float(values.min()) if vmin is None else vmin
    high = float(values.max()) if vmax is None else vmax
    span = high - low if high > low else 1.0  # a constant array maps to the low end
    return np.clip((values - low) / span, 0.0, 1.0)


def colorize(values: np.ndarray, cmap: str = "viridis", *, vmin: float | None = None,
             vmax: float | None = None) -> np.ndarray:
    """Map values to colours: ``table[round((v - vmin) / (vmax - vmin) * 255)]``.

    Parameters
    ----------
    values : numpy.ndarray
        Finite real numbers, any shape ``(...)``.
    cmap : {"viridis", "coolwarm"}
        Sequential, or diverging (give ``vmin = -vmax`` so that 0 gets the middle colour).
    vmin, vmax : float, optional
        The values at the two ends of the map (default: the data's range); beyond, clipped.

    Returns
    -------
    numpy.ndarray
        uint8 ``(..., 3)`` RGB.

    Raises
    ------
    ValueError
        For an unknown colour map or values that are not finite.
    """
    check_choice("cmap", cmap, sorted(COLORMAPS))
    values = np.asarray(values, dtype=np.float64)
    table = COLORMAPS[cmap]
    index = np.round(_unit_interval(values, vmin, vmax) * (len(table) - 1))
    return table[index.astype(np.intp)]


# --- 2. images ---------------------------------------------------------------------------------

def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge ``(H, W, ...)`` to ``(H*factor, W*factor, ...)`` by repeating each pixel."""
    check_integer("factor", factor, least=1)
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def heatmap(values: np.ndarray, cmap: str = "viridis", *, scale: int = 1,
            vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Draw a matrix ``(rows, cols)`` as an RGB image ``(rows*scale, cols*scale, 3)`` uint8.

    Row 0 is at the top, so a position table reads with positions going down.

    Examples
    --------
    >>> heatmap(np.array([[0.0, 1.0]]), scale=2).shape
    (2, 4, 3)
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"a heatmap needs a 2-D array (rows, cols), got shape {values.shape}")
    return upscale(colorize(values, cmap, vmin=vmin, vmax=vmax), scale)


def pad(image: np.ndarray, *, top: int = 0, bottom: int = 0, left: int = 0, right: int = 0,
        color: tuple[int, int, int] = WHITE) -> np.ndarray:
    """Surround an RGB image with margins of one colour."""
    height, width, _ = image.shape
    out = np.empty((height + top + bottom, width + left + right, 3), dtype=np.uint8)
    out[...] = color
    out[top:top + height, left:left + width] = image
    return out


def side_by_side(panels: list[np.ndarray], *, gap: int = 16,
                 color: tuple[int, int, int] = WHITE) -> np.ndarray:
    """Place RGB images left to right, top-aligned, ``gap`` pixels apart."""
    height = max(panel.shape[0] for panel in panels)
    padded = []
    for i, panel in enumerate(panels):
        right = gap if i < len(panels) - 1 else 0
        padded.append(pad(panel, bottom=height - panel.shape[0], right=right, color=color))
    return np.concatenate(padded, axis=1)


_GLYPHS = glyph_bitmaps()  # (n_chars, 7, 5)
_GLYPH_INDEX = {char: i for i, char in enumerate(CHARS)}


def text_bitmap(text: str, scale: int = 1) -> np.ndarray:
    """Render one line of text as a boolean ink mask ``(9*scale, 6*len(text)*scale)``.

    Each character is a 5-wide glyph (a 7-row body and 2 rows for descenders) followed by one
    blank column; unknown characters draw as ``?``.

    Examples
    --------
    >>> text_bitmap("Hi").shape
    (9, 12)
    """
    index = [_GLYPH_INDEX.get(char, _GLYPH_INDEX["?"]) for char in text]
    glyphs = np.pad(_GLYPHS[index], ((0, 0), (0, 0), (0, 1)))  # (n, 9, 6): one blank column
    line = glyphs.transpose(1, 0, 2).reshape(GLYPH_HEIGHT, len(text) * (GLYPH_WIDTH + 1))
    return upscale(line, scale)


def draw_text(image: np.ndarray, text: str, x: int, y: int, *,
              color: tuple[int, int, int] = BLACK, scale: int = 1,
              vertical: bool = False) -> np.ndarray:
    """Stamp ``text`` into ``image`` in place, top-left corner at column x, row y; return it.

    ``vertical=True`` turns the text a quarter left (an axis label, read bottom to top). Ink that
    falls outside the image is clipped.
    """
    ink = text_bitmap(text, scale)
    if vertical:
        ink = np.rot90(ink)
    height, width, _ = image.shape
    top, left = max(y, 0), max(x, 0)
    bottom, right = min(y + ink.shape[0], height), min(x + ink.shape[1], width)
    if bottom > top and right > left:
        region = image[top:bottom, left:right]
        region[ink[top - y:bottom - y, left - x:right - x]] = color
    return image


def text_width(text: str, scale: int = 1) -> int:
    """Width in pixels of ``text`` drawn by :func:`draw_text` (the last blank column dropped)."""
    return max(len(text) * (GLYPH_WIDTH + 1) - 1, 0) * scale


def wrap_text(text: str, width: int) -> list[str]:
    """``text`` cut at spaces into lines at most ``width`` pixels wide; a longer word is split."""
    per_line = max(1, (width + 1) // (GLYPH_WIDTH + 1))  # characters that fit on one line
    lines: list[str] = []
    for word in text.split(" "):
        if lines and text_width(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines += [word[i:i + per_line] for i in range(0, max(len(word), 1), per_line)]
    return lines or [""]


def titled(image: np.ndarray, title: str, *, margin: int = 6) -> np.ndarray:
    """Add a white strip with ``title`` above ``image``, wrapped to its width, never cut."""
    lines = wrap_text(title, image.shape[1])
    line_height = GLYPH_HEIGHT + 2
    out = pad(image, top=len(lines) * line_height + 2 * margin - 2)
    for number, line in enumerate(lines):
        draw_text(out, line, 0, margin + number * line_height)
    return out


def _number(value: float) -> str:
    """A short label for a colour-bar value: ``+1``, ``0``, ``-0.5``, ``+64``."""
    return "0" if value == 0 else f"{value:+.3g}"


def colorbar(cmap: str, height: int, *, vmin: float, vmax: float, width: int = 12) -> np.ndarray:
    """A vertical colour bar ``(height, width + labels, 3)``: vmax at the top, vmin at the bottom,
    with both values (and the middle one) written beside it."""
    ramp = np.linspace(vmax, vmin, height)[:, None] * np.ones((1, width))  # (height, width)
    bar = colorize(ramp, cmap, vmin=vmin, vmax=vmax)
    labels = [_number(vmax), _number((vmin + vmax) / 2), _number(vmin)]
    label_width = max(text_width(label) for label in labels) + 4
    out = pad(bar, left=2, right=label_width)
    rows = [0, height // 2 - GLYPH_HEIGHT // 2, height - GLYPH_HEIGHT]
    for label, row in zip(labels, rows, strict=True):
        draw_text(out, label, width + 6, row)
    return out


def scatter(points: np.ndarray, labels: list[str], *, size: int = 640,
            margin: int = 24) -> np.ndarray:
    """Draw labelled 2-D points ``(n, 2)`` in a square white image ``(size, size, 3)``.

    x grows right and y up, on one scale so distances keep their meaning. Each point is a dark
    square, its label on the right; a label that would cover a point or an earlier label moves a
    line up or down, with a grey leader to its point.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"scatter needs points (n, 2) and n labels, got {points.shape} "
                         f"and {len(labels)} labels")
    image = np.full((size, size, 3), 255, dtype=np.uint8)
    image[[0, -1], :] = image[:, [0, -1]] = (160, 160, 160)  # a thin frame
    low, high = points.min(axis=0), points.max(axis=0)
    span = float(np.max(high - low)) or 1.0
    inner = size - 2 * margin - 60  # room on the right for the labels
    centre = (low + high) / 2  # the shorter axis is centred in the square
    pixels = np.round((points - centre) / span * inner + inner / 2).astype(int)  # (n, 2)
    columns, rows = margin + pixels[:, 0], size - margin - pixels[:, 1]
    taken = np.zeros((size, size), dtype=bool)  # pixels under a point or a label
    for column, row in zip(columns, rows, strict=True):
        image[row - 2:row + 3, column - 2:column + 3] = (68, 1, 84)
        taken[row - 2:row + 3, column - 2:column + 3] = True
    for column, row, label in zip(columns, rows, labels, strict=True):
        left, right = column + 5, column + 5 + text_width(label) + 1
        for shift in (0, 9, -9, 18, -18, 27, -27, 0):  # the last resort: overlap in place
            top = row - GLYPH_HEIGHT // 2 + shift
            if not taken[max(top - 1, 0):max(top + GLYPH_HEIGHT + 1, 0), left:right].any():
                break
        if shift:
            middle = top + GLYPH_HEIGHT // 2
            image[min(row, middle):max(row, middle) + 1, column + 3] = (160, 160, 160)
        taken[max(top, 0):max(top + GLYPH_HEIGHT, 0), left:right] = True
        draw_text(image, label, left, top)
    return image


# --- 3. PNG ------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: big-endian length, 4-byte type, data, CRC-32 of type + data."""
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an RGB image ``(H, W, 3)`` uint8 as the bytes of a PNG file (8-bit truecolour).

    Every row is written with filter type 2 ("Up": each byte minus the byte above it, modulo
    256; the row above the first is zeros). An upscaled heatmap repeats each row ``scale``
    times, and Up turns every repeat into zeros, which zlib then stores almost for free.

    Raises
    ------
    ValueError
        If the array is not ``(H, W, 3)`` uint8 with H, W ≥ 1.

    Examples
    --------
    >>> png_bytes(np.zeros((1, 1, 3), dtype=np.uint8))[:8] == PNG_SIGNATURE
    True
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
        raise ValueError(f"a PNG image must be uint8 (height, width, 3), got {image.dtype} "
                         f"{image.shape}; use viz.heatmap or viz.colorize to make one")
    height, width, _ = image.shape
    rows = image.reshape(height, width * 3)  # (H, 3W) bytes per row
    above = np.vstack([np.zeros((1, width * 3), dtype=np.uint8), rows[:-1]])
    filtered = rows - above  # uint8 arithmetic wraps modulo 256, as the filter wants
    scanlines = np.hstack([np.full((height, 1), 2, dtype=np.uint8), filtered])  # filter byte 2
    # IHDR: width, height, bit depth 8, colour type 2 (RGB), compression 0, filter 0, interlace 0
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 9)) + _chunk(b"IEND", b""))


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an RGB image ``(H, W, 3)`` uint8 to ``path`` as a PNG, atomically; return the path.

    Raises
    ------
    FileNotFoundError
        If the folder of ``path`` does not exist (``IsADirectoryError`` if it is a folder).
    """
    content = png_bytes(image)  # encoded first: a bad image leaves no file at all
    return atomic_write(path, lambda file: file.write(content))


# --- 4. terminal -------------------------------------------------------------------------------

ASCII_RAMP = " .:-=+*#%@"


def use_color(no_color: bool = False, stream: TextIO | None = None) -> bool:
    """Whether to print 24-bit colour: not with ``--no-color``, not when ``$NO_COLOR`` is set to
    anything non-empty (no-color.org), not on ``TERM=dumb`` (a terminal without escape codes),
    not when the output is not a terminal."""
    stream = sys.stdout if stream is None else stream
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def terminal_heatmap(values: np.ndarray, cmap: str = "viridis", *, color: bool = True,
                     vmin: float | None = None, vmax: float | None = None) -> str:
    """Draw a matrix ``(rows, cols)`` as text, one column per character.

    With ``color``, each line shows two rows: ``▀`` in the upper row's colour on the lower
    row's colour (an odd last row gets the terminal's own background), ``ceil(rows / 2)`` lines.
    Without, one line per row, each value a character of ``" .:-=+*#%@"`` (darkest to densest).

    Raises
    ------
    ValueError
        For an array that is not 2-D or holds NaN or infinite values.

    Examples
    --------
    >>> print(terminal_heatmap(np.array([[0.0, 0.5, 1.0]]), color=False))
     =@
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"a heatmap needs a 2-D array (rows, cols), got shape {values.shape}")
    if not color:
        ramp = np.array(list(ASCII_RAMP))
        level = np.round(_unit_interval(values, vmin, vmax) * (len(ramp) - 1))
        return "\n".join("".join(row) for row in ramp[level.astype(int)])
    rgb = colorize(values, cmap, vmin=vmin, vmax=vmax)  # (rows, cols, 3)
    lines = []
    for top in range(0, len(rgb), 2):
        upper = rgb[top]
        lower = rgb[top + 1] if top + 1 < len(rgb) else None
        cells = [f"\x1b[38;2;{r};{g};{b}m" for r, g, b in upper.tolist()]
        if lower is None:
            cells = [cell + "\x1b[49m▀" for cell in cells]
        else:
            cells = [cell + f"\x1b[48;2;{r};{g};{b}m▀"
                     for cell, (r, g, b) in zip(cells, lower.tolist(), strict=True)]
        lines.append("".join(cells) + "\x1b[0m")
    return "\n".join(lines)


def terminal_scatter(points: np.ndarray, labels: list[str], *, width: int = 78,
                     height: int = 24) -> str:
    """Place labels at 2-D points ``(n, 2)`` on a ``height × width`` grid of characters.

    Each point is a ``*`` and its label; a label that would overwrite an earlier one moves to the
    next free line below, else above (with no free line at all it is left out).
    """
    points = np.asarray(points, dtype=np.float64)
    canvas = np.full((height, width), " ")
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    longest = max(len(label) for label in labels) + 1
    columns = np.round((points[:, 0] - low[0]) / span[0] * (width - 1 - longest)).astype(int)
    rows = np.round((high[1] - points[:, 1]) / span[1] * (height - 1)).astype(int)
    for column, row, label in zip(columns, rows, labels, strict=True):
        text = np.array(list("*" + label))
        for line in list(range(row, height)) + list(range(row - 1, -1, -1)):
            if np.all(canvas[line, column:column + len(text) + 1] == " "):
                canvas[line, column:column + len(text)] = text
                break
    return "\n".join("".join(line).rstrip() for line in canvas)
