"""One registry of every detector and recognizer x runtime, with availability and the reason.

Keys are ``model:runtime`` (``mtcnn:onnxruntime``, ``facenet128:tflite-int8``). Nothing heavy is
imported to list them: availability checks only look for modules and provisioned files.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from core.errors import BackendUnavailable

if TYPE_CHECKING:
    from core.protocols import Detector, Recognizer

DETECTOR_MODULES = {"mtcnn": "core.detectors.mtcnn", "blazeface": "core.detectors.blazeface"}
RECOGNIZER_MODULES = {
    "facenet128": "core.recognizers.facenet128",
    "facenet512": "core.recognizers.facenet512",
}

#: The fastest pair whose faces and identities agree with the TensorFlow reference within the parity
#: tests' limits and whose pair FAR at the model's shipped threshold stays 0 of 8,027 impostor pairs
#: (benchmarks/calibrate_defaults.py): 47.0 vs 24.5 FPS for the fp32 onnxruntime pair at 720p on
#: 2 CPU cores, every face every frame (docs/bench/report.md). Issue 12; the README's "Why these
#: defaults". test_the_default_detector_agrees_with_tensorflow (tests/test_mtcnn.py) and
#: test_the_default_pair_agrees_with_tensorflow (tests/test_facenet.py) fail a default that breaks it.
DEFAULT_DETECTOR = "mtcnn:tflite"
DEFAULT_RECOGNIZER = "facenet128:tflite-int8"


@dataclass(frozen=True)
class BackendInfo:
    key: str
    kind: str  # "detector" | "recognizer"
    model: str
    runtime: str
    available: bool
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _status(runtime: str, artifact_keys: tuple[str, ...]) -> tuple[bool, str | None]:
    from core.models import artifacts
    from core.runtimes import base_runtime, runtime_status

    ok, reason = runtime_status(base_runtime(runtime))
    if not ok:
        return ok, reason
    arts = artifacts()
    for key in artifact_keys:
        art = arts[key]
        if art.ready:
            continue
        missing = [m for m in art.needs if importlib.util.find_spec(m) is None]
        if missing:
            return False, f"model not provisioned: {key} (building it needs {', '.join(missing)})"
    return True, None


def _family(kind: str, model: str) -> Any:
    table = DETECTOR_MODULES if kind == "detector" else RECOGNIZER_MODULES
    return importlib.import_module(table[model])


def backends() -> list[BackendInfo]:
    """Every detector and recognizer x runtime, available or not."""
    out: list[BackendInfo] = []
    for kind, table in (("detector", DETECTOR_MODULES), ("recognizer", RECOGNIZER_MODULES)):
        for model in table:
            fam = _family(kind, model)
            for runtime, arts in fam.RUNTIMES.items():
                ok, reason = _status(runtime, arts)
                out.append(BackendInfo(f"{model}:{runtime}", kind, model, runtime, ok, reason))
    return out


def parse_key(key: str, kind: str) -> tuple[str, str]:
    table = DETECTOR_MODULES if kind == "detector" else RECOGNIZER_MODULES
    model, sep, runtime = key.partition(":")
    if model not in table:
        raise BackendUnavailable(f"unknown {kind} {key!r}; choose one of `main.py backends`")
    fam = _family(kind, model)
    if not sep:
        runtime = next(iter(fam.RUNTIMES))
    if runtime not in fam.RUNTIMES:
        raise BackendUnavailable(f"unknown runtime {runtime!r} for {model}; have {', '.join(fam.RUNTIMES)}")
    return model, runtime


def _create(kind: str, key: str, **options: Any) -> Any:
    model, runtime = parse_key(key, kind)
    fam = _family(kind, model)
    ok, reason = _status(runtime, fam.RUNTIMES[runtime])
    if not ok:
        raise BackendUnavailable(f"{model}:{runtime} unavailable: {reason}")
    from core.models import ensure

    for art in fam.RUNTIMES[runtime]:
        ensure(art)
    backend = fam.create(runtime, **options)
    backend.key = f"{model}:{runtime}"
    return backend


def create_detector(key: str = DEFAULT_DETECTOR, **options: Any) -> Detector:
    """Build (provisioning on first use) and return a detector (a :class:`core.detectors.Detector`)."""
    return _create("detector", key, **options)


def create_recognizer(key: str = DEFAULT_RECOGNIZER, **options: Any) -> Recognizer:
    """Build (provisioning on first use) and return a recognizer (a :class:`core.recognizers.Recognizer`)."""
    return _create("recognizer", key, **options)
