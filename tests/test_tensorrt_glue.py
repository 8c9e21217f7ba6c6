"""The TensorRT runtime's glue, run against a stand-in for TensorRT + pycuda.

TensorRT and a CUDA GPU cannot exist on these machines, so this test injects fake ``tensorrt`` and
``pycuda`` modules that implement the API surface ``core/runtimes/trt.py`` uses (builder, ONNX
parser, optimisation profile, engine, execution context, device buffers, streams) and execute the
"engine" with onnxruntime. It checks FaceGate's side of the contract: the profile shapes from the
sidecar, the engine cache per GPU + TensorRT version, device-buffer handling, output order, and
that MTCNN and FaceNet on "tensorrt" agree with onnxruntime. It says nothing about real TensorRT
numerics (fp16), which only a GPU run can show.
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types

import numpy as np
import pytest


class _Mem:
    def __init__(self, registry: dict[int, bytearray], n: int) -> None:
        self.addr = 0x1000 + 0x100000 * len(registry)
        registry[self.addr] = bytearray(n)

    def __int__(self) -> int:
        return self.addr


def _fake_modules(calls: dict) -> dict[str, types.ModuleType]:
    import onnxruntime as ort

    device: dict[int, bytearray] = {}

    def module(name: str) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__spec__ = importlib.machinery.ModuleSpec(name, None)
        return m

    cuda = module("pycuda.driver")
    cuda.Device = lambda i: types.SimpleNamespace(name=lambda: "Fake GPU 9000")
    cuda.mem_alloc = lambda n: _Mem(device, n)

    class Stream:
        handle = 7

        def synchronize(self) -> None:
            pass

    cuda.Stream = Stream

    def htod(mem, arr, stream) -> None:
        b = np.ascontiguousarray(arr).tobytes()
        device[int(mem)][: len(b)] = b

    def dtoh(host, mem, stream) -> None:
        host[...] = np.frombuffer(bytes(device[int(mem)][: host.nbytes]), np.float32).reshape(host.shape)

    cuda.memcpy_htod_async, cuda.memcpy_dtoh_async = htod, dtoh
    cuda.pagelocked_empty = lambda shape, dtype: np.empty(shape, dtype)
    pycuda = module("pycuda")
    autoinit = module("pycuda.autoinit")
    pycuda.driver, pycuda.autoinit = cuda, autoinit

    trt = module("tensorrt")
    trt.__version__ = "10.0.fake"
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level=None: None})
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0)
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE=0)
    trt.BuilderFlag = types.SimpleNamespace(FP16=1)
    trt.TensorIOMode = types.SimpleNamespace(INPUT="in", OUTPUT="out")

    class Network:
        def __init__(self) -> None:
            self.onnx = b""
            self.inputs: list = []

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, i):
            return self.inputs[i]

    class Parser:
        num_errors = 0

        def __init__(self, network, logger) -> None:
            self.network = network

        def parse(self, data: bytes) -> bool:
            self.network.onnx = data
            sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
            self.network.inputs = [
                types.SimpleNamespace(name=i.name, shape=[d if isinstance(d, int) else -1 for d in i.shape])
                for i in sess.get_inputs()
            ]
            return True

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict = {}

        def set_shape(self, name, lo, opt, hi) -> None:
            self.shapes[name] = {"min": list(lo), "opt": list(opt), "max": list(hi)}

    class Config:
        def __init__(self) -> None:
            self.profiles: list = []

        def set_memory_pool_limit(self, *a) -> None:
            pass

        def set_flag(self, flag) -> None:
            pass

        def add_optimization_profile(self, p) -> None:
            self.profiles.append(p)

    class Builder:
        platform_has_fast_fp16 = True

        def __init__(self, logger) -> None:
            pass

        def create_network(self, flags):
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            calls["builds"] += 1
            calls["profiles"].append(config.profiles[0].shapes)
            head = json.dumps(config.profiles[0].shapes).encode()
            return len(head).to_bytes(4, "little") + head + network.onnx

    class Context:
        def __init__(self, sess) -> None:
            self.sess = sess
            self.shapes: dict = {}
            self.addr: dict = {}
            self.results: dict | None = None

        def set_input_shape(self, name, shape) -> None:
            self.shapes[name] = tuple(shape)
            self.results = None

        def set_tensor_address(self, name, addr) -> None:
            self.addr[name] = addr

        def _run(self) -> dict:
            if self.results is None:
                feed = {}
                for i in self.sess.get_inputs():
                    shape = self.shapes[i.name]
                    n = int(np.prod(shape)) * 4
                    feed[i.name] = np.frombuffer(bytes(device[self.addr[i.name]][:n]), np.float32).reshape(
                        shape
                    )
                names = [o.name for o in self.sess.get_outputs()]
                self.results = dict(zip(names, self.sess.run(names, feed)))
            return self.results

        def get_tensor_shape(self, name):
            return self._run()[name].shape

        def execute_async_v3(self, handle) -> bool:
            for name, value in self._run().items():
                b = np.ascontiguousarray(value, np.float32).tobytes()
                device[self.addr[name]][: len(b)] = b
            self.results = None
            return True

    class Engine:
        def __init__(self, data: bytes) -> None:
            n = int.from_bytes(data[:4], "little")
            self.sess = ort.InferenceSession(data[4 + n :], providers=["CPUExecutionProvider"])
            ins = [i.name for i in self.sess.get_inputs()]
            outs = [o.name for o in self.sess.get_outputs()][::-1]  # engines may order I/O differently
            self.names = ins + outs
            self.inputs = set(ins)

        @property
        def num_io_tensors(self) -> int:
            return len(self.names)

        def get_tensor_name(self, i: int) -> str:
            return self.names[i]

        def get_tensor_mode(self, name: str) -> str:
            return "in" if name in self.inputs else "out"

        def create_execution_context(self):
            return Context(self.sess)

    class Runtime:
        def __init__(self, logger) -> None:
            pass

        def deserialize_cuda_engine(self, data: bytes):
            return Engine(data)

    trt.Builder, trt.OnnxParser, trt.Runtime = Builder, Parser, Runtime
    return {"tensorrt": trt, "pycuda": pycuda, "pycuda.driver": cuda, "pycuda.autoinit": autoinit}


@pytest.fixture
def fake_trt(monkeypatch, tmp_path):
    calls: dict = {"builds": 0, "profiles": []}
    for name, mod in _fake_modules(calls).items():
        monkeypatch.setitem(sys.modules, name, mod)
    import core.runtimes.trt as trt_runtime

    monkeypatch.setattr(trt_runtime, "cache_dir", lambda: tmp_path)
    return calls


def test_mtcnn_on_tensorrt_glue_matches_onnxruntime(fake_trt, fr_images, tmp_path) -> None:
    from core.imageio import load_image
    from core.registry import backends, create_detector
    from core.runtimes import read_meta

    assert next(b for b in backends() if b.key == "mtcnn:tensorrt").available
    image = load_image(fr_images / "obama.jpg")
    ref = create_detector("mtcnn:onnxruntime").detect(image)
    det = create_detector("mtcnn:tensorrt")
    got = det.detect(image)
    assert len(got) == len(ref) == 1
    np.testing.assert_allclose(got[0].box, ref[0].box, atol=1e-3)
    np.testing.assert_allclose(got[0].landmarks, ref[0].landmarks, atol=1e-3)
    # one engine per net, built once, with the profile the sidecar asks for
    assert fake_trt["builds"] == 3
    engines = sorted(tmp_path.rglob("*.engine"))
    assert len(engines) == 3
    assert {p.parent for p in engines} == {tmp_path / "tensorrt" / "fake-gpu-9000-trt10.0.fake"}
    from core.models import artifacts

    pnet_meta = read_meta(artifacts()["mtcnn/pnet-onnx"].path)
    assert pnet_meta["input_shapes"] in fake_trt["profiles"]
    create_detector("mtcnn:tensorrt").detect(image)
    assert fake_trt["builds"] == 3, "cached engines were rebuilt"


def test_facenet_on_tensorrt_glue_matches_onnxruntime(fake_trt, fr_images) -> None:
    from core.imageio import load_image
    from core.registry import create_detector, create_recognizer

    image = load_image(fr_images / "obama.jpg")
    faces = create_detector("mtcnn:onnxruntime").detect(image)
    crops = np.stack([create_recognizer("facenet128:onnxruntime").align(image, faces[0])] * 3)
    ref = create_recognizer("facenet128:onnxruntime").embed_crops(crops)
    got = create_recognizer("facenet128:tensorrt").embed_crops(crops)
    got_one = create_recognizer("facenet128:tensorrt").embed_crops(crops[:1])  # buffers of another size
    np.testing.assert_allclose(got, ref, atol=1e-5)
    np.testing.assert_allclose(got_one, ref[:1], atol=1e-5)
