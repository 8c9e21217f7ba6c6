"""The bench's frames: which frames of the video(s) are measured, read and scaled to each resolution."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from app.bench.plan import UsageError


def video_frame_count(path: str | Path) -> tuple[int, int, int]:
    """(frames, width, height) of a video file, counting frames by reading when the header has none."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise UsageError(f"{path}: cannot open video file")
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if n <= 0:
            n = 0
            while cap.grab():
                n += 1
    finally:
        cap.release()
    if n <= 0:
        raise UsageError(f"{path}: no frames")
    return n, w, h


def select_frames(total: int, frames: int) -> list[int]:
    """``frames`` indices spread evenly over ``total`` frames (all of them for 0 or more than there are)."""
    if frames <= 0 or frames >= total:
        return list(range(total))
    step = (total - 1) / max(frames - 1, 1)
    return sorted({int(round(i * step)) for i in range(frames)})


def scaled_size(width: int, height: int, target_height: int) -> tuple[int, int]:
    """(w, h) for a frame of ``width`` x ``height`` scaled to ``target_height``, width even."""
    w = int(round(width * target_height / height / 2.0)) * 2
    return max(w, 2), int(target_height)


def iter_frames(
    videos: Sequence[dict[str, Any]],
    indices: Sequence[int],
    height: int,
) -> Iterator[tuple[int, str, Any, float]]:
    """(global index, source name, BGR frame scaled to ``height``, decode + scale ms) of the selected
    frames, read synchronously (no capture thread competing with inference for the CPU)."""
    import cv2

    wanted = set(indices)
    offset = 0
    for v in videos:
        n = int(v["frames"])
        if not wanted & set(range(offset, offset + n)):
            offset += n
            continue
        cap = cv2.VideoCapture(str(v["path"]))
        try:
            for i in range(n):
                g = offset + i
                t0 = time.perf_counter()
                if g not in wanted:
                    if not cap.grab():
                        break
                    continue
                ok, img = cap.read()
                if not ok or img is None:
                    break
                h, w = img.shape[:2]
                size = scaled_size(w, h, height)
                if (w, h) != size:
                    interp = cv2.INTER_AREA if size[1] < h else cv2.INTER_LINEAR
                    img = cv2.resize(img, size, interpolation=interp)
                yield g, Path(v["path"]).name, img, (time.perf_counter() - t0) * 1e3
        finally:
            cap.release()
        offset += n
