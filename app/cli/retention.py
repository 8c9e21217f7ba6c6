"""``backup``, ``restore`` and ``retention apply``: the identity store's copies and its retention periods."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli.common import print_error, print_line
from app.cli.context import Context


def add_retention_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "backup",
        parents=[common],
        help="copy the identity store to OUT.db (consistent while a run writes to it)",
    )
    p.add_argument("out", metavar="OUT.db")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser(
        "restore",
        parents=[common],
        help="replace the identity store by a backup (the replaced file is kept beside it)",
    )
    p.add_argument("src", metavar="IN.db")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_restore)
    p = sub.add_parser(
        "retention",
        parents=[common],
        help="apply: remove frames, events and face snapshots older than the retention periods",
        description="apply: the periods are FACEGATE_RETENTION_FRAMES_DAYS, _EVENTS_DAYS and _SNAPSHOTS_DAYS "
        "(0: keep forever) unless given here",
    )
    p.add_argument("action", choices=["apply"])
    p.add_argument("--frames-days", type=float, help="frame rows of sessions that ended this many days ago")
    p.add_argument("--events-days", type=float, help="events older than this many days")
    p.add_argument("--snapshots-days", type=float, help="face snapshots of events older than this many days")
    p.set_defaults(func=cmd_retention)


def cmd_backup(ctx: Context, args: argparse.Namespace) -> int:
    out = ctx.store.backup(args.out)
    print_line(f"backed up {ctx.db_path} to {out}")
    return 0


def cmd_restore(ctx: Context, args: argparse.Namespace) -> int:
    from db.retention import check_backup, restore

    check_backup(args.src)  # before asking: a file that is no backup is refused at once
    if not args.yes:
        if not sys.stdin.isatty():
            print_error(f"restore replaces {ctx.db_path}; add --yes to do it without asking")
            return 2
        answer = input(f"Replace {ctx.db_path} by {args.src}? The current file is kept beside it. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print_line("nothing restored")
            return 1
    kept = restore(args.src, ctx.db_path)
    print_line(
        f"restored {ctx.db_path} from {args.src}"
        + (f"; the replaced store is kept as {kept}" if kept else "")
    )
    return 0


def cmd_retention(ctx: Context, args: argparse.Namespace) -> int:
    from db.retention import retention_summary

    cfg = ctx.config.replace(
        retention={
            "frames_days": args.frames_days,
            "events_days": args.events_days,
            "snapshots_days": args.snapshots_days,
        }
    ).retention
    if not (cfg.frames_days or cfg.events_days or cfg.snapshots_days):
        print_line("no retention period set (0 keeps forever): nothing removed")
        return 0
    counts = ctx.store.apply_retention(cfg.frames_days, cfg.events_days, cfg.snapshots_days)
    print_line(f"retention: {retention_summary(counts) or 'nothing older to remove'} in {ctx.db_path}")
    return 0
