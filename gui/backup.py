"""File ▸ Back up identity store… and Restore…: db/retention.py's backup and restore from the window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox

from core.errors import FaceGateError

FILTER = "FaceGate store (*.db);;All files (*)"


def back_up(window: Any, dest: str | None = None) -> Path | None:
    """Copy the window's identity store to ``dest`` (asked with a file dialog when None)."""
    from gui.filedialog import get_save_file_name

    if dest is None:
        dest, _ = get_save_file_name(window, "Back up identity store", "facegate-backup.db", FILTER)
        if not dest:
            return None
    try:
        out = window.gui_store().backup(dest)
    except FaceGateError as err:
        window.say(f"backup failed: {err}")
        return None
    window.say(f"identity store backed up to {out}")
    return Path(out)


def restore_store(window: Any, src: str | None = None, confirm: bool = True) -> bool:
    """Replace the window's identity store by the backup ``src`` (a file dialog when None), after a
    confirmation whose default is No; refused while a session records into it. The store is reopened."""
    from db.retention import check_backup, restore
    from gui.filedialog import get_open_file_name

    if window.running or window.starting:
        window.say("stop the session first (F5): it records into the identity store")
        return False
    if src is None:
        src, _ = get_open_file_name(window, "Restore identity store", "", FILTER)
        if not src:
            return False
    into = Path(window.controller.store_path())
    try:
        check_backup(src)
    except FaceGateError as err:
        window.say(f"restore refused: {err}")
        return False
    if confirm:
        answer = QMessageBox.question(
            window,
            "Restore identity store",
            f"Replace {into} by {src}?\nThe current file is kept beside it.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
    window.people.close()  # this window's connection to the old file (and an open wizard)
    try:
        kept = restore(src, into)
    except FaceGateError as err:
        window.say(f"restore failed: {err}")
        return False
    window.store_replaced()
    window.say(
        f"identity store restored from {src}" + (f"; the old one is kept as {kept.name}" if kept else "")
    )
    return True
