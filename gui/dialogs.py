"""Export (current and past sessions to CSV) and Settings (the cloud/hybrid endpoint) dialogs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.backends import RemoteSettings
from gui.filedialog import get_open_file_name, get_save_file_name

Exporter = Callable[[str, Path, Path, Callable[[Any], None], Callable[[str], None]], None]


def events_path_for(frames: Path) -> Path:
    return frames.with_name(f"{frames.stem}-events{frames.suffix or '.csv'}")


class ExportDialog(QDialog):
    """Pick a session (the running one first), then where its frames CSV goes; the events CSV goes
    beside it as ``<name>-events.csv``."""

    def __init__(
        self,
        sessions: list[dict[str, Any]],
        current: str,
        exporter: Exporter,
        folder: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export a session to CSV")
        self.resize(820, 420)
        self.exporter = exporter
        self.folder = folder or str(Path.home())
        self.current = current
        self.table = QTableWidget(0, 7)
        self.table.setHorizontalHeaderLabels(
            ["Session", "Started", "Frames", "Events", "Mode", "Backends", "Source"]
        )
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        # a start that never got a frame (a camera that did not answer) leaves nothing worth exporting
        sessions = [
            s
            for s in sessions
            if s["id"] == current or s["frames"] or s["events"] or s.get("state") != "ended"
        ]
        # the running session first, then the past ones, newest first
        rows = [s for s in sessions if s["id"] == current] + sorted(
            (s for s in sessions if s["id"] != current), key=lambda s: str(s["started"]), reverse=True
        )
        self.table.setRowCount(len(rows))
        for r, s in enumerate(rows):
            sid = s["id"] + ("  (recording)" if s["id"] == current else "")
            values = (
                sid,
                str(s["started"])[:19].replace("T", " "),
                str(s["frames"]),
                str(s["events"]),
                str(s["mode"] or ""),
                f"{s['detector']} + {s['recognizer']}",
                str(s["source"] or ""),
            )
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                item.setData(Qt.ItemDataRole.UserRole, s["id"])
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        if rows:
            self.table.selectRow(0)
        self.status = QLabel("The running session's last frames are written to the store first.")
        self.status.setWordWrap(True)
        export = QPushButton("Export…")
        export.setDefault(True)
        export.clicked.connect(self._choose)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(export)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        self.written: tuple[int, int] | None = None

    def selected(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        item = self.table.item(rows[0].row(), 0) if rows else None
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _choose(self) -> None:
        sid = self.selected()
        if not sid:
            return
        path, _ = get_save_file_name(
            self,
            "Frames CSV (the events CSV goes beside it)",
            str(Path(self.folder) / f"session-{sid}.csv"),
            "CSV (*.csv)",
        )
        if path:
            self.export(sid, Path(path))

    def export(self, session_id: str, frames: Path) -> None:
        events = events_path_for(frames)
        self.status.setText(f"exporting {session_id}…")
        self.exporter(session_id, frames, events, self._done, self._failed)

    def _done(self, result: Any) -> None:
        n_frames, n_events, frames, events = result
        self.written = (n_frames, n_events)
        self.status.setText(f"wrote {n_frames} frame rows to {frames} and {n_events} events to {events}")

    def _failed(self, why: str) -> None:
        self.status.setText(f"<span style='color:#ff5d5d'>export failed: {why}</span>")


class SettingsDialog(QDialog):
    """The recognition endpoint for cloud/hybrid mode, and playback options."""

    def __init__(
        self, remote: RemoteSettings, loop_files: bool, db_path: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        from PySide6.QtWidgets import QCheckBox

        self.setWindowTitle("Settings")
        self.resize(560, 300)
        self.endpoint = QLineEdit(remote.endpoint)
        self.endpoint.setPlaceholderText(
            "https://recognition.example:8000 (main.py serve, or a Triton server)"
        )
        self.token_file = QLineEdit(remote.token_file)
        self.token_file.setPlaceholderText("file holding the bearer token (the token itself is never stored)")
        self.ca_cert = QLineEdit(remote.ca_cert)
        self.ca_cert.setPlaceholderText("CA certificate (PEM) for a self-signed endpoint")
        self.jpeg = QSpinBox()
        self.jpeg.setRange(30, 100)
        self.jpeg.setValue(int(remote.jpeg_quality))
        self.fallback = QDoubleSpinBox()
        self.fallback.setRange(0.1, 60.0)
        self.fallback.setSuffix(" s")
        self.fallback.setValue(float(remote.fallback_after_s))
        self.loop = QCheckBox("Play video files in a loop")
        self.loop.setChecked(loop_files)
        form = QFormLayout()
        form.addRow(QLabel("<b>Cloud / hybrid endpoint</b>"))
        form.addRow("Endpoint URL", self.endpoint)
        form.addRow("Token file", self._with_browse(self.token_file, "Token file"))
        form.addRow("CA certificate", self._with_browse(self.ca_cert, "CA certificate"))
        form.addRow("JPEG quality (cloud)", self.jpeg)
        form.addRow("Local fallback after", self.fallback)
        form.addRow(QLabel("<b>Playback</b>"))
        form.addRow(self.loop)
        store = QLabel(db_path)
        store.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Identity store", store)  # a read-only value: no buddy, no tab stop
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        from PySide6.QtWidgets import QTabWidget

        page = QWidget()
        page_lay = QVBoxLayout(page)
        page_lay.addLayout(form)
        page_lay.addStretch(1)
        self.tabs = QTabWidget()  # gui/settings_dialog.py adds Integrations and Retention & privacy
        self.tabs.addTab(page, "Endpoint && playback")
        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(box)

    def _with_browse(self, edit: QLineEdit, title: str) -> QWidget:
        w = QWidget()
        lay = QHBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(edit, 1)
        b = QPushButton("…")
        b.setFixedWidth(32)
        b.setAccessibleName(f"Browse for the {title.lower()}")
        edit.setAccessibleName(title)
        w.setFocusProxy(edit)  # its form label's buddy: the label leads to the path
        b.clicked.connect(lambda: self._browse(edit, title))
        lay.addWidget(b)
        return w

    def _browse(self, edit: QLineEdit, title: str) -> None:
        path, _ = get_open_file_name(self, title, edit.text())
        if path:
            edit.setText(path)

    def remote(self) -> RemoteSettings:
        return RemoteSettings(
            self.endpoint.text().strip(),
            self.token_file.text().strip(),
            self.ca_cert.text().strip(),
            self.jpeg.value(),
            self.fallback.value(),
        )


class CamerasDialog(QDialog):
    """Several cameras at once: one ``NAME=SOURCE`` per line (a camera index, a file, an rtsp:// URL,
    ``demo``). OK checks the names (one line saying what is wrong otherwise); :meth:`spec` is what the
    source box then holds (``front=0; back=rtsp://…``)."""

    def __init__(self, lines: list[str], parent: QWidget | None = None) -> None:
        from PySide6.QtWidgets import QPlainTextEdit

        super().__init__(parent)
        self.setWindowTitle("Cameras")
        self.edit = QPlainTextEdit("\n".join(lines))
        self.edit.setPlaceholderText("front=0\nback=rtsp://192.168.1.20/stream\nlobby=/videos/lobby.mp4")
        self.edit.setMinimumSize(460, 160)
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        add = QPushButton("Add a video file…")
        add.clicked.connect(self._add_file)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start these cameras")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(
            QLabel(
                "One camera per line: <b>NAME=SOURCE</b>. A source is a camera index (0), a video file, "
                "an image folder or an rtsp:// URL. The grid shows up to 9 cameras at once."
            )
        )
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.error)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addStretch(1)
        row.addWidget(buttons)
        lay.addLayout(row)

    def lines(self) -> list[str]:
        from gui.views import split_sources

        return split_sources(self.edit.toPlainText())

    def spec(self) -> str:
        return "; ".join(self.lines())

    def _add_file(self) -> None:
        path, _ = get_open_file_name(
            self, "Add a camera video", "", "Videos (*.mp4 *.avi *.mkv *.mov *.webm);;All (*)"
        )
        if path:
            names = {line.partition("=")[0] for line in self.lines()}
            name = next(f"cam{i}" for i in range(1, 100) if f"cam{i}" not in names)
            text = self.edit.toPlainText().rstrip("\n")
            self.edit.setPlainText(f"{text}\n{name}={path}" if text else f"{name}={path}")

    def accept(self) -> None:
        from core.cameras import parse_sources
        from core.errors import FaceGateError

        lines = self.lines()
        try:
            parse_sources(lines)
        except FaceGateError as err:
            self.error.setText(f"<span style='color:#ff5d5d'>{str(err).replace('--source ', '')}</span>")
            return
        if len(lines) > 9:
            self.error.setText("<span style='color:#ff5d5d'>at most 9 cameras (the 3x3 grid)</span>")
            return
        super().accept()
