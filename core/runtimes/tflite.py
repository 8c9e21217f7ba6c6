"""TFLite: LiteRT (``ai_edge_litert``), falling back to ``tflite_runtime`` (older Jetsons).

TFLite tensors have fixed shapes, so one interpreter is kept per input shape (MTCNN's P-Net sees
one shape per pyramid scale, which repeats every frame of a video); a small LRU bounds them.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from core.runtimes import Network


def _interpreter_class() -> tuple[Any, str]:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite_runtime"


class TFLiteNetwork(Network):
    runtime = "tflite"
    max_shapes = 24

    def __init__(self, path: Path, threads: int | None = None) -> None:
        super().__init__(path)
        self._cls, self.provider = _interpreter_class()
        self._threads = threads or (os.cpu_count() or 1)
        self._model = self.path.read_bytes()
        self._by_shape: OrderedDict[tuple[tuple[int, ...], ...], Any] = OrderedDict()
        base = self._new()
        base.allocate_tensors()
        details = base.get_input_details()
        self.input_names = list(self.meta.get("inputs") or [d["name"] for d in details])
        self._base_shapes = tuple(tuple(int(v) for v in d["shape"]) for d in details)
        self._by_shape[self._base_shapes] = base

    def _new(self) -> Any:
        return self._cls(model_content=self._model, num_threads=self._threads)

    def _interpreter(self, shapes: tuple[tuple[int, ...], ...]) -> Any:
        it = self._by_shape.get(shapes)
        if it is not None:
            self._by_shape.move_to_end(shapes)
            return it
        it = self._new()
        for d, shape in zip(self._input_details(it), shapes):
            it.resize_tensor_input(d["index"], list(shape), strict=False)
        it.allocate_tensors()
        self._by_shape[shapes] = it
        while len(self._by_shape) > self.max_shapes:
            self._by_shape.popitem(last=False)
        return it

    def _input_details(self, it: Any) -> list[dict[str, Any]]:
        details = {d["name"]: d for d in it.get_input_details()}
        return [details[n] for n in self.input_names]

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        arrays = [np.ascontiguousarray(x, dtype=np.float32) for x in inputs]
        shapes = tuple(tuple(a.shape) for a in arrays)
        it = self._interpreter(shapes)
        for d, a in zip(self._input_details(it), arrays):
            it.set_tensor(d["index"], a)
        it.invoke()
        named = {d["name"]: it.get_tensor(d["index"]).copy() for d in it.get_output_details()}
        return self._order(named)


def load(path: Path, **options: object) -> Network:
    return TFLiteNetwork(path, threads=options.get("threads"))  # type: ignore[arg-type]
