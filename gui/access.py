"""The access panel: events as they happen, the unknown-face alert, filter/search, the threshold slider,
and "this is not X" on an event."""

from __future__ import annotations

import itertools
import time

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
from PySide6.QtGui import QColor, QFont, QPixmap, QStandardItem, QStandardItemModel
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
    QSlider,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gui.video import to_qimage
from gui.worker import EventView

MAX_EVENTS = 2000
ALERT_MS = 8000
DECISION_COLOURS = {"granted": QColor("#3ecf6e"), "denied": QColor("#ff5d5d"), "unknown": QColor("#ffab2e")}
ID_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = ["", "Time", "Name", "Decision", "Dist.", "Track"]
NAME_COL, DECISION_COL = 2, 3


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

    def set(self, text: str, decision: str) -> None:
        self.text, self.decision = text.strip().lower(), decision
        self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        m = self.sourceModel()
        name = str(m.index(row, NAME_COL, parent).data() or "").lower()
        decision = str(m.index(row, DECISION_COL, parent).data() or "")
        return (not self.text or self.text in name) and (not self.decision or decision == self.decision)


class AccessPanel(QWidget):
    notThisPerson = Signal(object)  # EventView the operator says is not who it was recognised as
    enrollFace = Signal(object)  # EventView whose face the operator wants to enroll
    thresholdChanged = Signal(str, float)  # recognizer model, L2 threshold
    alertSoundChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.events: dict[int, EventView] = {}
        self._ids = itertools.count(1)
        self.counts = {"granted": 0, "denied": 0, "unknown": 0}
        self.alerts = 0
        self.corrected: set[int] = set()
        self.model_name = ""
        self._default_threshold = 1.0

        # unknown-face alert
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
        self.sound = QCheckBox("Beep on unknown face")
        self.sound.toggled.connect(self.alertSoundChanged)

        # threshold
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
        self.reset_threshold = QPushButton("Default")
        self.reset_threshold.setToolTip("Back to the model's measured default")
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._emit_threshold)
        self.slider.valueChanged.connect(self._slider_moved)
        self.reset_threshold.clicked.connect(
            lambda: self.slider.setValue(round(self._default_threshold * 100))
        )

        # filter
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name…")
        self.search.setClearButtonEnabled(True)
        self.decision_filter = QComboBox()
        for text, data in (("All", ""), ("Granted", "granted"), ("Denied", "denied"), ("Unknown", "unknown")):
            self.decision_filter.addItem(text, data)
        self.search.textChanged.connect(self._refilter)
        self.decision_filter.currentIndexChanged.connect(self._refilter)

        # events
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(COLUMNS)
        self.proxy = _EventFilter()
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
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
        for col in (1, 3, 4, 5):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _: self._not_this())

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
        self.summary = QLabel()
        self.summary.setObjectName("eventSummary")

        top = QHBoxLayout()
        top.addWidget(self.threshold_label)
        top.addWidget(self.slider, 1)
        top.addWidget(self.threshold_value)
        top.addWidget(self.reset_threshold)
        filt = QHBoxLayout()
        filt.addWidget(self.search, 1)
        filt.addWidget(self.decision_filter)
        actions = QHBoxLayout()
        actions.addWidget(self.not_button)
        actions.addWidget(self.enroll_button)
        actions.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.alert)
        lay.addLayout(top)
        lay.addLayout(filt)
        lay.addWidget(self.table, 1)
        lay.addLayout(actions)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.sound)
        lay.addLayout(row)
        self._update_summary()

    # ------------------------------------------------------------------ threshold
    def set_threshold_model(self, model: str, value: float, default: float) -> None:
        """Show ``model``'s threshold (without emitting a change)."""
        self.model_name, self._default_threshold = model, float(default)
        self.threshold_label.setText(f"Threshold ({model})")
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * 100))
        self.slider.blockSignals(False)
        self.threshold_value.setText(f"{value:.2f}")

    @property
    def threshold(self) -> float:
        return self.slider.value() / 100.0

    def _slider_moved(self, v: int) -> None:
        self.threshold_value.setText(f"{v / 100:.2f}")
        self._debounce.start()

    def _emit_threshold(self) -> None:
        if self.model_name:
            self.thresholdChanged.emit(self.model_name, self.threshold)

    # ------------------------------------------------------------------ events
    def add_events(self, events: list[EventView]) -> None:
        for ev in events:
            self._add(ev)
        self._update_summary()

    def _add(self, ev: EventView) -> None:
        eid = next(self._ids)
        self.events[eid] = ev
        self.counts[ev.decision] = self.counts.get(ev.decision, 0) + 1
        face = QStandardItem()
        pm = pixmap_from_bgr(ev.thumb, 40)
        if pm is not None:
            face.setData(pm, Qt.ItemDataRole.DecorationRole)
        face.setData(eid, ID_ROLE)
        when = QStandardItem(time.strftime("%H:%M:%S", time.localtime(ev.timestamp)))
        name = QStandardItem(ev.identity or "unknown")
        name.setToolTip(ev.identity or "not recognised")
        if ev.identity is None:
            f = QFont(name.font())
            f.setItalic(True)
            name.setFont(f)
        decision = QStandardItem(ev.decision)
        decision.setForeground(DECISION_COLOURS.get(ev.decision, QColor("#cccccc")))
        f = QFont(decision.font())
        f.setBold(True)
        decision.setFont(f)
        dist = QStandardItem("" if ev.distance is None else f"{ev.distance:.2f}")
        dist.setToolTip("L2 distance to the nearest enrolled face (0 = identical, threshold on the slider)")
        track = QStandardItem(f"#{ev.track_id}")
        for it in (dist, track):
            it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.model.insertRow(0, [face, when, name, decision, dist, track])
        while self.model.rowCount() > MAX_EVENTS:
            last = self.model.rowCount() - 1
            self.events.pop(int(self.model.item(last, 0).data(ID_ROLE)), None)
            self.model.removeRow(last)

    def alert_unknown(self, ev: EventView, beep: bool | None = None) -> None:
        """Show (and optionally sound) the unknown-face alert."""
        self.alerts += 1
        self.alert.setText(
            f"⚠  Unknown person at the door — track #{ev.track_id}, "
            f"{time.strftime('%H:%M:%S', time.localtime(ev.timestamp))}"
        )
        self.alert.setVisible(True)
        self._alert_timer.start(ALERT_MS)
        if self.sound.isChecked() if beep is None else beep:
            QApplication.beep()

    def _update_summary(self) -> None:
        c = self.counts
        self.summary.setText(
            f"<span style='color:#3ecf6e'>{c.get('granted', 0)} granted</span> · "
            f"<span style='color:#ff5d5d'>{c.get('denied', 0)} denied</span> · "
            f"<span style='color:#ffab2e'>{c.get('unknown', 0)} unknown</span>"
        )

    def _refilter(self) -> None:
        self.proxy.set(self.search.text(), str(self.decision_filter.currentData() or ""))

    # ------------------------------------------------------------------ selection / actions
    def selected(self) -> tuple[int, EventView] | None:
        rows = self.table.selectionModel().selectedRows(0)
        if not rows:
            return None
        eid = rows[0].data(ID_ROLE)
        ev = self.events.get(int(eid)) if eid is not None else None
        return (int(eid), ev) if ev is not None else None

    def select_event(self, eid: int) -> None:
        for r in range(self.model.rowCount()):
            if self.model.item(r, 0).data(ID_ROLE) == eid:
                idx = self.proxy.mapFromSource(self.model.index(r, 0))
                if idx.isValid():
                    self.table.selectRow(idx.row())
                return

    def _selection_changed(self) -> None:
        sel = self.selected()
        ev = sel[1] if sel else None
        self.not_button.setEnabled(bool(ev and ev.identity))
        self.not_button.setText(f"This is not {ev.identity}…" if ev and ev.identity else "This is not…")
        self.enroll_button.setEnabled(bool(ev and ev.crop is not None))

    def mark_corrected(self, eid: int, note: str) -> None:
        """Strike the event's name through and say what the operator said about it."""
        self.corrected.add(eid)
        for r in range(self.model.rowCount()):
            if self.model.item(r, 0).data(ID_ROLE) == eid:
                item = self.model.item(r, NAME_COL)
                f = QFont(item.font())
                f.setStrikeOut(True)
                item.setFont(f)
                item.setToolTip(note)
                self.model.item(r, DECISION_COL).setText("corrected")
                self.model.item(r, DECISION_COL).setForeground(QColor("#9aa4b1"))
                self.model.item(r, DECISION_COL).setToolTip(note)
                return

    def _not_this(self) -> None:
        sel = self.selected()
        if sel and sel[1].identity:
            self.notThisPerson.emit(sel)

    def _enroll_this(self) -> None:
        sel = self.selected()
        if sel and sel[1].crop is not None:
            self.enrollFace.emit(sel)
