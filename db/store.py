"""The identity store: SQLite through sqlite-utils, rollback journal, a schema version.

Tables: ``identities`` (unique name, access policy, notes), ``samples`` (one per accepted photo or
frame: a JPEG face crop with its box and landmarks, quality, sha256 of the source image),
``embeddings`` (per sample and recognizer model: float32 vector blob), ``sessions`` and ``frames``
(the per-frame measurements of every run), ``events`` (access events; they keep the name they were
recorded with, so removing a person keeps their past events readable).

Embeddings of different models are never mixed: :meth:`Store.gallery` loads one model's rows.
A person enrolled under one recognizer gets embeddings for another one computed from the stored
face crops (:meth:`Store.samples_missing` lists what to compute). Enrolling is one transaction, so a
crash or kill in the middle leaves no half person. Forward migrations run on open (``meta``
holds ``schema_version``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import StoreError
from core.gallery import Gallery
from db.audit import AUDIT_MIGRATION, AuditMixin
from db.doors import DoorsMixin
from db.history import HISTORY_MIGRATION, THRESHOLD_MIGRATION, HistoryMixin
from db.outbox import OUTBOX_MIGRATION, OutboxMixin
from db.retention import RetentionMixin

SCHEMA_VERSION = 8
POLICIES = ("allowed", "denied", "schedule")
#: ``meta`` key prefix of a running session's recorder ({"pid", "host"}), deleted by end_session. Kept in
#: ``meta`` rather than new ``sessions`` columns so that no schema step is needed (other FaceGate versions
#: sharing a database, e.g. the demo store, keep opening it).
RECORDER_KEY = "recorder:"


#: statements that take a store from version N-1 to N (each step is one transaction)
MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
        """CREATE TABLE identities (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL,
            notes TEXT NOT NULL DEFAULT '', policy TEXT NOT NULL DEFAULT 'allowed')""",
        """CREATE TABLE embeddings (
            id INTEGER PRIMARY KEY,
            identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
            model TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,
            quality REAL, image_sha256 TEXT, created TEXT NOT NULL)""",
        "CREATE INDEX embeddings_model ON embeddings(model)",
        "CREATE INDEX embeddings_identity ON embeddings(identity_id, model)",
    ],
    2: [
        "ALTER TABLE identities ADD COLUMN schedule TEXT NOT NULL DEFAULT ''",
        """CREATE TABLE samples (
            id INTEGER PRIMARY KEY,
            identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
            image_sha256 TEXT, crop BLOB, crop_face TEXT, quality REAL, created TEXT NOT NULL)""",
        "CREATE INDEX samples_identity ON samples(identity_id)",
        "ALTER TABLE embeddings ADD COLUMN sample_id INTEGER REFERENCES samples(id) ON DELETE CASCADE",
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY, started TEXT NOT NULL, ended TEXT, source TEXT, mode TEXT,
            detector TEXT, recognizer TEXT, frames INTEGER NOT NULL DEFAULT 0, events INTEGER NOT NULL DEFAULT 0)""",
        """CREATE TABLE frames (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            frame INTEGER NOT NULL, row TEXT NOT NULL, PRIMARY KEY (session_id, frame))""",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY, session_id TEXT REFERENCES sessions(id) ON DELETE SET NULL,
            timestamp TEXT NOT NULL, track INTEGER, identity TEXT,
            identity_id INTEGER REFERENCES identities(id) ON DELETE SET NULL,
            distance REAL, decision TEXT NOT NULL, thumbnail BLOB)""",
        "CREATE INDEX events_session ON events(session_id)",
    ],
    3: [
        # why a decision was made, on which frame and camera; "change" rows are a decided track whose
        # identity later moved (tailgating): a second, flagged event, never an edit of the first
        "ALTER TABLE events ADD COLUMN frame INTEGER",
        "ALTER TABLE events ADD COLUMN observations INTEGER",
        "ALTER TABLE events ADD COLUMN reason TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE events ADD COLUMN camera TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE events ADD COLUMN kind TEXT NOT NULL DEFAULT 'decision'",
        "ALTER TABLE events ADD COLUMN previous TEXT",
        # an operator's "this is not X": a record (who, when, what), never an edit of the event
        """CREATE TABLE corrections (
            id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
            identity TEXT, note TEXT NOT NULL DEFAULT '', user TEXT NOT NULL, created TEXT NOT NULL)""",
        "CREATE INDEX corrections_event ON corrections(event_id)",
        # measured FAR/FRR per recognizer model (main.py calibrate); the newest row per model is in force
        """CREATE TABLE calibrations (
            id INTEGER PRIMARY KEY, model TEXT NOT NULL, created TEXT NOT NULL, target_far REAL NOT NULL,
            threshold REAL NOT NULL, far REAL, frr REAL, genuine INTEGER, impostor INTEGER,
            impostor_set TEXT NOT NULL DEFAULT '', curve TEXT NOT NULL)""",
        "CREATE INDEX calibrations_model ON calibrations(model, id)",
    ],
    4: [
        # several cameras in one session: the cameras it recorded, and frame rows keyed by camera too
        "ALTER TABLE sessions ADD COLUMN cameras TEXT NOT NULL DEFAULT ''",
        """CREATE TABLE frames_v4 (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            camera TEXT NOT NULL DEFAULT '', frame INTEGER NOT NULL, row TEXT NOT NULL,
            PRIMARY KEY (session_id, camera, frame))""",
        "INSERT INTO frames_v4(session_id, camera, frame, row) SELECT session_id, '', frame, row FROM frames",
        "DROP TABLE frames",
        "ALTER TABLE frames_v4 RENAME TO frames",
        # doors (db/doors.py): which camera watches which door, and per-door rules narrowing a person's policy
        """CREATE TABLE doors (
            name TEXT PRIMARY KEY, only_listed INTEGER NOT NULL DEFAULT 0)""",
        """CREATE TABLE camera_doors (
            camera TEXT PRIMARY KEY, door TEXT NOT NULL REFERENCES doors(name) ON DELETE CASCADE)""",
        """CREATE TABLE door_access (
            door TEXT NOT NULL REFERENCES doors(name) ON DELETE CASCADE,
            identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
            policy TEXT NOT NULL, schedule TEXT NOT NULL DEFAULT '', PRIMARY KEY (door, identity_id))""",
    ],
    5: OUTBOX_MIGRATION,  # integrations: one row per (event, delivery target), db/outbox.py
    6: AUDIT_MIGRATION,  # alarm acknowledgements and the audit trail, db/audit.py
    7: HISTORY_MIGRATION,  # frame snapshots of events, time index for the history, db/history.py
    8: THRESHOLD_MIGRATION,  # the threshold each decision was made with (db/history.py)
}


DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_RULE = re.compile(r"^\s*([a-z]{3})(?:-([a-z]{3}))?\s+(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})\s*$")


def _parse_schedule(schedule: str) -> list[tuple[set[int], int, int]]:
    """ "mon-fri 08:00-18:00; sat 09:00-12:00" -> [(weekdays, start minute, end minute), ...]."""
    rules = []
    for part in filter(None, (p.strip() for p in schedule.lower().split(";"))):
        m = _RULE.match(part)
        if not m or m.group(1) not in DAYS or (m.group(2) and m.group(2) not in DAYS):
            raise StoreError(f"bad schedule rule {part!r}; write e.g. 'mon-fri 08:00-18:00; sat 09:00-12:00'")
        d0 = DAYS.index(m.group(1))
        d1 = DAYS.index(m.group(2)) if m.group(2) else d0
        days = {d % 7 for d in range(d0, d1 + 1 if d1 >= d0 else d1 + 8)}
        h0, m0, h1, m1 = (int(m.group(i)) for i in range(3, 7))
        if h0 > 24 or h1 > 24 or m0 > 59 or m1 > 59:
            raise StoreError(f"bad time in schedule rule {part!r}")
        rules.append((days, h0 * 60 + m0, h1 * 60 + m1))
    return rules


def schedule_allows(schedule: str, when: _dt.datetime) -> bool:
    minute = when.hour * 60 + when.minute
    return any(
        when.weekday() in days and start <= minute < end for days, start, end in _parse_schedule(schedule)
    )


def check_policy(policy: str, schedule: str = "") -> None:
    if policy not in POLICIES:
        raise StoreError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    if policy == "schedule":
        if not schedule.strip():
            raise StoreError("policy 'schedule' needs a schedule, e.g. 'mon-fri 08:00-18:00'")
        _parse_schedule(schedule)


def os_user() -> str:
    """The operator's OS account name (for records of who did what)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (some containers)
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _host() -> str:
    import socket

    return socket.gethostname()


def _session_state(started: str, ended: str | None, recorder: str | None) -> str:
    if ended:
        return "ended"
    try:
        who = json.loads(recorder or "")
        pid, host = int(who["pid"]), str(who["host"])
    except (ValueError, TypeError, KeyError):  # no recorder on record: it never ended
        return "unfinished"
    if host != _host():
        return f"open on {host}"
    import psutil

    try:
        created = psutil.Process(pid).create_time()
    except (psutil.Error, ValueError, OverflowError):
        return "unfinished"
    started_s = _dt.datetime.fromisoformat(started).timestamp()
    # a process that started after the session did only reuses its pid
    return "running" if created <= started_s + 1.0 else "unfinished"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid of the row that ``cur``'s INSERT just added (sqlite3 types ``lastrowid`` as optional:
    it is None only on a cursor that never inserted)."""
    if cur.lastrowid is None:
        raise StoreError("the INSERT added no row")
    return cur.lastrowid


SQLITE_MAGIC = b"SQLite format 3\x00"

#: "delete": SQLite's rollback journal. An idle connection holds no lock at all (WAL keeps a shared lock
#: on every open database for as long as it is open); locks exist only during a transaction. POSIX
#: locks are per process and dropped when the process closes ANY descriptor of the file -- which a Qt
#: file dialog does when it sniffs the files of a folder it shows. In WAL mode that let another
#: process believe it was the last user, checkpoint and delete the WAL under the window (issue 10).
JOURNAL_MODE = "delete"


class Store(AuditMixin, DoorsMixin, OutboxMixin, HistoryMixin, RetentionMixin):
    """The identity store. Transactions are short (one enrollment, one second of frame rows, one event),
    so a lock is held for milliseconds; between them nothing is locked."""

    def __init__(self, path: str | Path) -> None:
        import sqlite_utils

        self.path = Path(path)
        self._check_path()
        try:
            conn = sqlite3.connect(str(self.path), timeout=10, isolation_level=None)
        except sqlite3.Error as err:
            raise StoreError(f"{self.path}: cannot open the database ({err})") from None
        try:
            self.db = sqlite_utils.Database(conn)
            self._set_journal_mode()
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.OperationalError as err:
            conn.close()
            raise StoreError(f"{self.path}: cannot use the database ({err})") from None
        except sqlite3.DatabaseError as err:
            conn.close()
            raise StoreError(f"{self.path}: not a FaceGate database ({err})") from None
        except BaseException:
            conn.close()
            raise

    def _check_path(self) -> None:
        """Refuse, before SQLite writes anything, a path that is not (or cannot become) a database file:
        an existing file that is not SQLite stays as it was."""
        p = self.path
        if p.is_dir():
            raise StoreError(f"{p}: is a folder, not a database file")
        if p.exists():
            try:
                with open(p, "rb") as f:
                    head = f.read(len(SQLITE_MAGIC))
            except OSError as err:
                raise StoreError(f"{p}: cannot read the database ({err.strerror})") from None
            if head and head != SQLITE_MAGIC:
                raise StoreError(f"{p}: not a FaceGate database (not an SQLite file); left unchanged")
            return  # a read-only one can still be listed; a write to it fails with SQLite's one-line reason
        for parent in [p.parent, *p.parent.parents]:
            if parent.exists():
                if not parent.is_dir():
                    raise StoreError(f"{p}: cannot create the database, {parent} is a file, not a folder")
                if not os.access(parent, os.W_OK | os.X_OK):
                    raise StoreError(f"{p}: cannot create the database, {parent} is not writable")
                break
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"{p}: cannot create the database folder ({err.strerror})") from None

    def _set_journal_mode(self) -> None:
        mode = str(self.db.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode == JOURNAL_MODE:
            return
        try:  # leaving WAL needs every other connection closed; retried on every open until it works
            mode = str(self.db.execute(f"PRAGMA journal_mode = {JOURNAL_MODE}").fetchone()[0]).lower()
        except sqlite3.OperationalError:
            pass
        if mode != JOURNAL_MODE:
            import logging

            logging.getLogger(__name__).warning(
                "%s: still in %s journal mode (another program has it open); close it and reopen",
                self.path,
                mode,
            )

    # ------------------------------------------------------------------ schema
    def _version(self) -> int:
        if "meta" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        """Bring the schema up to date in ONE ``BEGIN IMMEDIATE`` transaction that re-reads the version
        after taking the write lock: processes opening a new file at once migrate it exactly once."""
        if self._version() == SCHEMA_VERSION:  # the usual case: no write lock taken
            return
        with self.transaction():
            version = self._version()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: schema {version} is newer than this FaceGate ({SCHEMA_VERSION})"
                )
            if version == 0:
                others = [t for t in self.db.table_names() if t != "meta"]
                if others:
                    raise StoreError(
                        f"{self.path}: not a FaceGate database (an SQLite file with tables "
                        f"{', '.join(others[:5])}); left unchanged"
                    )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    self.db.execute(statement)
                self.db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", [str(target)]
                )

    def transaction(self) -> Any:
        """``with store.transaction():`` -- BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error."""
        store = self

        class _Tx:
            def __enter__(self) -> None:
                store.db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
                if exc_type is None:
                    try:
                        store.db.execute("COMMIT")
                        return
                    except sqlite3.Error:  # e.g. still busy after the timeout: never keep the lock
                        store.db.execute("ROLLBACK")
                        raise
                store.db.execute("ROLLBACK")

        return _Tx()

    # ------------------------------------------------------------------ identities
    def identity_id(self, name: str) -> int | None:
        row = self.db.execute("SELECT id FROM identities WHERE name = ?", [name]).fetchone()
        return int(row[0]) if row else None

    def identities(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            """SELECT i.name, i.policy, i.created, i.notes, i.schedule,
                      (SELECT COUNT(*) FROM samples s WHERE s.identity_id = i.id) AS samples,
                      (SELECT GROUP_CONCAT(DISTINCT e.model) FROM embeddings e WHERE e.identity_id = i.id)
               FROM identities i ORDER BY i.name"""
        ).fetchall()
        return [
            {
                "name": r[0],
                "policy": r[1],
                "created": r[2],
                "notes": r[3],
                "schedule": r[4],
                "samples": r[5],
                "models": sorted((r[6] or "").split(",")) if r[6] else [],
            }
            for r in rows
        ]

    def policy(self, name: str) -> str | None:
        row = self.db.execute("SELECT policy FROM identities WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    def sample_hashes(self, name: str, model: str) -> set[str]:
        rows = self.db.execute(
            """SELECT e.image_sha256 FROM embeddings e JOIN identities i ON i.id = e.identity_id
               WHERE i.name = ? AND e.model = ?""",
            [name, model],
        ).fetchall()
        return {r[0] for r in rows if r[0]}

    def enroll(
        self,
        name: str,
        model: str,
        embeddings: np.ndarray,
        image_sha256: Sequence[str | None] | None = None,
        quality: Sequence[float | None] | None = None,
        policy: str | None = None,
        notes: str = "",
        crops: Sequence[bytes | None] | None = None,
        crop_faces: Sequence[dict[str, Any] | None] | None = None,
        schedule: str = "",
    ) -> int:
        """Add ``name`` (or more samples to them) in ONE transaction; returns the samples stored.

        ``crops`` are JPEG face crops and ``crop_faces`` their ``{"box", "landmarks"}`` in crop
        pixels: kept so embeddings for another recognizer model can be computed later.
        ``policy`` None keeps an existing person's policy ("allowed" for a new one).
        """
        name = name.strip()
        if not name:
            raise StoreError("a person needs a non-empty name")
        if policy is not None:
            check_policy(policy, schedule)
        emb = np.atleast_2d(np.asarray(embeddings, np.float32))
        n = emb.shape[0]
        hashes = list(image_sha256) if image_sha256 is not None else [None] * n
        quals = list(quality) if quality is not None else [None] * n
        crop_list = list(crops) if crops is not None else [None] * n
        geo = list(crop_faces) if crop_faces is not None else [None] * n
        now = _now()
        with self.transaction():
            ident, before = self.identity_id(name), self._person_state(name)
            if ident is None:
                cur = self.db.execute(
                    "INSERT INTO identities(name, created, notes, policy, schedule) VALUES (?, ?, ?, ?, ?)",
                    [name, now, notes, policy or "allowed", schedule],
                )
                ident = _inserted_id(cur)
            elif policy is not None:
                self.db.execute(
                    "UPDATE identities SET policy = ?, schedule = ? WHERE id = ?", [policy, schedule, ident]
                )
            for vec, sha, q, crop, g in zip(emb, hashes, quals, crop_list, geo):
                cur = self.db.execute(
                    """INSERT INTO samples(identity_id, image_sha256, crop, crop_face, quality, created)
                       VALUES (?, ?, ?, ?, ?, ?)""",
                    [ident, sha, crop, json.dumps(g) if g is not None else None, q, now],
                )
                self.db.execute(
                    """INSERT INTO embeddings(identity_id, sample_id, model, dim, vector, quality, image_sha256, created)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                    [ident, cur.lastrowid, model, int(vec.size), vec.astype("<f4").tobytes(), q, sha, now],
                )
            self._audit_enroll(name, before, n, model)
        return n

    # ------------------------------------------------------------------ other models' embeddings
    def samples_missing(self, model: str) -> list[dict[str, Any]]:
        """Stored face crops that have no embedding for ``model`` yet (to compute them)."""
        rows = self.db.execute(
            """SELECT s.id, i.name, s.crop, s.crop_face FROM samples s JOIN identities i ON i.id = s.identity_id
               WHERE s.crop IS NOT NULL AND NOT EXISTS
                 (SELECT 1 FROM embeddings e WHERE e.sample_id = s.id AND e.model = ?)
               ORDER BY s.id""",
            [model],
        ).fetchall()
        return [
            {"sample_id": r[0], "name": r[1], "crop": r[2], "face": json.loads(r[3]) if r[3] else None}
            for r in rows
        ]

    def samples(self, name: str) -> list[dict[str, Any]]:
        """A person's stored samples: JPEG face crop, quality, created (oldest first)."""
        rows = self.db.execute(
            """SELECT s.crop, s.quality, s.created FROM samples s JOIN identities i ON i.id = s.identity_id
               WHERE i.name = ? ORDER BY s.id""",
            [name],
        ).fetchall()
        return [{"crop": r[0], "quality": r[1], "created": r[2]} for r in rows]

    def people_without(self, model: str) -> list[str]:
        """People with no embedding for ``model`` and no stored crop to compute one (re-enroll them)."""
        rows = self.db.execute(
            """SELECT i.name FROM identities i WHERE
                 NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.identity_id = i.id AND e.model = ?)
                 AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.identity_id = i.id AND s.crop IS NOT NULL)
               ORDER BY i.name""",
            [model],
        ).fetchall()
        return [r[0] for r in rows]

    def add_sample_embeddings(self, model: str, items: Sequence[tuple[int, np.ndarray]]) -> int:
        """Store ``(sample_id, embedding)`` pairs for ``model`` in one transaction."""
        now = _now()
        with self.transaction():
            for sample_id, vec in items:
                row = self.db.execute(
                    "SELECT identity_id, quality, image_sha256 FROM samples WHERE id = ?", [sample_id]
                ).fetchone()
                if row is None:
                    continue
                v = np.asarray(vec, np.float32).ravel()
                self.db.execute(
                    """INSERT INTO embeddings(identity_id, sample_id, model, dim, vector, quality, image_sha256, created)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                    [row[0], sample_id, model, int(v.size), v.astype("<f4").tobytes(), row[1], row[2], now],
                )
        return len(items)

    # ------------------------------------------------------------------ manage people
    def rename(self, old: str, new: str) -> None:
        new = new.strip()
        if not new:
            raise StoreError("a person needs a non-empty name")
        if self.identity_id(old) is None:
            raise StoreError(f"no enrolled person named {old!r}")
        if self.identity_id(new) is not None:
            raise StoreError(f"{new!r} is already enrolled; choose another name")
        with self.transaction():
            self.db.execute("UPDATE identities SET name = ? WHERE name = ?", [new, old])
            self._audit("rename", old, {"name": old}, {"name": new})

    def remove(self, name: str) -> None:
        """Remove a person and their samples/embeddings; their past events stay readable."""
        ident = self.identity_id(name)
        if ident is None:
            raise StoreError(f"no enrolled person named {name!r}")
        with self.transaction():
            self._audit("remove", name, self._person_state(name), None)
            self.db.execute("DELETE FROM identities WHERE id = ?", [ident])

    def set_policy(self, name: str, policy: str, schedule: str = "") -> None:
        check_policy(policy, schedule)
        if self.identity_id(name) is None:
            raise StoreError(f"no enrolled person named {name!r}")
        with self.transaction():
            self._audit_policy(name, policy, schedule)
            self.db.execute(
                "UPDATE identities SET policy = ?, schedule = ? WHERE name = ?", [policy, schedule, name]
            )

    def decision_for(self, name: str | None, when: _dt.datetime | None = None) -> str:
        """ "granted" / "denied" for an enrolled person at ``when`` (local time), "unknown" otherwise."""
        return self.access(name, when)[0]

    def access(
        self, name: str | None, when: _dt.datetime | None = None, camera: str | None = None
    ) -> tuple[str, str]:
        """(decision, reason) for ``name`` at ``when`` (local time) seen by ``camera``, from one read of
        their policy and, when the camera watches a door, that door's rule (db/doors.py):
        ("granted", "matched"), ("denied", "policy" | "schedule" | "door" | "door-schedule") or
        ("unknown", "no-match")."""
        if name is None:
            return "unknown", "no-match"
        row = self.db.execute("SELECT id, policy, schedule FROM identities WHERE name = ?", [name]).fetchone()
        if row is None:
            return "unknown", "no-match"
        ident, policy, schedule = row
        when = when or _dt.datetime.now()
        if policy not in ("allowed", "schedule"):  # "denied", or anything unknown: fail closed
            return "denied", "policy"
        if policy == "schedule" and not schedule_allows(schedule, when):
            return "denied", "schedule"
        return self.door_access(ident, camera, when) or ("granted", "matched")

    def embeddings(self, model: str) -> tuple[list[str], np.ndarray]:
        """(names per row, (N, D) float32) of every stored embedding of ``model``."""
        rows = self.db.execute(
            """SELECT i.name, e.vector FROM embeddings e JOIN identities i ON i.id = e.identity_id
               WHERE e.model = ? ORDER BY e.id""",
            [model],
        ).fetchall()
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        names = [r[0] for r in rows]
        mat = np.stack([np.frombuffer(r[1], dtype="<f4") for r in rows]).astype(np.float32)
        return names, mat

    def gallery(self, model: str, threshold: float, combine: str = "nearest") -> Gallery:
        gal = Gallery(model, threshold, combine=combine)
        names, mat = self.embeddings(model)
        if names:
            order: dict[str, list[int]] = {}
            for i, n in enumerate(names):
                order.setdefault(n, []).append(i)
            for n, idx in order.items():
                gal.add(n, mat[idx])
        return gal

    # ------------------------------------------------------------------ sessions and events
    def start_session(
        self,
        source: str = "",
        mode: str = "local",
        detector: str = "",
        recognizer: str = "",
        cameras: Sequence[tuple[str, str]] = (),
    ) -> str:
        """A new recording session; ``cameras``: its (name, source) pairs, when it records several."""
        import secrets

        sid = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
        with self.transaction():
            self.db.execute(
                """INSERT INTO sessions(id, started, source, mode, detector, recognizer, cameras)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                [
                    sid,
                    _now(),
                    source,
                    mode,
                    detector,
                    recognizer,
                    json.dumps([{"name": n, "source": src} for n, src in cameras]) if cameras else "",
                ],
            )
            # who records it, until end_session: a session with no end whose recorder is gone was killed
            self.db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                [RECORDER_KEY + sid, json.dumps({"pid": os.getpid(), "host": _host()})],
            )
        return sid

    def add_frames(self, session_id: str, rows: Sequence[dict[str, Any]]) -> None:
        """Store per-frame rows (the session CSV's columns) in one transaction."""
        if not rows:
            return
        with self.transaction():
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO frames(session_id, camera, frame, row) VALUES (?, ?, ?, ?)",
                [(session_id, str(r.get("camera") or ""), int(r["frame"]), json.dumps(r)) for r in rows],
            )
            self.db.execute(
                "UPDATE sessions SET frames = (SELECT COUNT(*) FROM frames WHERE session_id = ?) WHERE id = ?",
                [session_id, session_id],
            )

    def add_event(
        self,
        session_id: str | None,
        timestamp: str,
        track: int | None,
        identity: str | None,
        distance: float | None,
        decision: str,
        thumbnail: bytes | None = None,
        frame: int | None = None,
        observations: int | None = None,
        reason: str = "",
        camera: str = "",
        kind: str = "decision",
        previous: str | None = None,
        snapshot: bytes | None = None,
        threshold: float | None = None,
    ) -> int:
        """One access event (``kind`` "decision", or "change" for a decided track whose identity moved,
        with ``previous`` the identity it had; ``snapshot``: JPEG of the whole frame; ``threshold``: the
        distance threshold the decision was made with); returns its id."""
        with self.transaction():
            cur = self.db.execute(
                """INSERT INTO events(session_id, timestamp, track, identity, identity_id, distance, decision,
                                      thumbnail, frame, observations, reason, camera, kind, previous, snapshot,
                                      threshold)
                   VALUES (?, ?, ?, ?, (SELECT id FROM identities WHERE name = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                           ?)""",
                [session_id, timestamp, track, identity, identity, distance, decision, thumbnail, frame]
                + [observations, reason, camera, kind, previous, snapshot, threshold],
            )
            if session_id is not None:
                self.db.execute("UPDATE sessions SET events = events + 1 WHERE id = ?", [session_id])
            event_id = _inserted_id(cur)
            self.enqueue_deliveries(event_id)  # its deliveries, in the same transaction (db/outbox.py)
        return event_id

    # ------------------------------------------------------------------ operator corrections
    def add_correction(
        self, event_id: int, identity: str | None, note: str = "", user: str | None = None
    ) -> int:
        """Record that event ``event_id`` was really ``identity`` (None: not anyone enrolled).

        ``user`` defaults to the OS user. The event row itself is never edited."""
        if self.db.execute("SELECT 1 FROM events WHERE id = ?", [event_id]).fetchone() is None:
            raise StoreError(f"no event with id {event_id}")
        with self.transaction():
            self._audit_correction(event_id, identity, note, user)
            cur = self.db.execute(
                "INSERT INTO corrections(event_id, identity, note, user, created) VALUES (?, ?, ?, ?, ?)",
                [event_id, identity, note, user or os_user(), _now()],
            )
        return _inserted_id(cur)

    # ------------------------------------------------------------------ calibrated thresholds
    def save_calibration(
        self,
        model: str,
        target_far: float,
        threshold: float,
        far: float | None,
        frr: float | None,
        genuine: int,
        impostor: int,
        curve: Sequence[dict[str, float]],
        impostor_set: str = "",
    ) -> int:
        with self.transaction():
            self._audit_calibration(model, target_far, threshold, far, frr)
            cur = self.db.execute(
                """INSERT INTO calibrations(model, created, target_far, threshold, far, frr, genuine, impostor,
                                            impostor_set, curve) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    model,
                    _now(),
                    target_far,
                    threshold,
                    far,
                    frr,
                    genuine,
                    impostor,
                    impostor_set,
                    json.dumps(list(curve)),
                ],
            )
        return _inserted_id(cur)

    def calibration(self, model: str) -> dict[str, Any] | None:
        """The newest calibration of ``model`` (with ``curve``: [{threshold, far, frr}, ...]), or None."""
        cur = self.db.execute(
            """SELECT id, model, created, target_far, threshold, far, frr, genuine, impostor, impostor_set, curve
               FROM calibrations WHERE model = ? ORDER BY id DESC LIMIT 1""",
            [model],
        )
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip([c[0] for c in cur.description], row))
        out["curve"] = json.loads(out["curve"])
        return out

    def end_session(self, session_id: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE sessions SET ended = ? WHERE id = ?", [_now(), session_id])
            self.db.execute("DELETE FROM meta WHERE key = ?", [RECORDER_KEY + session_id])

    def sessions(self) -> list[dict[str, Any]]:
        """Every session, oldest first; ``state`` is "ended", "running" (its process is alive), "unfinished"
        (no end and its process is gone: killed or crashed; its rows are those stored before) or "open on
        HOST" (recorded on another machine, so it cannot be checked from here)."""
        cur = self.db.execute(
            """SELECT s.id, s.started, s.ended, s.source, s.mode, s.detector, s.recognizer, s.frames, s.events,
                      s.cameras, m.value AS recorder
               FROM sessions s LEFT JOIN meta m ON m.key = ? || s.id ORDER BY s.started""",
            [RECORDER_KEY],
        )
        cols = [c[0] for c in cur.description]
        rows = [dict(zip(cols, r)) for r in cur.fetchall()]
        for r in rows:
            r["state"] = _session_state(r["started"], r["ended"], r.pop("recorder"))
            r["cameras"] = json.loads(r["cameras"]) if r["cameras"] else []
        return rows

    def session_frames(self, session_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT row FROM frames WHERE session_id = ? ORDER BY frame, camera", [session_id]
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def events(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Access events, oldest first, each with its newest operator correction (``corrected_*``)."""
        sql = """SELECT e.id, e.timestamp, e.session_id, e.track, e.identity, e.distance, e.decision, e.frame,
                        e.observations, e.reason, e.camera, e.kind, e.previous,
                        c.identity, c.user, c.created, c.note
                 FROM events e LEFT JOIN corrections c
                   ON c.id = (SELECT MAX(id) FROM corrections WHERE event_id = e.id)"""
        args: list[Any] = []
        if session_id is not None:
            sql += " WHERE e.session_id = ?"
            args.append(session_id)
        cur = self.db.execute(sql + " ORDER BY e.id", args)
        keys = (
            "id timestamp session track identity distance decision frame observations reason camera kind "
            "previous corrected_identity corrected_by corrected_at correction_note"
        ).split()
        return [dict(zip(keys, r)) for r in cur.fetchall()]

    def has_session(self, session_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM sessions WHERE id = ?", [session_id]).fetchone() is not None

    def counts(self) -> dict[str, int]:
        return {
            "identities": self.db.execute("SELECT COUNT(*) FROM identities").fetchone()[0],
            "embeddings": self.db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0],
        }

    def close(self) -> None:
        self.db.conn.close()


def store_at(current: Store | None, path: str | Path) -> Store:
    """``current`` when it is the database at ``path``; otherwise ``current`` is closed and ``path``
    opened (for a holder that keeps one connection and follows the session's database). Callers clear
    their reference first, so a failed open leaves them holding nothing, not a closed store."""
    if current is not None and Path(current.path) == Path(path):
        return current
    if current is not None:
        current.close()
    return Store(path)
