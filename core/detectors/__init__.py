"""Face detectors. Each model family is one module exposing::

    MODEL: str                                  # "mtcnn"
    RUNTIMES: dict[str, tuple[str, ...]]        # runtime variant -> artifact keys it runs
    def create(runtime: str, **options) -> Detector

The model's pre/post-processing is written once in numpy; the runtime only runs network files.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from core.types import Face


class Detector(ABC):
    """Finds faces in a BGR uint8 image; boxes/landmarks in that image's pixels."""

    key: str = ""  # "mtcnn:onnxruntime"

    @abstractmethod
    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces sorted by descending score."""

    def warmup(self, width: int = 1280, height: int = 720) -> None:
        """Run once on a blank frame so the first measured frame is not the compile/allocation."""
        self.detect(np.full((height, width, 3), 127, np.uint8))
