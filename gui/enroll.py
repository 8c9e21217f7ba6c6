"""Enrollment wizard (name + policy -> live capture or photos -> review -> save), the identity manager,
and the "this is not X" dialog. The checks themselves are enroll/ (Qt-free) and run on the inference
thread with the live backends; these pages only show what comes back."""

from __future__ import annotations

import functools
import logging
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from db.store import POLICIES  # the one list of access policies
from gui.filedialog import get_open_file_names
from gui.present import pixmap_from_jpeg
from gui.views import EnrollStatus, FrameView
from gui.worker import InferenceWorker

log = logging.getLogger(__name__)


PHOTO_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.webp)"
LIVE_MIN_SAMPLES = 5
LIVE_POSE_SPREAD = 0.2  # nose offset spread (eye distances) asked for: the head turned a little both ways
PAGE_NAME, PAGE_METHOD, PAGE_CAPTURE, PAGE_IMPORT, PAGE_REVIEW = range(5)


def store_samples(store: Any, name: str) -> list[dict[str, Any]]:
    """A person's stored samples (crop JPEG, quality, created)."""
    return list(store.samples(name))


class PolicyEdit(QWidget):
    """Policy dropdown + schedule line (enabled for 'schedule')."""

    def __init__(self, policy: str = "allowed", schedule: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.policy = QComboBox()
        self.policy.addItems(POLICIES)
        self.policy.setCurrentText(policy)
        self.schedule = QLineEdit(schedule)
        self.schedule.setPlaceholderText("e.g. mon-fri 08:00-18:00; sat 09:00-12:00")
        self.policy.setAccessibleName("Access policy")
        self.schedule.setAccessibleName("Access schedule")
        self.setFocusProxy(self.policy)  # its form label's buddy: Tab and the label lead to the policy
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.policy)
        lay.addWidget(self.schedule, 1)
        self.policy.currentTextChanged.connect(self._sync)
        self._sync()

    def _sync(self) -> None:
        self.schedule.setEnabled(self.policy.currentText() == "schedule")

    def value(self) -> tuple[str, str]:
        p = self.policy.currentText()
        return p, (self.schedule.text().strip() if p == "schedule" else "")

    def check(self) -> str | None:
        """None when valid, else the reason (the store's own check)."""
        from core.errors import FaceGateError
        from db.store import check_policy

        try:
            check_policy(*self.value())
        except FaceGateError as err:
            return str(err)
        return None


# ---------------------------------------------------------------------------------------------- wizard
class NamePage(QWizardPage):
    def __init__(self, existing: list[str]) -> None:
        super().__init__()
        self.setTitle("Who is enrolling?")
        self.setSubTitle("Their name and what the door does when it sees them.")
        self.existing = set(existing)
        self.name = QLineEdit()
        self.name.setPlaceholderText("Full name")
        self.name.setCompleter(QCompleter(sorted(existing)))
        self.registerField("name*", self.name)
        self.policy = PolicyEdit()
        self.note = QLabel()
        self.note.setObjectName("hint")
        self.error = QLabel()
        self.error.setObjectName("error")
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("Access", self.policy)
        form.addRow(self.note)
        form.addRow(self.error)
        self.name.textChanged.connect(self._name_changed)

    def _name_changed(self, text: str) -> None:
        self.note.setText(
            f"{text.strip()} is enrolled already: the new samples are added to them."
            if text.strip() in self.existing
            else ""
        )

    def validatePage(self) -> bool:  # noqa: N802 - Qt API
        why = self.policy.check()
        self.error.setText(why or "")
        return why is None and bool(self.name.text().strip())


class MethodPage(QWizardPage):
    def __init__(self, live_reason: str | None) -> None:
        super().__init__()
        self.setTitle("Where do the samples come from?")
        self.live = QRadioButton("Capture from the live video (the person stands in front of the camera)")
        self.photos = QRadioButton("Import photos")
        group = QButtonGroup(self)
        group.addButton(self.live)
        group.addButton(self.photos)
        lay = QVBoxLayout(self)
        lay.addWidget(self.live)
        lay.addWidget(self.photos)
        if live_reason:
            self.live.setEnabled(False)
            self.live.setToolTip(live_reason)
            lay.addWidget(QLabel(f"Live capture: {live_reason}"))
            self.photos.setChecked(True)
        else:
            self.live.setChecked(True)
        lay.addStretch(1)

    def nextId(self) -> int:  # noqa: N802 - Qt API
        return PAGE_CAPTURE if self.live.isChecked() else PAGE_IMPORT


class CapturePage(QWizardPage):
    def __init__(self, wizard: EnrollWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Capture from the live video")
        self.setSubTitle("Only the person enrolling should be in view. Follow the guidance.")
        self.status: EnrollStatus | None = None
        self.preview = QLabel("waiting for video…")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(480, 270)
        self.preview.setObjectName("preview")
        self.guidance = QLabel("–")
        self.guidance.setObjectName("guidance")
        self.guidance.setWordWrap(True)
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m samples")
        self.pose = QProgressBar()
        self.pose.setRange(0, round(LIVE_POSE_SPREAD * 100))
        self.pose.setFormat("head turn (optional) %p%")
        self.pose.setToolTip("Samples with the head turned a little recognise better; not required")
        self.strip = QListWidget()
        self.strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.strip.setIconSize(QSize(56, 56))
        self.strip.setFixedHeight(78)
        self.strip.setFlow(QListWidget.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.pause = QPushButton("Pause")
        self.pause.setCheckable(True)
        self.pause.toggled.connect(self._pause)
        # a way out when capture cannot reach the minimum (a still video, a person who must leave)
        self.use_taken = QPushButton("Use the samples taken")
        self.use_taken.setCheckable(True)
        self.use_taken.setEnabled(False)
        self.use_taken.setToolTip("Finish with fewer samples than asked for (recognition may be less sure)")
        self.use_taken.toggled.connect(lambda _: self.completeChanged.emit())
        lay = QVBoxLayout(self)
        lay.addWidget(self.preview, 1)
        lay.addWidget(self.guidance)
        lay.addWidget(self.reason)
        bars = QHBoxLayout()
        bars.addWidget(self.progress, 2)
        bars.addWidget(self.pose, 1)
        bars.addWidget(self.pause)
        bars.addWidget(self.use_taken)
        lay.addLayout(bars)
        lay.addWidget(self.strip)

    def initializePage(self) -> None:  # noqa: N802 - Qt API
        self.status = None
        self.strip.clear()
        self.progress.setRange(0, LIVE_MIN_SAMPLES)
        self.progress.setValue(0)
        self.pose.setValue(0)
        self.pause.setChecked(False)
        self.use_taken.setChecked(False)
        self.use_taken.setEnabled(False)
        self.guidance.setText("Look at the camera")
        self.reason.setText("")
        self.w.active = True
        cam = self.w.camera
        where = f"camera <b>{cam}</b>" + (f" ({self.w.camera_source})" if self.w.camera_source else "")
        self.setSubTitle(
            f"Capturing from {where}, the camera selected in the grid. "
            "Only the person enrolling should be in view. Follow the guidance."
            if cam
            else "Only the person enrolling should be in view. Follow the guidance."
        )
        self.w.worker.call(
            self.w.worker.enroll_start,
            self.w.person,
            True,
            LIVE_MIN_SAMPLES,
            LIVE_POSE_SPREAD,
            camera=cam,
            failed=self._failed,
        )

    def cleanupPage(self) -> None:  # noqa: N802 - Qt API  (Back)
        self.w.worker.call(self.w.worker.enroll_cancel)

    def _failed(self, why: str) -> None:
        self.reason.setText(f"<span style='color:#ff5d5d'>cannot capture: {why}</span>")

    def _pause(self, on: bool) -> None:
        self.pause.setText("Resume" if on else "Pause")
        self.w.worker.call(self.w.worker.enroll_capture, not on)

    def on_frame(self, view: FrameView) -> None:
        if not self.isVisible():
            return
        from gui.video import to_qimage

        pm = QPixmap.fromImage(to_qimage(view.image).copy())
        self.preview.setPixmap(
            pm.scaled(
                self.preview.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation,
            )
        )

    def on_status(self, st: EnrollStatus) -> None:
        self.status = st
        self.progress.setRange(0, max(1, st.min_samples))
        self.progress.setValue(min(st.samples, st.min_samples))
        self.pose.setValue(min(self.pose.maximum(), round(st.pose_spread * 100)))
        if st.done:
            self.guidance.setText("Done: press Next")
        elif st.ready:
            self.guidance.setText(
                "Enough samples: press Next to review them (capture goes on for head-turn samples)"
            )
        else:
            self.guidance.setText(st.guidance[:1].upper() + st.guidance[1:])
        colour = "#3ecf6e" if st.ok else ("#ff5d5d" if st.paused else "#ffab2e")
        self.reason.setText(
            f"<span style='color:{colour}'>{'sample accepted' if st.ok else st.reason}</span>"
        )
        if st.crop_jpeg:
            self.strip.addItem(QListWidgetItem(QIcon(pixmap_from_jpeg(st.crop_jpeg, 56) or QPixmap()), ""))
        self.use_taken.setEnabled(0 < st.samples < st.min_samples)
        self.use_taken.setText(f"Use the {st.samples} sample(s) taken")
        if st.done:
            self.pause.blockSignals(True)  # the worker stopped capturing already
            self.pause.setChecked(True)
            self.pause.setText("Resume")
            self.pause.blockSignals(False)
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 - Qt API
        """Next is available as soon as there are enough good samples (never waits on a head turn)."""
        st = self.status
        return st is not None and (st.ready or (st.samples > 0 and self.use_taken.isChecked()))

    def nextId(self) -> int:  # noqa: N802 - Qt API
        return PAGE_REVIEW


class ImportPage(QWizardPage):
    def __init__(self, wizard: EnrollWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Import photos")
        self.setSubTitle(
            "One person per photo, face at least 60 px. Each photo is checked; rejected ones say why."
        )
        self.add = QPushButton("Add photos…")
        self.add.clicked.connect(self._choose)
        self.list = QListWidget()
        self.accepted = 0
        self.pending = 0
        lay = QVBoxLayout(self)
        lay.addWidget(self.add)
        lay.addWidget(self.list, 1)

    def initializePage(self) -> None:  # noqa: N802 - Qt API
        self.list.clear()
        self.accepted = self.pending = 0
        self.w.active = True
        self.w.worker.call(self.w.worker.enroll_start, self.w.person, False)

    def cleanupPage(self) -> None:  # noqa: N802 - Qt API
        self.w.worker.call(self.w.worker.enroll_cancel)

    def _choose(self) -> None:
        paths, _ = get_open_file_names(self, "Photos of the person", "", PHOTO_FILTER)
        self.add_photos(paths)

    def add_photos(self, paths: list[str]) -> None:
        for p in paths:
            item = QListWidgetItem(f"…  {p}")
            self.list.addItem(item)
            self.pending += 1
            self.w.worker.call(
                self.w.worker.enroll_photo,
                p,
                done=functools.partial(self._checked, item),
                failed=functools.partial(self._check_failed, item, p),
            )
        self.completeChanged.emit()

    def _check_failed(self, item: QListWidgetItem, path: str, why: str) -> None:
        self._checked(item, {"path": path, "ok": False, "reason": why})

    def _checked(self, item: QListWidgetItem, r: dict[str, Any]) -> None:
        self.pending -= 1
        if r["ok"]:
            self.accepted += 1
            item.setText(f"✓  {r['path']}  (quality {r.get('quality', 0):.2f})")
        else:
            item.setText(f"✗  {r['path']}: {r['reason']}")
            item.setForeground(Qt.GlobalColor.darkYellow)
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 - Qt API
        return self.accepted > 0 and self.pending == 0

    def nextId(self) -> int:  # noqa: N802 - Qt API
        return PAGE_REVIEW


class ReviewPage(QWizardPage):
    def __init__(self, wizard: EnrollWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Review the samples")
        self.setSubTitle("Untick any sample that is not this person or is poor. Finish saves the rest.")
        self.grid = QListWidget()
        self.grid.setViewMode(QListWidget.ViewMode.IconMode)
        self.grid.setIconSize(QSize(96, 96))
        self.grid.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.grid.setSpacing(6)
        self.grid.itemChanged.connect(lambda _: self.completeChanged.emit())
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setObjectName("warning")
        self.loaded = False
        lay = QVBoxLayout(self)
        lay.addWidget(self.grid, 1)
        lay.addWidget(self.warning)
        self.setFinalPage(True)

    def initializePage(self) -> None:  # noqa: N802 - Qt API
        self.loaded = False
        self.grid.clear()
        self.warning.setText("loading…")
        self.w.worker.call(self.w.worker.enroll_samples, done=self._show)

    def _show(self, data: dict[str, Any]) -> None:
        self.grid.blockSignals(True)
        thr = data.get("threshold")
        outliers = 0
        for i, s in enumerate(data["samples"]):
            odd = bool(s.get("outlier"))
            outliers += odd
            label = f"⚠ unlike the others {s['distance']:.2f}" if odd else f"q {s['quality']:.2f}"
            item = QListWidgetItem(QIcon(pixmap_from_jpeg(s["crop"], 96) or QPixmap()), label)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            # a sample unlike the others is probably someone else: it starts unticked
            item.setCheckState(Qt.CheckState.Unchecked if odd else Qt.CheckState.Checked)
            item.setData(Qt.ItemDataRole.UserRole, i)
            tip = str(s["source"])
            if s.get("distance") is not None:
                tip += f"\ndistance to the other samples' mean: {s['distance']:.2f} (threshold {thr:.2f})"
            if odd:
                item.setForeground(Qt.GlobalColor.red)
            item.setToolTip(tip)
            self.grid.addItem(item)
        self.grid.blockSignals(False)
        similar = data.get("lookalike")
        lines = [f"{len(data['samples'])} sample(s) of {self.w.person}."]
        if outliers:
            lines.append(
                f"⚠ {outliers} sample(s) do not look like the others (distance above {thr:.2f}): "
                "probably someone else, unticked. Tick them only if they are this person."
            )
        if similar:
            lines.append(
                f"⚠ {self.w.person} looks like enrolled {similar[0]} (distance {similar[1]:.2f}). "
                "Check it is not the same person under another name."
            )
        self.warning.setText("\n".join(lines))
        self.loaded = True
        self.completeChanged.emit()

    def kept(self) -> list[int]:
        return [
            self.grid.item(r).data(Qt.ItemDataRole.UserRole)
            for r in range(self.grid.count())
            if self.grid.item(r).checkState() == Qt.CheckState.Checked
        ]

    def dropped(self) -> list[int]:
        return [
            self.grid.item(r).data(Qt.ItemDataRole.UserRole)
            for r in range(self.grid.count())
            if self.grid.item(r).checkState() != Qt.CheckState.Checked
        ]

    def isComplete(self) -> bool:  # noqa: N802 - Qt API
        return self.loaded and bool(self.kept())


class EnrollWizard(QWizard):
    """Runs an enrollment on the inference worker; ``saved(name, samples)`` when it is stored."""

    saved = Signal(str, int)
    failed = Signal(str)

    def __init__(
        self,
        worker: InferenceWorker,
        existing: list[str],
        live_reason: str | None,
        parent: QWidget | None = None,
        name: str = "",
        camera: str = "",
        camera_source: str = "",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Enroll a person")
        self.camera = camera  # live capture takes this camera's frames ("": the only/first one)
        self.camera_source = camera_source
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        # "< Back" / "Next >" read as "less than Back" / "Next greater than" to a screen reader
        self.setButtonText(QWizard.WizardButton.BackButton, "&Back")
        self.setButtonText(QWizard.WizardButton.NextButton, "&Next")
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, False)
        self.worker = worker
        self.active = False
        self.name_page = NamePage(existing)
        self.name_page.name.setText(name)
        self.method_page = MethodPage(live_reason)
        self.capture_page = CapturePage(self)
        self.import_page = ImportPage(self)
        self.review_page = ReviewPage(self)
        self.setPage(PAGE_NAME, self.name_page)
        self.setPage(PAGE_METHOD, self.method_page)
        self.setPage(PAGE_CAPTURE, self.capture_page)
        self.setPage(PAGE_IMPORT, self.import_page)
        self.setPage(PAGE_REVIEW, self.review_page)
        self.setStartId(PAGE_NAME)
        self.resize(720, 620)
        worker.enrollStatus.connect(self._status)

    @property
    def person(self) -> str:
        return self.name_page.name.text().strip()

    def _status(self, st: EnrollStatus) -> None:
        if self.currentId() == PAGE_CAPTURE:
            self.capture_page.on_status(st)

    def on_frame(self, view: FrameView) -> None:
        if self.currentId() == PAGE_CAPTURE:
            self.capture_page.on_frame(view)

    def accept(self) -> None:
        policy, schedule = self.name_page.policy.value()
        name = self.person
        dropped = self.review_page.dropped()
        if dropped:
            self.worker.call(self.worker.enroll_drop, dropped)
        self.worker.call(
            self.worker.enroll_save,
            policy,
            schedule,
            done=lambda r: self.saved.emit(r[0], int(r[1])),
            failed=lambda why: self.failed.emit(f"enrolling {name} failed: {why}"),
        )
        self.active = False
        self._disconnect()
        super().accept()

    def reject(self) -> None:
        if self.active:
            self.worker.call(self.worker.enroll_cancel)
        self.active = False
        self._disconnect()
        super().reject()

    def _disconnect(self) -> None:
        try:
            self.worker.enrollStatus.disconnect(self._status)
        except (RuntimeError, TypeError):
            pass


# ---------------------------------------------------------------------------------------------- identities
class IdentityManager(QDialog):
    """List, rename, remove, set the policy of, and look at the samples of enrolled people."""

    changed = Signal()  # identities or policies changed: the live gallery must be reloaded
    enrollRequested = Signal()

    def __init__(self, store: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setWindowTitle(f"Identities — {store.path}")
        self.resize(760, 520)
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(["Name", "Access", "Schedule", "Samples", "Models", "Enrolled"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._show_samples)
        self.samples = QListWidget()
        self.samples.setViewMode(QListWidget.ViewMode.IconMode)
        self.samples.setIconSize(QSize(88, 88))
        self.samples.setFixedHeight(120)
        self.samples.setFlow(QListWidget.Flow.LeftToRight)
        self.samples.setWrapping(False)
        self.error = QLabel()
        self.error.setObjectName("error")
        buttons = QHBoxLayout()
        for text, slot in (
            ("Enroll new…", self.enrollRequested.emit),
            ("Rename…", self._rename),
            ("Access…", self._policy),
            ("Remove…", self._remove),
        ):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        self.remove_demo_button = QPushButton("Remove demo people…")
        self.remove_demo_button.setToolTip(
            "Remove the people the demo enrolled (marked (demo)); the demo enrolls them again when it plays"
        )
        self.remove_demo_button.clicked.connect(self._remove_demo)
        buttons.addWidget(self.remove_demo_button)
        buttons.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addWidget(QLabel("Samples of the selected person:"))
        lay.addWidget(self.samples)
        lay.addWidget(self.error)
        lay.addLayout(buttons)
        self.refresh()

    def refresh(self) -> None:
        from app.demo import is_demo_person

        people = self.store.identities()
        self.remove_demo_button.setVisible(any(is_demo_person(p) for p in people))
        self.table.setRowCount(len(people))
        for r, p in enumerate(people):
            demo = is_demo_person(p)
            for c, v in enumerate(
                (
                    f"{p['name']}  (demo)" if demo else p["name"],
                    p["policy"],
                    p["schedule"],
                    str(p["samples"]),
                    ", ".join(p["models"]),
                    str(p["created"])[:10],
                )
            ):
                item = QTableWidgetItem(v)
                if c == 0:
                    item.setData(Qt.ItemDataRole.UserRole, p["name"])
                    if demo:
                        item.setToolTip("enrolled by the demo (from the demo's photos); remove them any time")
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def _name_at(self, row: int) -> str | None:
        item = self.table.item(row, 0)
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def names(self) -> list[str]:
        return [n for r in range(self.table.rowCount()) if (n := self._name_at(r)) is not None]

    def selected(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self._name_at(rows[0].row()) if rows else None

    def select(self, name: str) -> None:
        for r in range(self.table.rowCount()):
            if self._name_at(r) == name:
                self.table.selectRow(r)

    def _show_samples(self) -> None:
        self.samples.clear()
        name = self.selected()
        if not name:
            return
        for s in store_samples(self.store, name):
            if s["crop"]:
                item = QListWidgetItem(
                    QIcon(pixmap_from_jpeg(s["crop"], 88) or QPixmap()), f"q {s['quality'] or 0:.2f}"
                )
                item.setToolTip(f"added {s['created']}")
                self.samples.addItem(item)

    def _do(self, fn: Any, *args: Any) -> bool:
        from core.errors import FaceGateError

        try:
            fn(*args)
        except FaceGateError as err:
            self.error.setText(str(err))
            return False
        self.error.setText("")
        self.refresh()
        self.changed.emit()
        return True

    def rename(self, old: str, new: str) -> bool:
        return self._do(self.store.rename, old, new)

    def remove(self, name: str) -> bool:
        return self._do(self.store.remove, name)

    def demo_people(self) -> list[str]:
        from app.demo import is_demo_person

        return [p["name"] for p in self.store.identities() if is_demo_person(p)]

    def remove_demo(self) -> int:
        """Remove every person the demo enrolled; returns how many."""
        names = self.demo_people()

        def remove_all() -> None:
            for name in names:
                self.store.remove(name)

        return len(names) if names and self._do(remove_all) else 0

    def _remove_demo(self) -> None:
        names = self.demo_people()
        if not names:
            self.error.setText("no demo people in this store")
            return
        if (
            QMessageBox.question(
                self, "Remove demo people", f"Remove {', '.join(names)} (the demo's people)?"
            )
            == QMessageBox.StandardButton.Yes
        ):
            self.remove_demo()

    def set_policy(self, name: str, policy: str, schedule: str = "") -> bool:
        return self._do(self.store.set_policy, name, policy, schedule)

    def _rename(self) -> None:
        name = self.selected()
        if not name:
            return
        new, ok = QInputDialog.getText(self, "Rename", f"New name for {name}:", text=name)
        if ok and new.strip() and new.strip() != name:
            self.rename(name, new.strip())

    def _remove(self) -> None:
        name = self.selected()
        if (
            name
            and QMessageBox.question(
                self,
                "Remove",
                f"Remove {name} and their samples? Their past events stay readable.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,  # Enter keeps them
            )
            == QMessageBox.StandardButton.Yes
        ):
            self.remove(name)

    def _policy(self) -> None:
        name = self.selected()
        if not name:
            return
        person = next(p for p in self.store.identities() if p["name"] == name)
        dlg = QDialog(self)
        dlg.setWindowTitle(f"Access for {name}")
        edit = PolicyEdit(person["policy"], person["schedule"])
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(dlg.accept)
        box.rejected.connect(dlg.reject)
        lay = QVBoxLayout(dlg)
        lay.addWidget(edit)
        lay.addWidget(box)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.set_policy(name, *edit.value())
