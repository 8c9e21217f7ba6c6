"""Alarms in the window (issue 13; the store side is db/audit.py).

An alarm is an unknown, denied or identity-changed (tailgating) event; it stays open until an operator
acknowledges it. :class:`AlarmActions` keeps the open count everywhere at once (status bar, the
full-screen overlay, the Alarms window) and acknowledges: Ctrl+K anywhere in the window, full screen
included, acknowledges the selected alarm (Alarms window, then the access log) or else the newest open one,
with an optional note. :class:`AlarmsWindow` (View ▸ Alarms…, Ctrl+Shift+A) lists them, open ones first;
:class:`AlarmOverlay` is the small bar over the video in full screen (the docks and status bar are hidden
there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.errors import FaceGateError
from gui.present import local_time, pixmap_from_jpeg
from gui.views import EventView

log = logging.getLogger(__name__)

ACK_SHORTCUT = "Ctrl+K"
ALARMS_SHORTCUT = "Ctrl+Shift+A"
OPEN_COLOUR = QColor("#ff5d5d")
ACKED_COLOUR = QColor("#9aa4b1")
COLUMNS = ["", "Time", "Camera", "Person", "Decision", "Why", "State"]
STATE_COL = 6
ID_ROLE = Qt.ItemDataRole.UserRole + 1
OPEN_ROLE = Qt.ItemDataRole.UserRole + 2
REASONS = {"no-match": "no match", "identity-changed": "identity changed"}
OVERLAY_MARGIN = 12  # px from the video's bottom-right corner (each tile's name and state are at its top)
# its own style: translucent over any video, whether or not the window's style sheet is applied
OVERLAY_STYLE = """
QFrame#alarmOverlay { background: rgba(14, 16, 20, 190); border: 1px solid #4a5361; border-radius: 6px; }
QFrame#alarmOverlay[alarm="true"] { background: rgba(110, 22, 22, 215); border: 2px solid #ff5d5d; }
QLabel { color: #dfe4ea; background: transparent; }
QLabel#alarmOverlayCount { color: #ffffff; font-weight: bold; }
QLabel#alarmOverlayMessage { color: #ffd60a; }
"""


def is_alarm(ev: EventView) -> bool:
    """An event that needs an operator's look (db/audit.py ALARM_WHERE)."""
    return ev.kind == "change" or ev.decision in ("unknown", "denied")


def person(alarm: dict[str, Any]) -> str:
    """Who the alarm is about: ``unknown``, ``eve``, or ``ann → bob`` for an identity change."""
    who = alarm.get("identity") or "unknown"
    return f"{alarm.get('previous') or 'unknown'} → {who}" if alarm.get("kind") == "change" else who


def what(alarm: dict[str, Any]) -> str:
    return "identity changed" if alarm.get("kind") == "change" else str(alarm.get("decision") or "")


class AlarmOverlay(QFrame):
    """The full-screen alarm bar: a child of the video (not a layout item), kept in its bottom-right corner."""

    acknowledge = Signal()

    def __init__(self, video: QWidget) -> None:
        super().__init__(video)
        self.setObjectName("alarmOverlay")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(OVERLAY_STYLE)
        self.count_label = QLabel()
        self.count_label.setObjectName("alarmOverlayCount")
        self.newest_label = QLabel()
        self.newest_label.setObjectName("alarmOverlayNewest")
        self.message = QLabel()  # "already acknowledged by …" (the status bar is hidden in full screen)
        self.message.setObjectName("alarmOverlayMessage")
        self.message.setVisible(False)
        self.button = QPushButton(f"Acknowledge ({ACK_SHORTCUT})")
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the video keeps the keyboard
        self.button.setAccessibleName("Acknowledge the newest open alarm")
        self.button.clicked.connect(self.acknowledge)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.count_label)
        text.addWidget(self.newest_label)
        text.addWidget(self.message)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        row.addLayout(text, 1)
        row.addWidget(self.button)
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self._hide_message)
        video.installEventFilter(self)
        self.show_alarms(0, None)
        self.hide()

    def show_alarms(self, count: int | None, newest: dict[str, Any] | None) -> None:
        """``count`` open alarms (None: the store cannot be read), ``newest`` the newest open one."""
        if count is None:
            self.count_label.setText("open alarms: store not readable")
        elif count == 0:
            self.count_label.setText("no open alarms")
        else:
            self.count_label.setText(f"⚠ {count} open alarm{'s' if count != 1 else ''}")
        self.setProperty("alarm", bool(count))
        self.style().unpolish(self)
        self.style().polish(self)
        if count and newest is not None:
            camera = f"camera {newest['camera']} · " if newest.get("camera") else ""
            self.newest_label.setText(
                f"newest: {local_time(newest['timestamp'], with_date=False)} · {camera}"
                f"{person(newest)} ({what(newest)})"
            )
        self.newest_label.setVisible(bool(count and newest))
        self.button.setVisible(bool(count))
        self._place()

    def say(self, text: str, ms: int = 8000) -> None:
        self.message.setText(text)
        self.message.setVisible(True)
        self._message_timer.start(ms)
        self._place()

    def _hide_message(self) -> None:
        self.message.setVisible(False)
        self._place()

    def _place(self) -> None:
        self.adjustSize()
        parent = self.parentWidget()
        if parent is not None:
            self.move(
                max(0, parent.width() - self.width() - OVERLAY_MARGIN),
                max(0, parent.height() - self.height() - OVERLAY_MARGIN),
            )
        self.raise_()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Resize:
            self._place()
        elif event.type() == QEvent.Type.ChildAdded and self.isVisible():  # a new camera tile: stay on top
            QTimer.singleShot(0, self.raise_)
        return False


class AlarmsWindow(QDialog):
    """The Alarms window: open alarms first (newest first), acknowledged ones on request."""

    def __init__(self, owner: AlarmActions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.owner = owner
        self.setWindowTitle("Alarms")
        self.setObjectName("alarmsWindow")
        self.resize(940, 480)
        self.summary = QLabel()
        self.summary.setObjectName("eventSummary")
        self.show_acked = QCheckBox("Show acknowledged alarms")
        self.show_acked.setToolTip("Also list the acknowledged alarms, with their note, who and when")
        self.show_acked.toggled.connect(lambda _: self.reload())
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Alarms")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(52)
        self.table.setIconSize(QSize(48, 48))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(0, 56)
        for col in range(1, STATE_COL):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(STATE_COL, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda _: self.owner.acknowledge(self.selected_id()))
        self.ack_button = QPushButton(f"Acknowledge… ({ACK_SHORTCUT})")
        self.ack_button.setToolTip("Acknowledge the selected alarm (none selected: the newest open one)")
        self.ack_button.clicked.connect(lambda: self.owner.acknowledge(self.selected_id()))
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.show_acked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.ack_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        self.addAction(owner.ack_action)  # Ctrl+K here too (another top-level window)
        self.rows: list[dict[str, Any]] = []

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows(0)
        return int(rows[0].data(ID_ROLE)) if rows else None

    def reload(self) -> None:
        """Read the alarms again (keeping the selected one selected)."""
        keep = self.selected_id()
        try:
            store = self.owner.store()
            rows = store.alarms(open_only=not self.show_acked.isChecked())
            thumbs = store.event_thumbnails([r["id"] for r in rows])
        except FaceGateError as err:
            self.summary.setText(f"cannot read the alarms: {err}")
            return
        # open first, newest first within each
        rows.sort(key=lambda r: (str(r["timestamp"]), r["id"]), reverse=True)
        rows.sort(key=lambda r: r["acknowledged"])
        self.rows = rows
        n_open = sum(not r["acknowledged"] for r in rows)
        shown = "" if not self.show_acked.isChecked() else f" · {len(rows) - n_open} acknowledged"
        self.summary.setText(
            f"<b>{n_open} open alarm{'s' if n_open != 1 else ''}</b>{shown} · "
            f"{ACK_SHORTCUT} acknowledges the selected (or newest open) alarm"
        )
        self.table.setRowCount(0)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            self._fill(i, r, thumbs.get(int(r["id"])))
            if r["id"] == keep:
                self.table.selectRow(i)

    def _fill(self, i: int, r: dict[str, Any], jpeg: bytes | None) -> None:
        face = QTableWidgetItem()
        pm = pixmap_from_jpeg(jpeg, 96, 48)
        if pm is not None:
            face.setData(Qt.ItemDataRole.DecorationRole, pm)
        face.setData(ID_ROLE, int(r["id"]))
        face.setData(OPEN_ROLE, not r["acknowledged"])
        if r["acknowledged"]:
            state = f"acknowledged by {r['ack_by']} at {local_time(r['ack_at'])}"
            if r["ack_note"]:
                state += f": {r['ack_note']}"
        else:
            state = "OPEN"
        who = QTableWidgetItem(person(r))
        if not r["identity"]:
            f = QFont(who.font())
            f.setItalic(True)
            who.setFont(f)
        cells = [
            face,
            QTableWidgetItem(local_time(r["timestamp"])),
            QTableWidgetItem(r["camera"] or "–"),
            who,
            QTableWidgetItem(what(r)),
            QTableWidgetItem(REASONS.get(r["reason"], r["reason"] or "")),
            QTableWidgetItem(state),
        ]
        cells[STATE_COL].setToolTip(state)
        colour = ACKED_COLOUR if r["acknowledged"] else OPEN_COLOUR
        cells[4].setForeground(colour)
        cells[STATE_COL].setForeground(colour)
        if not r["acknowledged"]:
            f = QFont(cells[STATE_COL].font())
            f.setBold(True)
            cells[STATE_COL].setFont(f)
        for col, item in enumerate(cells):
            self.table.setItem(i, col, item)


class AlarmActions(QObject):
    """The window's alarms: count, acknowledge (Ctrl+K), the Alarms window, the full-screen overlay."""

    changed = Signal(object)  # the open alarm count (None: the store cannot be read)

    def __init__(
        self,
        window: Any,
        store: Callable[[], Any],
        say: Callable[[str], None],
        selected_event: Callable[[], EventView | None],
    ) -> None:
        super().__init__(window)
        self.window = window
        self.store = store
        self.say = say
        self.selected_event = selected_event  # the access log's selected event
        self.count: int | None = None
        self.newest: dict[str, Any] | None = None
        self.dialog: AlarmsWindow | None = None
        self.fullscreen = False
        self._ticks = 0
        self.open_action = QAction("Alarms…", window)
        self.open_action.setShortcut(QKeySequence(ALARMS_SHORTCUT))
        self.open_action.setToolTip(f"Open alarms: list and acknowledge them ({ALARMS_SHORTCUT})")
        self.open_action.triggered.connect(lambda: self.open_window())
        self.ack_action = QAction("Acknowledge alarm…", window)
        self.ack_action.setShortcut(QKeySequence(ACK_SHORTCUT))
        self.ack_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.ack_action.setToolTip(
            f"Acknowledge the selected alarm, or the newest open one ({ACK_SHORTCUT}; also in full screen)"
        )
        self.ack_action.triggered.connect(lambda: self.acknowledge())
        window.addAction(self.ack_action)  # active while the menu bar is hidden (full screen)
        window.addAction(self.open_action)
        self.audit_action: QAction | None = None  # View ▸ Audit trail… (install_menu)
        self.overlay = AlarmOverlay(window.grid)
        self.overlay.acknowledge.connect(lambda: self.acknowledge(self._newest_id()))

    # ------------------------------------------------------------------ the count, everywhere
    def tick(self, store_open: bool) -> None:
        """The window's 0.5 s status tick: read the count every 5 s (every 1 s in full screen, where the
        overlay is the only place it shows); ``store_open`` False: no store opened (or created) yet."""
        self._ticks = (self._ticks + 1) % 10
        if store_open and (self._ticks == 1 or (self.fullscreen and self._ticks % 2 == 1)):
            self.refresh()

    def refresh(self) -> int | None:
        """Read the open count and the newest open alarm; show them in the status bar, the overlay and
        the Alarms window."""
        try:
            store = self.store()
            count: int | None = store.open_alarm_count()
            newest = store.alarms(open_only=True, limit=1)
        except Exception as err:  # noqa: BLE001 - the store may be unreadable: no count, no crash
            log.debug("cannot count open alarms: %s", err)
            count, newest = None, []
        seen = (self.count, self._newest_id())
        self.count, self.newest = count, (newest[-1] if newest else None)
        label = getattr(self.window, "status_alarms", None)
        if label is not None:
            label.setText("" if count is None else f"open alarms: {count}")
        self.overlay.show_alarms(count, self.newest)
        if self.dialog is not None and self.dialog.isVisible() and seen != (count, self._newest_id()):
            self.dialog.reload()  # only on a change: the list keeps its scroll position between ticks
        self.changed.emit(count)
        return count

    def events_arrived(self, events: list[EventView]) -> None:
        """New logged events (the worker's eventsReady): an alarm among them updates the count now."""
        if any(is_alarm(ev) and ev.event_id is not None for ev in events):
            self.refresh()

    def set_fullscreen(self, on: bool) -> None:
        self.fullscreen = on
        self.overlay.setVisible(on)
        self.refresh()

    # ------------------------------------------------------------------ acknowledging
    def _newest_id(self) -> int | None:
        return None if self.newest is None else int(self.newest["id"])

    def target(self) -> int | None:
        """The alarm Ctrl+K acknowledges: in full screen the newest open one (the one the overlay shows);
        else the Alarms window's selection, the access log's selected alarm, or the newest open one."""
        if not self.fullscreen:
            if self.dialog is not None and self.dialog.isVisible():
                eid = self.dialog.selected_id()
                if eid is not None:
                    return eid
            ev = self.selected_event()
            if ev is not None and ev.event_id is not None and is_alarm(ev):
                return int(ev.event_id)
        self.refresh()
        return self._newest_id()

    def ask_note(self, event_id: int) -> str | None:
        """The optional note (None: the operator cancelled)."""
        parent = self.dialog if self.dialog is not None and self.dialog.isActiveWindow() else self.window
        note, ok = QInputDialog.getText(
            parent,
            "Acknowledge alarm",
            f"Alarm {event_id}: a note (optional), e.g. 'visitor, let in by reception':",
            QLineEdit.EchoMode.Normal,
            "",
        )
        return note.strip() if ok else None

    def acknowledge(self, event_id: int | None = None, note: str | None = None) -> dict[str, Any] | None:
        """Acknowledge alarm ``event_id`` (None: :meth:`target`) with ``note`` (None: ask for one). Returns
        the acknowledgement in force (``already`` True: someone acknowledged it first), None when nothing
        was acknowledged."""
        eid = event_id if event_id is not None else self.target()
        if eid is None:
            self._tell("no open alarm to acknowledge")
            return None
        if note is None:
            note = self.ask_note(eid)
            if note is None:
                return None
        try:
            ack = self.store().ack_alarm(eid, note)
        except FaceGateError as err:
            self._tell(f"cannot acknowledge alarm {eid}: {err}")
            return None
        if ack["already"]:
            self._tell(
                f"alarm {eid} was already acknowledged by {ack['user']} at {local_time(ack['created'])}"
                + (f" ({ack['note']})" if ack["note"] else "")
            )
            self.refresh()
            if self.dialog is not None and self.dialog.isVisible():
                self.dialog.reload()  # it shows who acknowledged it
        else:
            left = self.refresh()
            self._tell(f"alarm {eid} acknowledged; {left if left is not None else '?'} open alarms left")
        return ack

    def _tell(self, text: str) -> None:
        self.say(text)
        if self.fullscreen:
            self.overlay.say(text)

    # ------------------------------------------------------------------ the window
    def open_window(self) -> AlarmsWindow:
        if self.dialog is None:
            self.dialog = AlarmsWindow(self, self.window)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        self.dialog.reload()
        return self.dialog


def install_menu(window: Any, actions: AlarmActions) -> None:
    """View ▸ Alarms… (Ctrl+Shift+A), Acknowledge alarm… (Ctrl+K), Audit trail… in the window's View menu."""
    view = next(
        (a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "View" and a.menu()),
        None,
    )
    audit = QAction("Audit trail…", window)
    audit.setToolTip("Who changed what: thresholds, people, policies, corrections, acknowledgements")
    audit.triggered.connect(lambda: open_audit(window))
    actions.audit_action = audit
    if view is None:  # pragma: no cover - the window always has one
        return
    view.addSeparator()
    view.addAction(actions.open_action)
    view.addAction(actions.ack_action)
    view.addAction(audit)


def open_audit(window: Any) -> Any:
    """The Audit trail window (one per main window, read again each time it is opened)."""
    from gui.audit import AuditWindow

    dlg = getattr(window, "_audit_window", None)
    if dlg is None:
        dlg = AuditWindow(window.gui_store, window, say=window.say)
        window._audit_window = dlg
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    dlg.reload()
    return dlg
