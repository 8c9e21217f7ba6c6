"""Frame sources: a camera index, a video file, an rtsp/http stream, an image folder, or the demo video.

Every source is read by a :class:`FrameGrabber`, a background thread that keeps only the newest frame (a
one-slot buffer) so capture never waits for inference and frames never queue; frames overwritten before
the consumer took them are counted in ``dropped``. Cameras and streams that fail to open or to read are
reopened with exponential backoff (``status`` says "reconnecting in N s"); nothing is raised into the
consumer. Files end cleanly (``ended``); read with ``realtime=False`` the consumer gets every frame (the
capture thread waits: offline processing, benchmarks), with ``realtime=True`` playback is paced at the
file's FPS and drops frames like a camera. An image folder yields each readable image once.

Two ways to consume, both from :func:`open_source`::

    for image, timestamp in source.frames(): ...      # BGR uint8, time.time() of capture
    frame = source.read(timeout=0.5)                   # Frame | None, with index and capture_ms
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from core.errors import FaceGateError, ImageError
from core.recording import FPSMonitor

if TYPE_CHECKING:
    import cv2  # OpenCV is imported where a source opens

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


class SourceError(FaceGateError):
    """A source cannot be opened or read (no such file, no camera, stream unreachable, ...)."""


@dataclass
class Frame:
    """One captured frame."""

    image: np.ndarray  # BGR uint8 (H, W, 3)
    index: int  # 0-based count of frames captured from this source, dropped ones included
    timestamp: float  # time.time() when the frame was captured
    capture_ms: float  # time spent reading/decoding it (for a camera this includes waiting for the sensor)


# ---------------------------------------------------------------------------------------------- readers
class Reader:
    """What a :class:`FrameGrabber` reads from. ``read`` returns None at the end or on failure."""

    name: str = ""
    live: bool = False  # cameras and streams: never end, reconnect on failure, always drop
    nominal_fps: float | None = None  # the file's / stream's declared frame rate, if any

    def open(self) -> None:
        raise NotImplementedError

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class VideoReader(Reader):
    """A camera index, a video file or a stream URL through OpenCV."""

    def __init__(
        self,
        target: int | str,
        live: bool,
        name: str | None = None,
        open_timeout_ms: int = 5000,
        read_timeout_ms: int = 5000,
    ) -> None:
        self.target = target
        self.live = live
        self.name = str(target) if name is None else name
        self.open_timeout_ms = int(open_timeout_ms)
        self.read_timeout_ms = int(read_timeout_ms)
        self._cap: cv2.VideoCapture | None = None
        self._first: np.ndarray | None = None  # the frame read by probe(), given out by the next read()

    def open(self) -> None:
        import os
        import sys

        self.close()
        if isinstance(self.target, int) and sys.platform.startswith("linux"):
            device = f"/dev/video{self.target}"
            if not os.path.exists(device):  # say so ourselves, instead of OpenCV's warnings on stderr
                raise SourceError(f"{self.name}: no such camera ({device} does not exist)")
        import cv2

        if isinstance(self.target, str) and self.target.lower().startswith(STREAM_SCHEMES):
            # bounded waits: a dead or silent stream must fail (and be reopened), not hang the thread
            cap = cv2.VideoCapture(
                self.target,
                cv2.CAP_FFMPEG,
                [
                    cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                    self.open_timeout_ms,
                    cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                    self.read_timeout_ms,
                ],
            )
        else:
            cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            what = "camera" if isinstance(self.target, int) else "stream" if self.live else "video file"
            raise SourceError(f"{self.name}: cannot open {what}")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.nominal_fps = fps if 0.0 < fps < 1000.0 else None
        self._cap = cap

    def probe(self) -> None:
        """Decode the first frame now: a file OpenCV opens but cannot decode (a text file, a truncated
        video) raises SourceError here instead of ending as an empty session."""
        import cv2

        fourcc = int(self._cap.get(cv2.CAP_PROP_FOURCC)) if self._cap is not None else 0
        if fourcc & 0xFFFFFFFF == int.from_bytes(b"ansi", "little"):
            # FFmpeg's tty demuxer "plays" any text file as ANSI art: frames, but not a camera's
            self.close()
            raise SourceError(f"{self.name}: a text file, not a video")
        image = self.read()
        if image is None:
            self.close()
            raise SourceError(f"{self.name}: not a video (no frame could be decoded)")
        self._first = image

    def read(self) -> np.ndarray | None:
        if self._first is not None:
            image, self._first = self._first, None
            return image
        if self._cap is None:
            return None
        ok, image = self._cap.read()
        return image if ok and image is not None and image.size else None

    def close(self) -> None:
        self._first = None
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FolderReader(Reader):
    """Every readable image of a folder once, in name order; unreadable files are skipped with a warning."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.name = str(folder)
        self._paths: deque[Path] = deque()

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: not a folder")
        paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not paths:
            raise SourceError(f"{self.folder}: no images in this folder")
        self._paths = deque(paths)

    def read(self) -> np.ndarray | None:
        from core.imageio import load_image

        while self._paths:
            path = self._paths.popleft()
            try:
                return load_image(path)
            except ImageError as err:
                log.warning("skipped %s", err)
        return None


# ---------------------------------------------------------------------------------------------- grabber
class FrameGrabber:
    """Reads a :class:`Reader` in a background thread into a one-slot buffer.

    Args:
        reader: what to read; opened here (in the thread) unless ``opened`` says it already is.
        realtime: keep only the newest frame and count drops (always so for live readers); False: the
            capture thread waits until the consumer took the previous frame, so every frame is delivered.
            A realtime file is paced at its nominal FPS.
        backoff_initial_s, backoff_max_s: reopen delays of a failed live source, doubling from the first
            to the second; reset by the first good frame.
        opened: the reader is already open (lets :func:`open_source` report a bad file at once).

    Attributes read by the consumer (any thread): ``dropped``, ``captured``, ``delivered``, ``reconnects``,
    ``fps`` (measured capture rate), ``ended``, ``error`` (last failure, None while running fine),
    ``status`` (one line for the UI).
    """

    def __init__(
        self,
        reader: Reader,
        realtime: bool = True,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        opened: bool = False,
    ) -> None:
        if backoff_initial_s <= 0 or backoff_max_s < backoff_initial_s:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s")
        self.reader = reader
        self.name = reader.name
        self.realtime = True if reader.live else bool(realtime)
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = float(backoff_max_s)
        self.dropped = 0
        self.captured = 0
        self.delivered = 0
        self.reconnects = 0
        self.error: str | None = None
        self.status = "running" if opened else "opening"
        self._opened = opened
        self._slot: Frame | None = None
        #: set (if given) whenever a frame arrives or the source ends: a consumer of several sources waits
        #: on one event for all of them (core.cameras)
        self.wakeup: threading.Event | None = None
        self._done = False  # the capture thread has finished (end of file, fatal error, close)
        self._closed = False
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._rate = FPSMonitor(window_s=math.inf, max_samples=30)  # the last 30 frames, however old
        self._thread = threading.Thread(target=self._run, name=f"FrameGrabber[{self.name}]", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ consumer side
    def read(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet delivered, waiting up to ``timeout`` s (None: until one comes or the
        source ends). None on timeout or when the source has ended (check ``ended``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._slot is None and not self._done:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame, self._slot = self._slot, None
            if frame is not None:
                self.delivered += 1
                self._cond.notify_all()  # a non-realtime capture thread waits for the slot to empty
            return frame

    def play_realtime(self) -> None:
        """From now on play a file at its own FPS, dropping frames like a camera. A run opens its files
        with every frame delivered and calls this once its models are loaded, so nothing is dropped
        while they load."""
        with self._cond:
            self.realtime = True
            self._cond.notify_all()

    @property
    def ended(self) -> bool:
        """No frame will come any more (end of file/folder, unopenable file, or closed)."""
        with self._cond:
            return self._done and self._slot is None

    @property
    def fps(self) -> float:
        """Capture rate over the last 30 frames (frames/s), 0 until two frames came."""
        return self._rate.fps() or 0.0

    def stats(self) -> dict[str, int | float | str | None]:
        """A consistent snapshot: captured == delivered + dropped + buffered (+ 1 discarded by close)."""
        with self._cond:
            snap: dict[str, int | float | str | None] = {
                "captured": self.captured,
                "delivered": self.delivered,
                "dropped": self.dropped,
                "buffered": int(self._slot is not None),
                "reconnects": self.reconnects,
                "status": self.status,
                "error": self.error,
            }
        snap["fps"] = self.fps
        return snap

    def close(self, timeout: float = 5.0) -> None:
        """Stop the capture thread and wait for it (idempotent). The reader is released by the thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():  # stuck in a blocking read; it exits and releases when the read returns
            log.warning("%s: capture thread did not stop within %.1f s", self.name, timeout)
        with self._cond:
            self._done = True
            self._slot = None
            self.status = "closed"
            self._cond.notify_all()

    def __enter__(self) -> FrameGrabber:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ capture thread
    def _run(self) -> None:
        delay = self.backoff_initial_s
        failures = 0  # consecutive, for logging the first failure of an outage loudly and the rest quietly
        next_due: float | None = None
        try:
            while not self._stop.is_set():
                if not self._opened:
                    try:
                        self.reader.open()
                        self._opened = True
                        next_due = None
                    except Exception as err:  # cv2 errors too: a source must never kill the thread
                        if not self.reader.live:
                            self._set(error=str(err), status=f"failed: {err}")
                            log.warning("%s", err)
                            return
                        self._backoff(str(err), delay, failures)
                        failures += 1
                        delay = min(delay * 2, self.backoff_max_s)
                        continue
                t0 = time.perf_counter()
                reason = "read failed"
                try:
                    image = self.reader.read()
                except Exception as err:
                    image, reason = None, f"read failed ({err})"
                capture_ms = (time.perf_counter() - t0) * 1e3
                if image is None:
                    if not self.reader.live:
                        self._set(status="ended")
                        return
                    self.reader.close()
                    self._opened = False
                    self._backoff(f"{self.name}: {reason}", delay, failures)
                    failures += 1
                    delay = min(delay * 2, self.backoff_max_s)
                    continue
                if failures:
                    log.info("%s: reconnected", self.name)
                failures = 0
                delay = self.backoff_initial_s
                if self.realtime and not self.reader.live and self.reader.nominal_fps:
                    next_due = self._pace(next_due, 1.0 / self.reader.nominal_fps)
                    if self._stop.is_set():
                        return
                self._publish(image, capture_ms)
        finally:
            self.reader.close()
            with self._cond:
                self._done = True
                self._cond.notify_all()
            if self.wakeup is not None:
                self.wakeup.set()

    def _pace(self, due: float | None, period: float) -> float:
        """Wait until ``due`` (file playback at its FPS); returns the next due time."""
        now = time.monotonic()
        if due is None or now - due > period:  # first frame, or fell behind: restart the clock, no burst
            return now + period
        self._stop.wait(due - now)
        return due + period

    def _publish(self, image: np.ndarray, capture_ms: float) -> None:
        with self._cond:
            frame = Frame(image, self.captured, time.time(), capture_ms)
            self.captured += 1
            self._rate.tick()
            if self.status != "running" or self.error is not None:
                self.status, self.error = "running", None
            if self.realtime:
                if self._slot is not None:
                    self.dropped += 1
            else:
                while self._slot is not None and not self._stop.is_set():
                    self._cond.wait(0.5)
                if self._stop.is_set():
                    return
            self._slot = frame
            self._cond.notify_all()
        if self.wakeup is not None:
            self.wakeup.set()

    def _backoff(self, reason: str, delay: float, failures: int) -> None:
        self._set(error=reason, status=f"reconnecting in {delay:.1f} s ({reason})")
        with self._cond:
            self.reconnects += 1
        (log.warning if failures == 0 else log.debug)("%s; reconnecting in %.1f s", reason, delay)
        self._stop.wait(delay)

    def _set(self, **values: str | None) -> None:
        with self._cond:
            for key, value in values.items():
                setattr(self, key, value)


# ---------------------------------------------------------------------------------------------- sources
class Source:
    """An opened source: a name and a running :class:`FrameGrabber`."""

    def __init__(self, name: str, grabber: FrameGrabber) -> None:
        self.name = name
        self.grabber = grabber

    def read(self, timeout: float | None = None) -> Frame | None:
        return self.grabber.read(timeout)

    def iter_frames(self, poll_s: float = 0.5, on_wait: Callable[[], None] | None = None) -> Iterator[Frame]:
        """Frames until the source ends (never, for a camera or stream: break out, or close()).
        ``on_wait`` is called after each ``poll_s`` without a frame (to report a source that is down)."""
        while True:
            frame = self.grabber.read(poll_s)
            if frame is not None:
                yield frame
            elif self.grabber.ended:
                return
            elif on_wait is not None:
                on_wait()

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        """``(bgr_image, timestamp)`` pairs until the source ends (the original iterator API)."""
        for frame in self.iter_frames():
            yield frame.image, frame.timestamp

    @property
    def ended(self) -> bool:
        return self.grabber.ended

    @property
    def status(self) -> str:
        return self.grabber.status

    def close(self) -> None:
        self.grabber.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_source(
    spec: str,
    realtime: bool | None = None,
    backoff_initial_s: float = 0.5,
    backoff_max_s: float = 10.0,
    open_timeout_ms: int = 5000,
    read_timeout_ms: int = 5000,
) -> Source:
    """Open ``demo``, a camera index (``0``) or device (``/dev/video0``), an rtsp/http URL, a video file or an
    image folder, and start reading it.

    ``realtime`` None means: cameras and streams realtime (always), files and folders every frame. Files and
    folders that cannot be opened raise :class:`SourceError` here; cameras and streams never raise, they
    retry in the background with backoff (see ``Source.status``).
    """
    backoff = (backoff_initial_s, backoff_max_s)
    spec = spec.strip()
    if spec == "demo":
        from core.demo_video import demo_video

        return _open_file(VideoReader(str(demo_video()), live=False, name="demo"), bool(realtime), backoff)
    if spec.isdigit() or spec.startswith("/dev/video"):
        target: int | str = int(spec) if spec.isdigit() else spec
        name = f"camera {spec}"
    elif "://" in spec:
        target, name = spec, redact_url(spec)
    else:
        path = Path(spec)
        if path.is_dir():
            return _open_file(FolderReader(path), False, backoff)
        if not path.exists():
            raise SourceError(f"{spec}: no such file, folder, camera or URL")
        return _open_file(VideoReader(str(path), live=False), bool(realtime), backoff)
    reader = VideoReader(
        target, live=True, name=name, open_timeout_ms=open_timeout_ms, read_timeout_ms=read_timeout_ms
    )
    return Source(
        name, FrameGrabber(reader, realtime=True, backoff_initial_s=backoff[0], backoff_max_s=backoff[1])
    )


def _open_file(reader: Reader, realtime: bool, backoff: tuple[float, float]) -> Source:
    reader.open()  # raises SourceError with a one-line reason
    if isinstance(reader, VideoReader):
        reader.probe()
    try:
        grabber = FrameGrabber(
            reader, realtime=realtime, backoff_initial_s=backoff[0], backoff_max_s=backoff[1], opened=True
        )
    except Exception:
        reader.close()
        raise
    return Source(reader.name, grabber)


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (names, statuses and logs must not leak camera
    credentials)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
