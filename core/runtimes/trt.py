"""TensorRT: builds an engine from the model's ONNX file and runs it with pycuda buffers.

Engines are specific to a GPU and a TensorRT version, so they are cached under
``<cache>/tensorrt/<gpu>-trt<version>/``, keyed by the ONNX file's sha256 and precision. Dynamic
dimensions get one optimisation profile from the sidecar's ``input_shapes`` ({name: {min, opt, max}}).

This module is only imported when ``tensorrt`` and ``pycuda`` are importable (a Jetson with
JetPack, or a GPU host with NVIDIA's wheels); elsewhere the registry lists it as unavailable.
Uses the name-based tensor API of TensorRT >= 8.5 (JetPack 5 / 6, TensorRT 10).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import BackendUnavailable
from core.paths import cache_dir
from core.runtimes import Network

log = logging.getLogger(__name__)


def _gpu_name(cuda: Any) -> str:
    name = cuda.Device(0).name()
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def engine_path(onnx_path: Path, trt_version: str, gpu: str, fp16: bool) -> Path:
    digest = hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest()[:16]
    folder = cache_dir() / "tensorrt" / f"{gpu}-trt{trt_version}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{Path(onnx_path).stem}-{digest}-{'fp16' if fp16 else 'fp32'}.engine"


class TRTNetwork(Network):
    runtime = "tensorrt"

    def __init__(self, path: Path, fp16: bool = True) -> None:
        super().__init__(path)
        if self.path.suffix != ".onnx":
            raise BackendUnavailable(f"tensorrt: needs an ONNX file to build from, got {self.path.name}")
        try:
            import pycuda.autoinit  # noqa: F401  (creates the CUDA context)
            import pycuda.driver as cuda
            import tensorrt as trt
        except ImportError as err:
            raise BackendUnavailable(f"tensorrt: module not found ({err.name})") from None
        except Exception as err:  # pycuda.autoinit raises when there is no usable GPU
            raise BackendUnavailable(f"tensorrt: no CUDA device ({err})") from None
        self._cuda, self._trt = cuda, trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        plan = engine_path(self.path, trt.__version__, _gpu_name(cuda), fp16)
        if not plan.exists():
            log.info("building TensorRT engine %s (once per GPU and TensorRT version)", plan.name)
            plan.write_bytes(self._build(fp16))
        runtime = trt.Runtime(self._logger)
        self.engine = runtime.deserialize_cuda_engine(plan.read_bytes())
        if self.engine is None:
            plan.unlink(missing_ok=True)
            raise BackendUnavailable(f"tensorrt: could not deserialize {plan.name}; it was removed, retry")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        engine_inputs = [n for n in names if self.engine.get_tensor_mode(n) == mode]
        engine_outputs = [n for n in names if self.engine.get_tensor_mode(n) != mode]
        self.input_names = list(self.meta.get("inputs") or engine_inputs)
        self.output_names = list(self.meta.get("outputs") or engine_outputs)
        self._stream = cuda.Stream()
        self._buffers: dict[str, tuple[int, Any]] = {}  # name -> (capacity bytes, device allocation)

    def _build(self, fp16: bool) -> bytes:
        trt = self._trt
        builder = trt.Builder(self._logger)
        flags = 0
        if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(self.path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendUnavailable(f"tensorrt: cannot parse {self.path.name}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
        if fp16 and builder.platform_has_fast_fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        shapes = self.meta.get("input_shapes", {})
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            dims = list(tensor.shape)
            spec = shapes.get(tensor.name)
            if spec is None:
                fixed = [1 if d < 0 else d for d in dims]
                spec = {"min": fixed, "opt": fixed, "max": fixed}
            profile.set_shape(tensor.name, spec["min"], spec["opt"], spec["max"])
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise BackendUnavailable(f"tensorrt: engine build failed for {self.path.name}")
        return bytes(serialized)

    def _device(self, name: str, nbytes: int) -> Any:
        cap, mem = self._buffers.get(name, (0, None))
        if cap < nbytes:
            mem = self._cuda.mem_alloc(max(nbytes, 1))
            self._buffers[name] = (nbytes, mem)
        return mem

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        cuda = self._cuda
        arrays = [np.ascontiguousarray(x, dtype=np.float32) for x in inputs]
        for name, a in zip(self.input_names, arrays):
            self.context.set_input_shape(name, a.shape)
            mem = self._device(name, a.nbytes)
            cuda.memcpy_htod_async(mem, a, self._stream)
            self.context.set_tensor_address(name, int(mem))
        hosts: dict[str, np.ndarray] = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            host = cuda.pagelocked_empty(shape, dtype=np.float32)
            mem = self._device(name, host.nbytes)
            self.context.set_tensor_address(name, int(mem))
            hosts[name] = host
        if not self.context.execute_async_v3(self._stream.handle):
            raise BackendUnavailable(f"tensorrt: execution failed for {self.path.name}")
        for name, host in hosts.items():
            cuda.memcpy_dtoh_async(host, self._buffers[name][1], self._stream)
        self._stream.synchronize()
        return [np.array(hosts[n]) for n in self.output_names]


def load(path: Path, **options: object) -> Network:
    return TRTNetwork(path, fp16=bool(options.get("fp16", True)))
