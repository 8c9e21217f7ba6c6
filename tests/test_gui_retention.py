"""The window's first run (nobody enrolled) and its backup/restore of the identity store: real widgets
offscreen, real SQLite files, no models (the window is never started)."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("PySide6.QtWidgets", reason="the GUI needs PySide6 (pip install PySide6-Essentials)")
pytest.importorskip("pytestqt", reason="GUI tests need pytest-qt")

from gui.access import AccessPanel  # noqa: E402
from gui.views import EventView  # noqa: E402


def _unknown(track: int) -> EventView:
    return EventView(time.time(), track, None, 1.3, "unknown", "s", reason="no-match")


def test_first_run_banner_replaces_the_unknown_alert(qtbot) -> None:
    panel = AccessPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_nobody_enrolled(True)
    assert panel.first_run.isVisible() and "Nobody is enrolled yet" in panel.first_run_label.text()
    panel.add_events([_unknown(1)])
    assert not panel.alert.isVisible() and panel.alerts == 0  # logged, not alarmed
    assert panel.counts["unknown"] == 1
    with qtbot.waitSignal(panel.enrollFirst, timeout=1000):
        panel.first_run_button.click()
    panel.set_nobody_enrolled(False)  # someone was enrolled
    assert not panel.first_run.isVisible()
    panel.add_events([_unknown(2)])
    assert panel.alert.isVisible() and "Unknown person" in panel.alert.text()


def _enroll(store, name: str, notes: str = "") -> None:
    store.enroll(name, "facenet128", np.ones((1, 128), np.float32) / np.sqrt(128), notes=notes)


@pytest.fixture
def window(idle_window):
    return idle_window


def test_window_first_run_and_demo_people(window) -> None:
    window.update_first_run()
    assert window.access.first_run.isVisible()
    _enroll(window.gui_store(), "ann_demo", notes="demo")  # the demo's people do not count on a camera
    window.update_first_run()
    assert window.access.first_run.isVisible()
    _enroll(window.gui_store(), "bob")
    window.update_first_run()
    assert not window.access.first_run.isVisible()


def test_window_backup_and_restore(window, tmp_path) -> None:
    from db.store import Store
    from gui import backup

    _enroll(window.gui_store(), "bob")
    out = backup.back_up(window, str(tmp_path / "copies" / "b.db"))
    assert out is not None and out.exists()
    window.gui_store().remove("bob")
    window.update_first_run()
    assert window.access.first_run.isVisible()
    (tmp_path / "junk.db").write_bytes(b"not a store" * 20)
    assert not backup.restore_store(window, str(tmp_path / "junk.db"), confirm=False)
    assert backup.restore_store(window, str(out), confirm=False)
    assert [p["name"] for p in window.gui_store().identities()] == ["bob"]  # the store was reopened
    assert not window.access.first_run.isVisible()
    kept = list(tmp_path.glob("s.before-restore-*.db"))
    assert len(kept) == 1 and Store(kept[0]).identities() == []
