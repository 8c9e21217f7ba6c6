"""Stopping cleanly on Ctrl-C (SIGINT) and SIGTERM, the one way every deploy command does it."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_stop_signals(handler: Callable[[int, Any], Any]) -> Iterator[None]:
    """Run ``handler(signum, frame)`` on SIGINT and SIGTERM while the block runs, then restore the
    previous handlers. Off the main thread (where Python cannot set handlers) the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
