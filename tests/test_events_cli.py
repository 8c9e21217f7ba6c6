"""``events list``: the access log searched by time range, person, decision and camera (issue 13's CLI)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def log_db(tmp_path: Path) -> Path:
    """A real store with six events on two cameras over two days (times in UTC)."""
    from db.store import Store

    store = Store(tmp_path / "log.db")
    sid = store.start_session("front.avi", cameras=[("front", "front.avi"), ("back", "back.avi")])
    for i, (ts, cam, who, decision, reason) in enumerate(
        [
            ("2026-12-01T07:59:59.000+00:00", "front", "ann", "granted", "matched"),
            ("2026-12-01T08:00:00.000+00:00", "back", "eve", "denied", "policy"),
            ("2026-12-01T12:30:00.000+00:00", "front", None, "unknown", "no-match"),
            ("2026-12-02T09:00:00.000+00:00", "front", "eve", "denied", "door"),
            ("2026-12-02T09:00:01.000+00:00", "back", "ann", "granted", "matched"),
            ("2026-12-02T18:00:00.000+00:00", "back", "bob", "denied", "schedule"),
        ]
    ):
        store.add_event(sid, ts, i, who, 0.5, decision, camera=cam, reason=reason, frame=i, observations=3)
    store.end_session(sid)
    return tmp_path / "log.db"


def _json(run_cli: Any, db: Path, *args: str) -> list[dict[str, Any]]:
    code, out, err = run_cli("--db", db, "events", "list", "--json", *args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_events_are_found_by_time_person_decision_and_camera(log_db: Path, run_cli: Any) -> None:
    everything = _json(run_cli, log_db)
    assert [e["track"] for e in everything] == [0, 1, 2, 3, 4, 5]  # oldest first
    assert set(everything[0]) >= {
        "timestamp",
        "camera",
        "track",
        "identity",
        "distance",
        "decision",
        "reason",
    }
    # "last Tuesday's denied events at the front door"
    got = _json(
        run_cli, log_db, "--since", "2026-12-02T00:00+00:00", "--until", "2026-12-03T00:00+00:00",
        "--decision", "denied", "--camera", "front",
    )  # fmt: skip
    assert [(e["identity"], e["reason"]) for e in got] == [("eve", "door")]
    # --since is inclusive, --until exclusive, to the millisecond
    assert [e["track"] for e in _json(run_cli, log_db, "--until", "2026-12-01T08:00:00+00:00")] == [0]
    assert [e["track"] for e in _json(run_cli, log_db, "--since", "2026-12-01T08:00:00+00:00")][0] == 1
    assert [e["track"] for e in _json(run_cli, log_db, "--person", "ann")] == [0, 4]
    assert [e["track"] for e in _json(run_cli, log_db, "--decision", "unknown")] == [2]
    assert [e["track"] for e in _json(run_cli, log_db, "--limit", "2")] == [4, 5]  # the newest two
    # a time without a zone is local time: the same instant written in UTC finds the same events
    utc = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.timezone.utc)
    stamp = utc.astimezone().replace(tzinfo=None).isoformat()
    assert [e["track"] for e in _json(run_cli, log_db, "--since", stamp)] == [3, 4, 5]


def test_the_text_listing_and_bad_filters(log_db: Path, run_cli: Any) -> None:
    code, out, _ = run_cli("--db", log_db, "events", "list", "--camera", "back")
    assert code == 0 and len(out.splitlines()) == 3 and "eve" in out and "policy" in out
    code, out, _ = run_cli("--db", log_db, "events", "list", "--person", "nobody")
    assert code == 0 and out.startswith("no events match")
    code, _, err = run_cli("--db", log_db, "events", "list", "--since", "last tuesday")
    assert code == 1 and err.strip().startswith("error: --since 'last tuesday': not an ISO-8601 date or time")
