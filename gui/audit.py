"""The Audit trail window (View ▸ Audit trail…, issue 13): who changed what and when (db/audit.py), newest
first, each change rendered for a reader ("threshold 1.00 → 0.92"), filtered by text and action, exported
as CSV (the filtered rows, the same file as ``main.py audit export``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.errors import FaceGateError
from db.audit import describe_change, write_audit_csv
from gui.present import local_time

COLUMNS = ["Time", "User", "Action", "Subject", "Change (before → after)"]
ACTION_NAMES = {
    "ack": "acknowledgement",
    "threshold": "threshold",
    "enroll": "enrollment",
    "remove": "removal",
    "rename": "rename",
    "policy": "policy",
    "correction": "correction",
    "calibration": "calibration",
}


def _searchable(r: dict[str, Any], change: str) -> str:
    return " ".join(
        [
            str(r["user"]),
            str(r["action"]),
            str(r["subject"]),
            change,
            json.dumps(r["before"]),
            json.dumps(r["after"]),
        ]
    ).lower()


class AuditWindow(QDialog):
    """The audit trail, newest first; ``store`` is a callable returning the GUI's store connection."""

    def __init__(self, store: Any, parent: QWidget | None = None, say: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self.say = say or (lambda text: None)
        self.setWindowTitle("Audit trail")
        self.setObjectName("auditWindow")
        self.resize(980, 520)
        self.rows: list[dict[str, Any]] = []  # every row read, newest first
        self.shown: list[dict[str, Any]] = []  # the rows the filter lets through
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter: user, subject, value…")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Filter the audit trail")
        self.action_filter = QComboBox()
        self.action_filter.setAccessibleName("Action")
        self.action_filter.addItem("All actions", "")
        search_label = QLabel("&Filter")
        search_label.setBuddy(self.search)
        action_label = QLabel("&Action")
        action_label.setBuddy(self.action_filter)
        self.search.textChanged.connect(lambda _: self._refilter())
        self.action_filter.currentIndexChanged.connect(lambda _: self._refilter())
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Audit trail")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.summary = QLabel()
        self.summary.setObjectName("hint")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Write the rows shown (the filter applies) to a CSV file")
        self.export_button.clicked.connect(lambda: self.export())
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.reload)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        filt = QHBoxLayout()
        filt.addWidget(search_label)
        filt.addWidget(self.search, 1)
        filt.addWidget(action_label)
        filt.addWidget(self.action_filter)
        buttons = QHBoxLayout()
        buttons.addWidget(self.summary, 1)
        buttons.addWidget(refresh)
        buttons.addWidget(self.export_button)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addLayout(filt)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)

    def reload(self) -> None:
        """Read the audit trail again (the filter stays)."""
        try:
            rows = self.store().audit()
        except FaceGateError as err:
            self.summary.setText(f"cannot read the audit trail: {err}")
            return
        self.rows = rows[::-1]
        current = str(self.action_filter.currentData() or "")
        self.action_filter.blockSignals(True)
        self.action_filter.clear()
        self.action_filter.addItem("All actions", "")
        for action in sorted({str(r["action"]) for r in rows}):
            self.action_filter.addItem(ACTION_NAMES.get(action, action), action)
        self.action_filter.setCurrentIndex(max(0, self.action_filter.findData(current)))
        self.action_filter.blockSignals(False)
        self._refilter()

    def _refilter(self) -> None:
        text = self.search.text().strip().lower()
        action = str(self.action_filter.currentData() or "")
        shown = []
        for r in self.rows:
            change = describe_change(r["action"], r["before"], r["after"])
            if action and r["action"] != action:
                continue
            if text and text not in _searchable(r, change):
                continue
            shown.append((r, change))
        self.shown = [r for r, _ in shown]
        self.table.setRowCount(len(shown))
        for i, (r, change) in enumerate(shown):
            cells = [
                local_time(r["created"]),
                str(r["user"]),
                ACTION_NAMES.get(r["action"], r["action"]),
                str(r["subject"]),
                change,
            ]
            for col, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if col == len(cells) - 1:
                    item.setToolTip(
                        f"before: {json.dumps(r['before'], ensure_ascii=False)}\n"
                        f"after: {json.dumps(r['after'], ensure_ascii=False)}"
                    )
                self.table.setItem(i, col, item)
        self.summary.setText(f"{len(shown)} of {len(self.rows)} audit rows")

    def export(self, path: str | Path | None = None) -> int | None:
        """Write the shown rows (oldest first, like ``audit export``) to ``path`` (None: ask); returns the
        rows written, None when cancelled or refused (the reason is shown)."""
        if path is None:
            from gui.filedialog import get_save_file_name

            path, _ = get_save_file_name(self, "Export the audit trail", "audit.csv", "CSV (*.csv)")
            if not path:
                return None
        p = Path(path)
        if p.is_dir():
            self._error(f"audit export {p}: is a folder; name a file in it, e.g. {p / 'audit.csv'}")
            return None
        try:
            n = write_audit_csv(self.shown[::-1], p)
        except FaceGateError as err:
            self._error(str(err))
            return None
        self.summary.setText(f"{n} audit rows written to {p}")
        self.say(f"{n} audit rows written to {p}")
        return n

    def _error(self, text: str) -> None:
        self.summary.setText(text)
        self.say(text)
