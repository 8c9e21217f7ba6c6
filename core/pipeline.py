"""The local pipeline: detect -> align + embed (batched) -> match against the gallery.

Returns the one result type (:class:`core.types.FrameResult`) with per-stage times in ms.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from core.gallery import Gallery
from core.types import Face, FrameResult

if TYPE_CHECKING:
    from core.protocols import Detector, FacePipeline, Recognizer


class Pipeline:
    def __init__(
        self,
        detector: Detector,
        recognizer: Recognizer,
        gallery: Gallery | None = None,
        threshold: float | None = None,
    ) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.gallery = gallery
        self.threshold = recognizer.default_threshold if threshold is None else float(threshold)

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        return self.detector.detect(image_bgr)

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        return self.recognizer.embed(image_bgr, faces)

    def match(self, faces: list[Face]) -> None:
        """Set identity/distance on faces that have embeddings."""
        todo = [(f, f.embedding) for f in faces if f.embedding is not None]
        if not todo:
            return
        if self.gallery is None or len(self.gallery) == 0:
            for f, _ in todo:
                f.identity, f.distance = None, None
            return
        embeddings = np.stack([e for _, e in todo])
        for (f, _), m in zip(todo, self.gallery.match(embeddings, self.threshold)):
            f.identity = m.identity
            f.distance = m.distance
            f.candidate = m.candidate

    def process(
        self, image_bgr: np.ndarray, frame_index: int = 0, timestamp: float | None = None
    ) -> FrameResult:
        return process_frame(self, image_bgr, frame_index, timestamp)


def process_frame(
    pipe: FacePipeline, image_bgr: np.ndarray, frame_index: int = 0, timestamp: float | None = None
) -> FrameResult:
    """detect -> embed every face -> match with any pipeline (local, cloud or hybrid)."""
    t0 = time.perf_counter()
    faces = pipe.detect(image_bgr)
    t1 = time.perf_counter()
    pipe.embed(image_bgr, faces)
    t2 = time.perf_counter()
    pipe.match(faces)
    t3 = time.perf_counter()
    return frame_result(pipe, image_bgr, faces, stage_timings(t0, t1, t2, t3), frame_index, timestamp)


def stage_timings(t0: float, t1: float, t2: float, t3: float) -> dict[str, float]:
    """Per-stage ms from perf_counter stamps: start, after detect, after embed, after match."""
    return {
        "detect_ms": (t1 - t0) * 1e3,
        "embed_ms": (t2 - t1) * 1e3,
        "match_ms": (t3 - t2) * 1e3,
        "total_ms": (t3 - t0) * 1e3,
    }


def frame_result(
    pipe: FacePipeline,
    image_bgr: np.ndarray,
    faces: list[Face],
    timings: dict[str, float],
    frame_index: int = 0,
    timestamp: float | None = None,
    mode: str = "local",
) -> FrameResult:
    """The one result type for a processed frame. Remote pipelines (cloud / hybrid) report through
    ``frame_stats()`` what crossed the network and the mode really used (e.g. ``hybrid->local``)."""
    remote = pipe.frame_stats() if hasattr(pipe, "frame_stats") else {}
    if remote.get("network_ms") is not None:
        timings["network_ms"] = float(remote["network_ms"])
    h, w = image_bgr.shape[:2]
    result = FrameResult(
        faces=faces,
        width=w,
        height=h,
        frame_index=frame_index,
        timestamp=time.time() if timestamp is None else timestamp,
        timings_ms=timings,
        detector=getattr(pipe.detector, "key", ""),
        recognizer=getattr(pipe.recognizer, "key", ""),
        mode=str(remote.get("mode") or getattr(pipe, "mode", None) or mode),
    )
    if remote.get("bytes_up") is not None:
        result.bytes_up = int(remote["bytes_up"])
    if remote.get("bytes_down") is not None:
        result.bytes_down = int(remote["bytes_down"])
    return result


def largest_face(faces: list[Face]) -> Face | None:
    return max(faces, key=lambda f: f.area) if faces else None
