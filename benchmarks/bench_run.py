"""Headless run speed with and without tracking: a 720p video of ~3 real people (moving), every frame
processed (no drops), for each detector + recognizer pair, with ratios against the first pair.

    python benchmarks/bench_run.py [--frames 150] [--rounds 2] [--pairs DET+REC,DET+REC,...]
    python benchmarks/bench_run.py --detector KEY --recognizer KEY   # one pair

Each pair enrolls the same 3 people into its own store with its own backends (as a fresh install
with that pair as the default would). Rounds run every pair in turn, so load from other processes
falls on all of them alike; the table gives the median FPS over the rounds. "same ids" compares, frame
by frame, the identities of the every-face run with the first pair's.
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
from benchmarks.common import machine  # noqa: E402

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


#: the pairs measured for issue 12 ("defaults chosen by measurement"); the first is the baseline of
#: the ratios: the fp32 ONNX pair, the default before issue 12
PAIRS = (
    "mtcnn:onnxruntime+facenet128:onnxruntime",
    "mtcnn:tflite+facenet128:onnxruntime",
    "mtcnn:onnxruntime+facenet128:tflite-int8",
    "mtcnn:tflite+facenet128:tflite",
    "mtcnn:tflite+facenet128:tflite-fp16",
    "mtcnn:tflite+facenet128:tflite-int8",
)


def run(video: Path, track: bool, det, rec, store) -> dict:
    from app.session import local_pipeline
    from core.engine import Engine
    from core.sources import open_source

    pipe = local_pipeline(det, rec, store)
    engine = Engine(pipe, store=None, track=track)
    src = open_source(str(video))
    totals, ids = [], []
    t0 = time.perf_counter()
    for frame in src.iter_frames():
        r = engine.process(frame.image, frame.index, frame.timestamp, frame.capture_ms)
        totals.append(r.timings_ms["total_ms"])
        ids.append(sorted(f.identity or "" for f in r.faces))
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
        "ids": ids,
    }


def main() -> None:
    from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, create_detector, create_recognizer
    from db.store import Store
    from enroll.service import Enrollment

    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=2, help="runs of every pair, interleaved (median FPS)")
    ap.add_argument("--pairs", default=",".join(PAIRS), help="DET+REC keys, comma-separated")
    ap.add_argument("--detector", help="one pair: this detector (with --recognizer or the default)")
    ap.add_argument("--recognizer", help="one pair: this recognizer (with --detector or the default)")
    args = ap.parse_args()
    if args.detector or args.recognizer:
        args.pairs = f"{args.detector or DEFAULT_DETECTOR}+{args.recognizer or DEFAULT_RECOGNIZER}"
    pairs = [tuple(p.split("+")) for p in args.pairs.split(",") if p]
    from core import photos
    from core.imageio import load_image

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "bench.avi"
        build_video(video, args.frames)
        built = []
        for i, (dkey, rkey) in enumerate(pairs):
            det, rec = create_detector(dkey), create_recognizer(rkey)
            det.warmup()
            rec.warmup()
            store = Store(Path(tmp) / f"bench-{i}.db")
            for name in ("ben_afflek", "elton_john", "jerry_seinfeld"):
                job = Enrollment(name, det, rec, store)
                for p in photos.people("train")[name]:
                    job.add_image(load_image(p), str(p))
                job.save()
            built.append((det, rec, store))
        print(
            f"720p video, {args.frames} frames, 3 people; {machine()}; median of {args.rounds} round(s); "
            f"default: {DEFAULT_DETECTOR} + {DEFAULT_RECOGNIZER}\n"
        )
        res: dict[tuple[int, bool], list[dict]] = {}
        for _ in range(args.rounds):
            for i, (det, rec, store) in enumerate(built):
                for track in (True, False):
                    res.setdefault((i, track), []).append(run(video, track, det, rec, store))

        def med(i: int, track: bool, key: str) -> float:
            return statistics.median(r[key] for r in res[(i, track)])

        print(
            "| pair | every face: FPS | ms/frame | vs first | with tracking: FPS | vs first | "
            "faces | recognised (tracking) | same ids as first | events |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        base_ids = res[(0, False)][0]["ids"]
        for i, (dkey, rkey) in enumerate(pairs):
            every, tracked = res[(i, False)][0], res[(i, True)][0]
            same = sum(a == b for a, b in zip(every["ids"], base_ids, strict=True))
            mark = " (default)" if (dkey, rkey) == (DEFAULT_DETECTOR, DEFAULT_RECOGNIZER) else ""
            print(
                f"| {dkey} + {rkey}{mark} | {med(i, False, 'fps'):.1f} | {med(i, False, 'median_ms'):.1f} | "
                f"{med(i, False, 'fps') / med(0, False, 'fps'):.2f}x | {med(i, True, 'fps'):.1f} | "
                f"{med(i, True, 'fps') / med(0, True, 'fps'):.2f}x | {every['faces']} | "
                f"{tracked['recognized']} | {same}/{len(base_ids)} frames | {tracked['events']} |"
            )
        for i, (dkey, rkey) in enumerate(pairs):
            saved = 1 - res[(i, True)][0]["recognized"] / max(1, res[(i, False)][0]["recognized"])
            print(
                f"\n{dkey} + {rkey}: tracking recognised {saved:.0%} fewer faces and ran "
                f"{med(i, True, 'fps') / med(i, False, 'fps'):.1f}x faster",
                end="",
            )
        print()


if __name__ == "__main__":
    main()
