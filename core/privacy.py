"""Privacy of stored faces: an unknown person's face snapshot blurred beyond recognition before it is kept.

With ``config.retention.blur_unknown`` on, the run and the window set ``store.blur_unknown``; the engine
passes every event's snapshot through :func:`event_snapshot` before storing it (core/engine.py).
"""

from __future__ import annotations

from typing import Any

#: the face is reduced to this many blocks per side, then smoothed: no feature of a face survives it
BLOCKS = 6


def blur_jpeg(jpeg: bytes, quality: int = 80) -> bytes:
    """``jpeg`` (a face crop) pixelated to BLOCKS x BLOCKS blocks and Gaussian-blurred, same size; b"" stays."""
    if not jpeg:
        return jpeg
    import cv2
    import numpy as np

    from core.crops import encode_jpeg

    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return b""  # never keep a snapshot that could not be blurred
    h, w = img.shape[:2]
    small = cv2.resize(img, (min(BLOCKS, w), min(BLOCKS, h)), interpolation=cv2.INTER_AREA)
    blocky = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    k = max(3, (max(h, w) // 4) | 1)  # odd kernel, a quarter of the face
    return encode_jpeg(cv2.GaussianBlur(blocky, (k, k), 0), quality)


def event_snapshot(jpeg: bytes | None, decision: str, store: Any) -> bytes | None:
    """The snapshot to store with an event: blurred when it is an unknown person's and the store asks for
    it (``store.blur_unknown``), else as it is."""
    if jpeg and decision == "unknown" and getattr(store, "blur_unknown", False):
        return blur_jpeg(jpeg)
    return jpeg
