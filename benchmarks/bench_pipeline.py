"""Per-stage speed of every available backend on a real-face frame at 480p / 720p / 1080p,
side by side with the study's TF/TF pipeline (the ``mtcnn`` package + Keras FaceNet on TensorFlow)
measured in the same run.

    python benchmarks/bench_pipeline.py [--repeat 15] [--resolutions 480,720,1080] [--quick]

Prints Markdown tables: detection median ms per detector, embedding median ms per face per
recognizer, and end-to-end ms / FPS for the default pipeline vs the paper-style baseline.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import machine, median_ms  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RES = {480: (854, 480), 720: (1280, 720), 1080: (1920, 1080)}


def scene(width: int, height: int) -> np.ndarray:
    """Three real people (celebrity val photos) side by side: the same scene at any resolution."""
    import cv2

    from core import photos
    from core.imageio import load_image

    val = photos.people("val")
    picks = [val["ben_afflek"][0], val["madonna"][0], val["jerry_seinfeld"][0]]
    base = np.full((1080, 1920, 3), 80, np.uint8)
    for i, p in enumerate(picks):
        img = load_image(p)
        s = 520 / img.shape[0]
        img = cv2.resize(img, (int(img.shape[1] * s), 520), interpolation=cv2.INTER_AREA)
        img = img[:, : min(img.shape[1], 600)]
        x = 40 + i * 630
        base[280 : 280 + img.shape[0], x : x + img.shape[1]] = img
    return cv2.resize(base, (width, height), interpolation=cv2.INTER_AREA)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--resolutions", default="480,720,1080")
    ap.add_argument("--quick", action="store_true", help="720p only, 5 runs, default backends + baseline")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.resolutions = 5, "720"
    resolutions = [int(r) for r in args.resolutions.split(",")]

    from core.pipeline import Pipeline
    from core.registry import (
        DEFAULT_DETECTOR,
        DEFAULT_RECOGNIZER,
        backends,
        create_detector,
        create_recognizer,
    )

    infos = [b for b in backends() if b.available]
    skipped = [b for b in backends() if not b.available]
    det_keys = [b.key for b in infos if b.kind == "detector"]
    rec_keys = [b.key for b in infos if b.kind == "recognizer"]
    if args.quick:
        det_keys = [DEFAULT_DETECTOR]
        rec_keys = [DEFAULT_RECOGNIZER, "facenet128:tensorflow"]
    print(
        f"# FaceGate pipeline benchmark\n\nMachine: {machine()}. Median of {args.repeat} runs after warm-up.\n"
    )
    for b in skipped:
        print(f"- skipped {b.key}: {b.reason}")
    frames = {r: scene(*RES[r]) for r in resolutions}
    detectors = {k: create_detector(k) for k in det_keys}
    recognizers = {k: create_recognizer(k) for k in rec_keys}
    ref = detectors.get(DEFAULT_DETECTOR) or create_detector(DEFAULT_DETECTOR)

    print("\n## Detection (ms per frame, faces found)\n")
    print("| detector | " + " | ".join(f"{r}p" for r in resolutions) + " |")
    print("|---|" + "---|" * len(resolutions))
    from mtcnn import MTCNN

    paper_mtcnn = MTCNN()
    rows = {}
    for key, det in detectors.items():
        cells = []
        for r in resolutions:
            ms = median_ms(lambda: det.detect(frames[r]), args.repeat)
            cells.append(f"{ms:.1f} ({len(det.detect(frames[r]))})")
            rows[(key, r)] = ms
        print(f"| {key} | " + " | ".join(cells) + " |")
    cells = []
    for r in resolutions:
        rgb = frames[r][:, :, ::-1].copy()
        ms = median_ms(lambda: paper_mtcnn.detect_faces(rgb), max(3, args.repeat // 3), warmup=1)
        rows[("paper", r)] = ms
        cells.append(f"{ms:.1f} ({len(paper_mtcnn.detect_faces(rgb))})")
    print("| paper TF MTCNN (`mtcnn` package) | " + " | ".join(cells) + " |")

    print("\n## Embedding (ms per face; batch of the frame's faces)\n")
    faces720 = ref.detect(frames[resolutions[len(resolutions) // 2]])
    frame_mid = frames[resolutions[len(resolutions) // 2]]
    print("| recognizer | batch of %d, ms/face | batch 1, ms |" % len(faces720))
    print("|---|---|---|")
    emb_ms = {}
    for key, rec in recognizers.items():
        crops = np.stack([rec.align(frame_mid, f) for f in faces720])
        ms = median_ms(lambda: rec.embed_crops(crops), args.repeat) / max(1, len(faces720))
        one = median_ms(lambda: rec.embed_crops(crops[:1]), args.repeat)
        emb_ms[key] = ms
        print(f"| {key} | {ms:.1f} | {one:.1f} |")

    print("\n## End to end (detect + align + embed + match), ms per frame and FPS\n")
    print("| pipeline | " + " | ".join(f"{r}p" for r in resolutions) + " | speed-up vs paper TF/TF |")
    print("|---|" + "---|" * (len(resolutions) + 1))
    from core.gallery import Gallery

    default = Pipeline(
        ref,
        recognizers.get(DEFAULT_RECOGNIZER) or create_recognizer(DEFAULT_RECOGNIZER),
        Gallery("facenet128", 1.0),
    )
    tf_rec = recognizers.get("facenet128:tensorflow") or create_recognizer("facenet128:tensorflow")

    def paper(frame: np.ndarray) -> None:
        from core.types import Face

        out = paper_mtcnn.detect_faces(frame[:, :, ::-1].copy())
        faces = [
            Face(
                box=np.array(
                    [d["box"][0], d["box"][1], d["box"][0] + d["box"][2], d["box"][1] + d["box"][3]],
                    np.float32,
                ),
                score=d["confidence"],
                landmarks=np.array(
                    [
                        d["keypoints"][k]
                        for k in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
                    ],
                    np.float32,
                ),
            )
            for d in out
        ]
        tf_rec.embed(frame, faces)

    ours, base = [], []
    for r in resolutions:
        ours.append(median_ms(lambda: default.process(frames[r]), args.repeat))
        base.append(median_ms(lambda: paper(frames[r]), max(3, args.repeat // 3), warmup=1))
    fmt = lambda ms: f"{ms:.0f} ms ({1000 / ms:.1f} FPS)"  # noqa: E731
    print(
        f"| FaceGate default ({DEFAULT_DETECTOR} + {DEFAULT_RECOGNIZER}) | "
        + " | ".join(fmt(m) for m in ours)
        + " | "
        + ", ".join(f"{r}p {b / o:.1f}x" for r, o, b in zip(resolutions, ours, base))
        + " |"
    )
    print(
        "| paper TF/TF (`mtcnn` package + Keras FaceNet on TF) | "
        + " | ".join(fmt(m) for m in base)
        + " | 1.0x |"
    )


if __name__ == "__main__":
    main()
