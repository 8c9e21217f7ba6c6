"""Door scenes built from real photos (the demo's 5-celebrity *val* photos, never the enrolled *train*
photos): hand-overs at one spot, a face that enters half out of
frame, two people crossing. Shared by the scene tests and benchmarks/bench_decisions.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

# the four held-out door cameras of tests/test_cameras.py and `main.py bench --cameras` live in the app
from app.bench.site import SITE as SITE
from app.bench.site import SITE_FPS as SITE_FPS
from app.bench.site import site_videos as site_videos
from core.demo_video import paste as paste
from core.demo_video import portrait as portrait

FPS = 15
W, H = 1280, 720


@dataclass
class Scene:
    """A list of frames and, in order, who appears (name, or None for a stranger) in each appearance."""

    frames: list[np.ndarray] = field(default_factory=list)
    appearances: list[tuple[str, str | None, int, int]] = field(
        default_factory=list
    )  # label, name, first, last

    def background(self) -> np.ndarray:
        bg = np.zeros((H, W, 3), np.uint8)
        bg[:] = np.linspace(50, 120, W, dtype=np.uint8)[None, :, None]
        return bg

    def blank(self, n: int) -> None:
        self.frames += [self.background() for _ in range(n)]

    def stand(
        self, label: str, name: str | None, tile: np.ndarray, n: int, x: int = 490, y: int = 200
    ) -> None:
        """``tile`` stands at (x, y) for ``n`` frames, swaying 1 px."""
        first = len(self.frames)
        for k in range(n):
            f = self.background()
            paste(f, tile, x + (k % 2), y)
            self.frames.append(f)
        self.appearances.append((label, name, first, len(self.frames) - 1))

    def write(self, path: Path) -> Path:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
        for f in self.frames:
            writer.write(f)
        writer.release()
        return path


def door_scene(val: dict[str, list[Path]]) -> Scene:
    """Six hand-overs and arrivals at one door, then two people crossing.

    Enrolled (from their *train* photos): ben_afflek, jerry_seinfeld (allowed), elton_john (denied).
    Strangers: mindy_kaling (two different photos).
    """
    ben, elton, jerry = (
        portrait(val["ben_afflek"][0]),
        portrait(val["elton_john"][0]),
        portrait(val["jerry_seinfeld"][0]),
    )
    mindy, stranger = portrait(val["mindy_kaling"][0]), portrait(val["mindy_kaling"][1])
    s = Scene()
    s.stand("ben, then a stranger steps into his spot (2 frames gap)", "ben_afflek", ben, 24)
    s.blank(2)
    s.stand("stranger mindy in ben's spot", None, mindy, 24)
    s.stand("jerry steps straight into the stranger's spot (no gap)", "jerry_seinfeld", jerry, 24)
    s.blank(1)
    s.stand("elton follows jerry into the same spot", "elton_john", elton, 24)
    s.blank(14)
    # a face that enters small and half out of frame, then becomes clear
    first = len(s.frames)
    for k in range(30):
        scale = min(1.0, 0.35 + 0.05 * k)
        tile = cv2.resize(ben, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        f = s.background()
        paste(f, tile, int(-tile.shape[1] * 0.6 + min(k, 14) * 30), 200)
        s.frames.append(f)
    s.appearances.append(("ben enters small and half out of frame", "ben_afflek", first, len(s.frames) - 1))
    s.blank(14)
    # two people crossing: jerry left -> right, the stranger right -> left, in front of each other
    first = len(s.frames)
    for k in range(40):
        f = s.background()
        paste(f, stranger, W - 260 - 24 * k, 220)
        paste(f, jerry, 40 + 24 * k, 180)
        s.frames.append(f)
    s.appearances.append(("jerry crossing", "jerry_seinfeld", first, len(s.frames) - 1))
    s.appearances.append(("stranger crossing", None, first, len(s.frames) - 1))
    s.blank(3)
    return s


def build_video(path: Path, celeb_val) -> dict[str, tuple[int, int]]:
    """A 720p video from real photos: A walks in from the left and out to the right; B stands in the
    middle for a while; a stranger passes later. Returns each person's (first, last) frame."""
    a = portrait(celeb_val["ben_afflek"][0])
    b = portrait(celeb_val["elton_john"][0])
    c = portrait(celeb_val["mindy_kaling"][0])
    bg = np.zeros((H, W, 3), np.uint8)
    bg[:] = np.linspace(50, 120, W, dtype=np.uint8)[None, :, None]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    spans = {"ben_afflek": (0, 59), "elton_john": (20, 64), "mindy_kaling": (75, 104)}
    for k in range(105):
        frame = bg.copy()
        if k <= 59:  # A crosses the whole frame: enters at the left edge, leaves at the right
            paste(frame, a, int(-a.shape[1] + k * (W + a.shape[1]) / 59), 80)
        if 20 <= k <= 64:
            paste(frame, b, 520 + (k % 10), 380)
        if 75 <= k <= 104:
            paste(frame, c, 200 + 6 * (k - 75), 200)
        writer.write(frame)
    writer.release()
    return spans


# ------------------------------------------------------------------------------ a textured 480p street door

LOBBY_W, LOBBY_H = 640, 480


def textured_background(seed: int = 7) -> np.ndarray:
    """A 640x480 textured wall (seeded noise at two scales: plaster grain and blotches), the kind of
    detail a real camera sees and a flat gradient hides from JPEG."""
    rng = np.random.default_rng(seed)
    fine = cv2.GaussianBlur(rng.normal(0, 40, (LOBBY_H, LOBBY_W, 3)).astype(np.float32), (0, 0), 0.8)
    coarse = cv2.resize(
        rng.normal(0, 35, (LOBBY_H // 16, LOBBY_W // 16, 3)).astype(np.float32),
        (LOBBY_W, LOBBY_H),
        interpolation=cv2.INTER_CUBIC,
    )
    base = np.array([120, 128, 135], np.float32)[None, None, :]
    return np.clip(base + fine + coarse, 0, 255).astype(np.uint8)


def lobby_scene(val: dict[str, list[Path]]) -> Scene:
    """People coming and going at 480p in front of a textured wall (real *val* photos, 15 FPS, 210 frames).

    Enrolled (from their *train* photos): ben_afflek, jerry_seinfeld (allowed), elton_john (denied).
    Stranger: mindy_kaling. Each walks in from an edge, stands a while, walks out; two are in view at
    once (apart) for a stretch; empty frames between.
    """
    bg = textured_background()
    ben, elton, jerry, mindy = (
        portrait(val[name][0], 190) for name in ("ben_afflek", "elton_john", "jerry_seinfeld", "mindy_kaling")
    )
    # (label, name, tile, first frame, frames, x at entry, x standing, x at exit, y)
    plan = [
        ("ben comes and goes", "ben_afflek", ben, 5, 60, -150, 60, -150, 140),
        ("elton arrives while ben is there", "elton_john", elton, 35, 55, 640, 380, 640, 150),
        ("stranger mindy", None, mindy, 105, 45, 640, 250, 640, 140),
        ("jerry comes and goes", "jerry_seinfeld", jerry, 160, 45, -150, 220, -150, 130),
    ]
    s = Scene()
    n_frames = 210
    for k in range(n_frames):
        f = bg.copy()
        for _, _, tile, first, n, x_in, x_stand, x_out, y in plan:
            j = k - first
            if not 0 <= j < n:
                continue
            walk = 10  # frames walking in and out
            if j < walk:
                x = x_in + (x_stand - x_in) * j / walk
            elif j >= n - walk:
                x = x_stand + (x_out - x_stand) * (j - (n - walk) + 1) / walk
            else:
                x = x_stand + (j % 2)
            paste(f, tile, int(round(x)), y)
        s.frames.append(f)
    for label, name, _, first, n, *_ in plan:
        s.appearances.append((label, name, first, first + n - 1))
    return s
