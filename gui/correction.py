"""The "This is not ..." dialog: who an event's face really is (another enrolled person, or nobody)."""

from __future__ import annotations

from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCompleter,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.enroll import PolicyEdit


class CorrectionDialog(QDialog):
    """ "This is not X": nothing is added to X; optionally enroll the face as the right person.
    With ``identity`` None (an unknown face) it only offers to enroll the face."""

    ENROLL, MARK = 1, 2

    def __init__(
        self,
        identity: str | None,
        distance: float | None,
        face: QPixmap | None,
        existing: list[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"This is not {identity}" if identity else "Enroll this face")
        self.choice = 0
        if identity:
            msg = (
                f"Recognised as <b>{identity}</b>"
                + (f" (distance {distance:.2f})" if distance is not None else "")
                + f".<br>Nothing is added to {identity}'s samples.<br><br>"
                "If you know who it is, enroll this face as them:"
            )
        else:
            msg = "This face was not recognised. If you know who it is, enroll it as them:"
        text = QLabel(msg)
        text.setWordWrap(True)
        self.face = QLabel()
        if face is not None:
            self.face.setPixmap(face)
        self.name = QLineEdit()
        self.name.setPlaceholderText("Who is it? (an enrolled or a new person)")
        self.name.setCompleter(QCompleter(sorted(n for n in existing if n != identity)))
        self.policy = PolicyEdit()
        self.error = QLabel()
        self.error.setObjectName("error")
        enroll = QPushButton("Enroll as this person")
        enroll.setDefault(True)
        cancel = QPushButton("Cancel")
        enroll.clicked.connect(self._enroll)
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(enroll)
        if identity:
            mark = QPushButton(f"Only mark: not {identity}")
            mark.clicked.connect(lambda: self._done(self.MARK))
            buttons.addWidget(mark)
        buttons.addWidget(cancel)
        top = QHBoxLayout()
        top.addWidget(self.face)
        top.addWidget(text, 1)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Access (new person)", self.policy)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addLayout(buttons)

    def _enroll(self) -> None:
        if not self.name.text().strip():
            self.error.setText("enter the person's name")
            return
        why = self.policy.check()
        if why:
            self.error.setText(why)
            return
        self._done(self.ENROLL)

    def _done(self, choice: int) -> None:
        self.choice = choice
        self.accept()
