"""The one result type. Whatever detector, recognizer, runtime or deployment mode produced a
frame's faces, they arrive as :class:`Face` objects inside a :class:`FrameResult`, so annotation,
recording and tests never care where the frame was processed.

Conventions: boxes are ``[x1, y1, x2, y2]`` in pixels of the original frame (float), landmarks are
a ``(5, 2)`` array of ``(x, y)`` pixels in the order left eye, right eye, nose, left mouth corner,
right mouth corner (as seen in the image), embeddings are L2-normalised float32 vectors, distances
are L2 between unit vectors (0..2), times are milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Face:
    box: np.ndarray  # (4,) float32 x1, y1, x2, y2 px
    score: float  # detector confidence 0..1
    landmarks: np.ndarray | None = None  # (5, 2) float32 px, or None if the detector has none
    embedding: np.ndarray | None = None  # (D,) float32 unit vector
    identity: str | None = None  # matched name, None = unknown / not matched
    distance: float | None = None  # L2 distance to the best gallery match
    track_id: int | None = None
    decision: str | None = None  # "granted" | "denied" | "unknown" once decided
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def to_json(self) -> dict[str, Any]:
        """The CLI's per-face JSON shape."""
        return {
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 4),
            "identity": self.identity,
            "distance": None if self.distance is None else round(float(self.distance), 4),
        }


@dataclass
class FrameResult:
    faces: list[Face]
    width: int
    height: int
    frame_index: int = 0
    timestamp: float = 0.0  # time.time() of capture
    timings_ms: dict[str, float] = field(default_factory=dict)  # capture/detect/embed/match/network/total
    detector: str = ""
    recognizer: str = ""
    mode: str = "local"
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def known(self) -> int:
        return sum(1 for f in self.faces if f.identity is not None)

    @property
    def unknown(self) -> int:
        """Faces not (yet) matched to anyone."""
        return len(self.faces) - self.known
