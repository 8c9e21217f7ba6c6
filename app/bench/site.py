"""The four held-out door cameras of the several-cameras bench (``main.py bench --cameras``) and of
tests/test_cameras.py: one 720p, 20 FPS video per camera built from the 5-celebrity *val* photos (never
the enrolled *train* photos), and who passes each camera, in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.demo_video import paste, portrait

W, H = 1280, 720

#: who passes each camera, in order (None: a stranger, shown from mindy_kaling's photos), and which of
#: their val photos (1-4) shows them
SITE: dict[str, list[tuple[str | None, int]]] = {
    "front": [("ben_afflek", 1), ("jerry_seinfeld", 1)],
    "back": [("elton_john", 2), ("madonna", 2)],
    "lobby": [("jerry_seinfeld", 3), (None, 3)],
    "garage": [("madonna", 4), ("ben_afflek", 4)],
}
SITE_FPS = 20
STRANGER = "mindy_kaling"


def site_videos(folder: Path, val: dict[str, list[Path]], stay: int = 30, passes: int = 1) -> dict[str, Path]:
    """One 720p, 20 FPS video per camera of :data:`SITE`: empty door, the first person stands (swaying)
    for ``stay`` frames, empty, the second person, empty (all that ``passes`` times, for longer runs).
    Each camera has its own background tint."""
    import cv2

    out = {}
    for k, (camera, people) in enumerate(SITE.items()):
        tint = np.array([40 + 25 * k, 60, 110 - 20 * k], np.float32)
        ramp = np.linspace(0.6, 1.2, W, dtype=np.float32)[None, :, None]
        bg = np.clip(ramp * tint[None, None, :], 0, 255).astype(np.uint8).repeat(H, axis=0)
        frames: list[np.ndarray] = [bg.copy() for _ in range(6)]
        for name, photo in people * passes:
            tile = portrait(val[name or STRANGER][photo])
            for i in range(stay):
                f = bg.copy()
                paste(f, tile, 420 + 3 * (i % 4) + 40 * k, 160 + (i % 2))
                frames.append(f)
            frames += [bg.copy() for _ in range(10)]
        path = Path(folder) / f"{camera}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), SITE_FPS, (W, H))
        for f in frames:
            writer.write(f)
        writer.release()
        out[camera] = path
    return out


def site_frames(stay: int = 30, passes: int = 1) -> int:
    """Frames of each :func:`site_videos` video."""
    return 6 + passes * len(next(iter(SITE.values()))) * (stay + 10)


def site_passes(frames: int, stay: int = 30) -> int:
    """The fewest passes whose videos hold ``frames`` frames (1 for 0: the plain videos)."""
    passes = 1
    while site_frames(stay, passes) < frames:
        passes += 1
    return passes


def site_spans(stay: int = 30, passes: int = 1) -> dict[str, list[tuple[str | None, int, int]]]:
    """Each camera's appearances as (name, first frame, last frame), as :func:`site_videos` lays them out."""
    spans: dict[str, list[tuple[str | None, int, int]]] = {}
    for camera, people in SITE.items():
        first, mine = 6, []
        for name, _ in people * passes:
            mine.append((name, first, first + stay - 1))
            first += stay + 10
        spans[camera] = mine
    return spans


def site_cameras(count: int) -> list[tuple[str, str]]:
    """``count`` cameras as (camera name, SITE video): the four SITE videos reused cyclically, each camera
    with its own name (``front``, ..., ``garage``, ``front-2``, ...)."""
    keys = list(SITE)
    out = []
    for i in range(count):
        key = keys[i % len(keys)]
        out.append((key if i < len(keys) else f"{key}-{i // len(keys) + 1}", key))
    return out
