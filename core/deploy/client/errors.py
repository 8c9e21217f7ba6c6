"""What goes wrong talking to an endpoint: :class:`EndpointError`, a short reason, loud warnings."""

from __future__ import annotations

import logging
import sys
import time

from core.errors import FaceGateError

log = logging.getLogger(__name__)


class EndpointError(FaceGateError):
    """The endpoint could not process a request (down, slow, refused it, or answered nonsense)."""


def warn(message: str) -> None:
    """A loud warning: the log and stderr (the operator must see an opted-in risk)."""
    log.warning("%s", message)
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


def retryable(err: BaseException, t0: float, budget_s: float) -> bool:
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


def describe(err: BaseException) -> str:
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
