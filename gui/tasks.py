"""Task threads: a QThread running callables from a queue, results delivered back on the GUI thread.

napari-style: work runs off the GUI thread and its results arrive as signals; a newer request can make
an older one stale (the caller compares generations); shutdown is ``stop()`` = drop pending work, ask
the loop to end, ``quit()`` + ``wait()``.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)

Callback = Callable[[Any], None]


@dataclass
class _Task:
    token: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class _Abandoned(Exception):
    """The thread is stopping and gave up waiting for its task."""


class _Dispatcher(QObject):
    """Lives on the GUI thread; runs the done/failed callbacks of finished tasks there."""

    def __init__(self) -> None:
        super().__init__()
        self.callbacks: dict[int, tuple[Callback | None, Callback | None]] = {}

    @Slot(int, object, object)
    def dispatch(self, token: int, result: Any, error: Any) -> None:
        done, failed = self.callbacks.pop(token, (None, None))
        if error is None:
            if done is not None:
                done(result)
        elif failed is not None:
            failed(error)
        else:
            log.error("background task failed: %s", error)


class TaskThread(QThread):
    """Runs submitted callables one after another in its own thread.

    ``call(fn, *args, done=cb, failed=cb)`` queues ``fn(*args)``; ``done(result)`` or ``failed(message)``
    then runs on the GUI thread. Subclasses may override :meth:`idle` to do work between tasks (the
    inference worker processes a frame there); the default waits for the next task.
    """

    taskDone = Signal(int, object, object)  # token, result, error message (None = success)
    #: run each task in a daemon thread that :meth:`stop` does not wait for (the builder: model builds)
    abandon_on_stop = False

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._tasks: queue.Queue[_Task | None] = queue.Queue()
        self._tokens = itertools.count(1)
        self._stopping = threading.Event()
        self._dispatcher = _Dispatcher()
        self.taskDone.connect(self._dispatcher.dispatch)
        self.busy = False  # a task is running (read by the GUI for "building..." hints)
        self._job: threading.Thread | None = None  # abandon_on_stop: the thread running the task

    # ------------------------------------------------------------------ GUI side
    def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        done: Callback | None = None,
        failed: Callback | None = None,
        **kwargs: Any,
    ) -> int:
        """Queue ``fn(*args, **kwargs)`` for this thread; returns a token. Call from the GUI thread."""
        token = next(self._tokens)
        self._dispatcher.callbacks[token] = (done, failed)
        self._tasks.put(_Task(token, fn, args, kwargs))
        return token

    def stop(self, timeout_ms: int = 30000) -> bool:
        """Drop queued tasks, end the loop (after the running task), ``quit()`` + ``wait()``."""
        self._stopping.set()
        try:
            while True:
                self._tasks.get_nowait()
        except queue.Empty:
            pass
        self._tasks.put(None)
        self.quit()
        ok = self.wait(timeout_ms) if self.isRunning() else True
        if not ok:
            log.warning("%s did not stop within %d ms", self.objectName(), timeout_ms)
        return bool(ok)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def abandoned_job_running(self) -> bool:
        """A task given up at :meth:`stop` still runs in its daemon thread (a model build)."""
        return self._stopping.is_set() and self._job is not None and self._job.is_alive()

    # ------------------------------------------------------------------ thread side
    def _call(self, task: _Task) -> Any:
        """``task`` run here; with :attr:`abandon_on_stop`, in a daemon thread this one waits for, and
        given up when :meth:`stop` is called (its result is dropped: a 20 s model build never holds up
        closing the window; the process may exit while it runs)."""
        if not self.abandon_on_stop:
            return task.fn(*task.args, **task.kwargs)
        box: dict[str, Any] = {}
        finished = threading.Event()

        def job() -> None:
            try:
                box["result"] = task.fn(*task.args, **task.kwargs)
            except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
                box["error"] = err
            finally:
                finished.set()

        self._job = threading.Thread(target=job, name=f"{self.objectName()}-job", daemon=True)
        self._job.start()
        while not finished.wait(0.05):
            if self._stopping.is_set():
                log.info("%s: a task still running was abandoned at shutdown", self.objectName())
                raise _Abandoned
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _run_task(self, task: _Task) -> None:
        self.busy = True
        try:
            result = self._call(task)
        except _Abandoned:
            return
        except Exception as err:  # noqa: BLE001 - report every failure to the GUI, keep the thread alive
            log.debug("task %s failed:\n%s", getattr(task.fn, "__name__", task.fn), traceback.format_exc())
            self.taskDone.emit(task.token, None, str(err) or type(err).__name__)
        else:
            self.taskDone.emit(task.token, result, None)
        finally:
            self.busy = False

    def run_pending(self, budget_s: float = 0.0, wait_s: float = 0.0) -> None:
        """Run queued tasks: at least one if any (waiting up to ``wait_s`` for it), more while within
        ``budget_s`` of starting, so a queue of heavy tasks never stalls :meth:`idle` for long."""
        t0 = time.perf_counter()
        first = True
        while not self._stopping.is_set():
            try:
                task = self._tasks.get(timeout=wait_s) if (first and wait_s > 0) else self._tasks.get_nowait()
            except queue.Empty:
                return
            first = False
            if task is None:
                return
            self._run_task(task)
            if time.perf_counter() - t0 >= budget_s:
                return

    def idle(self) -> None:
        """One step of work between tasks; the default blocks for the next task."""
        self.run_pending(wait_s=0.2)

    def run(self) -> None:  # noqa: D102 - QThread entry point
        try:
            while not self._stopping.is_set():
                self.idle()
        finally:
            self.finish()

    def finish(self) -> None:
        """Runs in the thread as its loop ends (release what it holds)."""
