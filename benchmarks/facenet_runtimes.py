"""FaceNet on every runtime: parity with TensorFlow on real aligned faces, embed time, file sizes.

Faces: the 5-celebrity photos (largest face each, detections cached by
``benchmarks/facenet_accuracy.py``; ``--detector`` as there), aligned with each model's defaults.
Per runtime: cosine to the TensorFlow embeddings (min / mean), whether every val photo gets the
same nearest train identity, and the median embed time per face at batch 1 and batch 8
(``embed_crops`` = normalisation + network + L2, after a warm-up).

Usage::

    FACEGATE_CACHE=/tmp/fgcache python benchmarks/facenet_runtimes.py [--models ...] [--reps 20]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from facenet_accuracy import load_faces  # noqa: E402

from core.errors import BackendUnavailable  # noqa: E402
from core.recognizers.facenet import crop  # noqa: E402


def size_mb(path: Path) -> float:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6
    return path.stat().st_size / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["facenet128", "facenet512"])
    ap.add_argument("--reps", type=int, default=20, help="timed runs per batch size")
    ap.add_argument("--detector", default="ref")
    ap.add_argument("--threads", type=int, default=None, help="runtime threads (default: all cores)")
    args = ap.parse_args()

    from core.models import artifacts
    from core.registry import create_recognizer

    images, faces, dets = load_faces(args.detector)
    names = np.array([d["person"] for d in dets])
    is_val = np.array([d["split"] == "val" for d in dets])

    def nearest(e: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(e[is_val][:, None] - e[~is_val][None], axis=-1)
        return names[~is_val][np.argmin(d, axis=1)]

    for model in args.models:
        fam = importlib.import_module(f"core.recognizers.{model}")
        crops = np.stack(
            [
                crop(im, f, 160, fam.DEFAULTS["align"], fam.DEFAULTS["margin"])
                for im, f in zip(images, faces, strict=True)
            ]
        )
        print(f"\n{model} ({len(crops)} faces, {fam.DEFAULTS})")
        print(
            f"{'runtime':12s} {'file':28s} {'MB':>6s} {'cos min':>8s} {'cos mean':>9s} {'same NN':>8s} "
            f"{'b1 ms/face':>10s} {'b8 ms/face':>10s}"
        )
        ref = None
        for runtime, keys in fam.RUNTIMES.items():
            art = artifacts()[keys[0]]
            try:
                rec = create_recognizer(
                    f"{model}:{runtime}", **({"threads": args.threads} if args.threads else {})
                )
            except BackendUnavailable as err:
                print(f"{runtime:12s} {art.path.name:28s} {'':>6s} unavailable: {err}")
                continue
            emb = rec.embed_crops(crops)
            if ref is None:
                ref = emb
            cos = np.sum(emb * ref, axis=1)
            same = np.mean(nearest(emb) == nearest(ref))
            times = {}
            for b in (1, 8):
                x = crops[:b]
                rec.embed_crops(x)
                t = []
                for i in range(args.reps):
                    xi = crops[(i * b) % (len(crops) - b) : (i * b) % (len(crops) - b) + b]
                    t0 = time.perf_counter()
                    rec.embed_crops(xi)
                    t.append((time.perf_counter() - t0) * 1000 / b)
                times[b] = float(np.median(t))
            print(
                f"{runtime:12s} {art.path.name:28s} {size_mb(art.path):6.1f} "
                f"{cos.min():8.5f} {cos.mean():9.6f} "
                f"{same:8.0%} {times[1]:10.1f} {times[8]:10.1f}",
                flush=True,
            )
            del rec


if __name__ == "__main__":
    main()
