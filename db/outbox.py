"""The outbox: one row per (access event, delivery target), written in the same transaction as the event.

A target is a string naming where deliveries go (``webhook https://host/path``, ``mqtt host:1883``);
the run sets :attr:`OutboxMixin.outbox_targets` from the configuration, and every event stored while
it is set gets one ``pending`` row per target, with its JSON payload (core/integrations/payload.py).
The delivery worker (core/integrations/worker.py) sends them per target in ``id`` order and marks them
``delivered``, or after a try that failed, records the error and when to try again; a row given up
(a permanent error, or ``max_attempts``) is ``failed`` until ``outbox retry`` makes it pending again.

Several processes may share one store (the window and a headless run, say), each with a worker for the
same target. Only the holder of a target's *lease* (a ``meta`` row ``outbox-lease:<target>``: owner,
pid, host and an expiry, renewed before every send) delivers it, so a receiver gets each event once and
in order. A lease whose owner ended (its pid gone on this host) or that expired is taken over.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils

STATES = ("pending", "delivered", "failed")

#: schema step 5 (db/store.py MIGRATIONS)
OUTBOX_MIGRATION = [
    """CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        target TEXT NOT NULL, payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL, delivered TEXT)""",
    "CREATE INDEX outbox_target_state ON outbox(target, state, id)",
]

#: ``meta`` key prefix of a target's delivery lease
LEASE_KEY = "outbox-lease:"

_COLUMNS = "id event_id target payload state attempts next_attempt_at last_error created delivered".split()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _holder_alive(holder: dict[str, Any], now: float) -> bool:
    """Whether a lease's holder may still deliver: not expired, and (on this host) its process runs."""
    if float(holder.get("until", 0)) <= now:
        return False
    if holder.get("host") != socket.gethostname():
        return True  # another machine's process: only the expiry tells
    import psutil

    try:
        return bool(psutil.pid_exists(int(holder.get("pid", -1))))
    except (ValueError, TypeError):
        return False


class OutboxMixin:
    """The outbox methods of :class:`db.store.Store`."""

    db: sqlite_utils.Database
    #: where each new event is delivered (set by the run from the configuration); empty: nowhere
    outbox_targets: tuple[str, ...] = ()

    def transaction(self) -> Any:  # pragma: no cover - provided by Store
        raise NotImplementedError

    def door_of(self, camera: str | None) -> str | None:  # pragma: no cover - provided by DoorsMixin
        raise NotImplementedError

    def enqueue_deliveries(self, event_id: int) -> None:
        """One pending row per target for the event just inserted; called INSIDE add_event's transaction."""
        if not self.outbox_targets:
            return
        from core.integrations.payload import event_payload

        cur = self.db.execute("SELECT * FROM events WHERE id = ?", [event_id])
        row = dict(zip([c[0] for c in cur.description], cur.fetchone()))
        payload = event_payload(row, self.door_of(row.get("camera")))
        now = _now()
        self.db.conn.executemany(
            "INSERT INTO outbox(event_id, target, payload, created) VALUES (?, ?, ?, ?)",
            [(event_id, target, payload, now) for target in self.outbox_targets],
        )

    # ------------------------------------------------------------------ the worker's side
    def outbox_lease(self, target: str, owner: str, ttl_s: float) -> bool:
        """Take or renew ``owner``'s lease of ``target`` for ``ttl_s`` seconds; False while another live
        holder has it (then ``owner`` must not deliver ``target``)."""
        key, now = LEASE_KEY + target, time.time()
        with self.transaction():
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
            if row is not None:
                try:
                    holder = json.loads(row[0])
                except ValueError:
                    holder = {}
                if holder.get("owner") != owner and _holder_alive(holder, now):
                    return False
            lease = {"owner": owner, "pid": os.getpid(), "host": socket.gethostname(), "until": now + ttl_s}
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", [key, json.dumps(lease)])
        return True

    def outbox_release(self, target: str, owner: str) -> None:
        """Give ``owner``'s lease of ``target`` up (a stopping worker), so another run delivers at once."""
        key = LEASE_KEY + target
        with self.transaction():
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
            try:
                mine = row is not None and json.loads(row[0]).get("owner") == owner
            except ValueError:
                mine = False
            if mine:
                self.db.execute("DELETE FROM meta WHERE key = ?", [key])

    def outbox_next(self, target: str) -> dict[str, Any] | None:
        """The oldest pending row of ``target`` (the one that must go before any later one), or None."""
        cur = self.db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM outbox WHERE target = ? AND state = 'pending' ORDER BY id LIMIT 1",
            [target],
        )
        row = cur.fetchone()
        return dict(zip(_COLUMNS, row)) if row else None

    def outbox_delivered(self, row_id: int) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered = ?, last_error = '' "
                "WHERE id = ?",
                [_now(), row_id],
            )

    def outbox_failed(self, row_id: int, error: str, next_attempt_at: float, permanent: bool = False) -> None:
        """A try of ``row_id`` failed: count it, keep the error; try again at ``next_attempt_at`` (unix
        seconds) or, ``permanent``, give the row up (state ``failed``)."""
        with self.transaction():
            self.db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, state = ? "
                "WHERE id = ?",
                [error[:500], next_attempt_at, "failed" if permanent else "pending", row_id],
            )

    # ------------------------------------------------------------------ the operator's side
    def outbox(
        self, state: str | None = None, target: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Outbox rows, oldest first (the newest ``limit`` of them when given)."""
        where, args = [], []
        if state is not None:
            where.append("state = ?")
            args.append(state)
        if target is not None:
            where.append("target = ?")
            args.append(target)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM outbox"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return [dict(zip(_COLUMNS, r)) for r in reversed(self.db.execute(sql, args).fetchall())]

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        """{target: {state: rows}}."""
        out: dict[str, dict[str, int]] = {}
        for target, state, n in self.db.execute(
            "SELECT target, state, COUNT(*) FROM outbox GROUP BY target, state ORDER BY target"
        ).fetchall():
            out.setdefault(target, dict.fromkeys(STATES, 0))[state] = n
        return out

    def outbox_retry(self, ids: Sequence[int] = ()) -> int:
        """Make failed rows (``ids``, or every failed one) pending again, due now; returns how many.
        They keep their place in their target's order: any pending row before them goes first."""
        sql = "UPDATE outbox SET state = 'pending', next_attempt_at = 0 WHERE state = 'failed'"
        args: list[Any] = []
        if ids:
            sql += f" AND id IN ({', '.join('?' * len(ids))})"
            args = [int(i) for i in ids]
        with self.transaction():
            return int(self.db.execute(sql, args).rowcount)
