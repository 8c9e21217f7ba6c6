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


class StopRequest:
    """A stop asked for by Ctrl-C or SIGTERM, read by a loop between its rounds.

    A handler that raises KeyboardInterrupt can land anywhere, also inside ``threading``'s own lock code (a
    ``with lock:`` whose ``__enter__`` has taken the lock but not yet entered the block): the lock then stays
    taken and a later wait on it never ends. The Python manual's note on signal handlers and exceptions says
    as much. So the first signal only sets :attr:`requested`, and the loop ends at its next check; a second
    signal (the operator pressing Ctrl-C again) raises KeyboardInterrupt at once.
    """

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum


@contextlib.contextmanager
def stop_requested_on_signals() -> Iterator[StopRequest]:
    """``with stop_requested_on_signals() as stop: while not stop.requested: ...`` (SIGINT and SIGTERM)."""
    stop = StopRequest()
    with on_stop_signals(stop):
        yield stop
