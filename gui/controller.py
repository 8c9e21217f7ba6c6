"""The session and backend-switch state machine of the operator window, without a widget.

The window drives a :class:`SessionController` (``start``, ``stop``, ``switch``, ``shutdown``) and
redraws on its signals; the controller drives the inference worker and the builder thread. Every call
into them is ``thread.call(fn, ..., done=..., failed=...)`` and the callbacks run on the GUI thread, so
the controller's state is only ever touched there (``_chain`` excepted: the builder thread's own).

States::

    idle --start--> starting: the worker closes any session, the builder builds (or reuses) backends,
                    the worker opens the source with them
    starting --worker.sessionStarted--> running
    starting --a build or the source fails--> idle (``startFailed``)
    running --stop, or the source ends--> idle (``worker.sessionEnded``)

A switch (detector, recognizer or mode) while a session exists builds on top of the newest build, off
the GUI thread, while the video keeps running; the worker then swaps it in between two frames. A newer
choice of the same kind makes an older build stale (a generation per kind); a failed build keeps what
runs. Once ``shutdown`` began, finished builds are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.errors import FaceGateError
from gui.backends import (
    Built,
    Choice,
    RemoteSettings,
    backend_choices,
    build_session,
    build_switch,
    mode_choices,
    remote_factory,
)
from gui.settings import Settings
from gui.views import SessionInfo, SourceSpec, SwitchMark

log = logging.getLogger(__name__)

KINDS = ("detector", "recognizer", "mode")
BUILD_NOTICE_MS = 60000  # "building…" stays up while a switch builds


def default_source() -> str:
    """A camera when this machine has one, else the demo (a first launch shows faces being recognised)."""
    return "0" if Path("/dev/video0").exists() else "demo"


class SessionController(QObject):
    """Owns what runs: the wanted and applied backends, the session, and the start/stop/switch steps.

    ``worker`` is the :class:`gui.worker.InferenceWorker` (or anything with its ``call``,
    ``close_session``, ``open_session``, ``apply``, ``set_threshold``, ``last_image``,
    ``frames_processed`` and ``sessionStarted``/``sessionEnded`` signals); ``builder`` a
    :class:`gui.tasks.TaskThread`. Neither is started or stopped here except by :meth:`shutdown`.
    """

    notice = Signal(str, int)  # one line for the operator, how long to keep it (ms; 0 = the default)
    choiceShown = Signal(str, str)  # kind, key: the dropdown shows this key (without switching)
    choicesChanged = Signal(str)  # kind: the entries of that dropdown changed (refill it)
    stateChanged = Signal()  # running / starting changed (the start/stop button)
    startRequested = Signal(str)  # source spec: a start began
    startFailed = Signal(str)  # why: no session runs
    sessionOpened = Signal(object, object)  # Built, SourceSpec: the worker opened the source with it
    sessionStarted = Signal(object)  # SessionInfo
    sessionStopped = Signal(object)  # SessionInfo: the current session ended (not while closing)
    sessionEnded = Signal(object)  # SessionInfo: any session ended (as the worker said)
    switchApplied = Signal(str, object, object)  # kind, Built, SwitchMark
    switchRefused = Signal(str, str)  # kind, reason (unavailable choice, or its build failed)
    exported = Signal(object)  # (frames rows, events, frames path, events path)
    building = Signal(str, str)  # kind ("session" for a start), what loads ("" : that build is over)

    def __init__(
        self,
        worker: Any,
        builder: Any,
        settings: Settings,
        db: Path | None = None,
        detector: str | None = None,
        recognizer: str | None = None,
        threshold: float | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__()
        from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER

        self.worker = worker
        self.builder = builder
        self.settings = settings
        self.db_path = db
        self.threshold_override = threshold
        self.want = {
            "detector": detector or settings.detector or DEFAULT_DETECTOR,
            "recognizer": recognizer or settings.recognizer or DEFAULT_RECOGNIZER,
            "mode": settings.mode,
        }
        self.applied: dict[str, str] = {}  # what the worker runs now
        self.source_spec = source or settings.source or default_source()
        self.built: Built | None = None  # the worker's backends (as last applied)
        self._chain: Built | None = None  # the newest built, read and written only on the builder thread
        self._gen = dict.fromkeys(KINDS, 0)
        self._building: set[str] = set()  # kinds with a build on its way
        self.session: SessionInfo | None = None
        self.running = False
        self.starting = False
        self.closing = False
        self._start_gen = 0  # each start's number: a build for an older one is dropped
        self.choices: dict[str, dict[str, Choice]] = {kind: {} for kind in KINDS}
        self.remote_error: str | None = "checking the deploy client…"
        worker.sessionStarted.connect(self._on_session_started)
        worker.sessionEnded.connect(self._on_session_ended)

    def _say(self, text: str, ms: int = 0) -> None:
        self.notice.emit(text, ms)

    # ================================================================== choices
    def load_choices(self) -> None:
        """List every backend and mode with why it is unavailable (a failed listing leaves them empty)."""
        try:
            dets, recs = backend_choices()
        except Exception as err:  # noqa: BLE001 - show the window anyway, with the reason
            log.exception("listing backends failed")
            dets, recs = [], []
            self._say(f"cannot list backends: {err}")
        self.choices = {
            "detector": {c.key: c for c in dets},
            "recognizer": {c.key: c for c in recs},
            "mode": {c.key: c for c in mode_choices(self.settings.remote, self.remote_error)},
        }

    def check_remote(self) -> None:
        """Ask (on the builder) whether the deploy client is there; the modes follow the answer."""
        self.builder.call(remote_factory, done=self._remote_checked)

    def _remote_checked(self, result: tuple[Any, str | None]) -> None:
        self.remote_error = result[1]
        self._refresh_modes()

    def _refresh_modes(self, remote: RemoteSettings | None = None) -> None:
        remote = self.settings.remote if remote is None else remote
        self.choices["mode"] = {c.key: c for c in mode_choices(remote, self.remote_error)}
        self.choicesChanged.emit("mode")

    def apply_settings(self, remote: RemoteSettings, loop_files: bool) -> None:
        """The Settings dialog was accepted: saved, and cloud/hybrid offered as the endpoint allows."""
        self.settings.remote = remote
        self.settings.loop_files = loop_files
        self._refresh_modes(remote)

    def current(self, kind: str) -> str:
        """The key of ``kind`` that runs, else the one wanted."""
        return self.applied.get(kind) or self.want[kind]

    # ================================================================== switch
    def switch(self, kind: str, key: str) -> bool:
        """Build ``key`` for ``kind`` off the GUI thread and swap it in between frames. An unavailable
        choice is refused with its reason and the running one kept. Returns False when refused."""
        choice = self.choices[kind].get(key)
        current = self.current(kind)
        if choice is None or not choice.available:
            reason = choice.reason if choice is not None else "not in the registry"
            self.choiceShown.emit(kind, current)
            self._say(f"{key} unavailable: {reason}; still running {current}")
            self.switchRefused.emit(kind, f"{key}: {reason}")
            return False
        self.choiceShown.emit(kind, key)
        self.want[kind] = key
        self._gen[kind] += 1
        if self.built is None:  # nothing runs yet: the next session starts with it
            self._persist_choice(kind, key)
            return True
        if key == self.applied.get(kind) and kind not in self._building:
            return True
        self._request_switch(kind, key)
        return True

    def _request_switch(self, kind: str, key: str) -> None:
        gen = self._gen[kind]
        self._building.add(kind)
        model = key.partition(":")[0]
        threshold = self.threshold_for(model) if kind == "recognizer" else None
        requested_at = self.worker.frames_processed
        self._say(f"building {key}… (the video keeps running)", BUILD_NOTICE_MS)
        self.building.emit(kind, loading_text(key))
        self.builder.call(
            self._job_switch,
            kind,
            key,
            threshold,
            self.settings.remote,
            self.worker.last_image,
            done=lambda b: self._switch_built(kind, gen, b, requested_at),
            failed=lambda why: self._switch_failed(kind, gen, key, why),
        )

    def _job_switch(
        self, kind: str, key: str, threshold: float | None, remote: RemoteSettings, frame: Any
    ) -> Built:
        """Builder thread: build on the newest built (so switches of different kinds compose)."""
        base = self._chain
        if base is None:
            raise RuntimeError("no session has started yet")
        built = build_switch(kind, key, base, base.store_path, threshold, remote, frame)
        self._chain = built
        return built

    def _switch_built(self, kind: str, gen: int, built: Built, requested_at: int) -> None:
        if gen != self._gen[kind] or self.closing:
            return  # a newer choice of the same kind is on its way (built on top of this one)
        self.worker.call(
            self.worker.apply,
            built,
            requested_at,
            done=lambda mark: self._switch_applied(kind, built, mark),
            failed=lambda why: self._switch_failed(kind, gen, built.label, why),
        )

    def _switch_applied(self, kind: str, built: Built, mark: SwitchMark) -> None:
        self._building.discard(kind)
        self.building.emit(kind, "")
        self.built = built  # the old build is referred to by nothing now: its memory can go
        from gui.release import release_memory, uses_tensorflow

        self.builder.call(  # on the builder thread, where the newest build (maybe TensorFlow) lives
            lambda: release_memory(uses_tensorflow(built) or uses_tensorflow(self._chain)),
            done=lambda mb: log.info("after the switch to %s: RSS %.0f MB", built.label, mb),
        )
        self._sync_applied(built)
        self._persist_choice(kind, self.applied[kind])
        self.switchApplied.emit(kind, built, mark)
        self._say(
            f"switched to {built.label}: built in {built.build_ms:.0f} ms, "
            f"{mark.frames_during_build} frames processed meanwhile"
        )

    def _switch_failed(self, kind: str, gen: int, key: str, why: str) -> None:
        if gen == self._gen[kind]:
            self._building.discard(kind)
            self.building.emit(kind, "")
            self.want[kind] = self.applied.get(kind, self.want[kind])
            self.choiceShown.emit(kind, self.want[kind])
        self._say(f"cannot switch to {key}: {why}; still running {self.applied.get(kind, '-')}")
        self.switchRefused.emit(kind, f"{key}: {why}")

    def _sync_applied(self, built: Built) -> None:
        self.applied = {
            "detector": built.detector_key,
            "recognizer": built.recognizer_key,
            "mode": built.mode,
        }
        for kind in KINDS:
            self.choiceShown.emit(kind, self.applied[kind])

    def _persist_choice(self, kind: str, key: str) -> None:
        setattr(self.settings, kind, key)

    # ================================================================== thresholds
    def threshold_for(self, model: str) -> float | None:
        """The threshold a build of ``model`` starts with: --threshold for the wanted model, else the
        saved one (None: the model's default)."""
        if self.threshold_override is not None and model == self.want["recognizer"].partition(":")[0]:
            return float(self.threshold_override)
        return self.settings.threshold(model)

    def set_threshold(self, model: str, value: float) -> None:
        """The operator moved the slider: saved, and the running matcher uses it from the next frame."""
        self.settings.set_threshold(model, value)
        self.threshold_override = None
        self.worker.call(self.worker.set_threshold, model, value)

    # ================================================================== sessions
    def store_path_for(self, spec: str) -> tuple[Path, bool]:
        """(identity store, does the demo play): ONE store whatever the source (--db, else the default),
        so people enrolled during the demo are there on a camera; the demo's people live in it, marked."""
        from core.paths import default_db_path
        from gui.views import split_sources

        entries = split_sources(spec) or [spec]
        demo = any(e == "demo" or e.endswith("=demo") for e in entries)
        return (self.db_path if self.db_path is not None else default_db_path()), demo

    def store_path(self) -> Path:
        """The identity store of the running backends, else the one the current source would open."""
        if self.built is not None and self.built.store_path is not None:
            return self.built.store_path
        return self.store_path_for(self.source_spec)[0]

    def source_for(self, spec: str) -> SourceSpec:
        """What the worker opens: one source, or several ``NAME=SRC`` entries (``;`` between them)."""
        from gui.views import split_sources

        entries = split_sources(spec) or [spec.strip()]
        entries = [e.split(None, 1)[1] if e.lower().startswith("camera ") else e for e in entries]
        return SourceSpec("; ".join(entries), realtime=True, loop=self.settings.loop_files)

    def start(self, spec: str) -> None:
        """Start (or restart on another source) a session: build backends, open the source, record."""
        if self.closing:
            return
        spec = spec.strip() or "demo"
        self.source_spec = spec
        self._start_gen += 1
        gen = self._start_gen
        self.starting = True
        self.startRequested.emit(spec)
        self.stateChanged.emit()
        src = self.source_for(spec)
        store_path, demo = self.store_path_for(src.spec)
        try:  # retention and integrations (the Settings dialog): a bad saved value is one line, no start
            from gui.session_extras import SessionExtras

            extras = SessionExtras.from_settings(self.settings)
        except (FaceGateError, ValueError) as err:
            self._start_failed(str(err))
            return
        want = dict(self.want)
        threshold = self.threshold_for(want["recognizer"].partition(":")[0])
        self.building.emit("session", loading_text(want["recognizer"]))
        self.worker.call(
            self.worker.close_session,
            "restart",
            done=lambda _: self.builder.call(
                self._job_session,
                want,
                store_path,
                demo,
                threshold,
                self.settings.remote,
                self.worker.last_image,
                done=lambda b: self._session_built(b, src, gen, extras),
                failed=self._start_failed,
            ),
        )

    def _job_session(
        self,
        want: dict[str, str],
        store_path: Path,
        demo: bool,
        threshold: float | None,
        remote: RemoteSettings,
        frame: Any,
    ) -> Built:
        """Builder thread: reuse the built backends when the choice is the same, else build them."""
        chain = self._chain
        if chain is not None and _same_choice(chain, want, store_path):
            built = _reopen(chain, store_path, demo, threshold)
        else:
            built = _build_or_defaults(want, store_path, demo, threshold, remote, frame)
        self._chain = built
        return built

    def _session_built(self, built: Built, src: SourceSpec, gen: int, extras: Any = None) -> None:
        if self.closing:
            return
        if gen != self._start_gen:  # stopped (or restarted) while it was building
            return
        for note in built.notes:
            self._say(note)
        self.worker.call(
            self.worker.open_session,
            built,
            src,
            *((extras,) if extras is not None else ()),
            done=lambda info: self._session_opened(built, src),
            failed=self._start_failed,
        )

    def _session_opened(self, built: Built, src: SourceSpec) -> None:
        self.building.emit("session", "")
        self.built = built
        self._sync_applied(built)
        self.want.update(self.applied)
        self.settings.source = src.spec
        for kind in KINDS:
            self._persist_choice(kind, self.applied[kind])
        self.sessionOpened.emit(built, src)

    def _start_failed(self, why: str) -> None:
        self.building.emit("session", "")
        self.starting = False
        self.running = False
        self.startFailed.emit(why)
        self._say(f"cannot start: {why}")
        self.stateChanged.emit()

    def stop(self) -> None:
        """Stop what runs; a start still building is called off (its build is dropped when it lands)."""
        if self.starting and not self.running:
            self._start_gen += 1
            self.starting = False
            self.building.emit("session", "")
            self.stateChanged.emit()
        self.worker.call(self.worker.close_session, "stopped by the operator")

    def toggle(self, spec: str) -> None:
        """Stop what runs or starts; else start ``spec``."""
        if self.running or self.starting:
            self.stop()
        else:
            self.start(spec)

    def frame_shown(self) -> None:
        """The view showed a frame: a start is over."""
        if self.starting:
            self.starting = False

    def _on_session_started(self, info: SessionInfo) -> None:
        self.session = info
        self.running, self.starting = True, False
        self.sessionStarted.emit(info)
        self.stateChanged.emit()

    def _on_session_ended(self, info: SessionInfo) -> None:
        if self.session is not None and info.session_id == self.session.session_id:
            self.running = False
            self.starting = False
            self.stateChanged.emit()
            if not self.closing:
                self.sessionStopped.emit(info)
        self.sessionEnded.emit(info)

    # ================================================================== export
    def export_session(
        self,
        session_id: str,
        frames: Path,
        events: Path,
        done: Callable[[Any], Any] | None = None,
        failed: Callable[[str], Any] | None = None,
    ) -> None:
        """Write a session's frames and events CSVs on the builder thread (the running session is
        flushed to the store first); ``exported`` with (frame rows, events, frames path, events path)."""
        store_path = self.store_path()
        self.settings.set("export/folder", str(Path(frames).parent))

        def finished(result: Any) -> None:
            self._say(f"wrote {result[0]} frame rows to {result[2]} and {result[1]} events to {result[3]}")
            self.exported.emit(result)
            if done is not None:
                done(result)

        def fail(why: str) -> None:
            self._say(f"export failed: {why}")
            if failed is not None:
                failed(why)

        def run(_: Any = None) -> None:
            self.builder.call(
                _export_job, store_path, session_id, Path(frames), Path(events), done=finished, failed=fail
            )

        if self.session is not None and session_id == self.session.session_id and self.running:
            self.worker.call(self.worker.flush, done=run, failed=fail)
        else:
            run()

    # ================================================================== shutdown
    def begin_shutdown(self) -> bool:
        """From now on finished builds are dropped and no start begins; False when it had begun."""
        if self.closing:
            return False
        self.closing = True
        return True

    def shutdown(self) -> None:
        """End the session (saved in the store by the worker) and stop both threads, waiting for them."""
        self.begin_shutdown()
        self.worker.stop()  # ends the session in its thread: tracks closed, rows flushed, session ended
        self.builder.stop()

    @property
    def threads_running(self) -> list[str]:
        return [t.objectName() for t in (self.worker, self.builder) if t.isRunning()]


# ---------------------------------------------------------------------------------------------- builder steps
RUNTIME_NAMES = {"tensorflow": "TensorFlow", "onnx": "ONNX Runtime", "tflite": "TensorFlow Lite"}


def loading_text(key: str) -> str:
    """``facenet512:tensorflow`` -> ``Loading facenet512 on TensorFlow``."""
    model, _, runtime = key.partition(":")
    return f"Loading {model} on {RUNTIME_NAMES.get(runtime, runtime)}" if runtime else f"Loading {model}"


def _export_job(store_path: Path, session_id: str, frames: Path, events: Path) -> tuple[int, int, Path, Path]:
    from core.recording import export_session
    from db.store import Store

    store = Store(store_path)
    try:
        n_frames, n_events = export_session(store, session_id, frames, events)
    finally:
        store.close()
    return n_frames, n_events, frames, events


def _same_choice(chain: Built, want: dict[str, str], store_path: Path) -> bool:
    """Does the newest build run the wanted backends on the same store (then a restart reuses it)?"""
    return (
        chain.detector_key == want["detector"]
        and chain.recognizer_key == want["recognizer"]
        and chain.mode == want["mode"]
        and chain.store_path == Path(store_path)
    )


def _reopen(chain: Built, store_path: Path, demo: bool, threshold: float | None) -> Built:
    """Builder thread: the built backends again, with the store's gallery read anew (a new session)."""
    from app.session import local_pipeline, open_store

    rec = chain.local.recognizer
    # with ``demo`` the demo's people, once (a file or camera may have started this store)
    store = open_store(store_path, rec, chain.local.detector, demo)
    try:
        local = local_pipeline(chain.local.detector, rec, store, threshold)
    finally:
        store.close()
    pipe = local if chain.mode == "local" else chain.pipeline
    if pipe is not local:
        chain.local.gallery, chain.local.threshold = local.gallery, local.threshold
        local = chain.local
    return Built(
        local,
        pipe,
        chain.mode,
        0.0,
        "session",
        f"{chain.detector_key} + {chain.recognizer_key}",
        Path(store_path),
    )


def _build_or_defaults(
    want: dict[str, str],
    store_path: Path,
    demo: bool,
    threshold: float | None,
    remote: RemoteSettings,
    frame: Any,
) -> Built:
    """Builder thread: build the wanted backends; when they fail, the defaults (with a note saying so)."""
    try:
        return build_session(
            want["detector"], want["recognizer"], store_path, demo, threshold, want["mode"], remote, frame
        )
    except Exception as err:  # noqa: BLE001 - e.g. a saved backend that no longer loads
        from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER

        if (want["detector"], want["recognizer"]) == (DEFAULT_DETECTOR, DEFAULT_RECOGNIZER):
            raise
        built = build_session(
            DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, store_path, demo, None, "local", remote, frame
        )
        built.notes.append(
            f"{want['detector']} + {want['recognizer']} failed ({err}); started with the defaults"
        )
        return built
