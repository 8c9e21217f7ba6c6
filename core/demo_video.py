"""The demo video: something real to show without a camera, built at first use from registry photos.

Four people of the 5-celebrity dataset (:data:`ENROLLED`) are enrolled from their *train* photos by
:mod:`app.demo`; this video shows their *val* photos (never enrolled) moving across a 1280x720 frame,
plus strangers (the fifth celebrity and Joe Biden from face_recognition's test images). The video lives
in ``<cache>/demo/``; nothing is committed. It is here, in core, because ``open_source("demo")`` plays it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.paths import cache_dir

ENROLLED = ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna")
STRANGER = "mindy_kaling"
DENIED = "madonna"  # enrolled but denied: the demo shows all three decisions
FPS = 15
SIZE = (1280, 720)
VIDEO_VERSION = 1


def demo_dir() -> Path:
    d = cache_dir() / "demo"
    d.mkdir(parents=True, exist_ok=True)
    return d


def portrait(path: Path, height: int = 300) -> np.ndarray:
    """A real photo scaled to ``height`` px (aspect kept): a person standing in a built scene."""
    import cv2

    from core.imageio import load_image

    img = load_image(path)
    scale = height / img.shape[0]
    return cv2.resize(img, (max(1, int(img.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)


def paste(frame: np.ndarray, tile: np.ndarray, x: int, y: int) -> None:
    """Paste ``tile`` with its top-left at (x, y), clipped to the frame."""
    th, tw = tile.shape[:2]
    xa, xb = max(x, 0), min(x + tw, frame.shape[1])
    ya, yb = max(y, 0), min(y + th, frame.shape[0])
    if xb > xa and yb > ya:
        frame[ya:yb, xa:xb] = tile[ya - y : yb - y, xa - x : xb - x]


def demo_video() -> Path:
    """Build (once) and return the demo video: scenes of 1-3 real people drifting across the frame."""
    import cv2

    from core import photos

    out = demo_dir() / f"demo-v{VIDEO_VERSION}.avi"
    if out.exists():
        return out
    val = photos.people("val")
    strangers = [*val[STRANGER][:3], photos.face_recognition_images() / "biden.jpg"]
    scenes: list[list[Path]] = [
        [val["ben_afflek"][0]],
        [val["elton_john"][0], strangers[0]],
        [val["jerry_seinfeld"][0]],
        [val["madonna"][0], val["ben_afflek"][1]],
        [strangers[3]],
        [val["elton_john"][1], val["jerry_seinfeld"][1], val["madonna"][1]],
        [strangers[1]],
        [val["madonna"][2], val["ben_afflek"][2]],
    ]
    w, h = SIZE
    tmp = out.with_suffix(".tmp.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"MJPG"), FPS, SIZE)
    rng = np.random.default_rng(7)
    background = np.full((h, w, 3), 0, np.uint8)
    background[:] = np.linspace(60, 110, w, dtype=np.uint8)[None, :, None]
    for scene in scenes:
        tiles = [portrait(p) for p in scene]
        slot = w // len(tiles)
        starts = [
            (slot * i + max(0, (slot - t.shape[1]) // 2), int(rng.integers(60, h - 360)))
            for i, t in enumerate(tiles)
        ]
        frames = 2 * FPS
        for k in range(frames):
            frame = background.copy()
            for (x0, y0), tile in zip(starts, tiles):
                paste(frame, tile, int(x0 + (k - frames / 2) * 2), y0)  # drift 2 px per frame
            writer.write(frame)
    writer.release()
    tmp.replace(out)
    return out
