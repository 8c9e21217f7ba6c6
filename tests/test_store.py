"""The SQLite identity store: one transaction per enrollment, galleries per model."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from core.errors import StoreError
from db.store import SCHEMA_VERSION, Store


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_enroll_and_reload_from_disk(tmp_path) -> None:
    path = tmp_path / "s.db"
    s = Store(path)
    assert s.enroll("ann", "facenet128", unit(3, 128), ["h1", "h2", "h3"], [0.9, 0.8, 0.7]) == 3
    s.enroll("ann", "facenet128", unit(1, 128, seed=1), ["h4"])
    s.close()
    s2 = Store(path)
    assert s2.identities()[0]["samples"] == 4
    names, mat = s2.embeddings("facenet128")
    assert names == ["ann"] * 4 and mat.shape == (4, 128)
    np.testing.assert_allclose(mat[:3], unit(3, 128))
    assert s2.sample_hashes("ann", "facenet128") == {"h1", "h2", "h3", "h4"}
    # rollback journal: an idle connection holds no lock a file dialog could drop (tests/test_store_locking.py)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert sqlite3.connect(path).execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[
        0
    ] == str(SCHEMA_VERSION)


def test_models_are_never_mixed(tmp_path) -> None:
    s = Store(tmp_path / "s.db")
    s.enroll("ann", "facenet128", unit(2, 128))
    s.enroll("bob", "facenet512", unit(2, 512))
    g128 = s.gallery("facenet128", 1.0)
    assert g128.identities == ["ann"] and len(g128) == 2
    assert s.gallery("facenet512", 1.0).identities == ["bob"]


def test_failed_transaction_leaves_no_half_person(tmp_path) -> None:
    s = Store(tmp_path / "s.db")
    with pytest.raises(RuntimeError):
        with s.transaction():
            s.db.execute("INSERT INTO identities(name, created) VALUES ('half', 'now')")
            raise RuntimeError("killed mid-enrollment")
    assert s.identity_id("half") is None and s.counts() == {"identities": 0, "embeddings": 0}


def test_bad_names_and_policies_are_refused(tmp_path) -> None:
    s = Store(tmp_path / "s.db")
    with pytest.raises(StoreError):
        s.enroll("  ", "facenet128", unit(1, 128))
    with pytest.raises(StoreError):
        s.enroll("ann", "facenet128", unit(1, 128), policy="maybe")
    assert s.counts()["identities"] == 0


def test_not_a_database_is_a_clear_error(tmp_path) -> None:
    p = tmp_path / "notes.db"
    p.write_text("just some text, definitely not sqlite " * 100)
    with pytest.raises(StoreError, match="not a FaceGate database"):
        Store(p)


def test_migration_from_schema_1_keeps_the_data(tmp_path) -> None:
    from db.store import MIGRATIONS

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute("INSERT INTO identities(name, created, policy) VALUES ('ann', '2026-01-01', 'denied')")
    vec = unit(1, 128)[0]
    conn.execute(
        "INSERT INTO embeddings(identity_id, model, dim, vector, created) VALUES (1, 'facenet128', 128, ?, 'x')",
        [vec.astype("<f4").tobytes()],
    )
    conn.commit()
    conn.close()
    s = Store(path)
    assert s._version() == SCHEMA_VERSION
    assert s.identities()[0]["name"] == "ann" and s.policy("ann") == "denied"
    names, mat = s.embeddings("facenet128")
    assert names == ["ann"] and np.allclose(mat[0], vec)
    # an old person has no stored crop: another model needs a re-enrollment, and the store says so
    assert s.people_without("facenet512") == ["ann"]
    assert s.gallery("facenet128", 1.0).match(vec[None])[0].identity == "ann"


def test_rename_and_remove_keep_past_events(tmp_path) -> None:
    s = Store(tmp_path / "s.db")
    s.enroll("ann", "facenet128", unit(2, 128))
    sid = s.start_session("demo", "local", "mtcnn:onnxruntime", "facenet128:onnxruntime")
    s.add_event(sid, "2026-11-26T10:00:00Z", 1, "ann", 0.4, "granted")
    s.rename("ann", "anna")
    with pytest.raises(StoreError):
        s.rename("nobody", "x")
    s.enroll("bob", "facenet128", unit(1, 128, seed=5))
    with pytest.raises(StoreError, match="already enrolled"):
        s.rename("anna", "bob")
    s.remove("anna")
    assert [i["name"] for i in s.identities()] == ["bob"]
    assert s.embeddings("facenet128")[0] == ["bob"]
    ev = s.events(sid)
    assert len(ev) == 1 and ev[0]["identity"] == "ann" and ev[0]["decision"] == "granted"
    assert s.sessions()[0]["events"] == 1


def test_schedule_policy(tmp_path) -> None:
    import datetime as dt

    s = Store(tmp_path / "s.db")
    s.enroll("ann", "facenet128", unit(1, 128), policy="schedule", schedule="mon-fri 08:00-18:00")
    monday_noon = dt.datetime(2026, 11, 23, 12, 0)
    sunday_noon = dt.datetime(2026, 11, 29, 12, 0)
    monday_night = dt.datetime(2026, 11, 23, 22, 0)
    assert s.decision_for("ann", monday_noon) == "granted"
    assert s.decision_for("ann", sunday_noon) == "denied"
    assert s.decision_for("ann", monday_night) == "denied"
    assert s.decision_for(None) == "unknown" and s.decision_for("stranger") == "unknown"
    with pytest.raises(StoreError, match="bad schedule"):
        s.set_policy("ann", "schedule", "weekdays all day")


def test_samples_get_embeddings_for_another_model(tmp_path) -> None:
    s = Store(tmp_path / "s.db")
    s.enroll(
        "ann",
        "facenet128",
        unit(2, 128),
        crops=[b"jpeg1", b"jpeg2"],
        crop_faces=[{"box": [1, 2, 3, 4], "landmarks": None}] * 2,
    )
    todo = s.samples_missing("facenet512")
    assert [t["name"] for t in todo] == ["ann", "ann"] and todo[0]["crop"] == b"jpeg1"
    s.add_sample_embeddings("facenet512", [(t["sample_id"], unit(1, 512)[0]) for t in todo])
    assert s.samples_missing("facenet512") == [] and s.people_without("facenet512") == []
    assert s.gallery("facenet512", 1.0).identities == ["ann"]


def test_sessions_keep_frames_for_later_export(tmp_path) -> None:
    s = Store(tmp_path / "s.db")
    sid = s.start_session("video.avi", "local", "d", "r")
    s.add_frames(sid, [{"frame": i, "faces": i % 2} for i in range(5)])
    assert s.sessions()[0]["state"] == "running"  # this process records it
    s.end_session(sid)
    assert s.sessions()[0]["state"] == "ended"
    assert s.sessions()[0]["frames"] == 5 and s.sessions()[0]["ended"]
    assert [r["frame"] for r in s.session_frames(sid)] == list(range(5))


def test_kill_during_enrollment_leaves_no_half_person(tmp_path) -> None:
    """A real process killed (SIGKILL) in the middle of an enrollment transaction."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    db = tmp_path / "k.db"
    s = Store(db)
    s.enroll("survivor", "facenet128", unit(3, 128))
    s.close()
    script = (
        "import sys, numpy as np; sys.path.insert(0, %r)\n"
        "from db.store import Store\n"
        "s = Store(%r)\n"
        "v = np.random.default_rng(0).standard_normal((200000, 128)).astype('f4')\n"
        "print('start', flush=True)\n"
        "s.enroll('victim', 'facenet128', v, crops=[b'x' * 400] * len(v))\n"
        "print('committed', flush=True)\n"
    ) % (str(root), str(db))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "start"
    journal = Path(str(db) + "-journal")  # exists while the transaction is open
    deadline = time.time() + 60
    while time.time() < deadline and not (journal.exists() and db.stat().st_size > 8_000_000):
        time.sleep(0.01)
    assert proc.poll() is None, "the enrollment finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    s = Store(db)
    assert s.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert s.identity_id("victim") is None
    assert s.counts() == {"identities": 1, "embeddings": 3}
    assert s.gallery("facenet128", 1.0).identities == ["survivor"]


def test_store_at_keeps_the_open_store_and_switches_when_the_database_changes(tmp_path) -> None:
    # the window's people panel and its inference worker each hold one connection that follows the session
    from db.store import store_at

    first = store_at(None, tmp_path / "a.db")
    assert isinstance(first, Store)
    assert store_at(first, str(tmp_path / "a.db")) is first
    second = store_at(first, tmp_path / "b.db")
    assert second is not first and second.path == tmp_path / "b.db"
    with pytest.raises(sqlite3.ProgrammingError):
        first.db.execute("SELECT 1")  # the old connection was closed, not leaked
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError):
        store_at(second, tmp_path / "dir.db")
    second.close()
