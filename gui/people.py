"""The window's people actions: the enrollment wizard, the identities dialog, and the operator's
corrections of the access log (each one a record in the store, shown in the log).

They run on the GUI thread with their own connection to the identity store; enrolling a face from an
event runs on the inference worker (``worker.call``), like every other use of the live backends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from gui.access import AccessPanel, pixmap_from_bgr
from gui.controller import SessionController
from gui.present import open_dialog
from gui.views import EventView


class PeopleActions(QObject):
    """What the People menu and the access panel's buttons do, for the window ``window``."""

    enrolled = Signal(str, int)  # name, samples stored

    def __init__(
        self,
        window: QWidget,
        controller: SessionController,
        access: AccessPanel,
        say: Callable[[str], Any],
        camera: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(window)
        self.camera = camera or (lambda: "")  # the selected camera: live enrollment captures from it
        self.dialog_parent = window  # the dialogs open over it
        self.controller = controller
        self.worker = controller.worker
        self.access = access
        self.say = say
        self.wizard: Any = None  # the open enrollment wizard (it sees the live frames)
        self._store: Any = None

    def close(self) -> None:
        """The window closes: the wizard is cancelled, the store connection closed."""
        if self.wizard is not None:
            self.wizard.reject()
        if self._store is not None:
            self._store.close()
            self._store = None

    def store(self) -> Any:
        """The identity store of the current session, opened on the GUI thread (its own connection)."""
        from db.store import store_at

        path = self.controller.store_path()
        current, self._store = self._store, None
        self._store = store_at(current, path)
        return self._store

    def open_enroll(self, name: str = "", modal: bool = True) -> Any:
        from gui.enroll import EnrollWizard

        if self.controller.built is None:
            self.say("enrollment needs the backends: start a source first")
            return None
        live = None if self.controller.running else "no video is running (start a source first)"
        existing = [p["name"] for p in self.store().identities()]
        camera = self.camera()
        source = next((c.source for c in self.worker.cameras if c.name == camera), "")
        wiz = EnrollWizard(
            self.worker, existing, live, self.dialog_parent, name=name, camera=camera, camera_source=source
        )
        wiz.saved.connect(self._enrolled)
        wiz.failed.connect(self.say)
        wiz.finished.connect(lambda _: setattr(self, "wizard", None))
        self.wizard = wiz
        return open_dialog(wiz, modal)

    def _enrolled(self, name: str, n: int) -> None:
        self.say(f"enrolled {name}: {n} sample(s) stored; recognising them from now on")
        self.enrolled.emit(name, n)

    def open_identities(self, modal: bool = True) -> Any:
        from gui.enroll import IdentityManager

        dlg = IdentityManager(self.store(), self.dialog_parent)
        dlg.changed.connect(self.identities_changed)

        def enroll_instead() -> None:  # "Enroll…" in the dialog: it closes, the wizard opens
            dlg.accept()
            self.open_enroll()

        dlg.enrollRequested.connect(enroll_instead)
        return open_dialog(dlg, modal)

    def identities_changed(self) -> None:
        self.worker.call(self.worker.reload_gallery)

    def not_this_person(self, selection: tuple[int, EventView]) -> None:
        from gui.correction import CorrectionDialog

        eid, ev = selection
        existing = [p["name"] for p in self.store().identities()]
        dlg = CorrectionDialog(
            ev.identity, ev.distance, pixmap_from_bgr(ev.crop, 120), existing, self.dialog_parent
        )
        if dlg.exec() != CorrectionDialog.DialogCode.Accepted:
            return
        if dlg.choice == dlg.ENROLL:
            self.correct_event(eid, dlg.name.text().strip(), dlg.policy.value()[0])
        else:
            self.correct_event(eid, None)

    def enroll_face(self, selection: tuple[int, EventView]) -> None:
        from gui.correction import CorrectionDialog

        eid, ev = selection
        if ev.identity:
            return self.not_this_person(selection)
        existing = [p["name"] for p in self.store().identities()]
        dlg = CorrectionDialog(None, ev.distance, pixmap_from_bgr(ev.crop, 120), existing, self.dialog_parent)
        if dlg.exec() == CorrectionDialog.DialogCode.Accepted and dlg.choice == dlg.ENROLL:
            self.correct_event(eid, dlg.name.text().strip(), dlg.policy.value()[0])
        return None

    def correct_event(self, eid: int, enroll_as: str | None, policy: str = "allowed") -> None:
        """The operator says event ``eid`` was not who it was recognised as. Nothing is added to that
        person; with ``enroll_as`` the event's face is enrolled as that (new or enrolled) person. The
        correction is a record in the store (event id, who it was, the OS user, when), shown in the log."""
        ev = self.access.events[eid]
        wrong = ev.identity
        if not enroll_as:
            self.record_correction(eid, None, f"operator: not {wrong}")
            self.say(f"marked: track #{ev.track_id} is not {wrong} (nothing added to {wrong})")
            return
        if ev.crop is None:
            self.say("this event has no face crop to enroll")
            return
        existing = {p["name"] for p in self.store().identities()}
        pol = None if enroll_as in existing else policy

        def done(r: tuple[bool, str, int]) -> None:
            ok, reason, n = r
            if not ok:
                self.say(f"cannot enroll the face as {enroll_as}: {reason}")
                return
            self.record_correction(
                eid, enroll_as, f"operator: not {wrong or 'unknown'}, enrolled as {enroll_as}"
            )
            self.say(
                f"enrolled the face as {enroll_as} ({n} sample); nothing added to {wrong or 'anyone else'}"
            )
            self.enrolled.emit(enroll_as, n)

        self.worker.call(
            self.worker.enroll_face,
            enroll_as,
            pol,
            ev.crop,
            f"event track #{ev.track_id} (recognised as {wrong or 'unknown'})",
            done=done,
            failed=lambda why: self.say(f"cannot enroll the face: {why}"),
        )

    def record_correction(self, eid: int, identity: str | None, note: str) -> bool:
        """Write the correction of panel event ``eid`` to the store and show it; False when it could not be
        recorded (the event has no store row, or the store refused), which the operator is told."""
        from core.errors import FaceGateError
        from db.store import os_user

        ev = self.access.events[eid]
        user = os_user()
        if ev.event_id is None:
            self.say("this event has no row in the store: the correction is shown but not recorded")
            self.access.mark_corrected(eid, identity, user, note + " (not recorded)")
            return False
        try:
            self.store().add_correction(ev.event_id, identity, note, user=user)
        except (FaceGateError, OSError, sqlite3.Error) as err:
            self.say(f"cannot record the correction: {err}")
            return False
        self.access.mark_corrected(eid, identity, user, note)
        return True
