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
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from core.tracking import AccessEvent


@dataclass
class FaceTrack:
    """What :class:`core.tracking.Tracker` says about one face in one frame.

    :meth:`Tracker.update` sets everything but the ``raw_*`` fields; :meth:`Tracker.observe_many` sets
    those (and ``observed``) for the faces that were recognised this frame.
    """

    needs_recognition: bool = False  # embed + match this face this frame
    # why it is recognised: "new", "undecided", "reacquired", "jump", "appearance", "crowded", "clear",
    # "weak", "reverify"; None = the track's decision is reused
    recognition_reason: str | None = None
    clear: bool = False  # big enough, confident, not cut by the frame edge: counts as evidence
    pending: bool = False  # tracked, not decided yet: identity/distance/decision are None
    patch: np.ndarray | None = None  # small grey unit-norm patch of the face (appearance check)
    # why the box may hold another face than its track's now ("reacquired", "jump", "appearance",
    # "crowded", "clear"), also when the face is not recognised (not clear) or is asked as "new"/"undecided"
    doubt: str | None = None
    frame_index: int | None = None  # captured-frame index the face was tracked in
    timestamp: float | None = None  # time.time() of that frame
    observed: bool = False  # a recognition result was recorded for it this frame (raw_* are set)
    raw_identity: str | None = None  # the gallery's answer for this frame alone, before the track's vote
    raw_distance: float | None = None  # its distance


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
    candidate: str | None = None  # nearest gallery identity even when beyond the threshold
    keypoints6: np.ndarray | None = None  # (6, 2) float32 px, BlazeFace's raw keypoints (not clipped)
    embedded_by: str | None = None  # remote pipelines: "cloud", "hybrid" or "hybrid->local"
    tracking: FaceTrack = field(default_factory=FaceTrack)  # the tracker's view; defaults when untracked

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
    recognized: int = 0  # faces embedded + matched this frame (the tracker skips the others)
    events: list[AccessEvent] = field(default_factory=list)  # access decisions made this frame
    bytes_up: int | None = None  # remote pipelines: bytes sent this frame (None = local or lost)
    bytes_down: int | None = None  # remote pipelines: bytes received this frame

    @property
    def known(self) -> int:
        return sum(1 for f in self.faces if f.identity is not None)

    @property
    def unknown(self) -> int:
        """Faces not (yet) matched to anyone."""
        return len(self.faces) - self.known
