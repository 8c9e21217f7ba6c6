"""Searching the access log: events by time range, person, decision and camera (``events list``)."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from core.errors import StoreError

if TYPE_CHECKING:
    import sqlite_utils

DECISIONS = ("granted", "denied", "unknown")


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

    def find_events(
        self,
        since: str | None = None,
        until: str | None = None,
        person: str | None = None,
        decision: str | None = None,
        camera: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Events, oldest first, from ``since`` (inclusive) to ``until`` (exclusive), ISO-8601 (see
        :func:`iso_time`), of ``person`` (their name as logged), ``decision`` and ``camera``; ``limit``: the
        newest N of them. Each has the event's columns as :meth:`Store.events` gives them."""
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
        sql = """SELECT e.id, e.timestamp, e.session_id, e.camera, e.track, e.identity, e.distance, e.decision,
                        e.reason, e.kind, e.previous, e.frame, e.observations
                 FROM events e"""
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY e.timestamp DESC, e.id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        keys = "id timestamp session camera track identity distance decision reason kind previous frame observations"
        rows = [dict(zip(keys.split(), r)) for r in self.db.execute(sql, args).fetchall()]
        return rows[::-1]
