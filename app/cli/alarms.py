"""``alarms list / ack`` and ``audit list / export``: open alarms and the audit trail (issue 13, db/audit.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli.common import check_output_file, count_arg, print_line, printable
from app.cli.context import Context
from core.errors import FaceGateError
from db.audit import describe_change, write_audit_csv


def _positive_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an event id (a whole number), not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an event id >= 1, not {value}")
    return value


def add_alarms_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "alarms",
        parents=[common],
        help="unknown, denied and tailgating events: list them, acknowledge one",
        description="list: alarm events (unknown, denied, identity changed), oldest first, with their "
        "acknowledgement; ack ID [--note TEXT]: acknowledge one (the first acknowledgement is kept)",
    )
    p.add_argument("action", choices=["list", "ack"])
    p.add_argument("id", nargs="?", type=_positive_id, metavar="ID", help="ack: the alarm's event id")
    p.add_argument("--open", action="store_true", help="list: only the unacknowledged ones")
    p.add_argument("--note", default="", metavar="TEXT", help="ack: a note kept with the acknowledgement")
    p.add_argument("--limit", type=count_arg, default=0, help="list: only the newest N (default: all)")
    p.add_argument("--json", action="store_true", help="list: one JSON object per line")
    p.set_defaults(func=cmd_alarms)

    p = sub.add_parser(
        "audit",
        parents=[common],
        help="the audit trail: who changed what (people, policies, doors, thresholds, acknowledgements)",
        description="list: the audit trail, oldest first; export OUT.csv: all of it as CSV",
    )
    p.add_argument("action", choices=["list", "export"])
    p.add_argument("out", nargs="?", metavar="OUT.csv", help="export: the CSV file to write")
    p.add_argument("--limit", type=count_arg, default=0, help="list: only the newest N rows (default: all)")
    p.add_argument("--json", action="store_true", help="list: one JSON object per line")
    p.set_defaults(func=cmd_audit)


def cmd_alarms(ctx: Context, args: argparse.Namespace) -> int:
    if args.action == "ack":
        if args.id is None:
            raise FaceGateError("alarms ack needs the alarm's event id, e.g. alarms ack 12 --note 'visitor'")
        ack = ctx.store.ack_alarm(args.id, args.note)
        if ack["already"]:
            print_line(
                printable(
                    f"alarm {args.id} was already acknowledged by {ack['user']} at {ack['created']}"
                    + (f" ({ack['note']})" if ack["note"] else "")
                    + "; that acknowledgement is kept"
                )
            )
        else:
            print_line(f"alarm {args.id} acknowledged; {ctx.store.open_alarm_count()} open alarms left")
        return 0
    if args.id is not None:
        raise FaceGateError("alarms list takes no ID (alarms ack ID acknowledges one)")
    rows = ctx.store.alarms(open_only=args.open, limit=args.limit or None)
    if args.json:
        for r in rows:
            print_line(json.dumps(r, ensure_ascii=False))
        return 0
    for r in rows:
        what = r["decision"] if r["kind"] != "change" else f"changed (was {r['previous'] or 'unknown'})"
        state = (
            f"acknowledged by {r['ack_by']} at {r['ack_at']}"
            + (f": {r['ack_note']}" if r["ack_note"] else "")
            if r["acknowledged"]
            else "OPEN"
        )
        print_line(
            printable(
                f"{r['id']:6d} {r['timestamp']}  {r['camera'] or '-':<10} {r['identity'] or 'unknown':<20} "
                f"{what:<8} {r['reason']:<14} {state}"
            )
        )
    print_line(f"{ctx.store.open_alarm_count()} open alarms in {ctx.db_path}")
    return 0


def cmd_audit(ctx: Context, args: argparse.Namespace) -> int:
    if args.action == "export":
        if not args.out:
            raise FaceGateError("audit export needs the CSV file to write, e.g. audit export audit.csv")
        check_output_file(args.out, "audit export")
        n = write_audit_csv(ctx.store.audit(), args.out)
        print_line(printable(f"{n} audit rows written to {args.out}"))
        return 0
    if args.out is not None:
        raise FaceGateError("audit list takes no file (audit export OUT.csv writes one)")
    rows = ctx.store.audit(limit=args.limit or None)
    if args.json:
        for r in rows:
            print_line(json.dumps(r, ensure_ascii=False))
        return 0
    if not rows:
        print_line(f"the audit trail of {ctx.db_path} is empty")
    for r in rows:  # what changed in words, as the window shows it (--json and export keep the JSON)
        change = describe_change(r["action"], r["before"], r["after"])
        print_line(
            printable(
                f"{r['id']:6d} {r['created']} {r['user']:<10} {r['action']:<12} {r['subject']}: {change}"
            )
        )
    return 0
