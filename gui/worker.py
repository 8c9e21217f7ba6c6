"""The inference worker: a QThread that owns the running session (cameras, engines, store connection).

A session is a :class:`core.cameras.CameraSet` (one camera is a set of one): one pipeline, an engine
(tracker, FPS, stats) per camera, fair rounds over the cameras' newest frames.

Threads of a running window::

    FrameGrabber threads (core)  one per camera: reads it into a one-slot buffer, newest frame only,
                                 drops counted
    InferenceWorker (this)       CameraSet.round -> events, crops, annotate each camera's frame at its
                                 tile's size;
                                 between frames: queued tasks (swap backends, threshold, gallery reload,
                                 enrollment samples, flush)
    BuilderThread (TaskThread)   builds + warms new backends, opens stores, exports CSVs
    Sampler thread (core)        telemetry at 2 Hz
    GUI thread                   takes the newest frame when told one is there, paints;
                                 plots redraw on a timer

Frames reach the GUI through a mailbox with one slot per camera: the worker emits ``frameReady`` only
when the GUI took the previous frames, so at most one frame signal is ever queued and a slow GUI sees each
camera's newest frame, never a backlog. Per-frame measurements go to a bounded deque the plot timer drains; access events, which
must never be dropped, go by their own signal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Signal

from gui.backends import Built
from gui.tasks import TaskThread
from gui.views import (
    CameraInfo,
    EnrollStatus,
    EventView,
    FrameView,
    SessionInfo,
    SourceSpec,
    StatsPoint,
    SwitchMark,
    split_sources,
)

log = logging.getLogger(__name__)

CROP_SCALE = 1.6  # event crops: 1.6 x the face box, room for re-detection when enrolling from an event
CROP_MAX_PX = 400
THUMB_PX = 64
LOOP_GAP = 100  # frame-index gap when a looping file restarts: no track survives the jump


@dataclass
class _Session:
    spec: SourceSpec
    cameras: Any  # core.cameras.CameraSet
    last_index: dict[str, int] = field(default_factory=dict)  # camera -> newest frame index
    # camera -> track -> (thumb, crop)
    crops: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)  # looping cameras whose file could not be opened again

    @property
    def loop(self) -> bool:
        return self.spec.loop or self.spec.spec == "demo"


class _LoopGrabber:
    """A restarted file's grabber, counting on from the previous run's frames and drops."""

    def __init__(self, grabber: Any, dropped: int, captured: int) -> None:
        object.__setattr__(self, "_g", grabber)
        object.__setattr__(self, "_base", (dropped, captured))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._g, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._g, name, value)

    @property
    def dropped(self) -> int:
        return int(self._base[0] + self._g.dropped)

    @property
    def captured(self) -> int:
        return int(self._base[1] + self._g.captured)


class _LoopSource:
    """A file started again at its end: frame indices keep increasing (the store keys frame rows by
    index, and no track survives the jump), drops keep counting."""

    def __init__(self, source: Any, offset: int, dropped: int, captured: int) -> None:
        self.inner = source
        self.name = source.name
        self.offset = offset
        self.grabber = _LoopGrabber(source.grabber, dropped, captured)

    def read(self, timeout: float | None = None) -> Any:
        frame = self.inner.read(timeout)
        return None if frame is None else dataclasses.replace(frame, index=frame.index + self.offset)

    @property
    def ended(self) -> bool:
        return bool(self.inner.ended)

    @property
    def status(self) -> str:
        return str(self.inner.status)

    def close(self) -> None:
        self.inner.close()


@dataclass
class _LiveEnroll:
    job: Any  # enroll.service.Enrollment
    every_s: float
    max_samples: int
    capturing: bool = True
    due: float = 0.0
    camera: str = ""  # the camera it captures from ("": the first)


# ---------------------------------------------------------------------------------------------- helpers
def fit(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """``image`` scaled to fit ``size`` (w, h) keeping its aspect ratio; and the scale."""
    import cv2

    h, w = image.shape[:2]
    tw, th = max(1, int(size[0])), max(1, int(size[1]))
    s = min(tw / w, th / h)
    if abs(s - 1.0) < 0.01:
        return np.ascontiguousarray(image), 1.0
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    out = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return out, s


def scaled(result: Any, s: float) -> Any:
    """A shallow copy of ``result`` with face boxes and landmarks multiplied by ``s`` (for drawing)."""
    faces = [
        dataclasses.replace(
            f,
            box=np.asarray(f.box, np.float32) * s,
            landmarks=None if f.landmarks is None else np.asarray(f.landmarks, np.float32) * s,
        )
        for f in result.faces
    ]
    return dataclasses.replace(result, faces=faces)


def face_crops(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(thumbnail, crop with margin) of the face at ``box`` (BGR)."""
    from core.crops import clip_crop, fit_within, resize_to_height

    x1, y1, x2, y2 = (float(v) for v in box[:4])
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1, 8.0)
    half = side * CROP_SCALE / 2
    crop = clip_crop(image, int(cx - half), int(cy - half), int(cx + half), int(cy + half))
    if crop.size == 0:
        crop = np.zeros((8, 8, 3), np.uint8)
    crop, _ = fit_within(crop, CROP_MAX_PX)
    # the thumbnail is the face itself, a little margin only
    m = 0.1 * side
    fa = clip_crop(image, int(x1 - m), int(y1 - m), int(x2 + m), int(y2 + m))
    if fa.size == 0:
        fa = crop
    thumb = resize_to_height(fa, THUMB_PX)
    return thumb, np.ascontiguousarray(crop)


# ---------------------------------------------------------------------------------------------- worker
class InferenceWorker(TaskThread):
    frameReady = Signal()  # a new FrameView waits in the mailbox: call take_frame()
    eventsReady = Signal(object)  # list[EventView]
    switched = Signal(object)  # SwitchMark
    sessionStarted = Signal(object)  # SessionInfo
    sessionEnded = Signal(object)  # SessionInfo
    enrollStatus = Signal(object)  # EnrollStatus
    message = Signal(str)  # one line for the status bar

    def __init__(self, sampler: Any = None) -> None:
        super().__init__("facegate-inference")
        self.sampler = sampler
        self._annotators: dict[int, Any] = {}  # view height -> core.annotate.Annotator
        self.display_size: tuple[int, int] = (960, 540)  # a camera's frames scale to this ...
        self.display_sizes: dict[str, tuple[int, int]] = {}  # ... unless its tile has its own size
        self.stats: deque[StatsPoint] = deque(maxlen=5000)
        self.last_image: np.ndarray | None = None  # newest raw frame (warms new backends on it)
        self.frames_processed = 0  # read by the GUI (frames kept flowing during a switch?)
        self.cameras: list[CameraInfo] = []  # the session's cameras (a new list each update: GUI reads)
        self._cameras_at = 0.0
        self._mailbox: dict[str, FrameView] = {}
        self._mail_lock = threading.Lock()
        self._pending = False
        # thread-side state (touched only in this thread)
        self.built: Built | None = None
        self._session: _Session | None = None
        self._store: Any = None
        self._enroll: _LiveEnroll | None = None
        self._extras: Any = None  # gui.session_extras.SessionExtras of the session

    def _annotator(self, height: int) -> Any:
        """An annotator whose text is ~0.6 of OpenCV's font at 720 px, whatever the view height."""
        from core.annotate import Annotator

        a = self._annotators.get(height)
        if a is None:
            if len(self._annotators) > 8:  # the view was resized many times
                self._annotators.clear()
            base = max(0.5, min(2.0, height / 720))  # the scale Annotator applies itself
            want = max(0.45, min(0.8, 0.6 * height / 720))
            a = self._annotators[height] = Annotator(
                thickness=max(1, round(2 / base)), font_scale=want / base
            )
        return a

    # ------------------------------------------------------------------ GUI side
    def take_frames(self) -> list[FrameView]:
        """Each camera's newest frame since the last call (in camera order); re-arms ``frameReady``."""
        with self._mail_lock:
            views, self._mailbox = self._mailbox, {}
            self._pending = False
        return list(views.values())

    def take_frame(self) -> FrameView | None:
        """The newest frame of any camera (None if the GUI already took them); re-arms ``frameReady``."""
        views = self.take_frames()
        return max(views, key=lambda v: v.processed_ts) if views else None

    def drain_stats(self) -> list[StatsPoint]:
        out = []
        while True:
            try:
                out.append(self.stats.popleft())
            except IndexError:
                return out

    # ------------------------------------------------------------------ thread: loop
    def idle(self) -> None:
        s = self._session
        if s is None:
            self.run_pending(budget_s=0.05, wait_s=0.1)
            return
        self.run_pending(budget_s=0.03)
        s = self._session  # a task may have closed it
        if s is None or self.stopping:
            return
        cs = s.cameras
        self._restart_ended(s)
        try:
            done = cs.round(timeout=0.03)
        except Exception as err:  # noqa: BLE001 - one bad round must not end the session
            log.exception("a round of frames failed")
            self.message.emit(f"a frame failed: {err}")
            done = []
        for cam, result in done:
            try:
                self._process(s, cam, result)
            except Exception as err:  # noqa: BLE001 - one bad frame must not end the session
                log.exception("camera %s frame %d failed", cam.name, result.frame_index)
                self.message.emit(f"{cam.name}: frame {result.frame_index} failed: {err}")
        self._restart_ended(s)  # before the tiles hear of it: a looping file never shows "ended"
        self._update_cameras(s, force=bool(done) and len(cs.cameras) == 1)
        if not done and cs.ended and (not s.loop or len(s.gone) == len(cs.cameras)):
            self.close_session("the source ended" if len(cs.cameras) == 1 else "every camera ended")

    def finish(self) -> None:
        try:
            self.close_session("window closed")
        finally:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _update_cameras(self, s: _Session, force: bool = False) -> None:
        """Refresh :attr:`cameras` (what the tiles and the status bar say), ~4 times a second."""
        now = time.monotonic()
        if not force and now - self._cameras_at < 0.25:
            return
        self._cameras_at = now
        self.cameras = [
            CameraInfo(
                cam.name,
                cam.source.name,
                cam.state,
                cam.status,
                cam.engine.fps.fps(),
                float(cam.source.grabber.fps),
                cam.dropped,
                cam.captured,
                cam.frames,
                str(getattr(cam.source.grabber, "error", "") or ""),
                int(getattr(cam.source.grabber, "reconnects", 0)),
            )
            for cam in s.cameras.cameras
        ]

    # ------------------------------------------------------------------ thread: per frame
    def _process(self, s: _Session, cam: Any, result: Any) -> None:
        image = cam.last_image
        index = int(result.frame_index)
        s.last_index[cam.name] = index
        dropped = cam.dropped
        engine = cam.engine
        self.last_image = image
        self.frames_processed += 1
        crops = s.crops.setdefault(cam.name, {})
        for f in result.faces:
            if f.track_id is not None and (f.track_id not in crops or f.tracking.needs_recognition):
                crops[f.track_id] = face_crops(image, f.box)
        # the panel's rows and alerts come from the engine's logged events only, never from a face's
        # state before its decision (a face is "unknown" for a few frames while its votes come in)
        events = [self._event_view(cam, crops, ev) for ev in result.events]
        if events:
            self.eventsReady.emit(events)
        if engine.tracker is not None:
            active = {t.track_id for t in engine.tracker.tracks}
            for tid in [t for t in crops if t not in active]:
                del crops[tid]
        e = self._enroll
        if e is not None and e.capturing and (e.camera or s.cameras.cameras[0].name) == cam.name:
            self._enroll_step(image, cam, index)
        # annotate the frame at its tile's size, so labels stay readable however small the tile is
        small, scale = fit(image, self.display_sizes.get(cam.name, self.display_size))
        shown = result if scale == 1.0 else scaled(result, scale)
        display = self._annotator(small.shape[0]).annotate(small, shown, copy=small is image)
        fps = engine.fps.fps()
        capture_fps = cam.source.grabber.fps
        self.stats.append(
            StatsPoint(
                time.monotonic(),
                fps,
                capture_fps,
                dict(result.timings_ms),
                len(result.faces),
                result.recognized,
                dropped,
                cam.name,
            )
        )
        self._publish(
            FrameView(
                display,
                result,
                result.timestamp,
                time.time(),
                index,
                fps,
                capture_fps,
                dropped,
                cam.source.status,
                scale,
                cam.name,
                cam.state,
            )
        )

    def _event_view(self, cam: Any, crops: dict[int, Any], ev: Any) -> EventView:
        thumb, crop = crops.get(ev.track_id, (None, None))
        return EventView(
            ev.timestamp,
            ev.track_id,
            ev.identity,
            ev.distance,
            ev.decision,
            cam.engine.session_label,
            thumb,
            crop,
            event_id=ev.event_id,
            reason=ev.reason,
            kind=ev.kind,
            previous=ev.previous,
            camera=ev.camera or cam.name,
        )

    def _publish(self, view: FrameView) -> None:
        with self._mail_lock:
            self._mailbox[view.camera] = view
            notify = not self._pending
            self._pending = True
        if notify:
            self.frameReady.emit()

    def _restart_ended(self, s: _Session) -> None:
        if not s.loop:
            return
        for cam in s.cameras.cameras:
            if cam.source.ended and cam.name not in s.gone:
                try:
                    self._restart(s, cam)
                except Exception as err:  # noqa: BLE001 - the file went away: that camera ends
                    log.exception("restarting camera %s failed", cam.name)
                    s.gone.add(cam.name)
                    self.message.emit(f"{cam.name}: cannot start {cam.spec.source} again: {err}")

    def _restart(self, s: _Session, cam: Any) -> None:
        """A looping file ended: start it again. Its tracks end (the next round records and returns
        their events); frame indices keep increasing (the store keys frame rows by index)."""
        from core.sources import open_source

        if cam.engine.tracker is not None:
            cam.engine.tracker.end_all()
        old = cam.source
        spec = cam.spec.source
        offset = s.last_index.get(cam.name, -1) + LOOP_GAP
        dropped, captured = cam.dropped, cam.captured
        old.close()
        fresh = _LoopSource(open_source(spec, realtime=s.spec.realtime), offset, dropped, captured)
        fresh.grabber.wakeup = s.cameras.wakeup
        cam.source = fresh

    # ------------------------------------------------------------------ thread: tasks (worker.call(...))
    def _store_for(self, path: Path | None) -> Any:
        from db.store import store_at

        if path is None:
            raise RuntimeError("no identity store yet: start a session first")
        current, self._store = self._store, None
        self._store = store_at(current, path)
        return self._store

    def open_session(self, built: Built, spec: SourceSpec, extras: Any = None) -> SessionInfo:
        """Open ``spec``'s cameras and start recording a session with ``built`` (closing any session
        first). ``spec.spec`` is one source, or several ``NAME=SRC`` entries (see :func:`split_sources`).
        ``extras``: the retention applied and the integrations started on the store (gui/session_extras.py)."""
        from core.cameras import CameraSet, open_cameras, parse_sources
        from core.config import Config

        self.close_session("new session")
        specs = parse_sources(split_sources(spec.spec) or [spec.spec])
        opened = open_cameras(specs, realtime=spec.realtime)
        try:
            store = self._store_for(built.store_path)
            store.blur_unknown = False  # unless this session's settings say so
            if extras is not None:
                extras.open(store, self.message.emit)
            self._extras = extras
            cameras = CameraSet(
                built.pipeline,
                opened,
                store,
                mode=built.mode,
                sampler=self.sampler,
                tracker_config=Config.from_env().tracker,  # the one configuration (core/config.py)
            )
        except BaseException:
            for _, source in opened:
                source.close()
            self._close_extras()
            raise
        self.built = built
        self._session = _Session(spec, cameras)
        self._mailbox = {}
        self._update_cameras(self._session, force=True)
        label = cameras.cameras[0].engine.session_label
        info = SessionInfo(
            cameras.session_id,
            label,
            self._source_name(cameras),
            built.store_path,
            cameras=[c.name for c in cameras.cameras],
        )
        self.sessionStarted.emit(info)
        self.switched.emit(SwitchMark(time.monotonic(), "start", "session", built.build_ms))
        return info

    @staticmethod
    def _source_name(cameras: Any) -> str:
        cams = cameras.cameras
        return cams[0].source.name if len(cams) == 1 else ", ".join(c.name for c in cams)

    def close_session(self, reason: str = "stopped") -> SessionInfo | None:
        """Stop the cameras, end the tracks (their events), save the session. Idempotent."""
        s, self._session = self._session, None
        if s is None:
            return None
        cs = s.cameras
        before = {c.name: len(c.engine.stats.events) for c in cs.cameras}
        try:
            stats = cs.close()
        finally:
            events = [
                self._event_view(c, s.crops.get(c.name, {}), ev)
                for c in cs.cameras
                for ev in c.engine.stats.events[before[c.name] :]
            ]
            if events:
                self.eventsReady.emit(events)
            self._update_cameras(s, force=True)
        info = SessionInfo(
            cs.session_id,
            cs.cameras[0].engine.session_label,
            self._source_name(cs),
            self.built.store_path if self.built else None,
            sum(st.frames for st in stats.values()),
            sum(len(st.events) for st in stats.values()),
            reason,
            [c.name for c in cs.cameras],
        )
        # a restart or closing waits little for deliveries (the outbox keeps the rest for the next session)
        self._close_extras(reason in ("window closed", "restart", "new session"))
        self.sessionEnded.emit(info)
        return info

    def _close_extras(self, quick: bool = False) -> None:
        extras, self._extras = self._extras, None
        if extras is not None:
            line = extras.close(quick)
            if line:
                log.info("%s", line)
                self.message.emit(line)

    def apply(self, built: Built, requested_at_frame: int = 0) -> SwitchMark:
        """Swap in a built (and warmed) pipeline between two frames."""
        old = self.built
        if old is not None and built.model == old.model and built.changed != "session":
            # the gallery/threshold may have changed since the build started (an enrollment, the slider)
            built.local.gallery = old.local.gallery
            built.local.threshold = old.local.threshold
        self.built = built
        s = self._session
        if s is not None:
            s.cameras.swap(built.pipeline)
            for cam in s.cameras.cameras:
                cam.engine.mode = built.mode
        if self._enroll is not None and old is not None and built.model != old.model:
            self._enroll = None
            self.enrollStatus.emit(
                EnrollStatus(
                    False,
                    "enrollment cancelled: the recognizer model changed",
                    0,
                    0,
                    0,
                    0.0,
                    0.0,
                    False,
                    "start again",
                )
            )
        if old is not None and old.pipeline is not old.local and old.pipeline is not built.pipeline:
            close = getattr(old.pipeline, "close", None)
            if callable(close):
                close()
        if old is not None:
            from gui.release import close_replaced

            close_replaced(old, built)  # its memory goes once nothing refers to it (gui/release.py)
        mark = SwitchMark(
            time.monotonic(),
            built.label,
            built.changed,
            built.build_ms,
            self.frames_processed - requested_at_frame,
        )
        self.switched.emit(mark)
        return mark

    def set_threshold(self, model: str, threshold: float) -> bool:
        b = self.built
        if b is None or b.model != model:
            return False
        b.local.threshold = float(threshold)
        if b.local.gallery is not None:
            b.local.gallery.threshold = float(threshold)
        # a cloud/hybrid pipeline reads the local one's threshold (its ``threshold`` is read-only)
        return True

    def reload_gallery(self) -> int:
        """Re-read the identities of the current model (after an enrollment, rename, remove, policy)."""
        b = self.built
        if b is None:
            return 0
        from app.session import load_gallery

        store = self._store_for(b.store_path)
        b.local.gallery = load_gallery(store, b.model, b.local.threshold)
        return len(b.local.gallery)

    def flush(self) -> str:
        """Write the session's pending frame rows to the store; returns the session id."""
        s = self._session
        if s is None:
            return ""
        for cam in s.cameras.cameras:
            cam.engine.flush()
        return str(s.cameras.session_id)

    @property
    def session_id(self) -> str:
        s = self._session
        return str(s.cameras.session_id) if s is not None else ""

    # ------------------------------------------------------------------ thread: enrollment
    def _new_job(self, name: str, min_samples: int = 1, require_pose_spread: float = 0.0) -> Any:
        from enroll.service import Enrollment

        b = self.built
        if b is None:
            raise RuntimeError("the backends are not ready yet")
        return Enrollment(
            name.strip(),
            b.local.detector,
            b.local.recognizer,
            self._store_for(b.store_path),
            min_samples=min_samples,
            require_pose_spread=require_pose_spread,
            threshold=float(b.local.threshold),
        )

    def enroll_start(
        self,
        name: str,
        live: bool,
        min_samples: int = 5,
        require_pose_spread: float = 0.2,
        every_s: float = 0.25,
        max_samples: int = 15,
        camera: str = "",
    ) -> EnrollStatus:
        """Start an enrollment; ``live``: sample the frames of ``camera`` ("": the first camera)."""
        job = self._new_job(name, min_samples if live else 1, require_pose_spread if live else 0.0)
        self._enroll = _LiveEnroll(job, every_s, max_samples, capturing=live, camera=camera)
        return self._status(True, "waiting for a frame" if live else "add photos")

    def enroll_capture(self, on: bool) -> None:
        if self._enroll is not None:
            self._enroll.capturing = bool(on)

    def _status(
        self, ok: bool, reason: str, crop: bytes | None = None, paused: bool = False, done: bool = False
    ) -> EnrollStatus:
        e = self._enroll
        assert e is not None
        job = e.job
        return EnrollStatus(
            ok,
            reason,
            len(job.samples),
            job.min_samples,
            e.max_samples,
            job.pose_spread,
            job.require_pose_spread,
            job.ready,
            job.guidance(),
            crop,
            paused,
            done,
        )

    def _enroll_step(self, image: np.ndarray, cam: Any, index: int) -> None:
        e = self._enroll
        assert e is not None
        now = time.monotonic()
        if now < e.due:
            return
        e.due = now + e.every_s
        if len(e.job.samples) >= e.max_samples:
            e.capturing = False
            self.enrollStatus.emit(
                self._status(False, f"{e.max_samples} samples taken; that is enough: press Next", done=True)
            )
            return
        n = len(e.job.samples)
        check = e.job.add_live_frame(image, f"live:{cam.name}:{cam.source.name}#{index}")
        crop = e.job.samples[-1].crop_jpeg if len(e.job.samples) > n else None
        done = e.job.ready and e.job.pose_ok
        if done:
            e.capturing = False
        self.enrollStatus.emit(self._status(check.ok, check.reason, crop, check.paused, done))

    def enroll_photo(self, path: str) -> dict[str, Any]:
        """Check one photo for the enrollment in progress: {"path", "ok", "reason", "quality"}."""
        from core.errors import FaceGateError
        from core.imageio import load_image

        e = self._enroll
        if e is None:
            raise RuntimeError("no enrollment in progress")
        try:
            sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            n = len(e.job.samples)
            check = e.job.add_image(load_image(path), str(path), image_sha256=sha)
        except (FaceGateError, OSError) as err:
            return {"path": path, "ok": False, "reason": str(err), "quality": 0.0}
        except Exception as err:  # noqa: BLE001 - one bad photo is one line; the others go on
            log.exception("enrolling %s failed", path)
            return {
                "path": path,
                "ok": False,
                "reason": f"{path}: {type(err).__name__}: {err}",
                "quality": 0.0,
            }
        crop = e.job.samples[-1].crop_jpeg if len(e.job.samples) > n else None
        self.enrollStatus.emit(self._status(check.ok, check.reason, crop))
        return {"path": path, "ok": check.ok, "reason": check.reason, "quality": check.quality}

    def enroll_samples(self) -> dict[str, Any]:
        """The samples taken so far (crop JPEGs, quality, source) and who they look like."""
        e = self._enroll
        if e is None:
            return {"samples": [], "lookalike": None}
        b = self.built
        thr = e.job.match_threshold
        samples = [
            {
                "crop": smp.crop_jpeg,
                "quality": smp.quality,
                "source": smp.source,
                "yaw": smp.yaw,
                "distance": d,  # to the mean of the other samples (None with fewer than 3)
                "outlier": d is not None and d > thr,  # as Enrollment.outliers(), from one computation
            }
            for smp, d in zip(e.job.samples, e.job.sample_distances())
        ]
        return {
            "samples": samples,
            "lookalike": e.job.lookalike(b.local.threshold if b else None),
            "threshold": e.job.match_threshold,
        }

    def enroll_drop(self, indices: list[int]) -> int:
        e = self._enroll
        if e is None:
            return 0
        drop = set(indices)
        e.job.samples = [smp for i, smp in enumerate(e.job.samples) if i not in drop]
        return len(e.job.samples)

    def enroll_save(self, policy: str, schedule: str = "") -> tuple[str, int]:
        e = self._enroll
        if e is None:
            raise RuntimeError("no enrollment in progress")
        if not e.job.samples:
            raise RuntimeError("no sample to save")
        n = e.job.save(policy=policy, schedule=schedule)
        self._enroll = None
        self.reload_gallery()
        return e.job.name, n

    def enroll_cancel(self) -> None:
        self._enroll = None

    def enroll_face(
        self, name: str, policy: str | None, crop_bgr: np.ndarray, source: str
    ) -> tuple[bool, str, int]:
        """Enroll ``name`` from one face crop (an access event's face: "this is not X, it is Y")."""
        job = self._new_job(name)
        check = job.add_image(crop_bgr, source)
        if not check.ok:
            return False, check.reason, 0
        n = job.save(policy=policy)
        self.reload_gallery()
        return True, "ok", n
