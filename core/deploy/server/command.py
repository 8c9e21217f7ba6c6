"""``main.py serve``: the token, TLS and limits from the command line, warm backends, serve until stopped."""

from __future__ import annotations

import logging
import sys
from typing import Any

from core.deploy.protocol import is_loopback
from core.deploy.server.app import EndpointApp
from core.deploy.server.limits import Limits
from core.deploy.server.models import CropsJpegModel, CropsModel, FrameModel, Model
from core.deploy.server.runner import listen, raise_fd_limit, run_app, tls_context
from core.errors import FaceGateError
from core.token_file import read_secret

log = logging.getLogger(__name__)


def build_models(detector: Any, recognizer: Any, limits: Limits) -> list[Model]:
    """The models served for one detector + recognizer pair: frames, crops, JPEG crops."""
    return [
        FrameModel(detector, recognizer, limits),
        CropsModel(recognizer, limits),
        CropsJpegModel(recognizer, limits),
    ]


def serve_token(args: Any) -> str | None:
    """The token ``serve`` requires, from ``--token-file`` or ``--token`` (stripped); FaceGateError when
    one was given but is empty (a missing secret never means "no authentication")."""
    if getattr(args, "token_file", None):
        return read_secret(args.token_file, "token", prefix="serve: ")
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
    raise_fd_limit(limits.max_connections + 256)
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
