"""Stopping cleanly on Ctrl-C (SIGINT) and SIGTERM, the one way every command, the bench and the window do it."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_stop_signals(
    handler: Callable[[int, Any], Any], signals: tuple[signal.Signals, ...] = STOP_SIGNALS
) -> Iterator[None]:
    """Run ``handler(signum, frame)`` on ``signals`` (SIGINT and SIGTERM) while the block runs, then restore
    the previous handlers. Off the main thread (where Python cannot set handlers) the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    """A SIGTERM handler: raise KeyboardInterrupt, so ``finally`` blocks close workers and endpoints."""
    raise KeyboardInterrupt


def sigterm_as_keyboard_interrupt() -> contextlib.AbstractContextManager[None]:
    """While the block runs, SIGTERM (a ``kill``, a parent's ``terminate()``) ends it like Ctrl-C does."""
    return on_stop_signals(raise_keyboard_interrupt, (signal.SIGTERM,))
