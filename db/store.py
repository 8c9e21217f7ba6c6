"""The identity store: SQLite through sqlite-utils, WAL mode, a schema version.

Tables (schema 1): ``identities`` (unique name, policy, notes), ``embeddings`` (one row per sample
and recognizer model: float32 vector blob, quality, sha256 of the source image). Embeddings of
different models are never mixed: :meth:`Store.gallery` loads one model's rows. Enrolling a person
is one transaction, so an interrupted enrollment leaves no half person.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import StoreError
from core.gallery import Gallery

SCHEMA_VERSION = 1
POLICIES = ("allowed", "denied")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Store:
    def __init__(self, path: str | Path) -> None:
        import sqlite_utils

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(self.path), timeout=10, isolation_level=None)
            self.db = sqlite_utils.Database(conn)
            self.db.enable_wal()
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{self.path}: not a FaceGate database ({err})") from None

    # ------------------------------------------------------------------ schema
    def _version(self) -> int:
        if "meta" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        version = self._version()
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema {version} is newer than this FaceGate ({SCHEMA_VERSION})")
        if version < 1:
            with self.transaction():
                self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                self.db.execute(
                    """CREATE TABLE IF NOT EXISTS identities (
                        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL,
                        notes TEXT NOT NULL DEFAULT '', policy TEXT NOT NULL DEFAULT 'allowed')"""
                )
                self.db.execute(
                    """CREATE TABLE IF NOT EXISTS embeddings (
                        id INTEGER PRIMARY KEY,
                        identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
                        model TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,
                        quality REAL, image_sha256 TEXT, created TEXT NOT NULL)"""
                )
                self.db.execute("CREATE INDEX IF NOT EXISTS embeddings_model ON embeddings(model)")
                self.db.execute(
                    "CREATE INDEX IF NOT EXISTS embeddings_identity ON embeddings(identity_id, model)"
                )
                self.db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
                )

    def transaction(self) -> Any:
        """``with store.transaction():`` -- BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error."""
        store = self

        class _Tx:
            def __enter__(self) -> None:
                store.db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
                store.db.execute("ROLLBACK" if exc_type else "COMMIT")

        return _Tx()

    # ------------------------------------------------------------------ identities
    def identity_id(self, name: str) -> int | None:
        row = self.db.execute("SELECT id FROM identities WHERE name = ?", [name]).fetchone()
        return int(row[0]) if row else None

    def identities(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            """SELECT i.name, i.policy, i.created, i.notes,
                      (SELECT COUNT(*) FROM embeddings e WHERE e.identity_id = i.id) AS samples,
                      (SELECT GROUP_CONCAT(DISTINCT e.model) FROM embeddings e WHERE e.identity_id = i.id)
               FROM identities i ORDER BY i.name"""
        ).fetchall()
        return [
            {"name": r[0], "policy": r[1], "created": r[2], "notes": r[3], "samples": r[4],
             "models": sorted((r[5] or "").split(",")) if r[5] else []}
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
        policy: str = "allowed",
        notes: str = "",
    ) -> int:
        """Add ``name`` (or more samples to them) in ONE transaction; returns the samples stored."""
        name = name.strip()
        if not name:
            raise StoreError("a person needs a non-empty name")
        if policy not in POLICIES:
            raise StoreError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
        emb = np.atleast_2d(np.asarray(embeddings, np.float32))
        n = emb.shape[0]
        hashes = list(image_sha256) if image_sha256 is not None else [None] * n
        quals = list(quality) if quality is not None else [None] * n
        now = _now()
        with self.transaction():
            ident = self.identity_id(name)
            if ident is None:
                cur = self.db.execute(
                    "INSERT INTO identities(name, created, notes, policy) VALUES (?, ?, ?, ?)",
                    [name, now, notes, policy],
                )
                ident = int(cur.lastrowid)
            for vec, sha, q in zip(emb, hashes, quals):
                self.db.execute(
                    """INSERT INTO embeddings(identity_id, model, dim, vector, quality, image_sha256, created)
                       VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    [ident, model, int(vec.size), vec.astype("<f4").tobytes(), q, sha, now],
                )
        return n

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

    def counts(self) -> dict[str, int]:
        return {
            "identities": self.db.execute("SELECT COUNT(*) FROM identities").fetchone()[0],
            "embeddings": self.db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0],
        }

    def close(self) -> None:
        self.db.conn.close()
