"""Runtimes run network files; they know nothing about faces.

A *model* (MTCNN, FaceNet, BlazeFace) is pre/post-processing written once in numpy; a *runtime*
(onnxruntime, tensorflow, tflite, tensorrt) only runs a network file through :class:`Network`.
Each runtime lives in its own module and imports its heavy library lazily, inside ``load``.

Every provisioned network file has a sidecar JSON (see :func:`meta_path`) that lists its input and
output tensor names in the model's canonical order, so ``Network.run`` returns outputs in the same
order on every runtime even where a converter renamed or reordered them.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import BackendUnavailable

#: runtime name -> (module under core.runtimes, python module that must be importable)
RUNTIMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "onnxruntime": ("core.runtimes.ort", ("onnxruntime",)),
    "tensorflow": ("core.runtimes.tf", ("tensorflow",)),
    "tflite": ("core.runtimes.tflite", ("ai_edge_litert", "tflite_runtime")),
    "tensorrt": ("core.runtimes.trt", ("tensorrt",)),
}


def meta_path(path: Path) -> Path:
    """Sidecar JSON of a network file (or of a SavedModel directory)."""
    path = Path(path)
    if path.is_dir():
        return path / "facegate.json"
    return path.with_name(path.name + ".json")


def read_meta(path: Path) -> dict[str, Any]:
    mp = meta_path(path)
    if not mp.exists():
        return {}
    return json.loads(mp.read_text())


def write_meta(path: Path, inputs: list[str], outputs: list[str], **extra: Any) -> None:
    """Record tensor names in canonical order (and e.g. ``input_shapes`` for TensorRT profiles)."""
    meta = {"inputs": list(inputs), "outputs": list(outputs), **extra}
    meta_path(path).write_text(json.dumps(meta, indent=1))


class Network(ABC):
    """A loaded network: ``run(*inputs)`` -> outputs as float32 arrays in canonical order."""

    runtime: str = ""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.meta = read_meta(self.path)

    @abstractmethod
    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Run one batch. Inputs follow the canonical input order; so do the returned outputs."""

    def close(self) -> None:
        """Let go of the loaded network (its memory is the runtime's to free); it cannot run after."""
        for name in [n for n in vars(self) if n not in ("path", "meta", "input_names", "output_names")]:
            setattr(self, name, None)

    def _order(self, named: dict[str, np.ndarray]) -> list[np.ndarray]:
        order = self.meta.get("outputs")
        if not order:
            return list(named.values())
        try:
            return [np.asarray(named[n]) for n in order]
        except KeyError as err:
            raise BackendUnavailable(
                f"{self.path.name}: output {err} missing on {self.runtime} (have {sorted(named)}); "
                "re-run `main.py models --provision --force`"
            ) from None


#: a backend's runtime variant -> the runtime that runs its network file (fp16/int8 weights are TFLite files)
RUNTIME_VARIANTS: dict[str, str] = {"tflite-fp16": "tflite", "tflite-int8": "tflite"}


def base_runtime(runtime: str) -> str:
    """The runtime in :data:`RUNTIMES` that runs ``runtime``'s files (``tflite-int8`` -> ``tflite``)."""
    return RUNTIME_VARIANTS.get(runtime, runtime)


def runtime_status(runtime: str) -> tuple[bool, str | None]:
    """Whether ``runtime`` can run here, and if not why (without importing it)."""
    if runtime not in RUNTIMES:
        return False, f"unknown runtime {runtime!r}"
    _module, needs = RUNTIMES[runtime]
    for mod in needs:
        if importlib.util.find_spec(mod) is not None:
            break
    else:
        return False, f"{runtime}: module not found ({' or '.join(needs)})"
    if runtime == "tensorrt":
        if importlib.util.find_spec("pycuda") is None and importlib.util.find_spec("cuda") is None:
            return False, "tensorrt: module not found (pycuda or cuda-python for GPU buffers)"
    return True, None


def load_network(runtime: str, path: Path, **options: Any) -> Network:
    """Load ``path`` with ``runtime``; raises :class:`BackendUnavailable` with the reason."""
    ok, reason = runtime_status(runtime)
    if not ok:
        raise BackendUnavailable(reason or runtime)
    module = importlib.import_module(RUNTIMES[runtime][0])
    return module.load(Path(path), **options)
