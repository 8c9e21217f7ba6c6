"""Doors: which camera watches which door, and who may pass that door, and when.

A person's own policy (``identities.policy``: allowed, denied, on a schedule) is checked first, at every
door; a door can then narrow it, never widen it:

- ``door_access`` holds a per-door rule for a person: ``allowed``, ``denied`` or ``schedule`` (with the
  same schedule syntax as a person's policy, e.g. ``mon-fri 08:00-18:00``);
- a door marked ``only_listed`` lets in only the people who have an ``allowed`` (or in-schedule)
  rule for it; any other door lets in everyone their own policy lets in.

A camera with no door (or a run without camera names) is decided by the person's policy alone.
Reasons a door adds to an event: ``door`` (not allowed at this door) and ``door-schedule`` (allowed at
this door, but not now).
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import TYPE_CHECKING, Any

from core.errors import StoreError

if TYPE_CHECKING:
    import sqlite_utils

#: a camera or door name: what ``run --source NAME=SRC`` and ``doors`` accept
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,47}$")


def check_name(kind: str, name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise StoreError(
            f"{kind} name {name!r}: 1-48 letters, digits, spaces, '_', '.', '-', starting with a letter or digit"
        )
    return name


class DoorsMixin:
    """The door methods of :class:`db.store.Store` (kept here to keep store.py readable)."""

    db: sqlite_utils.Database

    def transaction(self) -> Any:  # pragma: no cover - provided by Store
        raise NotImplementedError

    def identity_id(self, name: str) -> int | None:  # pragma: no cover - provided by Store
        raise NotImplementedError

    if TYPE_CHECKING:  # provided by AuditMixin (db/audit.py); no runtime stub that could shadow it

        def _audit(
            self, action: str, subject: str, before: Any, after: Any, user: str | None = None
        ) -> None: ...

    def _camera_state(self, camera: str) -> dict[str, Any]:
        door = self.door_of(camera)
        row = (
            self.db.execute("SELECT only_listed FROM doors WHERE name = ?", [door]).fetchone()
            if door
            else None
        )
        return {"door": door, "only_listed": bool(row[0]) if row else None}

    def _rule_state(self, door: str, ident: int) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT policy, schedule FROM door_access WHERE door = ? AND identity_id = ?", [door, ident]
        ).fetchone()
        return {"policy": row[0], "schedule": row[1]} if row else None

    # ------------------------------------------------------------------ set up
    def set_door(self, camera: str, door: str | None, only_listed: bool | None = None) -> None:
        """Camera ``camera`` watches ``door`` (created if new); ``door`` None: the camera watches no door.
        ``only_listed`` (when given) sets the door's rule for people without a rule of their own."""
        camera = check_name("camera", camera)
        if door is not None:
            door = check_name("door", door)
        with self.transaction():
            before = self._camera_state(camera)
            if door is None:
                self.db.execute("DELETE FROM camera_doors WHERE camera = ?", [camera])
            else:
                self.db.execute("INSERT OR IGNORE INTO doors(name, only_listed) VALUES (?, 0)", [door])
                if only_listed is not None:
                    self.db.execute(
                        "UPDATE doors SET only_listed = ? WHERE name = ?", [int(only_listed), door]
                    )
                self.db.execute(
                    "INSERT OR REPLACE INTO camera_doors(camera, door) VALUES (?, ?)", [camera, door]
                )
            self._audit("door", f"camera {camera}", before, self._camera_state(camera))

    def set_door_rule(self, door: str, name: str, policy: str | None, schedule: str = "") -> None:
        """``name`` at ``door``: ``allowed``, ``denied`` or ``schedule``; None removes their rule."""
        from db.store import check_policy

        door = check_name("door", door)
        if not self.door_exists(door):
            raise StoreError(
                f"no door named {door!r}; give a camera that door first (doors set CAMERA {door!r})"
            )
        ident = self.identity_id(name)
        if ident is None:
            raise StoreError(f"no enrolled person named {name!r}")
        if policy is not None:
            check_policy(policy, schedule)
        with self.transaction():
            before = self._rule_state(door, ident)
            if policy is None:
                self.db.execute("DELETE FROM door_access WHERE door = ? AND identity_id = ?", [door, ident])
            else:
                self.db.execute(
                    "INSERT OR REPLACE INTO door_access(door, identity_id, policy, schedule) VALUES (?, ?, ?, ?)",
                    [door, ident, policy, schedule if policy == "schedule" else ""],
                )
            self._audit("door rule", f"{name} at {door}", before, self._rule_state(door, ident))

    def remove_door(self, door: str) -> None:
        door = check_name("door", door)
        if not self.door_exists(door):
            raise StoreError(f"no door named {door!r}")
        with self.transaction():
            self._audit("remove door", door, next(d for d in self.doors() if d["name"] == door), None)
            self.db.execute("DELETE FROM door_access WHERE door = ?", [door])
            self.db.execute("DELETE FROM camera_doors WHERE door = ?", [door])
            self.db.execute("DELETE FROM doors WHERE name = ?", [door])

    # ------------------------------------------------------------------ read
    def door_exists(self, door: str) -> bool:
        return self.db.execute("SELECT 1 FROM doors WHERE name = ?", [door]).fetchone() is not None

    def door_of(self, camera: str | None) -> str | None:
        if not camera:
            return None
        row = self.db.execute("SELECT door FROM camera_doors WHERE camera = ?", [camera]).fetchone()
        return row[0] if row else None

    def doors(self) -> list[dict[str, Any]]:
        """Every door: name, only_listed, cameras, and its rules [{name, policy, schedule}]."""
        out = []
        for name, only in self.db.execute("SELECT name, only_listed FROM doors ORDER BY name").fetchall():
            cams = [
                r[0]
                for r in self.db.execute(
                    "SELECT camera FROM camera_doors WHERE door = ? ORDER BY camera", [name]
                ).fetchall()
            ]
            rules = [
                {"name": r[0], "policy": r[1], "schedule": r[2]}
                for r in self.db.execute(
                    """SELECT i.name, a.policy, a.schedule FROM door_access a
                       JOIN identities i ON i.id = a.identity_id WHERE a.door = ? ORDER BY i.name""",
                    [name],
                ).fetchall()
            ]
            out.append({"name": name, "only_listed": bool(only), "cameras": cams, "rules": rules})
        return out

    def door_access(self, ident: int, camera: str | None, when: _dt.datetime) -> tuple[str, str] | None:
        """The door's narrowing of a person already allowed by their own policy: None (no objection) or
        ("denied", "door" | "door-schedule")."""
        from db.store import schedule_allows

        door = self.door_of(camera)
        if door is None:
            return None
        row = self.db.execute(
            "SELECT policy, schedule FROM door_access WHERE door = ? AND identity_id = ?", [door, ident]
        ).fetchone()
        if row is None:
            only = self.db.execute("SELECT only_listed FROM doors WHERE name = ?", [door]).fetchone()
            return ("denied", "door") if only and only[0] else None
        policy, schedule = row
        if policy == "allowed":
            return None
        if policy == "schedule":
            return None if schedule_allows(schedule, when) else ("denied", "door-schedule")
        return "denied", "door"
