"""The connection to a v2 endpoint: ``tritonclient.http`` clients per thread, requests, answer checks."""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from core.deploy.client.errors import EndpointError, describe, retryable, warn
from core.deploy.client.fallback import EndpointHealth
from core.deploy.protocol import HEADER_LENGTH, MAC_PARAMETER, NONCE_PARAMETER, answer_mac, is_loopback
from core.errors import FaceGateError

log = logging.getLogger(__name__)

MAX_TIMEOUT_S = 86400.0  # "never fall back" (fallback_after_s=1e9) still needs a finite socket timeout
DEFAULT_MAX_BATCH = 32


def _require_tritonclient() -> None:
    """Fail when the link is built, with the fix, not on the first frame."""
    try:
        import tritonclient.http  # noqa: F401
    except ImportError as err:
        raise FaceGateError(
            f"cloud/hybrid modes need tritonclient: pip install 'tritonclient[http]' ({err})"
        ) from None


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


class EndpointLink(EndpointHealth):
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
        _require_tritonclient()
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
        self._check_plain_http(parts.hostname, allow_insecure_http)
        self._check_authenticated(allow_unauthenticated)
        self._unsigned_warned = False
        self.ca_cert = ca_cert
        self.timeout_s = min(float(timeout_s), MAX_TIMEOUT_S)
        self._local = threading.local()
        self._clients: list[Any] = []
        self._lock = threading.Lock()
        self._models: dict[str, _ModelInfo] = {}
        self._init_health(probe_every_s)
        self.status = f"endpoint {self.endpoint}"

    def _check_plain_http(self, host: str, allow_insecure_http: bool) -> None:
        """Refuse (or, opted in, warn about) faces and the token over plain http to another machine."""
        if self.tls or is_loopback(host):
            return
        token = " and the token" if self.token else ""
        if not allow_insecure_http:
            raise FaceGateError(
                f"refusing to send faces{token} over plain http to "
                f"{host}: use https:// (serve --tls-cert/--tls-key), or --insecure-http "
                "to send them readable by anyone on the path"
            )
        warn(
            f"--insecure-http: faces{token} go to {host} "
            "unencrypted; anyone on the network path can read or alter them"
        )

    def _check_authenticated(self, allow_unauthenticated: bool) -> None:
        """Refuse (or, opted in, warn about) an endpoint whose answers cannot be authenticated (no token)."""
        if self.key is not None:
            return
        if not allow_unauthenticated:
            raise FaceGateError(
                f"endpoint {self.endpoint}: no token to authenticate its answers with; give the server's "
                "token (--token-file), or --allow-unauthenticated-endpoint to trust whatever answers"
            )
        warn(
            f"--allow-unauthenticated-endpoint: answers from {self.endpoint} are not authenticated; "
            "whoever answers on that address decides who is recognised"
        )

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
                if err.status() is None and attempt == 0 and retryable(err, t0, self.timeout_s):
                    self._drop_client()
                    continue
                self._drop_client()
                raise EndpointError(describe(err)) from None
            except Exception as err:  # noqa: BLE001 - socket errors, timeouts, broken connections
                self._drop_client()
                if attempt == 0 and retryable(err, t0, self.timeout_s):
                    continue
                raise EndpointError(describe(err)) from None
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
                    warn(f"{self.endpoint} answers without {MAC_PARAMETER}: trusted unchecked (opted in)")
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
