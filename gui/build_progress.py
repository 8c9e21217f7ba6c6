"""What loads while a backend builds (a FaceNet-512 on TensorFlow takes ~24 s): "Loading facenet512 on
TensorFlow… 12 s" and a busy bar in the status bar, the dropdown of the kind being built disabled until
its build is applied or fails (gui/controller.py ``building``)."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget


class BuildProgress(QWidget):
    """Hidden while nothing builds; ``combos`` maps a kind to the dropdown disabled while it builds."""

    def __init__(self, combos: dict[str, Any] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combos = combos or {}
        self.label = QLabel()
        self.label.setObjectName("buildProgress")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy: a build says nothing of how far it got
        self.bar.setMaximumWidth(90)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        self.bar.setAccessibleName("building backends")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        self.active: dict[str, tuple[str, float]] = {}  # kind -> (text, monotonic start)
        self.timer = QTimer(self)
        self.timer.setInterval(500)
        self.timer.timeout.connect(self.refresh)
        self.hide()

    def on_building(self, kind: str, text: str) -> None:
        """The controller's ``building`` signal: ``text`` "" ends the build of ``kind``."""
        if text:
            self.active[kind] = (text, time.monotonic())
        else:
            self.active.pop(kind, None)
        combo = self.combos.get(kind)
        if combo is not None:
            combo.setEnabled(not text)
        if self.active:
            self.timer.start()
            self.show()
        else:
            self.timer.stop()
            self.hide()
        self.refresh()

    def refresh(self) -> None:
        if not self.active:
            self.label.setText("")
            return
        text, t0 = min(self.active.values(), key=lambda a: a[1])
        self.label.setText(f"{text}… {time.monotonic() - t0:.0f} s")
