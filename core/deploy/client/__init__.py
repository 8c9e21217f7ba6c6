"""Cloud and hybrid pipelines: offload to a KServe v2 endpoint with ``tritonclient.http``, fall back locally.

:func:`remote_pipeline` wraps the local :class:`core.pipeline.Pipeline` (its detector, recognizer,
gallery and threshold) in a pipeline of the same shape (``detect`` / ``embed`` / ``match`` /
``process``), so :class:`core.engine.Engine` and the GUI drive every mode alike; switching mode
is building another pipeline and swapping it in between two frames (``Engine.swap``).

- **cloud**: ``detect`` sends the whole frame as JPEG (``jpeg_quality``) to ``<model>_frame``,
  which returns boxes, landmarks, scores and embeddings; ``embed`` has nothing left to do;
  ``match`` runs locally against the gallery.
- **hybrid**: ``detect`` runs locally (then the engine's tracker picks the faces that need
  recognition); their crops are aligned locally and sent, batched in one request, as JPEG to
  ``<model>_crops_jpeg`` (or raw UINT8, lossless, to ``<model>_crops`` with ``crop_format="raw"``);
  ``match`` runs locally. Under the engine, routine questions go in the background (``defer``): the
  answer is recorded on a later frame, and a track whose request is on its way is not asked again
  (pending); a face the tracker doubts is answered within its frame.

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

Modules: :mod:`.transport` (the connection, requests, answer authentication), :mod:`.fallback`
(health and the background probe), :mod:`.base` (what both modes share, per-frame stats),
:mod:`.cloud`, :mod:`.hybrid`, :mod:`.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.config import defaults
from core.deploy.client.base import FALLBACK_SUFFIX, RemotePipeline
from core.deploy.client.cloud import CloudPipeline
from core.deploy.client.errors import EndpointError
from core.deploy.client.fallback import MAX_PROBE_S
from core.deploy.client.hybrid import FIRST_CROPS, HybridPipeline
from core.deploy.client.transport import DEFAULT_MAX_BATCH, MAX_TIMEOUT_S, EndpointLink, Reply
from core.errors import FaceGateError
from core.protocols import FacePipeline

if TYPE_CHECKING:
    from core.pipeline import Pipeline

__all__ = [
    "DEFAULT_MAX_BATCH",
    "FALLBACK_SUFFIX",
    "MAX_PROBE_S",
    "MAX_TIMEOUT_S",
    "CloudPipeline",
    "EndpointError",
    "EndpointLink",
    "HybridPipeline",
    "RemotePipeline",
    "Reply",
    "remote_pipeline",
]


_REMOTE = defaults().remote  # core/config.py holds the defaults


def remote_pipeline(
    mode: str,
    local_pipeline: Pipeline,
    endpoint: str | None = None,
    token: str | None = None,
    ca_cert: str | None = None,
    jpeg_quality: int = _REMOTE.jpeg_quality,
    fallback_after_s: float = _REMOTE.fallback_after_s,
    *,
    probe_every_s: float | None = None,
    crop_format: str = _REMOTE.crop_format,
    crop_quality: int = _REMOTE.crop_quality,
    allow_insecure_http: bool = False,
    allow_unauthenticated: bool = False,
    background: bool = True,
    first_crops: int | None = None,
) -> FacePipeline:
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
        crop_format: hybrid mode's crops: "jpeg" (the default: ``<model>_crops_jpeg``, ~11x fewer
            bytes than raw; same identities and decisions, embeddings within cosine 0.99 of raw) or
            "raw" (UINT8 tensors to ``<model>_crops``: lossless, what any Triton serving that model takes).
        crop_quality: JPEG quality of "jpeg" crops (1-100).
        background: hybrid mode under the engine's tracker: routine questions (new, undecided,
            re-checked tracks) go in background requests answered on a later frame, and a track whose
            request is on its way is not asked again (:meth:`HybridPipeline.defer`). False: every
            question is answered within its frame (the frame waits).
        first_crops: a new track's first clear crops sent together in one request (default: the
            tracker's ``min_agree``, the results a decision needs; 1: one request per answer).
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
    return HybridPipeline(
        local_pipeline,
        link,
        crop_format=crop_format,
        crop_quality=int(crop_quality),
        background=background,
        first_crops=FIRST_CROPS if first_crops is None else int(first_crops),
    )
