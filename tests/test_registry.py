"""The registry: keys, availability with reasons, lazy heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import BackendUnavailable

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "tensorflow",
    "onnxruntime",
    "ai_edge_litert",
    "tflite_runtime",
    "tensorrt",
    "pycuda",
    "tf2onnx",
    "keras",
)


def test_listing_backends_imports_no_runtime() -> None:
    code = (
        "import sys, json; sys.path.insert(0, %r)\n"
        "import app.cli, core.registry, core.pipeline, core.engine, core.sources, db.store, enroll.service\n"
        "core.registry.backends()\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))\n"
    ) % (str(ROOT), HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_every_model_has_every_runtime_listed() -> None:
    from core.registry import backends

    keys = {b.key for b in backends()}
    for model in ("mtcnn", "blazeface"):
        assert {f"{model}:tflite", f"{model}:onnxruntime", f"{model}:tensorrt"} <= keys
    assert "mtcnn:tensorflow" in keys
    for model in ("facenet128", "facenet512"):
        for rt in ("tensorflow", "tflite", "tflite-fp16", "tflite-int8", "onnxruntime", "tensorrt"):
            assert f"{model}:{rt}" in keys


@pytest.mark.parametrize(
    "key, words", [("nosuch:onnxruntime", "unknown detector"), ("mtcnn:nosuch", "unknown runtime 'nosuch'")]
)
def test_bad_keys_are_clear_errors(key: str, words: str) -> None:
    from core.registry import create_detector

    with pytest.raises(BackendUnavailable, match=words):
        create_detector(key)


def test_tensorrt_is_unavailable_with_its_reason_here() -> None:
    from core.registry import backends, create_recognizer

    trt = next(b for b in backends() if b.key == "facenet128:tensorrt")
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert not trt.available and trt.reason.startswith("tensorrt: module not found")
        with pytest.raises(BackendUnavailable, match="tensorrt: module not found"):
            create_recognizer("facenet128:tensorrt")
    else:
        pytest.skip("tensorrt is installed here: the unavailable path cannot be shown")


def test_every_listed_runtime_maps_to_one_that_runs_network_files() -> None:
    # one mapping for the registry's availability, MTCNN's and FaceNet's loaders: a quantised variant is
    # a TFLite file, every other runtime name is itself
    from core import registry
    from core.runtimes import RUNTIMES, base_runtime

    assert base_runtime("tflite-int8") == base_runtime("tflite-fp16") == "tflite"
    assert {base_runtime(b.runtime) for b in registry.backends()} <= set(RUNTIMES)
    assert all(base_runtime(r) == r for r in RUNTIMES)
