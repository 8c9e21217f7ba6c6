"""Skip detection on frames where nothing moved (Frigate's motion gate, for a door camera's empty hours).

While a camera has no track, a frame that differs from the last frame the detector ran on by less than
``threshold`` grey levels in every block of a small thumbnail cannot hold a face the detector missed a
moment ago: the detector would see the same pixels. Such a frame is recorded with no faces and costs
0.8 ms (median, 720p, the 2-core test machine) instead of a full MTCNN pass (~20-30 ms there). Any motion, or any
live track, runs the detector as usual, so a face that appears is found on the frame it appears in.

Measured on the site videos (app/bench/site.py: 6 to 10 empty frames between people), only 5-9% of
frames skip detection, since a track lives on for 10 frames after its face leaves; the gate pays off on
a door that stays empty for long (nights, weekends). A camera with sensor noise or flicker above the
threshold simply never skips.
"""

from __future__ import annotations

import numpy as np


class StillGate:
    """Says whether a frame is still (no block changed) since the last frame the detector ran on."""

    def __init__(self, threshold: float = 8.0, width: int = 160, block: int = 4) -> None:
        self.threshold = float(threshold)
        self.width = int(width)
        self.block = int(block)
        self._reference: np.ndarray | None = None
        self.skipped = 0  # frames whose detection was skipped

    def _thumb(self, image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        size = (self.width, max(self.block, round(h * self.width / w)))
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        b = self.block
        hh, ww = (small.shape[0] // b) * b, (small.shape[1] // b) * b
        return small[:hh, :ww].reshape(hh // b, b, ww // b, b).mean(axis=(1, 3))

    def still(self, image: np.ndarray) -> bool:
        """True when no block moved more than ``threshold`` since :meth:`ran`'s frame (counts a skip)."""
        if self._reference is None:
            return False
        thumb = self._thumb(image)
        if thumb.shape != self._reference.shape:
            return False
        if float(np.abs(thumb - self._reference).max()) > self.threshold:
            return False
        self.skipped += 1
        return True

    def ran(self, image: np.ndarray) -> None:
        """The detector ran on ``image``: later frames are compared with it."""
        self._reference = self._thumb(image)

    def reset(self) -> None:
        self._reference = None
