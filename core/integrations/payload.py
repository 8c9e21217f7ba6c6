"""What a delivery carries: the event's JSON (built once, when the event is stored), its signature and
its MQTT topic."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

#: the payload's format; a receiver can check it and a later FaceGate can add fields
PAYLOAD_VERSION = 1
SIGNATURE_HEADER = "X-FaceGate-Signature"
TIMESTAMP_HEADER = "X-FaceGate-Timestamp"
EVENT_HEADER = "X-FaceGate-Event"
_TOPIC_UNSAFE = re.compile(r"[/+#\x00-\x1f]")


def event_payload(row: dict[str, Any], door: str | None = None) -> str:
    """The JSON body of one access event (an ``events`` row): compact, keys sorted, UTF-8 as-is."""
    distance = row.get("distance")
    body = {
        "version": PAYLOAD_VERSION,
        "event_id": int(row["id"]),
        "time": row.get("timestamp") or "",  # ISO-8601 UTC, e.g. 2026-01-31T12:00:00.123+00:00
        "camera": row.get("camera") or "",
        "door": door,
        "identity": row.get("identity"),  # None: nobody enrolled
        "decision": row.get("decision"),  # granted | denied | unknown
        "reason": row.get("reason") or "",
        "kind": row.get("kind") or "decision",  # or "change": a decided track's identity changed
        "previous": row.get("previous"),
        "distance": None if distance is None else round(float(distance), 4),
        "session": row.get("session_id"),
        "track": row.get("track"),
        "frame": row.get("frame"),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def signed_body(payload: str, sent_at: int) -> bytes:
    """The body of one try: the stored event JSON with ``sent_at`` (unix seconds of this try) added, so
    a receiver can refuse a replayed old request by its age; the signature covers it."""
    body = json.loads(payload)
    body["sent_at"] = int(sent_at)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes, keyed with the UTF-8 ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (the tests use it too): compare in constant time."""
    return hmac.compare_digest(signature(secret, body), header or "")


def topic(prefix: str, payload: dict[str, Any]) -> str:
    """``<prefix>/<camera>/<decision>``; characters MQTT gives a meaning in a topic level ('/', '+', '#')
    in a camera name become '_' (a camera named after a file path stays one level)."""
    camera = _TOPIC_UNSAFE.sub("_", str(payload.get("camera") or "")) or "camera"
    decision = _TOPIC_UNSAFE.sub("_", str(payload.get("decision") or "")) or "unknown"
    return f"{prefix}/{camera}/{decision}"
