"""Per-model worker threads: everything queued (up to the model's max batch) runs as one batch."""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from core.deploy.protocol import ProtocolError
from core.deploy.server.models import Model

log = logging.getLogger(__name__)


@dataclass
class _Job:
    item: Any
    size: int
    deadline: float  # time.monotonic()
    future: Future


class Batcher:
    """Worker thread(s) running a model on everything queued (up to its max batch) as one batch."""

    def __init__(self, model: Model, max_queue: int, instances: int = 1) -> None:
        self.model = model
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max_queue)
        self.batches = 0
        self.items = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"infer-{model.name}-{i}", daemon=True)
            for i in range(max(1, instances))
        ]
        for t in self._threads:
            t.start()

    def submit(self, item: Any, size: int, deadline: float) -> Future:
        """Queue one request's work; raises ProtocolError 429 when the queue is full."""
        job = _Job(item, size, deadline, Future())
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise ProtocolError(
                f"{self.model.name}: too many requests queued ({self._queue.maxsize}); retry later", 429
            ) from None
        return job.future

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)

    def _take(self, carry: _Job | None) -> tuple[list[_Job] | None, _Job | None]:
        """The next batch and the job left for the one after: the first job (``carry`` if any),
        then whatever else is queued that fits in the model's max batch."""
        first = carry if carry is not None else self._queue.get()
        if first is None:
            return None, None
        jobs, total = [first], first.size
        while total < self.model.max_batch_size:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # keep the stop signal for the loop
                break
            if total + job.size > self.model.max_batch_size:
                return jobs, job
            jobs.append(job)
            total += job.size
        return jobs, None

    def _run(self) -> None:
        carry: _Job | None = None
        while True:
            jobs, carry = self._take(carry)
            if jobs is None:
                return
            now = time.monotonic()
            live = []
            for job in jobs:
                if job.future.set_running_or_notify_cancel() is False:
                    continue
                if now > job.deadline:
                    job.future.set_exception(
                        ProtocolError(
                            f"{self.model.name}: request waited past its deadline in the queue (server busy)",
                            503,
                        )
                    )
                    continue
                live.append(job)
            if not live:
                continue
            try:
                results = self.model.run_batch([j.item for j in live])
            except Exception as err:  # noqa: BLE001 - a failed batch answers its requests, never kills the worker
                log.exception("%s: batch of %d failed", self.model.name, len(live))
                for job in live:
                    job.future.set_exception(
                        ProtocolError(
                            f"{self.model.name}: inference failed ({type(err).__name__}: {err})", 500
                        )
                    )
                continue
            self.batches += 1
            self.items += sum(j.size for j in live)
            for job, result in zip(live, results, strict=True):
                job.future.set_result(result)
