"""Alarms, the audit trail and full-screen alarms in the window (issue 13): the real MainWindow offscreen
(built, never started: no models), a real SQLite store in tmp_path, a second Store connection as the
second operator."""

from __future__ import annotations

import csv
import datetime as dt
import time
from typing import Any

import numpy as np
import pytest

pytest.importorskip("PySide6.QtWidgets", reason="the GUI needs PySide6 (pip install PySide6-Essentials)")
pytest.importorskip("pytestqt", reason="GUI tests need pytest-qt")

from PySide6.QtCore import QPoint, Qt, QTimer  # noqa: E402, TID253 - a GUI test module (skipped above without Qt)
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox  # noqa: E402, TID253 - a GUI test module (skipped above without Qt)

from db.store import Store, os_user  # noqa: E402
from gui.views import EventView  # noqa: E402

CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def _jpeg(seed: int) -> bytes:
    import cv2

    img = np.random.default_rng(seed).integers(0, 255, (48, 40, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


@pytest.fixture
def window(idle_window):
    return idle_window


def _events(store: Store) -> dict[str, int]:
    """granted (not an alarm), denied, unknown, identity changed: oldest to newest, one second apart."""
    sid = store.start_session("cam.avi")
    t = "2026-03-10T08:00:0{}.000+00:00"
    return {
        "granted": store.add_event(sid, t.format(0), 1, "ann", 0.4, "granted", _jpeg(0), reason="matched"),
        "denied": store.add_event(
            sid, t.format(1), 2, "eve", 0.5, "denied", _jpeg(1), reason="policy", camera="front"
        ),
        "unknown": store.add_event(
            sid, t.format(2), 3, None, 1.3, "unknown", _jpeg(2), reason="no-match", camera="back"
        ),
        "change": store.add_event(
            sid, t.format(3), 1, "bob", 0.6, "granted", reason="matched", camera="front", kind="change",
            previous="ann",
        ),
    }  # fmt: skip


def _answer_note(qtbot: Any, note: str | None, seen: list[str]) -> None:
    """Answer the acknowledgement's QInputDialog when it opens (None: cancel it)."""

    def answer() -> None:
        dlg = QApplication.activeModalWidget()
        if not isinstance(dlg, QInputDialog):
            QTimer.singleShot(20, answer)
            return
        seen.append(dlg.labelText())
        if note is None:
            dlg.reject()
        else:
            dlg.setTextValue(note)
            dlg.accept()

    QTimer.singleShot(0, answer)


def _ctrl_k(qtbot: Any, window: Any) -> None:
    """Press Ctrl+K in the main window (active again once a dialog closed, as on a desktop)."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=1000)
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)


def _read_modal_text(seen: list[str]) -> None:
    def read() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, read)
            return
        seen.append(box.text())
        box.accept()

    QTimer.singleShot(0, read)


def _cells(table: Any, row: int) -> list[str]:
    return [str(table.item(row, c).text()) for c in range(table.columnCount())]


def test_alarms_window_lists_open_alarms_first_with_time_zone_and_face(window, tmp_path) -> None:
    store = window.gui_store()
    ids = _events(store)
    Store(tmp_path / "s.db").ack_alarm(ids["denied"], "visitor", user="olga")  # the other operator
    dlg = window.alarms.open_window()
    assert window.alarms.open_action.shortcut().toString() == "Ctrl+Shift+A"
    rows = [_cells(dlg.table, r) for r in range(dlg.table.rowCount())]
    assert [r[3] for r in rows] == ["ann → bob", "unknown"]  # open only, newest first; granted is no alarm
    assert [r[4] for r in rows] == ["identity changed", "unknown"]
    assert rows[1][2] == "back" and rows[1][5] == "no match" and rows[1][6] == "OPEN"
    local = dt.datetime.fromisoformat("2026-03-10T08:00:02+00:00").astimezone()
    assert rows[1][1] == local.strftime("%Y-%m-%d %H:%M:%S %Z")  # date, time and the operator's zone
    assert dlg.table.item(1, 0).data(Qt.ItemDataRole.DecorationRole) is not None  # the event's face
    assert "2 open alarms" in dlg.summary.text()
    dlg.show_acked.setChecked(True)
    rows = [_cells(dlg.table, r) for r in range(dlg.table.rowCount())]
    assert [r[3] for r in rows] == ["ann → bob", "unknown", "eve"]  # the acknowledged one last
    assert rows[2][6].startswith("acknowledged by olga at 2") and rows[2][6].endswith(": visitor")


def test_ctrl_k_in_full_screen_acknowledges_the_newest_and_the_counts_drop(window, qtbot) -> None:
    store = window.gui_store()
    ids = _events(store)
    window.toggle_fullscreen()
    overlay = window.alarms.overlay
    assert overlay.isVisible() and overlay.parentWidget() is window.centralWidget()
    assert not window.statusBar().isVisible() and not window.access_dock.isVisible()
    assert overlay.count_label.text() == "⚠ 3 open alarms"
    assert "camera front" in overlay.newest_label.text() and "ann → bob" in overlay.newest_label.text()
    g, video = overlay.geometry(), window.centralWidget()
    assert g.right() > video.width() // 2 and g.top() > video.height() // 2  # the bottom-right corner:
    assert video.rect().contains(g)  # over the video, clear of the tiles' names at their top
    seen: list[str] = []
    _answer_note(qtbot, "tailgater was a colleague", seen)
    _ctrl_k(qtbot, window)
    qtbot.waitUntil(lambda: store.open_alarm_count() == 2, timeout=3000)
    assert seen and f"Alarm {ids['change']}" in seen[0]
    acked = [a for a in store.alarms() if a["acknowledged"]]
    assert [(a["id"], a["ack_note"], a["ack_by"]) for a in acked] == [
        (ids["change"], "tailgater was a colleague", os_user())
    ]
    assert overlay.count_label.text() == "⚠ 2 open alarms"  # at once, not on the 5 s tick
    assert "unknown" in overlay.newest_label.text() and "camera back" in overlay.newest_label.text()
    assert window.status_alarms.text() == "open alarms: 2"
    # cancelling the note acknowledges nothing
    _answer_note(qtbot, None, seen)
    _ctrl_k(qtbot, window)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=3000)
    assert store.open_alarm_count() == 2
    # the overlay's own button: the newest open one (the unknown face), without a note
    _answer_note(qtbot, "", seen)
    overlay.button.click()
    assert store.open_alarm_count() == 1 and overlay.count_label.text() == "⚠ 1 open alarm"
    window.alarms.acknowledge(ids["denied"], note="")
    assert overlay.count_label.text() == "no open alarms" and not overlay.button.isVisible()
    window.toggle_fullscreen()
    assert not overlay.isVisible() and window.statusBar().isVisible()


def test_a_new_alarm_in_full_screen_shows_on_the_overlay_at_once(window, qtbot) -> None:
    store = window.gui_store()
    window.toggle_fullscreen()
    overlay = window.alarms.overlay
    assert overlay.count_label.text() == "no open alarms"
    sid = store.start_session("cam.avi")
    eid = store.add_event(sid, "2026-03-10T09:00:00.000+00:00", 7, None, 1.2, "unknown", camera="gate")
    ev = EventView(time.time(), 7, None, 1.2, "unknown", sid, event_id=eid, camera="gate")
    window.worker.eventsReady.emit([ev])  # the window's event path (the worker's signal)
    qtbot.waitUntil(lambda: overlay.count_label.text() == "⚠ 1 open alarm", timeout=1000)
    assert "camera gate" in overlay.newest_label.text() and "unknown" in overlay.newest_label.text()
    assert overlay.isVisible() and overlay.button.isVisible()


def test_a_second_operator_acknowledged_first(window, qtbot, tmp_path) -> None:
    store = window.gui_store()
    ids = _events(store)
    dlg = window.alarms.open_window()
    dlg.table.selectRow(1)  # the unknown face
    assert dlg.selected_id() == ids["unknown"]
    Store(tmp_path / "s.db").ack_alarm(ids["unknown"], "seen on camera", user="olga")
    seen: list[str] = []
    _answer_note(qtbot, "mine", seen)
    dlg.ack_button.click()  # the Alarms window's Acknowledge…: the selected alarm
    assert seen and f"Alarm {ids['unknown']}" in seen[0]
    assert window.last_notice.startswith(f"alarm {ids['unknown']} was already acknowledged by olga at 2")
    assert "(seen on camera)" in window.last_notice
    assert store.alarms()[1]["ack_note"] == "seen on camera"  # the first acknowledgement is kept
    assert window.status_alarms.text() == "open alarms: 2"
    assert [_cells(dlg.table, r)[3] for r in range(dlg.table.rowCount())] == ["ann → bob", "eve"]
    # not an alarm: a clear line, nothing changes
    assert window.alarms.acknowledge(ids["granted"], note="x") is None
    assert "is not an alarm" in window.last_notice and store.open_alarm_count() == 2


def test_ctrl_k_acknowledges_the_alarm_selected_in_the_access_log(window, qtbot) -> None:
    store = window.gui_store()
    ids = _events(store)
    window._load_history()  # not started: load the store's events by hand
    window.access.load_history(store.events())
    row = next(r for r, ev in window.access.events.items() if ev.event_id == ids["denied"])
    assert window.access.select_event(row)
    seen: list[str] = []
    _answer_note(qtbot, "", seen)
    _ctrl_k(qtbot, window)
    qtbot.waitUntil(lambda: store.open_alarm_count() == 2, timeout=3000)
    assert [a["id"] for a in store.alarms() if a["acknowledged"]] == [ids["denied"]]  # not the newest


def test_audit_window_shows_who_changed_the_threshold_and_exports_csv(window, qtbot, tmp_path) -> None:
    from gui.alarms import open_audit

    store = window.gui_store()
    window.access.thresholdChanged.emit("facenet128", 0.92)  # the slider, as the window records it
    store.record_threshold("facenet128", 0.92, None)
    store.enroll("=HYPERLINK(1)", "m", np.ones((1, 8), np.float32) / np.sqrt(8))
    ids = _events(store)
    window.alarms.acknowledge(ids["unknown"], note="courier")
    dlg = open_audit(window)
    rows = [_cells(dlg.table, r) for r in range(dlg.table.rowCount())]
    assert [r[2] for r in rows] == ["acknowledgement", "enrollment", "threshold", "threshold"]  # newest first
    ack, _, back, moved = rows
    assert ack[4] == "acknowledged: courier" and ack[3] == f"event {ids['unknown']}"
    assert back[4] == "threshold 0.92 → default"
    assert moved[1] == os_user() and moved[3] == "facenet128"
    assert moved[4].startswith("threshold ") and moved[4].endswith(" → 0.92")
    assert moved[0][:4].isdigit() and moved[0].endswith(dt.datetime.now().astimezone().strftime("%Z"))
    dlg.action_filter.setCurrentIndex(dlg.action_filter.findData("threshold"))
    assert dlg.table.rowCount() == 2
    dlg.search.setText("0.92 → default")
    assert dlg.table.rowCount() == 1 and dlg.summary.text() == "1 of 4 audit rows"
    dlg.action_filter.setCurrentIndex(0)
    dlg.search.setText("")
    out = tmp_path / "audit.csv"
    assert dlg.export(out) == 4
    with open(out, newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [r["action"] for r in table] == ["threshold", "threshold", "enroll", "ack"]  # oldest first
    assert table[2]["subject"] == "'=HYPERLINK(1)"  # formula-safe: a spreadsheet shows it as text
    assert '"note": "courier"' in table[3]["after"]
    # a folder is refused with one line, and nothing is written
    assert dlg.export(tmp_path) is None
    assert dlg.summary.text().startswith(f"audit export {tmp_path}: is a folder")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".csv") == ["audit.csv"]


def test_the_alert_banner_does_not_move_the_event_log(window, qtbot) -> None:
    panel = window.access
    panel.set_nobody_enrolled(False)
    qtbot.waitUntil(lambda: panel.table.isVisible(), timeout=1000)

    def table_y() -> int:
        QApplication.processEvents()
        return panel.table.mapTo(panel, QPoint(0, 0)).y()

    before = table_y()
    panel.add_events([EventView(time.time(), 4, None, 1.3, "unknown", "s", reason="no-match")])
    assert panel.alert.isVisible() and "Unknown person" in panel.alert.text()
    assert table_y() == before
    change = EventView(time.time(), 1, "bob", 0.5, "granted", "s", kind="change", previous="ann")
    panel.alert_change(change, beep=False)  # the longest alert
    assert table_y() == before
    assert panel.alert.heightForWidth(panel.alert.width()) <= panel.alert_slot.height()  # not clipped
    panel.alert.mousePressEvent(None)  # the operator clicks it away
    assert not panel.alert.isVisible() and table_y() == before


def _close_next_dialog(opened: list[str]) -> None:
    """Record the class of the next modal dialog and cancel it."""

    def close() -> None:
        dlg = QApplication.activeModalWidget()
        if dlg is None:
            QTimer.singleShot(20, close)
            return
        opened.append(type(dlg).__name__)
        dlg.reject()

    QTimer.singleShot(0, close)


def test_access_log_shortcuts_and_the_shortcuts_help(window, qtbot) -> None:
    panel = window.access
    crop = np.zeros((60, 50, 3), np.uint8)
    known = EventView(time.time(), 2, "ann", 0.5, "granted", "s", crop=crop)
    stranger = EventView(time.time(), 3, None, 1.3, "unknown", "s", crop=crop)
    panel.add_events([known, stranger])  # newest on top: the stranger, then ann
    got: list[Any] = []
    panel.notThisPerson.connect(got.append)
    panel.enrollFace.connect(got.append)
    opened: list[str] = []
    panel.table.selectRow(1)
    _close_next_dialog(opened)
    qtbot.keyClick(window, Qt.Key.Key_N, CTRL_SHIFT)  # "This is not ann…"
    assert [sel[1].identity for sel in got] == ["ann"] and opened == ["CorrectionDialog"]
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=1000)
    panel.table.selectRow(0)
    _close_next_dialog(opened)
    qtbot.keyClick(window, Qt.Key.Key_E, CTRL_SHIFT)  # "Enroll this face…"
    assert got[-1][1] is stranger and opened == ["CorrectionDialog", "CorrectionDialog"]
    seen: list[str] = []
    _read_modal_text(seen)
    window._show_shortcuts()
    text = seen[0]
    for key in ("Ctrl+K", "Ctrl+Shift+A", "Ctrl+Shift+N", "Ctrl+Shift+E"):
        assert key in text
    taken = _all_shortcuts(window)
    assert len(taken) == len(set(taken)), f"a shortcut is bound twice: {sorted(taken)}"


def _all_shortcuts(window: Any) -> list[str]:
    from PySide6.QtGui import QAction, QShortcut

    keys: list[str] = []
    seen: set[int] = set()
    for a in window.findChildren(QAction):
        if id(a) in seen:
            continue
        seen.add(id(a))
        keys += [k.toString() for k in a.shortcuts() if not k.isEmpty()]
    keys += [s.key().toString() for s in window.findChildren(QShortcut)]
    return keys
