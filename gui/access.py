"""The access panel: the access log as the engine wrote it (rows and alerts come from logged events
only), past events with their operator corrections (loaded from the store), filter/search, the threshold
slider with its estimated FAR/FRR, and "this is not X" on an event (a correction record)."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator

import numpy as np
from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QKeySequence,
    QPixmap,
    QResizeEvent,
    QShortcut,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSlider,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gui.video import to_qimage
from gui.views import EventView

MAX_EVENTS = 2000
NOT_CALIBRATED = "not calibrated: run main.py calibrate"
ALERT_MS = 8000
ALERT_LINES = 2  # the alert's reserved height, in lines (a longer alert is clipped; its tooltip holds it all)
NOT_THIS_SHORTCUT, ENROLL_THIS_SHORTCUT = "Ctrl+Shift+N", "Ctrl+Shift+E"
HISTORY_EVENTS = 200  # past events loaded from the store when the window starts
DECISION_COLOURS = {"granted": QColor("#3ecf6e"), "denied": QColor("#ff5d5d"), "unknown": QColor("#ffab2e")}
CHANGE_BACKGROUND = QColor(122, 31, 31, 150)  # rows of "change" events (identity changed: an alarm)
ID_ROLE = Qt.ItemDataRole.UserRole + 1
DECISION_ROLE = Qt.ItemDataRole.UserRole + 2  # "granted" | "denied" | "unknown" | "change" (filtering)
COLUMNS = ["", "Time", "Name", "Decision", "Why", "Dist.", "Track", "Camera"]
NAME_COL, DECISION_COL, REASON_COL, DIST_COL, TRACK_COL, CAMERA_COL = 2, 3, 4, 5, 6, 7
NAME_MIN_PX = 90  # the Name column's least width: Dist. and Track give theirs up first (its tooltip has both)
DIST_PX, TRACK_PX = 44, 40  # short numbers
REASON_TEXT = {
    "matched": "matched",
    "no-match": "no match",
    "policy": "policy",
    "schedule": "schedule",
    "identity-changed": "identity changed",
}


def pixmap_from_bgr(bgr: np.ndarray | None, height: int) -> QPixmap | None:
    if bgr is None or bgr.size == 0:
        return None
    img = to_qimage(np.ascontiguousarray(bgr)).copy()  # copy: the pixmap outlives the array
    return QPixmap.fromImage(img).scaledToHeight(height, Qt.TransformationMode.SmoothTransformation)


class _EventFilter(QSortFilterProxyModel):
    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.decision = ""
        self.camera = ""

    def set(self, text: str, decision: str, camera: str = "") -> None:
        self.text, self.decision, self.camera = text.strip().lower(), decision, camera
        self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        m = self.sourceModel()
        name = str(m.index(row, NAME_COL, parent).data() or "").lower()
        # the logged decision, not the shown text: a corrected row stays under its decision's filter
        decision = str(m.index(row, DECISION_COL, parent).data(DECISION_ROLE) or "")
        camera = str(m.index(row, CAMERA_COL, parent).data() or "")
        return (
            (not self.text or self.text in name)
            and (not self.decision or decision == self.decision)
            and (not self.camera or camera == self.camera)
        )


class AccessPanel(QWidget):
    notThisPerson = Signal(object)  # EventView the operator says is not who it was recognised as
    enrollFace = Signal(object)  # EventView whose face the operator wants to enroll
    thresholdChanged = Signal(str, float)  # recognizer model, L2 threshold
    alertSoundChanged = Signal(bool)
    enrollFirst = Signal()  # the first-run banner's button: open the enrollment wizard

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.events: dict[int, EventView] = {}
        self._ids = itertools.count(1)
        self.counts = {"granted": 0, "denied": 0, "unknown": 0}
        self.alerts = 0
        self.change_alerts = 0
        self.corrected: set[int] = set()
        self._keep: int | None = None  # the event the operator selected: kept through refills/filters
        self.model_name = ""
        self._default_threshold = 1.0
        self.nobody_enrolled = False  # first run: no "unknown person" alert, the banner instead
        self._build_alert()
        self._build_first_run()
        self._build_threshold()
        self._build_filter()
        self._build_table()
        self._build_actions()
        self._build_layout()
        self._update_summary()

    def _build_alert(self) -> None:
        """The unknown-face alert line and its sound option."""
        self.alert = QLabel()
        self.alert.setObjectName("unknownAlert")
        self.alert.setVisible(False)
        self.alert.setWordWrap(True)
        self.alert.setCursor(Qt.CursorShape.PointingHandCursor)
        self.alert.setToolTip("Click to dismiss")
        self.alert.mousePressEvent = lambda e: self.alert.setVisible(False)  # type: ignore[method-assign]
        self._alert_timer = QTimer(self)
        self._alert_timer.setSingleShot(True)
        self._alert_timer.timeout.connect(lambda: self.alert.setVisible(False))
        # its space is always laid out (empty when no alert): showing or hiding it never moves the log
        # under the operator's pointer
        self.alert.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.alert_slot = QWidget()
        slot = QVBoxLayout(self.alert_slot)
        slot.setContentsMargins(0, 0, 0, 0)
        slot.addWidget(self.alert)
        bold = QFont(self.alert.font())
        bold.setBold(True)
        self.alert_slot.setFixedHeight(
            QFontMetrics(bold).lineSpacing() * ALERT_LINES + 22
        )  # + padding, border
        self.sound = QCheckBox("Beep on unknown face")
        self.alert.setAccessibleName("Alarm")
        self.sound.toggled.connect(self.alertSoundChanged)

    def _build_first_run(self) -> None:
        """The first-run banner: nobody is enrolled, so every face is unknown; it offers to enroll someone."""
        self.first_run = QWidget()
        self.first_run.setObjectName("firstRun")
        self.first_run_label = QLabel(
            "Nobody is enrolled yet — every face is unknown until you enroll someone."
        )
        self.first_run_label.setWordWrap(True)
        self.first_run_label.setAccessibleName("First run")
        self.first_run_button = QPushButton("Enroll the first person…")
        self.first_run_button.clicked.connect(self.enrollFirst)
        row = QHBoxLayout(self.first_run)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.first_run_label, 1)
        row.addWidget(self.first_run_button)
        self.first_run.setVisible(False)

    def set_nobody_enrolled(self, nobody: bool) -> None:
        """Show the first-run banner (and raise no unknown-person alert) while nobody is enrolled."""
        self.nobody_enrolled = nobody
        self.first_run.setVisible(nobody)
        if nobody:
            self.alert.setVisible(False)

    def _build_threshold(self) -> None:
        """The threshold slider, its FAR/FRR line and its default button."""
        self.threshold_label = QLabel("Match threshold")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(30, 160)  # 0.30 .. 1.60 (L2 on unit vectors)
        self.slider.setPageStep(5)
        self.slider.setToolTip(
            "Faces at or below this L2 distance from an enrolled person match them.\n"
            "Lower: fewer false accepts, more 'unknown'. Kept per recognizer model."
        )
        self.threshold_value = QLabel("–")
        self.threshold_value.setMinimumWidth(36)
        self.rates = QLabel(NOT_CALIBRATED)  # estimated FAR / FRR at the slider's position
        self.rates.setObjectName("hint")
        self.rates.setToolTip(
            "FAR: share of strangers accepted as an enrolled person; FRR: share of enrolled people\n"
            "refused, at this threshold, from the recognizer model's calibration (main.py calibrate)"
        )
        self._calibration: dict | None = None
        self.reset_threshold = QPushButton("Default")
        self.reset_threshold.setAccessibleName("Default threshold")
        self.slider.setAccessibleName("Match threshold")
        self.threshold_label.setBuddy(self.slider)
        self.reset_threshold.setToolTip("Back to the model's measured default")
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._emit_threshold)
        self.slider.valueChanged.connect(self._slider_moved)
        self.reset_threshold.clicked.connect(
            lambda: self.slider.setValue(round(self._default_threshold * 100))
        )

    def _build_filter(self) -> None:
        """The name search and the decision filter."""
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name…")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search events by name")
        self.decision_filter = QComboBox()
        for text, data in (
            ("All", ""),
            ("Granted", "granted"),
            ("Denied", "denied"),
            ("Unknown", "unknown"),
            ("Identity changed", "change"),
        ):
            self.decision_filter.addItem(text, data)
        self.decision_filter.setAccessibleName("Decision filter")
        self.camera_filter = QComboBox()  # shown with several cameras
        self.camera_filter.setAccessibleName("Camera filter")
        self.camera_filter.addItem("All cameras", "")
        self.camera_filter.setToolTip("Events of one camera (clicking a camera's tile selects it here)")
        self.camera_filter.setVisible(False)
        self.search.textChanged.connect(self._refilter)
        self.decision_filter.currentIndexChanged.connect(self._refilter)
        self.camera_filter.currentIndexChanged.connect(self._refilter)

    def _build_table(self) -> None:
        """The events table."""
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(COLUMNS)
        self.proxy = _EventFilter()
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setAccessibleName("Access events")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(40, 40))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(46)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(0, 48)
        header.setSectionResizeMode(NAME_COL, QHeaderView.ResizeMode.Stretch)
        for col in (1, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        for col, width in ((DIST_COL, DIST_PX), (TRACK_COL, TRACK_PX)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(col, width)
        # the reason/correction column is read in full in its tooltip; it must not squeeze the names
        header.setSectionResizeMode(REASON_COL, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(REASON_COL, 84)
        header.setSectionResizeMode(CAMERA_COL, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(36)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setColumnHidden(CAMERA_COL, True)  # shown once there are several cameras
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _: self._not_this())

    def _build_actions(self) -> None:
        """The "This is not…" and "Enroll this face…" buttons and the summary."""
        self.not_button = QPushButton("This is not…")
        self.not_button.setEnabled(False)
        self.not_button.setToolTip(
            "The face was recognised as the wrong person: no sample is added to them;\n"
            "you can enroll the face as the right person"
        )
        self.not_button.clicked.connect(self._not_this)
        self.enroll_button = QPushButton("Enroll this face…")
        self.enroll_button.setEnabled(False)
        self.enroll_button.clicked.connect(self._enroll_this)
        self.enroll_button.setToolTip(
            f"Enroll the selected event's face as a person ({ENROLL_THIS_SHORTCUT})"
        )
        self.not_button.setToolTip(f"{self.not_button.toolTip()} ({NOT_THIS_SHORTCUT})")
        # shortcuts, not the buttons' own: a button's setText (the name changes) resets its shortcut
        self.not_shortcut = QShortcut(QKeySequence(NOT_THIS_SHORTCUT), self, self._not_this)
        self.enroll_shortcut = QShortcut(QKeySequence(ENROLL_THIS_SHORTCUT), self, self._enroll_this)
        self.summary = QLabel()
        self.summary.setObjectName("eventSummary")
        # wraps: a busy day's counts on one line made the panel ~570 px wide, half a 1024x600 screen
        self.summary.setWordWrap(True)

    def _build_layout(self) -> None:
        """Lay the parts out, top to bottom."""
        top = QHBoxLayout()
        top.addWidget(self.threshold_label)
        top.addWidget(self.slider, 1)
        top.addWidget(self.threshold_value)
        top.addWidget(self.reset_threshold)
        filt = QHBoxLayout()
        filt.addWidget(self.search, 1)
        filt.addWidget(self.decision_filter)
        filt.addWidget(self.camera_filter)
        actions = QHBoxLayout()
        actions.addWidget(self.not_button)
        actions.addWidget(self.enroll_button)
        actions.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.alert_slot)
        lay.addWidget(self.first_run)
        lay.addLayout(top)
        lay.addWidget(self.rates)
        lay.addLayout(filt)
        lay.addWidget(self.table, 1)
        lay.addLayout(actions)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.sound)
        lay.addLayout(row)

    # ------------------------------------------------------------------ threshold

    def set_threshold_model(self, model: str, value: float, default: float) -> None:
        """Show ``model``'s threshold (without emitting a change)."""
        self.model_name, self._default_threshold = model, float(default)
        self.threshold_label.setText(f"Threshold ({model})")
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * 100))
        self.slider.blockSignals(False)
        self.threshold_value.setText(f"{value:.2f}")
        self._update_rates()

    def set_calibration(self, calibration: dict | None) -> None:
        """The model's calibration (``Store.calibration(model)``: threshold, far, frr, target_far, curve)
        or None; the line under the slider then shows the FAR/FRR its position costs."""
        self._calibration = calibration
        self._update_rates()

    def _update_rates(self) -> None:
        c = self._calibration
        if not c or not c.get("curve"):
            self.rates.setText(NOT_CALIBRATED)
            return
        from core.calibration import rates_at

        far, frr = rates_at(c["curve"], self.threshold)

        def pct(v: float | None) -> str:
            return "–" if v is None else f"{100 * float(v):.2g}%"

        target = c.get("target_far")
        ref = f" (calibrated {c.get('threshold', 0):.2f} for FAR {pct(target)})" if target is not None else ""
        self.rates.setText(f"at {self.threshold:.2f}: FAR ≈ {pct(far)} · FRR ≈ {pct(frr)}{ref}")

    @property
    def threshold(self) -> float:
        return self.slider.value() / 100.0

    def _slider_moved(self, v: int) -> None:
        self.threshold_value.setText(f"{v / 100:.2f}")
        self._update_rates()
        self._debounce.start()

    def _emit_threshold(self) -> None:
        if self.model_name:
            self.thresholdChanged.emit(self.model_name, self.threshold)

    # ------------------------------------------------------------------ events
    def add_events(self, events: list[EventView], alert: bool = True) -> None:
        """Add logged events (newest on top). An "unknown" decision raises the unknown-person banner and a
        "change" event (a decided track now shows someone else: tailgating) the identity-changed alarm;
        ``alert`` False for past events loaded from the store."""
        with self._selection_kept():
            for ev in events:
                self._add(ev)
        self._update_summary()
        if alert:
            for ev in events:
                if ev.kind == "change":
                    self.alert_change(ev)
                elif ev.decision == "unknown" and not self.nobody_enrolled:  # first run: the banner says it
                    self.alert_unknown(ev)

    def load_history(self, rows: list[dict], exclude_session: str | None = None) -> int:
        """Show past events from ``Store.events()`` rows (oldest first) with their newest correction, below
        anything already shown; events of ``exclude_session`` (the running one) are skipped."""
        import datetime as dt

        known = {ev.event_id for ev in self.events.values() if ev.event_id is not None}
        views = []
        for r in rows[-HISTORY_EVENTS:]:
            if r["id"] in known or (exclude_session and r.get("session") == exclude_session):
                continue
            try:
                ts = dt.datetime.fromisoformat(str(r["timestamp"]).replace("Z", "+00:00")).timestamp()
            except ValueError:
                ts = 0.0
            views.append(
                EventView(
                    ts,
                    int(r["track"] or 0),
                    r["identity"],
                    r["distance"],
                    r["decision"],
                    str(r.get("session") or ""),
                    event_id=int(r["id"]),
                    reason=r.get("reason") or "",
                    kind=r.get("kind") or "decision",
                    previous=r.get("previous"),
                    camera=r.get("camera") or "",
                    corrected_identity=r.get("corrected_identity"),
                    corrected_by=r.get("corrected_by"),
                    corrected_at=r.get("corrected_at"),
                    correction_note=r.get("correction_note") or "",
                )
            )
        with self._selection_kept():
            for ev in reversed(views):  # under the live rows, newest first
                self._add(ev, at=self.model.rowCount())
        self._update_summary()
        return len(views)

    def _add(self, ev: EventView, at: int = 0) -> None:
        eid = next(self._ids)
        self.events[eid] = ev
        change = ev.kind == "change"
        key = "change" if change else ev.decision
        self.counts[key] = self.counts.get(key, 0) + 1
        face = QStandardItem()
        pm = pixmap_from_bgr(ev.thumb, 40)
        if pm is not None:
            face.setData(pm, Qt.ItemDataRole.DecorationRole)
        face.setData(eid, ID_ROLE)
        day = time.strftime("%Y-%m-%d", time.localtime(ev.timestamp))
        fmt = "%H:%M:%S" if day == time.strftime("%Y-%m-%d") else "%m-%d %H:%M"
        when = QStandardItem(time.strftime(fmt, time.localtime(ev.timestamp)))
        when.setToolTip(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ev.timestamp)))
        shown = ev.identity or "unknown"
        if change:
            shown = f"{ev.previous or 'unknown'} → {ev.identity or 'unknown'}"
        name = QStandardItem(shown)
        dist_text = "" if ev.distance is None else f", distance {ev.distance:.2f}"
        name.setToolTip(f"{ev.identity or 'not recognised'}{dist_text}, track #{ev.track_id}")
        if ev.identity is None:
            f = QFont(name.font())
            f.setItalic(True)
            name.setFont(f)
        decision = QStandardItem(f"⚠ {ev.decision}" if change else ev.decision)
        decision.setData(key, DECISION_ROLE)
        decision.setForeground(DECISION_COLOURS.get(ev.decision, QColor("#cccccc")))
        f = QFont(decision.font())
        f.setBold(True)
        decision.setFont(f)
        reason = QStandardItem("identity changed" if change else REASON_TEXT.get(ev.reason, ev.reason))
        dist = QStandardItem("" if ev.distance is None else f"{ev.distance:.2f}")
        dist.setToolTip("L2 distance to the nearest enrolled face (0 = identical, threshold on the slider)")
        track = QStandardItem(f"#{ev.track_id}")
        for it in (dist, track):
            it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        camera = QStandardItem(ev.camera)
        items = [face, when, name, decision, reason, dist, track, camera]
        if change:
            tip = (
                f"Identity changed on track #{ev.track_id}: was {ev.previous or 'unknown'}, now "
                f"{ev.identity or 'unknown'}. Someone may have followed a granted person in (tailgating)."
            )
            for it in items:
                it.setBackground(CHANGE_BACKGROUND)
                it.setToolTip(tip)
        self.model.insertRow(at, items)
        if ev.corrected:
            self._show_correction(eid, ev)
        while self.model.rowCount() > MAX_EVENTS:
            last = self.model.rowCount() - 1
            self.events.pop(int(self.model.item(last, 0).data(ID_ROLE)), None)
            self.model.removeRow(last)

    @property
    def _several(self) -> bool:
        return not self.table.isColumnHidden(CAMERA_COL)

    def _raise_alert(self, text: str, beep: bool | None) -> None:
        self.alert.setText(text)
        self.alert.setToolTip(f"{text}\n(click to dismiss)")
        self.alert.setVisible(True)
        self._alert_timer.start(ALERT_MS)
        if self.sound.isChecked() if beep is None else beep:
            QApplication.beep()

    def alert_unknown(self, ev: EventView, beep: bool | None = None) -> None:
        """Show (and optionally sound) the unknown-person alert for a logged "unknown" decision."""
        self.alerts += 1
        self._raise_alert(
            f"⚠  Unknown person at {f'camera {ev.camera}' if self._several else 'the door'} — "
            f"track #{ev.track_id}, "
            f"{time.strftime('%H:%M:%S', time.localtime(ev.timestamp))}",
            beep,
        )

    def alert_change(self, ev: EventView, beep: bool | None = None) -> None:
        """The identity-changed alarm: a decided track now shows another face (tailgating?)."""
        self.alerts += 1
        self.change_alerts += 1
        self._raise_alert(
            f"⚠  Identity changed{f' at camera {ev.camera}' if self._several else ''} on track "
            f"#{ev.track_id}: {ev.previous or 'unknown'} → "
            f"{ev.identity or 'unknown'} ({ev.decision}), "
            f"{time.strftime('%H:%M:%S', time.localtime(ev.timestamp))} — tailgating?",
            True if beep is None else beep,  # an alarm sounds whatever the unknown-face beep setting
        )

    def _update_summary(self) -> None:
        c = self.counts
        changed = (
            f" · <span style='color:#ff5d5d'><b>{c['change']} identity changed</b></span>"
            if c.get("change")
            else ""
        )
        self.summary.setText(
            f"<span style='color:#3ecf6e'>{c.get('granted', 0)} granted</span> · "
            f"<span style='color:#ff5d5d'>{c.get('denied', 0)} denied</span> · "
            f"<span style='color:#ffab2e'>{c.get('unknown', 0)} unknown</span>{changed}"
        )

    def _refilter(self) -> None:
        with self._selection_kept():
            self.proxy.set(
                self.search.text(),
                str(self.decision_filter.currentData() or ""),
                str(self.camera_filter.currentData() or ""),
            )

    # ------------------------------------------------------------------ cameras
    def set_cameras(self, names: list[str]) -> None:
        """The session's cameras: with several, the Camera column and the camera filter show."""
        several = len(names) > 1
        current = str(self.camera_filter.currentData() or "")
        self.camera_filter.blockSignals(True)
        self.camera_filter.clear()
        self.camera_filter.addItem("All cameras", "")
        for name in names:
            self.camera_filter.addItem(name, name)
        i = self.camera_filter.findData(current) if several else 0
        self.camera_filter.setCurrentIndex(max(0, i))
        self.camera_filter.blockSignals(False)
        self.camera_filter.setVisible(several)
        self.table.setColumnHidden(CAMERA_COL, not several)
        self._fit_columns()
        self._refilter()

    # ------------------------------------------------------------------ columns
    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """The names keep their width: in a narrow panel (a 1024x600 screen) Dist. and Track go, and with
        several cameras the camera takes the track id's place (track ids repeat across cameras). The
        video labels (#3) and the name's tooltip still carry both."""
        t = self.table
        shown = (c for c in range(len(COLUMNS)) if c not in (NAME_COL, DIST_COL, TRACK_COL))
        others = sum(t.columnWidth(c) for c in shown if not t.isColumnHidden(c))
        others += DIST_PX + (0 if self._several else TRACK_PX)  # with them shown (hidden ones read 0)
        narrow = t.viewport().width() - others < NAME_MIN_PX
        t.setColumnHidden(TRACK_COL, self._several or narrow)
        t.setColumnHidden(DIST_COL, narrow)

    def show_camera(self, name: str) -> None:
        """Filter the log to camera ``name`` ("": every camera)."""
        i = self.camera_filter.findData(name)
        if i >= 0:
            self.camera_filter.setCurrentIndex(i)

    @property
    def camera(self) -> str:
        """The camera the log is filtered to ("": all)."""
        return str(self.camera_filter.currentData() or "")

    @contextlib.contextmanager
    def _selection_kept(self) -> Iterator[None]:
        """Keep the operator's selected event selected through model/filter changes: never let the
        selection slide onto another event (when the event is filtered out, nothing is selected until it
        shows again)."""
        keep = self._keep
        yield
        if keep is None:
            return
        self._keep = keep
        if not self.select_event(keep):
            self.table.blockSignals(True)
            self.table.clearSelection()
            self.table.blockSignals(False)
            self._keep = keep
            self._sync_buttons(None)

    # ------------------------------------------------------------------ selection / actions
    def selected(self) -> tuple[int, EventView] | None:
        rows = self.table.selectionModel().selectedRows(0)
        if not rows:
            return None
        eid = rows[0].data(ID_ROLE)
        ev = self.events.get(int(eid)) if eid is not None else None
        return (int(eid), ev) if ev is not None else None

    def select_event(self, eid: int) -> bool:
        """Select event ``eid``'s row; False when it is not shown (filtered out or dropped)."""
        for r in range(self.model.rowCount()):
            if self.model.item(r, 0).data(ID_ROLE) == eid:
                idx = self.proxy.mapFromSource(self.model.index(r, 0))
                if not idx.isValid():
                    return False
                self.table.selectRow(idx.row())
                self.table.scrollTo(idx)
                return True
        return False

    def _selection_changed(self) -> None:
        sel = self.selected()
        self._keep = sel[0] if sel else None
        self._sync_buttons(sel[1] if sel else None)

    def _sync_buttons(self, ev: EventView | None) -> None:
        self.not_button.setEnabled(bool(ev and ev.identity))
        self.not_button.setText(f"This is not {ev.identity}…" if ev and ev.identity else "This is not…")
        self.enroll_button.setEnabled(bool(ev and ev.crop is not None))

    def mark_corrected(
        self, eid: int, identity: str | None, by: str, note: str = "", at: str | None = None
    ) -> None:
        """Show the operator's correction of event ``eid`` (recorded in the store by the caller): it was
        ``identity`` (None: nobody enrolled), said by ``by``."""
        ev = self.events.get(eid)
        if ev is None:
            return
        ev.corrected_identity, ev.corrected_by, ev.correction_note = identity, by, note
        ev.corrected_at = at or time.strftime("%Y-%m-%dT%H:%M:%S")
        with self._selection_kept():
            self._show_correction(eid, ev)

    def _show_correction(self, eid: int, ev: EventView) -> None:
        """The logged name and decision stay, struck through and grey (the log is never edited); the
        "Why" column says who corrected it to whom."""
        self.corrected.add(eid)
        for r in range(self.model.rowCount()):
            if self.model.item(r, 0).data(ID_ROLE) == eid:
                text = f"corrected: {ev.corrected_identity or 'unknown'} by {ev.corrected_by}"
                tip = f"{text} at {ev.corrected_at}"
                if ev.correction_note:
                    tip += f"\n{ev.correction_note}"
                for col in (NAME_COL, DECISION_COL):
                    item = self.model.item(r, col)
                    f = QFont(item.font())
                    f.setStrikeOut(True)
                    item.setFont(f)
                    item.setToolTip(tip)
                self.model.item(r, DECISION_COL).setForeground(QColor("#9aa4b1"))
                why = self.model.item(r, REASON_COL)
                why.setText(text)
                why.setForeground(QColor("#5ab0ff"))
                why.setToolTip(tip)
                return

    def _not_this(self) -> None:
        sel = self.selected()
        if sel and sel[1].identity:
            self.notThisPerson.emit(sel)

    def _enroll_this(self) -> None:
        sel = self.selected()
        if sel and sel[1].crop is not None:
            self.enrollFace.emit(sel)
