"""Several cameras in one process (core/cameras.py, ``main.py run --source A --source B ...``) and doors.

The site: four held-out 720p videos built from the celebrities' *val* photos (tests/scenes.py:SITE), four
people enrolled from their *train* photos, one stranger. Each camera must name its own people, with no
wrong name, one decision per appearance, every row and event carrying its camera.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import FaceGateError, StoreError

# ------------------------------------------------------------------------------ camera names


def test_sources_are_named_in_order_or_by_name(tmp_path: Path) -> None:
    from core.cameras import CameraSpec, parse_sources

    odd = tmp_path / "a=b.avi"  # an existing file is a source even with '=' in its name
    odd.write_bytes(b"x")
    specs = parse_sources(["demo", "door=rtsp://u:p@cam/x?a=b", str(odd), "http://h/x?y=1"])
    assert specs == [
        CameraSpec("cam1", "demo"),
        CameraSpec("door", "rtsp://u:p@cam/x?a=b"),
        CameraSpec("cam3", str(odd)),
        CameraSpec("cam4", "http://h/x?y=1"),
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["a=demo", "a=demo"], "camera name 'a' is used twice"),
        (["cam2=demo", "demo"], "camera name 'cam2' is used twice"),
        (["bad name!=demo"], "camera name 'bad name!' must be"),
        (["front="], "no source after the camera name"),
        ([], "no --source given"),
    ],
)
def test_bad_camera_names_are_one_line_errors(values: list[str], message: str) -> None:
    from core.cameras import parse_sources

    with pytest.raises(FaceGateError, match=re.escape(message)):
        parse_sources(values)


# ------------------------------------------------------------------------------ doors


@pytest.fixture
def gate(tmp_path: Path) -> Any:
    from db.store import Store

    store = Store(tmp_path / "gate.db")
    vec = np.ones(128, np.float32) / np.sqrt(128)
    for name, policy in (("ann", "allowed"), ("bob", "allowed"), ("eve", "denied")):
        store.enroll(name, "facenet128", vec[None], policy=policy)
    return store


def test_a_door_narrows_a_persons_policy_and_never_widens_it(gate: Any) -> None:
    monday_noon, monday_night = dt.datetime(2026, 11, 30, 12, 0), dt.datetime(2026, 11, 30, 22, 0)
    # no door: the person's own policy
    assert gate.access("ann", camera="server") == ("granted", "matched")
    gate.set_door("server", "Server room", only_listed=True)
    gate.set_door("front", "Main entrance")
    # an only-listed door lets in only those with a rule for it
    assert gate.access("ann", camera="server") == ("denied", "door")
    gate.set_door_rule("Server room", "ann", "schedule", "mon-fri 08:00-18:00")
    assert gate.access("ann", monday_noon, camera="server") == ("granted", "matched")
    assert gate.access("ann", monday_night, camera="server") == ("denied", "door-schedule")
    # an open door lets in everyone their policy lets in, except those it denies
    assert gate.access("bob", camera="front") == ("granted", "matched")
    gate.set_door_rule("Main entrance", "bob", "denied")
    assert gate.access("bob", camera="front") == ("denied", "door")
    assert gate.access("bob", camera="elsewhere") == ("granted", "matched")
    # a door rule never lets in someone their own policy denies
    gate.set_door_rule("Main entrance", "eve", "allowed")
    assert gate.access("eve", camera="front") == ("denied", "policy")
    # removing the rule restores the door's default; removing the person removes their rules
    gate.set_door_rule("Main entrance", "bob", None)
    assert gate.access("bob", camera="front") == ("granted", "matched")
    gate.remove("ann")
    assert [d["rules"] for d in gate.doors() if d["name"] == "Server room"] == [[]]


def test_bad_door_settings_are_one_line_errors_and_change_nothing(gate: Any) -> None:
    gate.set_door("front", "Main entrance")
    before = gate.doors()
    with pytest.raises(StoreError, match="no door named 'Nowhere'"):
        gate.set_door_rule("Nowhere", "ann", "allowed")
    with pytest.raises(StoreError, match="no enrolled person named 'zed'"):
        gate.set_door_rule("Main entrance", "zed", "allowed")
    with pytest.raises(StoreError, match="bad schedule rule"):
        gate.set_door_rule("Main entrance", "ann", "schedule", "weekdays 9-5")
    with pytest.raises(StoreError, match="door name"):
        gate.set_door("front", "")
    assert gate.doors() == before


def test_doors_from_the_command_line(gate: Any, run_cli: Any) -> None:
    db = str(gate.path)
    assert run_cli("--db", db, "doors", "set", "server", "Server room", "--only-listed")[0] == 0
    assert (
        run_cli("--db", db, "doors", "allow", "Server room", "bob", "--schedule", "mon-fri 08:00-18:00")[0]
        == 0
    )
    assert run_cli("--db", db, "doors", "deny", "Server room", "eve")[0] == 0
    code, out, _ = run_cli("--db", db, "doors", "list")
    assert code == 0
    assert "Server room" in out and "only listed" in out and "server" in out
    assert "bob: schedule mon-fri 08:00-18:00" in out and "eve: denied" in out
    code, _, err = run_cli("--db", db, "doors", "allow", "Server room", "nobody")
    assert code == 1 and err.strip() == "error: no enrolled person named 'nobody'"


# ------------------------------------------------------------------------------ the site


@pytest.fixture(scope="module")
def site(tmp_path_factory: Any, celeb_train: Any, celeb_val: Any) -> tuple[Path, dict[str, Path]]:
    """A store with four people (elton_john denied) and the four camera videos."""
    from app.cli import main
    from tests.scenes import site_videos

    folder = tmp_path_factory.mktemp("site")
    db = folder / "site.db"
    for name in ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna"):
        policy = ["--policy", "denied"] if name == "elton_john" else []
        assert main(["--db", str(db), "enroll", name, *policy, *map(str, celeb_train[name])]) == 0
    return db, site_videos(folder, celeb_val)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_four_cameras_each_name_their_own_people(site: Any, run_cli: Any, tmp_path: Path) -> None:
    from db.store import Store
    from tests.scenes import SITE

    db, videos = site
    Store(db).set_door("back", "Back door")  # an open door: the person's own policy decides
    frames_csv, events_csv = tmp_path / "frames.csv", tmp_path / "events.csv"
    sources = [f"{cam}={path}" for cam, path in videos.items()]
    args = ["--db", db, "run", "--export", frames_csv, "--events", events_csv, "--quiet"]
    code, out, err = run_cli(*args, *[a for s in sources for a in ("--source", s)])
    assert code == 0, err
    events = _rows(events_csv)
    for cam, people in SITE.items():
        decided = [(e["identity"] or None, e["decision"]) for e in events if e["camera"] == cam]
        expected = [
            (name, "unknown" if name is None else "denied" if name == "elton_john" else "granted")
            for name, _ in people
        ]
        # one right decision per appearance, in order, no wrong name, nothing from another camera
        assert decided == expected, (cam, decided, out)
    rows = _rows(frames_csv)
    for cam, path in videos.items():
        mine = [int(r["frame"]) for r in rows if r["camera"] == cam]
        assert mine == list(range(len(mine))) and len(mine) == _frame_count(path), cam
    # the summary is per camera; the session records its cameras
    for cam in SITE:
        assert re.search(
            rf"^camera {cam} \(.*\): \d+ frames, [\d.]+ FPS, dropped 0 of \d+ \(0%\)", out, re.M
        ), out
    store = Store(db)
    session = store.sessions()[-1]
    assert [c["name"] for c in session["cameras"]] == list(SITE)
    assert {r["camera"] for r in store.session_frames(session["id"])} == set(SITE)
    assert {e["camera"] for e in store.events(session["id"])} == set(SITE)


def test_a_door_rule_decides_per_camera(site: Any, run_cli: Any, tmp_path: Path) -> None:
    """The same person is granted at one door and denied at another in the same run."""
    from db.store import Store

    db, videos = site
    copy = tmp_path / "site.db"
    copy.write_bytes(Path(db).read_bytes())
    store = Store(copy)
    store.set_door("garage", "Garage", only_listed=True)
    store.set_door_rule("Garage", "madonna", "allowed")  # ben is not listed for the garage
    events_csv = tmp_path / "events.csv"
    code, out, err = run_cli(
        "--db", copy, "run", "--quiet", "--events", events_csv,
        "--source", f"front={videos['front']}", "--source", f"garage={videos['garage']}",
    )  # fmt: skip
    assert code == 0, err
    got = {(e["camera"], e["identity"]): (e["decision"], e["reason"]) for e in _rows(events_csv)}
    assert got[("front", "ben_afflek")] == ("granted", "matched")
    assert got[("garage", "ben_afflek")] == ("denied", "door")
    assert got[("garage", "madonna")] == ("granted", "matched")


def test_a_camera_that_drops_out_does_not_starve_the_others(site: Any, tmp_path: Path) -> None:
    """A live MJPEG camera on 127.0.0.1 goes down while a file camera plays: the file camera is processed
    to its end in the meantime, the live one shows 'reconnecting' with the reason and comes back."""
    from core.cameras import CameraSet, open_cameras, parse_sources
    from core.pipeline import Pipeline
    from core.registry import create_detector, create_recognizer
    from tests.helpers import MjpegCamera, free_port

    db, videos = site
    live = MjpegCamera(free_port())
    live.start()
    specs = parse_sources([f"door={live.url}", f"front={videos['front']}"])
    pipe = Pipeline(create_detector("mtcnn:onnxruntime"), create_recognizer("facenet128:onnxruntime"))
    cams = CameraSet(pipe, open_cameras(specs, realtime=True), record=False)
    try:
        door, front = cams["door"], cams["front"]
        _rounds_until(cams, lambda: door.frames >= 3, 60)
        live.stop()
        _rounds_until(cams, lambda: door.state == "reconnecting", 30)
        assert door.status.startswith("reconnecting: reconnecting in")
        served = front.frames
        _rounds_until(cams, lambda: front.frames >= served + 20, 60)  # the file camera goes on alone
        live.start()
        before = door.frames
        _rounds_until(cams, lambda: door.frames > before + 3 and door.state == "live", 60)
    finally:
        live.stop()
        cams.close()


def _rounds_until(cams: Any, cond: Any, timeout: float) -> None:
    import time

    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not met in time: " + ", ".join(
            f"{c.name} {c.status} {c.frames}" for c in cams.cameras
        )
        cams.round(timeout=0.2)


def _frame_count(path: Path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_still_frames_skip_detection_but_never_hide_a_face(
    site: Any, detector: Any, recognizer: Any, celeb_val: Any
) -> None:
    """The motion gate (core/motion.py) on a real camera video: the same faces on every frame as running
    the detector on all of them, and detection skipped on empty, unchanged frames."""
    import cv2

    from core.engine import Engine
    from core.motion import StillGate
    from core.pipeline import Pipeline
    from tests.scenes import paste, portrait

    _, videos = site
    cap = cv2.VideoCapture(str(videos["lobby"]))
    frames = []
    while (ok_frame := cap.read())[0]:
        frames.append(ok_frame[1])
    cap.release()
    # a long empty stretch, like a door at night, before the video's people
    frames = [frames[0]] * 20 + frames
    pipe = Pipeline(detector, recognizer)
    counts = {}
    for gated in (False, True):
        gate = StillGate() if gated else None
        engine = Engine(pipe, record=False, still_gate=gate)
        counts[gated] = [len(engine.process(f, i).faces) for i, f in enumerate(frames)]
        engine.close()
        if gate is not None:
            assert gate.skipped >= 20, gate.skipped
    assert counts[True] == counts[False]
    # a face appearing in a still scene is motion: never skipped
    gate = StillGate()
    empty = frames[0]
    gate.ran(empty)
    assert gate.still(empty.copy())
    with_face = empty.copy()
    paste(with_face, portrait(celeb_val["madonna"][0], height=60), 900, 500)  # a small, far face
    assert not gate.still(with_face)


def test_cloud_mode_measures_each_cameras_frames_apart(site: Any, run_cli: Any, tmp_path: Path) -> None:
    """Cloud mode with two cameras: each camera's frame rows carry the bytes of its own frames (the same
    as running that camera alone), not the other camera's."""
    from tests.test_deploy import TOKEN, Endpoint

    db, videos = site
    ep = Endpoint(log_dir=tmp_path)
    try:
        remote = ("--mode", "cloud", "--endpoint", ep.url, "--token", TOKEN, "--fallback-after", "20")
        runs: dict[str, list[dict[str, str]]] = {}
        for label, cams in (("both", ("front", "back")), ("front", ("front",)), ("back", ("back",))):
            out = tmp_path / f"{label}.csv"
            sources = [a for c in cams for a in ("--source", f"{c}={videos[c]}")]
            code, _, err = run_cli("--db", db, "run", "--quiet", "--export", out, *remote, *sources)
            assert code == 0, err
            runs[label] = _rows(out)
    finally:
        ep.stop()
    for cam in ("front", "back"):
        together = [(r["frame"], r["bytes_up"], r["faces"]) for r in runs["both"] if r["camera"] == cam]
        alone = [(r["frame"], r["bytes_up"], r["faces"]) for r in runs[cam]]
        assert together == alone, cam
        # frames go up, except the still frames of the empty door (nothing moved: nothing sent)
        sent = [int(b) > 0 for _, b, _ in alone]
        assert sum(sent) > len(sent) / 2 and not all(sent), cam
