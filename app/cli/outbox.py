"""``run``'s integration options and the ``outbox`` command (list / retry deliveries)."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
from typing import Any

from app.cli.common import print_line, printable
from app.cli.context import Context


def add_run_options(p: argparse.ArgumentParser) -> None:
    """``run --webhook URL --webhook-secret-file F --mqtt HOST[:PORT] ...`` (README "Integrations")."""
    g = p.add_argument_group(
        "integrations (each also FACEGATE_INTEGRATIONS_<NAME>): every decision, delivered through the outbox"
    )
    g.add_argument("--webhook", action="append", metavar="URL", help="POST each event here (repeatable)")
    g.add_argument(
        "--webhook-secret-file", metavar="FILE", help="the HMAC secret the webhooks are signed with"
    )
    g.add_argument(
        "--webhook-insecure-http",
        action="store_true",
        help="allow a plain http:// webhook on a host other than this machine",
    )
    g.add_argument("--mqtt", metavar="HOST[:PORT]", help="publish each event to this MQTT broker (QoS 1)")
    g.add_argument(
        "--mqtt-topic", metavar="PREFIX", help="topics are PREFIX/CAMERA/DECISION (default facegate)"
    )
    g.add_argument("--mqtt-tls", action="store_true", help="connect to the broker with TLS (port 8883)")
    g.add_argument("--mqtt-ca-cert", metavar="PEM", help="CA certificate for --mqtt-tls")
    g.add_argument("--mqtt-username", help="broker user name")
    g.add_argument("--mqtt-password-file", metavar="FILE", help="file holding the broker password")


def add_outbox_command(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "outbox",
        parents=[common],
        help="deliveries to webhooks and MQTT: list them, retry failed ones",
        description="list: the newest deliveries and their state; retry [ID ...]: make failed ones pending "
        "again (all of them without IDs); the next run delivers them",
    )
    p.add_argument("action", choices=["list", "retry"])
    p.add_argument("ids", nargs="*", type=int, metavar="ID")
    p.add_argument("--state", choices=["pending", "delivered", "failed"], help="list: only these")
    p.add_argument("--limit", type=int, default=50, help="list: the newest N rows (default 50; 0: all)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_outbox)


def cmd_outbox(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.store
    if args.action == "retry":
        n = store.outbox_retry(args.ids)
        print_line(f"{n} failed deliveries pending again; the next run with their targets delivers them")
        return 0
    rows = store.outbox(state=args.state, limit=args.limit or None)
    if args.json:
        for r in rows:
            r["payload"] = json.loads(r["payload"])
            print_line(json.dumps(r))
        return 0
    counts = store.outbox_counts()
    for target, by_state in counts.items():
        print_line(printable(f"{target}: " + ", ".join(f"{n} {s}" for s, n in by_state.items())))
    for r in rows:
        event = json.loads(r["payload"])
        when = ""
        if r["state"] == "pending" and r["next_attempt_at"]:
            when = ", next at " + _dt.datetime.fromtimestamp(r["next_attempt_at"]).strftime("%H:%M:%S")
        error = f" ({r['last_error']})" if r["last_error"] else ""
        print_line(
            printable(
                f"{r['id']:6d} event {r['event_id']} {event.get('camera')}/{event.get('decision')} "
                f"-> {r['target']}: {r['state']}, {r['attempts']} tr{'y' if r['attempts'] == 1 else 'ies'}{when}{error}"
            )
        )
    if not counts:
        print_line("the outbox is empty (run --webhook URL / --mqtt HOST to deliver events)")
    return 0
