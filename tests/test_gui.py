"""The operator window with real widgets and real faces (pytest-qt, offscreen).

Videos are built from real photos (the celebrity dataset) and the identity store is enrolled from other
photos of the same people. Every wait is on a signal or a condition (``waitSignal`` / ``waitUntil``),
never a sleep.
"""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6.QtWidgets", reason="the GUI needs PySide6 (pip install PySide6-Essentials)")
pytest.importorskip("pyqtgraph", reason="the GUI needs pyqtgraph")
pytest.importorskip("pytestqt", reason="GUI tests need pytest-qt")

from core.annotate import COLOURS  # noqa: E402
from core.recording import EVENT_EXPORT_COLUMNS, FRAME_COLUMNS  # noqa: E402
from tests.scenes import paste, portrait  # noqa: E402

FPS = 15
W, H = 960, 540
START_S = 60_000  # ms: first frames (models built, store opened) on a loaded 2-core machine


# ---------------------------------------------------------------------------------------------- scenes
def _background() -> np.ndarray:
    bg = np.zeros((H, W, 3), np.uint8)
    bg[:] = np.linspace(55, 115, W, dtype=np.uint8)[None, :, None]
    return bg


def _door_video(path: Path, celeb_val, fr_images: Path) -> None:
    """8 s: ben_afflek (allowed) and elton_john (denied) stand at the door; a stranger joins at 4 s."""
    ben = portrait(celeb_val["ben_afflek"][0], 240)
    elton = portrait(celeb_val["elton_john"][0], 240)
    stranger = portrait(fr_images / "biden.jpg", 240)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    for k in range(120):
        frame = _background()
        paste(frame, ben, 40 + k // 4, 150)
        paste(frame, elton, 380 - k // 6, 180)
        if k >= 60:
            paste(frame, stranger, 720, 160)
        writer.write(frame)
    writer.release()


def _newcomer_video(path: Path, photos: list[Path]) -> None:
    """A person who is not enrolled, one photo after another at the door (about 0.5 s each)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    for p in photos:
        tile = portrait(p, 320)
        for k in range(8):
            frame = _background()
            paste(frame, tile, (W - tile.shape[1]) // 2 + k, 100)
            writer.write(frame)
    writer.release()


@pytest.fixture(scope="module")
def door(tmp_path_factory, celeb_train, celeb_val, fr_images, detector, recognizer):
    """(store with ben_afflek allowed + elton_john denied, door video, newcomer video)."""
    from core.imageio import load_image
    from db.store import Store
    from enroll.quality import check_sample
    from enroll.service import Enrollment

    folder = tmp_path_factory.mktemp("gui")
    db = folder / "door.db"
    store = Store(db)
    for name, policy in (("ben_afflek", "allowed"), ("elton_john", "denied")):
        job = Enrollment(name, detector, recognizer, store)
        for p in celeb_train[name][:8]:
            job.add_image(load_image(p), str(p))
        job.save(policy=policy)
    store.close()
    video = folder / "door.avi"
    _door_video(video, celeb_val, fr_images)
    usable = []
    for p in celeb_train["mindy_kaling"]:
        img = load_image(p)
        if check_sample(img, detector.detect(img)).ok:
            usable.append(p)
    newcomer = folder / "newcomer.avi"
    _newcomer_video(newcomer, usable[:8])
    return db, video, newcomer


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Open (and always close) a started main window on a source, with its own settings file."""
    from gui.main_window import MainWindow
    from gui.settings import Settings

    windows = []

    def make(source: str, db: Path, start: bool = True, settings: Path | None = None):
        s = Settings(settings or tmp_path / "facegate.ini")
        s.loop_files = True
        w = MainWindow(s, db=str(db), source=str(source))
        qtbot.addWidget(w)
        w.resize(1280, 800)
        w.show()
        windows.append(w)
        if start:
            with qtbot.waitSignal(w.frameShown, timeout=START_S):
                w.start()
        return w

    yield make
    for w in windows:
        w.close()


class Seen:
    """Collects what the window showed: identities per track, frames, recognizers."""

    def __init__(self, window) -> None:
        self.frames = 0
        self.names: set[str] = set()
        self.tracks: dict[int, set[str | None]] = {}
        self.views = []
        window.frameShown.connect(self._on)

    def _on(self, view) -> None:
        self.frames += 1
        self.views = (self.views + [view])[-50:]
        for f in view.result.faces:
            if f.identity:
                self.names.add(f.identity)
            if f.track_id is not None and f.decision is not None:
                self.tracks.setdefault(f.track_id, set()).add(f.identity)


def _row_of(panel, eid: int) -> list[str]:
    """The texts of the access panel's row of event ``eid`` (as the operator reads them)."""
    from gui.access import ID_ROLE

    m = panel.model
    r = next(r for r in range(m.rowCount()) if m.item(r, 0).data(ID_ROLE) == eid)
    return [m.item(r, c).text() for c in range(m.columnCount())]


def _copy(db: Path, to: Path) -> Path:
    import sqlite3

    with sqlite3.connect(db) as a, sqlite3.connect(to) as b:
        a.backup(b)
    return to


# ---------------------------------------------------------------------------------------------- tests
def test_gui_available_says_why_not(monkeypatch) -> None:
    from gui.app import gui_available

    assert gui_available() == (True, "")  # offscreen (conftest)
    monkeypatch.setenv("QT_QPA_PLATFORM", "")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    ok, why = gui_available()
    assert not ok and "DISPLAY" in why


def test_names_appear_on_the_video_and_events_in_the_panel(door, make_window, qtbot, tmp_path) -> None:
    from db.store import Store
    from gui.access import NOT_CALIBRATED

    db, video, _ = door
    db = _copy(db, tmp_path / "door.db")
    store = Store(db)  # a calibration of the running model: the slider says what its position costs
    curve = [{"threshold": t / 10, "far": t / 200, "frr": (14 - t) / 20} for t in range(4, 15)]
    store.save_calibration("facenet128", 0.01, 0.8, 0.004, 0.3, 100, 2000, curve)
    store.close()
    w = make_window(video, db)
    assert w.access.rates.text() != NOT_CALIBRATED
    assert "FAR ≈" in w.access.rates.text() or "cannot estimate" in w.access.rates.text()
    seen = Seen(w)
    qtbot.waitUntil(lambda: {"ben_afflek", "elton_john"} <= seen.names, timeout=30_000)
    # the box is drawn in its decision's colour on the frame the view shows (granted green, denied red)
    for name, decision in (("ben_afflek", "granted"), ("elton_john", "denied")):

        def drawn(name=name, decision=decision) -> bool:
            v = w.last_view
            face = next((f for f in v.result.faces if f.identity == name and f.decision == decision), None)
            if face is None:
                return False
            x, y = (int(round(c * v.scale)) for c in face.box[:2])
            patch = v.image[max(0, y - 1) : y + 2, max(0, x) : x + 3].reshape(-1, 3).astype(int)
            return bool((np.abs(patch - np.array(COLOURS[decision])).max(axis=1) < 40).any())

        qtbot.waitUntil(drawn, timeout=15_000)
    # one event per person, with a face thumbnail; the stranger raises the unknown alert
    qtbot.waitUntil(
        lambda: (
            {(e.identity, e.decision) for e in w.access.events.values()}
            >= {("ben_afflek", "granted"), ("elton_john", "denied")}
        ),
        timeout=20_000,
    )
    qtbot.waitUntil(lambda: w.access.alerts >= 1, timeout=20_000)
    assert w.access.alert.isVisible() and "Unknown person" in w.access.alert.text()
    # the banner and the rows say what the log says: every alert is a logged "unknown" event (never a
    # face's state before its decision), and every row is a row of the store with the same decision
    unknown = [e for e in w.access.events.values() if e.decision == "unknown" and e.kind == "decision"]
    assert unknown and w.access.alerts == len(unknown) + w.access.change_alerts
    assert f"track #{unknown[-1].track_id}," in w.access.alert.text()
    logged = {r["id"]: r for r in Store(w.built.store_path).events()}
    for e in w.access.events.values():
        assert e.event_id in logged and logged[e.event_id]["decision"] == e.decision
        assert logged[e.event_id]["track"] == e.track_id
    assert all(e.thumb is not None and e.thumb.shape[0] == 64 for e in w.access.events.values())
    # filter and search
    w.access.search.setText("elton")
    assert w.access.proxy.rowCount() >= 1
    assert all("elton" in w.access.proxy.index(r, 2).data() for r in range(w.access.proxy.rowCount()))
    w.access.search.setText("")
    w.access.decision_filter.setCurrentIndex(w.access.decision_filter.findData("granted"))
    assert all(w.access.proxy.index(r, 3).data() == "granted" for r in range(w.access.proxy.rowCount()))
    # a screenshot of the main window
    shot = tmp_path / "main-window.png"
    assert w.grab().save(str(shot))
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[1] >= 1000 and shot.stat().st_size > 20_000


def test_this_is_not_x_adds_no_sample_and_enrolls_the_face_as_someone_else(
    door, make_window, qtbot, tmp_path
) -> None:
    from db.store import Store

    db, video, _ = door
    db = _copy(db, tmp_path / "door.db")
    w = make_window(video, db)
    qtbot.waitUntil(lambda: any(e.identity == "ben_afflek" for e in w.access.events.values()), timeout=30_000)
    eid = next(i for i, e in w.access.events.items() if e.identity == "ben_afflek")
    store = Store(db)
    before = {p["name"]: p["samples"] for p in store.identities()}
    w.access.select_event(eid)
    assert w.access.not_button.isEnabled() and "ben_afflek" in w.access.not_button.text()
    with qtbot.waitSignal(w.enrolled, timeout=20_000) as sig:
        w.correct_event(eid, "ben_twin", "denied")
    assert sig.args == ["ben_twin", 1]
    after = {p["name"]: (p["samples"], p["policy"]) for p in store.identities()}
    assert after["ben_afflek"][0] == before["ben_afflek"]  # the wrong sample was not added
    assert after["ben_twin"] == (1, "denied")
    assert eid in w.access.corrected
    # the correction is a record: the event's store row, who it was, the OS user, when; shown in the log
    from db.store import os_user

    ev = w.access.events[eid]
    (rec,) = store.corrections(ev.event_id)
    assert rec["identity"] == "ben_twin" and rec["user"] == os_user() and rec["created"]
    assert w.access.selected()[0] == eid  # the selection stayed on the event acted on
    row = _row_of(w.access, eid)
    assert row[4] == f"corrected: ben_twin by {os_user()}"
    store.close()
    # it survives a restart: the next window shows the past event with its correction
    w.close()
    w2 = make_window(video, db, settings=tmp_path / "second.ini")
    past = [i for i, e in w2.access.events.items() if e.event_id == ev.event_id]
    assert past and _row_of(w2.access, past[0])[4] == f"corrected: ben_twin by {os_user()}"


def test_switching_the_recognizer_runtime_mid_stream(door, make_window, qtbot, tmp_path, monkeypatch) -> None:
    """Frames keep flowing while the new runtime builds; tracks keep their identities; the plots mark it."""
    import gui.controller as mw  # the controller builds switches
    from core.registry import DEFAULT_RECOGNIZER
    from tests.conftest import skip_unless_available

    skip_unless_available("recognizer", "facenet128:tflite")
    db, video, _ = door
    settings = tmp_path / "facegate.ini"
    w = make_window(video, _copy(db, tmp_path / "door.db"), settings=settings)
    seen = Seen(w)
    qtbot.waitUntil(lambda: any(ids == {"ben_afflek"} for ids in seen.tracks.values()), timeout=30_000)
    ben_track = next(t for t, ids in seen.tracks.items() if ids == {"ben_afflek"})

    release = threading.Event()
    real_build = mw.build_switch

    def slow_build(*args, **kwargs):  # runs on the builder thread: hold the build until the test saw frames
        built = real_build(*args, **kwargs)
        release.wait(60)
        return built

    monkeypatch.setattr(mw, "build_switch", slow_build)
    combo = w.combos["recognizer"]
    at = seen.frames
    combo.setCurrentIndex(w.choice_index("recognizer", "facenet128:tflite"))  # as the operator picks it
    qtbot.waitUntil(lambda: seen.frames >= at + 15, timeout=20_000)  # the video runs during the build
    assert w.applied["recognizer"] == DEFAULT_RECOGNIZER
    with qtbot.waitSignal(w.backendSwitched, timeout=20_000) as sig:
        release.set()
    mark = sig.args[0]
    assert (
        mark.kind == "recognizer" and mark.frames_during_build >= 10
    )  # the GUI saw 15; the worker counts its own
    assert len(w.plots.marks) >= 2  # session start + the switch

    # re-recognition with the new runtime: same people, same tracks, same names
    def rerecognised() -> bool:
        return any(
            v.result.recognizer == "facenet128:tflite"
            and any(
                f.tracking.recognition_reason
                and f.tracking.raw_identity == "ben_afflek"
                and f.track_id == ben_track
                for f in v.result.faces
            )
            for v in seen.views
        )

    qtbot.waitUntil(rerecognised, timeout=30_000)
    assert seen.tracks[ben_track] == {"ben_afflek"}
    assert w.applied["recognizer"] == "facenet128:tflite"
    assert combo.currentData() == "facenet128:tflite"
    # the choice and the threshold persist to the next launch
    w.access.slider.setValue(95)
    qtbot.waitUntil(lambda: w.settings.threshold("facenet128") == 0.95, timeout=5_000)
    moved = [r for r in w.gui_store().audit() if r["action"] == "threshold"]  # the audit trail has it
    assert moved and moved[-1]["subject"] == "facenet128" and moved[-1]["after"] == {"threshold": 0.95}
    w.close()
    again = make_window(video, db, start=False, settings=settings)
    assert again.want["recognizer"] == "facenet128:tflite"
    assert again.source_combo.currentText() == str(video)
    assert again.settings.threshold("facenet128") == 0.95


def test_an_unavailable_backend_shows_its_reason_and_keeps_the_old_one(
    door, make_window, qtbot, tmp_path
) -> None:
    from core.registry import backends

    missing = next((b for b in backends() if b.kind == "recognizer" and not b.available), None)
    if missing is None:
        pytest.skip("every recognizer backend is available on this machine")
    db, video, _ = door
    w = make_window(video, _copy(db, tmp_path / "door.db"))
    combo = w.combos["recognizer"]
    i = w.choice_index("recognizer", missing.key)
    item = combo.model().item(i)
    assert not item.isEnabled() and missing.reason in item.toolTip()  # greyed, the reason as tooltip
    before = w.applied["recognizer"]
    with qtbot.waitSignal(w.switchRefused, timeout=5_000) as sig:
        combo.setCurrentIndex(i)
    assert sig.args[0] == "recognizer" and missing.reason in sig.args[1]
    assert missing.reason in w.last_notice and missing.reason in w.notice_label.text()
    assert combo.currentData() == before and w.applied["recognizer"] == before
    n = w.frames_shown
    qtbot.waitUntil(lambda: w.frames_shown >= n + 5, timeout=10_000)  # still running
    # cloud/hybrid: greyed with why (no endpoint set, or the deploy client is not there yet)
    qtbot.waitUntil(lambda: w.remote_error != "checking the deploy client…", timeout=10_000)
    for mode in ("cloud", "hybrid"):
        item = w.combos["mode"].model().item(w.choice_index("mode", mode))
        assert not item.isEnabled()
        assert (
            "not configured: set an endpoint in Settings" in item.toolTip()
            or "not available" in item.toolTip()
        )


def test_the_wizard_enrolls_a_person_from_the_video(door, make_window, qtbot, tmp_path) -> None:
    from gui.enroll import PAGE_CAPTURE, PAGE_REVIEW

    db, _, newcomer = door
    w = make_window(newcomer, _copy(db, tmp_path / "door.db"))
    seen = Seen(w)
    qtbot.waitUntil(
        lambda: any(f.decision == "unknown" for v in seen.views for f in v.result.faces), timeout=30_000
    )
    assert "mindy" not in seen.names
    wiz = w.open_enroll(modal=False)
    qtbot.addWidget(wiz)
    wiz.name_page.name.setText("mindy")
    wiz.next()
    assert wiz.method_page.live.isChecked()
    wiz.next()
    assert wiz.currentId() == PAGE_CAPTURE
    page = wiz.capture_page
    qtbot.waitUntil(
        lambda: page.status is not None and page.status.samples >= page.status.min_samples, timeout=40_000
    )
    assert page.progress.value() == page.progress.maximum()
    assert page.preview.pixmap() is not None and not page.preview.pixmap().isNull()
    assert page.isComplete()  # enough good samples: Next, whether or not the head turned
    wiz.next()
    assert wiz.currentId() == PAGE_REVIEW
    qtbot.waitUntil(lambda: wiz.review_page.loaded, timeout=10_000)
    assert wiz.review_page.grid.count() >= 5
    with qtbot.waitSignal(w.enrolled, timeout=20_000) as sig:
        wiz.accept()
    assert sig.args[0] == "mindy" and sig.args[1] >= 5
    qtbot.waitUntil(lambda: "mindy" in seen.names, timeout=30_000)
    dlg = w.open_identities(modal=False)
    qtbot.addWidget(dlg)
    assert "mindy" in dlg.names()
    dlg.select("mindy")
    assert dlg.samples.count() == sig.args[1]  # see the samples
    assert dlg.rename("mindy", "mindy_kaling") and "mindy_kaling" in dlg.names()
    assert not dlg.rename("mindy_kaling", "ben_afflek")  # taken: refused with the store's reason
    assert "already enrolled" in dlg.error.text()
    qtbot.waitUntil(lambda: "mindy_kaling" in seen.names, timeout=30_000)  # the live gallery follows


def test_export_writes_the_csvs_of_the_current_and_a_past_session(
    door, make_window, qtbot, tmp_path, monkeypatch
) -> None:
    db, video, _ = door
    w = make_window(video, _copy(db, tmp_path / "door.db"))
    qtbot.waitUntil(lambda: len(w.access.events) >= 1 and w.frames_shown >= 40, timeout=30_000)
    target = tmp_path / "out" / "now.csv"
    target.parent.mkdir()
    monkeypatch.setattr("gui.dialogs.get_save_file_name", lambda *a, **k: (str(target), "CSV (*.csv)"))
    dlg = w.open_export(modal=False)
    qtbot.addWidget(dlg)
    assert dlg.selected() == w.session.session_id  # the running session comes first
    with qtbot.waitSignal(w.exported, timeout=20_000):
        dlg._choose()
    with open(target, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys()) == FRAME_COLUMNS and len(rows) >= 40
    assert {r["session"] for r in rows} == {w.session.session_id}
    events_csv = target.with_name("now-events.csv")
    with open(events_csv, newline="") as f:
        reader = csv.DictReader(f)
        events = list(reader)
    assert reader.fieldnames == EVENT_EXPORT_COLUMNS and len(events) >= 1
    # a past session: stop, then export it whole
    sid = w.session.session_id
    with qtbot.waitSignal(w.sessionEnded, timeout=20_000) as ended:
        w.stop()
    past = tmp_path / "out" / "past.csv"
    w.export_session(sid, past, past.with_name("past-events.csv"))
    qtbot.waitUntil(lambda: past.with_name("past-events.csv").exists(), timeout=20_000)
    with open(past, newline="") as f:
        assert len(list(csv.DictReader(f))) == ended.args[0].frames


def test_closing_the_window_leaves_no_thread_and_saves_the_session(
    door, make_window, qtbot, tmp_path
) -> None:
    from db.store import Store

    db, video, _ = door
    db = _copy(db, tmp_path / "door.db")
    before = {t.ident for t in threading.enumerate()}
    w = make_window(video, db)
    qtbot.waitUntil(lambda: w.frames_shown >= 20, timeout=30_000)
    assert w.threads_running == ["facegate-inference", "facegate-builder"]
    # keyboard shortcuts: start/stop, enroll, export, full-screen video
    assert "F5" in [k.toString() for k in w.start_action.shortcuts()]
    assert w.enroll_action.shortcut().toString() == "Ctrl+N"
    assert w.export_action.shortcut().toString() == "Ctrl+E"
    assert "F11" in [k.toString() for k in w.fullscreen_action.shortcuts()]
    w.fullscreen_action.trigger()
    assert not w.access_dock.isVisible() and not w.menuBar().isVisible()
    w.fullscreen_action.trigger()
    assert w.access_dock.isVisible() and w.menuBar().isVisible()
    sid = w.session.session_id
    w.close()
    assert w.threads_running == []
    left = [
        t.name
        for t in threading.enumerate()
        if t.ident not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]
    assert left == [], left  # capture (FrameGrabber) and telemetry threads joined
    store = Store(db)
    session = next(s for s in store.sessions() if s["id"] == sid)
    assert session["ended"] and session["frames"] >= 20
    store.close()


class _FakeRemote:
    """Stands in for core.deploy.client's pipeline (not in this tree yet): matching stays local."""

    calls: list[dict] = []

    def __init__(self, mode, local, **options) -> None:
        self.mode, self.local = mode, local
        self.detector, self.recognizer = local.detector, local.recognizer
        _FakeRemote.calls.append({"mode": mode, **options})

    @property
    def threshold(self):
        return self.local.threshold

    def detect(self, image):
        return self.local.detect(image)

    def embed(self, image, faces):
        return self.local.embed(image, faces)

    def match(self, faces):
        return self.local.match(faces)

    def frame_stats(self):
        return {"mode": self.mode, "network_ms": 1.5, "bytes_up": 100, "bytes_down": 10}


def test_the_mode_dropdown_uses_the_deploy_client_once_an_endpoint_is_set(
    door, make_window, qtbot, tmp_path, monkeypatch
) -> None:
    import sys
    import types

    from gui.backends import NOT_CONFIGURED, RemoteSettings

    client = types.ModuleType("core.deploy.client")
    client.remote_pipeline = lambda mode, local, **kw: _FakeRemote(mode, local, **kw)
    package = types.ModuleType("core.deploy")
    package.client = client
    monkeypatch.setitem(sys.modules, "core.deploy", package)
    monkeypatch.setitem(sys.modules, "core.deploy.client", client)
    db, video, _ = door
    w = make_window(video, _copy(db, tmp_path / "door.db"))
    qtbot.waitUntil(lambda: w.remote_error is None, timeout=10_000)
    hybrid = w.combos["mode"].model().item(w.choice_index("mode", "hybrid"))
    assert not hybrid.isEnabled() and NOT_CONFIGURED in hybrid.toolTip()
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    w.apply_settings(RemoteSettings("https://edge.example:8000", str(token), "", 70, 2.0), loop_files=True)
    assert w.combos["mode"].model().item(w.choice_index("mode", "hybrid")).isEnabled()
    with qtbot.waitSignal(w.backendSwitched, timeout=20_000):
        w.combos["mode"].setCurrentIndex(w.choice_index("mode", "hybrid"))
    assert _FakeRemote.calls[-1] == {
        "mode": "hybrid",
        "endpoint": "https://edge.example:8000",
        "token": "s3cret",
        "ca_cert": None,
        "jpeg_quality": 70,
        "fallback_after_s": 2.0,
        # what the Settings dialog does not set: the shipped defaults, and never an opt-in to weaker transport
        "crop_format": "jpeg",
        "crop_quality": 90,
        "allow_insecure_http": False,
        "allow_unauthenticated": False,
    }
    with qtbot.waitSignal(
        w.frameShown,
        timeout=10_000,
        check_params_cb=lambda v: v.result.mode == "hybrid" and "network_ms" in v.result.timings_ms,
    ):
        pass
    assert w.applied["mode"] == "hybrid" and w.settings.mode == "hybrid"
    w.settings.sync()
    stored = Path(w.settings.q.fileName()).read_text()
    assert "edge.example" in stored and "s3cret" not in stored  # the token itself is never stored


def test_the_wizard_enrolls_from_photos_and_says_why_one_is_rejected(
    door, make_window, qtbot, tmp_path, celeb_val
) -> None:
    from PySide6.QtCore import Qt

    from db.store import Store
    from gui.enroll import PAGE_IMPORT, PAGE_REVIEW

    db, video, _ = door
    db = _copy(db, tmp_path / "door.db")
    w = make_window(video, db)
    wiz = w.open_enroll(modal=False)
    qtbot.addWidget(wiz)
    wiz.name_page.name.setText("jerry")
    wiz.name_page.policy.policy.setCurrentText("schedule")
    wiz.name_page.policy.schedule.setText("every day")
    wiz.next()
    assert wiz.currentId() == 0 and "bad schedule rule" in wiz.name_page.error.text()  # refused, with why
    wiz.name_page.policy.schedule.setText("mon-sun 00:00-24:00")
    wiz.next()
    wiz.method_page.photos.setChecked(True)
    wiz.next()
    assert wiz.currentId() == PAGE_IMPORT
    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_text("not an image")
    page = wiz.import_page
    page.add_photos([str(p) for p in celeb_val["jerry_seinfeld"][:3]] + [str(not_a_photo)])
    qtbot.waitUntil(lambda: page.pending == 0, timeout=20_000)
    texts = [page.list.item(i).text() for i in range(page.list.count())]
    assert page.accepted >= 2 and texts[-1].startswith("✗") and "notes.jpg" in texts[-1]
    assert page.isComplete()
    wiz.next()
    assert wiz.currentId() == PAGE_REVIEW
    qtbot.waitUntil(lambda: wiz.review_page.loaded, timeout=10_000)
    wiz.review_page.grid.item(0).setCheckState(Qt.CheckState.Unchecked)  # the operator drops one sample
    with qtbot.waitSignal(w.enrolled, timeout=20_000) as sig:
        wiz.accept()
    assert sig.args == ["jerry", page.accepted - 1]
    store = Store(db)
    person = next(p for p in store.identities() if p["name"] == "jerry")
    assert person["samples"] == page.accepted - 1 and person["policy"] == "schedule"
    store.close()


def test_the_demo_and_a_camera_use_one_identity_store(door, qtbot, tmp_path, monkeypatch, fr_images) -> None:
    """People enrolled while the demo played were missing on the camera: the demo ran on its own store.
    Now the demo's people live in the one store, marked as demo people."""
    from core.imageio import load_image
    from db.store import Store
    from gui.main_window import MainWindow
    from gui.settings import Settings

    db, video, _ = door
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("FACEGATE_DATA", str(data))  # no --db: the default store
    one = _copy(db, data / "facegate.db")  # ben_afflek + elton_john are there (the demo adds its other two)
    s = Settings(tmp_path / "facegate.ini")
    s.loop_files = True
    w = MainWindow(s, source="demo")
    qtbot.addWidget(w)
    w.show()
    try:
        with qtbot.waitSignal(w.frameShown, timeout=START_S):
            w.start()
        assert w.built.store_path == one
        with qtbot.waitSignal(w.enrolled, timeout=20_000):
            w.worker.call(
                w.worker.enroll_face,
                "livetest",
                "allowed",
                load_image(fr_images / "obama.jpg"),
                "test",
                done=lambda r: w.enrolled.emit("livetest", r[2]),
            )
        with qtbot.waitSignal(w.frameShown, timeout=START_S):
            w.start(str(video))  # switch the source to a file (a camera would do the same)
        assert w.built.store_path == one
        assert "livetest" in w.worker.built.local.gallery.identities  # recognised on the new source
        people = {p["name"]: p for p in Store(one).identities()}
        assert "livetest" in people and people["livetest"]["notes"] != "demo"
        assert people["madonna"]["notes"] == "demo" and people["jerry_seinfeld"]["notes"] == "demo"
        dlg = w.open_identities(modal=False)
        qtbot.addWidget(dlg)
        shown = [dlg.table.item(r, 0).text() for r in range(dlg.table.rowCount())]
        assert "madonna  (demo)" in shown and "livetest" in shown
        assert "livetest" in dlg.names() and "madonna" in dlg.names()
        assert dlg.remove_demo() == 2  # the demo's people go (jerry, madonna); everyone else stays
        assert dlg.names() == ["ben_afflek", "elton_john", "livetest"]
        assert not dlg.remove_demo_button.isVisible()
    finally:
        w.close()


def _head(img: np.ndarray, detector, side: int = 280) -> np.ndarray:
    """The photo's largest face with margin, ``side`` px square (the face ~half of it): close to the camera."""
    f = max(detector.detect(img), key=lambda f: f.area)
    cx, cy, half = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2, max(f.width, f.height)
    crop = img[int(max(0, cy - half)) : int(cy + half), int(max(0, cx - half)) : int(cx + half)]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def _mixed_video(path: Path, person: list[np.ndarray], other: np.ndarray) -> None:
    """The person alone (0.8 s), then another face beside them (1.6 s), then the other person alone where
    the person stood (1.6 s), then the person alone again (4 s, photo after photo)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    x0 = (W - other.shape[1]) // 2
    for k in range(120):
        frame = _background()
        if k < 12 or k >= 60:
            paste(frame, person[(k // 6) % len(person)], x0 + k % 6, 120)
        elif k < 36:
            paste(frame, person[2], 40, 120)
            paste(frame, other, W - other.shape[1] - 40, 120)
        else:
            paste(frame, other, x0 + k % 6, 120)
        writer.write(frame)
    writer.release()


def test_live_enrollment_takes_samples_of_one_person_only(
    door, make_window, qtbot, tmp_path, celeb_train, fr_images, detector, recognizer
) -> None:
    """Enrolling from a video with other people in it stored samples of three people. Now a second face
    pauses capture, and the other person standing where the enrolling one stood is not sampled."""
    from core.imageio import load_image
    from db.store import Store
    from enroll.quality import check_sample
    from gui.enroll import PAGE_REVIEW

    db, _, _ = door
    photos = [
        p for p in celeb_train["mindy_kaling"] if check_sample(img := load_image(p), detector.detect(img)).ok
    ]
    video = tmp_path / "mixed.avi"
    # live frames of one person look alike more than photos from different years: the person's photos
    # here are the 6 closest to their mean embedding
    embs = np.stack([recognizer.embed(img := load_image(p), detector.detect(img)[:1])[0] for p in photos])
    mean = embs.mean(axis=0) / np.linalg.norm(embs.mean(axis=0))
    close = np.argsort(np.linalg.norm(embs - mean, axis=1))[:6]
    heads = [_head(load_image(photos[i]), detector) for i in close]
    _mixed_video(video, heads, _head(load_image(fr_images / "biden.jpg"), detector))
    db = _copy(db, tmp_path / "door.db")
    w = make_window(video, db)
    statuses = []
    w.worker.enrollStatus.connect(statuses.append)
    wiz = w.open_enroll(modal=False)
    qtbot.addWidget(wiz)
    wiz.name_page.name.setText("mindy")
    wiz.next()
    wiz.next()
    page = wiz.capture_page
    # capture the whole video once at least: both the two-face part and the stranger alone
    qtbot.waitUntil(lambda: any(s.paused for s in statuses), timeout=40_000)
    qtbot.waitUntil(lambda: any("does not look like" in s.reason for s in statuses), timeout=40_000)
    qtbot.waitUntil(page.isComplete, timeout=40_000)
    assert any("second face" in s.reason or "faces in view" in s.reason for s in statuses if s.paused)
    wiz.next()
    assert wiz.currentId() == PAGE_REVIEW
    qtbot.waitUntil(lambda: wiz.review_page.loaded, timeout=10_000)
    with qtbot.waitSignal(w.enrolled, timeout=20_000) as sig:
        wiz.accept()
    n = sig.args[1]
    names, embs = Store(db).embeddings(recognizer.model)
    mindy = embs[[i for i, name in enumerate(names) if name == "mindy"]]
    assert len(mindy) == n >= 5
    biden = load_image(fr_images / "biden.jpg")
    other = recognizer.embed(biden, detector.detect(biden)[:1])[0]
    thr = recognizer.default_threshold
    assert (np.linalg.norm(mindy - other, axis=1) > thr).all()  # no sample of the other person


def test_a_1024x600_screen_holds_the_event_log_and_every_picker(door, make_window, qtbot, tmp_path) -> None:
    """A small operator screen (a 1024x600 panel PC): the events table shows several rows and no picker
    hides behind the toolbar's overflow button."""
    from PySide6.QtCore import QPoint

    db, video, _ = door
    w = make_window(video, _copy(db, tmp_path / "door.db"), start=False)
    w.resize(1024, 600)
    qtbot.waitUntil(lambda: w.width() == 1024 and w.height() == 600, timeout=5_000)  # not held bigger
    qtbot.wait(50)
    row = w.access.table.verticalHeader().defaultSectionSize()
    assert w.access.table.viewport().height() >= 4 * row, w.access.table.viewport().height()
    for kind, combo in w.combos.items():
        right = combo.mapTo(w, QPoint(combo.width(), 0)).x()
        assert combo.isVisible() and right <= w.width(), (kind, right)
