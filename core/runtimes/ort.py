"""ONNX Runtime: runs ``.onnx`` files, CUDA provider first where it exists."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.runtimes import Network


class OrtNetwork(Network):
    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        super().__init__(path)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.log_severity_level = 3
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = self.meta.get("outputs") or [o.name for o in self.session.get_outputs()]
        if self.meta.get("inputs"):
            self.input_names = list(self.meta["inputs"])
        self.providers = self.session.get_providers()

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        feed = {n: np.ascontiguousarray(x, dtype=np.float32) for n, x in zip(self.input_names, inputs)}
        outs = self.session.run(self.output_names, feed)
        return [np.asarray(o) for o in outs]


def load(path: Path, **options: object) -> Network:
    return OrtNetwork(path, threads=options.get("threads"))  # type: ignore[arg-type]
