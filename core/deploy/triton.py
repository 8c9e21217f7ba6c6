"""FaceGate's models on NVIDIA Triton Inference Server.

Two uses:

- :func:`serve_crops` / ``python -m core.deploy.triton serve``: a real Triton (2.51, bundled by
  ``nvidia-pytriton``; runs on CPU) on loopback serving ``<model>_crops`` with FaceGate's recognizer
  behind it and Triton's dynamic batcher in front. Hybrid mode talks to it unchanged: same model
  name, tensors and shapes as ``main.py serve`` (:mod:`core.deploy.protocol`). The interop test
  (``tests/test_triton.py``) runs it.
- :func:`write_model_repository` / ``python -m core.deploy.triton repository OUT``: a model
  repository (``config.pbtxt`` per model, dynamic batching, instance groups) for a Triton cluster;
  ``docs/triton.md`` explains it.

Two facts about ``nvidia-pytriton`` 0.7.0 handled here:

- its Python-backend stub embeds the interpreter's ``libpython`` and must find it: pyenv builds keep
  it outside the linker's paths, so ``LD_LIBRARY_PATH`` gets this interpreter's ``LIBDIR``;
- the stub is built against NumPy 1 (old pybind11): with NumPy 2 installed (FaceGate's OpenCV needs
  it) it returns empty output tensors. The stub therefore runs in a small overlay environment
  (:func:`stub_environment`, in the FaceGate cache): NumPy 1.26 first, then this environment's
  site-packages. Only the stub sees NumPy 1; FaceGate's own process keeps NumPy 2, and tensors
  cross between them as raw bytes (PyTriton's shared-memory format), so both agree.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import site
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.deploy.protocol import (
    CROPS_INPUT,
    CROPS_JPEG_INPUT,
    CROPS_OUTPUT,
    FRAME_INPUT,
    crops_model_name,
    frame_model_name,
)
from core.deploy.signals import on_stop_signals
from core.errors import BackendUnavailable

log = logging.getLogger(__name__)

STUB_NUMPY = "numpy>=1.26,<2"


def pytriton_status() -> tuple[bool, str | None]:
    """Whether ``nvidia-pytriton`` can be imported here, and why not."""
    import importlib.util

    if importlib.util.find_spec("pytriton") is None:
        return False, "nvidia-pytriton is not installed (pip install nvidia-pytriton)"
    if not sys.platform.startswith("linux"):
        return False, f"nvidia-pytriton runs on Linux only, not {sys.platform}"
    return True, None


def stub_environment(root: Path | None = None, with_facegate: bool = False) -> Path:
    """A Python environment for Triton's Python-backend stub: this one, or an overlay with NumPy 1.

    Created once under ``<cache>/pytriton-stub-py<X.Y>`` (``pip install --target`` of NumPy 1 from the
    package index, plus a ``.pth`` file adding this environment's site-packages after it).
    ``with_facegate`` also puts this FaceGate checkout on its path (a model repository's
    ``model.py`` imports FaceGate inside the stub; PyTriton's stub only relays to this process).

    Raises:
        BackendUnavailable: NumPy 1 could not be installed (no index reachable, no pip).
    """
    if int(np.__version__.split(".")[0]) < 2 and not with_facegate:
        return Path(sys.exec_prefix)
    from core.paths import cache_dir

    ver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    env = (root or cache_dir()) / f"pytriton-stub-py{ver}{'-facegate' if with_facegate else ''}"
    target = env / "lib" / f"python{ver}" / "site-packages"
    done = env / ".facegate-ready"
    if done.exists():
        _write_host_paths(target, with_facegate)  # this checkout and this environment, not the first one's
        return env
    log.warning("preparing the Triton Python-backend environment (NumPy 1 overlay) in %s", env)
    env.mkdir(parents=True, exist_ok=True)
    commands = []
    if not (env / "pyvenv.cfg").exists():
        # a venv without pip: only its pyvenv.cfg and bin/python matter (the stub finds them on PATH)
        commands.append([sys.executable, "-m", "venv", "--without-pip", str(env)])
    if int(np.__version__.split(".")[0]) >= 2:
        commands.append(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--target",
                str(target),
                STUB_NUMPY,
            ]
        )
    for cmd in commands:
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as err:
            lines = (getattr(err, "stderr", "") or str(err)).strip().splitlines()
            reason = lines[-1] if lines else str(err)
            raise BackendUnavailable(
                f"cannot prepare the Triton stub environment ({STUB_NUMPY}): {reason}"
            ) from None
    _write_host_paths(target, with_facegate)
    done.write_text(STUB_NUMPY + "\n")
    return env


def _write_host_paths(target: Path, with_facegate: bool) -> None:
    """The stub's ``.pth``: this environment's site-packages and, ``with_facegate``, this checkout. Written
    at every start: the cached overlay is shared by every checkout and environment that uses the cache."""
    paths = [p for p in site.getsitepackages() if Path(p).is_dir()]
    if with_facegate:
        paths.insert(0, str(Path(__file__).resolve().parents[2]))
    target.mkdir(parents=True, exist_ok=True)
    (target / "facegate-host.pth").write_text("\n".join(paths) + "\n")


def _prepare_process_env(stub_env: Path) -> None:
    """What Triton's children (server and stub) inherit: libpython on the library path, the stub env."""
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir:
        paths = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
        if libdir not in paths:
            os.environ["LD_LIBRARY_PATH"] = ":".join([libdir, *paths])
    import pytriton.server.triton_server as triton_server

    # PyTriton puts this env's bin/ first on the server's PATH; the stub's Python finds its prefix there
    triton_server.get_triton_python_backend_python_env = lambda: stub_env


@contextlib.contextmanager
def serve_crops(
    recognizer: Any,
    host: str = "127.0.0.1",
    http_port: int = 8000,
    grpc_port: int = 8001,
    metrics_port: int = 8002,
    max_batch: int = 64,
    queue_delay_us: int = 2000,
) -> Iterator[str]:
    """Run Triton with ``<model>_crops`` (FaceGate's ``recognizer`` behind it); yields its http URL.

    Raises:
        BackendUnavailable: PyTriton is missing, or Triton did not start (the reason in one line).
    """
    ok, why = pytriton_status()
    if not ok:
        raise BackendUnavailable(why or "nvidia-pytriton unavailable")
    _prepare_process_env(stub_environment())
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    s, d = int(recognizer.input_size), int(recognizer.dim)

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        crops = np.asarray(inputs[CROPS_INPUT], np.uint8)
        return {CROPS_OUTPUT: np.asarray(recognizer.embed_crops(crops), np.float32)}

    config = TritonConfig(
        http_address=host,
        http_port=http_port,
        grpc_address=host,
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        allow_metrics=False,
        exit_timeout_secs=5,
        log_verbose=0,
    )
    try:
        triton = Triton(config=config)
        triton.__enter__()
    except Exception as err:  # noqa: BLE001 - any start failure is "Triton cannot run here"
        raise BackendUnavailable(f"Triton did not start: {type(err).__name__}: {err}") from None
    try:
        triton.bind(
            model_name=crops_model_name(recognizer.model),
            infer_func=infer,
            inputs=[Tensor(name=CROPS_INPUT, dtype=np.uint8, shape=(s, s, 3))],
            outputs=[Tensor(name=CROPS_OUTPUT, dtype=np.float32, shape=(d,))],
            config=ModelConfig(
                max_batch_size=max_batch, batcher=DynamicBatcher(max_queue_delay_microseconds=queue_delay_us)
            ),
            strict=True,
        )
        try:
            triton.run()
        except Exception as err:  # noqa: BLE001
            raise BackendUnavailable(f"Triton did not start: {type(err).__name__}: {err}") from None
        yield f"http://{host}:{http_port}"
    finally:
        triton.__exit__(None, None, None)


# ------------------------------------------------------------------------------ cluster repository

_CROPS_CONFIG = """\
# FaceGate hybrid mode: aligned RGB face crops ({what}) in, L2-normalised embeddings out.
name: "{name}"
backend: "python"
max_batch_size: {max_batch}
input [ {{ name: "{inp}" data_type: {dtype} dims: [ {dims} ] }} ]
output [ {{ name: "{out}" data_type: TYPE_FP32 dims: [ {d} ] }} ]
dynamic_batching {{
  preferred_batch_size: [ 8, 16, 32 ]
  max_queue_delay_microseconds: {delay}
  default_queue_policy {{
    timeout_action: REJECT default_timeout_microseconds: 2000000 allow_timeout_override: true
  }}
}}
instance_group [ {{ count: {instances} kind: {kind} }} ]
parameters {{ key: "recognizer" value: {{ string_value: "{recognizer}" }} }}
parameters {{ key: "threads" value: {{ string_value: "{threads}" }} }}
"""

_FRAME_CONFIG = """\
# FaceGate cloud mode: encoded frames (JPEG) in; boxes, scores, landmarks, embeddings out (padded).
name: "{name}"
backend: "python"
max_batch_size: {max_batch}
input [ {{ name: "{inp}" data_type: TYPE_STRING dims: [ 1 ] }} ]
output [
  {{ name: "NUM_FACES" data_type: TYPE_INT32 dims: [ 1 ] }},
  {{ name: "BOXES" data_type: TYPE_FP32 dims: [ -1, 4 ] }},
  {{ name: "SCORES" data_type: TYPE_FP32 dims: [ -1 ] }},
  {{ name: "LANDMARKS" data_type: TYPE_FP32 dims: [ -1, 5, 2 ] }},
  {{ name: "EMBEDDINGS" data_type: TYPE_FP32 dims: [ -1, {d} ] }}
]
dynamic_batching {{ max_queue_delay_microseconds: {delay} }}
instance_group [ {{ count: {instances} kind: {kind} }} ]
parameters {{ key: "detector" value: {{ string_value: "{detector}" }} }}
parameters {{ key: "recognizer" value: {{ string_value: "{recognizer}" }} }}
parameters {{ key: "threads" value: {{ string_value: "{threads}" }} }}
"""

_MODEL_PY = '''\
"""Triton Python backend for FaceGate's {kind} model: wraps core.deploy.server.{cls}.

Needs FaceGate importable in the backend's Python (PYTHONPATH or an EXECUTION_ENV_PATH archive)
and the model files in FACEGATE_CACHE. Written by `python -m core.deploy.triton repository`.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        from core.deploy.protocol import InferRequest, Tensor
        from core.deploy.server import Limits, {cls}
        from core.registry import create_detector, create_recognizer

        params = {{k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}}
        limits = Limits(max_frames=1 << 16, max_crops=1 << 16)
        # onnxruntime threads per instance (0: one per core of the node, which a pod's CPU limit may not give)
        threads = int(params.get("threads") or 0)
        options = {{"threads": threads}} if threads > 0 else {{}}
        recognizer = create_recognizer(params["recognizer"], **options)
        {build}
        self.InferRequest, self.Tensor = InferRequest, Tensor

    def execute(self, requests):
        items, failed = [], {{}}
        for k, r in enumerate(requests):
            try:
                data = pb_utils.get_input_tensor_by_name(r, "{inp}").as_numpy()
                {convert}
                tensor = self.Tensor("{inp}", "{dtype}", tuple(shape), value)
                items.append(self.model.prepare(self.InferRequest(inputs={{"{inp}": tensor}}))[0])
            except Exception as err:  # a bad request fails alone, not its whole batch
                failed[k] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(err)))
        results = iter(self.model.run_batch(items) if items else [])
        responses = []
        for k in range(len(requests)):
            if k in failed:
                responses.append(failed[k])
                continue
            tensors = [pb_utils.Tensor(spec.name, np.ascontiguousarray(arr)) for spec, arr in next(results)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
'''


def _repository_models(model: str, max_batch: int, common: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(model name, config.pbtxt, model.py) of each model in the repository: crops, JPEG crops, frames."""
    return [
        (
            crops_model_name(model),
            _CROPS_CONFIG.format(
                name=crops_model_name(model),
                what="UINT8 tensors",
                max_batch=max_batch,
                inp=CROPS_INPUT,
                dtype="TYPE_UINT8",
                dims="160, 160, 3",
                out=CROPS_OUTPUT,
                **common,
            ),
            _MODEL_PY.format(
                kind="crops",
                cls="CropsModel",
                inp=CROPS_INPUT,
                dtype="UINT8",
                build="self.model = CropsModel(recognizer, limits)",
                convert="shape, value = data.shape, np.ascontiguousarray(data, np.uint8)",
            ),
        ),
        (
            crops_model_name(model, "jpeg"),
            _CROPS_CONFIG.format(
                name=crops_model_name(model, "jpeg"),
                what="160x160 JPEGs",
                max_batch=max_batch,
                inp=CROPS_JPEG_INPUT,
                dtype="TYPE_STRING",
                dims="1",
                out=CROPS_OUTPUT,
                **common,
            ),
            _MODEL_PY.format(
                kind="JPEG crops",
                cls="CropsJpegModel",
                inp=CROPS_JPEG_INPUT,
                dtype="BYTES",
                build="self.model = CropsJpegModel(recognizer, limits)",
                convert="shape, value = data.shape, [bytes(b) for b in data.reshape(-1)]",
            ),
        ),
        (
            frame_model_name(model),
            _FRAME_CONFIG.format(name=frame_model_name(model), max_batch=8, inp=FRAME_INPUT, **common),
            _MODEL_PY.format(
                kind="frame",
                cls="FrameModel",
                inp=FRAME_INPUT,
                dtype="BYTES",
                build="self.model = FrameModel(create_detector(params['detector'], **options), recognizer, limits)",
                convert="shape, value = data.shape, [bytes(b) for b in data.reshape(-1)]",
            ),
        ),
    ]


def write_model_repository(
    out: str | Path,
    recognizer_key: str = "facenet128:onnxruntime",
    detector_key: str = "mtcnn:onnxruntime",
    instances: int = 1,
    kind: str = "KIND_CPU",
    max_batch: int = 64,
    queue_delay_us: int = 2000,
    threads: int = 0,
) -> list[Path]:
    """Write a Triton model repository serving FaceGate's two models; returns the files written.

    The models are Python-backend wrappers of :class:`core.deploy.server.FrameModel` and
    :class:`core.deploy.server.CropsModel` (same tensors as ``main.py serve``), so a cluster gives
    the same answers as the bundled endpoint; ``docs/triton.md`` shows how to put the FaceNet network
    itself on the ONNX Runtime or TensorRT backend for GPU batching. ``threads``: onnxruntime threads
    of each instance (0: one per core of the machine).
    """
    from core.registry import RECOGNIZER_MODULES, parse_key

    model, _ = parse_key(recognizer_key, "recognizer")
    dim = int(__import__(RECOGNIZER_MODULES[model], fromlist=["DIM"]).DIM)
    root = Path(out)
    written: list[Path] = []
    common = {
        "recognizer": recognizer_key,
        "detector": detector_key,
        "instances": int(instances),
        "kind": kind,
        "d": dim,
        "delay": int(queue_delay_us),
        "threads": max(0, int(threads)),
    }
    for name, config, model_py in _repository_models(model, max_batch, common):
        (root / name / "1").mkdir(parents=True, exist_ok=True)
        for path, text in (
            (root / name / "config.pbtxt", config),
            (root / name / "1" / "model.py", model_py),
        ):
            path.write_text(text)
            written.append(path)
    return written


def start_tritonserver(
    repository: str | Path,
    host: str = "127.0.0.1",
    http_port: int = 8000,
    grpc_port: int = 8001,
    log_path: str | Path | None = None,
) -> subprocess.Popen:
    """Start the ``tritonserver`` bundled in ``nvidia-pytriton`` on a model repository (Python backend).

    What a Triton cluster node runs, on this machine: the repository of :func:`write_model_repository`
    loads as written. The Python backend's stub gets the NumPy 1 overlay with FaceGate on its path.
    Returns the process (stop it with :func:`stop_tritonserver`); readiness is ``GET /v2/health/ready``.

    Raises:
        BackendUnavailable: PyTriton is missing or its bundle lacks a stub for this Python.
    """
    import shutil
    import tempfile

    ok, why = pytriton_status()
    if not ok:
        raise BackendUnavailable(why or "nvidia-pytriton unavailable")
    from pytriton.triton import TRITONSERVER_DIST_DIR
    from pytriton.utils.distribution import get_libs_path, get_stub_path

    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    stub = Path(get_stub_path(version))
    if not stub.exists():
        raise BackendUnavailable(f"nvidia-pytriton has no Python-backend stub for Python {version}")
    work = Path(tempfile.mkdtemp(prefix="facegate-triton-"))
    backend = work / "backends" / "python"
    backend.mkdir(parents=True)
    for f in ("libtriton_python.so", "triton_python_backend_utils.py"):
        shutil.copy(Path(TRITONSERVER_DIST_DIR) / "backends" / "python" / f, backend / f)
    shutil.copy(stub, backend / "triton_python_backend_stub")
    env_dir = stub_environment(with_facegate=True)
    libs = [sysconfig.get_config_var("LIBDIR") or "", str(get_libs_path())]
    environ = {
        **os.environ,
        "PATH": f"{env_dir / 'bin'}:{os.environ.get('PATH', '')}",
        "LD_LIBRARY_PATH": ":".join(p for p in [*libs, os.environ.get("LD_LIBRARY_PATH", "")] if p),
    }
    cmd = [
        str(Path(TRITONSERVER_DIST_DIR) / "bin" / "tritonserver"),
        "--model-repository",
        str(repository),
        "--backend-directory",
        str(work / "backends"),
        "--http-address",
        host,
        "--http-port",
        str(http_port),
        "--grpc-address",
        host,
        "--grpc-port",
        str(grpc_port),
        "--allow-metrics",
        "false",
        "--exit-timeout-secs",
        "5",
    ]
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen(cmd, env=environ, stdout=out, stderr=subprocess.STDOUT, cwd=work)


# ------------------------------------------------------------------------------ command line


def stop_tritonserver(proc: subprocess.Popen) -> None:
    """Stop a :func:`start_tritonserver` process, then the Python-backend stubs it started (a killed
    server leaves them running)."""
    import psutil

    try:
        stubs = [
            c
            for c in psutil.Process(proc.pid).children()
            if any("triton_python_backend_stub" in part for part in c.cmdline())
        ]
    except psutil.Error:
        stubs = []
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    for stub in stubs:
        with contextlib.suppress(psutil.Error):
            stub.kill()


def main(argv: list[str] | None = None) -> int:
    """``python -m core.deploy.triton serve|repository``."""
    parser = argparse.ArgumentParser(prog="python -m core.deploy.triton", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="Triton (via nvidia-pytriton) serving <model>_crops on loopback")
    p.add_argument("--recognizer", default=None, help="recognizer key (default: FaceGate's default)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--grpc-port", type=int, default=8001)
    p.add_argument("--metrics-port", type=int, default=8002)
    p.add_argument("--max-batch", type=int, default=64)
    sub.add_parser("prepare", help="prepare the Python-backend stub environments (NumPy 1 overlay) now")
    p = sub.add_parser("repository", help="write a Triton model repository for a cluster")
    p.add_argument("out")
    p.add_argument("--recognizer", default="facenet128:onnxruntime")
    p.add_argument("--detector", default="mtcnn:onnxruntime")
    p.add_argument("--instances", type=int, default=1)
    p.add_argument("--kind", default="KIND_CPU", choices=["KIND_CPU", "KIND_GPU"])
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="onnxruntime threads per instance (default 0: one per core of the node; set it to the CPU "
        "limit / --instances in a container)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "prepare":
        try:
            for env in (stub_environment(), stub_environment(with_facegate=True)):
                print(env)
        except BackendUnavailable as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            return 3
        return 0
    if args.command == "repository":
        for path in write_model_repository(
            args.out, args.recognizer, args.detector, args.instances, args.kind, threads=args.threads
        ):
            print(path)
        return 0
    from core.registry import DEFAULT_RECOGNIZER, create_recognizer

    recognizer = create_recognizer(args.recognizer or DEFAULT_RECOGNIZER)
    recognizer.warmup()
    stop = False

    def _stop(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    try:
        with (
            on_stop_signals(_stop),
            serve_crops(
                recognizer, args.host, args.http_port, args.grpc_port, args.metrics_port, args.max_batch
            ) as url,
        ):
            print(
                f"triton serving {crops_model_name(recognizer.model)} ({recognizer.key}) on {url}", flush=True
            )
            while not stop:
                time.sleep(0.2)
    except BackendUnavailable as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 3
    print("triton stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
