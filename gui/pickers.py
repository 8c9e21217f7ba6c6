"""The Detector, Recognizer and Mode dropdowns of the operator window (one toolbar).

Every choice is listed; one that cannot run is greyed (the mouse and keyboard cannot pick it) and its
entry says why in a few words ("FaceNet-128 · tensorrt — needs an NVIDIA GPU": keyboard users cannot read
tooltips); the full reason is its tooltip and accessible description. Showing a key never switches
anything; the operator picking one emits ``picked``.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QLabel, QStyledItemDelegate, QToolBar

from gui.backends import Choice, short_reason

LABELS = (("detector", " &Detector "), ("recognizer", " &Recognizer "), ("mode", " &Mode "))
NAMES = {"detector": "Detector backend", "recognizer": "Recognizer backend", "mode": "Deployment mode"}


class BackendPickers(QToolBar):
    picked = Signal(str, str)  # kind, key: the operator chose it

    def __init__(self) -> None:
        super().__init__("Backends")
        self.setObjectName("backendsToolbar")
        self.combos: dict[str, QComboBox] = {}
        for kind, label in LABELS:
            caption = QLabel(label)
            combo = QComboBox()
            caption.setBuddy(combo)  # Alt+D / Alt+R / Alt+M focus the dropdown
            combo.setObjectName(f"{kind}Combo")
            combo.setAccessibleName(NAMES[kind])
            self.addWidget(caption)
            # a fixed, modest width: a long entry (an unavailable backend's reason) must not push the
            # recognizer and mode behind the toolbar's overflow button on a 1024 px screen; the open list
            # is as wide as its entries
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
            combo.setMaximumWidth(150)
            combo.view().setMinimumWidth(340)
            combo.setModel(QStandardItemModel(combo))
            # the styled delegate applies the style sheet's ``item:disabled`` colour: an unavailable entry
            # looks greyed (Qt's default combo delegate paints it like the others)
            combo.setItemDelegate(QStyledItemDelegate(combo))
            combo.currentIndexChanged.connect(lambda _i, k=kind: self._changed(k))
            self.combos[kind] = combo
            self.addWidget(combo)

    def fill(self, kind: str, choices: Iterable[Choice], current: str) -> None:
        """List ``choices`` for ``kind`` and show ``current`` (no ``picked``)."""
        combo = self.combos[kind]
        model: QStandardItemModel = combo.model()  # type: ignore[assignment]
        combo.blockSignals(True)
        model.clear()
        missing = []
        for c in choices:
            item = QStandardItem(c.label if c.available else f"{c.label} — {short_reason(c.key, c.reason)}")
            item.setData(c.key, Qt.ItemDataRole.UserRole)
            if not c.available:
                item.setEnabled(False)  # greyed, and the mouse/keyboard cannot pick it
                item.setToolTip(f"{c.key}: {c.reason}")
                item.setData(f"unavailable: {c.reason}", Qt.ItemDataRole.AccessibleDescriptionRole)
                missing.append(f"{c.label}: {c.reason}")
            else:
                item.setToolTip(c.key)
            model.appendRow(item)
        combo.setAccessibleDescription("Unavailable here: " + "; ".join(missing) if missing else "")
        self.show_key(kind, current)
        combo.blockSignals(False)

    def show_key(self, kind: str, key: str) -> None:
        """Show ``key`` in the ``kind`` dropdown without emitting ``picked`` (nothing when not listed)."""
        combo = self.combos[kind]
        i = combo.findData(key, Qt.ItemDataRole.UserRole)
        combo.blockSignals(True)
        if i >= 0:
            combo.setCurrentIndex(i)
        combo.blockSignals(False)

    def index(self, kind: str, key: str) -> int:
        return self.combos[kind].findData(key, Qt.ItemDataRole.UserRole)

    def _changed(self, kind: str) -> None:
        key = str(self.combos[kind].currentData(Qt.ItemDataRole.UserRole) or "")
        if key:
            self.picked.emit(kind, key)
