"""Face crops: cut a box out of a BGR frame, scale it, encode it as JPEG.

The event log's thumbnail (:mod:`core.engine`), the window's event thumbnail and crop
(:mod:`gui.worker`) and enrollment's stored crop (:mod:`enroll.service`) are these steps with
their own margins and sizes. Sizes are pixels; images stay BGR uint8. OpenCV is imported lazily.
"""

from __future__ import annotations

import numpy as np


def clip_crop(image: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    """The view of ``image`` inside columns ``x1:x2`` and rows ``y1:y2``, clipped to the image
    (empty when the box lies outside it)."""
    h, w = image.shape[:2]
    return image[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)]


def resize_by(image: np.ndarray, scale: float, interpolation: int | None = None) -> np.ndarray:
    """``image`` scaled by ``scale`` (each side truncated to whole pixels, at least 1). Interpolation:
    ``INTER_AREA`` when shrinking, ``INTER_LINEAR`` when growing, unless ``interpolation`` is given."""
    import cv2

    size = (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=_interpolation(scale, interpolation))


def resize_to_height(image: np.ndarray, height: int) -> np.ndarray:
    """``image`` scaled to exactly ``height`` rows, keeping its aspect (width truncated, at least 1)."""
    import cv2

    scale = height / image.shape[0]
    size = (max(1, int(image.shape[1] * scale)), height)
    return cv2.resize(image, size, interpolation=_interpolation(scale, None))


def fit_within(image: np.ndarray, max_px: int) -> tuple[np.ndarray, float]:
    """``image`` shrunk so its longer side is at most ``max_px``, and the scale used (1.0: unchanged)."""
    scale = min(1.0, max_px / max(image.shape[:2]))
    return (resize_by(image, scale) if scale < 1.0 else image), scale


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """``image`` (BGR) as JPEG bytes at ``quality`` (0-100)."""
    import cv2

    return bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])[1].tobytes())


def _interpolation(scale: float, given: int | None) -> int:
    import cv2

    if given is not None:
        return given
    return int(cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
