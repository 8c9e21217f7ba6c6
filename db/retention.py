"""Retention, backup and restore of the identity store (Qt-free; ``main.py backup|restore|retention``).

* :meth:`RetentionMixin.apply_retention` forgets what is older than the configured periods: the frame rows
  of old sessions, old events (their corrections and outbox rows go with them by cascade) and the face
  snapshots (``events.thumbnail``, the face, and ``events.snapshot``, the frame) of old events, in one transaction.
* :meth:`RetentionMixin.backup` copies the store with SQLite's online backup API in one step: a
  consistent copy while other processes keep writing (they wait for the copy's read lock, milliseconds
  for a store of a few MB; their busy timeout is 10 s).
* :func:`restore` replaces a store by a backup after checking it is a readable FaceGate store not newer
  than this version; the replaced file is kept as ``<name>.before-restore-<time>.db`` and the new one is
  written beside it first and renamed into place (atomic: a crash leaves the old file or the new one).
"""

from __future__ import annotations

import datetime as _dt
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import StoreError

if TYPE_CHECKING:
    import sqlite_utils

#: tables every FaceGate store has (besides ``meta``)
_REQUIRED = ("identities", "embeddings", "events")


def _cutoff(days: float, now: _dt.datetime) -> str:
    """The UTC ISO time ``days`` before ``now``, as sessions and events store theirs (compared as text)."""
    return (now - _dt.timedelta(days=days)).astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _copy_db(src: sqlite3.Connection, dest: Path) -> None:
    """``src`` into a new file ``dest`` (through ``dest``.tmp, renamed into place when complete)."""
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        out = sqlite3.connect(str(tmp))
        try:
            # in ONE step: a read lock for the copy's length (writers wait, up to their busy timeout). In
            # steps, a page another process changes restarts the copy: a steady writer would starve it.
            src.backup(out)
        finally:
            out.close()
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class RetentionMixin:
    """Retention and backup methods of :class:`db.store.Store`."""

    db: sqlite_utils.Database
    path: Path
    #: blur the face snapshot of an unknown person's event before it is stored (core/engine.py reads it;
    #: the run and the window set it from ``config.retention.blur_unknown``)
    blur_unknown: bool = False

    def transaction(self) -> Any:  # pragma: no cover - Store's
        raise NotImplementedError

    def apply_retention(
        self,
        frames_days: float = 0,
        events_days: float = 0,
        snapshots_days: float = 0,
        now: _dt.datetime | None = None,
    ) -> dict[str, int]:
        """Remove what is older than each period (0: keep forever), in one transaction; returns the counts
        removed: ``frames`` (rows of sessions that ended, or started if they never ended, before the cutoff),
        ``events`` (by their timestamp) and ``snapshots`` (remaining events whose face and frame snapshots were nulled)."""
        now = now or _dt.datetime.now(_dt.timezone.utc)
        counts = {"frames": 0, "events": 0, "snapshots": 0}
        with self.transaction():
            if frames_days > 0:
                old = "SELECT id FROM sessions WHERE COALESCE(ended, started) < ?"
                cut = [_cutoff(frames_days, now)]
                counts["frames"] = self.db.execute(
                    f"DELETE FROM frames WHERE session_id IN ({old})", cut
                ).rowcount
                if counts["frames"]:
                    self.db.execute(
                        f"""UPDATE sessions SET frames = (SELECT COUNT(*) FROM frames f WHERE f.session_id = sessions.id)
                            WHERE id IN ({old})""",
                        cut,
                    )
            if events_days > 0:
                counts["events"] = self.db.execute(
                    "DELETE FROM events WHERE timestamp < ?", [_cutoff(events_days, now)]
                ).rowcount
                if counts["events"]:  # sessions list's event counts say what is left
                    self.db.execute(
                        """UPDATE sessions SET events = (SELECT COUNT(*) FROM events e WHERE e.session_id = sessions.id)
                            WHERE events != (SELECT COUNT(*) FROM events e WHERE e.session_id = sessions.id)"""
                    )
            if snapshots_days > 0:
                counts["snapshots"] = self.db.execute(
                    """UPDATE events SET thumbnail = NULL, snapshot = NULL
                       WHERE (thumbnail IS NOT NULL OR snapshot IS NOT NULL) AND timestamp < ?""",
                    [_cutoff(snapshots_days, now)],
                ).rowcount
        return counts

    def backup(self, dest: str | Path) -> Path:
        """A consistent copy of the store at ``dest`` (its folder created; an existing file replaced, never
        the live store itself), made with SQLite's online backup API while others may write."""
        dest = Path(dest)
        if dest.is_dir():
            raise StoreError(f"{dest}: is a folder; name the backup file, e.g. {dest / 'facegate-backup.db'}")
        if _same_file(self.path, dest):
            raise StoreError(f"{dest}: is the identity store itself; choose another file for the backup")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            _copy_db(self.db.conn, dest)
        except OSError as err:
            raise StoreError(f"{dest}: cannot write the backup ({err.strerror or err})") from None
        except sqlite3.Error as err:
            raise StoreError(f"{dest}: cannot write the backup ({err})") from None
        return dest


def check_backup(src: str | Path) -> int:
    """The schema version of the FaceGate store at ``src``; a one-line :class:`StoreError` when it is not
    one (missing, not SQLite, another program's database, newer than this FaceGate, or damaged)."""
    from db.store import SCHEMA_VERSION, SQLITE_MAGIC

    src = Path(src)
    if not src.is_file():
        raise StoreError(f"{src}: no such file")
    with open(src, "rb") as f:
        if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise StoreError(f"{src}: not a FaceGate store (not an SQLite file); nothing restored")
    try:
        conn = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise StoreError(f"{src}: cannot open it ({err}); nothing restored") from None
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables or any(t not in tables for t in _REQUIRED):
            raise StoreError(f"{src}: not a FaceGate store (no identities/meta tables); nothing restored")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version < 1:
            raise StoreError(f"{src}: not a FaceGate store (no schema version); nothing restored")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{src}: schema {version} is newer than this FaceGate ({SCHEMA_VERSION}); nothing restored"
            )
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check(5)")]
        if problems != ["ok"]:
            raise StoreError(f"{src}: damaged ({problems[0]}); nothing restored")
        return version
    except sqlite3.DatabaseError as err:
        raise StoreError(f"{src}: damaged or not a FaceGate store ({err}); nothing restored") from None
    finally:
        conn.close()


def restore(src: str | Path, into: str | Path, now: _dt.datetime | None = None) -> Path | None:
    """Replace the store at ``into`` by the backup ``src`` once :func:`check_backup` accepts it; the file
    it replaces is kept as ``<name>.before-restore-<time>.db``, returned (None when ``into`` did not exist).
    Close every connection of this process to ``into`` first, and reopen it after (an older schema is
    migrated on open)."""
    src, into = Path(src), Path(into)
    if _same_file(src, into):
        raise StoreError(f"{src}: is the identity store itself; nothing restored")
    check_backup(src)
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    kept = into.with_name(f"{into.stem}.before-restore-{stamp}.db") if into.exists() else None
    try:
        into.parent.mkdir(parents=True, exist_ok=True)
        if kept is not None:
            old = sqlite3.connect(str(into), timeout=10)
            try:
                _copy_db(old, kept)  # a consistent copy even while another process writes
            finally:
                old.close()
        new = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True)
        try:
            _copy_db(new, into)  # into.tmpPID, then renamed over the store: atomic
        finally:
            new.close()
    except OSError as err:
        raise StoreError(f"{into}: cannot restore ({err.strerror or err}); nothing restored") from None
    except sqlite3.Error as err:
        raise StoreError(f"{into}: cannot restore ({err}); nothing restored") from None
    return kept


def retention_summary(counts: dict[str, int]) -> str:
    """ "removed 120 frame rows, 3 events and 5 face snapshots" (only the non-zero ones), or ""."""
    parts = [
        f"{counts[key]} {label}"
        for key, label in (("frames", "frame rows"), ("events", "events"), ("snapshots", "face snapshots"))
        if counts.get(key)
    ]
    if not parts:
        return ""
    return "removed " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])


def apply_config(store: Any, retention: Any) -> str:
    """Apply ``retention`` (a :class:`core.config.RetentionConfig`) to ``store``: its periods now, and its
    ``blur_unknown`` to the snapshots stored from now on; the one-line summary ("" when nothing went)."""
    store.blur_unknown = bool(retention.blur_unknown)
    counts = store.apply_retention(retention.frames_days, retention.events_days, retention.snapshots_days)
    line = retention_summary(counts)
    return f"retention: {line} (older than the configured periods)" if line else ""


def retention_preview(store: Any, retention: Any, now: _dt.datetime | None = None) -> dict[str, int]:
    """What :meth:`RetentionMixin.apply_retention` would remove with ``retention``'s periods now, counted
    (the same cutoffs and order: a snapshot counts only when its event stays), removing nothing."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    counts = {"frames": 0, "events": 0, "snapshots": 0}
    db = store.db
    if retention.frames_days > 0:
        old = "SELECT id FROM sessions WHERE COALESCE(ended, started) < ?"
        cut = [_cutoff(retention.frames_days, now)]
        counts["frames"] = int(
            db.execute(f"SELECT COUNT(*) FROM frames WHERE session_id IN ({old})", cut).fetchone()[0]
        )
    events_cut = _cutoff(retention.events_days, now) if retention.events_days > 0 else ""
    if events_cut:
        counts["events"] = int(
            db.execute("SELECT COUNT(*) FROM events WHERE timestamp < ?", [events_cut]).fetchone()[0]
        )
    if retention.snapshots_days > 0:
        counts["snapshots"] = int(
            db.execute(
                "SELECT COUNT(*) FROM events WHERE thumbnail IS NOT NULL AND timestamp < ? AND timestamp >= ?",
                [_cutoff(retention.snapshots_days, now), events_cut],
            ).fetchone()[0]
        )
    return counts
