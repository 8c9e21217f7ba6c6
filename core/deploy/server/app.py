"""The v2 routes as an ASGI app (:class:`EndpointApp`): authentication, budgets, decoding pool, batchers."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from core.deploy.protocol import (
    HEADER_LENGTH,
    NONCE_PARAMETER,
    InferRequest,
    ProtocolError,
    decode_request,
    encode_response,
    error_body,
)
from core.deploy.server.batching import Batcher
from core.deploy.server.limits import Budget, Limits
from core.deploy.server.models import SERVER_NAME, SERVER_VERSION, Model

log = logging.getLogger(__name__)

_MODEL_ROUTE = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<rest>/[a-z]+)?$")


_BUSY = {"Retry-After": "1"}


def _busy_if_retryable(err: ProtocolError) -> dict[str, str] | None:
    """``Retry-After`` for the statuses a client should retry (429, 503)."""
    return _BUSY if err.status in (429, 503) else None


class _Refused(Exception):
    """An answer other than 200 for the current request; ``close`` when its body was not read."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, close: bool = False):
        super().__init__(message)
        self.status, self.headers, self.close = status, headers or {}, close


class _Gone(Exception):
    """The client closed the connection mid-request: nobody to answer."""


class EndpointApp:
    """The v2 routes as an ASGI app: authentication, budgets, decoding pool, batchers."""

    server: Any = None  # the uvicorn server running this app (set by run_app; lets a caller stop it)

    def __init__(
        self, models: Sequence[Model], token: str | None = None, limits: Limits | None = None
    ) -> None:
        self.limits = limits or Limits()
        self.models = {m.name: m for m in models}
        self.token = token.encode("utf-8") if token else None
        self.batchers = {m.name: Batcher(m, self.limits.max_queue, self.limits.instances) for m in models}
        self.decoder = ThreadPoolExecutor(self.limits.decode_workers, thread_name_prefix="decode")
        self.decoding = 0  # requests in (or waiting for) the decode pool; touched on the event loop only
        self.body_budget = Budget(self.limits.max_bytes_in_flight)
        self.pixel_budget = Budget(self.limits.max_pixels_in_flight)
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
        """POST ``.../infer``: framing checks, body, decode (pool), batch (worker), answer."""
        header_length, length = self._body_framing(headers)
        t0, (request, item, size, pixels) = await self._receive_and_decode(
            model, receive, length, header_length
        )
        future = self._submit(model, request, item, size, pixels)
        del item  # the worker holds the decoded images now; this request only waits for the result
        outputs = await self._wait(model, future)
        await self._answer(send, model, request, outputs, t0)

    def _body_framing(self, headers: dict[str, str]) -> tuple[int | None, int]:
        """(JSON header length or None, body length) of an infer request; refused before reading the body
        when the framing is unsupported or the body is over the size limit."""
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
            raise _Refused(
                400, f"{HEADER_LENGTH} must be an integer, not {str(raw)[:40]!r}", close=True
            ) from None
        length = int(headers.get("content-length", "-1"))  # h11 checked it is one valid number
        if length < 0:
            raise _Refused(411, "a POST needs a Content-Length", close=True)
        max_body = self.limits.max_body_bytes
        if length > max_body:
            raise _Refused(413, f"body of {length} bytes is over the limit of {max_body} bytes", close=True)
        return header_length, length

    async def _receive_and_decode(
        self, model: Model, receive: Any, length: int, header_length: int | None
    ) -> tuple[float, tuple[InferRequest, Any, int, int]]:
        """(start time, :meth:`_decode`'s result): the body read within the body budget, then parsed and
        decoded in the decode pool; the body's bytes are given back once it is decoded."""
        limits = self.limits
        if not self.body_budget.take(length):
            raise _Refused(429, "server busy receiving other requests; retry later", _BUSY, close=True)
        try:
            body = await _read_body(receive, length, limits.read_timeout_s)
            if self.decoding >= 16 * limits.decode_workers:
                raise _Refused(429, "server busy decoding other requests; retry later", _BUSY)
            t0 = time.perf_counter()
            self.decoding += 1
            try:
                decoded = await asyncio.get_running_loop().run_in_executor(
                    self.decoder, self._decode, model, body, header_length
                )
            finally:
                self.decoding -= 1
            del body
        except ProtocolError as err:
            raise _Refused(err.status, str(err), _busy_if_retryable(err)) from None
        finally:
            self.body_budget.give(length)
        return t0, decoded

    def _submit(self, model: Model, request: InferRequest, item: Any, size: int, pixels: int) -> Future:
        """Queue the decoded item on the model's batcher; its pixels stay reserved until the worker is done
        with them (or drops the job), even when this request stops waiting first."""
        wait_s = min(self.limits.infer_timeout_s, request.timeout_s or self.limits.infer_timeout_s)
        try:
            future = self.batchers[model.name].submit(item, size, time.monotonic() + wait_s)
        except ProtocolError as err:
            self.pixel_budget.give(pixels)
            raise _Refused(err.status, str(err), _BUSY) from None
        future.add_done_callback(lambda _: self.pixel_budget.give(pixels))
        return future

    async def _wait(self, model: Model, future: Future) -> Any:
        """The batch's outputs for this request, within ``infer_timeout_s`` (503 past it)."""
        timeout_s = self.limits.infer_timeout_s
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except asyncio.TimeoutError:
            raise _Refused(
                503, f"{model.name}: no result within {timeout_s:g} s (server busy)", _BUSY
            ) from None
        except ProtocolError as err:
            raise _Refused(err.status, str(err), _busy_if_retryable(err)) from None

    async def _answer(self, send: Any, model: Model, request: InferRequest, outputs: Any, t0: float) -> None:
        """The 200 answer: requested outputs (binary where asked), server time, the HMAC when asked."""
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
