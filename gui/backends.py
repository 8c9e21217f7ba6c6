"""What the dropdowns offer and how a choice is built (runs on the builder thread, not the GUI's).

A *build* returns a :class:`Built`: the local pipeline (detector + recognizer + gallery + threshold) and
the pipeline the engine runs (the local one, or a cloud/hybrid wrapper around it from
``core.deploy.client.remote_pipeline``). The inference worker swaps it in between two frames.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.config import Config, defaults
from core.deploy import MODES as MODES  # the one list of deployment modes, re-exported

if TYPE_CHECKING:
    from core.pipeline import Pipeline
    from core.protocols import FacePipeline

log = logging.getLogger(__name__)

MODE_LABELS = {
    "local": "Local (edge)",
    "cloud": "Cloud (whole frames)",
    "hybrid": "Hybrid (face crops)",
}
MODEL_LABELS = {
    "mtcnn": "MTCNN",
    "blazeface": "BlazeFace",
    "facenet128": "FaceNet-128",
    "facenet512": "FaceNet-512",
}
NOT_CONFIGURED = "not configured: set an endpoint in Settings"


@dataclass(frozen=True)
class Choice:
    """One dropdown entry: ``key`` is what gets built, ``reason`` says why it cannot be (None = it can)."""

    key: str
    label: str
    available: bool
    reason: str | None = None


@dataclass
class RemoteSettings:
    """Where cloud/hybrid send their work (from the Settings dialog)."""

    endpoint: str = ""
    token_file: str = ""
    ca_cert: str = ""
    jpeg_quality: int = defaults().remote.jpeg_quality
    fallback_after_s: float = defaults().remote.fallback_after_s


@dataclass
class Built:
    """A ready-to-run (built and warmed) set of backends."""

    local: Pipeline
    pipeline: FacePipeline  # what Engine runs: ``local`` or a remote wrapper around it
    mode: str = "local"
    build_ms: float = 0.0
    changed: str = ""  # "detector" | "recognizer" | "mode" | "session": what this build switched
    label: str = ""  # what the plots write at the switch line
    store_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def detector_key(self) -> str:
        return str(getattr(self.local.detector, "key", ""))

    @property
    def recognizer_key(self) -> str:
        return str(getattr(self.local.recognizer, "key", ""))

    @property
    def model(self) -> str:
        return str(getattr(self.local.recognizer, "model", ""))


def short_reason(key: str, reason: str | None) -> str:
    """A few words for an unavailable entry's text (the full reason stays in its tooltip and accessible
    description): what an operator can act on, e.g. ``needs an NVIDIA GPU``."""
    why = (reason or "").strip()
    runtime = key.partition(":")[2]
    if runtime.startswith("tensorrt") and "module not found" in why:
        return "needs an NVIDIA GPU"
    if why == NOT_CONFIGURED:
        return "no endpoint: set one in Settings"
    if why.startswith("not available"):
        return "deploy client not installed"
    if why.startswith("model not provisioned"):
        return "model not provisioned"
    if "module not found" in why:
        needs = why.partition("(")[2].rstrip(")")
        return f"needs {needs}" if needs else "runtime not installed"
    return why if len(why) <= 40 else why[:39].rstrip() + "…"


def backend_label(key: str) -> str:
    model, _, runtime = key.partition(":")
    return f"{MODEL_LABELS.get(model, model)} · {runtime}" if runtime else MODEL_LABELS.get(model, model)


def backend_choices() -> tuple[list[Choice], list[Choice]]:
    """(detectors, recognizers) from the registry, unavailable ones with their reason."""
    from core.registry import backends

    dets: list[Choice] = []
    recs: list[Choice] = []
    for b in backends():
        c = Choice(b.key, backend_label(b.key), b.available, b.reason)
        (dets if b.kind == "detector" else recs).append(c)
    return dets, recs


def remote_factory() -> tuple[Any, str | None]:
    """``core.deploy.client.remote_pipeline`` if it imports, else (None, why not)."""
    try:
        from core.deploy.client import remote_pipeline
    except Exception as err:  # noqa: BLE001 - ImportError, or a missing dependency of the client
        return None, f"not available: {type(err).__name__}: {err}"
    return remote_pipeline, None


def mode_choices(remote: RemoteSettings, factory_error: str | None) -> list[Choice]:
    out = [Choice("local", MODE_LABELS["local"], True)]
    for mode in ("cloud", "hybrid"):
        if factory_error is not None:
            out.append(Choice(mode, MODE_LABELS[mode], False, factory_error))
        elif not remote.endpoint.strip():
            out.append(Choice(mode, MODE_LABELS[mode], False, NOT_CONFIGURED))
        else:
            out.append(Choice(mode, MODE_LABELS[mode], True))
    return out


# ---------------------------------------------------------------------------------------------- builds
def warm(detector: Any, recognizer: Any, frame: np.ndarray | None) -> None:
    """Run the new backends once (on the newest real frame when there is one), so the first frame
    they process in the video is not the compile/allocation."""
    if detector is not None:
        if frame is not None:
            faces = detector.detect(frame)
            if recognizer is not None and faces:
                recognizer.embed(frame, faces[:1])
        else:
            detector.warmup()
    if recognizer is not None:
        recognizer.warmup()


def _read_token(path: str) -> str | None:
    if not path:
        return None
    from core.token_file import read_token

    return read_token(path)


def wrap(mode: str, local: Pipeline, remote: RemoteSettings) -> FacePipeline:
    """The pipeline the engine runs for ``mode``: ``local`` itself, or the deploy client's wrapper."""
    if mode == "local":
        return local
    factory, why = remote_factory()
    if factory is None:
        raise RuntimeError(f"{mode} mode {why}")
    if not remote.endpoint.strip():
        raise RuntimeError(f"{mode} mode {NOT_CONFIGURED}")
    from app import session

    config = replace(
        defaults().remote,
        jpeg_quality=int(remote.jpeg_quality),
        fallback_after_s=float(remote.fallback_after_s),
    )
    to = session.Remote(
        remote.endpoint.strip(), _read_token(remote.token_file), remote.ca_cert or None, config
    )
    return session.wrap(mode, local, to)


def build_session(
    detector_key: str,
    recognizer_key: str,
    store_path: Path,
    demo: bool,
    threshold: float | None,
    mode: str,
    remote: RemoteSettings,
    frame: np.ndarray | None = None,
) -> Built:
    """Everything a session starts with: backends built + warmed, the gallery for the recognizer model."""
    from app import session
    from app.session import video_detector
    from core.registry import create_recognizer
    from db.store import Store

    t0 = time.perf_counter()
    detector = video_detector(detector_key, Config.from_env().detector)
    recognizer = create_recognizer(recognizer_key)
    warm(detector, recognizer, frame)
    store = Store(store_path)
    try:
        ready = session.build_session(detector, recognizer, store, threshold, demo=demo)
        notes = [
            f"{name} has no {recognizer.model} embedding; re-enroll them to recognise them"
            for name in ready.unrecognisable
        ]
        path = Path(store.path)
    finally:
        store.close()
    notes_mode: list[str] = []
    try:
        pipe = wrap(mode, ready.local, remote)
    except Exception as err:  # noqa: BLE001 - the session still starts, locally, and says why
        if mode == "local":
            raise
        notes_mode.append(f"{mode} mode failed ({err}); running locally")
        pipe, mode = ready.local, "local"
    return Built(
        ready.local,
        pipe,
        mode,
        (time.perf_counter() - t0) * 1e3,
        "session",
        f"{detector.key} + {recognizer.key}",
        path,
        notes + notes_mode,
    )


def build_switch(
    kind: str,
    value: str,
    base: Built,
    store_path: Path | None,
    threshold: float | None,
    remote: RemoteSettings,
    frame: np.ndarray | None = None,
) -> Built:
    """A new :class:`Built` from ``base`` with the detector, recognizer or mode replaced by ``value``.

    Only the new part is built (and warmed); the rest is shared with ``base``. A recognizer of another
    model gets that model's gallery (embeddings computed from the stored face crops when missing).
    """
    from app.session import video_detector
    from core.pipeline import Pipeline
    from core.registry import create_recognizer

    t0 = time.perf_counter()
    old = base.local
    detector, recognizer, gallery, thr, mode = (
        old.detector,
        old.recognizer,
        old.gallery,
        old.threshold,
        base.mode,
    )
    if kind == "detector":
        detector = video_detector(value, Config.from_env().detector)
        warm(detector, None, frame)
        label = f"detector {value}"
    elif kind == "recognizer":
        recognizer = create_recognizer(value)
        # warmed on a dummy crop: the live detector belongs to the inference thread (a TFLite
        # interpreter must not run in two threads at once), and crops have one fixed shape anyway
        warm(None, recognizer, None)
        label = f"recognizer {value}"
        if recognizer.model != old.recognizer.model:
            thr = float(recognizer.default_threshold if threshold is None else threshold)
            if store_path is not None:
                from app import session

                store = session.open_store(store_path, recognizer)
                try:
                    gallery = session.load_gallery(store, recognizer.model, thr)
                finally:
                    store.close()
            else:
                gallery = None
    elif kind == "mode":
        mode = value
        label = f"mode {value}"
    else:
        raise ValueError(f"unknown switch {kind!r}")
    local = Pipeline(detector, recognizer, gallery, threshold=thr)
    pipe = wrap(mode, local, remote)
    return Built(local, pipe, mode, (time.perf_counter() - t0) * 1e3, kind, label, base.store_path)
