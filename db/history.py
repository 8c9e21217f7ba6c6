"""Searching the access log: events by time range, person, decision, camera and alarm state (``events
list``, the window's event history), one event's detail, and the filtered events as CSV.

Schema step 7 adds ``events.snapshot`` (a JPEG of the whole frame the decision was made on, at most
640 px wide, the decided face boxed; written by core/engine.py) and an index on the events' time.
"""

from __future__ import annotations

import csv
import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import StoreError
from db.audit import ALARM_WHERE, safe_cell

if TYPE_CHECKING:
    import sqlite_utils

DECISIONS = ("granted", "denied", "unknown")

#: schema step 7 (db/store.py MIGRATIONS)
HISTORY_MIGRATION = [
    "ALTER TABLE events ADD COLUMN snapshot BLOB",
    "CREATE INDEX events_timestamp ON events(timestamp)",
    "CREATE INDEX events_camera ON events(camera, timestamp)",
]
#: schema 8: the threshold the decision was made with (a later calibration must not rewrite the log)
THRESHOLD_MIGRATION = ["ALTER TABLE events ADD COLUMN threshold REAL"]

#: what :meth:`HistoryMixin.find_events` gives per event, in order (the ``events list --json`` keys and
#: the history export's columns)
EVENT_KEYS = (
    "id timestamp session camera track identity distance decision reason kind previous frame observations "
    "alarm acknowledged ack_note ack_by ack_at threshold"
).split()


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ would make it a formula (names and notes
    are the operator's input); numbers and None pass unchanged."""
    return safe_cell(value) if isinstance(value, str) else value


def write_events_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> int:
    """``rows`` (as :meth:`HistoryMixin.find_events` gives them) to the CSV file ``path``, one row each
    with the :data:`EVENT_KEYS` columns; returns the rows written. A one-line StoreError when it cannot."""
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(EVENT_KEYS)
            for r in rows:
                w.writerow([csv_cell(r.get(k)) for k in EVENT_KEYS])
    except OSError as err:
        raise StoreError(f"{path}: cannot write the export ({err.strerror or err})") from None
    return len(rows)


def iso_time(text: str, option: str) -> str:
    """A user's ISO-8601 date or time -> the UTC form events are stored in, for comparing as text.
    A date or a time without a zone is local time; one line naming ``option`` when it cannot be read."""
    try:
        when = _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise StoreError(
            f"{option} {text!r}: not an ISO-8601 date or time, e.g. 2026-12-01 or 2026-12-01T08:00"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # local time, as an operator means it
    return when.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds")


class HistoryMixin:
    """The log-search methods of :class:`db.store.Store`."""

    db: sqlite_utils.Database

    if TYPE_CHECKING:  # provided by AuditMixin and Store

        def corrections(self, event_id: int | None = None) -> list[dict[str, Any]]: ...

        def calibration(self, model: str) -> dict[str, Any] | None: ...

    def find_events(
        self,
        since: str | None = None,
        until: str | None = None,
        person: str | None = None,
        decision: str | None = None,
        camera: str | None = None,
        limit: int | None = None,
        acknowledged: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Events, oldest first, from ``since`` (inclusive) to ``until`` (exclusive), ISO-8601 (see
        :func:`iso_time`), of ``person`` (their name as logged), ``decision`` and ``camera``; ``acknowledged``
        True: only acknowledged alarms, False: only open ones (None: every event); ``limit``: the newest N.
        Each has the :data:`EVENT_KEYS`: ``alarm`` (unknown, denied or change: db/audit.py), ``acknowledged``
        and the acknowledgement's ``ack_note``, ``ack_by``, ``ack_at`` (None while open)."""
        where, args = [], []
        if since:
            where.append("e.timestamp >= ?")
            args.append(iso_time(since, "--since"))
        if until:
            where.append("e.timestamp < ?")
            args.append(iso_time(until, "--until"))
        if person:
            where.append("e.identity = ?")
            args.append(person)
        if decision:
            if decision not in DECISIONS:
                raise StoreError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
            where.append("e.decision = ?")
            args.append(decision)
        if camera:
            where.append("e.camera = ?")
            args.append(camera)
        if acknowledged is not None:
            where.append(f"{ALARM_WHERE} AND a.id IS {'NOT ' if acknowledged else ''}NULL")
        sql = f"""SELECT e.id, e.timestamp, e.session_id, e.camera, e.track, e.identity, e.distance, e.decision,
                         e.reason, e.kind, e.previous, e.frame, e.observations, {ALARM_WHERE}, a.id IS NOT NULL,
                         a.note, a.user, a.created, e.threshold
                  FROM events e LEFT JOIN alarm_acks a ON a.event_id = e.id"""
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY e.timestamp DESC, e.id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = [dict(zip(EVENT_KEYS, r)) for r in self.db.execute(sql, args).fetchall()]
        for r in rows:
            r["alarm"], r["acknowledged"] = bool(r["alarm"]), bool(r["acknowledged"])
        return rows[::-1]

    def event_names(self) -> dict[str, list[str]]:
        """The people (names as logged) and cameras that occur in events, sorted: the history's choices."""
        people = self.db.execute(
            "SELECT DISTINCT identity FROM events WHERE identity IS NOT NULL ORDER BY identity"
        ).fetchall()
        cameras = self.db.execute("SELECT DISTINCT camera FROM events WHERE camera != '' ORDER BY camera")
        return {"people": [r[0] for r in people], "cameras": [r[0] for r in cameras.fetchall()]}

    def event_detail(self, event_id: int) -> dict[str, Any]:
        """One event for the history's detail pane: its :data:`EVENT_KEYS`, ``thumbnail`` (the face crop
        JPEG), ``snapshot`` (the frame JPEG; None when never stored or removed by retention), ``corrections``
        (oldest first), ``enrolled_photo`` (the first stored sample crop of the person it was recognised
        as; None for a stranger or someone removed since), ``threshold`` (the one the decision was made with;
        for events older than schema 8 the calibrated threshold of the session's recognizer now, None when not
        calibrated) and ``threshold_source`` ("decision", "calibration" or None)."""
        row = self.db.execute(
            f"""SELECT e.id, e.timestamp, e.session_id, e.camera, e.track, e.identity, e.distance, e.decision,
                       e.reason, e.kind, e.previous, e.frame, e.observations, {ALARM_WHERE}, a.id IS NOT NULL,
                       a.note, a.user, a.created, e.threshold, e.thumbnail, e.snapshot, s.recognizer
                FROM events e LEFT JOIN alarm_acks a ON a.event_id = e.id
                LEFT JOIN sessions s ON s.id = e.session_id WHERE e.id = ?""",
            [event_id],
        ).fetchone()
        if row is None:
            raise StoreError(f"no event with id {event_id}")
        out = dict(zip(EVENT_KEYS, row))
        out["alarm"], out["acknowledged"] = bool(out["alarm"]), bool(out["acknowledged"])
        out["thumbnail"], out["snapshot"], out["recognizer"] = row[-3] or None, row[-2] or None, row[-1]
        out["corrections"] = self.corrections(event_id)
        photo = None
        if out["identity"]:
            first = self.db.execute(
                """SELECT s.crop FROM samples s JOIN identities i ON i.id = s.identity_id
                   WHERE i.name = ? AND s.crop IS NOT NULL ORDER BY s.id LIMIT 1""",
                [out["identity"]],
            ).fetchone()
            photo = first[0] if first else None
        out["enrolled_photo"] = photo
        out["threshold_source"] = "decision" if out["threshold"] is not None else None
        if out["threshold"] is None and out["recognizer"]:  # logged before schema 8; "model:runtime"
            cal = self.calibration(out["recognizer"].split(":")[0])
            if cal:
                out["threshold"], out["threshold_source"] = cal["threshold"], "calibration"
        return out
