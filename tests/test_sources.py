"""Sources and the grabber: every frame offline, drops in realtime, folders, stream reconnects, shutdown.

Videos are written here with cv2.VideoWriter; the stream is a local MJPEG-over-HTTP server (what IP cameras
serve) that is stopped and restarted. Every wait is a bounded poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.sources import FrameGrabber, SourceError, VideoReader, open_source, redact_url
from tests.helpers import MjpegCamera, free_port

SIZE = (160, 120)


def level(image: np.ndarray) -> int:
    """The frame number (mod 20) encoded as the flat grey level 20 + 10 * i."""
    return round((float(image.mean()) - 20) / 10)


def write_video(path: Path, n: int, fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((SIZE[1], SIZE[0], 3), 20 + 10 * (i % 20), np.uint8))
    writer.release()
    return path


def wait_until(condition: Callable[[], object], timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def grabber_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("FrameGrabber[") and t.is_alive()]


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    yield
    assert wait_until(lambda: not grabber_threads(), timeout=5), f"threads left: {grabber_threads()}"


def test_file_non_realtime_yields_every_frame_then_ends(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", 20, fps=100)
    with open_source(str(video)) as source:
        frames = []
        while not source.ended:
            frame = source.read(timeout=2)
            if frame is not None:
                frames.append(frame)
                time.sleep(0.005)  # a consumer slower than decoding: the capture thread must wait, not drop
        assert [f.index for f in frames] == list(range(20))
        assert [level(f.image) for f in frames] == list(range(20))
        assert all(f.capture_ms >= 0 and f.timestamp > 0 for f in frames)
        assert source.grabber.dropped == 0 and source.status == "ended"
    # the original iterator API, as app/run.py uses it
    source = open_source(str(video))
    pairs = list(source.frames())
    source.close()
    source.close()  # idempotent
    assert len(pairs) == 20 and all(isinstance(ts, float) for _, ts in pairs)


def test_file_realtime_paces_and_drops_for_a_slow_consumer(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", 40, fps=100)  # 0.4 s of playback
    t0 = time.monotonic()
    source = open_source(str(video), realtime=True)
    delivered = []
    try:
        deadline = time.monotonic() + 10
        while not source.ended and time.monotonic() < deadline:
            snap = source.grabber.stats()
            assert snap["buffered"] <= 1
            assert snap["captured"] == snap["delivered"] + snap["dropped"] + snap["buffered"]
            frame = source.read(timeout=1)
            if frame is not None:
                delivered.append(frame.index)
                time.sleep(0.05)  # inference slower than the file's frame rate
        elapsed = time.monotonic() - t0
        stats = source.grabber.stats()
    finally:
        source.close()
    assert source.ended
    assert elapsed >= 0.3, "playback must be paced at the file's FPS"
    assert stats["captured"] == 40 and stats["dropped"] > 0
    assert stats["delivered"] + stats["dropped"] == 40 == len(delivered) + stats["dropped"]
    assert delivered == sorted(delivered) and len(delivered) < 40
    assert source.grabber.fps > 0


def test_image_folder_skips_a_corrupt_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for i, name in enumerate(["a.png", "b.jpg", "d.png"]):
        cv2.imwrite(str(tmp_path / name), np.full((40, 50, 3), 20 + 10 * i, np.uint8))
    (tmp_path / "c.jpg").write_bytes(b"this is not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    with caplog.at_level(logging.WARNING, logger="core.sources"):
        with open_source(str(tmp_path)) as source:
            images = [image for image, _ in source.frames()]
    assert [level(i) for i in images] == [0, 1, 2]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "c.jpg" in warnings[0] and "\n" not in warnings[0]


def test_missing_file_raises_but_unreachable_stream_does_not(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "missing.avi"))
    with pytest.raises(SourceError, match="no images"):
        open_source(str(tmp_path))
    (tmp_path / "broken.avi").write_bytes(b"\0" * 100)
    with pytest.raises(SourceError, match="cannot open"):
        open_source(str(tmp_path / "broken.avi"))
    source = open_source(f"http://127.0.0.1:{free_port()}/nothing.mjpg", backoff_initial_s=0.05)
    try:
        assert wait_until(lambda: source.status.startswith("reconnecting in"), timeout=5)
        assert source.read(timeout=0.1) is None and not source.ended
    finally:
        source.close()


def test_stream_credentials_stay_out_of_names_and_statuses() -> None:
    assert redact_url("rtsp://admin:s3cret@10.0.0.5:554/live") == "rtsp://admin:***@10.0.0.5:554/live"
    assert redact_url("http://10.0.0.5/video.mjpg") == "http://10.0.0.5/video.mjpg"
    source = open_source(f"http://user:s3cret@127.0.0.1:{free_port()}/v.mjpg", backoff_initial_s=0.05)
    try:
        assert wait_until(lambda: source.status.startswith("reconnecting in"), timeout=5)
        assert "s3cret" not in source.name + source.status + str(source.grabber.error)
    finally:
        source.close()


def test_close_stops_a_capture_thread_waiting_for_its_consumer(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", 20, fps=25)
    source = open_source(str(video), realtime=False)
    assert wait_until(lambda: source.grabber.stats()["buffered"] == 1, timeout=5)  # now blocked on the slot
    t0 = time.monotonic()
    source.close()
    assert time.monotonic() - t0 < 2 and source.ended and source.read(timeout=0.1) is None


def test_stream_that_fails_reconnects_and_delivers_again() -> None:
    camera = MjpegCamera(free_port())
    reader = VideoReader(camera.url, live=True, open_timeout_ms=2000, read_timeout_ms=2000)
    grabber = FrameGrabber(reader, backoff_initial_s=0.1, backoff_max_s=0.4)
    try:
        # the camera is off at start: no exception, the grabber retries with growing delays
        assert wait_until(lambda: grabber.reconnects >= 3, timeout=5)
        assert grabber.status.startswith("reconnecting in") and grabber.error
        assert not grabber.ended and grabber.read(timeout=0.05) is None
        camera.start()
        got = []
        assert wait_until(
            lambda: (f := grabber.read(timeout=0.1)) is not None and not got.append(f), timeout=10
        )
        assert grabber.status == "running" and grabber.error is None
        # the camera goes away mid-stream: reported, then retried
        reconnects = grabber.reconnects
        camera.stop()
        assert wait_until(
            lambda: grabber.reconnects > reconnects and grabber.status.startswith("reconnecting"), timeout=10
        )
        grabber.read(timeout=0)  # drain a frame captured before the cut
        restarted = time.time()
        camera.start()
        again = []
        assert wait_until(
            lambda: (f := grabber.read(timeout=0.1)) is not None and not again.append(f), timeout=10
        )
        assert again[0].timestamp >= restarted and again[0].index > got[0].index
        assert level(again[0].image) in range(20)
        assert grabber.status == "running"
    finally:
        grabber.close()
        camera.stop()
    grabber.close()
    assert not grabber_threads()
