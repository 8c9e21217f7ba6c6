"""Frame sources: a video file, an image folder, a camera index, a stream URL, or the demo video.

A source yields ``(bgr_frame, timestamp)``; it never queues frames (the consumer pulls the next).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.errors import FaceGateError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class Source:
    name: str = ""

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class VideoSource(Source):
    """A video file, camera index or stream URL through OpenCV."""

    def __init__(self, spec: str | int) -> None:
        import cv2

        self.name = str(spec)
        self.cap = cv2.VideoCapture(spec)
        if not self.cap.isOpened():
            raise FaceGateError(f"{spec}: cannot open video source")

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        while True:
            ok, frame = self.cap.read()
            if not ok or frame is None:
                return
            yield frame, time.time()

    def close(self) -> None:
        self.cap.release()


class FolderSource(Source):
    def __init__(self, folder: Path) -> None:
        self.name = str(folder)
        self.paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise FaceGateError(f"{folder}: no images in this folder")

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        from core.imageio import load_image

        for p in self.paths:
            try:
                yield load_image(p), time.time()
            except FaceGateError:
                continue


def open_source(spec: str) -> Source:
    """``demo``, a camera index (``0``), a video file, an image folder, or an rtsp/http URL."""
    if spec == "demo":
        from core.demo import demo_video

        src = VideoSource(str(demo_video()))
        src.name = "demo"
        return src
    if spec.isdigit():
        return VideoSource(int(spec))
    if "://" in spec:
        return VideoSource(spec)
    p = Path(spec)
    if p.is_dir():
        return FolderSource(p)
    if not p.exists():
        raise FaceGateError(f"{spec}: no such file, folder, camera or URL")
    return VideoSource(str(p))
