"""The GUI's file dialogs never open the files they list (issue 10: a Qt dialog browsing the database's
folder opened and closed gate.db and its journal, which drops the window's SQLite locks).

Opens are watched with Linux inotify (IN_OPEN on the folder), through ctypes."""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")

IN_OPEN, IN_NONBLOCK = 0x20, 0o4000


class OpenWatch:
    """Names of the files opened in a folder (by anyone) since the watch began."""

    def __init__(self, folder: Path) -> None:
        self.libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK)
        assert self.fd >= 0 and self.libc.inotify_add_watch(self.fd, str(folder).encode(), IN_OPEN) >= 0

    def opened(self) -> set[str]:
        names = set()
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return names - {""}  # "" is the folder itself (listing it)
            i = 0
            while i < len(buf):
                _, _, _, length = struct.unpack_from("iIII", buf, i)
                names.add(buf[i + 16 : i + 16 + length].rstrip(b"\0").decode())
                i += 16 + length

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def db_folder(tmp_path: Path) -> Path:
    from db.store import Store

    s = Store(tmp_path / "gate.db")
    s.enroll("ann", "facenet128", np.ones((1, 128), np.float32) / np.sqrt(128))
    s.close()
    (tmp_path / "gate.db-journal").write_bytes(os.urandom(4096))  # as mid-transaction
    (tmp_path / "clip.avi").write_bytes(os.urandom(4096))
    return tmp_path


def _browse(qtbot, dialog, folder: Path) -> set[str]:
    from PySide6.QtWidgets import QFileDialog, QFileSystemModel

    watch = OpenWatch(folder)
    try:
        dialog.setViewMode(QFileDialog.ViewMode.Detail)  # the "Type" column too
        qtbot.addWidget(dialog)
        dialog.show()
        model = dialog.findChild(QFileSystemModel)
        qtbot.waitUntil(lambda: model.rowCount(model.index(str(folder))) >= 3, timeout=10_000)
        qtbot.wait(1500)  # icons and types are gathered in a thread after the listing
        return watch.opened()
    finally:
        dialog.close()
        watch.close()


def test_qt_own_dialog_opens_the_files_it_lists(qtbot, db_folder) -> None:
    """The control: the probe sees what a plain Qt dialog does (so the next test can pass only honestly)."""
    from PySide6.QtWidgets import QFileDialog

    dialog = QFileDialog(None, "Open", str(db_folder))
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    assert {"gate.db", "gate.db-journal"} & _browse(qtbot, dialog, db_folder)


def test_facegate_dialogs_never_open_the_files_they_list(qtbot, db_folder) -> None:
    from gui.filedialog import no_sniff_dialog

    dialog = no_sniff_dialog(None, "Open a video", str(db_folder), "All (*)")
    assert _browse(qtbot, dialog, db_folder) == set()
    model_types = dialog.iconProvider().type
    from PySide6.QtCore import QFileInfo

    assert model_types(QFileInfo(str(db_folder))) == "Folder"
    assert "video" in model_types(QFileInfo(str(db_folder / "clip.avi"))).lower()


def test_the_open_helper_returns_the_chosen_file(qtbot, db_folder, monkeypatch) -> None:
    from PySide6.QtWidgets import QDialog, QFileDialog

    from gui import filedialog

    def accept(dialog: QFileDialog) -> int:
        dialog.selectFile(str(db_folder / "clip.avi"))
        return QDialog.DialogCode.Accepted  # the modal loop itself cannot run in a test

    monkeypatch.setattr(QFileDialog, "exec", accept)
    path, _ = filedialog.get_open_file_name(None, "Open a video", str(db_folder), "Videos (*.avi)")
    assert path == str(db_folder / "clip.avi")
