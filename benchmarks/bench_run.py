"""Headless run speed with and without tracking: a 720p video of ~3 real people (moving), default
backends, every frame processed (no drops), medians over the run.

    python benchmarks/bench_run.py [--frames 150] [--detector KEY] [--recognizer KEY]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build_video(path: Path, frames: int) -> None:
    import cv2

    from core import photos
    from core.imageio import load_image

    val = photos.people("val")
    tiles = []
    for p in (val["ben_afflek"][0], val["elton_john"][0], val["jerry_seinfeld"][0]):
        img = load_image(p)
        s = 260 / img.shape[0]
        tiles.append(cv2.resize(img, (int(img.shape[1] * s), 260), interpolation=cv2.INTER_AREA))
    bg = np.zeros((720, 1280, 3), np.uint8)
    bg[:] = np.linspace(50, 120, 1280, dtype=np.uint8)[None, :, None]
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, (1280, 720))
    for k in range(frames):
        f = bg.copy()
        for i, t in enumerate(tiles):
            x = 60 + i * 410 + int(40 * np.sin(k / 15 + i))
            y = 200 + int(30 * np.cos(k / 20 + i))
            f[y : y + t.shape[0], x : x + t.shape[1]] = t
        w.write(f)
    w.release()


def run(video: Path, track: bool, detector: str, recognizer: str, store) -> dict:
    from app.session import local_pipeline
    from core.engine import Engine
    from core.registry import create_detector, create_recognizer
    from core.sources import open_source

    det, rec = create_detector(detector), create_recognizer(recognizer)
    det.warmup()
    rec.warmup()
    pipe = local_pipeline(det, rec, store)
    engine = Engine(pipe, store=None, track=track)
    src = open_source(str(video))
    totals = []
    t0 = time.perf_counter()
    for frame in src.iter_frames():
        r = engine.process(frame.image, frame.index, frame.timestamp, frame.capture_ms)
        totals.append(r.timings_ms["total_ms"])
    wall = time.perf_counter() - t0
    src.close()
    stats = engine.close()
    return {
        "frames": stats.frames,
        "fps": stats.frames / wall,
        "median_ms": statistics.median(totals),
        "faces": stats.faces,
        "recognized": stats.recognized,
        "events": len(stats.events),
    }


def main() -> None:
    from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, create_detector, create_recognizer
    from db.store import Store
    from enroll.service import Enrollment

    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--detector", default=DEFAULT_DETECTOR)
    ap.add_argument("--recognizer", default=DEFAULT_RECOGNIZER)
    args = ap.parse_args()
    from core import photos
    from core.imageio import load_image

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "bench.avi"
        build_video(video, args.frames)
        store = Store(Path(tmp) / "bench.db")
        det, rec = create_detector(args.detector), create_recognizer(args.recognizer)
        for name in ("ben_afflek", "elton_john", "jerry_seinfeld"):
            job = Enrollment(name, det, rec, store)
            for p in photos.people("train")[name]:
                job.add_image(load_image(p), str(p))
            job.save()
        print(
            f"720p video, {args.frames} frames, 3 people; {args.detector} + {args.recognizer}; "
            f"{os.cpu_count()} cores\n"
        )
        print("| run | FPS | median ms/frame | faces | recognised | events |")
        print("|---|---|---|---|---|---|")
        res = {}
        for track in (True, False):
            r = res[track] = run(video, track, args.detector, args.recognizer, store)
            label = "with tracking" if track else "recognise every face every frame"
            print(
                f"| {label} | {r['fps']:.1f} | {r['median_ms']:.1f} | {r['faces']} | {r['recognized']} | {r['events']} |"
            )
        saved = 1 - res[True]["recognized"] / max(1, res[False]["recognized"])
        print(
            f"\ntracking recognised {saved:.0%} fewer faces and ran {res[True]['fps'] / res[False]['fps']:.1f}x faster"
        )


if __name__ == "__main__":
    main()
