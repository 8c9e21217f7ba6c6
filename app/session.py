"""Building a session, written once: the identity store made ready for a recognizer, its gallery at a
threshold, the local pipeline, and the cloud/hybrid wrapper around it.

The CLI (``identify``, ``run``), the window's builder thread and the bench all build through here, so a
recognizer of another model gets its embeddings from the stored face crops the same way everywhere, and
``store.gallery(...)`` is called in one place. Each caller words its own warnings from
:attr:`Session.unrecognisable`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import DetectorConfig, RemoteConfig, defaults

if TYPE_CHECKING:
    from core.gallery import Gallery
    from core.pipeline import Pipeline
    from core.protocols import FacePipeline


@dataclass(frozen=True)
class Remote:
    """Where cloud/hybrid send their work and how: the endpoint, its credentials, what is sent
    (``config``: JPEG quality, crop format, fallback time) and the two opt-ins for weaker transport."""

    endpoint: str
    token: str | None = None
    ca_cert: str | None = None
    config: RemoteConfig = field(default_factory=lambda: defaults().remote)
    allow_insecure_http: bool = False
    allow_unauthenticated: bool = False


@dataclass
class Session:
    """What a session starts with: the local pipeline, the pipeline the engine runs (``local`` or a
    remote wrapper of it), the mode, the open store and who in it cannot be recognised."""

    local: Pipeline
    pipeline: FacePipeline
    mode: str
    store: Any
    unrecognisable: list[str]
    added: int = 0  # embeddings computed from stored face crops while the store was made ready


def prepare_store(store: Any, recognizer: Any, detector: Any = None, demo: bool = False) -> int:
    """Make ``store`` ready for ``recognizer.model``: embeddings computed from the stored face crops of
    people enrolled under another model; with ``demo`` the demo's people enrolled (once, marked "demo",
    found by ``detector``). Returns how many embeddings were computed."""
    from enroll.service import compute_missing_embeddings

    added = compute_missing_embeddings(store, recognizer)
    if demo:
        from app.demo import demo_store

        demo_store(detector, recognizer, store)
    return int(added or 0)


def open_store(path: Path | str, recognizer: Any, detector: Any = None, demo: bool = False) -> Any:
    """The identity store at ``path`` made ready by :func:`prepare_store`; closed again when that fails.
    Opens a connection of this thread (sqlite3 connections belong to the thread that made them)."""
    from db.store import Store

    store = Store(path)
    try:
        prepare_store(store, recognizer, detector, demo)
    except BaseException:
        store.close()
        raise
    return store


def video_detector(key: str, config: DetectorConfig | None = None) -> Any:
    """The detector that video, ``serve`` and the window run: MTCNN searches faces down to
    ``config.video_min_face_px`` (core/config.py, 40 px); other detectors keep their own settings."""
    from core.registry import create_detector

    cfg = config or defaults().detector
    opts = {"min_face_size": cfg.video_min_face_px} if key.startswith("mtcnn") else {}
    return create_detector(key, **opts)


def load_gallery(store: Any, model: str, threshold: float) -> Gallery:
    """The known embeddings of ``model`` in ``store``, matched at ``threshold`` (L2)."""
    gallery: Gallery = store.gallery(model, threshold)
    return gallery


def resolve_threshold(recognizer: Any, threshold: float | None) -> float:
    """``threshold``, or the recognizer's default when None."""
    return float(recognizer.default_threshold if threshold is None else threshold)


def local_pipeline(detector: Any, recognizer: Any, store: Any, threshold: float | None = None) -> Pipeline:
    """The local pipeline: ``detector`` + ``recognizer`` matching against the store's gallery."""
    from core.pipeline import Pipeline

    thr = resolve_threshold(recognizer, threshold)
    return Pipeline(detector, recognizer, load_gallery(store, recognizer.model, thr), threshold=thr)


def wrap(mode: str, local: Pipeline, remote: Remote | None) -> FacePipeline:
    """The pipeline the engine runs for ``mode``: ``local`` itself, or the deploy client's cloud/hybrid
    wrapper of it (which raises a one-line FaceGateError for a bad endpoint or credentials)."""
    if mode == "local":
        return local
    from core.deploy.client import remote_pipeline

    r = remote if remote is not None else Remote("")
    return remote_pipeline(
        mode,
        local,
        endpoint=r.endpoint,
        token=r.token,
        ca_cert=r.ca_cert,
        jpeg_quality=r.config.jpeg_quality,
        fallback_after_s=r.config.fallback_after_s,
        crop_format=r.config.crop_format,
        crop_quality=r.config.crop_quality,
        allow_insecure_http=r.allow_insecure_http,
        allow_unauthenticated=r.allow_unauthenticated,
    )


def build_session(
    detector: Any,
    recognizer: Any,
    store: Any,
    threshold: float | None = None,
    mode: str = "local",
    remote: Remote | None = None,
    demo: bool = False,
    report: Callable[[list[str]], None] | None = None,
) -> Session:
    """A session on the open ``store``: made ready (:func:`prepare_store`), the people it cannot
    recognise (passed to ``report`` too, before anything remote is tried), the local pipeline at
    ``threshold`` (None: the recognizer's default) and, for cloud or hybrid, the remote wrapper.
    The store stays open: the caller owns it."""
    added = prepare_store(store, recognizer, detector, demo)
    unrecognisable = list(store.people_without(recognizer.model))
    if report is not None:
        report(unrecognisable)
    local = local_pipeline(detector, recognizer, store, threshold)
    return Session(local, wrap(mode, local, remote), mode, store, unrecognisable, added)
