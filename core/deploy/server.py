"""The recognition endpoint: ``main.py serve`` speaks KServe v2 (HTTP, JSON + binary tensors).

Routes (``{name}`` is ``<model>_frame`` or ``<model>_crops``, see :mod:`core.deploy.protocol`;
``/versions/1`` may follow ``{name}``):

- ``GET /v2/health/live``, ``GET /v2/health/ready`` - no token needed (load balancers probe them);
- ``GET /v2`` - server metadata; ``GET /v2/models/{name}`` - model metadata;
  ``GET /v2/models/{name}/ready``; ``GET /v2/models/{name}/config`` - Triton-style configuration;
- ``POST /v2/models/{name}/infer`` - inference.

Every route but health needs ``Authorization: Bearer <token>`` (401 otherwise). The endpoint is
stateless: frames or crops in, boxes/landmarks/embeddings out; the gallery and the matching stay on
the operator's site. An infer request that carries ``parameters.facegate_nonce`` gets
``parameters.facegate_hmac`` back: HMAC-SHA256, keyed by the token, over the nonce and the output
tensors (:func:`core.deploy.protocol.answer_mac`), so a client can tell our answers from anyone
else's.

HTTP: uvicorn (asyncio, h11) runs an ASGI app (:class:`EndpointApp`). An idle or slow connection
costs a file descriptor, not a thread, so holding sockets open locks nobody out; h11 is strict
(conflicting ``Content-Length`` headers, bad framing: 400) and TLS is asyncio's. What uvicorn lacks
is added in :class:`_HeadDeadlineH11`: a connection must deliver a request head within
``read_timeout_s`` (else it is closed), not only between keep-alive requests.

Work per request is bounded before anything is decoded: body size (413), images per request
(400), pixels per image and per request (413, read from the image headers), and server-wide the
body bytes and decoded pixels in flight (429 past them). JSON parsing and image decoding run in a
small thread pool (``decode_workers``); inference runs in per-model worker threads fed by a
bounded queue (429 when full): each worker runs everything queued when it is free (up to the
model's max batch) as one batch, dynamic batching without an added delay.

Limits come from ``args`` attributes when the CLI has them, else from environment variables
(``FACEGATE_SERVE_<NAME>`` for each :class:`Limits` field), else the :class:`Limits` defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import queue
import re
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from core.deploy.protocol import (
    CROPS_INPUT,
    CROPS_JPEG_INPUT,
    CROPS_OUTPUT,
    FRAME_INPUT,
    HEADER_LENGTH,
    NONCE_PARAMETER,
    InferRequest,
    ProtocolError,
    TensorSpec,
    crops_model_name,
    decode_request,
    encode_response,
    error_body,
    frame_model_name,
    is_loopback,
    read_token,
)
from core.errors import FaceGateError, ImageError

log = logging.getLogger(__name__)

SERVER_NAME = "facegate"
SERVER_VERSION = "0.2.0"
_MODEL_ROUTE = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<rest>/[a-z]+)?$")


@dataclass
class Limits:
    """What one request may ask of the endpoint, and how long it may take. Sizes in bytes/px, times in s."""

    max_body_mb: float = 16.0  # whole HTTP body (413 past it)
    max_pixels: int = 4096 * 4096  # per decoded image, read from the header before decoding (413)
    max_request_pixels: int = 4096 * 4096  # all images of one request together (413)
    max_pixels_in_flight: int = 2 * 4096 * 4096  # decoded pixels held by all requests at once (429)
    max_bytes_in_flight_mb: float = 64.0  # request bodies held by all requests at once (429)
    max_frames: int = 8  # images per frame-model request (400)
    max_crops: int = 64  # crops per crops-model request (400)
    read_timeout_s: float = 10.0  # to receive a request's head, and then its body (408 / closed)
    idle_timeout_s: float = 120.0  # a keep-alive connection idle this long is closed
    infer_timeout_s: float = 30.0  # longest a request waits for its batch to run (503)
    max_connections: int = 4096  # open connections (idle ones cost a descriptor); past it requests get 503
    max_queue: int = 64  # requests waiting per model; more are answered 429
    instances: int = 1  # worker threads per model (Triton's instance_group count)
    decode_workers: int = 2  # threads parsing bodies and decoding images (all models together)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 2**20)

    @property
    def max_bytes_in_flight(self) -> int:
        return int(self.max_bytes_in_flight_mb * 2**20)

    @classmethod
    def from_args(cls, args: Any = None) -> Limits:
        """Each limit from ``args.<name>`` if set, else ``FACEGATE_SERVE_<NAME>``, else the default."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = getattr(args, f.name, None) if args is not None else None
            if value is None:
                value = os.environ.get(f"FACEGATE_SERVE_{f.name.upper()}")
            if value is None:
                continue
            kind = int if f.type in ("int", int) else float
            try:
                number = kind(value)
            except (TypeError, ValueError):
                raise FaceGateError(f"serve: {f.name} must be a number, not {value!r}") from None
            if number <= 0:
                raise FaceGateError(f"serve: {f.name} must be positive, not {value!r}")
            values[f.name] = number
        return cls(**values)


class _Budget:
    """A thread-safe count of something held (bytes, pixels) with a ceiling; ``take`` never blocks."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.held = 0
        self._lock = threading.Lock()

    def take(self, amount: int) -> bool:
        with self._lock:
            if self.held + amount > self.limit:
                return False
            self.held += amount
            return True

    def give(self, amount: int) -> None:
        with self._lock:
            self.held -= amount


# ------------------------------------------------------------------------------ models


class Model:
    """A served model: its v2 tensors, input validation (connection thread) and batched inference (worker)."""

    name: str = ""
    version: str = "1"
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    max_batch_size: int = 1
    max_elements: int = 1

    def prepare(self, request: InferRequest) -> tuple[Any, int]:
        """Validate and decode a request's inputs: (work item, its batch size). Raises ProtocolError."""
        raise NotImplementedError

    def pixels(self, request: InferRequest) -> int:
        """Pixels the request's images will take once decoded, read without decoding (413 past limits)."""
        return 0

    def run_batch(self, items: Sequence[Any]) -> list[list[tuple[TensorSpec, np.ndarray]]]:
        """Run work items as one batch: each item's outputs, in ``outputs`` order."""
        raise NotImplementedError

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": SERVER_NAME,
            "inputs": [s.metadata() for s in self.inputs],
            "outputs": [s.metadata() for s in self.outputs],
        }

    def config(self) -> dict[str, Any]:
        """The model as Triton's ``/config`` describes one (dims without the batch dimension)."""

        def entry(s: TensorSpec) -> dict[str, Any]:
            return {
                "name": s.name,
                "data_type": f"TYPE_{'STRING' if s.datatype == 'BYTES' else s.datatype}",
                "dims": list(s.shape[1:]),
            }

        return {
            "name": self.name,
            "platform": SERVER_NAME,
            "max_batch_size": self.max_batch_size,
            "input": [entry(s) for s in self.inputs],
            "output": [entry(s) for s in self.outputs],
            "dynamic_batching": {},
            "parameters": self.parameters(),
        }

    def parameters(self) -> dict[str, dict[str, str]]:
        return {}


class CropsModel(Model):
    """``<model>_crops``: aligned RGB crops ``CROPS`` UINT8 [N, S, S, 3] -> ``EMBEDDINGS`` FP32 [N, D]."""

    def __init__(self, recognizer: Any, limits: Limits) -> None:
        self.recognizer = recognizer
        s, d = int(recognizer.input_size), int(recognizer.dim)
        self.size = s
        self.name = crops_model_name(recognizer.model)
        self.max_batch_size = limits.max_crops
        self.max_elements = limits.max_crops * s * s * 3
        self.inputs = (TensorSpec(CROPS_INPUT, "UINT8", (-1, s, s, 3)),)
        self.outputs = (TensorSpec(CROPS_OUTPUT, "FP32", (-1, d)),)

    def parameters(self) -> dict[str, dict[str, str]]:
        return {"recognizer": {"string_value": self.recognizer.key}}

    def prepare(self, request: InferRequest) -> tuple[Any, int]:
        t = request.inputs[CROPS_INPUT]
        s = self.size
        if len(t.shape) != 4 or t.shape[1:] != (s, s, 3):
            raise ProtocolError(
                f"{CROPS_INPUT} must have shape [N, {s}, {s}, 3] (RGB crops), got {list(t.shape)}"
            )
        n = t.shape[0]
        if n > self.max_batch_size:
            raise ProtocolError(f"{CROPS_INPUT}: batch of {n} crops, limit {self.max_batch_size}")
        return t.data, n

    def pixels(self, request: InferRequest) -> int:
        tensor = next(iter(request.inputs.values()))
        return int(tensor.shape[0] if tensor.shape else 0) * self.size * self.size

    def run_batch(self, items: Sequence[Any]) -> list[list[tuple[TensorSpec, np.ndarray]]]:
        sizes = [len(x) for x in items]
        crops = [x for x in items if len(x)]
        emb = (
            self.recognizer.embed_crops(np.concatenate(crops))
            if crops
            else np.zeros((0, self.recognizer.dim), np.float32)
        )
        out, pos = [], 0
        for n in sizes:
            out.append([(self.outputs[0], emb[pos : pos + n])])
            pos += n
        return out


class CropsJpegModel(CropsModel):
    """``<model>_crops_jpeg``: ``CROPS_JPEG`` BYTES [N, 1] (S x S JPEG/PNG crops) -> ``EMBEDDINGS`` [N, D]."""

    def __init__(self, recognizer: Any, limits: Limits) -> None:
        super().__init__(recognizer, limits)
        self.name = crops_model_name(recognizer.model, "jpeg")
        self.max_elements = limits.max_crops
        self.inputs = (TensorSpec(CROPS_JPEG_INPUT, "BYTES", (-1, 1)),)

    def prepare(self, request: InferRequest) -> tuple[Any, int]:
        import cv2

        t = request.inputs[CROPS_JPEG_INPUT]
        s = self.size
        if len(t.shape) not in (1, 2) or (len(t.shape) == 2 and t.shape[1] != 1):
            raise ProtocolError(
                f"{CROPS_JPEG_INPUT} must have shape [N, 1] of encoded crops, got {list(t.shape)}"
            )
        crops = []
        for i, data in enumerate(t.data):
            image = _decode(data, f"{CROPS_JPEG_INPUT}[{i}]", s * s)
            if image.shape[:2] != (s, s):
                raise ProtocolError(
                    f"{CROPS_JPEG_INPUT}[{i}]: crops must be {s}x{s} px, got "
                    f"{image.shape[1]}x{image.shape[0]}"
                )
            crops.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        n = len(crops)
        return (np.stack(crops) if crops else np.zeros((0, s, s, 3), np.uint8)), n


def _header_size(data: bytes, where: str, max_pixels: int) -> tuple[int, int]:
    """(width, height) of a JPEG or PNG from its header (only those: theirs give the size before
    decoding); 400 for anything else, 413 past ``max_pixels``."""
    from core.imageio import header_size

    size = header_size(data) if data[:2] == b"\xff\xd8" or data[:4] == b"\x89PNG" else None
    if size is None:
        raise ProtocolError(f"{where}: not a JPEG or PNG image ({len(data)} bytes)")
    if size[0] * size[1] > max_pixels:
        raise ProtocolError(
            f"{where}: image too large ({size[0]}x{size[1]} px, limit {max_pixels / 1e6:.1f} MP)", 413
        )
    return int(size[0]), int(size[1])


def _decode(data: bytes, where: str, max_pixels: int) -> np.ndarray:
    """A JPEG or PNG as BGR, within ``max_pixels`` (checked from the header first)."""
    from core.imageio import decode_image

    _header_size(data, where, max_pixels)
    try:
        return decode_image(data, where, max_pixels=max_pixels)
    except ImageError as err:
        raise ProtocolError(str(err)) from None


class FrameModel(Model):
    """``<model>_frame``: encoded images -> faces (boxes, scores, landmarks, embeddings), padded."""

    def __init__(self, detector: Any, recognizer: Any, limits: Limits) -> None:
        self.detector, self.recognizer = detector, recognizer
        self.max_pixels = limits.max_pixels
        self.max_request_pixels = limits.max_request_pixels
        d = int(recognizer.dim)
        self.name = frame_model_name(recognizer.model)
        self.max_batch_size = limits.max_frames
        self.max_elements = limits.max_frames
        self.inputs = (TensorSpec(FRAME_INPUT, "BYTES", (-1, 1)),)
        self.outputs = (
            TensorSpec("NUM_FACES", "INT32", (-1, 1)),
            TensorSpec("BOXES", "FP32", (-1, -1, 4)),
            TensorSpec("SCORES", "FP32", (-1, -1)),
            TensorSpec("LANDMARKS", "FP32", (-1, -1, 5, 2)),
            TensorSpec("EMBEDDINGS", "FP32", (-1, -1, d)),
        )

    def parameters(self) -> dict[str, dict[str, str]]:
        return {
            "detector": {"string_value": self.detector.key},
            "recognizer": {"string_value": self.recognizer.key},
        }

    def prepare(self, request: InferRequest) -> tuple[Any, int]:
        t = request.inputs[FRAME_INPUT]
        if len(t.shape) not in (1, 2) or (len(t.shape) == 2 and t.shape[1] != 1):
            raise ProtocolError(
                f"{FRAME_INPUT} must have shape [N, 1] (or [N]) of encoded images, got {list(t.shape)}"
            )
        n = t.shape[0]
        if n > self.max_batch_size:
            raise ProtocolError(f"{FRAME_INPUT}: batch of {n} images, limit {self.max_batch_size}")
        self.pixels(request)
        images = [_decode(data, f"{FRAME_INPUT}[{i}]", self.max_pixels) for i, data in enumerate(t.data)]
        return images, n

    def pixels(self, request: InferRequest) -> int:
        """Decoded pixels of the request's images, from their headers; 413 past the per-image or
        per-request limit (checked before any image is decoded)."""
        total = 0
        for i, data in enumerate(request.inputs[FRAME_INPUT].data):
            w, h = _header_size(data, f"{FRAME_INPUT}[{i}]", self.max_pixels)
            total += w * h
            if total > self.max_request_pixels:
                raise ProtocolError(
                    f"{FRAME_INPUT}: images of this request hold over {self.max_request_pixels / 1e6:.1f} MP "
                    f"(the per-request limit); send fewer or smaller frames",
                    413,
                )
        return total

    def run_batch(self, items: Sequence[Any]) -> list[list[tuple[TensorSpec, np.ndarray]]]:
        rec = self.recognizer
        per_item = []
        crops: list[np.ndarray] = []
        for images in items:
            found = []
            for image in images:
                faces = self.detector.detect(image)
                crops.extend(rec.align(image, f) for f in faces)
                found.append(faces)
            per_item.append(found)
        emb = rec.embed_crops(np.stack(crops)) if crops else np.zeros((0, rec.dim), np.float32)
        out, pos = [], 0
        for found in per_item:
            n, most = len(found), max((len(f) for f in found), default=0)
            counts = np.zeros((n, 1), np.int32)
            boxes = np.zeros((n, most, 4), np.float32)
            scores = np.zeros((n, most), np.float32)
            marks = np.full((n, most, 5, 2), np.nan, np.float32)
            embs = np.zeros((n, most, rec.dim), np.float32)
            for i, faces in enumerate(found):
                counts[i, 0] = len(faces)
                for j, f in enumerate(faces):
                    boxes[i, j] = np.asarray(f.box, np.float32)[:4]
                    scores[i, j] = f.score
                    if f.landmarks is not None:
                        marks[i, j] = np.asarray(f.landmarks, np.float32).reshape(5, 2)
                    embs[i, j] = emb[pos]
                    pos += 1
            out.append(list(zip(self.outputs, (counts, boxes, scores, marks, embs), strict=True)))
        return out


# ------------------------------------------------------------------------------ batching


@dataclass
class _Job:
    item: Any
    size: int
    deadline: float  # time.monotonic()
    future: Future


class Batcher:
    """Worker thread(s) running a model on everything queued (up to its max batch) as one batch."""

    def __init__(self, model: Model, max_queue: int, instances: int = 1) -> None:
        self.model = model
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max_queue)
        self.batches = 0
        self.items = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"infer-{model.name}-{i}", daemon=True)
            for i in range(max(1, instances))
        ]
        for t in self._threads:
            t.start()

    def submit(self, item: Any, size: int, deadline: float) -> Future:
        """Queue one request's work; raises ProtocolError 429 when the queue is full."""
        job = _Job(item, size, deadline, Future())
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise ProtocolError(
                f"{self.model.name}: too many requests queued ({self._queue.maxsize}); retry later", 429
            ) from None
        return job.future

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)

    def _take(self, carry: _Job | None) -> tuple[list[_Job] | None, _Job | None]:
        """The next batch and the job left for the one after: the first job (``carry`` if any),
        then whatever else is queued that fits in the model's max batch."""
        first = carry if carry is not None else self._queue.get()
        if first is None:
            return None, None
        jobs, total = [first], first.size
        while total < self.model.max_batch_size:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # keep the stop signal for the loop
                break
            if total + job.size > self.model.max_batch_size:
                return jobs, job
            jobs.append(job)
            total += job.size
        return jobs, None

    def _run(self) -> None:
        carry: _Job | None = None
        while True:
            jobs, carry = self._take(carry)
            if jobs is None:
                return
            now = time.monotonic()
            live = []
            for job in jobs:
                if job.future.set_running_or_notify_cancel() is False:
                    continue
                if now > job.deadline:
                    job.future.set_exception(
                        ProtocolError(
                            f"{self.model.name}: request waited past its deadline in the queue (server busy)",
                            503,
                        )
                    )
                    continue
                live.append(job)
            if not live:
                continue
            try:
                results = self.model.run_batch([j.item for j in live])
            except Exception as err:  # noqa: BLE001 - a failed batch answers its requests, never kills the worker
                log.exception("%s: batch of %d failed", self.model.name, len(live))
                for job in live:
                    job.future.set_exception(
                        ProtocolError(
                            f"{self.model.name}: inference failed ({type(err).__name__}: {err})", 500
                        )
                    )
                continue
            self.batches += 1
            self.items += sum(j.size for j in live)
            for job, result in zip(live, results, strict=True):
                job.future.set_result(result)


# ------------------------------------------------------------------------------ HTTP (ASGI on uvicorn)


class _Refused(Exception):
    """An answer other than 200 for the current request; ``close`` when its body was not read."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, close: bool = False):
        super().__init__(message)
        self.status, self.headers, self.close = status, headers or {}, close


class _Gone(Exception):
    """The client closed the connection mid-request: nobody to answer."""


class EndpointApp:
    """The v2 routes as an ASGI app: authentication, budgets, decoding pool, batchers."""

    def __init__(
        self, models: Sequence[Model], token: str | None = None, limits: Limits | None = None
    ) -> None:
        self.limits = limits or Limits()
        self.models = {m.name: m for m in models}
        self.token = token.encode("utf-8") if token else None
        self.batchers = {m.name: Batcher(m, self.limits.max_queue, self.limits.instances) for m in models}
        self.decoder = ThreadPoolExecutor(self.limits.decode_workers, thread_name_prefix="decode")
        self.decoding = 0  # requests in (or waiting for) the decode pool; touched on the event loop only
        self.body_budget = _Budget(self.limits.max_bytes_in_flight)
        self.pixel_budget = _Budget(self.limits.max_pixels_in_flight)
        self.ready = True

    def close(self) -> None:
        self.ready = False
        for b in self.batchers.values():
            b.close()
        self.decoder.shutdown(wait=False, cancel_futures=True)

    # ---------------------------------------------------------------- ASGI
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # nothing to set up: the models were warmed before listening
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        method = scope["method"]
        try:
            headers = _headers(scope["headers"])
            await self._route(method, scope["path"].rstrip("/") or "/", headers, receive, send)
        except _Refused as r:
            await _reply(send, method, r.status, error_body(str(r)), headers=r.headers, close=r.close)
        except _Gone:
            return
        except Exception as err:  # noqa: BLE001 - never let a request take the server down
            log.exception("%s %s failed", method, scope.get("path"))
            await _reply(send, method, 500, error_body(f"internal error ({type(err).__name__})"), close=True)

    async def _route(self, method: str, path: str, headers: dict[str, str], receive: Any, send: Any) -> None:
        if method not in ("GET", "HEAD", "POST"):
            raise _Refused(405, f"{method} is not supported here", {"Allow": "GET, HEAD, POST"}, close=True)
        if method != "POST" and path in ("/v2/health/live", "/v2/health/ready"):
            if path.endswith("ready") and not self.ready:
                raise _Refused(503, "not ready")
            await _reply(send, method, 200, b"")
            return
        m = _MODEL_ROUTE.match(path)
        if method == "POST":
            if m is None or m["rest"] != "/infer":
                known = m is not None and m["rest"] in ("/ready", "/config", None)
                raise _Refused(405 if known else 404, f"no POST route {path!r}", close=True)
            self._authorize(headers)
            await self._infer(self._model(m["name"], m["version"]), headers, receive, send)
            return
        self._authorize(headers)
        if path == "/v2":
            meta = {
                "name": SERVER_NAME,
                "version": SERVER_VERSION,
                "extensions": ["binary_tensor_data", "model_configuration"],
            }
            await _reply(send, method, 200, json.dumps(meta).encode())
            return
        if m is None:
            raise _Refused(404, f"no route {path!r}")
        model = self._model(m["name"], m["version"])
        rest = m["rest"]
        if rest is None:
            await _reply(send, method, 200, json.dumps(model.metadata()).encode())
        elif rest == "/ready":
            if not self.ready:
                raise _Refused(503, "not ready")
            await _reply(send, method, 200, b"")
        elif rest == "/config":
            await _reply(send, method, 200, json.dumps(model.config()).encode())
        elif rest == "/infer":
            raise _Refused(405, f"{method} is not supported on {path!r}; POST", {"Allow": "POST"})
        else:
            raise _Refused(404, f"no route {path!r}")

    def _authorize(self, headers: dict[str, str]) -> None:
        if self.token is None:
            return
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise _Refused(
                401,
                "missing bearer token (send 'Authorization: Bearer <token>')",
                {"WWW-Authenticate": 'Bearer realm="facegate"'},
                close=True,
            )
        if not hmac.compare_digest(given.strip().encode("utf-8"), self.token):
            raise _Refused(
                401,
                "invalid bearer token",
                {"WWW-Authenticate": 'Bearer realm="facegate", error="invalid_token"'},
                close=True,
            )

    def _model(self, name: str, version: str | None) -> Model:
        model = self.models.get(name)
        if model is None:
            raise _Refused(
                404, f"unknown model {name!r}; this endpoint serves {sorted(self.models)}", close=True
            )
        if version not in (None, "", model.version):
            raise _Refused(
                404, f"model {name!r} has no version {version!r} (only {model.version})", close=True
            )
        return model

    # ---------------------------------------------------------------- inference
    async def _infer(self, model: Model, headers: dict[str, str], receive: Any, send: Any) -> None:
        limits = self.limits
        if "transfer-encoding" in headers:
            raise _Refused(411, "chunked transfer encoding is not supported; send Content-Length", close=True)
        if headers.get("content-encoding", "identity").lower() != "identity":
            raise _Refused(
                415,
                f"Content-Encoding {headers['content-encoding']!r} is not supported; send the body uncompressed",
                close=True,
            )
        raw = headers.get(HEADER_LENGTH.lower())
        try:
            header_length = int(raw) if raw is not None else None
        except ValueError:
            raise _Refused(400, f"{HEADER_LENGTH} must be an integer, not {raw[:40]!r}", close=True) from None
        length = int(headers.get("content-length", "-1"))  # h11 checked it is one valid number
        if length < 0:
            raise _Refused(411, "a POST needs a Content-Length", close=True)
        if length > limits.max_body_bytes:
            raise _Refused(
                413, f"body of {length} bytes is over the limit of {limits.max_body_bytes} bytes", close=True
            )
        busy = {"Retry-After": "1"}
        if not self.body_budget.take(length):
            raise _Refused(429, "server busy receiving other requests; retry later", busy, close=True)
        try:
            body = await _read_body(receive, length, limits.read_timeout_s)
            if self.decoding >= 16 * limits.decode_workers:
                raise _Refused(429, "server busy decoding other requests; retry later", busy)
            t0 = time.perf_counter()
            self.decoding += 1
            try:
                request, item, size, pixels = await asyncio.get_running_loop().run_in_executor(
                    self.decoder, self._decode, model, body, header_length
                )
            finally:
                self.decoding -= 1
            del body
        except ProtocolError as err:
            raise _Refused(err.status, str(err), busy if err.status in (429, 503) else None) from None
        finally:
            self.body_budget.give(length)
        wait_s = min(limits.infer_timeout_s, request.timeout_s or limits.infer_timeout_s)
        try:
            future = self.batchers[model.name].submit(item, size, time.monotonic() + wait_s)
        except ProtocolError as err:
            self.pixel_budget.give(pixels)
            raise _Refused(err.status, str(err), busy) from None
        del item
        # the pixels stay reserved until the worker is done with them (or drops the job), even when
        # this request stops waiting first
        future.add_done_callback(lambda _: self.pixel_budget.give(pixels))
        try:
            outputs = await asyncio.wait_for(asyncio.wrap_future(future), limits.infer_timeout_s)
        except asyncio.TimeoutError:
            raise _Refused(
                503, f"{model.name}: no result within {limits.infer_timeout_s:g} s (server busy)", busy
            ) from None
        except ProtocolError as err:
            raise _Refused(err.status, str(err), busy if err.status in (429, 503) else None) from None
        params: dict[str, Any] = {"facegate_server_ms": round((time.perf_counter() - t0) * 1e3, 3)}
        try:
            body_out, json_size = encode_response(
                model.name, model.version, request, outputs, params, key=self.token
            )
        except ProtocolError as err:
            raise _Refused(err.status, str(err)) from None
        extra = {HEADER_LENGTH: str(json_size)} if json_size is not None else None
        kind = "application/octet-stream" if json_size is not None else "application/json"
        await _reply(send, "POST", 200, body_out, kind, extra)

    def _decode(
        self, model: Model, body: bytes, header_length: int | None
    ) -> tuple[InferRequest, Any, int, int]:
        """In the decode pool: parse, validate, reserve the pixels, decode. (request, item, size, pixels)."""
        request = decode_request(body, header_length, model.inputs, model.max_elements, model.max_batch_size)
        nonce = request.parameters.get(NONCE_PARAMETER)
        if nonce is not None and (not isinstance(nonce, str) or not 8 <= len(nonce) <= 256):
            raise ProtocolError(f"parameter {NONCE_PARAMETER!r} must be a string of 8-256 characters")
        pixels = model.pixels(request)
        if not self.pixel_budget.take(pixels):
            raise ProtocolError("server busy with other large requests; retry later", 429)
        try:
            item, size = model.prepare(request)
        except BaseException:
            self.pixel_budget.give(pixels)
            raise
        for t in request.inputs.values():  # the decoded item holds what the model needs; drop the raw data
            t.data = None
        return request, item, size, pixels


def _headers(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case name -> value; a header that matters given twice with different values is a 400."""
    out: dict[str, str] = {}
    for name_b, value_b in raw:
        name, value = name_b.decode("latin-1").lower(), value_b.decode("latin-1").strip()
        if name in out and out[name] != value and name in _SINGLE_HEADERS:
            raise _Refused(400, f"conflicting {name} headers", close=True)
        out.setdefault(name, value)
    return out


_SINGLE_HEADERS = {
    "content-length",
    "authorization",
    HEADER_LENGTH.lower(),
    "content-encoding",
    "transfer-encoding",
    "host",
}


async def _read_body(receive: Any, length: int, timeout_s: float) -> bytes:
    """The request body (``length`` bytes, h11 enforces the framing) within ``timeout_s`` (408)."""
    chunks: list[bytes] = []
    got = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
        except asyncio.TimeoutError:
            raise _Refused(
                408, f"request body not received within {timeout_s:g} s ({got} of {length} bytes)", close=True
            ) from None
        if message["type"] == "http.disconnect":
            raise _Gone
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
            got += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _reply(
    send: Any,
    method: str,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    close: bool = False,
) -> None:
    out = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"server", f"FaceGate/{SERVER_VERSION}".encode()),
    ]
    out += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    if close:  # the body was not read: the connection cannot carry another request
        out.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def _h11_protocol(head_timeout_s: float) -> type:
    """uvicorn's h11 protocol, plus a deadline for each request head (uvicorn has none before the first
    request, and a trickle of bytes keeps resetting its keep-alive timer): a connection that has not
    delivered a whole request head within ``head_timeout_s`` of opening, or of its previous answer, is
    closed. Idle sockets then cost nothing but a descriptor for a few seconds."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class _HeadDeadlineH11(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm_head_deadline(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(head_timeout_s, self._head_deadline)

        def _head_deadline(self) -> None:
            self._head_timer = None
            cycle = self.cycle
            if cycle is None or cycle.response_complete:  # still waiting for a head: give up on it
                if not self.transport.is_closing():
                    self.transport.close()

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_head_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

    return _HeadDeadlineH11


# ------------------------------------------------------------------------------ serve


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2+) from PEM files, with a one-line error a user can act on."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as err:
        raise FaceGateError(f"cannot load TLS certificate {cert} / key {key}: {err}") from None
    return ctx


def build_models(detector: Any, recognizer: Any, limits: Limits) -> list[Model]:
    """The models served for one detector + recognizer pair: frames, crops, JPEG crops."""
    return [
        FrameModel(detector, recognizer, limits),
        CropsModel(recognizer, limits),
        CropsJpegModel(recognizer, limits),
    ]


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: a free one); FaceGateError when it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP (else every
    # answer written as header + body waits ~40 ms for the client's delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as err:
        sock.close()
        raise FaceGateError(f"serve: cannot listen on {host}:{port} ({err.strerror or err})") from None
    sock.set_inheritable(True)
    return sock


def _raise_fd_limit(wanted: int) -> None:
    """Let the process hold ``wanted`` descriptors where the hard limit allows (each connection is one)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError) as err:  # not on this platform, or not allowed
        log.debug("cannot raise the descriptor limit: %s", err)


def run_app(
    app: EndpointApp,
    sock: socket.socket,
    ssl_context: ssl.SSLContext | None,
    on_ready: Any = None,
    log_level: str = "error",
) -> None:
    """Serve ``app`` on ``sock`` with uvicorn until SIGINT/SIGTERM (or ``should_exit``); ``on_ready()``
    runs once it accepts connections."""
    import uvicorn

    limits = app.limits
    config = uvicorn.Config(
        app,
        http=_h11_protocol(limits.read_timeout_s),
        loop="asyncio",
        lifespan="off",
        access_log=False,
        log_level=log_level,
        server_header=False,
        timeout_keep_alive=max(1, int(limits.idle_timeout_s)),
        limit_concurrency=limits.max_connections,
        timeout_graceful_shutdown=5,
        h11_max_incomplete_event_size=64 * 1024,
    )
    config.load()
    config.ssl = ssl_context  # ours: loaded (and checked) before the models were warmed

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises the signal after shutting down; we return normally (exit code 0)
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit and on_ready is not None:
                on_ready()

    server = _Server(config)
    app.server = server  # type: ignore[attr-defined] - lets an embedding caller stop it
    server.run(sockets=[sock])


def serve_token(args: Any) -> str | None:
    """The token ``serve`` requires, from ``--token-file`` or ``--token`` (stripped); FaceGateError when
    one was given but is empty (a missing secret never means "no authentication")."""
    if getattr(args, "token_file", None):
        token = read_token(args.token_file)
        if token is None:
            raise FaceGateError(f"serve: token file {args.token_file} is empty; put the shared secret in it")
        return token
    given = getattr(args, "token", None)
    if given is not None:
        if not given.strip():
            raise FaceGateError("serve: --token is empty; give the shared secret (or use --token-file)")
        return given.strip()
    return None


def serve(ctx: Any, args: Any) -> int:
    """``main.py serve``: build and warm the backends, then serve until SIGINT/SIGTERM. Returns the exit code.

    Prints one line ``serving <models> on <url> ...`` once ready (``--port 0`` picks a free port and
    the line tells which).
    """
    token = serve_token(args)
    host, port = getattr(args, "host", "127.0.0.1") or "127.0.0.1", int(getattr(args, "port", 8000))
    cert, key = getattr(args, "tls_cert", None), getattr(args, "tls_key", None)
    if bool(cert) != bool(key):
        raise FaceGateError("serve: TLS needs both --tls-cert and --tls-key")
    ssl_ctx = tls_context(cert, key) if cert and key else None
    limits = Limits.from_args(args)
    if token is None and not is_loopback(host):
        if not getattr(args, "insecure_no_token", False):
            raise FaceGateError(
                f"serve: refusing to serve on {host} without a token: give --token-file (or --token), "
                "or --insecure-no-token to let anyone who reaches it use it"
            )
        log.warning("serving on %s without a token: anyone who reaches it can use it", host)
        print(
            f"WARNING: --insecure-no-token: anyone who can reach {host} can use this endpoint, and clients "
            "cannot authenticate its answers",
            file=sys.stderr,
            flush=True,
        )
    # the local pipeline's own detector settings (video), so local, cloud and hybrid find the same faces
    detector, recognizer = ctx.video_detector, ctx.recognizer
    detector.warmup()
    recognizer.warmup()
    _raise_fd_limit(limits.max_connections + 256)
    sock = listen(host, port)
    app = EndpointApp(build_models(detector, recognizer, limits), token, limits)
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if ":" in str(bound[0]) else str(bound[0])
    url = f"{'https' if ssl_ctx else 'http'}://{shown}:{bound[1]}"

    def ready() -> None:
        print(
            f"serving {', '.join(app.models)} ({detector.key} + {recognizer.key}) on {url}"
            f"{' with token' if token else ' without a token'}; Ctrl-C stops",
            flush=True,
        )

    verbose = logging.getLogger().isEnabledFor(logging.INFO)
    try:
        run_app(app, sock, ssl_ctx, ready, log_level="info" if verbose else "error")
    finally:
        app.close()
        sock.close()
    served = sum(b.items for b in app.batchers.values())
    batches = sum(b.batches for b in app.batchers.values())
    print(f"stopped: {served} items in {batches} batches", flush=True)
    return 0
