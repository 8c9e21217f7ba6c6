"""The demo: something real to show without a camera, built at first use from registry photos.

Four people of the 5-celebrity dataset are enrolled from their *train* photos; the demo video
(:mod:`core.demo_video`) shows their *val* photos (never enrolled) moving across a 1280x720 frame, plus
strangers. The video and the demo's own database live in ``<cache>/demo/``; nothing is committed.

The window enrolls the demo's people into the ONE identity store it always uses, marked as demo people
(notes "demo", shown "(demo)" in the identity manager), so switching between the demo and a camera never
switches the store: people enrolled while the demo plays are there on the camera. The headless
``main.py run demo`` without ``--db`` keeps using the demo's own file (:func:`demo_db_path`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from core.demo_video import DENIED, ENROLLED, demo_dir

log = logging.getLogger(__name__)

DEMO_NOTE = "demo"  # identities.notes of the demo's people


def is_demo_person(identity: dict[str, Any]) -> bool:
    """Whether a ``Store.identities()`` row is one of the demo's people."""
    return (identity.get("notes") or "") == DEMO_NOTE


def demo_db_path() -> Path:
    return demo_dir() / "demo.db"


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
