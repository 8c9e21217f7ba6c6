"""Session recording: frame and event rows, CSV sinks, FPS monitor."""

from __future__ import annotations

import csv
import math
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from core.recording import (
    EVENT_COLUMNS,
    FRAME_COLUMNS,
    CSVSink,
    FPSMonitor,
    access_event_row,
    frame_row,
    iso_utc,
)
from core.telemetry import TelemetrySnapshot
from core.types import Face, FrameResult

ROOT = Path(__file__).resolve().parents[1]


def face(identity: str | None = None, embedded: bool = True, **kw: object) -> Face:
    return Face(
        box=np.array([10, 20, 110, 140], np.float32),
        score=0.99,
        embedding=np.ones(128, np.float32) / np.sqrt(128) if embedded else None,
        identity=identity,
        **kw,
    )


def results() -> list[FrameResult]:
    t = 1_738_324_800.123  # 2025-01-31T12:00:00.123Z
    return [
        # local mode: no network stage, no capture time measured
        FrameResult(
            faces=[face("ann"), face(None)],
            width=1280,
            height=720,
            frame_index=0,
            timestamp=t,
            timings_ms={"detect_ms": 41.25, "embed_ms": 12.5, "match_ms": 0.2, "total_ms": 54.0},
            detector="mtcnn:onnxruntime",
            recognizer="facenet128:onnxruntime",
        ),
        # cloud mode: network time and bytes measured
        FrameResult(
            faces=[],
            width=1280,
            height=720,
            frame_index=1,
            timestamp=t + 0.04,
            timings_ms={"capture_ms": 3.0, "network_ms": 80.5, "total_ms": 90.0},
            mode="cloud",
            bytes_up=120_000,
            bytes_down=512,
        ),
        # nothing timed at all (a NaN is "not measured" too)
        FrameResult(
            faces=[face(None, embedded=False)],
            width=640,
            height=480,
            frame_index=2,
            timestamp=t + 0.08,
            timings_ms={"detect_ms": float("nan")},
        ),
    ]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_columns_are_exactly_the_agreed_ones() -> None:
    assert FRAME_COLUMNS[:4] == ["session", "frame", "timestamp", "source"]
    assert len(FRAME_COLUMNS) == 26 and len(set(FRAME_COLUMNS)) == 26
    # the camera column came with several cameras: appended, so every older column keeps its place
    assert FRAME_COLUMNS[-4:] == ["rss_mb", "gpu_mem_mb", "power_w", "camera"]
    # the first six columns keep their place; why, on what evidence and where come after them
    assert EVENT_COLUMNS == [
        "timestamp",
        "session",
        "track",
        "identity",
        "distance",
        "decision",
        "frame",
        "observations",
        "reason",
        "camera",
        "kind",
        "previous",
    ]


def test_three_frames_round_trip_with_empty_cells_where_not_measured(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "s1" / "frames.csv"  # parent folders do not exist yet
    telemetry = [
        {"rss_mb": 812.34, "gpu_mem_mb": None, "power_w": 23.456},
        None,
        TelemetrySnapshot(t=1.0, wall_time=2.0, rss_mb=815.0, gpu_mem_mb=300.0),
    ]
    with CSVSink(path) as sink:
        for r, fps, tele in zip(results(), [None, 25.0, 24.5], telemetry, strict=True):
            sink.write(frame_row("s1", r, "0", fps, dropped=r.frame_index, telemetry=tele))
    assert sink.closed and sink.rows_written == 3

    header, rows = read_csv(path)
    assert header == FRAME_COLUMNS
    assert len(rows) == 3
    a, b, c = rows

    assert a["session"] == "s1" and a["frame"] == "0" and a["source"] == "0"
    assert a["timestamp"] == "2025-01-31T12:00:00.123+00:00"
    assert (a["width"], a["height"], a["mode"]) == ("1280", "720", "local")
    assert a["detector"] == "mtcnn:onnxruntime" and a["recognizer"] == "facenet128:onnxruntime"
    assert float(a["detect_ms"]) == 41.25 and float(a["total_ms"]) == 54.0
    assert a["capture_ms"] == "" and a["network_ms"] == ""  # not measured: empty, not 0
    assert a["fps"] == ""
    assert (a["faces"], a["known"], a["unknown"]) == ("2", "1", "1")
    assert a["bytes_up"] == "" and a["bytes_down"] == ""
    assert float(a["rss_mb"]) == pytest.approx(812.3) and a["gpu_mem_mb"] == ""
    assert float(a["power_w"]) == pytest.approx(23.46)

    assert b["mode"] == "cloud" and float(b["network_ms"]) == 80.5 and float(b["capture_ms"]) == 3.0
    assert b["detect_ms"] == "" and b["embed_ms"] == "" and b["match_ms"] == ""
    assert (b["bytes_up"], b["bytes_down"]) == ("120000", "512")
    assert float(b["fps"]) == 25.0 and b["dropped_frames"] == "1"
    assert b["rss_mb"] == b["gpu_mem_mb"] == b["power_w"] == ""  # no telemetry at all
    assert (b["faces"], b["known"], b["unknown"]) == ("0", "0", "0")

    assert all(c[col] == "" for col in ("capture_ms", "detect_ms", "embed_ms", "match_ms", "total_ms"))
    assert (c["faces"], c["known"], c["unknown"]) == ("1", "0", "1")  # not matched to anyone: unknown
    assert float(c["rss_mb"]) == 815.0 and float(c["gpu_mem_mb"]) == 300.0 and c["power_w"] == ""


def test_timestamps_are_iso_utc_with_milliseconds() -> None:
    stamp = iso_utc(1_700_000_000.5)
    assert stamp == "2023-11-14T22:13:20.500+00:00"
    assert datetime.fromisoformat(stamp) == datetime.fromtimestamp(1_700_000_000.5, tz=timezone.utc)
    assert iso_utc(None) == iso_utc(0.0) == ""  # 0.0 is FrameResult's "never set"
    row = frame_row("s", FrameResult(faces=[], width=1, height=1), "x", None, 0, None)
    assert row["timestamp"] == ""


def test_frame_row_keys_are_frame_columns() -> None:
    row = frame_row("s", results()[0], "cam", 30.0, 0, {})
    assert list(row) == FRAME_COLUMNS
    with pytest.raises(TypeError):
        frame_row("s", results()[0], "cam", 30.0, 0, telemetry=42)  # type: ignore[arg-type]


def test_rows_are_on_disk_before_close_and_survive_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "frames.csv"
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from core.recording import CSVSink
from core.types import FrameResult
from core.recording import frame_row
sink = CSVSink({str(path)!r}).open()
for i in range(5):
    sink.write(frame_row("k", FrameResult(faces=[], width=2, height=2, frame_index=i), "x", None, 0, None))
os.kill(os.getpid(), signal.SIGKILL)  # no close, no atexit, no buffer flush at exit
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    header, rows = read_csv(path)
    assert header == FRAME_COLUMNS
    assert [r["frame"] for r in rows] == ["0", "1", "2", "3", "4"]


def test_append_continues_a_file_with_one_header_and_refuses_other_columns(tmp_path: Path) -> None:
    path = tmp_path / "frames.csv"
    r = results()[0]
    with CSVSink(path) as sink:
        sink.write(frame_row("s", r, "0", None, 0, None))
    with CSVSink(path, append=True) as sink:
        sink.write(frame_row("s", r, "0", None, 0, None))
    assert path.read_text().count("session,frame,timestamp") == 1
    assert len(read_csv(path)[1]) == 2
    with CSVSink(path) as sink:  # without append the file is replaced
        pass
    assert read_csv(path) == (FRAME_COLUMNS, [])
    with pytest.raises(ValueError, match="cannot append"):
        CSVSink(path, columns=EVENT_COLUMNS, append=True).open()


def test_sink_rejects_unknown_columns_and_writes_when_closed(tmp_path: Path) -> None:
    sink = CSVSink(tmp_path / "f.csv")
    with pytest.raises(RuntimeError, match="not open"):
        sink.write({})
    with sink:
        with pytest.raises(ValueError):
            sink.write({"session": "s", "made_up_column": 1})
        sink.write({"session": "s"})  # missing columns stay empty
    _, rows = read_csv(tmp_path / "f.csv")
    assert rows == [dict.fromkeys(FRAME_COLUMNS, "") | {"session": "s"}]


def test_a_sink_that_ignores_extra_columns_writes_only_its_own(tmp_path: Path) -> None:
    # the bench's summary rows carry more keys than its CSV has columns: they are dropped, not an error
    from core.recording import csv_cell

    with CSVSink(tmp_path / "s.csv", ["a", "b"], ignore_extra=True) as sink:
        sink.write({"a": csv_cell(1.23456789, 4), "extra": 1})
        sink.write({"b": csv_cell(float("nan"), 4), "a": csv_cell(None)})
    header, rows = read_csv(tmp_path / "s.csv")
    assert header == ["a", "b"]
    assert rows == [{"a": "1.2346", "b": ""}, {"a": "", "b": ""}]


def test_concurrent_writers_leave_only_whole_rows(tmp_path: Path) -> None:
    path = tmp_path / "frames.csv"
    r = results()[0]
    with CSVSink(path) as sink:

        def writer(n: int) -> None:
            for i in range(100):
                sink.write(frame_row(f"w{n}", r, "0", float(i), i, None))

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    _, rows = read_csv(path)
    assert len(rows) == 400
    assert all(len(row) == len(FRAME_COLUMNS) and None not in row for row in rows)


def test_event_rows_say_what_was_decided_why_and_where(tmp_path: Path) -> None:
    from core.tracking import AccessEvent

    path = tmp_path / "events" / "events.csv"
    granted = AccessEvent(1_700_000_000.0, 3, "ann", 0.41234, "granted", 17, 3, "matched", camera="front")
    change = AccessEvent(
        1_700_000_001.25, 4, None, None, "unknown", 40, 3, "identity-changed", "change", "ann"
    )
    with CSVSink(path, EVENT_COLUMNS) as sink:
        sink.write(access_event_row("s1", granted))
        sink.write(access_event_row("s1", change))
    header, rows = read_csv(path)
    assert header == EVENT_COLUMNS
    assert rows[0] == {
        "timestamp": "2023-11-14T22:13:20.000+00:00",
        "session": "s1",
        "track": "3",
        "identity": "ann",
        "distance": "0.4123",
        "decision": "granted",
        "frame": "17",
        "observations": "3",
        "reason": "matched",
        "camera": "front",
        "kind": "decision",
        "previous": "",
    }
    assert (rows[1]["identity"], rows[1]["distance"], rows[1]["kind"], rows[1]["previous"]) == (
        "",
        "",
        "change",
        "ann",
    )


def test_fps_monitor_over_synthetic_stamps() -> None:
    m = FPSMonitor(window_s=1.0)
    assert m.fps(now=0.0) is None
    m.tick(10.0)
    assert m.fps(now=10.0) is None  # one frame is no rate
    for i in range(1, 31):
        m.tick(10.0 + i / 30)  # 30 fps for a second
    assert m.fps(now=11.0) == pytest.approx(30.0)
    for i in range(1, 11):
        m.tick(11.0 + i / 10)  # then 10 fps: the window forgets the fast second
    assert m.fps(now=12.0) == pytest.approx(10.0)
    assert m.fps(now=20.0) is None  # stalled stream: no stale rate
    assert len(m) == 0


def test_fps_monitor_without_a_time_window_keeps_the_last_rate() -> None:
    # the capture thread's meter (FrameGrabber.fps): the last 30 frames, however old
    m = FPSMonitor(window_s=math.inf, max_samples=30)
    for i in range(60):
        m.tick(i / 20)  # 20 fps for 3 s
    assert len(m) == 30
    assert m.fps(now=1000.0) == pytest.approx(20.0)  # a stalled camera still reads its last rate


def test_fps_monitor_is_bounded_and_uses_monotonic_time() -> None:
    m = FPSMonitor(window_s=100.0, max_samples=10)
    for i in range(100):
        m.tick(i * 0.01)
    assert len(m) == 10
    assert m.fps(now=0.99) == pytest.approx(100.0)
    live = FPSMonitor()
    live.tick()
    live.tick()
    assert live.fps() is None or live.fps() > 0
    live.reset()
    assert live.fps() is None
