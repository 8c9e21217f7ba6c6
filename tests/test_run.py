"""The headless run on real video: tracking, one access event per person, session CSVs, the store,
a stream that drops and comes back, Ctrl-C."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.recording import EVENT_COLUMNS, FRAME_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
FPS = 15
W, H = 1280, 720


@pytest.fixture(scope="module")
def scene(tmp_path_factory, celeb_train, celeb_val):
    from tests.conftest import make_door

    return make_door(tmp_path_factory.mktemp("run"), celeb_train, celeb_val)


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_run_yields_one_event_per_person_and_a_complete_csv(scene, run_cli, tmp_path) -> None:
    db, video, spans = scene
    frames_csv, events_csv = tmp_path / "frames.csv", tmp_path / "events.csv"
    code, out, err = run_cli(
        "run", "--source", video, "--db", db, "--export", frames_csv, "--events", events_csv, "--quiet"
    )
    assert code == 0, err
    cols, rows = _rows(frames_csv)
    assert cols == FRAME_COLUMNS
    assert len(rows) == 105 and [int(r["frame"]) for r in rows] == list(range(105))
    for r in rows:
        assert r["width"] == "1280" and r["height"] == "720" and r["mode"] == "local"
        assert float(r["detect_ms"]) > 0 and float(r["total_ms"]) >= float(r["detect_ms"])
        assert float(r["rss_mb"]) > 50
        assert r["network_ms"] == "" and r["power_w"] in ("",) or float(r["power_w"]) > 0  # never made up
        assert int(r["known"]) + int(r["unknown"]) == int(r["faces"])
    # the people are there when they should be (A is partly out of frame at the very ends)
    assert all(int(r["faces"]) >= 1 for r in rows[10:50])
    assert sum(int(r["faces"]) >= 2 for r in rows[25:50]) >= 0.85 * 25  # MTCNN misses a frame now and then
    assert all(int(r["faces"]) == 0 for r in rows[66:74])
    cols, events = _rows(events_csv)
    assert cols == EVENT_COLUMNS
    got = sorted((e["identity"], e["decision"]) for e in events)
    assert got == [("", "unknown"), ("ben_afflek", "granted"), ("elton_john", "denied")], events
    # tracking: far fewer faces recognised than detected
    assert "tracking saved" in out
    saved = int(out.split("tracking saved ")[1].split("%")[0])
    assert saved >= 50, out
    # the session is in the store and exports the same rows
    from db.store import Store

    store = Store(db)
    sessions = store.sessions()
    assert sessions[-1]["frames"] == 105 and sessions[-1]["events"] == 3 and sessions[-1]["ended"]
    out_csv, out_events = tmp_path / "again.csv", tmp_path / "again-events.csv"
    code, out, _ = run_cli(
        "--db", db, "sessions", "export", sessions[-1]["id"], "--out", out_csv, "--events", out_events
    )
    assert code == 0
    assert _rows(out_csv)[1] == rows
    assert len(_rows(out_events)[1]) == 3


def test_track_ids_are_stable_while_a_person_moves(scene, detector, recognizer) -> None:
    from core.engine import Engine
    from core.pipeline import Pipeline
    from db.store import Store

    db, video, spans = scene
    store = Store(db)
    pipe = Pipeline(detector, recognizer, store.gallery(recognizer.model, recognizer.default_threshold))
    engine = Engine(pipe, store=None)
    cap = cv2.VideoCapture(str(video))
    ids: dict[str, set[int]] = {}
    for _ in range(105):
        ok, frame = cap.read()
        assert ok
        for f in engine.process(frame).faces:
            if f.identity:
                ids.setdefault(f.identity, set()).add(f.track_id)
    engine.close()
    assert ids.keys() == {"ben_afflek", "elton_john"}
    assert len(ids["ben_afflek"]) == 1 and len(ids["elton_john"]) == 1, ids


def test_identities_and_sessions_commands(scene, run_cli, tmp_path) -> None:
    import sqlite3

    db, _, _ = scene
    copy = tmp_path / "copy.db"
    with sqlite3.connect(db) as a, sqlite3.connect(copy) as b:
        a.backup(b)
    code, out, _ = run_cli("--db", copy, "identities", "list")
    assert "ben_afflek" in out and "elton_john" in out and "denied" in out
    assert run_cli("--db", copy, "identities", "rename", "ben_afflek", "ben")[0] == 0
    code, out, err = run_cli("--db", copy, "identities", "remove", "nobody")
    assert code == 1 and "no enrolled person named 'nobody'" in err
    assert run_cli("--db", copy, "identities", "remove", "ben")[0] == 0
    code, out, _ = run_cli("--db", copy, "identities", "list")
    assert "ben" not in out.split() and "elton_john" in out
    code, out, err = run_cli("--db", copy, "sessions", "export", "no-such-session")
    assert code == 1 and "no session" in err


def test_stream_that_drops_and_returns_does_not_end_the_run(tmp_path) -> None:
    """A real MJPEG camera on 127.0.0.1 stops and restarts; the run reconnects; Ctrl-C writes everything."""
    from tests.helpers import DUMPABLE_ENV, MjpegCamera, free_port, stop_and_wait

    camera = MjpegCamera(free_port())
    camera.start()
    frames_csv = tmp_path / "live.csv"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "main.py"),
            "run",
            "--source",
            camera.url,
            "--db",
            str(tmp_path / "x.db"),
            "--export",
            str(frames_csv),
        ],
        cwd=ROOT,
        env=DUMPABLE_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def rows() -> int:
            return len(_rows(frames_csv)[1]) if frames_csv.exists() else 0

        def wait(cond, timeout: float) -> bool:
            end = time.time() + timeout
            while time.time() < end:
                if cond():
                    return True
                time.sleep(0.1)
            return False

        assert wait(lambda: rows() >= 5, 120), "no frames from the camera"
        camera.stop()
        time.sleep(1.5)
        before = rows()
        assert proc.poll() is None, "the run ended when the camera dropped"
        camera.start()
        assert wait(lambda: rows() > before + 5, 60), "no frames after the camera came back"
        out, err = stop_and_wait(proc, signal.SIGINT, 60)
    finally:
        camera.stop()
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err
    assert "interrupted: processed" in out
    n = rows()
    assert n > before + 5
    assert [int(r["frame"]) for r in _rows(frames_csv)[1]] == sorted(
        int(r["frame"]) for r in _rows(frames_csv)[1]
    )


def test_a_killed_run_is_unfinished_and_the_store_lags_the_csv_by_at_most_a_second(tmp_path) -> None:
    """SIGKILL a real `main.py run`: `sessions list` says "unfinished" (not like a finished session), and the
    store holds the CSV's rows except at most the last second's (engine.STORE_FLUSH_S)."""
    import json
    import os

    from core.engine import STORE_FLUSH_S

    video = tmp_path / "slow.avi"  # 10 FPS played in real time: a frame every 100 ms
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for k in range(300):
        frame = np.full((240, 320, 3), 40 + k % 100, np.uint8)
        writer.write(frame)
    writer.release()
    db, frames_csv = tmp_path / "gate.db", tmp_path / "frames.csv"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "--db", str(db), "run", "--source", str(video)]
        + ["--realtime", "--export", str(frames_csv), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if frames_csv.exists() and frames_csv.read_text().count("\n") > 26:  # header + 25 rows
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    _, rows = _rows(frames_csv)
    listed = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--db", str(db), "sessions", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    (session,) = json.loads(listed.stdout)
    assert session["state"] == "unfinished" and session["ended"] is None
    text = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--db", str(db), "sessions", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "unfinished" in text
    from db.store import Store

    store = Store(db)
    stored = store.session_frames(session["id"])
    assert session["frames"] == len(stored) and 0 < len(stored) <= len(rows)
    # the store holds exactly the CSV's first rows, and what it misses is at most the last second's
    assert [str(r["frame"]) for r in stored] == [r["frame"] for r in rows[: len(stored)]]
    missing = rows[len(stored) :]
    if missing:
        from datetime import datetime

        span = (
            datetime.fromisoformat(rows[-1]["timestamp"]) - datetime.fromisoformat(missing[0]["timestamp"])
        ).total_seconds()
        assert span <= STORE_FLUSH_S + 0.6, f"{len(missing)} rows over {span:.2f} s not in the store"
    store.close()
