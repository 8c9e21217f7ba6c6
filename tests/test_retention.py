"""Retention periods, backup and restore of the identity store, blurred snapshots (db/retention.py,
core/privacy.py): real SQLite files."""

from __future__ import annotations

import datetime as _dt
import sqlite3
import threading

import cv2
import numpy as np
import pytest

from core.config import Config, ConfigError
from core.errors import StoreError
from core.privacy import blur_jpeg, event_snapshot
from db.retention import check_backup, restore, retention_summary
from db.store import SCHEMA_VERSION, Store

NOW = _dt.datetime(2026, 12, 3, 12, 0, tzinfo=_dt.timezone.utc)


def iso(days_ago: float) -> str:
    return (NOW - _dt.timedelta(days=days_ago)).isoformat(timespec="milliseconds")


def face_jpeg(seed: int = 0) -> bytes:
    """A face-like, high-detail 96x96 JPEG (edges everywhere, as a real face crop has)."""
    rng = np.random.default_rng(seed)
    img = (rng.random((96, 96, 3)) * 255).astype(np.uint8)
    cv2.circle(img, (30, 35), 8, (0, 0, 0), -1)
    cv2.circle(img, (66, 35), 8, (0, 0, 0), -1)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def session_at(store: Store, days_ago: float, frames: int = 3) -> str:
    sid = store.start_session("demo")
    store.add_frames(sid, [{"frame": i, "camera": ""} for i in range(frames)])
    store.end_session(sid)
    store.db.execute(
        "UPDATE sessions SET started = ?, ended = ? WHERE id = ?", [iso(days_ago), iso(days_ago), sid]
    )
    return sid


def event_at(store: Store, days_ago: float, sid: str | None = None, decision: str = "unknown") -> int:
    return store.add_event(
        sid, iso(days_ago), 1, None, None, decision, thumbnail=face_jpeg(), snapshot=face_jpeg(1)
    )


def test_retention_removes_exactly_what_is_older(tmp_path) -> None:
    s = Store(tmp_path / "s.db")
    old, new = session_at(s, 40), session_at(s, 5)
    e_old = event_at(s, 40, old)
    e_mid = event_at(s, 10, new)
    e_new = event_at(s, 1, new)
    s.add_correction(e_old, None, "x")
    counts = s.apply_retention(frames_days=30, events_days=30, snapshots_days=7, now=NOW)
    assert counts == {"frames": 3, "events": 1, "snapshots": 1}
    assert s.session_frames(old) == [] and len(s.session_frames(new)) == 3
    assert [r["frames"] for r in s.sessions()] == [0, 3]
    assert [r["events"] for r in s.sessions()] == [0, 2]  # sessions list counts what is left
    assert [e["id"] for e in s.events()] == [e_mid, e_new]
    assert s.corrections() == []  # went with its event
    thumbs = dict(s.db.execute("SELECT id, thumbnail IS NOT NULL FROM events").fetchall())
    assert thumbs == {e_mid: 0, e_new: 1}
    frames = dict(s.db.execute("SELECT id, snapshot IS NOT NULL FROM events").fetchall())
    assert frames == {e_mid: 0, e_new: 1}  # the frame snapshot goes with the face
    # nothing more is older: a second pass removes nothing; 0 keeps everything
    assert s.apply_retention(30, 30, 7, now=NOW) == {"frames": 0, "events": 0, "snapshots": 0}
    assert s.apply_retention(0, 0, 0, now=NOW + _dt.timedelta(days=999)) == {
        "frames": 0,
        "events": 0,
        "snapshots": 0,
    }
    assert retention_summary(counts) == "removed 3 frame rows, 1 events and 1 face snapshots"
    assert retention_summary({"frames": 0, "events": 2}) == "removed 2 events"


def test_retention_config_from_env() -> None:
    cfg = Config.from_env({"FACEGATE_RETENTION_EVENTS_DAYS": "90", "FACEGATE_RETENTION_BLUR_UNKNOWN": "yes"})
    assert cfg.retention.events_days == 90 and cfg.retention.blur_unknown and cfg.retention.frames_days == 0
    with pytest.raises(ConfigError, match="retention.frames_days"):
        Config().replace(retention={"frames_days": -1})


def test_backup_while_another_connection_writes(tmp_path) -> None:
    path = tmp_path / "s.db"
    s = Store(path)
    s.enroll("ann", "facenet128", np.ones((1, 128), np.float32) / np.sqrt(128))
    sid = s.start_session("demo")
    stop, written = threading.Event(), threading.Event()

    def write() -> None:  # another connection (as another process would) writing throughout
        w = Store(path)
        i = 0
        while not stop.is_set():
            w.add_frames(sid, [{"frame": i, "camera": "", "pad": "x" * 2000}])
            i += 1
            if i == 200:
                written.set()
        w.close()

    t = threading.Thread(target=write)
    t.start()
    try:
        assert written.wait(30)
        out = s.backup(tmp_path / "nested" / "copy.db")
    finally:
        stop.set()
        t.join()
    conn = sqlite3.connect(out)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    count = conn.execute("SELECT COUNT(*) FROM frames").fetchone()[0]
    recorded = conn.execute("SELECT frames FROM sessions").fetchone()[0]
    assert count == recorded >= 200  # one transaction's state: rows and their count agree
    conn.close()
    assert [p["name"] for p in Store(out).identities()] == ["ann"]
    with pytest.raises(StoreError, match="identity store itself"):
        s.backup(path)
    with pytest.raises(StoreError, match="is a folder"):
        s.backup(tmp_path)


def _store_with(path, name: str) -> None:
    s = Store(path)
    s.enroll(name, "facenet128", np.ones((1, 128), np.float32) / np.sqrt(128))
    s.close()


def test_restore_keeps_the_replaced_file(tmp_path) -> None:
    live, backup = tmp_path / "live.db", tmp_path / "b.db"
    _store_with(backup, "ann")
    _store_with(live, "bob")
    kept = restore(backup, live, now=_dt.datetime(2026, 12, 3, 8, 30))
    assert kept is not None and kept.name == "live.before-restore-20261203-083000.db"
    assert [p["name"] for p in Store(live).identities()] == ["ann"]
    assert [p["name"] for p in Store(kept).identities()] == ["bob"]
    assert not list(tmp_path.glob("*.tmp*"))
    assert restore(backup, tmp_path / "new" / "fresh.db") is None  # nothing to keep


def _newer(path) -> None:
    _store_with(path, "x")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    conn.commit()
    conn.close()


def _other_program(path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()


def _corrupt(path) -> None:
    _store_with(path, "x")
    data = bytearray(path.read_bytes())
    page = 4096
    for i in range(page * 2 + 100, min(len(data), page * 6)):  # the tables' pages, not the header
        data[i] = 0xA5
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda p: p.write_bytes(b"hello, not a database" * 10), "not an SQLite file"),
        (_other_program, "not a FaceGate store"),
        (_newer, "is newer than this FaceGate"),
        (_corrupt, "damaged"),
    ],
)
def test_restore_refuses_and_changes_nothing(tmp_path, make, why) -> None:
    live, bad = tmp_path / "live.db", tmp_path / "bad.db"
    _store_with(live, "bob")
    before = live.read_bytes()
    make(bad)
    with pytest.raises(StoreError, match=why) as err:
        restore(bad, live)
    assert "\n" not in str(err.value) and "nothing restored" in str(err.value)
    assert live.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.db", "live.db"]
    with pytest.raises(StoreError):
        check_backup(bad)


def test_blurred_snapshot_is_not_the_face() -> None:
    face = face_jpeg()
    blurred = blur_jpeg(face)
    a = cv2.imdecode(np.frombuffer(face, np.uint8), cv2.IMREAD_GRAYSCALE).astype(float)
    b = cv2.imdecode(np.frombuffer(blurred, np.uint8), cv2.IMREAD_GRAYSCALE).astype(float)
    assert a.shape == b.shape
    # detail (variance of the Laplacian) all but gone, and far from the face pixel by pixel
    assert cv2.Laplacian(b, cv2.CV_64F).var() < 0.01 * cv2.Laplacian(a, cv2.CV_64F).var()
    assert np.abs(a - b).mean() > 30

    class S:
        blur_unknown = True

    assert event_snapshot(face, "unknown", S()) == blurred
    assert event_snapshot(face, "granted", S()) == face
    assert event_snapshot(face, "unknown", object()) == face
    assert event_snapshot(None, "unknown", S()) is None


def test_cli_backup_restore_retention(tmp_path, run_cli) -> None:
    db, out = tmp_path / "s.db", tmp_path / "b" / "copy.db"
    _store_with(db, "ann")
    rc, stdout, _ = run_cli("--db", str(db), "backup", str(out))
    assert rc == 0 and "backed up" in stdout and out.exists()
    s = Store(db)
    s.remove("ann")
    event_at(s, 400)
    s.close()
    rc, stdout, err = run_cli("--db", str(db), "restore", str(tmp_path / "nope.db"), "--yes")
    assert rc == 1 and err.count("\n") == 1 and "no such file" in err
    rc, stdout, err = run_cli("--db", str(db), "restore", str(out))  # no terminal to ask: refused
    assert rc == 2 and "--yes" in err
    rc, stdout, _ = run_cli("--db", str(db), "retention", "apply", "--events-days", "365")
    assert rc == 0 and "removed 1 events" in stdout
    rc, stdout, _ = run_cli("--db", str(db), "restore", str(out), "--yes")
    assert rc == 0 and "kept as" in stdout
    assert [p["name"] for p in Store(db).identities()] == ["ann"]
