"""The access log as stored: events with why/where, operator corrections as records, calibrations, the
session export with corrections, and `--no-track` asking the schedule at every decision."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from core.errors import StoreError
from db.store import Store


def _store_with_event(tmp_path):
    s = Store(tmp_path / "gate.db")
    s.enroll("ann", "facenet128", np.eye(1, 128, dtype=np.float32))
    sid = s.start_session("front", "local", "mtcnn", "facenet128")
    eid = s.add_event(
        sid,
        "2026-12-01T10:00:00+00:00",
        3,
        "ann",
        0.41,
        "granted",
        frame=17,
        observations=3,
        reason="matched",
        camera="front",
    )
    return s, sid, eid


def test_an_event_keeps_why_and_where(tmp_path) -> None:
    s, sid, eid = _store_with_event(tmp_path)
    [ev] = s.events(sid)
    assert (ev["id"], ev["frame"], ev["observations"], ev["reason"], ev["camera"], ev["kind"]) == (
        eid,
        17,
        3,
        "matched",
        "front",
        "decision",
    )
    assert ev["corrected_identity"] is None


def test_a_correction_is_a_record_that_survives_a_restart_and_never_edits_the_event(tmp_path) -> None:
    s, sid, eid = _store_with_event(tmp_path)
    s.add_correction(eid, None, note="not ann: a visitor", user="alice")
    s.close()
    again = Store(tmp_path / "gate.db")
    [ev] = again.events(sid)
    assert (ev["identity"], ev["decision"]) == ("ann", "granted")  # what was decided stays as it was
    assert (ev["corrected_identity"], ev["corrected_by"], ev["correction_note"]) == (
        None,
        "alice",
        "not ann: a visitor",
    )
    assert ev["corrected_at"]
    [c] = again.corrections(eid)
    assert c["user"] == "alice"
    with pytest.raises(StoreError, match="no event"):
        again.add_correction(9999, None)


def test_a_correction_without_a_user_names_the_os_user(tmp_path) -> None:
    import getpass

    s, sid, eid = _store_with_event(tmp_path)
    s.add_correction(eid, "bob")
    assert s.events(sid)[0]["corrected_by"] == getpass.getuser()


def test_session_export_carries_the_new_columns_and_corrections(tmp_path) -> None:
    from core.recording import EVENT_EXPORT_COLUMNS, export_session

    s, sid, eid = _store_with_event(tmp_path)
    s.add_correction(eid, "bob", user="alice")
    frames_csv, events_csv = tmp_path / "f.csv", tmp_path / "e.csv"
    assert export_session(s, sid, frames_csv, events_csv) == (0, 1)
    with open(events_csv, newline="") as f:
        reader = csv.DictReader(f)
        [row] = list(reader)
    assert reader.fieldnames == EVENT_EXPORT_COLUMNS
    assert (
        row["identity"],
        row["reason"],
        row["camera"],
        row["corrected_identity"],
        row["corrected_by"],
    ) == ("ann", "matched", "front", "bob", "alice")


def test_the_newest_calibration_of_a_model_is_in_force(tmp_path) -> None:
    s = Store(tmp_path / "gate.db")
    assert s.calibration("facenet128") is None
    curve = [{"threshold": 0.9, "far": 0.0, "frr": 0.2}, {"threshold": 1.0, "far": 0.001, "frr": 0.1}]
    s.save_calibration("facenet128", 0.001, 1.0, 0.001, 0.1, 40, 5000, curve, "set A")
    s.save_calibration("facenet128", 0.0001, 0.9, 0.0, 0.2, 40, 5000, curve, "set A")
    cal = s.calibration("facenet128")
    assert (cal["threshold"], cal["target_far"], cal["curve"]) == (0.9, 0.0001, curve)
    assert s.calibration("facenet512") is None


class _OneFace:
    """A pipeline stand-in that always finds ann (the decision rule under test is the engine's, not a model's)."""

    threshold = 1.0

    class detector:  # noqa: N801
        key = "fake"

    class recognizer:  # noqa: N801
        key = "fake"
        model = "facenet128"

    def detect(self, image):
        from core.types import Face

        return [Face(box=np.array([10, 10, 90, 90], np.float32), score=0.99)]

    def embed(self, image, faces):
        for f in faces:
            f.embedding = np.eye(1, 128, dtype=np.float32)[0]

    def match(self, faces):
        for f in faces:
            f.identity, f.distance = "ann", 0.2


def test_untracked_mode_asks_the_schedule_at_every_decision(tmp_path) -> None:
    from core.engine import Engine

    s = Store(tmp_path / "gate.db")
    s.enroll("ann", "facenet128", np.eye(1, 128, dtype=np.float32))
    engine = Engine(_OneFace(), s, track=False, record=False)
    image = np.zeros((100, 100, 3), np.uint8)
    assert engine.process(image).faces[0].decision == "granted"
    s.set_policy("ann", "denied")  # e.g. another process, or 22:00 outside her schedule
    assert engine.process(image).faces[0].decision == "denied"
    engine.close()


def test_switching_the_recognizer_model_rechecks_every_track_without_new_events(tmp_path) -> None:
    from core.engine import Engine

    class _Other(_OneFace):
        class recognizer:  # noqa: N801
            key = "fake512"
            model = "facenet512"

    engine = Engine(_OneFace(), None)
    image = np.zeros((100, 100, 3), np.uint8)
    reasons = [engine.process(image, k, 1000.0 + k).faces[0].tracking.recognition_reason for k in range(6)]
    assert reasons == ["new", "undecided", "undecided", None, None, None]
    engine.swap(_Other())
    after = engine.process(image, 6, 1006.0).faces[0]
    assert after.tracking.recognition_reason == "reverify" and after.decision == "granted"
    assert len(engine.close().events) == 1


def test_each_frame_result_says_how_many_faces_were_recognised_and_what_was_decided() -> None:
    """The live run prints ``result.recognized`` and logs ``result.events``; the GUI worker shows both."""
    from core.engine import Engine

    engine = Engine(_OneFace(), None)
    image = np.zeros((100, 100, 3), np.uint8)
    results = [engine.process(image, k, 1000.0 + k) for k in range(5)]
    assert [r.recognized for r in results] == [1, 1, 1, 0, 0]  # decided after 3 results: then skipped
    assert [[(e.identity, e.decision) for e in r.events] for r in results] == [
        [],
        [],
        [("ann", "granted")],
        [],
        [],
    ]
    assert (results[0].bytes_up, results[0].bytes_down) == (None, None)  # local: nothing crossed a network
    assert engine.close().recognized == 3
