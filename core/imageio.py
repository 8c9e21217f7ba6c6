"""Safe image loading: every failure is an :class:`ImageError` with one line naming the file."""

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


def decode_image(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes to BGR uint8 (H, W, 3), refusing empty, corrupt, truncated or huge input."""
    import cv2

    if not data:
        raise ImageError(f"{name}: empty file")
    size = header_size(data)
    if size is not None:
        w, h = size
        if w <= 0 or h <= 0:
            raise ImageError(f"{name}: corrupt image header ({w}x{h})")
        if w * h > max_pixels:
            raise ImageError(f"{name}: image too large ({w}x{h} px, limit {max_pixels / 1e6:.0f} MP)")
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise ImageError(f"{name}: truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"{name}: not an image or corrupt (cannot decode)")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{name}: image too large ({image.shape[1]}x{image.shape[0]} px)")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ImageError(f"{name}: image too small ({image.shape[1]}x{image.shape[0]} px)")
    return image


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as BGR uint8, raising :class:`ImageError` with a one-line reason."""
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
    return decode_image(data, str(path), max_pixels=max_pixels)
