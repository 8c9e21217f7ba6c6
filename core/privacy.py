"""Privacy of stored faces: an unknown person's face snapshot blurred beyond recognition before it is kept.

With ``config.retention.blur_unknown`` on, the run and the window set ``store.blur_unknown``; the engine
passes every event's face snapshot through :func:`event_snapshot` before storing it, and its frame
snapshot (:func:`frame_snapshot`) blurs the unknown person's face region the same way (core/engine.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: the face is reduced to this many blocks per side, then smoothed: no feature of a face survives it
BLOCKS = 6


def _blur(img: np.ndarray) -> np.ndarray:
    """``img`` pixelated to BLOCKS x BLOCKS blocks and Gaussian-blurred, same size."""
    import cv2
    import numpy as np

    h, w = img.shape[:2]
    small = cv2.resize(img, (min(BLOCKS, w), min(BLOCKS, h)), interpolation=cv2.INTER_AREA)
    blocky = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    k = max(3, (max(h, w) // 4) | 1)  # odd kernel, a quarter of the face
    return np.asarray(cv2.GaussianBlur(blocky, (k, k), 0))


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
    return encode_jpeg(_blur(img), quality)


def event_snapshot(jpeg: bytes | None, decision: str, store: Any) -> bytes | None:
    """The snapshot to store with an event: blurred when it is an unknown person's and the store asks for
    it (``store.blur_unknown``), else as it is."""
    if jpeg and decision == "unknown" and getattr(store, "blur_unknown", False):
        return blur_jpeg(jpeg)
    return jpeg


#: the frame snapshot's box colour per decision (BGR): granted green, denied red, unknown amber
BOX_COLOURS = {"granted": (60, 180, 60), "denied": (40, 40, 220), "unknown": (0, 170, 255)}


def frame_snapshot(
    image: np.ndarray, box: Any, decision: str, store: Any, max_width: int = 640, quality: int = 75
) -> bytes:
    """The whole frame an event was decided on (BGR, never modified), as a JPEG at most ``max_width`` px
    wide with the decided face's ``box`` (x1, y1, x2, y2 in frame pixels) drawn in its decision's colour;
    an unknown person's face region is blurred first when the store asks for it (``store.blur_unknown``)."""
    import cv2

    from core.crops import encode_jpeg

    h, w = image.shape[:2]
    scale = min(1.0, max_width / max(1, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # a copy either way: the caller's frame is never drawn on
    out = image.copy() if scale >= 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    x1, y1, x2, y2 = (int(round(float(v) * scale)) for v in list(box)[:4])
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(out.shape[1], x2), min(out.shape[0], y2)
    if x2 > x1 and y2 > y1:
        if decision == "unknown" and getattr(store, "blur_unknown", False):
            out[y1:y2, x1:x2] = _blur(out[y1:y2, x1:x2])
        thick = max(2, out.shape[1] // 320)
        cv2.rectangle(out, (x1, y1), (x2, y2), BOX_COLOURS.get(decision, (255, 255, 255)), thick)
    return encode_jpeg(out, quality)
