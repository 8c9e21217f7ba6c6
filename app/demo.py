"""The demo: something real to show without a camera, built at first use from registry photos.

Four people of the 5-celebrity dataset are enrolled from their *train* photos; the demo video shows
their *val* photos (never enrolled) moving across a 1280x720 frame, plus strangers (the fifth
celebrity and Joe Biden from face_recognition's test images). The video lives in ``<cache>/demo/``;
nothing is committed.

The window enrolls the demo's people into the ONE identity store it always uses, marked as demo people
(notes "demo", shown "(demo)" in the identity manager), so switching between the demo and a camera never
switches the store: people enrolled while the demo plays are there on the camera. The headless
``main.py run demo`` without ``--db`` keeps using the demo's own file (:func:`demo_db_path`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from core.paths import cache_dir

log = logging.getLogger(__name__)

ENROLLED = ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna")
STRANGER = "mindy_kaling"
DENIED = "madonna"  # enrolled but denied: the demo shows all three decisions
FPS = 15
SIZE = (1280, 720)
VIDEO_VERSION = 1
DEMO_NOTE = "demo"  # identities.notes of the demo's people


def is_demo_person(identity: dict[str, Any]) -> bool:
    """Whether a ``Store.identities()`` row is one of the demo's people."""
    return (identity.get("notes") or "") == DEMO_NOTE


def demo_dir() -> Path:
    d = cache_dir() / "demo"
    d.mkdir(parents=True, exist_ok=True)
    return d


def demo_db_path() -> Path:
    return demo_dir() / "demo.db"


def _portrait(path: Path, height: int) -> np.ndarray:
    from core.imageio import load_image

    img = load_image(path)
    scale = height / img.shape[0]
    import cv2

    return cv2.resize(img, (max(1, int(img.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)


def demo_video() -> Path:
    """Build (once) and return the demo video: scenes of 1-3 real people drifting across the frame."""
    import cv2

    from core import photos

    out = demo_dir() / f"demo-v{VIDEO_VERSION}.avi"
    if out.exists():
        return out
    val = photos.people("val")
    strangers = [*val[STRANGER][:3], photos.face_recognition_images() / "biden.jpg"]
    scenes: list[list[Path]] = [
        [val["ben_afflek"][0]],
        [val["elton_john"][0], strangers[0]],
        [val["jerry_seinfeld"][0]],
        [val["madonna"][0], val["ben_afflek"][1]],
        [strangers[3]],
        [val["elton_john"][1], val["jerry_seinfeld"][1], val["madonna"][1]],
        [strangers[1]],
        [val["madonna"][2], val["ben_afflek"][2]],
    ]
    w, h = SIZE
    tmp = out.with_suffix(".tmp.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"MJPG"), FPS, SIZE)
    rng = np.random.default_rng(7)
    background = np.full((h, w, 3), 0, np.uint8)
    background[:] = np.linspace(60, 110, w, dtype=np.uint8)[None, :, None]
    for scene in scenes:
        tiles = [_portrait(p, 300) for p in scene]
        slot = w // len(tiles)
        starts = [
            (slot * i + max(0, (slot - t.shape[1]) // 2), int(rng.integers(60, h - 360)))
            for i, t in enumerate(tiles)
        ]
        frames = 2 * FPS
        for k in range(frames):
            frame = background.copy()
            for (x0, y0), tile in zip(starts, tiles):
                x = int(x0 + (k - frames / 2) * 2)  # drift 2 px per frame
                th, tw = tile.shape[:2]
                xa, xb = max(x, 0), min(x + tw, w)
                if xb > xa:
                    frame[y0 : y0 + th, xa:xb] = tile[:, xa - x : xb - x]
            writer.write(frame)
    writer.release()
    tmp.replace(out)
    return out


def demo_store(detector: Any, recognizer: Any, store: Any = None) -> Any:
    """``store`` (default: the demo's own file) with the ENROLLED people enrolled for ``recognizer.model``
    (once; marked with notes "demo"). A name already in the store is left as it is."""
    from core import photos
    from core.imageio import load_image
    from db.store import Store
    from enroll.service import Enrollment, compute_missing_embeddings

    store = store if store is not None else Store(demo_db_path())
    compute_missing_embeddings(store, recognizer)  # people enrolled under another recognizer
    have = {i["name"] for i in store.identities()}
    train = photos.people("train")
    for name in ENROLLED:
        if name in have:
            continue
        job = Enrollment(name, detector, recognizer, store)
        for path in train[name]:
            job.add_image(load_image(path), str(path))
        job.save(policy="denied" if name == DENIED else "allowed", notes=DEMO_NOTE)
        log.info("demo: enrolled %s with %d photos", name, len(job.samples))
    return store
