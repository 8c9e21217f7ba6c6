"""The recognition endpoint: ``main.py serve`` speaks KServe v2 (HTTP, JSON + binary tensors).

Routes (``{name}`` is ``<model>_frame`` or ``<model>_crops``, see :mod:`core.deploy.protocol`;
``/versions/1`` may follow ``{name}``):

- ``GET /v2/health/live``, ``GET /v2/health/ready`` - no token needed (load balancers probe them);
- ``GET /v2`` - server metadata; ``GET /v2/models/{name}`` - model metadata;
  ``GET /v2/models/{name}/ready``; ``GET /v2/models/{name}/config`` - Triton-style configuration;
- ``POST /v2/models/{name}/infer`` - inference.

Every route but health needs ``Authorization: Bearer <token>`` when a token is set (401 otherwise).
The endpoint is stateless: frames or crops in, boxes/landmarks/embeddings out; the gallery and the
matching stay on the operator's site.

Why the standard library's :class:`http.server.ThreadingHTTPServer`: the work per request is
inference (onnxruntime/OpenCV release the GIL), not HTTP, so an async framework buys nothing; it
adds no dependency, speaks HTTP/1.1 keep-alive (what ``tritonclient``'s connection pool uses) and
TLS through :mod:`ssl`. What it lacks for exposure is added here: a cap on open connections (503
past it), a deadline on reading each body (408), limits on body size (413), image size (413),
batch size (400) and queue length (429), JSON errors for every failure (its own HTML errors
included), the TLS handshake in the connection's thread (a stalled handshake never blocks
``accept``), and no exception ever reaching the accept loop. Put it behind a reverse proxy or use
Triton (``docs/triton.md``) to face the internet.

Batching: each model has one worker thread (``instances`` of them) fed by a queue; a request waits
while a batch runs, and everything queued when the worker is free (up to the model's max batch)
runs as one batch: dynamic batching without an added delay. Inputs are decoded and validated in
the connection's thread, so a bad request never reaches the model.

Limits come from ``args`` attributes when the CLI has them, else from environment variables
(``FACEGATE_SERVE_MAX_BODY_MB``, ``..._MAX_PIXELS``, ``..._MAX_FRAMES``, ``..._MAX_CROPS``,
``..._READ_TIMEOUT_S``, ``..._IDLE_TIMEOUT_S``, ``..._INFER_TIMEOUT_S``, ``..._MAX_CONNECTIONS``,
``..._MAX_QUEUE``, ``..._INSTANCES``), else the :class:`Limits` defaults.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import queue
import re
import signal
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from core.deploy.protocol import (
    CROPS_INPUT,
    CROPS_JPEG_INPUT,
    CROPS_OUTPUT,
    FRAME_INPUT,
    HEADER_LENGTH,
    InferRequest,
    ProtocolError,
    TensorSpec,
    crops_model_name,
    decode_request,
    encode_response,
    error_body,
    frame_model_name,
)
from core.errors import FaceGateError, ImageError

log = logging.getLogger(__name__)

SERVER_NAME = "facegate"
SERVER_VERSION = "0.1.0"
_MODEL_ROUTE = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<rest>/[a-z]+)?$")


@dataclass
class Limits:
    """What one request may ask of the endpoint, and how long it may take. Sizes in bytes/px, times in s."""

    max_body_mb: float = 16.0  # whole HTTP body (413 past it)
    max_pixels: int = 4096 * 4096  # per decoded image, read from the header before decoding (413)
    max_frames: int = 8  # images per frame-model request (400)
    max_crops: int = 64  # crops per crops-model request (400)
    read_timeout_s: float = 10.0  # to receive a request's body (408)
    idle_timeout_s: float = 120.0  # a keep-alive connection idle this long is closed
    infer_timeout_s: float = 30.0  # longest a request waits for its batch to run (503)
    max_connections: int = 32  # open connections; more are answered 503 and closed
    max_queue: int = 64  # requests waiting per model; more are answered 429
    instances: int = 1  # worker threads per model (Triton's instance_group count)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 2**20)

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


def _decode(data: bytes, where: str, max_pixels: int) -> np.ndarray:
    """A JPEG or PNG (only: their headers give the size before decoding) as BGR, within ``max_pixels``."""
    from core.imageio import decode_image, header_size

    size = header_size(data) if data[:2] == b"\xff\xd8" or data[:4] == b"\x89PNG" else None
    if size is None:
        raise ProtocolError(f"{where}: not a JPEG or PNG image ({len(data)} bytes)")
    if size[0] * size[1] > max_pixels:
        raise ProtocolError(
            f"{where}: image too large ({size[0]}x{size[1]} px, limit {max_pixels / 1e6:.1f} MP)", 413
        )
    try:
        return decode_image(data, where, max_pixels=max_pixels)
    except ImageError as err:
        raise ProtocolError(str(err)) from None


class FrameModel(Model):
    """``<model>_frame``: encoded images -> faces (boxes, scores, landmarks, embeddings), padded."""

    def __init__(self, detector: Any, recognizer: Any, limits: Limits) -> None:
        self.detector, self.recognizer = detector, recognizer
        self.max_pixels = limits.max_pixels
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
        images = [_decode(data, f"{FRAME_INPUT}[{i}]", self.max_pixels) for i, data in enumerate(t.data)]
        return images, n

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


# ------------------------------------------------------------------------------ HTTP


class EndpointServer(ThreadingHTTPServer):
    """The HTTP(S) server: routes in :class:`_Handler`, models behind :class:`Batcher` s."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        models: Sequence[Model],
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.models = {m.name: m for m in models}
        self.token = token.encode("utf-8") if token else None
        self.ssl_context = ssl_context
        self.batchers = {m.name: Batcher(m, self.limits.max_queue, self.limits.instances) for m in models}
        self._slots = threading.BoundedSemaphore(self.limits.max_connections)
        self.ready = True
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.ssl_context else 'http'}://{host}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            # over the connection cap: answer without reading (plain HTTP only) and close
            try:
                if self.ssl_context is None:
                    body = error_body(
                        f"too many open connections ({self.limits.max_connections}); retry later"
                    )
                    request.settimeout(1.0)
                    request.sendall(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                        b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
                        + str(len(body)).encode()
                        + b"\r\n\r\n"
                        + body
                    )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_context is None:
            self.RequestHandlerClass(request, client_address, self)  # type: ignore[arg-type]
            return
        # the handshake runs here, in the connection's own thread, bounded by the read timeout
        request.settimeout(self.limits.read_timeout_s)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as err:
            log.debug("TLS handshake with %s failed: %s", client_address, err)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("connection from %s ended with an error", client_address, exc_info=True)

    def server_close(self) -> None:
        self.ready = False
        super().server_close()
        for b in self.batchers.values():
            b.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FaceGate/" + SERVER_VERSION
    disable_nagle_algorithm = True  # small header + body writes must not wait for the client's delayed ACK
    server: EndpointServer

    # ---------------------------------------------------------------- plumbing
    def setup(self) -> None:
        # per connection, from the server's limits (the base class reads a class attribute)
        self.timeout = self.server.limits.idle_timeout_s  # type: ignore[misc]
        super().setup()

    def parse_request(self) -> bool:
        # the request line has arrived: the headers now get the (shorter) read timeout, not the idle one
        try:
            self.connection.settimeout(self.server.limits.read_timeout_s)
        except OSError:
            pass
        return super().parse_request()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s - %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base class's own errors (bad request line, unknown method, huge headers) as JSON."""
        self.close_connection = True
        self._reply(code, error_body(message or self.responses.get(code, ("error",))[0]))

    def _reply(
        self,
        code: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError as err:  # the client went away
            log.debug("reply to %s failed: %s", self.address_string(), err)
            self.close_connection = True

    def _error(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._reply(code, error_body(message), headers=headers)

    def _authorized(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        auth = self.headers.get("Authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            self._drain_small_body()
            self._error(
                401,
                "missing bearer token (send 'Authorization: Bearer <token>')",
                {"WWW-Authenticate": 'Bearer realm="facegate"'},
            )
            return False
        if not hmac.compare_digest(given.strip().encode("utf-8"), token):
            self._drain_small_body()
            self._error(
                401,
                "invalid bearer token",
                {"WWW-Authenticate": 'Bearer realm="facegate", error="invalid_token"'},
            )
            return False
        return True

    def _drain_small_body(self) -> None:
        """Read and drop a refused request's body (when small) so keep-alive stays usable; else close."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if 0 <= length <= min(self.server.limits.max_body_bytes, 1 << 20):
            try:
                self.connection.settimeout(self.server.limits.read_timeout_s)
                self.rfile.read(length)
                return
            except OSError:
                pass
        self.close_connection = True

    def _read_body(self) -> bytes | None:
        """The request body within the size and time limits, or None after an error reply."""
        limits = self.server.limits
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._error(411, "chunked transfer encoding is not supported; send Content-Length")
            return None
        if self.headers.get("Content-Encoding", "identity").lower() != "identity":
            self.close_connection = True
            self._error(
                415,
                f"Content-Encoding {self.headers['Content-Encoding']!r} is not supported; "
                "send the body uncompressed",
            )
            return None
        raw = self.headers.get("Content-Length")
        try:
            length = int(raw) if raw is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._error(411, "a POST needs a valid Content-Length")
            return None
        if length > limits.max_body_bytes:
            self.close_connection = True
            self._error(413, f"body of {length} bytes is over the limit of {limits.max_body_bytes} bytes")
            return None
        deadline = time.monotonic() + limits.read_timeout_s
        chunks, got = [], 0
        try:
            while got < length:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(length - got, 1 << 20))
                if not chunk:
                    self.close_connection = True
                    return None  # the client closed mid-body: nobody to answer
                chunks.append(chunk)
                got += len(chunk)
        except TimeoutError:
            self.close_connection = True
            self._error(
                408, f"request body not received within {limits.read_timeout_s:g} s ({got} of {length} bytes)"
            )
            return None
        except OSError:
            self.close_connection = True
            return None
        finally:
            try:
                self.connection.settimeout(limits.idle_timeout_s)
            except OSError:
                pass
        return b"".join(chunks)

    # ---------------------------------------------------------------- routes
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._safely(self._get)

    def do_HEAD(self) -> None:  # noqa: N802
        self._safely(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._safely(self._post)

    def do_PUT(self) -> None:  # noqa: N802
        self._method_not_allowed()

    def do_DELETE(self) -> None:  # noqa: N802
        self._method_not_allowed()

    def do_PATCH(self) -> None:  # noqa: N802
        self._method_not_allowed()

    def _method_not_allowed(self) -> None:
        self.close_connection = True
        self._error(405, f"{self.command} is not supported here", {"Allow": "GET, HEAD, POST"})

    def _safely(self, route: Any) -> None:
        try:
            route()
        except Exception as err:  # noqa: BLE001 - never let a request take the server down
            log.exception("%s %s failed", self.command, self.path)
            self.close_connection = True
            self._error(500, f"internal error ({type(err).__name__})")
        finally:
            try:  # back to waiting for the next request on this keep-alive connection
                self.connection.settimeout(self.server.limits.idle_timeout_s)
            except OSError:
                pass

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def _model(self, name: str, version: str | None) -> Model | None:
        model = self.server.models.get(name)
        if model is None:
            self._error(404, f"unknown model {name!r}; this endpoint serves {sorted(self.server.models)}")
            return None
        if version not in (None, "", model.version):
            self._error(404, f"model {name!r} has no version {version!r} (only {model.version})")
            return None
        return model

    def _get(self) -> None:
        path = self._path()
        if path == "/v2/health/live":
            self._reply(200, b"")
            return
        if path == "/v2/health/ready":
            if self.server.ready:
                self._reply(200, b"")
            else:
                self._error(503, "not ready")
            return
        if not self._authorized():
            return
        if path == "/v2":
            self._json(
                200,
                {
                    "name": SERVER_NAME,
                    "version": SERVER_VERSION,
                    "extensions": ["binary_tensor_data", "model_configuration"],
                },
            )
            return
        m = _MODEL_ROUTE.match(path)
        if m is None:
            self._error(404, f"no route {path!r}")
            return
        model = self._model(m["name"], m["version"])
        if model is None:
            return
        rest = m["rest"]
        if rest is None:
            self._json(200, model.metadata())
        elif rest == "/ready":
            if self.server.ready:
                self._reply(200, b"")
            else:
                self._error(503, "not ready")
        elif rest == "/config":
            self._json(200, model.config())
        elif rest == "/infer":
            self._method_not_allowed()
        else:
            self._error(404, f"no route {path!r}")

    def _json(self, code: int, obj: Any) -> None:
        self._reply(code, json.dumps(obj).encode("utf-8"))

    def _post(self) -> None:
        path = self._path()
        m = _MODEL_ROUTE.match(path)
        if m is None or m["rest"] != "/infer":
            self._drain_small_body()
            self._error(
                404 if m is None or m["rest"] not in ("/ready", "/config", None) else 405,
                f"no POST route {path!r}",
            )
            return
        if not self._authorized():
            return
        body = self._read_body()
        if body is None:
            return
        model = self._model(m["name"], m["version"])
        if model is None:
            return
        t0 = time.perf_counter()
        try:
            raw = self.headers.get(HEADER_LENGTH)
            try:
                header_length = int(raw) if raw is not None else None
            except ValueError:
                raise ProtocolError(f"{HEADER_LENGTH} must be an integer, not {raw!r}") from None
            request = decode_request(
                body, header_length, model.inputs, model.max_elements, model.max_batch_size
            )
            item, size = model.prepare(request)
            limits = self.server.limits
            wait_s = min(limits.infer_timeout_s, request.timeout_s or limits.infer_timeout_s)
            future = self.server.batchers[model.name].submit(item, size, time.monotonic() + wait_s)
            try:
                outputs = future.result(timeout=limits.infer_timeout_s)
            except FutureTimeout:
                future.cancel()
                raise ProtocolError(
                    f"{model.name}: no result within {limits.infer_timeout_s:g} s (server busy)", 503
                ) from None
            compute_ms = (time.perf_counter() - t0) * 1e3
            body_out, json_size = encode_response(
                model.name, model.version, request, outputs, {"facegate_server_ms": round(compute_ms, 3)}
            )
        except ProtocolError as err:
            headers = {"Retry-After": "1"} if err.status in (429, 503) else None
            self._error(err.status, str(err), headers)
            return
        headers = {HEADER_LENGTH: str(json_size)} if json_size is not None else None
        self._reply(
            200,
            body_out,
            "application/octet-stream" if json_size is not None else "application/json",
            headers,
        )


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


def serve(ctx: Any, args: Any) -> int:
    """``main.py serve``: build and warm the backends, then serve until SIGINT/SIGTERM. Returns the exit code.

    Prints one line ``serving <models> on <url> ...`` once ready (``--port 0`` picks a free port and
    the line tells which).
    """
    from core.run import _token

    token = _token(args)
    host, port = getattr(args, "host", "127.0.0.1") or "127.0.0.1", int(getattr(args, "port", 8000))
    cert, key = getattr(args, "tls_cert", None), getattr(args, "tls_key", None)
    if bool(cert) != bool(key):
        raise FaceGateError("serve: TLS needs both --tls-cert and --tls-key")
    ssl_ctx = tls_context(cert, key) if cert and key else None
    limits = Limits.from_args(args)
    if not token and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s without a token: anyone who reaches it can use it", host)
        print(f"warning: no --token: anyone who can reach {host} can use this endpoint", file=sys.stderr)
    detector, recognizer = ctx.detector, ctx.recognizer
    detector.warmup()
    recognizer.warmup()
    try:
        server = EndpointServer(
            (host, port), build_models(detector, recognizer, limits), token, ssl_ctx, limits
        )
    except OSError as err:
        raise FaceGateError(f"serve: cannot listen on {host}:{port} ({err.strerror or err})") from None

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    print(
        f"serving {', '.join(server.models)} ({detector.key} + {recognizer.key}) on {server.url}"
        f"{' with token' if token else ' without a token'}; Ctrl-C stops",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    served = sum(b.items for b in server.batchers.values())
    batches = sum(b.batches for b in server.batchers.values())
    print(f"stopped: {served} items in {batches} batches", flush=True)
    return 0
