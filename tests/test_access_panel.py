"""The access panel and the enrollment pages as widgets (pytest-qt, offscreen), fed what the engine and the
enrollment worker hand them. The events here are EventView records built in the test (the engine that makes
them runs in tests/test_gui.py); the store, the calibration, the photos and the face crops are real."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("PySide6.QtWidgets", reason="the GUI needs PySide6 (pip install PySide6-Essentials)")
pytest.importorskip("pytestqt", reason="GUI tests need pytest-qt")

from gui.access import DECISION_COL, NOT_CALIBRATED, REASON_COL, AccessPanel  # noqa: E402
from gui.views import EnrollStatus, EventView  # noqa: E402


def _ev(track: int, name: str | None, decision: str, **kw) -> EventView:
    return EventView(time.time(), track, name, 0.5 if name else 1.3, decision, "s", **kw)


def _texts(panel: AccessPanel, eid: int) -> list[str]:
    from gui.access import ID_ROLE

    m = panel.model
    r = next(r for r in range(m.rowCount()) if m.item(r, 0).data(ID_ROLE) == eid)
    return [m.item(r, c).text() for c in range(m.columnCount())]


@pytest.fixture
def panel(qtbot) -> AccessPanel:
    p = AccessPanel()
    qtbot.addWidget(p)
    p.resize(520, 600)
    p.show()
    return p


def test_an_identity_change_is_a_flagged_row_and_an_alarm(panel) -> None:
    panel.add_events([_ev(1, "ben_afflek", "granted", reason="matched")])
    assert not panel.alert.isVisible() and panel.alerts == 0  # a granted decision raises nothing
    panel.add_events(
        [_ev(1, "elton_john", "denied", reason="identity-changed", kind="change", previous="ben_afflek")]
    )
    assert panel.alert.isVisible() and panel.change_alerts == 1
    assert "Identity changed on track #1: ben_afflek → elton_john" in panel.alert.text()
    assert "tailgating" in panel.alert.text()
    eid = max(panel.events)
    row = _texts(panel, eid)
    assert row[2] == "ben_afflek → elton_john" and row[DECISION_COL] == "⚠ denied"
    assert row[REASON_COL] == "identity changed"
    assert panel.model.item(0, 2).background().color().red() > 100  # the row is flagged red
    assert _texts(panel, min(panel.events))[REASON_COL] == "matched"
    panel.decision_filter.setCurrentIndex(panel.decision_filter.findData("change"))
    assert panel.proxy.rowCount() == 1
    assert "identity changed" in panel.summary.text()


def test_an_unknown_decision_raises_the_banner_a_past_one_does_not(panel) -> None:
    panel.load_history(
        [
            {
                "id": 7, "timestamp": "2026-01-02T10:00:00+00:00", "session": "old", "track": 3,
                "identity": None, "distance": 1.4, "decision": "unknown", "reason": "no-match",
                "kind": "decision", "previous": None, "camera": "door",
                "corrected_identity": "mindy", "corrected_by": "alice", "corrected_at": "2026-01-02T10:05:00",
                "correction_note": "operator: enrolled as mindy",
            }
        ]
    )  # fmt: skip
    assert panel.alerts == 0 and not panel.alert.isVisible()
    assert _texts(panel, max(panel.events))[REASON_COL] == "corrected: mindy by alice"
    panel.add_events([_ev(9, None, "unknown", reason="no-match")])
    assert panel.alert.isVisible() and "Unknown person at the door — track #9" in panel.alert.text()


def test_the_selection_stays_on_the_event_acted_on(panel) -> None:
    """It jumped to another event when the operator marked one and then filtered."""
    panel.add_events([_ev(1, "ben_afflek", "granted"), _ev(2, None, "unknown"), _ev(3, "elton", "denied")])
    ben = next(i for i, e in panel.events.items() if e.identity == "ben_afflek")
    assert panel.select_event(ben)
    panel.add_events([_ev(4, "jerry", "granted")])  # new events arrive on top
    assert panel.selected()[0] == ben
    panel.mark_corrected(ben, None, "alice", "operator: not ben_afflek")
    assert panel.selected()[0] == ben
    assert _texts(panel, ben)[REASON_COL] == "corrected: unknown by alice"
    panel.decision_filter.setCurrentIndex(panel.decision_filter.findData("granted"))
    assert panel.selected()[0] == ben  # still a granted decision in the log, still selected
    panel.decision_filter.setCurrentIndex(panel.decision_filter.findData("denied"))
    assert panel.selected() is None  # filtered out: nothing selected rather than another event
    panel.decision_filter.setCurrentIndex(0)
    assert panel.selected()[0] == ben
    panel.search.setText("ben")
    assert panel.selected()[0] == ben


def test_the_slider_shows_far_and_frr_or_says_to_calibrate(panel, tmp_path) -> None:
    from db.store import Store

    panel.set_threshold_model("facenet128", 0.9, 0.9)
    assert panel.rates.text() == NOT_CALIBRATED == "not calibrated: run main.py calibrate"
    store = Store(tmp_path / "c.db")
    curve = [{"threshold": t / 10, "far": t / 100, "frr": (10 - t) / 20} for t in range(4, 13)]
    store.save_calibration("facenet128", 0.05, 0.9, 0.09, 0.05, 200, 4000, curve, "celebrities")
    panel.set_calibration(store.calibration("facenet128"))
    from core.calibration import rates_at

    far, frr = rates_at(curve, 0.9)
    assert panel.rates.text().startswith(f"at 0.90: FAR ≈ {100 * far:.2g}% · FRR ≈ {100 * frr:.2g}%")
    panel.slider.setValue(60)  # moving the slider updates the estimate at once
    far, frr = rates_at(curve, 0.6)
    assert f"at 0.60: FAR ≈ {100 * far:.2g}%" in panel.rates.text()


# ---------------------------------------------------------------------------------------------- enrollment pages
@pytest.fixture
def wizard(qtbot):
    from gui.enroll import EnrollWizard
    from gui.worker import InferenceWorker

    worker = InferenceWorker()  # not started: these pages only show what the worker would send
    wiz = EnrollWizard(worker, [], None, name="obama")
    qtbot.addWidget(wiz)
    return wiz


def _status(samples: int, ready: bool, **kw) -> EnrollStatus:
    return EnrollStatus(
        kw.pop("ok", True), kw.pop("reason", "ok"), samples, 5, 15, 0.0, 0.2, ready, "g", **kw
    )


def test_capture_never_dead_ends_on_the_head_turn(wizard) -> None:
    page = wizard.capture_page
    page.on_status(_status(3, False))
    assert not page.isComplete() and page.use_taken.isEnabled()
    page.on_status(_status(1, False, ok=False, reason="paused: a second face is in view", paused=True))
    assert "second face" in page.reason.text()
    page.use_taken.setChecked(True)  # or the operator finishes with the samples taken
    assert page.isComplete()
    page.use_taken.setChecked(False)
    page.on_status(_status(5, True))  # enough samples, no head turn: Next is available
    assert page.isComplete() and "press Next" in page.guidance.text()
    page.on_status(_status(15, True, ok=False, reason="15 samples taken", done=True))
    assert page.isComplete() and page.pause.isChecked()


def test_review_starts_with_the_odd_sample_unticked(wizard, detector, fr_images) -> None:
    from core.imageio import load_image
    from enroll.service import face_crop

    samples = []
    for name, d in (("obama", 0.5), ("obama2", 0.55), ("obama3", 0.6), ("biden", 1.3)):
        img = load_image(fr_images / f"{name}.jpg")
        crop, _ = face_crop(img, max(detector.detect(img), key=lambda f: f.area))
        samples.append({"crop": crop, "quality": 0.8, "source": name, "distance": d, "outlier": d > 1.0})
    page = wizard.review_page
    page._show({"samples": samples, "lookalike": None, "threshold": 1.0})
    assert page.kept() == [0, 1, 2] and page.dropped() == [3]
    assert "do not look like the others" in page.warning.text()
    assert page.isComplete()
