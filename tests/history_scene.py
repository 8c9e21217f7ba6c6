"""A week of access events at two doors, made of real face photos (tests/test_history.py and
scripts/screenshot_history.py): enrolled people with their first photo as the enrolled crop, and per
event a face crop and a frame snapshot (the photo on a 1280x720 textured frame, boxed by
:func:`core.privacy.frame_snapshot`, as the engine stores it)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.privacy import frame_snapshot
from db.store import Store
from tests.scenes import textured_background

#: (day offset from last Tuesday, local time, camera, person, decision, reason); "mindy_kaling" is not
#: enrolled (a stranger)
EVENTS = [
    (-1, "17:40", "front", "elton_john", "denied", "policy"),
    (0, "08:14", "front", "ben_afflek", "granted", "matched"),
    (0, "09:02", "front", "elton_john", "denied", "policy"),
    (0, "11:30", "back", "elton_john", "denied", "policy"),
    (0, "12:31", "front", None, "unknown", "no-match"),
    (0, "18:55", "front", "jerry_seinfeld", "denied", "schedule"),
    (1, "07:58", "front", "jerry_seinfeld", "denied", "schedule"),
    (1, "08:05", "back", "ben_afflek", "granted", "matched"),
    (2, "10:10", "back", None, "unknown", "no-match"),
    (3, "09:45", "front", "jerry_seinfeld", "granted", "matched"),
]
ENROLLED = {"ben_afflek": "allowed", "elton_john": "denied", "jerry_seinfeld": "schedule"}


def last_tuesday(today: _dt.date) -> _dt.date:
    """The last Tuesday before ``today`` whose week's events (to Friday) are all past: 4 to 10 days ago."""
    back = (today.weekday() - 1) % 7
    return today - _dt.timedelta(days=back if back >= 4 else back + 7)


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def _photo(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, path
    return img


def build_history_store(
    db: Path, train: dict[str, list[Path]], val: dict[str, list[Path]], today: _dt.date | None = None
) -> tuple[Store, list[dict[str, Any]]]:
    """The store at ``db`` with :data:`ENROLLED` and :data:`EVENTS` (around last Tuesday before ``today``);
    returns it and the events as added (with ``id`` and local ``when``), oldest first."""
    store = Store(db)
    for name, policy in ENROLLED.items():
        crop = jpeg(cv2.resize(_photo(train[name][0]), (112, 112)))
        schedule = "mon-fri 08:00-18:00" if policy == "schedule" else ""
        store.enroll(
            name, "facenet128", np.ones((1, 128), np.float32), crops=[crop], policy=policy, schedule=schedule
        )
    tuesday = last_tuesday(today or _dt.date.today())
    sid = store.start_session(
        "front.avi", recognizer="facenet128:tflite", cameras=[("front", "0"), ("back", "1")]
    )
    added = []
    for i, (day, hhmm, camera, who, decision, reason) in enumerate(EVENTS):
        when = _dt.datetime.combine(
            tuesday + _dt.timedelta(days=day), _dt.time.fromisoformat(hhmm)
        ).astimezone()
        face = _photo(val[who or "mindy_kaling"][i % 3])
        frame = cv2.resize(textured_background(seed=i), (1280, 720))
        big = cv2.resize(face, None, fx=300 / face.shape[0], fy=300 / face.shape[0])
        h, w = big.shape[:2]
        x, y = 420 + 60 * (i % 5), 160
        frame[y : y + h, x : x + w] = big
        eid = store.add_event(
            sid,
            when.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds"),
            i + 1,
            who,
            None if who is None else 0.55 + 0.03 * i,
            decision,
            thumbnail=jpeg(cv2.resize(face, (96, 96))),
            reason=reason,
            camera=camera,
            frame=100 + i,
            observations=5,
            snapshot=frame_snapshot(frame, (x, y, x + w, y + h), decision, store),
        )
        added.append({"id": eid, "when": when, "camera": camera, "identity": who, "decision": decision})
    store.end_session(sid)
    return store, added
