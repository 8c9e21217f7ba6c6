"""The operator window: live annotated video (a grid with several cameras), source and backend/mode
pickers, access panel, plots.

A view: what runs (sessions, backend switches, the threads' calls) is :class:`gui.controller.
SessionController`'s; the window forwards the operator's actions to it and redraws on its signals.
Thread layout and the frame mailbox: see gui/worker.py.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
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

from core.errors import FaceGateError
from gui import a11y, backup, connection
from gui.access import AccessPanel
from gui.alarms import AlarmActions, install_menu
from gui.backends import Built, RemoteSettings
from gui.build_progress import BuildProgress
from gui.controller import KINDS, SessionController, default_source
from gui.filedialog import get_open_file_name
from gui.grid import LAYOUTS, CameraGrid, CameraTile
from gui.layout import WindowFit, fit_to_screen
from gui.people import PeopleActions
from gui.pickers import BackendPickers
from gui.plots import PlotsPanel
from gui.present import open_dialog
from gui.settings import Settings
from gui.tasks import TaskThread
from gui.views import FrameView, SessionInfo, SourceSpec, SwitchMark
from gui.worker import InferenceWorker

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
NOTICE_MS = 15000
CAMERAS_ITEM = "Several cameras…"  # the source box's entry that opens the Cameras dialog

__all__ = ["KINDS", "MainWindow", "apply_style", "default_source"]


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
        from core.telemetry import Sampler

        self.settings = settings or Settings()
        self.db_path = Path(db).expanduser() if db else None
        self.frames_shown = 0
        self.last_view: FrameView | None = None  # the selected camera's newest frame
        self._views: dict[str, FrameView] = {}  # every camera's newest frame
        self.last_notice = ""
        self._history_of: Path | None = None  # the store whose past events the access panel shows
        self._fullscreen_state: tuple[Any, ...] | None = None

        self.setWindowTitle("FaceGate — access control monitor")
        icon = RESOURCES / "icons" / "facegate.svg"
        if icon.exists():
            self.setWindowIcon(QIcon(str(icon)))
        self.sampler = sampler or Sampler()
        self._own_sampler = sampler is None
        self.worker = InferenceWorker(self.sampler)
        self.builder = TaskThread("facegate-builder")
        self.builder.abandon_on_stop = True  # closing never waits for a model build (gui/tasks.py)
        self.controller = SessionController(
            self.worker, self.builder, self.settings, self.db_path, detector, recognizer, threshold, source
        )

        self._build_ui()
        self.people = PeopleActions(self, self.controller, self.access, self.say, camera=lambda: self.camera)
        self.alarms = AlarmActions(
            self, self.gui_store, self.say, lambda: (self.access.selected() or (0, None))[1]
        )
        install_menu(self, self.alarms)  # View ▸ Alarms…, Acknowledge alarm… (Ctrl+K), Audit trail…
        self._wire()
        self.controller.load_choices()
        for kind in KINDS:
            self._fill_combo(kind)
        geo, state = self.settings.layout()
        if state is not None:
            self.restoreState(state)
        # a small screen (1024x600) is used whole, whatever size a bigger one saved
        if not fit_to_screen(self, (1440, 900)) and geo is not None:
            self.restoreGeometry(geo)

        self.sampler.start()
        self.worker.start()
        self.builder.start()
        self.plots.start(self.worker.drain_stats, self.sampler, lambda: self.video.frames_painted)
        self.controller.check_remote()

    # ================================================================== the controller's state
    @property
    def built(self) -> Built | None:
        return self.controller.built

    @property
    def want(self) -> dict[str, str]:
        return self.controller.want

    @property
    def applied(self) -> dict[str, str]:
        return self.controller.applied

    @property
    def session(self) -> SessionInfo | None:
        return self.controller.session

    @property
    def running(self) -> bool:
        return self.controller.running

    @property
    def starting(self) -> bool:
        return self.controller.starting

    @property
    def source_spec(self) -> str:
        return self.controller.source_spec

    @property
    def remote_error(self) -> str | None:
        return self.controller.remote_error

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

    @property
    def video(self) -> CameraTile:
        """The selected camera's view (the only one with one camera)."""
        return self.grid.video

    def _build_ui(self) -> None:
        self.grid = CameraGrid(self.settings.grid_layout)
        self.setCentralWidget(self.grid)
        self._build_source_toolbar()
        self._build_backends_toolbar()
        self._build_docks()
        # 1024x600 holds: toolbars, plots and the Access panel fitted to the window's size
        self.fit = WindowFit(self, self.source_toolbar, self.pickers, self.plots_dock, self.access_dock)
        self._build_menus()
        self._build_status_bar()
        a11y.set_tab_order(self)

    def _build_source_toolbar(self) -> None:
        tb = QToolBar("Source")
        tb.setObjectName("sourceToolbar")
        self.source_toolbar = tb
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
            "demo, a camera index (0), a video file, an image folder, or an rtsp:// URL;\n"
            "several cameras: NAME=SOURCE; NAME=SOURCE (or File ▸ Cameras…)"
        )
        for spec in dict.fromkeys(["demo", "0", *self.settings.recent_sources, self.source_spec]):
            self.source_combo.addItem(spec)
        self.source_combo.addItem(CAMERAS_ITEM)  # opens the Cameras dialog (several cameras, a grid)
        self.source_combo.setCurrentText(self.source_spec)
        line = self.source_combo.lineEdit()
        if line is not None:  # editable: it has one
            line.returnPressed.connect(lambda: self.start(self.source_combo.currentText()))
        self.source_combo.activated.connect(lambda _: self._source_chosen())
        tb.addWidget(self.source_combo)
        self.open_action = QAction("Open…", self)
        self.open_action.setToolTip("Open a video file (Ctrl+O)")
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self._open_file)
        tb.addAction(self.open_action)
        # File ▸ Cameras… and the source box's last entry (no room in the toolbar on a 1024 px screen)
        self.cameras_action = QAction("Cameras…", self)
        self.cameras_action.setToolTip("Open several cameras at once, shown in a grid (Ctrl+Shift+O)")
        self.cameras_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.cameras_action.triggered.connect(lambda: self.open_cameras())
        self.start_action = QAction("▶ Start", self)
        self.start_action.setShortcuts([QKeySequence("F5"), QKeySequence("Ctrl+R")])
        self.start_action.setToolTip("Start / stop (F5)")
        self.start_action.triggered.connect(self.toggle)
        tb.addAction(self.start_action)
        self.start_button = tb.widgetForAction(self.start_action)
        a11y.name_source_toolbar(tb, self.source_combo, self.start_button)

    def _build_backends_toolbar(self) -> None:
        self.pickers = BackendPickers()
        self.addToolBar(self.pickers)
        self.combos = self.pickers.combos

    def _build_docks(self) -> None:
        self.access = AccessPanel()
        self.access.sound.setChecked(self.settings.alert_sound)
        self.access_dock = self._dock(
            "Access", "accessDock", self.access, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.plots = PlotsPanel()
        self.plots_dock = self._dock(
            "Performance", "plotsDock", self.plots, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        # the access panel runs the full height (the plots sit under the video only), so the event log
        # keeps several rows on a 1024x600 screen
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        # 500 px: every column readable, and a 1280 px window still gives the plots room side by side
        self.resizeDocks([self.access_dock], [500], Qt.Orientation.Horizontal)
        self.resizeDocks([self.plots_dock], [220], Qt.Orientation.Vertical)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.open_action)
        m.addAction(self.cameras_action)
        self.export_action = m.addAction("Export session…", self.open_export)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        m.addAction("Settings…", lambda: self.open_settings()).setShortcut(QKeySequence("Ctrl+,"))
        m.addSeparator()
        m.addAction("Back up identity store…", functools.partial(backup.back_up, self))
        m.addAction("Restore identity store…", functools.partial(backup.restore_store, self))
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
        m.addAction("History…", self.open_history).setShortcut(QKeySequence("Ctrl+H"))
        grid = m.addMenu("Camera grid")
        self.layout_actions: dict[str, QAction] = {}
        for k, name in enumerate(LAYOUTS, start=1):
            a = grid.addAction(
                "1 camera" if name == "1" else f"{name} cameras",
                functools.partial(self.set_grid_layout, name),
            )
            a.setShortcut(QKeySequence(f"Ctrl+{k}"))
            self.layout_actions[name] = a
        self.leave_fullscreen = QAction(self)
        self.leave_fullscreen.setShortcut(QKeySequence("Esc"))
        self.leave_fullscreen.triggered.connect(self._leave_fullscreen)
        self.addAction(self.leave_fullscreen)
        m = mb.addMenu("&Help")
        m.addAction("Keyboard shortcuts", self._show_shortcuts)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.notice_label = QLabel()
        self.notice_label.setObjectName("notice")
        self.status_source = QLabel()
        self.status_perf = QLabel()
        self.status_session = QLabel()
        self.status_alarms = QLabel()  # "open alarms: N" (db/audit.py; main.py alarms ack ID closes one)
        self.status_alarms.setToolTip("unknown, denied and tailgating events not yet acknowledged")
        sb.addWidget(self.notice_label, 1)
        self.build_progress = BuildProgress(self.combos)  # "Loading facenet512 on TensorFlow… 12 s"
        sb.addPermanentWidget(self.build_progress)
        for w in (self.status_alarms, self.status_source, self.status_perf, self.status_session):
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
        w.eventsReady.connect(self.alarms.events_arrived)  # a new alarm: the counts now, not on the tick
        w.switched.connect(self._on_switched)
        w.message.connect(self.say)
        c = self.controller
        c.notice.connect(lambda text, ms: self.say(text, ms or NOTICE_MS))
        c.choiceShown.connect(self.pickers.show_key)
        c.choicesChanged.connect(self._fill_combo)
        c.stateChanged.connect(self._update_start_action)
        c.startRequested.connect(self._on_start_requested)
        c.startFailed.connect(lambda why: self.grid.clear(f"Cannot start: {why}"))
        c.sessionOpened.connect(self._on_session_opened)
        c.sessionStarted.connect(self._on_session_started)
        c.sessionStopped.connect(self._on_session_stopped)
        c.sessionEnded.connect(self.sessionEnded)
        c.switchApplied.connect(self._on_switch_applied)
        c.switchRefused.connect(self.switchRefused)
        c.exported.connect(self.exported)
        c.building.connect(self.build_progress.on_building)
        self.grid.tileSizeChanged.connect(self._display_size)
        self.grid.doubleClicked.connect(self.toggle_fullscreen)
        self.grid.selected.connect(self._camera_selected)
        self.grid.layoutChanged.connect(lambda name: setattr(self.settings, "grid_layout", name))
        self.pickers.picked.connect(self.switch)
        self.access.thresholdChanged.connect(self._threshold_changed)
        self.access.notThisPerson.connect(self.people.not_this_person)
        self.access.enrollFace.connect(self.people.enroll_face)
        self.people.enrolled.connect(self.enrolled)
        self.people.enrolled.connect(lambda *_: self.update_first_run())
        self.access.enrollFirst.connect(lambda: self.open_enroll())
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
                "F5 / Ctrl+R\tstart / stop\nCtrl+O\topen a video file\nCtrl+Shift+O\tseveral cameras\n"
                "Ctrl+1 / 2 / 3\tcamera grid: 1, 2x2, 3x3 (double-click a camera: it alone)\n"
                "Ctrl+N\tenroll a person\n"
                "Ctrl+I\tidentities\nCtrl+H\tevent history\nCtrl+E\texport a session\n"
                "F11 / Ctrl+F\tfull-screen video (Esc leaves)\n"
                "Ctrl+Shift+A\talarms\nCtrl+K\tacknowledge the selected (or newest open) alarm, also in full screen\n"
                "Ctrl+Shift+N\tthis is not … (the selected event)\nCtrl+Shift+E\tenroll this face …\n"
                "Ctrl+,\tsettings\nCtrl+Q\tquit"
            ),
        )

    # ================================================================== backends dropdowns
    def _fill_combo(self, kind: str) -> None:
        self.pickers.fill(kind, self.controller.choices[kind].values(), self.controller.current(kind))

    def choice_index(self, kind: str, key: str) -> int:
        return self.pickers.index(kind, key)

    def switch(self, kind: str, key: str) -> bool:
        """Build ``key`` for ``kind`` and swap it in between frames (see :meth:`SessionController.switch`);
        False when refused (an unavailable choice: its reason is shown, the running one kept)."""
        return self.controller.switch(kind, key)

    def _on_switch_applied(self, kind: str, built: Built, mark: SwitchMark) -> None:
        if kind == "recognizer":
            self._show_threshold()

    # ================================================================== thresholds
    def _show_threshold(self) -> None:
        if self.built is None:
            return
        rec = self.built.local.recognizer
        try:
            calibration = self.gui_store().calibration(rec.model)
        except FaceGateError as err:  # the store cannot be read: the slider shows no estimate
            log.warning("cannot read the calibration of %s: %s", rec.model, err)
            calibration = None
        self.access.set_calibration(calibration)
        self.access.set_threshold_model(
            rec.model, float(self.built.local.threshold), float(rec.default_threshold)
        )

    def _load_history(self) -> None:
        """Past events of the store, with their corrections, under the live ones (once per store)."""
        if self.built is None or self._history_of == Path(self.controller.store_path()):
            return
        self._history_of = Path(self.controller.store_path())
        try:
            rows = self.gui_store().events()
        except Exception as err:  # noqa: BLE001 - the live log works without the past
            self.say(f"cannot read past events: {err}")
            return
        current = self.session.session_id if self.session is not None else None
        self.access.load_history(rows, exclude_session=current)

    def _threshold_changed(self, model: str, value: float) -> None:
        before = self.controller.threshold_for(model)
        if before is None and self.built is not None and self.built.local.recognizer.model == model:
            before = float(self.built.local.threshold)  # the model's default, in force until now
        self.controller.set_threshold(model, value)
        try:  # the audit trail (db/audit.py); the slider works without it
            self.gui_store().record_threshold(model, before, value)
        except Exception as err:  # noqa: BLE001 - the store may be unreadable or locked
            log.warning("cannot record the threshold change in the audit trail: %s", err)
        self.say(f"threshold for {model}: {value:.2f}", 4000)

    # ================================================================== sessions
    def start(self, spec: str | None = None) -> None:
        """Start (or restart on another source) a session: build backends, open the source, record."""
        self.controller.start(spec if spec is not None else self.source_combo.currentText())

    def _source_chosen(self) -> None:
        """An entry of the source box was chosen. The editable box also says so when it loses the focus
        (a click on a camera's tile): what runs already is not started again."""
        text = self.source_combo.currentText().strip()
        if text == CAMERAS_ITEM:
            self.source_combo.setCurrentText(self.source_spec)
            self.open_cameras()
            return
        if (self.running or self.starting) and text == self.source_spec:
            return
        self.start(text)

    def stop(self) -> None:
        self.controller.stop()

    def toggle(self) -> None:
        self.controller.toggle(self.source_combo.currentText())

    def _on_start_requested(self, spec: str) -> None:
        self.source_combo.setCurrentText(spec)
        line = self.source_combo.lineEdit()
        if line is not None:  # several cameras make a long entry: show its start
            line.setCursorPosition(0)
        self.grid.clear(f"Starting {spec}…")
        self.last_view, self._views = None, {}  # no FPS or status of the session before

    def _on_session_opened(self, built: Built, src: SourceSpec) -> None:
        self._show_threshold()
        self._load_history()
        self.update_first_run()
        if self.source_combo.findText(src.spec) < 0:
            self.source_combo.insertItem(max(0, self.source_combo.count() - 1), src.spec)
        line = self.source_combo.lineEdit()
        if line is not None:  # several cameras make a long entry: show its start
            line.deselect()
            line.setCursorPosition(0)
        self.source_combo.setToolTip(src.spec.replace("; ", "\n"))

    def _on_session_started(self, info: SessionInfo) -> None:
        names = info.cameras or [""]
        self.grid.set_cameras(names)
        self.access.set_cameras(names)
        self.plots.set_cameras(names)
        self._camera_selected(self.grid.current)
        self.status_session.setText(f"session {info.session_id or info.label}")
        self.status_session.setToolTip(f"identity store: {info.store_path}")

    def _on_session_stopped(self, info: SessionInfo) -> None:
        if self.starting:  # a restart: "Starting…" stays, not the old session's "Stopped"
            return
        self.grid.clear(
            f"Stopped ({info.reason}). Session {info.session_id} saved: "
            f"{info.frames} frames, {info.events} events.\nPress F5 to start again."
        )

    def _update_start_action(self) -> None:
        busy = self.running or self.starting
        self.start_action.setText("■ Stop" if busy else "▶ Start")
        self.start_button.setAccessibleName("Stop" if busy else "Start")  # not "black square Stop"

    def open_cameras(self, modal: bool = True) -> Any:
        """The Cameras dialog: one NAME=SOURCE per line; accepted, the cameras start in the grid."""
        from gui.dialogs import CamerasDialog
        from gui.views import split_sources

        lines = split_sources(self.source_combo.currentText())
        if len(lines) < 2:
            lines = self.settings.cameras or lines
        dlg = CamerasDialog(lines, self)

        def accepted() -> None:
            self.settings.cameras = dlg.lines()
            self.start(dlg.spec())

        dlg.accepted.connect(accepted)
        return open_dialog(dlg, modal)

    # ================================================================== cameras
    @property
    def camera(self) -> str:
        """The selected camera's name (its plots, its events, live enrollment)."""
        return self.grid.current

    def select_camera(self, name: str) -> None:
        self.grid.select(name)

    def set_grid_layout(self, layout: str) -> None:
        """1, 2x2 or 3x3 (saved)."""
        self.grid.set_layout(layout)

    def _camera_selected(self, name: str) -> None:
        self.plots.select_camera(name)
        several = len(self.grid.tiles) > 1
        self.plots_dock.setWindowTitle(f"Performance · camera {name}" if several else "Performance")
        if several:
            self.access.show_camera(name)
        self.last_view = self._views.get(name)
        self._update_status()

    def _open_file(self) -> None:
        path, _ = get_open_file_name(
            self, "Open a video", "", "Videos (*.mp4 *.avi *.mkv *.mov *.webm);;All (*)"
        )
        if path:
            self.start(path)

    # ================================================================== frames
    def _display_size(self, name: str, w: int, h: int) -> None:
        sizes = dict(self.worker.display_sizes)  # a new dict: the worker thread reads it
        sizes[name] = (w, h)
        self.worker.display_sizes = sizes
        if len(self.grid.tiles) == 1:
            self.worker.display_size = (w, h)

    def _on_frame_ready(self) -> None:
        views = self.worker.take_frames()
        if not views:
            return
        self.controller.frame_shown()
        single = len(self.grid.tiles) == 1
        for view in views:
            self._views[view.camera] = view
            if view.camera == self.grid.current or single:
                self.last_view = view
            self.frames_shown += 1
            if single:
                names = len(view.result.faces)
                fps = f"{view.fps:.1f} FPS" if view.fps else "– FPS"
                self.video.hud = f"{fps} · {names} face{'s' if names != 1 else ''} · {view.result.mode}"
            self.grid.set_frame(view)
            wiz = self.people.wizard
            if wiz is not None and view.camera == (wiz.camera or view.camera):
                wiz.on_frame(view)
            self.frameShown.emit(view)

    def _on_switched(self, mark: SwitchMark) -> None:
        self.plots.mark(mark)
        self.backendSwitched.emit(mark)

    def _update_alarms(self) -> None:
        """The open-alarm count (status bar, full-screen overlay): gui/alarms.py reads it every few ticks."""
        self.alarms.tick(self.built is not None)  # no backends yet: no store opened (or created) here

    def _update_status(self) -> None:
        self._update_alarms()
        infos = self.worker.cameras
        several = len(self.grid.tiles) > 1
        if several:
            self.grid.set_infos(infos)
        if not several and connection.show(self):  # a camera without frames: one coherent state
            return
        v = self.last_view
        if v is None or not self.running:
            self.status_source.setText(self.source_spec if not several else self._cameras_line(infos))
            self.status_perf.setText("")
            return
        lat = list(self.video.latencies_ms)[-30:]
        lat_txt = f" · latency {sorted(lat)[len(lat) // 2]:.0f} ms" if lat else ""
        if several:
            self.status_source.setText(self._cameras_line(infos))
            info = next((i for i in infos if i.name == self.grid.current), None)
            if info is not None:
                fps = f"{info.fps:.1f}" if info.fps else "–"
                self.status_perf.setText(
                    f"{info.name}: {fps} FPS (capture {info.capture_fps:.1f}) · dropped {info.dropped}{lat_txt}"
                )
            return
        self.status_source.setText(f"{Path(self.source_spec).name or self.source_spec}: {v.status}")
        fps = f"{v.fps:.1f}" if v.fps else "–"
        remote = ""
        b = self.built
        if b is not None and b.pipeline is not b.local:  # cloud/hybrid: the endpoint, or why it runs locally
            remote = f" · {v.result.mode}: {getattr(b.pipeline, 'status', '')}"
        self.status_perf.setText(
            f"{fps} FPS (capture {v.capture_fps:.1f}) · dropped {v.dropped}{lat_txt}{remote}"
        )

    @staticmethod
    def _cameras_line(infos: list[Any]) -> str:
        """``4 cameras: 3 live, 1 ended``."""
        if not infos:
            return ""
        states: dict[str, int] = {}
        for i in infos:
            states[i.state] = states.get(i.state, 0) + 1
        return f"{len(infos)} cameras: " + ", ".join(f"{n} {state}" for state, n in states.items())

    # ================================================================== people (gui/people.py)
    def update_first_run(self) -> None:
        """The access panel's first-run banner while nobody is enrolled (the demo's people count only when
        the demo plays): every face is unknown then, so no unknown-person alert is raised."""
        from app.demo import is_demo_person

        try:
            people = self.gui_store().identities()
        except FaceGateError:
            return
        demo = self.controller.store_path_for(self.source_spec)[1]
        self.access.set_nobody_enrolled(not any(demo or not is_demo_person(p) for p in people))

    def store_replaced(self) -> None:
        """The identity store file was replaced (a restore): past events and the banner read it again."""
        self._history_of = None
        self._load_history()
        self.update_first_run()

    def gui_store(self) -> Any:
        """The identity store of the current session, opened on the GUI thread (its own connection)."""
        return self.people.store()

    def open_enroll(self, name: str = "", modal: bool = True) -> Any:
        return self.people.open_enroll(name, modal)

    def open_identities(self, modal: bool = True) -> Any:
        return self.people.open_identities(modal)

    def open_history(self) -> Any:
        """The non-modal event history (gui/history.py), one per window, raised when already open."""
        from gui.history import HistoryWindow

        if getattr(self, "history_window", None) is None:
            self.history_window = HistoryWindow(self.gui_store, self)
        else:
            self.history_window.apply()  # events recorded since it was opened
        self.history_window.show()
        self.history_window.raise_()
        self.history_window.activateWindow()
        return self.history_window

    def correct_event(self, eid: int, enroll_as: str | None, policy: str = "allowed") -> None:
        """Event ``eid`` was not who it was recognised as (see :meth:`PeopleActions.correct_event`)."""
        self.people.correct_event(eid, enroll_as, policy)

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
        return open_dialog(dlg, modal)

    def export_session(
        self, session_id: str, frames: Path, events: Path, done: Any = None, failed: Any = None
    ) -> None:
        """Write a session's frames and events CSVs (the running one is flushed to the store first)."""
        self.controller.export_session(session_id, frames, events, done, failed)

    def open_settings(self, modal: bool = True) -> Any:
        from gui.settings_dialog import open_settings  # endpoint, integrations, retention & privacy

        return open_settings(self, modal)

    def apply_settings(self, remote: RemoteSettings, loop_files: bool) -> None:
        self.controller.apply_settings(remote, loop_files)

    # ================================================================== full screen
    def _leave_fullscreen(self) -> None:
        if self._fullscreen_state is not None:
            self.toggle_fullscreen()

    def toggle_fullscreen(self) -> None:
        if self._fullscreen_state is None:
            bars = [w for w in self.findChildren(QToolBar) if w.isVisible()]
            docks = [d for d in (self.access_dock, self.plots_dock) if d.isVisible()]
            self._fullscreen_state = (self.isMaximized(), bars, docks)
            for w in [*bars, *docks, self.menuBar(), self.statusBar()]:
                w.hide()
            self.showFullScreen()
            self.alarms.set_fullscreen(True)  # the open-alarm overlay on the video
        else:
            maximized, bars, docks = self._fullscreen_state
            self._fullscreen_state = None
            for w in [*bars, *docks, self.menuBar(), self.statusBar()]:
                w.show()
            self.alarms.set_fullscreen(False)
            self.showMaximized() if maximized else self.showNormal()

    # ================================================================== shutdown
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        """Save the layout, end the session (saved in the store), stop every thread, wait for them."""
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        if not self.controller.begin_shutdown():
            return
        if self._fullscreen_state is not None:
            self.toggle_fullscreen()
        self.settings.set_layout(self.saveGeometry(), self.saveState())
        self.settings.alert_sound = self.access.sound.isChecked()
        self.settings.sync()
        self.status_timer.stop()
        self.plots.stop()
        self.people.close()  # the wizard cancelled, the GUI's store connection closed
        self.controller.shutdown()  # the worker ends the session (tracks closed, rows flushed), threads joined
        if self._own_sampler:
            self.sampler.close()

    @property
    def threads_running(self) -> list[str]:
        return self.controller.threads_running


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def apply_style(app: QApplication) -> None:
    qss = RESOURCES / "style.qss"
    if qss.exists() and not _env_flag("FACEGATE_NO_STYLE"):
        app.setStyleSheet(qss.read_text())
