"""What the inference worker hands the window (plain dataclasses, made on the worker thread and read on
the GUI thread): frames, cameras, events, stats points, switch marks, session and enrollment status."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


# ---------------------------------------------------------------------------------------------- payloads
def split_sources(text: str) -> list[str]:
    """The entries of a source box / cameras list: ``;`` or new lines separate cameras
    (``front=0; back=rtsp://host/x``); one entry is one camera, as before."""
    return [part.strip() for part in re.split(r"[;\n]", str(text)) if part.strip()]


@dataclass
class SourceSpec:
    spec: str  # "demo", a camera index, a file, a URL, a folder; several: "NAME=SRC; NAME=SRC"
    realtime: bool = True  # files play at their own FPS and drop frames like a camera
    loop: bool = False  # start a file again at its end (the demo always loops)


@dataclass
class FrameView:
    """What the GUI shows for one processed frame."""

    image: np.ndarray  # BGR uint8, annotated, already scaled to the view size (C-contiguous)
    result: Any  # core.types.FrameResult
    capture_ts: float  # time.time() when the frame was captured
    processed_ts: float  # time.time() when it was annotated and handed over
    index: int
    fps: float | None  # processed frames per second
    capture_fps: float
    dropped: int
    status: str
    scale: float  # display pixels per frame pixel
    camera: str = ""  # the camera's name (core.cameras.CameraSpec.name)
    state: str = "live"  # connecting | live | reconnecting | offline | ended


@dataclass
class CameraInfo:
    """What the GUI shows about one camera, also when it sends no frame (down, ended)."""

    name: str
    source: str
    state: str  # connecting | live | reconnecting | offline | ended
    status: str  # the state, with the reason when not live
    fps: float | None  # processed frames per second
    capture_fps: float
    dropped: int
    captured: int
    frames: int  # processed
    error: str = ""  # why it sends no frame (the source's last failure)
    reconnects: int = 0  # reopen attempts so far


@dataclass
class EventView:
    """One access event as the engine logged it (or as the store holds it, for past sessions)."""

    timestamp: float  # time.time()
    track_id: int
    identity: str | None
    distance: float | None
    decision: str  # granted | denied | unknown
    session: str
    thumb: np.ndarray | None = None  # BGR, THUMB_PX high
    crop: np.ndarray | None = None  # BGR face crop with margin (enroll "as someone else" from it)
    event_id: int | None = None  # the store's events row id (None: no store, nothing to correct)
    reason: str = ""  # matched | no-match | policy | schedule | identity-changed
    kind: str = "decision"  # decision | change (a decided track's identity changed: an alarm)
    previous: str | None = None  # kind "change": the identity the track had before
    camera: str = ""
    corrected_identity: str | None = None  # the newest operator correction, if any
    corrected_by: str | None = None
    corrected_at: str | None = None
    correction_note: str = ""

    @property
    def corrected(self) -> bool:
        return self.corrected_by is not None


@dataclass
class StatsPoint:
    t: float  # time.monotonic()
    fps: float | None
    capture_fps: float
    timings: dict[str, float]
    faces: int
    recognized: int
    dropped: int
    camera: str = ""


@dataclass
class SwitchMark:
    t: float  # time.monotonic() of the first frame with the new backends
    label: str
    kind: str
    build_ms: float
    frames_during_build: int = 0


@dataclass
class SessionInfo:
    session_id: str
    label: str
    source: str
    store_path: Path | None
    frames: int = 0
    events: int = 0
    reason: str = ""
    cameras: list[str] = field(default_factory=list)  # the cameras' names, in display order


@dataclass
class EnrollStatus:
    ok: bool
    reason: str
    samples: int
    min_samples: int
    max_samples: int
    pose_spread: float
    required_spread: float
    ready: bool  # enough good samples to finish (the head turn is advice, never required)
    guidance: str
    crop_jpeg: bytes | None = None  # the accepted sample's crop
    paused: bool = False  # capture waits (a second face in view)
    done: bool = False  # capture stopped by itself (enough samples with the head turn, or the maximum)
