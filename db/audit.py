"""Alarms and the audit trail (issue 13).

An *alarm* is an access event that needs an operator's look: decision ``unknown`` or ``denied``, or a
``change`` event (a decided track whose identity moved: tailgating). It stays open until acknowledged
(``alarm_acks``: one row per event, with an optional note, the OS user and the time); the first
acknowledgement is kept.

The *audit trail* (``audit``) records who changed what: enrollments, removals, renames, access policies,
door rules and door assignments, corrections of events, acknowledgements, calibrations and thresholds.
Each row has the action, its subject, the state before and after (JSON), the OS user and the UTC time,
and is written by :meth:`AuditMixin._audit` INSIDE the transaction of the change it records: a change
that fails (or is rolled back) leaves no audit row, and an audit row that cannot be written undoes it.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import StoreError

if TYPE_CHECKING:
    import sqlite_utils

#: schema step 6 (db/store.py MIGRATIONS)
AUDIT_MIGRATION = [
    """CREATE TABLE alarm_acks (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL UNIQUE REFERENCES events(id) ON DELETE CASCADE,
        note TEXT NOT NULL DEFAULT '', user TEXT NOT NULL, created TEXT NOT NULL)""",
    """CREATE TABLE audit (
        id INTEGER PRIMARY KEY, created TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '', before TEXT, after TEXT)""",
    "CREATE INDEX audit_created ON audit(created, id)",
]

#: the SQL condition that makes an event (alias ``e``) an alarm
ALARM_WHERE = "(e.decision IN ('unknown', 'denied') OR e.kind = 'change')"

ALARM_KEYS = (
    "id timestamp camera identity decision reason kind previous acknowledged ack_note ack_by ack_at"
).split()
AUDIT_KEYS = "id created user action subject before after".split()


AUDIT_CSV_COLUMNS = AUDIT_KEYS  # the columns of an audit export (``audit export``, the Audit trail window)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _user(user: str | None) -> str:
    from db.store import os_user

    return user or os_user()


class AuditMixin:
    """The alarm and audit methods of :class:`db.store.Store`."""

    db: sqlite_utils.Database

    def transaction(self) -> Any:  # pragma: no cover - provided by Store
        raise NotImplementedError

    # ------------------------------------------------------------------ audit trail
    def _audit(self, action: str, subject: str, before: Any, after: Any, user: str | None = None) -> None:
        """One audit row; call it INSIDE the transaction of the change it records."""
        if not self.db.conn.in_transaction:
            raise StoreError(f"audit {action!r}: must be written inside the change's transaction")
        self.db.execute(
            "INSERT INTO audit(created, user, action, subject, before, after) VALUES (?, ?, ?, ?, ?, ?)",
            [
                _now(),
                _user(user),
                action,
                subject,
                None if before is None else json.dumps(before, ensure_ascii=False, sort_keys=True),
                None if after is None else json.dumps(after, ensure_ascii=False, sort_keys=True),
            ],
        )

    def audit(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The audit trail, oldest first (``limit``: the newest N rows), ``before``/``after`` decoded."""
        sql = "SELECT id, created, user, action, subject, before, after FROM audit ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = [dict(zip(AUDIT_KEYS, r)) for r in self.db.execute(sql).fetchall()]
        for r in rows:
            for k in ("before", "after"):
                r[k] = None if r[k] is None else json.loads(r[k])
        return rows[::-1]

    def record_threshold(self, model: str, before: float | None, after: float | None) -> None:
        """The operator moved ``model``'s match threshold (the window's slider; None: the model's default)."""
        with self.transaction():
            self._audit("threshold", model, {"threshold": before}, {"threshold": after})

    # ------------------------------------------------------------------ states the audited changes record
    def _person_state(self, name: str) -> dict[str, Any] | None:
        """A person's policy, schedule and sample count (None: not enrolled), for before/after."""
        row = self.db.execute(
            """SELECT i.policy, i.schedule, (SELECT COUNT(*) FROM samples s WHERE s.identity_id = i.id)
               FROM identities i WHERE i.name = ?""",
            [name],
        ).fetchone()
        return None if row is None else {"policy": row[0], "schedule": row[1], "samples": row[2]}

    def _audit_enroll(self, name: str, before: dict[str, Any] | None, added: int, model: str) -> None:
        """At the end of enroll's transaction: the person before (None: new) and after."""
        self._audit(
            "enroll", name, before, {**(self._person_state(name) or {}), "added": added, "model": model}
        )

    def _audit_policy(self, name: str, policy: str, schedule: str) -> None:
        """Before set_policy's UPDATE, in its transaction."""
        before = self._person_state(name)
        self._audit("policy", name, before, {**(before or {}), "policy": policy, "schedule": schedule})

    def _audit_correction(self, event_id: int, identity: str | None, note: str, user: str | None) -> None:
        """Before add_correction's INSERT, in its transaction: the identity the event had (or its newest
        correction's) and the corrected one."""
        row = self.db.execute(
            """SELECT COALESCE((SELECT identity FROM corrections WHERE event_id = e.id ORDER BY id DESC
                                LIMIT 1), e.identity) FROM events e WHERE e.id = ?""",
            [event_id],
        ).fetchone()
        before = {"event": event_id, "identity": row[0] if row else None}
        self._audit(
            "correction", f"event {event_id}", before, {**before, "identity": identity, "note": note}, user
        )

    def _audit_calibration(self, model: str, target_far: float, threshold: float, far: Any, frr: Any) -> None:
        """Before save_calibration's INSERT, in its transaction: the calibration in force and the new one."""
        keys = ("target_far", "threshold", "far", "frr")
        row = self.db.execute(
            "SELECT target_far, threshold, far, frr FROM calibrations WHERE model = ? ORDER BY id DESC LIMIT 1",
            [model],
        ).fetchone()
        after = dict(zip(keys, (target_far, threshold, far, frr)))
        self._audit("calibration", model, dict(zip(keys, row)) if row else None, after)

    def corrections(self, event_id: int | None = None) -> list[dict[str, Any]]:
        """Operator corrections ("this is not X"), oldest first; of one event when ``event_id`` is given."""
        sql = "SELECT id, event_id, identity, note, user, created FROM corrections"
        args: list[Any] = []
        if event_id is not None:
            sql += " WHERE event_id = ?"
            args.append(event_id)
        cur = self.db.execute(sql + " ORDER BY id", args)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    # ------------------------------------------------------------------ alarms
    def alarms(self, open_only: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
        """Alarm events, oldest first (``limit``: the newest N), each with its acknowledgement (or None)."""
        sql = f"""SELECT e.id, e.timestamp, e.camera, e.identity, e.decision, e.reason, e.kind, e.previous,
                         a.id IS NOT NULL, a.note, a.user, a.created
                  FROM events e LEFT JOIN alarm_acks a ON a.event_id = e.id WHERE {ALARM_WHERE}"""
        if open_only:
            sql += " AND a.id IS NULL"
        sql += " ORDER BY e.timestamp DESC, e.id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = [dict(zip(ALARM_KEYS, r)) for r in self.db.execute(sql).fetchall()]
        for r in rows:
            r["acknowledged"] = bool(r["acknowledged"])
        return rows[::-1]

    def event_thumbnails(self, event_ids: list[int]) -> dict[int, bytes]:
        """The stored face thumbnails (JPEG) of events ``event_ids`` that have one."""
        out: dict[int, bytes] = {}
        ids = [int(i) for i in event_ids]
        for k in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[k : k + 500]
            marks = ",".join("?" * len(chunk))
            for eid, jpeg in self.db.execute(
                f"SELECT id, thumbnail FROM events WHERE id IN ({marks}) AND thumbnail IS NOT NULL", chunk
            ).fetchall():
                if jpeg:
                    out[int(eid)] = bytes(jpeg)
        return out

    def open_alarm_count(self) -> int:
        row = self.db.execute(
            f"""SELECT COUNT(*) FROM events e WHERE {ALARM_WHERE}
                AND NOT EXISTS (SELECT 1 FROM alarm_acks a WHERE a.event_id = e.id)"""
        ).fetchone()
        return int(row[0])

    def ack_alarm(self, event_id: int, note: str = "", user: str | None = None) -> dict[str, Any]:
        """Acknowledge alarm ``event_id`` (with ``note``; ``user`` defaults to the OS user). Returns the
        acknowledgement in force ({event_id, note, user, created, already}); ``already`` True: it had been
        acknowledged before, and that first acknowledgement is kept unchanged."""
        user = _user(user)
        with self.transaction():
            row = self.db.execute(
                f"""SELECT {ALARM_WHERE}, a.note, a.user, a.created FROM events e
                    LEFT JOIN alarm_acks a ON a.event_id = e.id WHERE e.id = ?""",
                [event_id],
            ).fetchone()
            if row is None:
                raise StoreError(f"no event with id {event_id}")
            if not row[0]:
                raise StoreError(
                    f"event {event_id} is not an alarm (only unknown, denied and change events are)"
                )
            if row[3] is not None:
                return {
                    "event_id": event_id,
                    "note": row[1],
                    "user": row[2],
                    "created": row[3],
                    "already": True,
                }
            created = _now()
            self.db.execute(
                "INSERT INTO alarm_acks(event_id, note, user, created) VALUES (?, ?, ?, ?)",
                [event_id, note, user, created],
            )
            self._audit("ack", f"event {event_id}", None, {"event": event_id, "note": note}, user)
        return {"event_id": event_id, "note": note, "user": user, "created": created, "already": False}


# ---------------------------------------------------------------------------------- rendering, export
def safe_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ would make it a formula (names and notes
    are the operator's input)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def write_audit_csv(rows: list[dict[str, Any]], path: str | Path) -> int:
    """Write audit rows (:meth:`AuditMixin.audit`) to ``path`` as CSV, ``before``/``after`` as JSON, every
    text cell formula-safe; returns the rows written. A file that cannot be written: StoreError."""
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(AUDIT_CSV_COLUMNS)
            for r in rows:
                w.writerow(
                    [r["id"], r["created"]]
                    + [safe_cell(str(r[k] or "")) for k in ("user", "action", "subject")]
                    + [
                        safe_cell(json.dumps(r[k], ensure_ascii=False, sort_keys=True))
                        for k in ("before", "after")
                    ]
                )
    except OSError as err:
        raise StoreError(f"audit export {path}: cannot write it ({err.strerror or err})") from None
    return len(rows)


def _value(v: Any) -> str:
    if v is None or v == "":
        return "–"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def describe_change(action: str, before: Any, after: Any) -> str:
    """An audit row's before → after for a reader: ``threshold 1.00 → 0.92``, ``policy allowed → denied``,
    ``new: policy allowed, samples 3``; keys that did not change are left out."""
    if action == "threshold":
        b = (before or {}).get("threshold")
        a = (after or {}).get("threshold")
        return f"threshold {_value(b) if b is not None else 'default'} → {_value(a) if a is not None else 'default'}"
    if action == "ack":
        note = (after or {}).get("note") or ""
        return f"acknowledged{f': {note}' if note else ''}"
    if not isinstance(before, dict) or not isinstance(after, dict):
        if before is None and isinstance(after, dict):
            return "new: " + ", ".join(
                f"{k} {_value(v)}" for k, v in sorted(after.items()) if v not in ("", None)
            )
        if after is None and isinstance(before, dict):
            kept = ", ".join(f"{k} {_value(v)}" for k, v in sorted(before.items()) if v not in ("", None))
            return f"removed (was {kept})"
        return f"{_value(before)} → {_value(after)}"
    changed = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    if not changed:
        return "no change"
    return ", ".join(
        f"{k} {_value(after[k])}"
        if k not in before
        else f"{k} {_value(before.get(k))} → {_value(after.get(k))}"
        for k in changed
    )
