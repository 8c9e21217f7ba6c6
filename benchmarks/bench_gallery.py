"""Gallery search speed: 100,000 stored 128-d / 512-d embeddings, median ms per face.

    python benchmarks/bench_gallery.py [--size 100000] [--repeat 50]

Baseline in the same run: a per-row Python loop over the same matrix (what a naive gallery does).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, median_ms  # noqa: E402
from core.gallery import Gallery  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{machine()}\ngallery of {args.size} embeddings, 1000 identities; median of {args.repeat} runs")
    print(
        f"{'dim':>4} {'combine':>8} {'1 face ms':>10} {'8 faces ms/face':>16} {'naive loop ms':>14} {'speed-up':>9}"
    )
    for dim in (128, 512):
        emb = rng.standard_normal((args.size, dim)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        names = [f"person{i % 1000}" for i in range(args.size)]
        for combine in ("nearest", "vote"):
            g = Gallery(f"m{dim}", threshold=1.0, combine=combine)
            by_name: dict[str, list[int]] = {}
            for i, n in enumerate(names):
                by_name.setdefault(n, []).append(i)
            for n, idx in by_name.items():
                g.add(n, emb[idx])
            q1 = emb[:1] + 0.01
            q8 = emb[:8] + 0.01
            g.match(q1)  # consolidate once
            one = median_ms(lambda: g.match(q1), args.repeat)
            eight = median_ms(lambda: g.match(q8), args.repeat) / 8
            if combine == "nearest":
                mat = g._matrix
                naive = median_ms(
                    lambda: min(
                        range(0, mat.shape[0], 1), key=lambda j: float(np.sum((mat[j] - q1[0]) ** 2))
                    ),
                    1,
                )
            print(f"{dim:>4} {combine:>8} {one:>10.2f} {eight:>16.2f} {naive:>14.0f} {naive / one:>8.0f}x")


if __name__ == "__main__":
    main()
