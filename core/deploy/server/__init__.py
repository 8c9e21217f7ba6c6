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


Modules: :mod:`.limits` (request limits, server-wide budgets), :mod:`.models` (the served models),
:mod:`.batching` (per-model workers), :mod:`.app` (the ASGI app), :mod:`.runner` (uvicorn, TLS,
sockets, signals), :mod:`.command` (``main.py serve``).
"""

from __future__ import annotations

from core.deploy.server.app import EndpointApp
from core.deploy.server.batching import Batcher
from core.deploy.server.command import build_models, serve, serve_token
from core.deploy.server.limits import Budget, Limits
from core.deploy.server.models import (
    SERVER_NAME,
    SERVER_VERSION,
    CropsJpegModel,
    CropsModel,
    FrameModel,
    Model,
)
from core.deploy.server.runner import listen, run_app, tls_context

__all__ = [
    "SERVER_NAME",
    "SERVER_VERSION",
    "Batcher",
    "Budget",
    "CropsJpegModel",
    "CropsModel",
    "EndpointApp",
    "FrameModel",
    "Limits",
    "Model",
    "build_models",
    "listen",
    "run_app",
    "serve",
    "serve_token",
    "tls_context",
]
