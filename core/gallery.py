"""Matching: a gallery of known embeddings for ONE recognizer model, searched with vectorised L2.

Embeddings are unit vectors, so ``||a - b||^2 = 2 - 2 a.b``: one matrix product scores a batch of
faces against every stored embedding. 100,000 x 128-d embeddings are searched in a few ms per face
(see ``benchmarks/bench_gallery.py``). Several embeddings per person are combined either by
``nearest`` (the person of the nearest stored embedding) or ``vote`` (majority among the ``k``
nearest embeddings within the threshold, ties broken by distance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Match:
    identity: str | None  # None: nobody within the threshold
    distance: float  # L2 distance to the nearest embedding of the best candidate (inf if empty)
    candidate: str | None = None  # nearest identity even when above the threshold


class Gallery:
    def __init__(self, model: str, threshold: float, combine: str = "nearest", k: int = 5) -> None:
        if combine not in ("nearest", "vote"):
            raise ValueError(f"combine must be 'nearest' or 'vote', not {combine!r}")
        self.model = model
        self.threshold = float(threshold)
        self.combine = combine
        self.k = k
        self.names: list[str] = []
        self._labels = np.zeros(0, np.int32)
        self._matrix = np.zeros((0, 0), np.float32)
        self._chunks: list[tuple[int, np.ndarray]] = []

    def __len__(self) -> int:
        self._consolidate()
        return int(self._labels.size)

    @property
    def identities(self) -> list[str]:
        return list(self.names)

    def add(self, name: str, embeddings: np.ndarray) -> None:
        """Add one or more (D,) / (N, D) embeddings of ``name``."""
        emb = np.atleast_2d(np.asarray(embeddings, np.float32))
        if name not in self.names:
            self.names.append(name)
        self._chunks.append((self.names.index(name), emb))

    def _consolidate(self) -> None:
        if not self._chunks:
            return
        mats = ([self._matrix] if self._matrix.size else []) + [e for _, e in self._chunks]
        labels = [self._labels] + [np.full(len(e), i, np.int32) for i, e in self._chunks]
        self._matrix = np.ascontiguousarray(np.concatenate(mats, axis=0))
        self._labels = np.concatenate(labels)
        self._chunks = []

    def similarities(self, queries: np.ndarray) -> np.ndarray:
        """(N, M) dot products between N query unit vectors and the M stored ones."""
        self._consolidate()
        q = np.atleast_2d(np.asarray(queries, np.float32))
        if self._matrix.size == 0:
            return np.zeros((q.shape[0], 0), np.float32)
        return (self._matrix @ q.T).T  # gemv/gemm over the contiguous (M, D) matrix

    def distances(self, queries: np.ndarray) -> np.ndarray:
        """(N, M) L2 distances between N query unit vectors and the M stored ones."""
        return _to_distance(self.similarities(queries))

    def match(self, queries: np.ndarray, threshold: float | None = None) -> list[Match]:
        """Best identity per query row (None when nobody is within ``threshold``)."""
        thr = self.threshold if threshold is None else float(threshold)
        sim = self.similarities(queries)
        if sim.shape[1] == 0:
            return [Match(None, float("inf")) for _ in range(sim.shape[0])]
        if self.combine == "nearest" or sim.shape[1] <= 1:
            # the nearest by L2 is the most similar: no need to turn the whole row into distances
            best = sim.argmax(axis=1)
            out = []
            for row, j in enumerate(best):
                dist = float(_to_distance(sim[row, j]))
                name = self.names[self._labels[j]]
                out.append(Match(name if dist <= thr else None, dist, name))
            return out
        return [self._vote(row, thr) for row in sim]

    def _vote(self, sim_row: np.ndarray, thr: float) -> Match:
        k = min(self.k, sim_row.size)
        idx = np.argpartition(-sim_row, k - 1)[:k]
        idx = idx[np.argsort(-sim_row[idx])]
        dist = _to_distance(sim_row[idx])
        nearest_name = self.names[self._labels[idx[0]]]
        within = idx[dist <= thr]
        if within.size == 0:
            return Match(None, float(dist[0]), nearest_name)
        labels = self._labels[within]
        counts = np.bincount(labels)
        top = np.flatnonzero(counts == counts.max())
        # tie: the label whose nearest sample is closest (within is sorted by distance)
        winner = next(lab for lab in labels if lab in top)
        best = float(dist[: within.size][labels == winner][0])
        return Match(self.names[winner], best, self.names[winner])


def _to_distance(sim: np.ndarray | float) -> np.ndarray:
    return np.sqrt(np.clip(2.0 - 2.0 * np.asarray(sim, np.float32), 0.0, 4.0))
