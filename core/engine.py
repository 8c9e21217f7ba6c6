"""The live processing loop's state, Qt-free: pipeline + tracker + recording.

The headless run (``main.py run``) and the GUI's inference worker both drive an :class:`Engine`
one frame at a time. Per frame: detect -> track -> align + embed + match only the faces the
tracker asks for (new tracks, re-verification, weak matches) -> vote -> access events; then one row
of the session CSV (the study's measurements) and the events, to CSV files and to the store.
Backends can be swapped between two frames with :meth:`Engine.swap`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.config import TrackerConfig
from core.motion import StillGate
from core.pipeline import frame_result
from core.privacy import event_snapshot, frame_snapshot
from core.protocols import FacePipeline
from core.recording import EVENT_COLUMNS, FRAME_COLUMNS, CSVSink, FPSMonitor, access_event_row, frame_row
from core.tracking import AccessEvent, Tracker
from core.types import Face, FrameResult

log = logging.getLogger(__name__)

STORE_BATCH = 30  # at most this many frame rows per store transaction ...
STORE_FLUSH_S = 1.0  # ... and at most this old: a killed run loses <= 1 s of rows (a commit costs ~12 ms)


@dataclass
class FrameStep:
    """A frame between :meth:`Engine.begin` (detected, tracked) and :meth:`Engine.finish`."""

    image: np.ndarray
    index: int
    timestamp: float
    capture_ms: float | None
    dropped: int
    faces: list[Face]
    todo: list[Face]  # the faces to embed this frame
    detect_ms: float


@dataclass
class EngineStats:
    frames: int = 0
    faces: int = 0
    recognized: int = 0
    events: list[AccessEvent] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)  # identity -> frames it was seen in


class Engine:
    def __init__(
        self,
        pipeline: FacePipeline,
        store: Any = None,
        source_name: str = "",
        mode: str = "local",
        track: bool = True,
        tracker: Tracker | None = None,
        frames_csv: str | Path | None = None,
        events_csv: str | Path | None = None,
        sampler: Any = None,
        record: bool = True,
        tracker_config: TrackerConfig | None = None,
        camera: str = "",
        session_id: str | None = None,
        frame_sink: CSVSink | None = None,
        event_sink: CSVSink | None = None,
        still_gate: StillGate | None = None,
    ) -> None:
        """One camera's loop state. With several cameras (:class:`core.cameras.CameraSet`) each camera has
        its own engine (tracker, FPS, stats) sharing one pipeline, one store session (``session_id``,
        started and ended by the camera set) and one frames/events CSV (``frame_sink``/``event_sink``,
        opened and closed by the camera set); ``camera`` names the camera in rows, events and door rules."""
        self.pipeline = pipeline
        self.store = store
        self.still_gate = (
            still_gate  # skip detection on still frames while no track is alive (core/motion.py)
        )
        self.source_name = source_name
        self.camera = camera
        self.mode = mode
        self.sampler = sampler
        self.tracker = (
            tracker
            if tracker is not None
            else (Tracker(tracker_config, policy_of=self._decision_and_reason) if track else None)
        )
        self.fps = FPSMonitor()
        self.stats = EngineStats()
        self.session_id = ""
        self._owns_session = session_id is None
        if session_id is not None:
            self.session_id = session_id if record else ""
        elif store is not None and record:
            self.session_id = store.start_session(
                source_name,
                mode,
                getattr(pipeline.detector, "key", ""),
                getattr(pipeline.recognizer, "key", ""),
            )
        self.session_label = self.session_id or session_id or time.strftime("%Y%m%d-%H%M%S")
        own_frames = CSVSink(frames_csv, FRAME_COLUMNS).open() if frames_csv else None
        own_events = CSVSink(events_csv, EVENT_COLUMNS).open() if events_csv else None
        self._own_sinks = [sink for sink in (own_frames, own_events) if sink is not None]  # closed by close()
        self._frame_sink = frame_sink or own_frames
        self._event_sink = event_sink or own_events
        self._pending_rows: list[dict[str, Any]] = []
        self._flushed_at = time.monotonic()
        self._thumbs: dict[int, bytes] = {}  # track id -> JPEG of its face when last recognised
        # track id -> (frame, box) when last recognised: a reference, no copy; encoded only when an event
        # of the track is written (the frame snapshot)
        self._frames: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._late: list[Face] = []  # faces of earlier frames whose answers were recorded this frame (hybrid)
        self._closed = False

    # ------------------------------------------------------------------ decisions
    def _decision_and_reason(self, name: str) -> tuple[str, str]:
        """(decision, reason) for an enrolled ``name`` now, from their policy; schedules are evaluated at
        every call."""
        if self.store is None:
            return "granted", "matched"
        decision, reason = self.store.access(name, camera=self.camera or None)  # their policy, this door
        if decision == "unknown":  # matched in the gallery but no longer enrolled: default deny
            return "denied", "policy"
        return decision, reason

    def _decision_for(self, name: str | None) -> str:
        """ "granted" / "denied" for an enrolled ``name`` now, "unknown" for no name."""
        if name is None:
            return "unknown"
        return self._decision_and_reason(name)[0]

    # ------------------------------------------------------------------ per frame
    def swap(self, pipeline: FacePipeline, close_old: bool = True) -> None:
        """Use another (already built and warmed) pipeline from the next frame on.

        Tracks keep their identities across a runtime switch (same embeddings); a switch to another
        recognizer model re-verifies every track, since its distances are on another scale. A switch
        of deployment mode is a swap too: build the new pipeline with
        :func:`core.deploy.client.remote_pipeline` (or use the local one); the old remote pipeline is
        closed here (it reopens its connections if it is swapped in again), unless ``close_old`` is
        False (cameras sharing it: :meth:`core.cameras.CameraSet.swap` closes it once).
        """
        old = self.pipeline
        old_model = getattr(old.recognizer, "model", None)
        self.pipeline = pipeline
        # a replaced cloud/hybrid pipeline stops its endpoint probe and closes its connections
        local = getattr(pipeline, "local", None)
        if close_old and old is not pipeline and old is not local and hasattr(old, "close"):
            old.close()
        if self.tracker is not None and getattr(pipeline.recognizer, "model", None) != old_model:
            self.tracker.model_changed()

    def process(
        self,
        image: np.ndarray,
        index: int | None = None,
        timestamp: float | None = None,
        capture_ms: float | None = None,
        dropped: int = 0,
    ) -> FrameResult:
        """Detect, track, recognise the faces the tracker asks for, decide, record: one frame."""
        step = self.begin(image, index, timestamp, capture_ms, dropped)
        t = time.perf_counter()
        self.pipeline.embed(image, step.todo)
        return self.finish(step, (time.perf_counter() - t) * 1e3)

    def begin(
        self,
        image: np.ndarray,
        index: int | None = None,
        timestamp: float | None = None,
        capture_ms: float | None = None,
        dropped: int = 0,
    ) -> FrameStep:
        """The first half of :meth:`process`: detect and track. ``step.todo`` are the faces to embed
        (with ``pipeline.embed``, or batched with other cameras' by :func:`core.cameras.embed_steps`)."""
        index = self.stats.frames if index is None else int(index)
        ts = time.time() if timestamp is None else float(timestamp)
        t0 = time.perf_counter()
        self._late = []
        gate = self.still_gate if self.tracker is not None else None
        if gate is not None and not self.tracker.tracks and gate.still(image):  # type: ignore[union-attr]
            faces: list[Face] = []  # nothing moved since the detector last saw this empty scene
            if hasattr(self.pipeline, "skip_frame"):  # cloud/hybrid: nothing sent for this frame
                self.pipeline.skip_frame()
        else:
            faces = self.pipeline.detect(image)
            if gate is not None:
                gate.ran(image)
        if self.tracker is not None:
            self.tracker.update(faces, index, ts, image)
            todo = [f for f in faces if f.tracking.needs_recognition]
            # hybrid: routine questions are answered on a later frame
            defer = getattr(self.pipeline, "defer", None)
            if defer is not None:
                todo = defer(image, faces, self._observe_late)
        else:
            todo = faces
        detect_ms = (time.perf_counter() - t0) * 1e3  # detection and tracking
        return FrameStep(image, index, ts, capture_ms, dropped, faces, todo, detect_ms)

    def finish(self, step: FrameStep, embed_ms: float) -> FrameResult:
        """The second half of :meth:`process`, once ``step.todo`` has embeddings: match, observe,
        decide, record. ``embed_ms`` is this frame's share of the embedding time."""
        pipe, image, faces, todo = self.pipeline, step.image, step.faces, step.todo
        t2 = time.perf_counter()
        pipe.match(todo)
        if self.tracker is not None:
            self.tracker.observe_many(todo, pipe.threshold)
            if self.session_id:
                late = {f.track_id for f in self._late}  # their tracks' faces in this frame
                for f in [*todo, *(f for f in faces if f.track_id in late)]:
                    if f.track_id is not None:
                        self._thumbs[f.track_id] = _thumbnail(image, f.box)
                        self._frames[f.track_id] = (image, f.box)
        for f in faces:
            if f.decision is None:
                f.decision = self._decision_for(f.identity) if (self.tracker is None or f.identity) else None
        match_ms = (time.perf_counter() - t2) * 1e3
        timings = {
            "detect_ms": step.detect_ms,
            "embed_ms": embed_ms,
            "match_ms": match_ms,
            "total_ms": step.detect_ms + embed_ms + match_ms,
        }
        if step.capture_ms is not None:
            timings["capture_ms"] = step.capture_ms
        result = frame_result(pipe, image, faces, timings, step.index, step.timestamp, mode=self.mode)
        result.recognized = len(todo) + len(self._late)
        self.fps.tick()
        self._account(result)
        events = self.tracker.pop_events() if self.tracker is not None else []
        result.events = events
        self._record(result, step.dropped, events)
        return result

    def _observe_late(self, faces: list[Face]) -> None:
        """Record answers that came back for faces of an earlier frame (hybrid's background requests)."""
        self.pipeline.match(faces)
        if self.tracker is not None:
            self.tracker.observe_many(faces, self.pipeline.threshold)
        self._late += faces

    def _account(self, result: FrameResult) -> None:
        s = self.stats
        s.frames += 1
        s.faces += len(result.faces)
        s.recognized += result.recognized
        for name in {f.identity for f in result.faces if f.identity}:
            s.seen[name] = s.seen.get(name, 0) + 1

    def _record(self, result: FrameResult, dropped: int, events: list[AccessEvent]) -> None:
        telemetry = self.sampler.latest() if self.sampler is not None else None
        row = frame_row(
            self.session_label, result, self.source_name, self.fps.fps(), dropped, telemetry, self.camera
        )
        if self._frame_sink is not None:
            self._frame_sink.write(row)
        if self.session_id:
            self._pending_rows.append(row)
            if len(self._pending_rows) >= STORE_BATCH or time.monotonic() - self._flushed_at >= STORE_FLUSH_S:
                self.flush()
        for ev in events:
            self.stats.events.append(ev)
            self._write_event(ev)

    def _write_event(self, ev: AccessEvent) -> None:
        """Write one decision when it is made: CSV and store together; sets ``ev.event_id``."""
        if not ev.camera:
            ev.camera = self.camera or self.source_name
        row = access_event_row(self.session_label, ev)
        if self._event_sink is not None:
            self._event_sink.write(row)
        if self.session_id and self.store is not None:
            seen = self._frames.get(ev.track_id)
            snapshot = frame_snapshot(seen[0], seen[1], ev.decision, self.store) if seen is not None else None
            ev.event_id = self.store.add_event(
                self.session_id,
                row["timestamp"],
                ev.track_id,
                ev.identity,
                None if ev.distance is None else float(ev.distance),
                ev.decision,
                thumbnail=event_snapshot(self._thumbs.get(ev.track_id), ev.decision, self.store),
                frame=ev.frame_index,
                observations=ev.observations,
                reason=ev.reason,
                camera=ev.camera,
                kind=ev.kind,
                previous=ev.previous,
                snapshot=snapshot,
                threshold=float(self.pipeline.threshold),
            )
        if self.tracker is not None:  # forget thumbnails of tracks that have ended
            live = {t.track_id for t in self.tracker.tracks}
            for tid in [t for t in self._thumbs if t not in live]:
                del self._thumbs[tid]
            for tid in [t for t in self._frames if t not in live]:
                del self._frames[tid]

    def flush(self) -> None:
        self._flushed_at = time.monotonic()
        if self._pending_rows and self.store is not None and self.session_id:
            self.store.add_frames(self.session_id, self._pending_rows)
        self._pending_rows = []

    def close(self) -> EngineStats:
        """End open tracks (their 'unknown' events), flush everything, end the session. Idempotent."""
        if self._closed:
            return self.stats
        self._closed = True
        if self.tracker is not None:
            drain = getattr(self.pipeline, "drain", None)  # hybrid: answers still on their way
            if drain is not None:
                drain(self._observe_late)
            self.tracker.end_all()
            for ev in self.tracker.pop_events():
                self.stats.events.append(ev)
                self._write_event(ev)
        self.flush()
        if self.session_id and self.store is not None and self._owns_session:
            self.store.end_session(self.session_id)
        for sink in self._own_sinks:
            sink.close()
        return self.stats


def _thumbnail(image: np.ndarray, box: np.ndarray, side: int = 96) -> bytes:
    """A small JPEG of the face (for the event log): the box itself, its longer side ``side`` px."""
    import cv2

    from core.crops import clip_crop, encode_jpeg, resize_by

    x1, y1, x2, y2 = (int(round(float(v))) for v in box[:4])
    crop = clip_crop(image, x1, y1, x2, y2)
    if crop.size == 0:
        return b""
    return encode_jpeg(resize_by(crop, side / max(crop.shape[:2]), cv2.INTER_AREA), 80)
