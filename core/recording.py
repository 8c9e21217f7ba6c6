"""Session recording: one CSV row per frame, one per access event, and a sliding-window FPS meter.

Rows hold an empty cell where something was not measured (no GPU, no network stage in local mode),
never a made-up 0, so a spreadsheet's averages stay honest. Sinks flush every row: a run that is
killed still leaves complete rows behind (at most the row being written is lost).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from core.types import FrameResult

if TYPE_CHECKING:
    from core.telemetry import TelemetrySnapshot

FRAME_COLUMNS = [
    "session",
    "frame",
    "timestamp",
    "source",
    "width",
    "height",
    "mode",
    "detector",
    "recognizer",
    "capture_ms",
    "detect_ms",
    "embed_ms",
    "match_ms",
    "network_ms",
    "total_ms",
    "fps",
    "faces",
    "known",
    "unknown",
    "dropped_frames",
    "bytes_up",
    "bytes_down",
    "rss_mb",
    "gpu_mem_mb",
    "power_w",
    "camera",  # which camera of a run (added with several cameras; the columns above keep their order)
]
EVENT_COLUMNS = [
    "timestamp",
    "session",
    "track",
    "identity",
    "distance",
    "decision",
    # why, on what evidence, where (added in schema 3; the first six columns keep their order)
    "frame",
    "observations",
    "reason",
    "camera",
    "kind",
    "previous",
]

#: a stored session's events as exported: the live columns plus the operator's newest correction
EVENT_EXPORT_COLUMNS = [
    *EVENT_COLUMNS,
    "corrected_identity",
    "corrected_by",
    "corrected_at",
    "correction_note",
]

TIMING_COLUMNS = ("capture_ms", "detect_ms", "embed_ms", "match_ms", "network_ms", "total_ms")
TELEMETRY_COLUMNS = ("rss_mb", "gpu_mem_mb", "power_w")


def iso_utc(ts: float | None) -> str:
    """``time.time()`` seconds -> ISO-8601 UTC with milliseconds (``2025-01-31T12:00:00.123+00:00``).

    ``None`` or a non-positive stamp (the FrameResult default 0.0 = never set) gives ``""``.
    """
    if ts is None or not math.isfinite(ts) or ts <= 0:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")


def csv_cell(value: Any, digits: int | None = None) -> Any:
    """A measured value as written to CSV; ``""`` for not measured (None, NaN), floats rounded to ``digits``."""
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return round(value, digits) if digits is not None else value
    return value


def _telemetry_dict(telemetry: Any) -> Mapping[str, Any]:
    if telemetry is None:
        return {}
    if isinstance(telemetry, Mapping):
        return telemetry
    if dataclasses.is_dataclass(telemetry) and not isinstance(telemetry, type):
        return dataclasses.asdict(telemetry)  # e.g. core.telemetry.TelemetrySnapshot
    raise TypeError(f"telemetry must be a mapping or a dataclass, not {type(telemetry).__name__}")


def frame_row(
    session_id: str,
    result: FrameResult,
    source: str,
    fps: float | None,
    dropped: int,
    telemetry: Mapping[str, Any] | TelemetrySnapshot | None,
    camera: str = "",
) -> dict[str, Any]:
    """One :data:`FRAME_COLUMNS` row for a processed frame.

    Args:
        session_id: the recording session this frame belongs to.
        result: the frame's result; stage times come from ``result.timings_ms`` (``capture_ms``,
            ``detect_ms``, ``embed_ms``, ``match_ms``, ``network_ms``, ``total_ms``), transferred bytes
            from ``result.bytes_up``/``result.bytes_down``.
        source: what the frames come from (camera index, file, URL).
        fps: the measured frame rate now, ``None`` before there is one.
        dropped: frames the capture dropped so far (it never waits for inference).
        telemetry: the newest telemetry snapshot (a dict or :class:`core.telemetry.TelemetrySnapshot`)
            with ``rss_mb``, ``gpu_mem_mb``, ``power_w``; ``None`` when there is none.
        camera: the camera's name in a run of several (``cam1``, or the NAME of ``--source NAME=SRC``).

    Returns:
        A dict keyed exactly by :data:`FRAME_COLUMNS`; ``""`` wherever a value was not measured.
    """
    timings = result.timings_ms or {}
    tele = _telemetry_dict(telemetry)
    row: dict[str, Any] = {
        "session": session_id,
        "frame": result.frame_index,
        "timestamp": iso_utc(result.timestamp),
        "source": source,
        "width": result.width,
        "height": result.height,
        "mode": result.mode,
        "detector": result.detector,
        "recognizer": result.recognizer,
    }
    for col in TIMING_COLUMNS:
        row[col] = csv_cell(timings.get(col), 3)
    row["fps"] = csv_cell(fps, 2)
    row["faces"] = len(result.faces)
    row["known"] = result.known
    row["unknown"] = result.unknown
    row["dropped_frames"] = csv_cell(dropped)
    row["bytes_up"] = csv_cell(result.bytes_up)
    row["bytes_down"] = csv_cell(result.bytes_down)
    row["rss_mb"] = csv_cell(tele.get("rss_mb"), 1)
    row["gpu_mem_mb"] = csv_cell(tele.get("gpu_mem_mb"), 1)
    row["power_w"] = csv_cell(tele.get("power_w"), 2)
    row["camera"] = camera
    return row


def access_event_row(session_id: str, event: Any) -> dict[str, Any]:
    """One :data:`EVENT_COLUMNS` row for a :class:`core.tracking.AccessEvent` (as the window shows it)."""
    return {
        "timestamp": iso_utc(event.timestamp),
        "session": session_id,
        "track": event.track_id,
        "identity": event.identity or "",
        "distance": csv_cell(None if event.distance is None else float(event.distance), 4),
        "decision": event.decision,
        "frame": event.frame_index,
        "observations": event.observations,
        "reason": event.reason,
        "camera": event.camera,
        "kind": event.kind,
        "previous": event.previous or "",
    }


class CSVSink:
    """Writes rows of fixed columns to a CSV file: header once, every row flushed.

    Use as a context manager (or :meth:`open` / :meth:`close`); parent folders are created. With
    ``append=True`` an existing file with the same header is continued instead of replaced. Safe
    to call :meth:`write` from several threads. Each row is one short format + one ``write``
    syscall, during which CPython releases the GIL, so recording never stalls the other threads.

    >>> with CSVSink("runs/s1/frames.csv") as sink:
    ...     sink.write(frame_row("s1", result, "0", fps, dropped, sampler.latest()))
    """

    def __init__(
        self,
        path: str | Path,
        columns: Sequence[str] = FRAME_COLUMNS,
        append: bool = False,
        ignore_extra: bool = False,
    ) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.append = append
        self.ignore_extra = ignore_extra  # True: columns not in ``columns`` are dropped instead of raising
        self.rows_written = 0
        self._file: TextIO | None = None
        self._writer: csv.DictWriter | None = None
        self._lock = threading.Lock()

    def open(self) -> CSVSink:
        if self._file is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        continuing = self.append and self.path.exists() and self.path.stat().st_size > 0
        if continuing:
            with self.path.open(newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
            if header != self.columns:
                raise ValueError(
                    f"{self.path}: cannot append, its columns {header} differ from {self.columns}"
                )
        self._file = self.path.open("a" if continuing else "w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(
            self._file,
            fieldnames=self.columns,
            restval="",
            extrasaction="ignore" if self.ignore_extra else "raise",
        )
        if not continuing:
            self._writer.writeheader()
            self._file.flush()
        return self

    def write(self, row: Mapping[str, Any]) -> None:
        """Write one row (missing columns are left empty; an unknown column raises ValueError unless
        the sink was made with ``ignore_extra``)."""
        with self._lock:
            if self._writer is None or self._file is None:
                raise RuntimeError(f"{self.path}: sink is not open (use `with CSVSink(...)` or .open())")
            self._writer.writerow(row)
            self._file.flush()
            self.rows_written += 1

    def write_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            self.write(row)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
            self._file, self._writer = None, None

    @property
    def closed(self) -> bool:
        return self._file is None

    def __enter__(self) -> CSVSink:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


class FPSMonitor:
    """Frames per second over a sliding time window of ``time.monotonic()`` stamps.

    ``fps`` = (stamps in window - 1) / (newest - oldest); ``None`` until two stamps fall in the
    window, so a stalled stream reads ``None`` once its stamps age out instead of a stale rate.

    Args:
        window_s: how far back stamps count, in seconds (``math.inf``: the last ``max_samples``
            stamps, however old, as a capture thread's rate that keeps its last value when stalled).
        max_samples: bound on stored stamps (a very fast source keeps only the newest).
    """

    def __init__(self, window_s: float = 2.0, max_samples: int = 1000) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, not {window_s}")
        self.window_s = float(window_s)
        self._stamps: deque[float] = deque(maxlen=max(2, max_samples))
        self._lock = threading.Lock()

    def tick(self, t: float | None = None) -> None:
        """Record a frame at ``t`` (``time.monotonic()`` when None)."""
        with self._lock:
            self._stamps.append(time.monotonic() if t is None else t)

    def fps(self, now: float | None = None) -> float | None:
        """The rate over the window ending at ``now`` (``time.monotonic()`` when None)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._stamps and self._stamps[0] < now - self.window_s:
                self._stamps.popleft()
            if len(self._stamps) < 2:
                return None
            span = self._stamps[-1] - self._stamps[0]
            return (len(self._stamps) - 1) / span if span > 0 else None

    def reset(self) -> None:
        with self._lock:
            self._stamps.clear()

    def __len__(self) -> int:
        return len(self._stamps)


def export_session(
    store: Any, session_id: str, frames_csv: str | Path, events_csv: str | Path
) -> tuple[int, int]:
    """Write a stored session's frame rows and events to CSV; returns (frames, events) written."""
    frames = store.session_frames(session_id)
    events = store.events(session_id)
    with CSVSink(frames_csv, FRAME_COLUMNS) as sink:
        sink.write_many(frames)
    with CSVSink(events_csv, EVENT_EXPORT_COLUMNS) as sink:
        sink.write_many([{k: csv_cell(ev.get(k)) for k in EVENT_EXPORT_COLUMNS} for ev in events])
    return len(frames), len(events)
