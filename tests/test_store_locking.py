"""The store across real processes: a window's file dialog dropping its locks, first-open races."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

from db.store import SCHEMA_VERSION, Store

ROOT = Path(__file__).resolve().parents[1]


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _py(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _sniff(db: Path) -> None:
    """What a Qt file dialog does to every file it lists (mime/icon sniffing): open, read, close.
    Closing ANY descriptor of a file drops all of this process's POSIX (fcntl) locks on it."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = str(db) + suffix
        if os.path.exists(p):
            fd = os.open(p, os.O_RDONLY)
            os.read(fd, 512)
            os.close(fd)


def test_a_dialog_closing_the_files_cannot_corrupt_the_store(tmp_path) -> None:
    """Process A (this one) keeps a Store open like the window; it "browses" the folder; process B
    (a real `main.py identities list`, then a real write) runs; A writes again: nothing is lost."""
    db = tmp_path / "gate.db"
    a = Store(db)
    a.enroll("ann", "facenet128", unit(2, 128))
    sid = a.start_session("demo", "local", "d", "r")
    a.add_frames(sid, [{"frame": i} for i in range(5)])
    for round_ in range(3):
        _sniff(db)
        listed = subprocess.run(
            [sys.executable, str(ROOT / "main.py"), "--db", str(db), "identities", "list"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert listed.returncode == 0 and "ann" in listed.stdout, listed.stderr
        _sniff(db)
        wrote = _py(
            "import numpy as np\nfrom db.store import Store\n"
            f"s = Store({str(db)!r})\n"
            f"s.enroll('bob{round_}', 'facenet128', np.ones((1, 128), 'f4') / 128 ** 0.5)\n"
            "s.close()\n"
        )
        assert wrote.returncode == 0, wrote.stderr
        # A writes again after B's writes and B's close
        a.add_frames(sid, [{"frame": 5 + 10 * round_ + i} for i in range(10)])
        a.enroll(f"carl{round_}", "facenet128", unit(1, 128, seed=round_ + 1))
        assert {i["name"] for i in a.identities()} >= {"ann", f"bob{round_}", f"carl{round_}"}
    a.end_session(sid)
    a.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    names = {r[0] for r in conn.execute("SELECT name FROM identities")}
    assert names == {"ann", "bob0", "bob1", "bob2", "carl0", "carl1", "carl2"}
    assert conn.execute("SELECT COUNT(*) FROM frames").fetchone()[0] == 35
    conn.close()


def test_an_idle_store_holds_no_lock(tmp_path) -> None:
    """An open but idle Store (the window between writes) holds no lock on any of its files, so there is
    nothing a dialog could drop: another process can lock every byte of them at once."""
    db = tmp_path / "gate.db"
    s = Store(db)
    s.enroll("ann", "facenet128", unit(2, 128))
    s.identities(), s.sessions(), s.policy("ann"), s.counts(), s.gallery("facenet128", 1.0)
    files = [
        str(db) + suffix for suffix in ("", "-wal", "-shm", "-journal") if os.path.exists(str(db) + suffix)
    ]
    other = _py(
        "import fcntl, os\n"
        f"for p in {files!r}:\n"
        "    fd = os.open(p, os.O_RDWR)\n"
        "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "    fcntl.lockf(fd, fcntl.LOCK_UN)\n"
        "    os.close(fd)\n"
        "print('ok')\n"
    )
    assert other.stdout.strip() == "ok", other.stderr
    s.close()


def test_four_processes_opening_a_new_database_at_once(tmp_path) -> None:
    """First-open race: 4 real processes open the same fresh file at the same instant, 20 times over.
    Each one gets a complete schema; none fails with "table identities already exists" or "duplicate
    column name" (the migration and its version check are one BEGIN IMMEDIATE transaction)."""
    import time

    rounds, procs = 20, 4
    t0 = time.time() + 3.0  # after every process has imported numpy and sqlite-utils
    script = (
        "import time\nfrom db.store import Store\n"
        f"for i in range({rounds}):\n"
        f"    time.sleep(max(0.0, {t0} + i * 0.25 - time.time()))\n"
        "    try:\n"
        f"        Store({str(tmp_path)!r} + f'/r{{i}}.db').close()\n"
        "        print(i, 'ok', flush=True)\n"
        "    except Exception as err:\n"
        "        print(i, 'error', type(err).__name__, err, flush=True)\n"
    )
    running = [
        subprocess.Popen(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{script}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(procs)
    ]
    outs = [p.communicate(timeout=120) for p in running]
    lines = [line for out, _ in outs for line in out.splitlines()]
    errors = [line for line in lines if "error" in line]
    assert not errors, f"{len(errors)} failed opens: {errors[:3]}"
    assert len(lines) == rounds * procs, [err for _, err in outs]
    for i in range(rounds):
        conn = sqlite3.connect(tmp_path / f"r{i}.db")
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
            SCHEMA_VERSION
        )
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()


def test_an_old_wal_database_is_switched_to_the_rollback_journal(tmp_path) -> None:
    db = tmp_path / "old.db"
    s = Store(db)
    s.enroll("ann", "facenet128", unit(1, 128))
    s.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode = wal").fetchone()[0] == "wal"
    conn.close()
    s = Store(db)
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert [i["name"] for i in s.identities()] == ["ann"]
    s.close()
