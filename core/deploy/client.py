"""Cloud and hybrid pipelines: offload to a KServe v2 endpoint with ``tritonclient.http``, fall back locally.

:func:`remote_pipeline` wraps the local :class:`core.pipeline.Pipeline` (its detector, recognizer,
gallery and threshold) in a pipeline of the same shape (``detect`` / ``embed`` / ``match`` /
``process``), so :class:`core.engine.Engine` and the GUI drive every mode alike; switching mode
is building another pipeline and swapping it in between two frames (``Engine.swap``).

- **cloud**: ``detect`` sends the whole frame as JPEG (``jpeg_quality``) to ``<model>_frame``,
  which returns boxes, landmarks, scores and embeddings; ``embed`` has nothing left to do;
  ``match`` runs locally against the gallery.
- **hybrid**: ``detect`` runs locally (then the engine's tracker picks the faces that need
  recognition); ``embed`` aligns those faces' crops locally and sends them, batched in one request,
  to ``<model>_crops`` (raw UINT8, lossless; or JPEG to ``<model>_crops_jpeg`` with
  ``crop_format="jpeg"``); ``match`` runs locally.

Per frame, :meth:`RemotePipeline.frame_stats` reports (the engine puts them into the session CSV):

- ``network_ms``: wall time of the frame's request(s), send to parsed answer, server work included
  (``server_ms`` is the part our endpoint reports it spent); None when no request was made;
- ``bytes_up`` / ``bytes_down``: HTTP body bytes (v2 JSON header + binary tensors; the HTTP/TLS
  framing, ~0.3 kB a request, is not counted); 0 when nothing was sent, None when a request failed;
- ``mode``: ``"cloud"`` or ``"hybrid"`` when the endpoint processed the frame, ``"cloud->local"`` or
  ``"hybrid->local"`` when the frame was processed locally because the endpoint is down, slow or
  erroring (:data:`FALLBACK_SUFFIX`);
- ``status``: one line for the GUI/status bar (why it fell back, when it came back).

Faults: a request that fails (refused, reset, an HTTP error, a protocol mismatch) or takes longer
than ``fallback_after_s`` makes *that* frame run locally (its crops are embedded by the local
recognizer; no frame is lost) and starts a background probe (server ready + model metadata,
every ``probe_every_s``, backing off to 30 s while answers keep failing); the first frame after a
successful probe goes to the endpoint again.

Trust: every infer request carries a random nonce (``parameters.facegate_nonce``) and the answer
must carry ``parameters.facegate_hmac``, HMAC-SHA256 keyed by the shared token over the nonce and
the output tensors (:func:`core.deploy.protocol.answer_mac`). An answer without it or with a wrong
one is refused like any failed request (that frame runs locally), so an endpoint that does not
hold the token (a rogue server, a spoofed address) cannot decide who is granted. Two opt-ins,
each with a loud warning: ``allow_unauthenticated`` (no token, or an endpoint without the secret
such as a plain Triton: its answers are trusted unchecked) and ``allow_insecure_http`` (the token
and faces over plain http to a host other than this machine).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from core.deploy.protocol import (
    CROPS_INPUT,
    CROPS_JPEG_INPUT,
    CROPS_OUTPUT,
    FRAME_INPUT,
    FRAME_OUTPUTS,
    HEADER_LENGTH,
    MAC_PARAMETER,
    NONCE_PARAMETER,
    answer_mac,
    crops_model_name,
    frame_model_name,
    is_loopback,
)
from core.errors import FaceGateError
from core.types import Face, FrameResult

log = logging.getLogger(__name__)

FALLBACK_SUFFIX = "->local"
MAX_TIMEOUT_S = 86400.0  # "never fall back" (fallback_after_s=1e9) still needs a finite socket timeout
MAX_PROBE_S = 30.0
DEFAULT_MAX_BATCH = 32


class EndpointError(FaceGateError):
    """The endpoint could not process a request (down, slow, refused it, or answered nonsense)."""


def remote_pipeline(
    mode: str,
    local_pipeline: Any,
    endpoint: str | None = None,
    token: str | None = None,
    ca_cert: str | None = None,
    jpeg_quality: int = 85,
    fallback_after_s: float = 1.0,
    *,
    probe_every_s: float | None = None,
    crop_format: str = "raw",
    crop_quality: int = 90,
    allow_insecure_http: bool = False,
    allow_unauthenticated: bool = False,
) -> Any:
    """The pipeline for ``mode``: ``local_pipeline`` itself for "local", else a cloud/hybrid wrapper of it.

    Args:
        mode: "local", "cloud" or "hybrid".
        local_pipeline: the local :class:`core.pipeline.Pipeline` (used for matching, for hybrid
            detection and alignment, and as the fallback).
        endpoint: ``http(s)://host:port[/base]`` of ``main.py serve`` or a Triton server
            (``host:port`` means http).
        token: bearer token sent on every request (None: none).
        ca_cert: PEM file of the CA that signed the endpoint's TLS certificate (None: system CAs).
        jpeg_quality: cloud mode's JPEG quality (1-100).
        fallback_after_s: a request slower than this (s) is abandoned and the frame runs locally.
        probe_every_s: how often to check a failed endpoint (default: ``fallback_after_s``, 0.5-5 s).
        crop_format: hybrid mode's crops: "raw" (UINT8 tensors to ``<model>_crops``: lossless, what
            any Triton serving that model takes) or "jpeg" (``<model>_crops_jpeg``: ~10x fewer bytes,
            embeddings move by ~0.01-0.05 L2).
        crop_quality: JPEG quality of "jpeg" crops (1-100).
        allow_insecure_http: send the token and faces over plain http to a non-loopback host
            (refused otherwise; prints a warning).
        allow_unauthenticated: trust answers that carry no valid HMAC (no token, or an endpoint
            without the shared secret such as a plain Triton; refused otherwise; prints a warning).

    Raises:
        FaceGateError: unknown mode, no endpoint, a bad URL, a missing CA file, no tritonclient,
            plain http to another host, or no token to authenticate the answers with (without the
            matching opt-in).
    """
    if mode == "local":
        return local_pipeline
    if mode not in ("cloud", "hybrid"):
        raise FaceGateError(f"unknown mode {mode!r}; choose local, cloud or hybrid")
    if not endpoint:
        raise FaceGateError(f"{mode} mode needs an endpoint URL (--endpoint http://host:port)")
    if not 1 <= int(jpeg_quality) <= 100:
        raise FaceGateError(f"JPEG quality must be 1-100, not {jpeg_quality}")
    if not fallback_after_s or fallback_after_s <= 0:
        raise FaceGateError(f"fallback_after_s must be positive, not {fallback_after_s}")
    link = EndpointLink(
        endpoint,
        token=token,
        ca_cert=ca_cert,
        timeout_s=float(fallback_after_s),
        probe_every_s=probe_every_s,
        allow_insecure_http=allow_insecure_http,
        allow_unauthenticated=allow_unauthenticated,
    )
    if crop_format not in ("raw", "jpeg"):
        raise FaceGateError(f"crop format must be raw or jpeg, not {crop_format!r}")
    if mode == "cloud":
        return CloudPipeline(local_pipeline, link, jpeg_quality=int(jpeg_quality))
    return HybridPipeline(local_pipeline, link, crop_format=crop_format, crop_quality=int(crop_quality))


# ------------------------------------------------------------------------------ the connection


@dataclass
class _ModelInfo:
    max_batch: int
    dim: int | None


@dataclass
class Reply:
    """One successful request: its outputs and what it cost."""

    outputs: dict[str, np.ndarray]
    network_ms: float
    bytes_up: int
    bytes_down: int
    server_ms: float | None


class EndpointLink:
    """A v2 endpoint as seen by one pipeline: clients per thread, health state, background probe.

    ``tritonclient.http`` clients are not thread-safe (and run on gevent, whose hub is per thread),
    so each thread that talks to the endpoint gets its own client.
    """

    def __init__(
        self,
        endpoint: str,
        token: str | None = None,
        ca_cert: str | None = None,
        timeout_s: float = 1.0,
        probe_every_s: float | None = None,
        *,
        allow_insecure_http: bool = False,
        allow_unauthenticated: bool = False,
    ) -> None:
        try:
            import tritonclient.http  # noqa: F401 - fail here, with the fix, not on the first frame
        except ImportError as err:
            raise FaceGateError(
                f"cloud/hybrid modes need tritonclient: pip install 'tritonclient[http]' ({err})"
            ) from None
        parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FaceGateError(f"endpoint {endpoint!r}: expected http(s)://host:port")
        if ca_cert and not os.path.isfile(ca_cert):
            raise FaceGateError(f"{ca_cert}: no such CA certificate file")
        self.endpoint = endpoint
        self.url = parts.netloc + parts.path.rstrip("/")
        self.tls = parts.scheme == "https"
        token = token.strip() if token else None  # as the server strips it
        self.token = token or None
        self.key = self.token.encode("utf-8") if self.token else None
        self.allow_unauthenticated = bool(allow_unauthenticated)
        if not self.tls and not is_loopback(parts.hostname):
            if not allow_insecure_http:
                raise FaceGateError(
                    f"refusing to send faces{' and the token' if token else ''} over plain http to "
                    f"{parts.hostname}: use https:// (serve --tls-cert/--tls-key), or --insecure-http "
                    "to send them readable by anyone on the path"
                )
            _warn(
                f"--insecure-http: faces{' and the token' if token else ''} go to {parts.hostname} "
                "unencrypted; anyone on the network path can read or alter them"
            )
        if self.key is None:
            if not allow_unauthenticated:
                raise FaceGateError(
                    f"endpoint {endpoint}: no token to authenticate its answers with; give the server's "
                    "token (--token-file), or --allow-unauthenticated-endpoint to trust whatever answers"
                )
            _warn(
                f"--allow-unauthenticated-endpoint: answers from {endpoint} are not authenticated; "
                "whoever answers on that address decides who is recognised"
            )
        self._unsigned_warned = False
        self.ca_cert = ca_cert
        self.timeout_s = min(float(timeout_s), MAX_TIMEOUT_S)
        self.probe_every_s = float(probe_every_s) if probe_every_s else min(max(self.timeout_s, 0.5), 5.0)
        self._local = threading.local()
        self._clients: list[Any] = []
        self._lock = threading.Lock()
        self._models: dict[str, _ModelInfo] = {}
        self._up = True  # optimistic until a request fails
        self._recovered = threading.Event()
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None
        self._probe_delay = self.probe_every_s
        self._streak = 0  # fallbacks since the last successful request (probe back-off)
        self.watch: list[str] = []  # models the probe checks
        self.status = f"endpoint {self.endpoint}"

    # ---------------------------------------------------------------- clients
    def _new_client(self) -> Any:
        import tritonclient.http as httpclient

        kw: dict[str, Any] = {"connection_timeout": self.timeout_s, "network_timeout": self.timeout_s}
        if self.tls:
            kw["ssl"] = True
            kw["ssl_options"] = {"ca_certs": self.ca_cert} if self.ca_cert else {}
        client = httpclient.InferenceServerClient(self.url, **kw)
        with self._lock:
            self._clients.append(client)
        return client

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._new_client()
        return client

    def _drop_client(self) -> None:
        """Forget this thread's client (its pooled connection may be stale or broken)."""
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a broken client must not fail a frame
                pass

    def headers(self) -> dict[str, str]:
        """A fresh header dict per call: tritonclient writes its own headers into the one it is given."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    # ---------------------------------------------------------------- health
    def available(self) -> bool:
        """Whether the next request should go to the endpoint (flips back once a probe succeeded)."""
        if self._up:
            return True
        if self._recovered.is_set():
            self._recovered.clear()
            self._up = True
            self.status = f"endpoint {self.endpoint} answers again"
            log.warning("%s", self.status)
            return True
        if self._prober is None or not self._prober.is_alive():
            self._start_probe(self._probe_delay)  # closed while failing, then used again
        return False

    def failed(self, reason: str) -> None:
        """A request failed: process locally from now on and probe in the background."""
        self._streak += 1
        self._models.clear()  # re-read the models' metadata when it answers again (it may have changed)
        first = self._up
        self._up = False
        self._recovered.clear()
        delay = min(self.probe_every_s * 2 ** max(self._streak - 1, 0), MAX_PROBE_S)
        self.status = f"endpoint failed ({reason}); processing locally, next check in {delay:.0f} s"
        if first:
            log.warning("%s", self.status)
        self._start_probe(delay)

    def succeeded(self) -> None:
        self._streak = 0

    def _start_probe(self, delay: float) -> None:
        with self._lock:
            if self._prober is not None and self._prober.is_alive():
                self._probe_delay = delay
                return
            self._probe_delay = delay
            self._stop.clear()
            self._prober = threading.Thread(target=self._probe_loop, name="endpoint-probe", daemon=True)
            self._prober.start()

    def _probe_loop(self) -> None:
        client = None
        try:
            while not self._stop.wait(self._probe_delay):
                try:
                    if client is None:
                        client = self._new_client()
                    reason = self._check(client)
                except Exception as err:  # noqa: BLE001 - any failure means "not yet"
                    reason = _describe(err)
                    self._forget(client)
                    client = None
                if reason is None:
                    self._recovered.set()
                    return
                self.status = f"endpoint still failing ({reason}); processing locally"
                log.debug("probe: %s", reason)
        finally:
            self._forget(client)

    def _forget(self, client: Any) -> None:
        if client is None:
            return
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)
        try:
            client.close()
        except Exception:  # noqa: BLE001
            pass

    def _check(self, client: Any) -> str | None:
        """None when the server is ready and every watched model answers its metadata; else why not."""
        if not client.is_server_ready(headers=self.headers()):
            return "server not ready"
        for name in self.watch:
            client.get_model_metadata(name, headers=self.headers())
        return None

    def close(self) -> None:
        """Stop the probe and close the connections (a later request opens new ones)."""
        self._stop.set()
        prober = self._prober
        if prober is not None and prober is not threading.current_thread():
            prober.join(timeout=self.timeout_s + 1.0)
        self._drop_client()
        with self._lock:
            others, self._clients = self._clients, []
        for c in others:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - another thread's client; its sockets close with it
                pass

    # ---------------------------------------------------------------- requests
    def model(self, name: str, check: Any) -> _ModelInfo:
        """The model's batch limit and embedding size, read once from its metadata (and config).

        ``check(metadata) -> dim`` raises EndpointError when the tensors are not what the client needs.
        """
        info = self._models.get(name)
        if info is not None:
            return info
        client = self._client()
        meta = client.get_model_metadata(name, headers=self.headers())
        dim = check(meta)
        max_batch = DEFAULT_MAX_BATCH
        try:
            config = client.get_model_config(name, headers=self.headers())
            max_batch = int(config.get("max_batch_size") or DEFAULT_MAX_BATCH)
        except Exception as err:  # noqa: BLE001 - config is a Triton extension; metadata is enough
            log.debug("%s: no model config (%s); batches of %d", name, err, max_batch)
        info = self._models[name] = _ModelInfo(max(1, max_batch), dim)
        if name not in self.watch:
            self.watch.append(name)
        return info

    def infer(self, name: str, inputs: list[Any], outputs: list[str], bytes_up: int) -> Reply:
        """One request; ``bytes_up`` is the binary payload size (the JSON header is added here).

        Retries once at once on a broken keep-alive connection (the server may have closed it while
        idle); raises EndpointError on anything else.
        """
        import tritonclient.http as httpclient
        from tritonclient.utils import InferenceServerException

        requested = [httpclient.InferRequestedOutput(o, binary_data=True) for o in outputs]
        t0 = time.perf_counter()
        for attempt in (0, 1):
            headers = self.headers()
            nonce = secrets.token_hex(16)
            try:
                result = self._client().infer(
                    name,
                    inputs,
                    outputs=requested,
                    headers=headers,
                    timeout=int(self.timeout_s * 1e6),
                    parameters={NONCE_PARAMETER: nonce} if self.key else None,
                )
                break
            except InferenceServerException as err:
                # the server answered with an error, or the client could not read the answer
                if err.status() is None and attempt == 0 and _retryable(err, t0, self.timeout_s):
                    self._drop_client()
                    continue
                self._drop_client()
                raise EndpointError(_describe(err)) from None
            except Exception as err:  # noqa: BLE001 - socket errors, timeouts, broken connections
                self._drop_client()
                if attempt == 0 and _retryable(err, t0, self.timeout_s):
                    continue
                raise EndpointError(_describe(err)) from None
            except BaseException as err:  # gevent.Timeout derives from BaseException
                if type(err).__module__.startswith("gevent"):
                    self._drop_client()
                    raise EndpointError(f"no answer within {self.timeout_s:g} s") from None
                raise
        network_ms = (time.perf_counter() - t0) * 1e3
        response = result.get_response()
        out: dict[str, np.ndarray] = {}
        down = 0
        for o in response.get("outputs", []):
            size = (o.get("parameters") or {}).get("binary_data_size")
            down += int(size or 0)
        for o in outputs:
            arr = result.as_numpy(o)
            if arr is None:
                raise EndpointError(f"{name}: the answer has no {o}")
            out[o] = arr
        self._authenticate(name, nonce, response, result)
        # the JSON header as sent: compact JSON, so re-serialising gives its size (+-a few bytes)
        down += len(json.dumps(response, separators=(",", ":")))
        try:
            up = int(headers.get(HEADER_LENGTH, 0)) + bytes_up
        except (TypeError, ValueError):
            up = bytes_up
        server_ms = (response.get("parameters") or {}).get("facegate_server_ms")
        self.succeeded()
        return Reply(
            out, network_ms, up, down, float(server_ms) if isinstance(server_ms, (int, float)) else None
        )

    def _authenticate(self, name: str, nonce: str, response: dict[str, Any], result: Any) -> None:
        """Raise EndpointError unless the answer carries a valid HMAC (or the user opted out)."""
        given = (response.get("parameters") or {}).get(MAC_PARAMETER)
        if self.key is None:
            return  # allow_unauthenticated, warned at construction
        if given is None:
            if self.allow_unauthenticated:
                if not self._unsigned_warned:
                    self._unsigned_warned = True
                    _warn(f"{self.endpoint} answers without {MAC_PARAMETER}: trusted unchecked (opted in)")
                return
            raise EndpointError(
                f"{name}: unauthenticated answer (no {MAC_PARAMETER}; is this endpoint holding our token?)"
            )
        try:
            signed = [
                (o["name"], o["datatype"], result.as_numpy(o["name"])) for o in response.get("outputs", [])
            ]
            want = answer_mac(self.key, nonce, name, signed)
        except (KeyError, TypeError, ValueError) as err:
            raise EndpointError(f"{name}: answer cannot be authenticated ({err})") from None
        if not isinstance(given, str) or not hmac.compare_digest(given, want):
            raise EndpointError(f"{name}: answer failed authentication (wrong {MAC_PARAMETER}); not trusted")


def _warn(message: str) -> None:
    """A loud warning: the log and stderr (the operator must see an opted-in risk)."""
    log.warning("%s", message)
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


def _retryable(err: BaseException, t0: float, budget_s: float) -> bool:
    """A connection the server closed or reset (not a timeout), with time left to try again."""
    if (
        isinstance(err, TimeoutError)
        or "timed out" in str(err).lower()
        or "timeout" in type(err).__name__.lower()
    ):
        return False
    if isinstance(err, ConnectionRefusedError):
        return False
    return time.perf_counter() - t0 < budget_s / 2


def _describe(err: BaseException) -> str:
    """A short reason for the status line and the log."""
    from tritonclient.utils import InferenceServerException

    if isinstance(err, EndpointError):
        return str(err)
    if isinstance(err, InferenceServerException):
        status = err.status()
        msg = err.message() or str(err)
        return f"HTTP {status}: {msg}" if status else msg
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, TimeoutError) or "timeout" in type(err).__name__.lower():
        return "no answer in time"
    text = str(err) or type(err).__name__
    return f"{type(err).__name__}: {text}" if type(err).__name__ not in text else text


# ------------------------------------------------------------------------------ pipelines


@dataclass
class _FrameNet:
    """What one frame cost on the network."""

    network_ms: float | None = None
    bytes_up: int | None = 0
    bytes_down: int | None = 0
    server_ms: float | None = None
    requests: int = 0
    fallback: bool = False

    def add(self, reply: Reply) -> None:
        self.network_ms = (self.network_ms or 0.0) + reply.network_ms
        self.bytes_up = (self.bytes_up or 0) + reply.bytes_up
        self.bytes_down = (self.bytes_down or 0) + reply.bytes_down
        if reply.server_ms is not None:
            self.server_ms = (self.server_ms or 0.0) + reply.server_ms
        self.requests += 1

    def lost(self, t0: float) -> None:
        """A failed request: its time counts, its bytes are unknown, the frame falls back."""
        self.network_ms = (self.network_ms or 0.0) + (time.perf_counter() - t0) * 1e3
        self.bytes_up = self.bytes_down = None
        self.fallback = True


class RemotePipeline:
    """What cloud and hybrid share: the local pipeline's parts, the endpoint link, per-frame stats."""

    mode = "remote"

    def __init__(self, local: Any, link: EndpointLink) -> None:
        self.local = local
        self.link = link
        self.detector = local.detector
        self.recognizer = local.recognizer
        self._net = _FrameNet()

    @property
    def gallery(self) -> Any:
        return self.local.gallery

    @property
    def threshold(self) -> float:
        return float(self.local.threshold)

    @property
    def status(self) -> str:
        """One line for the GUI: the endpoint, or why frames run locally."""
        return self.link.status

    def frame_stats(self) -> dict[str, Any]:
        """The current frame's network measurements and the mode that really processed it."""
        n = self._net
        return {
            "mode": self.mode + (FALLBACK_SUFFIX if n.fallback else ""),
            "network_ms": n.network_ms,
            "bytes_up": n.bytes_up,
            "bytes_down": n.bytes_down,
            "server_ms": n.server_ms,
            "requests": n.requests,
            "status": self.link.status,
        }

    def _begin_frame(self) -> None:
        self._net = _FrameNet()

    def _fall_back(self, t0: float | None, reason: str) -> None:
        if t0 is not None:
            self._net.lost(t0)
        else:
            self._net.fallback = True
        self.link.failed(reason)

    def _check_embeddings(self, meta: dict[str, Any], model: str) -> int:
        """The embedding size the model's EMBEDDINGS output declares; it must be the local recognizer's."""
        out = {o.get("name"): o for o in meta.get("outputs", [])}
        emb = out.get(CROPS_OUTPUT)
        if emb is None or emb.get("datatype") != "FP32":
            raise EndpointError(f"{model} has no FP32 {CROPS_OUTPUT} output")
        dim = int(emb.get("shape", [-1])[-1])
        if dim not in (-1, self.recognizer.dim):
            raise EndpointError(
                f"{model} gives {dim}-d embeddings, the local gallery holds "
                f"{self.recognizer.dim}-d ({self.recognizer.model})"
            )
        return dim

    def match(self, faces: list[Face]) -> None:
        """Match against the local gallery (the gallery never leaves the site)."""
        self.local.match(faces)

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        raise NotImplementedError

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        raise NotImplementedError

    def process(
        self, image_bgr: np.ndarray, frame_index: int = 0, timestamp: float | None = None
    ) -> FrameResult:
        """detect -> embed every face -> match, like :meth:`core.pipeline.Pipeline.process`."""
        from core.pipeline import process_frame

        return process_frame(self, image_bgr, frame_index, timestamp)

    def close(self) -> None:
        """Stop the background probe and close connections; the pipeline reopens them if used again."""
        self.link.close()


class CloudPipeline(RemotePipeline):
    """Whole frames (JPEG) to ``<model>_frame``; boxes, landmarks and embeddings back; match locally."""

    mode = "cloud"

    def __init__(self, local: Any, link: EndpointLink, jpeg_quality: int = 85) -> None:
        super().__init__(local, link)
        self.jpeg_quality = int(jpeg_quality)
        self.model_name = frame_model_name(self.recognizer.model)

    def _check(self, meta: dict[str, Any]) -> int:
        ins = {i.get("name"): i for i in meta.get("inputs", [])}
        if ins.get(FRAME_INPUT, {}).get("datatype") != "BYTES":
            raise EndpointError(f"{self.model_name} has no BYTES {FRAME_INPUT} input")
        names = {o.get("name") for o in meta.get("outputs", [])}
        missing = [o for o in FRAME_OUTPUTS if o not in names]
        if missing:
            raise EndpointError(f"{self.model_name} lacks outputs {missing}")
        return self._check_embeddings(meta, self.model_name)

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        self._begin_frame()
        if not self.link.available():
            self._net.fallback = True
            return self.local.detect(image_bgr)
        t0 = time.perf_counter()
        try:
            faces = self._remote_detect(image_bgr)
        except EndpointError as err:
            self._fall_back(t0, str(err))
            return self.local.detect(image_bgr)
        except Exception as err:  # noqa: BLE001 - metadata calls raise tritonclient/socket errors
            self._fall_back(t0, _describe(err))
            return self.local.detect(image_bgr)
        return faces

    def _remote_detect(self, image_bgr: np.ndarray) -> list[Face]:
        import cv2
        import tritonclient.http as httpclient

        self.link.model(self.model_name, self._check)
        ok, jpeg = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise FaceGateError("cannot encode the frame as JPEG")
        data = jpeg.tobytes()
        inp = httpclient.InferInput(FRAME_INPUT, [1, 1], "BYTES")
        inp.set_data_from_numpy(np.array([[data]], dtype=np.object_), binary_data=True)
        reply = self.link.infer(self.model_name, [inp], list(FRAME_OUTPUTS), bytes_up=4 + len(data))
        self._net.add(reply)
        o = reply.outputs
        try:
            n = int(np.asarray(o["NUM_FACES"]).reshape(-1)[0])
            boxes = np.asarray(o["BOXES"], np.float32).reshape(1, -1, 4)[0]
            f = len(boxes)
            scores = np.asarray(o["SCORES"], np.float32).reshape(1, f)[0]
            marks = np.asarray(o["LANDMARKS"], np.float32).reshape(1, f, 5, 2)[0]
            embs = np.asarray(o["EMBEDDINGS"], np.float32)
            embs = embs.reshape(1, f, embs.shape[-1])[0]
        except (ValueError, IndexError, KeyError) as err:
            raise EndpointError(f"{self.model_name}: malformed answer ({err})") from None
        if not 0 <= n <= len(boxes) or embs.shape[-1] != self.recognizer.dim:
            raise EndpointError(
                f"{self.model_name}: answer holds {n} faces of {embs.shape[-1]}-d, "
                f"expected <= {len(boxes)} of {self.recognizer.dim}-d"
            )
        faces = []
        for i in range(n):
            lm = marks[i] if np.all(np.isfinite(marks[i])) else None
            e = embs[i] / max(float(np.linalg.norm(embs[i])), 1e-12)
            face = Face(
                box=boxes[i].copy(),
                score=float(scores[i]),
                landmarks=None if lm is None else lm.copy(),
                embedding=e.astype(np.float32),
            )
            face.data["embedded_by"] = self.mode
            faces.append(face)
        return faces

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Embeddings came with the faces; faces detected locally (fallback frames) are embedded here."""
        todo = [f for f in faces if f.embedding is None]
        if todo:
            self.recognizer.embed(image_bgr, todo)
        if not faces:
            return np.zeros((0, self.recognizer.dim), np.float32)
        return np.stack([np.asarray(f.embedding) for f in faces])


class HybridPipeline(RemotePipeline):
    """Detect (and track) locally; align crops locally; embed them remotely in one batch; match locally."""

    mode = "hybrid"

    def __init__(
        self, local: Any, link: EndpointLink, crop_format: str = "raw", crop_quality: int = 90
    ) -> None:
        super().__init__(local, link)
        self.crop_format, self.crop_quality = crop_format, int(crop_quality)
        self.model_name = crops_model_name(self.recognizer.model, crop_format)

    def _check(self, meta: dict[str, Any]) -> int:
        s = int(self.recognizer.input_size)
        ins = {i.get("name"): i for i in meta.get("inputs", [])}
        if self.crop_format == "jpeg":
            if ins.get(CROPS_JPEG_INPUT, {}).get("datatype") != "BYTES":
                raise EndpointError(f"{self.model_name} has no BYTES {CROPS_JPEG_INPUT} input")
            return self._check_embeddings(meta, self.model_name)
        crops = ins.get(CROPS_INPUT)
        if (
            crops is None
            or crops.get("datatype") != "UINT8"
            or list(crops.get("shape", []))[-3:] != [s, s, 3]
        ):
            raise EndpointError(
                f"{self.model_name} needs a UINT8 {CROPS_INPUT} input of [N, {s}, {s}, 3]; it has {crops}"
            )
        return self._check_embeddings(meta, self.model_name)

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        self._begin_frame()
        if not self.link.available():
            self._net.fallback = True  # the CSV shows the outage on every frame, not only on requests
        return self.local.detect(image_bgr)

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Align ``faces`` here, embed the crops on the endpoint (locally if it fails); sets ``embedding``."""
        rec = self.recognizer
        if not faces:
            return np.zeros((0, rec.dim), np.float32)
        crops = np.stack([rec.align(image_bgr, f) for f in faces])
        emb = None
        if not self._net.fallback and self.link.available():
            t0 = time.perf_counter()
            try:
                emb = self._remote_embed(crops)
            except EndpointError as err:
                self._fall_back(t0, str(err))
            except Exception as err:  # noqa: BLE001 - metadata calls raise tritonclient/socket errors
                self._fall_back(t0, _describe(err))
        else:
            self._net.fallback = True
        if emb is None:
            emb = rec.embed_crops(crops)
        for f, e in zip(faces, emb, strict=True):
            f.embedding = e
            f.data["embedded_by"] = self.mode + (FALLBACK_SUFFIX if self._net.fallback else "")
        return emb

    def _remote_embed(self, crops: np.ndarray) -> np.ndarray:
        import tritonclient.http as httpclient

        info = self.link.model(self.model_name, self._check)
        out = []
        for i in range(0, len(crops), info.max_batch):
            part = np.ascontiguousarray(crops[i : i + info.max_batch], np.uint8)
            if self.crop_format == "jpeg":
                import cv2

                params = [cv2.IMWRITE_JPEG_QUALITY, self.crop_quality]
                blobs = [
                    cv2.imencode(".jpg", cv2.cvtColor(c, cv2.COLOR_RGB2BGR), params)[1].tobytes()
                    for c in part
                ]
                inp = httpclient.InferInput(CROPS_JPEG_INPUT, [len(blobs), 1], "BYTES")
                inp.set_data_from_numpy(np.array(blobs, dtype=np.object_).reshape(-1, 1), binary_data=True)
                size = sum(4 + len(b) for b in blobs)
            else:
                inp = httpclient.InferInput(CROPS_INPUT, list(part.shape), "UINT8")
                inp.set_data_from_numpy(part, binary_data=True)
                size = part.nbytes
            reply = self.link.infer(self.model_name, [inp], [CROPS_OUTPUT], bytes_up=size)
            self._net.add(reply)
            emb = np.asarray(reply.outputs[CROPS_OUTPUT], np.float32)
            if emb.shape != (len(part), self.recognizer.dim):
                raise EndpointError(
                    f"{self.model_name}: {list(emb.shape)} embeddings for {len(part)} crops, "
                    f"expected [{len(part)}, {self.recognizer.dim}]"
                )
            out.append(emb)
        emb = np.concatenate(out)
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        if not np.all(np.isfinite(emb)) or np.any(norms < 1e-6):
            raise EndpointError(f"{self.model_name}: answer holds non-finite or zero embeddings")
        return emb / norms


def is_fallback(mode: str) -> bool:
    """Whether a frame's ``mode`` says it was processed locally because the endpoint failed."""
    return mode.endswith(FALLBACK_SUFFIX)
