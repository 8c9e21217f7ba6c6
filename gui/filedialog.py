"""File dialogs that never open the files they list.

Qt's own file dialog sniffs the content of every file it shows (mime type for the icon and the "Type"
column): it opens and closes them, ``gate.db`` and its journal included. Closing any descriptor of a
file drops all of this process's POSIX locks on it, so a window browsing the database's folder used
to lose its SQLite locks (issue 10; the store no longer depends on it, see ``db/store.py``). These
dialogs name a file's type from its extension only. They are Qt's widget dialogs, not the desktop's
native ones: a native dialog's icon provider cannot be replaced, and an in-process GTK chooser sniffs too.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QFileInfo, QMimeDatabase
from PySide6.QtGui import QAbstractFileIconProvider, QIcon
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QStyle, QWidget


class NoSniffIconProvider(QAbstractFileIconProvider):
    """Icons and type names from the file name alone (the file is never opened)."""

    def __init__(self) -> None:
        super().__init__()
        self._mime = QMimeDatabase()

    def icon(self, what: Any) -> QIcon:  # noqa: D102 - both Qt overloads: IconType or QFileInfo
        if isinstance(what, QFileInfo):
            style = QApplication.style()
            pixmap = QStyle.StandardPixmap.SP_DirIcon if what.isDir() else QStyle.StandardPixmap.SP_FileIcon
            return style.standardIcon(pixmap)
        return super().icon(what)

    def type(self, info: QFileInfo) -> str:  # noqa: A003 - Qt API
        if info.isDir():
            return "Folder"
        mime = self._mime.mimeTypeForFile(info.fileName(), QMimeDatabase.MatchMode.MatchExtension)
        return (
            mime.comment() if not mime.isDefault() else (f"{info.suffix()} file" if info.suffix() else "File")
        )


class _NoSniffDialog(QFileDialog):
    """Qt's widget dialog with a :class:`NoSniffIconProvider`, which it keeps alive (Qt does not own it)."""

    def __init__(self, parent: QWidget | None, caption: str, directory: str, name_filter: str) -> None:
        super().__init__(parent, caption, directory, name_filter)
        self.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        self.no_sniff_provider = NoSniffIconProvider()
        self.setIconProvider(self.no_sniff_provider)


def no_sniff_dialog(
    parent: QWidget | None, caption: str = "", directory: str = "", name_filter: str = ""
) -> QFileDialog:
    """A QFileDialog (Qt's, not native) whose listing never opens a file."""
    return _NoSniffDialog(parent, caption, directory, name_filter)


def _run(dialog: QFileDialog) -> tuple[list[str], str]:
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return [], ""
    return dialog.selectedFiles(), dialog.selectedNameFilter()


def get_open_file_name(
    parent: QWidget | None, caption: str = "", directory: str = "", name_filter: str = ""
) -> tuple[str, str]:
    """Like ``QFileDialog.getOpenFileName``: (path or "", selected filter)."""
    dialog = no_sniff_dialog(parent, caption, directory, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    files, chosen = _run(dialog)
    return (files[0] if files else ""), chosen


def get_open_file_names(
    parent: QWidget | None, caption: str = "", directory: str = "", name_filter: str = ""
) -> tuple[list[str], str]:
    """Like ``QFileDialog.getOpenFileNames``: (paths, selected filter)."""
    dialog = no_sniff_dialog(parent, caption, directory, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
    return _run(dialog)


def get_save_file_name(
    parent: QWidget | None, caption: str = "", directory: str = "", name_filter: str = ""
) -> tuple[str, str]:
    """Like ``QFileDialog.getSaveFileName`` (asks before overwriting): (path or "", selected filter)."""
    dialog = no_sniff_dialog(parent, caption, directory, name_filter)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    files, chosen = _run(dialog)
    return (files[0] if files else ""), chosen
