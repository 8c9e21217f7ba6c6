"""Running :class:`~core.deploy.server.app.EndpointApp` on uvicorn: socket, TLS, head deadline, signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator
from typing import Any

from core.deploy.server.app import EndpointApp
from core.deploy.signals import on_stop_signals
from core.errors import FaceGateError

log = logging.getLogger(__name__)


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

        def connection_made(self, transport: Any) -> None:
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


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2+) from PEM files, with a one-line error a user can act on."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as err:
        raise FaceGateError(f"cannot load TLS certificate {cert} / key {key}: {err}") from None
    return ctx


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


def raise_fd_limit(wanted: int) -> None:
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
            with on_stop_signals(self.handle_exit):
                yield

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit and on_ready is not None:
                on_ready()

    server = _Server(config)
    app.server = server  # lets an embedding caller stop it
    server.run(sockets=[sock])
