"""The event history window (View ▸ History…, Ctrl+H; issue 13): past access events searched by time range,
person, decision, camera and alarm state, on a wall-clock timeline and in a table; the selected event
opens with its face crop, frame snapshot and the person's enrolled photo side by side. The filtered
events export to CSV, and an open alarm is acknowledged from here (``Store.ack_alarm``, audited).

Everything is read from the store on Apply (``Store.find_events``, ``Store.event_detail``); nothing is
cached between queries, so events recorded meanwhile show on the next Apply.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QDate, QDateTime, Qt, QTime
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateTimeEdit,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.errors import FaceGateError
from gui.plots import BACKGROUND, FOREGROUND
from gui.present import local_time, pixmap_from_jpeg

#: timeline lanes (y) and colours per decision: granted green, denied red, unknown amber
LANES = {"granted": 0, "denied": 1, "unknown": 2}
COLOURS = {"granted": "#3cb44b", "denied": "#e5534b", "unknown": "#f5a623"}
QUICK_RANGES = ("Today", "Yesterday", "Last 7 days", "Last 30 days")
ALARM_STATES = {"all events": None, "open alarms": False, "acknowledged alarms": True}
COLUMNS = ("Time", "Camera", "Person", "Decision", "Reason", "Distance", "Alarm")
FACE_PX, SNAPSHOT_W, SNAPSHOT_H = 128, 256, 144


def quick_range(name: str, now: _dt.datetime) -> tuple[_dt.datetime, _dt.datetime]:
    """(From, To) of a quick range in local time, To the last minute included (see :meth:`HistoryWindow.query`)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    last = _dt.timedelta(minutes=1)
    if name == "Today":
        return midnight, midnight + _dt.timedelta(days=1) - last
    if name == "Yesterday":
        return midnight - _dt.timedelta(days=1), midnight - last
    days = 7 if name == "Last 7 days" else 30
    return midnight - _dt.timedelta(days=days - 1), midnight + _dt.timedelta(days=1) - last


def to_qdatetime(when: _dt.datetime) -> QDateTime:
    """A naive local ``when`` as a QDateTime (to the minute)."""
    return QDateTime(QDate(when.year, when.month, when.day), QTime(when.hour, when.minute))


def from_qdatetime(when: QDateTime) -> _dt.datetime:
    """A QDateTime edit's value as a naive local datetime, to the minute."""
    d, t = when.date(), when.time()
    return _dt.datetime(d.year(), d.month(), d.day(), t.hour(), t.minute())


def _ack_text(r: dict[str, Any]) -> str:
    if not r["alarm"]:
        return ""
    return f"acknowledged by {r['ack_by']}" if r["acknowledged"] else "OPEN"


class _Picture(QWidget):
    """A caption over an image, or over the reason there is none."""

    def __init__(self, caption: str, width: int, height: int) -> None:
        super().__init__()
        self.width_px, self.height_px = width, height
        self.caption = QLabel(f"<b>{caption}</b>")
        self.image = QLabel()
        self.image.setFixedSize(width, height)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setStyleSheet("background: #1d2127; color: #aab2be;")
        self.image.setWordWrap(True)
        self.image.setAccessibleName(caption)
        self.caption.setBuddy(self.image)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.caption)
        lay.addWidget(self.image)

    def show_jpeg(self, data: bytes | None, missing: str) -> bool:
        """Show ``data`` (a JPEG), or the text ``missing``; True when an image is shown."""
        pm = pixmap_from_jpeg(data, self.width_px, self.height_px)
        if pm is None:
            self.image.clear()
            self.image.setText(missing)
            return False
        self.image.setPixmap(pm)
        return True

    def has_image(self) -> bool:
        pm = self.image.pixmap()
        return pm is not None and not pm.isNull()


class HistoryWindow(QWidget):
    """The non-modal event history; ``store_of()`` gives the identity store (the window's ``gui_store``)."""

    def __init__(self, store_of: Callable[[], Any], parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Event history")
        self.setAccessibleName("Event history")
        self.store_of = store_of
        self.rows: list[dict[str, Any]] = []
        self.detail: dict[str, Any] | None = None
        lay = QVBoxLayout(self)
        lay.addLayout(self._build_filters())
        self.message = QLabel()
        self.message.setAccessibleName("History message")
        lay.addWidget(self.message)
        lay.addWidget(self._build_timeline())
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._build_table())
        split.addWidget(self._build_detail())
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 0)
        split.setSizes([640, 580])
        lay.addWidget(split, 1)
        self.resize(1240, 760)
        self.set_range("Last 7 days", apply=False)
        self.apply()

    # ------------------------------------------------------------------ building
    def _build_filters(self) -> QGridLayout:
        grid = QGridLayout()

        def field(row: int, col: int, text: str, widget: QWidget, name: str) -> None:
            label = QLabel(text)
            label.setBuddy(widget)
            widget.setAccessibleName(name)
            grid.addWidget(label, row, col)
            grid.addWidget(widget, row, col + 1)

        self.from_edit = QDateTimeEdit(calendarPopup=True)
        self.to_edit = QDateTimeEdit(calendarPopup=True)
        for edit in (self.from_edit, self.to_edit):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setTimeSpec(Qt.TimeSpec.LocalTime)
        field(0, 0, "&From:", self.from_edit, "From (local time)")
        field(0, 2, "&To:", self.to_edit, "To (local time, this minute included)")
        quick = QHBoxLayout()
        self.quick_buttons: dict[str, QPushButton] = {}
        for name in QUICK_RANGES:
            b = QPushButton(name)
            b.setAccessibleName(f"Show {name.lower()}")
            b.clicked.connect(lambda _=False, n=name: self.set_range(n))
            quick.addWidget(b)
            self.quick_buttons[name] = b
        grid.addLayout(quick, 0, 4, 1, 4)
        self.person_combo = QComboBox()
        self.person_combo.setEditable(True)
        self.person_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        line = self.person_combo.lineEdit()
        if line is not None:
            line.setPlaceholderText("any person")
        self.person_combo.setMinimumWidth(140)
        field(1, 0, "&Person:", self.person_combo, "Person")
        self.decision_combo = QComboBox()
        self.decision_combo.addItems(["any decision", *LANES])
        field(1, 2, "&Decision:", self.decision_combo, "Decision")
        self.camera_combo = QComboBox()
        self.camera_combo.addItem("any camera")
        self.camera_combo.setMinimumWidth(110)
        field(1, 4, "&Camera:", self.camera_combo, "Camera")
        self.alarm_combo = QComboBox()
        self.alarm_combo.addItems(list(ALARM_STATES))
        field(1, 6, "&Alarms:", self.alarm_combo, "Alarm state")
        buttons = QHBoxLayout()
        self.apply_button = QPushButton("&Apply")
        self.apply_button.setAccessibleName("Apply the filter")
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(self.apply)
        self.export_button = QPushButton("&Export…")
        self.export_button.setAccessibleName("Export the filtered events to CSV")
        self.export_button.clicked.connect(lambda: self.export_csv())
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.export_button)
        grid.addLayout(buttons, 1, 8)
        grid.setColumnStretch(9, 1)
        return grid

    def _build_timeline(self) -> pg.PlotWidget:
        self.timeline = pg.PlotWidget(
            background=BACKGROUND, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")}
        )
        self.timeline.setAccessibleName("Event timeline: one point per event, click one to select it")
        self.timeline.setFixedHeight(150)
        item = self.timeline.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.showGrid(x=True, y=False, alpha=0.15)
        item.setMouseEnabled(x=True, y=False)
        left = item.getAxis("left")
        left.setTicks([[(lane, name) for name, lane in LANES.items()]])
        left.setWidth(60)
        for axis in ("left", "bottom"):
            item.getAxis(axis).setTextPen(FOREGROUND)
            item.getAxis(axis).setPen(pg.mkPen("#3a4049"))
        item.setYRange(-0.6, 2.6, padding=0)
        self.scatter = pg.ScatterPlotItem(size=11, pen=pg.mkPen("#15181d"), hoverable=True)
        self.scatter.sigClicked.connect(self._point_clicked)
        self.marker = pg.ScatterPlotItem(size=19, pen=pg.mkPen("#ffffff", width=2), brush=None)
        item.addItem(self.scatter)
        item.addItem(self.marker)
        return self.timeline

    def _build_table(self) -> QTableWidget:
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setAccessibleName("Events")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        return self.table

    def _build_detail(self) -> QGroupBox:
        box = QGroupBox("Event detail")
        lay = QVBoxLayout(box)
        pictures = QHBoxLayout()
        self.face = _Picture("Face at the door", FACE_PX, FACE_PX)
        self.snapshot = _Picture("Frame snapshot", SNAPSHOT_W, SNAPSHOT_H)
        self.enrolled = _Picture("Enrolled photo", FACE_PX, FACE_PX)
        for p in (self.face, self.snapshot, self.enrolled):
            pictures.addWidget(p, alignment=Qt.AlignmentFlag.AlignTop)
        pictures.addStretch(1)
        lay.addLayout(pictures)
        self.facts = QLabel("Select an event.")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.facts.setAccessibleName("Event facts")
        lay.addWidget(self.facts)
        self.ack_button = QPushButton("Ac&knowledge…")
        self.ack_button.setAccessibleName("Acknowledge this alarm")
        self.ack_button.setEnabled(False)
        self.ack_button.clicked.connect(lambda: self.acknowledge())
        lay.addWidget(self.ack_button, alignment=Qt.AlignmentFlag.AlignLeft)
        lay.addStretch(1)
        return box

    # ------------------------------------------------------------------ filter
    def say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #e5534b;" if error else "")

    def set_range(self, name: str, apply: bool = True) -> None:
        start, end = quick_range(name, _dt.datetime.now())
        self.from_edit.setDateTime(to_qdatetime(start))
        self.to_edit.setDateTime(to_qdatetime(end))
        if apply:
            self.apply()

    def query(self) -> dict[str, Any]:
        """The filter as ``find_events`` arguments; To is inclusive to its minute. Raises ValueError with
        the one line to show when the range is backwards."""
        start, end = from_qdatetime(self.from_edit.dateTime()), from_qdatetime(self.to_edit.dateTime())
        if start > end:
            raise ValueError(
                f"From ({start:%Y-%m-%d %H:%M}) is after To ({end:%Y-%m-%d %H:%M}); nothing changed"
            )
        decision = self.decision_combo.currentText()
        camera = self.camera_combo.currentText()
        return {
            "since": start.astimezone().isoformat(),
            "until": (end + _dt.timedelta(minutes=1)).astimezone().isoformat(),
            "person": self.person_combo.currentText().strip() or None,
            "decision": decision if decision in LANES else None,
            "camera": None if self.camera_combo.currentIndex() == 0 else camera,
            "acknowledged": ALARM_STATES[self.alarm_combo.currentText()],
        }

    def apply(self) -> bool:
        """Re-query the store with the filter; on a bad filter or an unreadable store one line, and the
        events shown stay as they were."""
        try:
            args = self.query()
            store = self.store_of()
            rows = store.find_events(**args)
            names = store.event_names()
        except (ValueError, FaceGateError) as err:
            self.say(str(err), error=True)
            return False
        keep = self.selected_id()
        self.rows = rows
        self._fill_choices(names)
        self._fill_table()
        self._fill_timeline()
        alarms = sum(1 for r in rows if r["alarm"] and not r["acknowledged"])
        self.say(f"{len(rows)} events" + (f", {alarms} open alarms" if alarms else ""))
        ids = [r["id"] for r in rows]
        self.select_event(keep if keep in ids else (ids[-1] if ids else None))
        return True

    def _fill_choices(self, names: dict[str, list[str]]) -> None:
        person = self.person_combo.currentText()
        self.person_combo.blockSignals(True)
        self.person_combo.clear()
        self.person_combo.addItems(names["people"])
        self.person_combo.setEditText(person)
        self.person_combo.blockSignals(False)
        camera = self.camera_combo.currentText()
        self.camera_combo.clear()
        self.camera_combo.addItems(["any camera", *names["cameras"]])
        self.camera_combo.setCurrentIndex(max(0, self.camera_combo.findText(camera)))

    def _fill_table(self) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            dist = "" if r["distance"] is None else f"{r['distance']:.3f}"
            who = r["identity"] or "unknown"
            if r["kind"] == "change":
                who += f" (was {r['previous'] or 'unknown'})"
            cells = (local_time(r["timestamp"]), r["camera"] or "-", who, r["decision"], r["reason"], dist)
            for col, text in enumerate((*cells, _ack_text(r))):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, r["id"])
                if col == 3:
                    item.setForeground(pg.mkColor(COLOURS.get(r["decision"], FOREGROUND)))
                self.table.setItem(i, col, item)
        self.table.blockSignals(False)

    def _fill_timeline(self) -> None:
        spots = [
            {
                "pos": (_dt.datetime.fromisoformat(r["timestamp"]).timestamp(), LANES.get(r["decision"], 2)),
                "brush": pg.mkBrush(COLOURS.get(r["decision"], FOREGROUND)),
                "data": i,
            }
            for i, r in enumerate(self.rows)
        ]
        self.scatter.setData(spots)
        self.marker.setData([])
        if spots:
            xs = [s["pos"][0] for s in spots]
            pad = max(60.0, (max(xs) - min(xs)) * 0.05)
            self.timeline.getPlotItem().setXRange(min(xs) - pad, max(xs) + pad, padding=0)

    # ------------------------------------------------------------------ selection and detail
    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return int(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def select_event(self, event_id: int | None) -> None:
        """Select the event ``event_id`` in the table (and so on the timeline and in the detail pane)."""
        for i, r in enumerate(self.rows):
            if r["id"] == event_id:
                self.table.selectRow(i)
                self.table.scrollTo(self.table.model().index(i, 0))
                self._selection_changed()
                return
        self.table.clearSelection()
        self._selection_changed()

    def _point_clicked(self, _item: Any, points: Any, *_: Any) -> None:
        if len(points):
            self.select_event(self.rows[int(points[0].data())]["id"])

    def _selection_changed(self) -> None:
        eid = self.selected_id()
        index = next((i for i, r in enumerate(self.rows) if r["id"] == eid), None)
        if index is None:
            self.marker.setData([])
            self.show_detail(None)
            return
        r = self.rows[index]
        x = _dt.datetime.fromisoformat(r["timestamp"]).timestamp()
        self.marker.setData([{"pos": (x, LANES.get(r["decision"], 2))}])
        self.show_detail(eid)

    def show_detail(self, event_id: int | None) -> None:
        self.detail = None
        self.ack_button.setEnabled(False)
        if event_id is None:
            for p in (self.face, self.snapshot, self.enrolled):
                p.show_jpeg(None, "")
            self.facts.setText("Select an event.")
            return
        try:
            d = self.store_of().event_detail(event_id)
        except FaceGateError as err:
            self.say(str(err), error=True)
            return
        self.detail = d
        removed = "snapshot removed by retention (or none was stored)"
        self.face.show_jpeg(d["thumbnail"], "no face crop: " + removed)
        self.snapshot.show_jpeg(d["snapshot"], removed)
        enrolled_missing = "stranger: no enrolled photo" if not d["identity"] else "no enrolled photo"
        self.enrolled.show_jpeg(d["enrolled_photo"], enrolled_missing)
        self.facts.setText(self._facts_html(d))
        self.ack_button.setEnabled(d["alarm"] and not d["acknowledged"])

    @staticmethod
    def _facts_html(d: dict[str, Any]) -> str:
        from html import escape

        who = escape(d["identity"] or "unknown person")
        colour = COLOURS.get(d["decision"], FOREGROUND)
        lines = [
            f"<b>{who}</b> — <span style='color:{colour}'><b>{escape(d['decision'])}</b></span>"
            f" ({escape(d['reason'] or '-')}) at camera <b>{escape(d['camera'] or '-')}</b>",
            f"{local_time(d['timestamp'])} · event {d['id']} · track {d['track']} · "
            f"{d['observations'] or 0} observations",
        ]
        dist = "-" if d["distance"] is None else f"{d['distance']:.3f}"
        if d["threshold"] is None:
            thr = "not recorded, not calibrated"
        elif d["threshold_source"] == "decision":
            thr = f"{d['threshold']:.3f} (used for this decision)"
        else:  # logged before FaceGate kept it with the event
            thr = f"{d['threshold']:.3f} (calibrated now; not recorded with this event)"
        lines.append(f"distance {dist} · threshold {thr}")
        if d["kind"] == "change":
            lines.append(f"identity changed on a decided track (was {escape(d['previous'] or 'unknown')})")
        for c in d["corrections"]:
            note = f": {escape(c['note'])}" if c["note"] else ""
            lines.append(
                f"corrected to <b>{escape(c['identity'] or 'not enrolled')}</b> by {escape(c['user'])} "
                f"at {local_time(c['created'])}{note}"
            )
        if not d["corrections"]:
            lines.append("no corrections")
        if d["alarm"]:
            if d["acknowledged"]:
                note = f": {escape(d['ack_note'])}" if d["ack_note"] else ""
                lines.append(
                    f"alarm acknowledged by {escape(d['ack_by'])} at {local_time(d['ack_at'])}{note}"
                )
            else:
                lines.append("<span style='color:#e5534b'><b>alarm open</b></span>")
        return "<br>".join(lines)

    # ------------------------------------------------------------------ actions
    def acknowledge(self, note: str | None = None) -> bool:
        """Acknowledge the selected open alarm with ``note`` (asked for when None); refreshes."""
        d = self.detail
        if d is None or not d["alarm"] or d["acknowledged"]:
            return False
        if note is None:
            text, ok = QInputDialog.getText(
                self, "Acknowledge alarm", f"Note for event {d['id']} (optional):"
            )
            if not ok:
                return False
            note = text
        try:
            self.store_of().ack_alarm(int(d["id"]), note.strip())
        except FaceGateError as err:
            self.say(str(err), error=True)
            return False
        self.apply()
        self.say(f"alarm {d['id']} acknowledged")
        return True

    def export_csv(self, path: str | None = None) -> int | None:
        """Write the events shown (the applied filter) to a CSV file (asked for when ``path`` is None)."""
        from db.history import write_events_csv

        if path is None:
            from gui.filedialog import get_save_file_name

            path, _ = get_save_file_name(self, "Export events", "events.csv", "CSV files (*.csv)")
            if not path:
                return None
        try:
            n = write_events_csv(self.rows, path)
        except FaceGateError as err:
            self.say(str(err), error=True)
            return None
        self.say(f"{n} events written to {path}")
        return n
