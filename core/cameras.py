"""Several cameras in one process: one pipeline, one engine (tracker, FPS, stats) per camera, fair rounds.

DeepStream's multi-stream shape on a CPU box: every camera has a capture thread that keeps only its
newest frame (:class:`core.sources.FrameGrabber`: a camera never builds a queue; frames overwritten while
inference runs are counted as dropped, per camera). A *round* takes the newest frame of every camera
that has one, then

1. detects and tracks each frame (:meth:`Engine.begin`), one camera after the other;
2. embeds the faces of all cameras that need recognition in ONE batch (:func:`embed_steps`; the local
   recognizer runs one network call for all cameras' crops). Cloud and hybrid pipelines measure and
   fall back per frame, so with them each camera's frame goes through the whole pipeline in turn;
3. matches, decides and records per camera (:meth:`Engine.finish`), each with its own tracker and
   its door's rules (db/doors.py).

Fairness: a round serves each camera with a fresh frame once, starting after the camera that started the
previous round, so a busy camera (many faces) costs every camera the same time and a stalled one (a
stream that hangs or reconnects) has no frame and is simply skipped; nobody waits for it. A camera that
drops out shows ``reconnecting`` with the reason and comes back by itself (the grabber reopens it with
backoff); a file that ends shows ``ended``.

Qt-free: the headless run (``main.py run --source A --source B``) and the window drive the same class.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import FaceGateError

if TYPE_CHECKING:
    from core.config import DetectorConfig, TrackerConfig
    from core.engine import Engine, EngineStats, FrameStep
    from core.protocols import FacePipeline
    from core.sources import Frame, Source
    from core.types import FrameResult

#: NAME in ``--source NAME=SRC``: what a camera may be called (also a door rule's key, db/doors.py)
CAMERA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")


@dataclass(frozen=True)
class CameraSpec:
    """A camera of a run: its name (``cam1``, or NAME of ``NAME=SRC``) and what :func:`open_source` opens."""

    name: str
    source: str


def parse_sources(values: Sequence[str]) -> list[CameraSpec]:
    """``--source`` values -> camera specs. ``NAME=SRC`` names a camera; otherwise cameras are ``cam1``,
    ``cam2``, ... in the given order. A value that is an existing file (even with ``=`` in its name) or a URL
    (``rtsp://host/x?a=b``) is a source, never a name. Names must be unique; one-line error otherwise."""
    specs: list[CameraSpec] = []
    for i, raw in enumerate(values, start=1):
        value = str(raw).strip()
        name, src = f"cam{i}", value
        head, sep, tail = value.partition("=")
        if sep and "://" not in head and "/" not in head and not Path(value).exists():
            if not CAMERA_NAME.match(head):
                raise FaceGateError(
                    f"--source {value!r}: camera name {head!r} must be 1-32 letters, digits, '_', '.', '-'"
                )
            name, src = head, tail.strip()
        if not src:
            raise FaceGateError(f"--source {value!r}: no source after the camera name")
        if any(s.name == name for s in specs):
            raise FaceGateError(f"--source {value!r}: camera name {name!r} is used twice")
        specs.append(CameraSpec(name, src))
    if not specs:
        raise FaceGateError("no --source given")
    return specs


class Camera:
    """One camera of a :class:`CameraSet`: its source, its engine and what the UI shows about it."""

    def __init__(self, spec: CameraSpec, source: Source, engine: Engine) -> None:
        self.spec = spec
        self.name = spec.name
        self.source = source
        self.engine = engine
        self.last: FrameResult | None = None  # the newest processed frame's result ...
        self.last_image: np.ndarray | None = None  # ... and its image

    @property
    def frames(self) -> int:
        """Frames processed."""
        return self.engine.stats.frames

    @property
    def dropped(self) -> int:
        return int(self.source.grabber.dropped)

    @property
    def captured(self) -> int:
        return int(self.source.grabber.captured)

    @property
    def state(self) -> str:
        """``live``, ``reconnecting`` (down, retried with backoff), ``offline`` (failed for good) or ``ended``."""
        g = self.source.grabber
        if g.ended:
            return "offline" if (g.error or str(g.status).startswith("failed")) else "ended"
        if g.error:
            return "reconnecting"
        return "live" if g.captured else "connecting"

    @property
    def status(self) -> str:
        """One line for a status bar: the state, and the reason when the camera is not live."""
        state = self.state
        if state in ("live", "ended", "connecting"):
            return state
        return f"{state}: {self.source.status}"

    def drop_rate(self) -> float:
        """Dropped share of captured frames (0..1)."""
        return self.dropped / self.captured if self.captured else 0.0


class CameraSet:
    """One pipeline, several cameras; call :meth:`round` until :attr:`ended` (or for ever for live sources).

    Args:
        pipeline: the shared (local, cloud or hybrid) pipeline.
        cameras: (spec, opened source) pairs, in display order.
        store: the identity store (None: no recording, every match granted).
        record: start one store session recording all cameras (frames keyed by camera).
        frames_csv, events_csv: one CSV each for all cameras (rows carry ``camera``).
    """

    def __init__(
        self,
        pipeline: FacePipeline,
        cameras: Sequence[tuple[CameraSpec, Source]],
        store: Any = None,
        mode: str = "local",
        track: bool = True,
        frames_csv: str | Path | None = None,
        events_csv: str | Path | None = None,
        sampler: Any = None,
        tracker_config: TrackerConfig | None = None,
        record: bool = True,
        detector_config: DetectorConfig | None = None,
    ) -> None:
        from core.config import defaults
        from core.engine import Engine
        from core.motion import StillGate
        from core.recording import EVENT_COLUMNS, FRAME_COLUMNS, CSVSink

        if not cameras:
            raise FaceGateError("no camera to run")
        self.pipeline = pipeline
        self.store = store
        self.session_id = ""
        if store is not None and record:
            self.session_id = store.start_session(
                ", ".join(s.source for s, _ in cameras) if len(cameras) > 1 else cameras[0][1].name,
                mode,
                getattr(pipeline.detector, "key", ""),
                getattr(pipeline.recognizer, "key", ""),
                cameras=[(s.name, src.name) for s, src in cameras],
            )
        self._frame_sink = CSVSink(frames_csv, FRAME_COLUMNS).open() if frames_csv else None
        self._event_sink = CSVSink(events_csv, EVENT_COLUMNS).open() if events_csv else None
        self.wakeup = threading.Event()
        still = (detector_config or defaults().detector).still_threshold
        self.cameras: list[Camera] = []
        for spec, source in cameras:
            engine = Engine(
                pipeline,
                store,
                source_name=source.name,
                mode=mode,
                track=track,
                sampler=sampler,
                record=record,
                tracker_config=tracker_config,
                camera=spec.name,
                session_id=self.session_id if store is not None and record else None,
                frame_sink=self._frame_sink,
                event_sink=self._event_sink,
                still_gate=StillGate(still) if still > 0 else None,
            )
            source.grabber.wakeup = self.wakeup
            self.cameras.append(Camera(spec, source, engine))
        label = self.session_id or time.strftime("%Y%m%d-%H%M%S")
        for cam in self.cameras:
            cam.engine.session_label = label
        self._start = 0  # the camera a round starts with (rotates: fairness)
        self._closed = False

    def __getitem__(self, name: str) -> Camera:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(name)

    @property
    def ended(self) -> bool:
        """Every camera's source has ended (files); live cameras never end."""
        return all(c.source.ended for c in self.cameras)

    def swap(self, pipeline: FacePipeline) -> None:
        """Use another pipeline for every camera from the next round on (see :meth:`Engine.swap`); the
        old remote pipeline, shared by all, is closed once."""
        for i, cam in enumerate(self.cameras):
            cam.engine.swap(pipeline, close_old=i == 0)
        self.pipeline = pipeline

    def _take(self, timeout: float) -> list[tuple[Camera, Frame]]:
        """The newest frame of every camera that has one, in fair order; waits up to ``timeout`` for one."""
        deadline = time.monotonic() + timeout
        n = len(self.cameras)
        order = [self.cameras[(self._start + k) % n] for k in range(n)]
        while True:
            self.wakeup.clear()
            taken = [(cam, f) for cam in order if (f := cam.source.read(timeout=0)) is not None]
            if taken or self.ended:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.wakeup.wait(min(remaining, 0.05))
        if taken:
            self._start = (self.cameras.index(taken[0][0]) + 1) % n
        return taken

    def round(self, timeout: float = 0.5) -> list[tuple[Camera, FrameResult]]:
        """Process one frame of every camera that has a fresh one (waiting up to ``timeout`` s for the
        first); returns (camera, result) in the order processed, [] when none came."""
        taken = self._take(timeout)
        if not taken:
            return []
        out = []
        if hasattr(self.pipeline, "frame_stats"):
            # cloud/hybrid measure what crossed the network per frame (and fall back per frame): each
            # camera's frame goes through the whole pipeline before the next one starts
            for cam, f in taken:
                result = cam.engine.process(f.image, f.index, f.timestamp, f.capture_ms, dropped=cam.dropped)
                out.append(self._done(cam, result, f.image))
        else:
            steps = [
                (cam, cam.engine.begin(f.image, f.index, f.timestamp, f.capture_ms, dropped=cam.dropped))
                for cam, f in taken
            ]
            shares = embed_steps(self.pipeline, [s for _, s in steps])
            for (cam, step), embed_ms in zip(steps, shares, strict=True):
                out.append(self._done(cam, cam.engine.finish(step, embed_ms), step.image))
        return out

    @staticmethod
    def _done(cam: Camera, result: FrameResult, image: np.ndarray) -> tuple[Camera, FrameResult]:
        cam.last, cam.last_image = result, image
        return cam, result

    def close(self) -> dict[str, EngineStats]:
        """End every camera's open tracks and the session, close the sources and CSVs; per-camera stats."""
        if self._closed:
            return {c.name: c.engine.stats for c in self.cameras}
        self._closed = True
        stats = {}
        try:
            for cam in self.cameras:
                cam.source.close()
                stats[cam.name] = cam.engine.close()
            if self.session_id and self.store is not None:
                self.store.end_session(self.session_id)
        finally:
            for sink in (self._frame_sink, self._event_sink):
                if sink is not None:
                    sink.close()
        return stats


def embed_steps(pipe: FacePipeline, steps: Sequence[FrameStep]) -> list[float]:
    """Embed the faces every step needs, batched across frames where that is one network call; returns
    each step's share of the time (ms, in proportion to its faces).

    The local pipeline aligns every camera's faces and embeds all crops in one recognizer call (DeepStream's
    batched secondary inference); any other pipeline embeds frame by frame.
    """
    from core.pipeline import Pipeline

    t0 = time.perf_counter()
    todo = [s for s in steps if s.todo]
    if len(todo) > 1 and isinstance(pipe, Pipeline):
        pipe.recognizer.embed_many([(s.image, s.todo) for s in todo])
    else:
        for s in todo:
            pipe.embed(s.image, s.todo)
    total_ms = (time.perf_counter() - t0) * 1e3
    n = sum(len(s.todo) for s in steps)
    return [total_ms * len(s.todo) / n if n else 0.0 for s in steps]


def open_cameras(
    specs: Sequence[CameraSpec], realtime: bool | None = None
) -> list[tuple[CameraSpec, Source]]:
    """Open every camera's source (a bad file is a one-line error naming the camera; those already
    opened are closed again)."""
    from core.sources import SourceError, open_source

    opened: list[tuple[CameraSpec, Source]] = []
    try:
        for spec in specs:
            try:
                opened.append((spec, open_source(spec.source, realtime=realtime)))
            except SourceError as err:
                if len(specs) == 1:
                    raise
                raise SourceError(f"camera {spec.name}: {err}") from None
    except BaseException:
        for _, source in opened:
            source.close()
        raise
    return opened
