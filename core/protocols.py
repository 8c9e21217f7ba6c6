"""The shapes consumers rely on: a detector, a recognizer, and a pipeline (local, cloud or hybrid).

:class:`core.detectors.Detector` and :class:`core.recognizers.Recognizer` are the base classes the model
families implement; the Protocols here are what the registry returns and what :class:`core.engine.Engine`,
the CLI and the GUI accept, so anything of the same shape (a benchmark baseline, a test double) fits too.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from core.types import Face, FrameResult


class Detector(Protocol):
    """Finds faces in a BGR uint8 image; boxes/landmarks in that image's pixels."""

    key: str  # "mtcnn:onnxruntime"

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces sorted by descending score."""
        ...

    def warmup(self) -> None:
        """Run once so the first measured frame is not the compile/allocation."""
        ...


class Recognizer(Protocol):
    """Aligns faces and embeds them as L2-normalised float32 vectors of one model."""

    key: str  # "facenet128:tflite-int8"
    model: str  # "facenet128": galleries and thresholds are per model, not per runtime
    dim: int  # embedding length
    input_size: int  # side of the aligned crop, px
    default_threshold: float  # L2 distance on unit vectors at or below which two faces match

    def align(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        """Aligned crop (input_size, input_size, 3) RGB uint8 of ``face``."""
        ...

    def embed_crops(self, crops_rgb: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) RGB uint8 aligned crops -> (N, dim) float32 unit vectors."""
        ...

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Align and embed ``faces`` of one image in one batch; also sets ``face.embedding``."""
        ...

    def embed_many(self, items: list[tuple[np.ndarray, list[Face]]]) -> np.ndarray:
        """Align and embed the faces of several images in one batch; also sets ``face.embedding``."""
        ...

    def warmup(self) -> None: ...


class FacePipeline(Protocol):
    """detect -> embed -> match, wherever it runs: :class:`core.pipeline.Pipeline` (local) and the
    remote pipelines of :mod:`core.deploy.client` (cloud, hybrid) all have this shape.

    Remote pipelines also have ``frame_stats() -> dict`` (what crossed the network this frame, the mode
    really used) and ``close()`` (stop the endpoint probe, close connections); callers look for them
    with ``hasattr``, since the local pipeline has neither.
    """

    @property
    def detector(self) -> Detector: ...

    @property
    def recognizer(self) -> Recognizer: ...

    @property
    def threshold(self) -> float:
        """L2 distance at or below which a face matches a gallery identity."""
        ...

    def detect(self, image_bgr: np.ndarray) -> list[Face]: ...

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Embed ``faces`` (sets ``face.embedding``); returns the (N, dim) embeddings."""
        ...

    def match(self, faces: list[Face]) -> None:
        """Set identity/distance (and candidate) on the faces that have embeddings."""
        ...

    def process(
        self, image_bgr: np.ndarray, frame_index: int = 0, timestamp: float | None = None
    ) -> FrameResult:
        """detect -> embed every face -> match, as one :class:`core.types.FrameResult`."""
        ...
