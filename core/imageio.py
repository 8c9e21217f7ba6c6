"""Safe image loading: every failure is an :class:`ImageError` with one line naming the file.

Memory is bounded before decoding: the header gives the size, and images over ``max_pixels``
(50 MP: 150 MB decoded, ~0.4 GB peak while decoding) are refused, except JPEGs, which libjpeg
decodes at 1/2, 1/4 or 1/8 scale (``IMREAD_REDUCED_COLOR_*``, cheap: it skips DCT coefficients)
to fit; such a photo's pixels (and the face boxes found in it) are then those of the reduced
image. Corrupt data is refused too, including a truncated JPEG that ends with an end-of-image
marker: libjpeg only warns (OpenCV does not expose the warning) and fills the missing part with
mid-grey, so the bottom rows being exactly (128, 128, 128) across the whole width gives it away.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from core.errors import ImageError

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_PIXELS = 50_000_000  # 50 MP: larger photos are refused before decoding (memory, time)


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from a JPEG/PNG/BMP/GIF header without decoding, or None if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(int(w)), abs(int(h))
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (seg_len,) = struct.unpack(">H", data[i + 2 : i + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            i += 2 + seg_len
    return None


#: libjpeg's scaled decoding: reduction factor -> OpenCV flag (EXIF orientation is applied by all)
_JPEG_REDUCED = ((1, 1), (2, 16 | 1), (4, 32 | 1), (8, 64 | 1))  # IMREAD_COLOR, IMREAD_REDUCED_COLOR_2/4/8
_MCU_ROWS = 8  # a JPEG's smallest block row: a fill shorter than this is not a truncation we can tell


def grey_fill_rows(image: np.ndarray) -> int:
    """How many bottom rows are exactly (128, 128, 128) across the whole width: libjpeg's fill for
    image data that ended early (its missing DCT blocks decode to mid-grey)."""
    rows = image.shape[0]
    n = 0
    step = 8
    while n < rows:
        k = min(step, rows - n)
        band = image[rows - n - k : rows - n]
        full = (band == 128).reshape(k, -1).all(axis=1)
        if not full.all():
            return n + int(np.argmin(full[::-1]))  # grey rows from the bottom up to the first that is not
        n += k
        step *= 2
    return n


def _jpeg_reduction(size: tuple[int, int] | None, max_pixels: int) -> int:
    """The smallest libjpeg reduction (1, 2, 4, 8) that brings a JPEG of ``size`` within ``max_pixels``."""
    if size is None:
        return 1
    w, h = size
    for factor, _flag in _JPEG_REDUCED:
        if -(-w // factor) * -(-h // factor) <= max_pixels:
            return factor
    return 0


def decode_image(
    data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS, reduce_jpeg: bool = False
) -> np.ndarray:
    """Decode encoded image bytes to BGR uint8 (H, W, 3), refusing empty, corrupt, truncated or huge input.

    ``reduce_jpeg``: decode a JPEG over ``max_pixels`` at 1/2, 1/4 or 1/8 scale instead of refusing it
    (photos; a caller that needs the original pixel grid, like the endpoint, leaves it off).
    """
    import cv2

    if not data:
        raise ImageError(f"{name}: empty file")
    is_jpeg = data[:2] == b"\xff\xd8"
    size = header_size(data)
    factor = 1
    if size is not None:
        w, h = size
        if w <= 0 or h <= 0:
            raise ImageError(f"{name}: corrupt image header ({w}x{h})")
        if w * h > max_pixels:
            factor = _jpeg_reduction(size, max_pixels) if is_jpeg and reduce_jpeg else 0
            if not factor:
                raise ImageError(f"{name}: image too large ({w}x{h} px, limit {max_pixels / 1e6:.0f} MP)")
    if is_jpeg and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise ImageError(f"{name}: truncated JPEG (no end-of-image marker)")
    flag = dict(_JPEG_REDUCED)[factor] if is_jpeg else cv2.IMREAD_COLOR
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error as err:  # e.g. OpenCV's own size limits
        raise ImageError(f"{name}: cannot decode ({str(err).strip().splitlines()[-1]})") from None
    if image is None:
        raise ImageError(f"{name}: not an image or corrupt (cannot decode)")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{name}: image too large ({image.shape[1]}x{image.shape[0]} px)")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ImageError(f"{name}: image too small ({image.shape[1]}x{image.shape[0]} px)")
    if is_jpeg:
        grey = grey_fill_rows(image)
        if grey >= max(1, _MCU_ROWS // factor) and grey < image.shape[0]:
            raise ImageError(
                f"{name}: truncated or corrupt JPEG (image data ends early: bottom "
                f"{100 * grey / image.shape[0]:.0f}% is blank); copy or export the photo again"
            )
    return image


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as BGR uint8, raising :class:`ImageError` with a one-line reason.

    A JPEG over ``max_pixels`` comes back reduced by 2, 4 or 8 per side (see the module notes).
    """
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{path}: no such file")
    if not p.is_file():
        raise ImageError(f"{path}: not a file")
    try:
        nbytes = p.stat().st_size
        if nbytes > MAX_FILE_BYTES:
            raise ImageError(
                f"{path}: file too large ({nbytes / 1e6:.0f} MB, limit {MAX_FILE_BYTES / 1e6:.0f} MB)"
            )
        data = p.read_bytes()
    except OSError as err:
        raise ImageError(f"{path}: cannot read ({err.strerror or err})") from None
    return decode_image(data, str(path), max_pixels=max_pixels, reduce_jpeg=True)
