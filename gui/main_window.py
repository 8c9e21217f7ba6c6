"""The operator window: live annotated video, source and backend/mode pickers, access panel, plots.

Thread layout and the frame mailbox: see gui/worker.py. Every call into the worker or the builder is
``thread.call(fn, ..., done=..., failed=...)``; the callbacks run here, on the GUI thread.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QToolBar,
    QWidget,
)

from gui.access import AccessPanel, pixmap_from_bgr
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
from gui.filedialog import get_open_file_name
from gui.plots import PlotsPanel
from gui.settings import Settings
from gui.tasks import TaskThread
from gui.video import VideoView
from gui.worker import EventView, FrameView, InferenceWorker, SessionInfo, SourceSpec, SwitchMark

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
KINDS = ("detector", "recognizer", "mode")
NOTICE_MS = 15000


def default_source() -> str:
    """A camera when this machine has one, else the demo (a first launch shows faces being recognised)."""
    return "0" if Path("/dev/video0").exists() else "demo"


def _export_job(store_path: Path, session_id: str, frames: Path, events: Path) -> tuple[int, int, Path, Path]:
    from core.recording import export_session
    from db.store import Store

    store = Store(store_path)
    try:
        n_frames, n_events = export_session(store, session_id, frames, events)
    finally:
        store.close()
    return n_frames, n_events, frames, events


class MainWindow(QMainWindow):
    frameShown = Signal(object)  # FrameView handed to the video view
    backendSwitched = Signal(object)  # SwitchMark: the first frame with new backends was processed
    switchRefused = Signal(str, str)  # kind, reason (unavailable choice, or its build failed)
    sessionStarted = Signal(object)  # SessionInfo
    sessionEnded = Signal(object)  # SessionInfo
    enrolled = Signal(str, int)  # name, samples stored
    exported = Signal(object)  # (frames rows, events, frames path, events path)
    notice = Signal(str)

    def __init__(
        self,
        settings: Settings | None = None,
        db: str | None = None,
        detector: str | None = None,
        recognizer: str | None = None,
        threshold: float | None = None,
        source: str | None = None,
        sampler: Any = None,
    ) -> None:
        super().__init__()
        from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER
        from core.telemetry import Sampler

        self.settings = settings or Settings()
        self.db_path = Path(db).expanduser() if db else None
        self.threshold_override = threshold
        self.want = {
            "detector": detector or self.settings.detector or DEFAULT_DETECTOR,
            "recognizer": recognizer or self.settings.recognizer or DEFAULT_RECOGNIZER,
            "mode": self.settings.mode,
        }
        self.applied: dict[str, str] = {}  # what the worker runs now
        self.source_spec = source or self.settings.source or default_source()
        self.built: Built | None = None  # the worker's backends (as last applied)
        self._chain: Built | None = None  # the newest built, read and written only on the builder thread
        self._gen = dict.fromkeys(KINDS, 0)
        self._building: set[str] = set()  # kinds with a build on its way
        self.session: SessionInfo | None = None
        self.running = False
        self.starting = False
        self.frames_shown = 0
        self.last_view: FrameView | None = None
        self.last_notice = ""
        self._closing = False
        self._gui_store: Any = None
        self._history_of: Path | None = None  # the store whose past events the access panel shows
        self._wizard: Any = None
        self._fullscreen_state: tuple[Any, ...] | None = None
        self.remote_error: str | None = "checking the deploy client…"

        self.setWindowTitle("FaceGate — access control monitor")
        icon = RESOURCES / "icons" / "facegate.svg"
        if icon.exists():
            self.setWindowIcon(QIcon(str(icon)))
        self.sampler = sampler or Sampler()
        self._own_sampler = sampler is None
        self.worker = InferenceWorker(self.sampler)
        self.builder = TaskThread("facegate-builder")

        self._build_ui()
        self._wire()
        self._fill_backends()
        geo, state = self.settings.layout()
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1440, 900)
        if state is not None:
            self.restoreState(state)

        self.sampler.start()
        self.worker.start()
        self.builder.start()
        self.plots.start(self.worker.drain_stats, self.sampler, lambda: self.video.frames_painted)
        self.builder.call(remote_factory, done=self._remote_checked)

    # ================================================================== UI

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        """A movable, floatable dock holding ``widget`` (``name`` keys the saved layout)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def _build_ui(self) -> None:
        self.video = VideoView()
        self.setCentralWidget(self.video)

        # source toolbar
        tb = QToolBar("Source")
        tb.setObjectName("sourceToolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(tb)
        tb.addWidget(QLabel(" Source "))
        self.source_combo = QComboBox()
        self.source_combo.setEditable(True)
        self.source_combo.setMinimumContentsLength(16)
        self.source_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.source_combo.setToolTip(
            "demo, a camera index (0), a video file, an image folder, or an rtsp:// URL"
        )
        for spec in dict.fromkeys(["demo", "0", *self.settings.recent_sources, self.source_spec]):
            self.source_combo.addItem(spec)
        self.source_combo.setCurrentText(self.source_spec)
        self.source_combo.lineEdit().returnPressed.connect(
            lambda: self.start(self.source_combo.currentText())
        )
        self.source_combo.activated.connect(lambda _: self.start(self.source_combo.currentText()))
        tb.addWidget(self.source_combo)
        self.open_action = QAction("Open…", self)
        self.open_action.setToolTip("Open a video file (Ctrl+O)")
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self._open_file)
        tb.addAction(self.open_action)
        self.start_action = QAction("▶ Start", self)
        self.start_action.setShortcuts([QKeySequence("F5"), QKeySequence("Ctrl+R")])
        self.start_action.setToolTip("Start / stop (F5)")
        self.start_action.triggered.connect(self.toggle)
        tb.addAction(self.start_action)

        # backends toolbar
        bt = QToolBar("Backends")
        bt.setObjectName("backendsToolbar")
        self.addToolBar(bt)
        self.combos: dict[str, QComboBox] = {}
        for kind, label in (("detector", " Detector "), ("recognizer", " Recognizer "), ("mode", " Mode ")):
            bt.addWidget(QLabel(label))
            combo = QComboBox()
            combo.setObjectName(f"{kind}Combo")
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.setModel(QStandardItemModel(combo))
            self.combos[kind] = combo
            bt.addWidget(combo)

        # docks
        self.access = AccessPanel()
        self.access.sound.setChecked(self.settings.alert_sound)
        self.access_dock = self._dock(
            "Access", "accessDock", self.access, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.plots = PlotsPanel()
        self.plots_dock = self._dock(
            "Performance", "plotsDock", self.plots, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.resizeDocks([self.access_dock], [420], Qt.Orientation.Horizontal)
        self.resizeDocks([self.plots_dock], [220], Qt.Orientation.Vertical)

        # menus
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.open_action)
        self.export_action = m.addAction("Export session…", self.open_export)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        m.addAction("Settings…", self.open_settings).setShortcut(QKeySequence("Ctrl+,"))
        m.addSeparator()
        quit_action = m.addAction("Quit", self.close)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        m = mb.addMenu("&People")
        self.enroll_action = m.addAction("Enroll a person…", self.open_enroll)
        self.enroll_action.setShortcut(QKeySequence("Ctrl+N"))
        m.addAction("Identities…", self.open_identities).setShortcut(QKeySequence("Ctrl+I"))
        m = mb.addMenu("&View")
        self.fullscreen_action = m.addAction("Full-screen video", self.toggle_fullscreen)
        self.fullscreen_action.setShortcuts([QKeySequence("F11"), QKeySequence("Ctrl+F")])
        m.addAction(self.access_dock.toggleViewAction())
        m.addAction(self.plots_dock.toggleViewAction())
        self.leave_fullscreen = QAction(self)
        self.leave_fullscreen.setShortcut(QKeySequence("Esc"))
        self.leave_fullscreen.triggered.connect(lambda: self._fullscreen_state and self.toggle_fullscreen())
        self.addAction(self.leave_fullscreen)
        m = mb.addMenu("&Help")
        m.addAction("Keyboard shortcuts", self._show_shortcuts)

        # status bar
        sb = self.statusBar()
        self.notice_label = QLabel()
        self.notice_label.setObjectName("notice")
        self.status_source = QLabel()
        self.status_perf = QLabel()
        self.status_session = QLabel()
        sb.addWidget(self.notice_label, 1)
        for w in (self.status_source, self.status_perf, self.status_session):
            sb.addPermanentWidget(w)
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(lambda: self.notice_label.setText(""))
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(500)
        self.status_timer.timeout.connect(self._update_status)
        self.status_timer.start()

    def _wire(self) -> None:
        w = self.worker
        w.frameReady.connect(self._on_frame_ready)
        w.eventsReady.connect(self.access.add_events)  # rows and alerts: logged events only
        w.switched.connect(self._on_switched)
        w.sessionStarted.connect(self._on_session_started)
        w.sessionEnded.connect(self._on_session_ended)
        w.message.connect(self.say)
        self.video.displaySizeChanged.connect(self._display_size)
        self.video.doubleClicked.connect(self.toggle_fullscreen)
        for kind, combo in self.combos.items():
            combo.currentIndexChanged.connect(lambda _i, k=kind: self._combo_changed(k))
        self.access.thresholdChanged.connect(self._threshold_changed)
        self.access.notThisPerson.connect(self._not_this_person)
        self.access.enrollFace.connect(self._enroll_face)
        self.access.alertSoundChanged.connect(lambda on: setattr(self.settings, "alert_sound", on))

    # ================================================================== messages
    def say(self, text: str, ms: int = NOTICE_MS) -> None:
        """A one-line notice in the status bar (kept ``ms``), also logged."""
        log.info("%s", text)
        self.last_notice = text
        self.notice_label.setText(text)
        self.notice_label.setToolTip(text)
        self._notice_timer.start(ms)
        self.notice.emit(text)

    def _show_shortcuts(self) -> None:
        QMessageBox.information(
            self,
            "Keyboard shortcuts",
            (
                "F5 / Ctrl+R\tstart / stop\nCtrl+O\topen a video file\nCtrl+N\tenroll a person\n"
                "Ctrl+I\tidentities\nCtrl+E\texport a session\nF11 / Ctrl+F\tfull-screen video (Esc leaves)\n"
                "Ctrl+,\tsettings\nCtrl+Q\tquit"
            ),
        )

    # ================================================================== backends dropdowns
    def _fill_backends(self) -> None:
        try:
            dets, recs = backend_choices()
        except Exception as err:  # noqa: BLE001 - show the window anyway, with the reason
            log.exception("listing backends failed")
            dets, recs = [], []
            self.say(f"cannot list backends: {err}")
        self.choices: dict[str, dict[str, Choice]] = {
            "detector": {c.key: c for c in dets},
            "recognizer": {c.key: c for c in recs},
            "mode": {c.key: c for c in mode_choices(self.settings.remote, self.remote_error)},
        }
        for kind in KINDS:
            self._fill_combo(kind)

    def _fill_combo(self, kind: str) -> None:
        combo = self.combos[kind]
        model: QStandardItemModel = combo.model()  # type: ignore[assignment]
        combo.blockSignals(True)
        model.clear()
        for c in self.choices[kind].values():
            item = QStandardItem(c.label if c.available else f"{c.label}  (unavailable)")
            item.setData(c.key, Qt.ItemDataRole.UserRole)
            if not c.available:
                item.setEnabled(False)  # greyed, and the mouse/keyboard cannot pick it
                item.setToolTip(f"{c.key}: {c.reason}")
            else:
                item.setToolTip(c.key)
            model.appendRow(item)
        self._show_key(kind, self.applied.get(kind) or self.want[kind])
        combo.blockSignals(False)

    def _show_key(self, kind: str, key: str) -> None:
        combo = self.combos[kind]
        i = combo.findData(key, Qt.ItemDataRole.UserRole)
        combo.blockSignals(True)
        if i >= 0:
            combo.setCurrentIndex(i)
        combo.blockSignals(False)

    def _remote_checked(self, result: tuple[Any, str | None]) -> None:
        self.remote_error = result[1]
        self.choices["mode"] = {c.key: c for c in mode_choices(self.settings.remote, self.remote_error)}
        self._fill_combo("mode")

    def choice_index(self, kind: str, key: str) -> int:
        return self.combos[kind].findData(key, Qt.ItemDataRole.UserRole)

    def _combo_changed(self, kind: str) -> None:
        key = str(self.combos[kind].currentData(Qt.ItemDataRole.UserRole) or "")
        if key:
            self.switch(kind, key)

    def switch(self, kind: str, key: str) -> bool:
        """Build ``key`` for ``kind`` off the GUI thread and swap it in between frames. An unavailable
        choice is refused with its reason and the running one kept. Returns False when refused."""
        choice = self.choices[kind].get(key)
        current = self.applied.get(kind) or self.want[kind]
        if choice is None or not choice.available:
            reason = choice.reason if choice is not None else "not in the registry"
            self._show_key(kind, current)
            self.say(f"{key} unavailable: {reason}; still running {current}")
            self.switchRefused.emit(kind, f"{key}: {reason}")
            return False
        self._show_key(kind, key)
        self.want[kind] = key
        self._gen[kind] += 1
        if self.built is None:  # nothing runs yet: the next session starts with it
            self._persist_choice(kind, key)
            return True
        if key == self.applied.get(kind) and kind not in self._building:
            return True
        gen = self._gen[kind]
        self._building.add(kind)
        model = key.partition(":")[0]
        threshold = self._threshold_for(model) if kind == "recognizer" else None
        requested_at = self.worker.frames_processed
        self.say(f"building {key}… (the video keeps running)", 60000)
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
        return True

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
        if gen != self._gen[kind] or self._closing:
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
        self.built = built
        self._sync_applied(built)
        self._persist_choice(kind, self.applied[kind])
        if kind == "recognizer":
            self._show_threshold()
        self.say(
            f"switched to {built.label}: built in {built.build_ms:.0f} ms, "
            f"{mark.frames_during_build} frames processed meanwhile"
        )

    def _switch_failed(self, kind: str, gen: int, key: str, why: str) -> None:
        if gen == self._gen[kind]:
            self._building.discard(kind)
            self.want[kind] = self.applied.get(kind, self.want[kind])
            self._show_key(kind, self.want[kind])
        self.say(f"cannot switch to {key}: {why}; still running {self.applied.get(kind, '-')}")
        self.switchRefused.emit(kind, f"{key}: {why}")

    def _sync_applied(self, built: Built) -> None:
        self.applied = {
            "detector": built.detector_key,
            "recognizer": built.recognizer_key,
            "mode": built.mode,
        }
        for kind in KINDS:
            self._show_key(kind, self.applied[kind])

    def _persist_choice(self, kind: str, key: str) -> None:
        setattr(self.settings, kind, key)

    # ================================================================== thresholds
    def _threshold_for(self, model: str) -> float | None:
        if self.threshold_override is not None and model == self.want["recognizer"].partition(":")[0]:
            return float(self.threshold_override)
        return self.settings.threshold(model)

    def _show_threshold(self) -> None:
        if self.built is None:
            return
        rec = self.built.local.recognizer
        try:
            calibration = self.gui_store().calibration(rec.model)
        except Exception as err:  # noqa: BLE001 - an older store: the slider shows no estimate
            log.warning("cannot read the calibration of %s: %s", rec.model, err)
            calibration = None
        self.access.set_calibration(calibration)
        self.access.set_threshold_model(
            rec.model, float(self.built.local.threshold), float(rec.default_threshold)
        )

    def _load_history(self) -> None:
        """Past events of the store, with their corrections, under the live ones (once per store)."""
        if self.built is None or self._history_of == Path(self.built.store_path):
            return
        self._history_of = Path(self.built.store_path)
        try:
            rows = self.gui_store().events()
        except Exception as err:  # noqa: BLE001 - the live log works without the past
            self.say(f"cannot read past events: {err}")
            return
        current = self.session.session_id if self.session is not None else None
        self.access.load_history(rows, exclude_session=current)

    def _threshold_changed(self, model: str, value: float) -> None:
        self.settings.set_threshold(model, value)
        self.threshold_override = None
        self.worker.call(self.worker.set_threshold, model, value)
        self.say(f"threshold for {model}: {value:.2f}", 4000)

    # ================================================================== sessions
    def store_path_for(self, spec: str) -> tuple[Path, bool]:
        """(identity store, does the demo play): ONE store whatever the source (--db, else the default),
        so people enrolled during the demo are there on a camera; the demo's people live in it, marked."""
        from core.paths import default_db_path

        return (self.db_path if self.db_path is not None else default_db_path()), spec == "demo"

    def source_for(self, spec: str) -> SourceSpec:
        spec = spec.strip()
        if spec.lower().startswith("camera "):
            spec = spec.split(None, 1)[1]
        return SourceSpec(spec, realtime=True, loop=self.settings.loop_files)

    def start(self, spec: str | None = None) -> None:
        """Start (or restart on another source) a session: build backends, open the source, record."""
        if self._closing:
            return
        spec = (spec if spec is not None else self.source_combo.currentText()).strip() or "demo"
        self.source_spec = spec
        self.source_combo.setCurrentText(spec)
        self.starting = True
        self.video.clear(f"Starting {spec}…")
        self._update_start_action()
        src = self.source_for(spec)
        store_path, demo = self.store_path_for(src.spec)
        want = dict(self.want)
        model = want["recognizer"].partition(":")[0]
        threshold = self._threshold_for(model)
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
                done=lambda b: self._session_built(b, src),
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
        if (
            chain is not None
            and chain.detector_key == want["detector"]
            and chain.recognizer_key == want["recognizer"]
            and chain.mode == want["mode"]
            and chain.store_path == Path(store_path)
        ):
            from core.pipeline import Pipeline
            from db.store import Store
            from enroll.service import compute_missing_embeddings

            rec = chain.local.recognizer
            thr = float(rec.default_threshold if threshold is None else threshold)
            store = Store(store_path)
            try:
                compute_missing_embeddings(store, rec)
                if demo:  # the demo's people, once (a file or camera may have started this store)
                    from core.demo import demo_store

                    demo_store(chain.local.detector, rec, store)
                local = Pipeline(chain.local.detector, rec, store.gallery(rec.model, thr), threshold=thr)
            finally:
                store.close()
            pipe = local if chain.mode == "local" else chain.pipeline
            if pipe is not local:
                chain.local.gallery, chain.local.threshold = local.gallery, local.threshold
                local = chain.local
            built = Built(
                local,
                pipe,
                chain.mode,
                0.0,
                "session",
                f"{chain.detector_key} + {chain.recognizer_key}",
                Path(store_path),
            )
        else:
            try:
                built = build_session(
                    want["detector"],
                    want["recognizer"],
                    store_path,
                    demo,
                    threshold,
                    want["mode"],
                    remote,
                    frame,
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
        self._chain = built
        return built

    def _session_built(self, built: Built, src: SourceSpec) -> None:
        if self._closing:
            return
        for note in built.notes:
            self.say(note)
        self.worker.call(
            self.worker.open_session,
            built,
            src,
            done=lambda info: self._session_opened(built, src),
            failed=self._start_failed,
        )

    def _session_opened(self, built: Built, src: SourceSpec) -> None:
        self.built = built
        self._sync_applied(built)
        self.want.update(self.applied)
        self._show_threshold()
        self._load_history()
        self.settings.source = src.spec
        for kind in KINDS:
            self._persist_choice(kind, self.applied[kind])
        if self.source_combo.findText(src.spec) < 0:
            self.source_combo.addItem(src.spec)

    def _start_failed(self, why: str) -> None:
        self.starting = False
        self.running = False
        self.video.clear(f"Cannot start: {why}")
        self.say(f"cannot start: {why}")
        self._update_start_action()

    def stop(self) -> None:
        self.worker.call(self.worker.close_session, "stopped by the operator")

    def toggle(self) -> None:
        if self.running or self.starting:
            self.stop()
        else:
            self.start()

    def _on_session_started(self, info: SessionInfo) -> None:
        self.session = info
        self.running, self.starting = True, False
        self._update_start_action()
        self.status_session.setText(f"session {info.session_id or info.label}")
        self.status_session.setToolTip(f"identity store: {info.store_path}")

    def _on_session_ended(self, info: SessionInfo) -> None:
        if self.session is not None and info.session_id == self.session.session_id:
            self.running = False
            self.starting = False
            self._update_start_action()
            if not self._closing and not self.starting:
                self.video.clear(
                    f"Stopped ({info.reason}). Session {info.session_id} saved: "
                    f"{info.frames} frames, {info.events} events.\nPress F5 to start again."
                )
        self.sessionEnded.emit(info)

    def _update_start_action(self) -> None:
        busy = self.running or self.starting
        self.start_action.setText("■ Stop" if busy else "▶ Start")

    def _open_file(self) -> None:
        path, _ = get_open_file_name(
            self, "Open a video", "", "Videos (*.mp4 *.avi *.mkv *.mov *.webm);;All (*)"
        )
        if path:
            self.start(path)

    # ================================================================== frames
    def _display_size(self, w: int, h: int) -> None:
        self.worker.display_size = (w, h)

    def _on_frame_ready(self) -> None:
        view = self.worker.take_frame()
        if view is None:
            return
        if self.starting:
            self.starting = False
        self.last_view = view
        self.frames_shown += 1
        names = len(view.result.faces)
        fps = f"{view.fps:.1f} FPS" if view.fps else "– FPS"
        self.video.hud = f"{fps} · {names} face{'s' if names != 1 else ''} · {view.result.mode}"
        self.video.set_frame(view)
        if self._wizard is not None:
            self._wizard.on_frame(view)
        self.frameShown.emit(view)

    def _on_switched(self, mark: SwitchMark) -> None:
        self.plots.mark(mark)
        self.backendSwitched.emit(mark)

    def _update_status(self) -> None:
        v = self.last_view
        if v is None or not self.running:
            self.status_source.setText(self.source_spec)
            self.status_perf.setText("")
            return
        lat = list(self.video.latencies_ms)[-30:]
        lat_txt = f" · latency {sorted(lat)[len(lat) // 2]:.0f} ms" if lat else ""
        self.status_source.setText(f"{Path(self.source_spec).name or self.source_spec}: {v.status}")
        fps = f"{v.fps:.1f}" if v.fps else "–"
        remote = ""
        b = self.built
        if b is not None and b.pipeline is not b.local:  # cloud/hybrid: the endpoint, or why it runs locally
            remote = f" · {v.result.mode}: {getattr(b.pipeline, 'status', '')}"
        self.status_perf.setText(
            f"{fps} FPS (capture {v.capture_fps:.1f}) · dropped {v.dropped}{lat_txt}{remote}"
        )

    # ================================================================== people
    def gui_store(self) -> Any:
        """The identity store of the current session, opened on the GUI thread (its own connection)."""
        from db.store import Store

        path = self.built.store_path if self.built is not None else self.store_path_for(self.source_spec)[0]
        if self._gui_store is not None and Path(self._gui_store.path) != Path(path):
            self._gui_store.close()
            self._gui_store = None
        if self._gui_store is None:
            self._gui_store = Store(path)
        return self._gui_store

    def open_enroll(self, name: str = "", modal: bool = True) -> Any:
        from gui.enroll import EnrollWizard

        if self.built is None:
            self.say("enrollment needs the backends: start a source first")
            return None
        live = None if self.running else "no video is running (start a source first)"
        existing = [p["name"] for p in self.gui_store().identities()]
        wiz = EnrollWizard(self.worker, existing, live, self, name=name)
        wiz.saved.connect(self._enrolled)
        wiz.failed.connect(self.say)
        wiz.finished.connect(lambda _: setattr(self, "_wizard", None))
        self._wizard = wiz
        if modal:
            wiz.exec()
        else:
            wiz.show()
        return wiz

    def _enrolled(self, name: str, n: int) -> None:
        self.say(f"enrolled {name}: {n} sample(s) stored; recognising them from now on")
        self.enrolled.emit(name, n)

    def open_identities(self, modal: bool = True) -> Any:
        from gui.enroll import IdentityManager

        dlg = IdentityManager(self.gui_store(), self)
        dlg.changed.connect(self.identities_changed)
        dlg.enrollRequested.connect(lambda: (dlg.accept(), self.open_enroll()))
        if modal:
            dlg.exec()
        else:
            dlg.show()
        return dlg

    def identities_changed(self) -> None:
        self.worker.call(self.worker.reload_gallery)

    def _not_this_person(self, selection: tuple[int, EventView]) -> None:
        from gui.enroll import CorrectionDialog

        eid, ev = selection
        existing = [p["name"] for p in self.gui_store().identities()]
        dlg = CorrectionDialog(ev.identity, ev.distance, pixmap_from_bgr(ev.crop, 120), existing, self)
        if dlg.exec() != CorrectionDialog.DialogCode.Accepted:
            return
        if dlg.choice == dlg.ENROLL:
            self.correct_event(eid, dlg.name.text().strip(), dlg.policy.value()[0])
        else:
            self.correct_event(eid, None)

    def _enroll_face(self, selection: tuple[int, EventView]) -> None:
        from gui.enroll import CorrectionDialog

        eid, ev = selection
        if ev.identity:
            return self._not_this_person(selection)
        existing = [p["name"] for p in self.gui_store().identities()]
        dlg = CorrectionDialog(None, ev.distance, pixmap_from_bgr(ev.crop, 120), existing, self)
        if dlg.exec() == CorrectionDialog.DialogCode.Accepted and dlg.choice == dlg.ENROLL:
            self.correct_event(eid, dlg.name.text().strip(), dlg.policy.value()[0])
        return None

    def correct_event(self, eid: int, enroll_as: str | None, policy: str = "allowed") -> None:
        """The operator says event ``eid`` was not who it was recognised as. Nothing is added to that
        person; with ``enroll_as`` the event's face is enrolled as that (new or enrolled) person. The
        correction is a record in the store (event id, who it was, the OS user, when), shown in the log."""
        ev = self.access.events[eid]
        wrong = ev.identity
        if not enroll_as:
            self.record_correction(eid, None, f"operator: not {wrong}")
            self.say(f"marked: track #{ev.track_id} is not {wrong} (nothing added to {wrong})")
            return
        if ev.crop is None:
            self.say("this event has no face crop to enroll")
            return
        existing = {p["name"] for p in self.gui_store().identities()}
        pol = None if enroll_as in existing else policy

        def done(r: tuple[bool, str, int]) -> None:
            ok, reason, n = r
            if not ok:
                self.say(f"cannot enroll the face as {enroll_as}: {reason}")
                return
            self.record_correction(
                eid, enroll_as, f"operator: not {wrong or 'unknown'}, enrolled as {enroll_as}"
            )
            self.say(
                f"enrolled the face as {enroll_as} ({n} sample); nothing added to {wrong or 'anyone else'}"
            )
            self.enrolled.emit(enroll_as, n)

        self.worker.call(
            self.worker.enroll_face,
            enroll_as,
            pol,
            ev.crop,
            f"event track #{ev.track_id} (recognised as {wrong or 'unknown'})",
            done=done,
            failed=lambda why: self.say(f"cannot enroll the face: {why}"),
        )

    def record_correction(self, eid: int, identity: str | None, note: str) -> bool:
        """Write the correction of panel event ``eid`` to the store and show it; False when it could not be
        recorded (the event has no store row, or the store refused), which the operator is told."""
        from core.errors import FaceGateError
        from db.store import os_user

        ev = self.access.events[eid]
        user = os_user()
        if ev.event_id is None:
            self.say("this event has no row in the store: the correction is shown but not recorded")
            self.access.mark_corrected(eid, identity, user, note + " (not recorded)")
            return False
        try:
            self.gui_store().add_correction(ev.event_id, identity, note, user=user)
        except (FaceGateError, OSError, sqlite3.Error) as err:
            self.say(f"cannot record the correction: {err}")
            return False
        self.access.mark_corrected(eid, identity, user, note)
        return True

    # ================================================================== export, settings
    def open_export(self, modal: bool = True) -> Any:
        from gui.dialogs import ExportDialog

        try:
            sessions = self.gui_store().sessions()
        except Exception as err:  # noqa: BLE001
            self.say(f"cannot list sessions: {err}")
            return None
        current = self.session.session_id if (self.session and self.running) else ""
        dlg = ExportDialog(sessions, current, self.export_session, self.settings._str("export/folder"), self)
        if modal:
            dlg.exec()
        else:
            dlg.show()
        return dlg

    def export_session(
        self, session_id: str, frames: Path, events: Path, done: Any = None, failed: Any = None
    ) -> None:
        """Write a session's frames and events CSVs (the running one is flushed to the store first)."""
        store_path = (
            self.built.store_path if self.built is not None else self.store_path_for(self.source_spec)[0]
        )
        self.settings.set("export/folder", str(Path(frames).parent))

        def finished(result: Any) -> None:
            self.say(f"wrote {result[0]} frame rows to {result[2]} and {result[1]} events to {result[3]}")
            self.exported.emit(result)
            if done is not None:
                done(result)

        def fail(why: str) -> None:
            self.say(f"export failed: {why}")
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

    def open_settings(self) -> None:
        from gui.dialogs import SettingsDialog

        path = self.built.store_path if self.built else self.store_path_for(self.source_spec)[0]
        dlg = SettingsDialog(self.settings.remote, self.settings.loop_files, str(path), self)
        if dlg.exec() == SettingsDialog.DialogCode.Accepted:
            self.apply_settings(dlg.remote(), dlg.loop.isChecked())

    def apply_settings(self, remote: RemoteSettings, loop_files: bool) -> None:
        self.settings.remote = remote
        self.settings.loop_files = loop_files
        self.choices["mode"] = {c.key: c for c in mode_choices(remote, self.remote_error)}
        self._fill_combo("mode")

    # ================================================================== full screen
    def toggle_fullscreen(self) -> None:
        if self._fullscreen_state is None:
            bars = [w for w in self.findChildren(QToolBar) if w.isVisible()]
            docks = [d for d in (self.access_dock, self.plots_dock) if d.isVisible()]
            self._fullscreen_state = (self.isMaximized(), bars, docks)
            for w in [*bars, *docks, self.menuBar(), self.statusBar()]:
                w.hide()
            self.showFullScreen()
        else:
            maximized, bars, docks = self._fullscreen_state
            self._fullscreen_state = None
            for w in [*bars, *docks, self.menuBar(), self.statusBar()]:
                w.show()
            self.showMaximized() if maximized else self.showNormal()

    # ================================================================== shutdown
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        """Save the layout, end the session (saved in the store), stop every thread, wait for them."""
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._fullscreen_state is not None:
            self.toggle_fullscreen()
        self.settings.set_layout(self.saveGeometry(), self.saveState())
        self.settings.alert_sound = self.access.sound.isChecked()
        self.settings.sync()
        self.status_timer.stop()
        self.plots.stop()
        if self._wizard is not None:
            self._wizard.reject()
        self.worker.stop()  # ends the session in its thread: tracks closed, rows flushed, session ended
        self.builder.stop()
        if self._own_sampler:
            self.sampler.close()
        if self._gui_store is not None:
            self._gui_store.close()
            self._gui_store = None

    @property
    def threads_running(self) -> list[str]:
        return [t.objectName() for t in (self.worker, self.builder) if t.isRunning()]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def apply_style(app: QApplication) -> None:
    qss = RESOURCES / "style.qss"
    if qss.exists() and not _env_flag("FACEGATE_NO_STYLE"):
        app.setStyleSheet(qss.read_text())
