"""``events list``: the access log, searched by time, person, decision and camera (scriptable)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli.common import print_line, printable
from app.cli.context import Context


def add_events_command(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "events",
        parents=[common],
        help="list the access log: --since/--until, --person, --decision, --camera, --open/--acknowledged",
        description="list: access events, oldest first; ISO-8601 dates or times without a zone are local time",
    )
    p.add_argument("action", choices=["list"])
    p.add_argument(
        "--since", metavar="ISO", help="from this date or time (e.g. 2026-12-01 or 2026-12-01T08:00)"
    )
    p.add_argument("--until", metavar="ISO", help="before this date or time")
    p.add_argument("--person", metavar="NAME", help="only this person (the name as logged)")
    p.add_argument("--decision", choices=["granted", "denied", "unknown"], help="only this decision")
    p.add_argument("--camera", metavar="C", help="only this camera")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--open", action="store_true", help="only alarms not yet acknowledged")
    state.add_argument("--acknowledged", action="store_true", help="only acknowledged alarms")
    p.add_argument("--limit", type=int, default=0, help="only the newest N (default: all)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_events)


def cmd_events(ctx: Context, args: argparse.Namespace) -> int:
    rows = ctx.store.find_events(
        since=args.since,
        until=args.until,
        person=args.person,
        decision=args.decision,
        camera=args.camera,
        limit=args.limit or None,
        acknowledged=True if args.acknowledged else (False if args.open else None),
    )
    if args.json:
        for r in rows:
            print_line(json.dumps(r, ensure_ascii=False))
        return 0
    if not rows:
        print_line(f"no events match in {ctx.db_path}")
    for r in rows:
        dist = "" if r["distance"] is None else f"{r['distance']:.2f}"
        change = f" (was {printable(r['previous'] or 'unknown')})" if r["kind"] == "change" else ""
        alarm = (" alarm acknowledged" if r["acknowledged"] else " alarm OPEN") if r["alarm"] else ""
        print_line(
            f"{r['timestamp']}  {printable(r['camera'] or '-'):<10} #{r['track']!s:<4} "
            f"{printable(r['identity'] or 'unknown'):<20} {r['decision']:<8} {r['reason']:<14} {dist:>5}{change}"
            f"{alarm}"
        )
    return 0
