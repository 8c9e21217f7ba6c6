"""TensorFlow: runs SavedModel directories through their ``serving_default`` signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.runtimes import Network


class TFNetwork(Network):
    runtime = "tensorflow"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        import tensorflow as tf

        self._tf = tf
        self._loaded = tf.saved_model.load(str(path))
        self._fn = self._loaded.signatures["serving_default"]
        spec_inputs = list(self._fn.structured_input_signature[1].keys())
        self.input_names = list(self.meta.get("inputs") or spec_inputs)
        self.output_names = list(self.meta.get("outputs") or self._fn.structured_outputs.keys())

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        tf = self._tf
        feed = {n: tf.constant(np.asarray(x, dtype=np.float32)) for n, x in zip(self.input_names, inputs)}
        outs = self._fn(**feed)
        return self._order({k: v.numpy() for k, v in outs.items()})


def load(path: Path, **options: object) -> Network:
    return TFNetwork(path)
