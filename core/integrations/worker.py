"""The delivery worker: background threads that empty the store's outbox, one per target.

Per target, rows go out strictly in outbox order (= event order): the oldest pending row is tried
until it is delivered (or given up as failed), and only then the next one. A failed try is retried
after ``retry_min_s * 2**(tries-1)``, at most ``retry_max_s``. Every state change is committed to the
store before the next row is tried, so a run that is killed or ends with rows pending leaves them for
the next run (rows are never lost; one delivered just before a kill, with its "delivered" not yet
committed, is sent again: at-least-once). The frame loop is never waited on: network I/O happens here,
and each store write is one short transaction.

Other processes may deliver from the same store: a target's rows go out only while this worker holds
its lease in the store (db/outbox.py), taken or renewed before each send, so two runs never both send.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core.integrations.transports import DeliveryError

log = logging.getLogger(__name__)


class Transport(Protocol):
    kind: str

    def send(self, payload: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class TargetStats:
    delivered: int = 0
    retries: int = 0  # failed tries that will be retried
    failed: int = 0  # deliveries given up (permanent error or max_attempts)
    last_error: str = ""
    failing: bool = False


class DeliveryWorker:
    """``open_store()`` is called in each thread (SQLite connections stay in their thread) and must
    return an object with ``outbox_next``, ``outbox_delivered``, ``outbox_failed`` (db/outbox.py) and
    ``close``. ``on_status(target, line)`` is told when a target starts failing and when it recovers."""

    def __init__(
        self,
        open_store: Callable[[], Any],
        transports: Mapping[str, Transport],
        retry_min_s: float = 1.0,
        retry_max_s: float = 60.0,
        max_attempts: int = 0,
        poll_s: float = 0.2,
        batch: int = 50,
        on_status: Callable[[str, str], None] | None = None,
    ) -> None:
        self.open_store = open_store
        self.transports = dict(transports)
        self.retry_min_s, self.retry_max_s = retry_min_s, retry_max_s
        self.max_attempts = max_attempts
        self.poll_s = poll_s
        self.batch = batch  # rows one pass sends before it looks at the stop flag again
        self.on_status = on_status
        self.stats = {target: TargetStats() for target in self.transports}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._deadline = float("inf")  # monotonic: when a stopping worker gives up draining
        self._threads: list[threading.Thread] = []
        #: this worker's name in the store's delivery leases (unique per process and worker)
        self.owner = f"{os.getpid()}-{id(self):x}-{time.time_ns()}"
        #: a lease lasts this long without renewal: longer than one try may take (a transport's timeout)
        self.lease_s = max(
            30.0,
            3.0 * max((float(getattr(t, "timeout_s", 10.0)) for t in self.transports.values()), default=10.0),
        )
        self.leased: dict[str, bool] = dict.fromkeys(self.transports, False)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed try."""
        return float(min(self.retry_max_s, self.retry_min_s * 2 ** max(0, min(attempts - 1, 40))))

    # ------------------------------------------------------------------ threads
    def start(self) -> DeliveryWorker:
        for target in self.transports:
            t = threading.Thread(target=self._serve, args=(target,), name=f"deliver {target}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def wake(self) -> None:
        """Look for new rows now rather than at the next poll."""
        self._wake.set()

    def stop(self, drain_s: float = 5.0) -> dict[str, TargetStats]:
        """Deliver what is due for at most ``drain_s`` more seconds, then stop; what is left stays pending
        in the store for the next run."""
        self._deadline = time.monotonic() + drain_s
        self._stop.set()
        self._wake.set()
        for t in self._threads:  # a try in flight may take its whole timeout
            t.join(drain_s + 30.0)
        return self.stats

    def _serve(self, target: str) -> None:
        store = None
        try:
            store = self.open_store()
            first = True  # rows an earlier run left pending are tried at once: their backoff was its own
            while True:
                try:
                    sent, wait = self.deliver(store, target, due_now=first)
                    first = False
                except Exception as err:  # e.g. the database is locked for long: try again later
                    log.warning("outbox %s: %s", target, err)
                    sent, wait = 0, 1.0
                if self._stop.is_set() and (time.monotonic() >= self._deadline or sent == 0):
                    return
                if sent < self.batch:
                    self._wake.wait(min(wait, self.poll_s) if not self._stop.is_set() else 0.0)
                    self._wake.clear()
        finally:
            self.transports[target].close()
            if store is not None:
                try:
                    if self.leased.get(target):
                        store.outbox_release(target, self.owner)
                except Exception as err:  # noqa: BLE001 - it expires by itself
                    log.debug("outbox %s: lease not released: %s", target, err)
                store.close()

    # ------------------------------------------------------------------ one pass
    def deliver(self, store: Any, target: str, due_now: bool = False) -> tuple[int, float]:
        """Send ``target``'s due rows in order, at most ``batch``; (rows delivered, seconds until the head
        row is due again). ``due_now``: the head row is due whatever its backoff says (a new run's first
        pass). Also what the tests drive directly."""
        transport, stats = self.transports[target], self.stats[target]
        sent = 0
        while sent < self.batch:
            row = store.outbox_next(target)
            if row is None:
                return sent, self.poll_s
            now = time.time()
            if row["next_attempt_at"] > now and not due_now:
                return sent, row["next_attempt_at"] - now
            if self._stop.is_set() and time.monotonic() >= self._deadline:
                return sent, 0.0
            if not self._hold(store, target):
                return sent, self.poll_s * 5  # another run delivers this target; look again later
            try:
                transport.send(row["payload"])
            except DeliveryError as err:
                attempts = int(row["attempts"]) + 1
                permanent = err.permanent or (0 < self.max_attempts <= attempts)
                delay = self.backoff(attempts)
                store.outbox_failed(row["id"], str(err), time.time() + delay, permanent)
                stats.last_error = str(err)
                if permanent:
                    stats.failed += 1
                    self._say(target, f"event {row['event_id']} given up after {attempts} tries: {err}")
                    continue  # the next event goes on: this one is kept as failed (outbox retry)
                stats.retries += 1
                if not stats.failing:
                    stats.failing = True
                    self._say(target, f"down ({err}); retrying with backoff, events wait in order")
                return sent, delay
            store.outbox_delivered(row["id"])
            sent += 1
            stats.delivered += 1
            if stats.failing:
                stats.failing = False
                self._say(target, "delivering again")
        return sent, 0.0

    def _hold(self, store: Any, target: str) -> bool:
        """Take or renew this worker's lease of ``target`` (say when it changes hands)."""
        held = bool(store.outbox_lease(target, self.owner, self.lease_s))
        if held != self.leased.get(target):
            self.leased[target] = held
            if not held:
                self._say(target, "another FaceGate process on this store delivers it; waiting")
        return held

    def _say(self, target: str, line: str) -> None:
        log.info("outbox %s: %s", target, line)
        if self.on_status is not None:
            self.on_status(target, line)
