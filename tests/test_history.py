"""The event history (issue 13): schema 7's frame snapshots, the history's store queries and the
window itself (real widgets offscreen, a real store of real face photos in tmp_path, no models except
the one engine test)."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from db.store import MIGRATIONS, SCHEMA_VERSION, Store
from tests.history_scene import build_history_store, last_tuesday


def _image(jpeg: bytes | None) -> np.ndarray:
    assert jpeg, "no image stored"
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


@pytest.fixture
def history(tmp_path: Path, celeb_train, celeb_val) -> tuple[Store, list[dict[str, Any]]]:
    return build_history_store(tmp_path / "h.db", celeb_train, celeb_val)


# ---------------------------------------------------------------------- store
def test_a_schema_6_store_migrates_with_its_events(tmp_path: Path) -> None:
    path = tmp_path / "v6.db"
    conn = sqlite3.connect(path)
    for step in range(1, 7):
        for statement in MIGRATIONS[step]:
            conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '6')")
    conn.execute(
        "INSERT INTO events(timestamp, identity, decision, reason, thumbnail) VALUES (?, 'ann', 'denied', 'policy', ?)",
        ["2026-12-01T08:00:00.000+00:00", b"face"],
    )
    conn.commit()
    conn.close()
    s = Store(path)
    assert s._version() == SCHEMA_VERSION == 8
    indexes = {r[0] for r in s.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "events_timestamp" in indexes
    (old,) = s.find_events()
    assert (old["identity"], old["decision"], old["alarm"], old["acknowledged"]) == (
        "ann",
        "denied",
        True,
        False,
    )
    d = s.event_detail(old["id"])
    assert d["thumbnail"] == b"face" and d["snapshot"] is None and d["enrolled_photo"] is None
    assert d["threshold"] is None and d["threshold_source"] is None  # logged before schema 8, no session


def test_find_events_by_alarm_state_and_the_cli(history, run_cli) -> None:
    store, events = history
    denied = [e["id"] for e in events if e["decision"] == "denied"]
    store.ack_alarm(denied[0], "known visitor")
    acked = store.find_events(acknowledged=True)
    assert [r["id"] for r in acked] == [denied[0]] and acked[0]["ack_note"] == "known visitor"
    open_ids = [r["id"] for r in store.find_events(acknowledged=False)]
    assert denied[0] not in open_ids and set(denied[1:]) <= set(open_ids)
    assert all(r["alarm"] for r in store.find_events(acknowledged=False))
    code, out, err = run_cli("--db", store.path, "events", "list", "--json", "--acknowledged")
    assert code == 0, err
    assert [json.loads(line)["id"] for line in out.splitlines()] == [denied[0]]
    code, out, _ = run_cli("--db", store.path, "events", "list", "--open", "--decision", "unknown")
    assert code == 0 and out.count("alarm OPEN") == 2
    with pytest.raises(SystemExit) as exit_:
        run_cli("--db", store.path, "events", "list", "--open", "--acknowledged")
    assert exit_.value.code == 2


def test_event_detail_has_the_three_pictures_and_corrections(history) -> None:
    store, events = history
    eid = events[2]["id"]  # elton_john denied at the front door
    store.add_correction(eid, None, "his twin", user="guard")
    d = store.event_detail(eid)
    face, frame, enrolled = _image(d["thumbnail"]), _image(d["snapshot"]), _image(d["enrolled_photo"])
    assert face.shape[:2] == (96, 96) and enrolled.shape[:2] == (112, 112)
    assert frame.shape[:2] == (360, 640)  # the 1280x720 frame, at most 640 px wide
    assert [(c["user"], c["note"]) for c in d["corrections"]] == [("guard", "his twin")]
    stranger = store.event_detail(next(e["id"] for e in events if e["identity"] is None))
    assert stranger["enrolled_photo"] is None and stranger["snapshot"]


def test_retention_removes_frame_snapshots_too(history) -> None:
    store, events = history
    newest = max(e["when"] for e in events)
    counts = store.apply_retention(snapshots_days=1, now=newest + _dt.timedelta(hours=12))
    assert counts["snapshots"] == len(events) - 1
    kept = dict(store.db.execute("SELECT id, snapshot IS NOT NULL FROM events").fetchall())
    assert sum(kept.values()) == 1 and store.event_detail(events[-1]["id"])["snapshot"]


def test_the_frame_snapshot_blurs_an_unknown_face_when_asked() -> None:
    from core.privacy import frame_snapshot

    rng = np.random.default_rng(0)
    frame = (rng.random((720, 1280, 3)) * 255).astype(np.uint8)
    before = frame.copy()

    class S:
        blur_unknown = True

    plain = _image(frame_snapshot(frame, (400, 200, 600, 400), "unknown", None))
    blurred = _image(frame_snapshot(frame, (400, 200, 600, 400), "unknown", S()))
    assert np.array_equal(frame, before)  # the caller's frame is never drawn on
    inside = (slice(110, 190), slice(210, 290))  # inside the box, in 640-px snapshot coordinates
    assert blurred[inside].std() < plain[inside].std() / 3
    granted = _image(frame_snapshot(frame, (400, 200, 600, 400), "granted", S()))
    assert granted[inside].std() > plain[inside].std() * 0.8  # only an unknown face is blurred


# ---------------------------------------------------------------------- the window
@pytest.fixture
def window(qtbot, history):
    pytest.importorskip("pytestqt", reason="GUI tests need pytest-qt")
    from gui.history import HistoryWindow

    store, events = history
    w = HistoryWindow(lambda: store)
    qtbot.addWidget(w)
    w.show()
    return w, store, events


def _set_day(w: Any, day: _dt.date) -> None:
    from gui.history import to_qdatetime

    w.from_edit.setDateTime(to_qdatetime(_dt.datetime.combine(day, _dt.time(0, 0))))
    w.to_edit.setDateTime(to_qdatetime(_dt.datetime.combine(day, _dt.time(23, 59))))


def test_last_tuesdays_denied_events_at_the_front_door(window) -> None:
    w, _, events = window
    tuesday = last_tuesday(_dt.date.today())
    _set_day(w, tuesday)
    w.decision_combo.setCurrentText("denied")
    w.camera_combo.setCurrentText("front")
    assert w.apply()
    want = [
        e["id"]
        for e in events
        if e["when"].date() == tuesday and e["decision"] == "denied" and e["camera"] == "front"
    ]
    assert len(want) == 2 and [r["id"] for r in w.rows] == want
    assert w.table.rowCount() == 2 and len(w.scatter.points()) == 2
    # times show the date and the zone
    zone = events[0]["when"].strftime("%Z")
    assert w.table.item(0, 0).text().startswith(f"{tuesday:%Y-%m-%d} ") and w.table.item(
        0, 0
    ).text().endswith(zone)
    # a backwards range: one line, nothing changes
    from gui.history import to_qdatetime

    w.from_edit.setDateTime(to_qdatetime(_dt.datetime.combine(tuesday, _dt.time(23, 0))))
    w.to_edit.setDateTime(to_qdatetime(_dt.datetime.combine(tuesday, _dt.time(8, 0))))
    assert not w.apply()
    assert "is after To" in w.message.text() and "\n" not in w.message.text()
    assert [r["id"] for r in w.rows] == want and w.table.rowCount() == 2


def test_clicking_a_timeline_point_selects_its_event_and_shows_three_pictures(window, qtbot) -> None:
    from PySide6.QtCore import QPointF, Qt

    w, _, events = window
    _set_day(w, last_tuesday(_dt.date.today()))
    w.to_edit.setDateTime(w.to_edit.dateTime().addDays(1))
    assert w.apply()
    target = next(r for r in w.rows if r["identity"] == "elton_john" and r["camera"] == "back")
    w.select_event(w.rows[0]["id"])
    qtbot.wait(50)  # the plot lays out its view
    x = _dt.datetime.fromisoformat(target["timestamp"]).timestamp()
    vb = w.timeline.getPlotItem().getViewBox()
    pos = w.timeline.mapFromScene(vb.mapViewToScene(QPointF(x, 1)))  # the denied lane
    qtbot.mouseClick(w.timeline.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert w.selected_id() == target["id"]
    assert w.face.has_image() and w.snapshot.has_image() and w.enrolled.has_image()
    assert "elton_john" in w.facts.text() and "0.640" in w.facts.text()


def test_export_holds_exactly_the_filtered_rows(window, tmp_path) -> None:
    w, store, events = window
    w.person_combo.setEditText("jerry_seinfeld")
    w.set_range("Last 30 days")
    assert [r["identity"] for r in w.rows] == ["jerry_seinfeld"] * 3
    store.db.execute("UPDATE events SET reason = '=HYPERLINK(1)' WHERE id = ?", [w.rows[0]["id"]])
    w.apply()
    out = tmp_path / "out.csv"
    assert w.export_csv(str(out)) == 3
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["id"]) for r in rows] == [r["id"] for r in w.rows]
    assert {"timestamp", "camera", "identity", "decision", "reason", "acknowledged", "ack_note"} <= set(
        rows[0]
    )
    assert rows[0]["reason"] == "'=HYPERLINK(1)"  # never a spreadsheet formula
    assert w.export_csv(str(tmp_path)) is None and "cannot write" in w.message.text()


def test_acknowledge_from_the_history_is_audited(window) -> None:
    w, store, events = window
    w.alarm_combo.setCurrentText("open alarms")
    w.set_range("Last 30 days")
    n_open = len(w.rows)
    eid = next(e["id"] for e in events if e["identity"] is None)
    w.select_event(eid)
    assert w.ack_button.isEnabled()
    assert w.acknowledge("delivery driver")
    assert len(w.rows) == n_open - 1 and eid not in [r["id"] for r in w.rows]  # the open filter refreshed
    assert store.find_events(acknowledged=True)[0]["ack_note"] == "delivery driver"
    audit = store.audit()[-1]
    assert audit["action"] == "ack" and audit["after"] == {"event": eid, "note": "delivery driver"}
    w.alarm_combo.setCurrentText("acknowledged alarms")
    w.apply()
    w.select_event(eid)
    assert not w.ack_button.isEnabled() and "acknowledged by" in w.facts.text()


def test_view_history_opens_one_non_modal_history(qtbot, tmp_path) -> None:
    from PySide6.QtGui import QAction, QKeySequence

    from gui.main_window import MainWindow
    from gui.settings import Settings

    main = MainWindow(Settings(tmp_path / "facegate.ini"), db=str(tmp_path / "s.db"), source="0")
    qtbot.addWidget(main)
    (action,) = [a for a in main.findChildren(QAction) if a.shortcut() == QKeySequence("Ctrl+H")]
    assert action.text() == "History…"
    action.trigger()
    h = main.history_window
    assert h.isVisible() and not h.isModal() and h.rows == [] and h.message.text() == "0 events"
    assert main.open_history() is h  # one per window
    main.close()


# ---------------------------------------------------------------------- the engine (real models)
def test_the_engine_stores_a_frame_snapshot_with_each_event(
    tmp_path, detector, recognizer, celeb_train, celeb_val
):
    """Ben at the door, then a stranger in his spot (the door scene's first 50 frames): both events carry
    the whole frame, downscaled to 640 px, the face boxed in its decision's colour; the stranger's face is
    blurred (blur_unknown)."""
    from core.engine import Engine
    from core.pipeline import Pipeline
    from core.privacy import BOX_COLOURS
    from tests.helpers import embed_largest_faces
    from tests.scenes import door_scene

    store = Store(tmp_path / "door.db")
    store.enroll(
        "ben_afflek",
        recognizer.model,
        embed_largest_faces(detector, recognizer, celeb_train["ben_afflek"][:4]),
    )
    store.blur_unknown = True
    scene = door_scene(celeb_val)
    end = scene.appearances[1][3] + 1  # through the stranger's appearance
    pipe = Pipeline(detector, recognizer, store.gallery(recognizer.model, recognizer.default_threshold))
    engine = Engine(pipe, store, source_name="door")
    for k, frame in enumerate(scene.frames[:end]):
        engine.process(frame, k, 1_000_000.0 + k / 15)
    engine.close()
    stored = [store.event_detail(e["id"]) for e in store.events()]
    assert [(e["identity"], e["decision"]) for e in stored] == [("ben_afflek", "granted"), (None, "unknown")]
    # the log keeps the threshold each decision was made with, whatever is calibrated later
    store.save_calibration(recognizer.model, 0.001, 0.5, 0.001, 0.2, 40, 5000, [], "later")
    for e in (store.event_detail(e["id"]) for e in stored):
        assert (e["threshold"], e["threshold_source"]) == (pytest.approx(pipe.threshold), "decision")
    assert pipe.threshold != pytest.approx(0.5)
    h, w = scene.frames[0].shape[:2]
    for e in stored:
        snap = _image(e["snapshot"])
        assert snap.shape[:2] == (round(h * 640 / w), 640)
        colour = np.array(BOX_COLOURS[e["decision"]], np.int16)
        mask = np.abs(snap.astype(np.int16) - colour).max(axis=2) < 40
        assert mask.sum() > 200, f"{e['decision']}: no {colour} box in the snapshot"
        ys, xs = np.nonzero(mask)
        inside = (slice(ys.min() + 5, ys.max() - 5), slice(xs.min() + 5, xs.max() - 5))
        shown = cv2.resize(
            scene.frames[e["frame"]], (snap.shape[1], snap.shape[0]), interpolation=cv2.INTER_AREA
        )
        detail = (
            cv2.Laplacian(snap[inside], cv2.CV_32F).var() / cv2.Laplacian(shown[inside], cv2.CV_32F).var()
        )
        assert detail < 0.1 if e["decision"] == "unknown" else detail > 0.5  # only the stranger is blurred
