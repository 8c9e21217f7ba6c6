"""Face recognizers (embedders). Each model family is one module exposing::

    MODEL: str                                  # "facenet128"
    RUNTIMES: dict[str, tuple[str, ...]]        # runtime variant -> artifact keys it runs
    def create(runtime: str, **options) -> Recognizer

Embeddings of different models are never compared: a gallery is per ``model``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from core.types import Face


class Recognizer(ABC):
    key: str = ""  # "facenet128:tflite-int8"
    model: str = ""  # "facenet128": galleries and thresholds are per model, not per runtime
    dim: int = 0  # embedding length
    input_size: int = 160  # side of the aligned crop, px
    default_threshold: float = 1.0  # L2 distance on unit vectors at or below which two faces match

    @abstractmethod
    def align(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        """Aligned crop (input_size, input_size, 3) RGB uint8 of ``face`` ready for :meth:`embed_crops`."""

    @abstractmethod
    def embed_crops(self, crops_rgb: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) RGB uint8 aligned crops -> (N, dim) float32 L2-normalised embeddings."""

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Align and embed ``faces`` of one image in one batch; also sets ``face.embedding``."""
        return self.embed_many([(image_bgr, faces)])

    def embed_many(self, items: list[tuple[np.ndarray, list[Face]]]) -> np.ndarray:
        """Align the faces of several images (several cameras' frames) and embed all their crops in one
        batch; also sets each ``face.embedding``."""
        faces = [f for _, fs in items for f in fs]
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        emb = self.embed_crops(np.stack([self.align(image, f) for image, fs in items for f in fs]))
        for f, e in zip(faces, emb, strict=True):
            f.embedding = e
        return emb

    def warmup(self) -> None:
        self.embed_crops(np.full((1, self.input_size, self.input_size, 3), 127, np.uint8))


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)
