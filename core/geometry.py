"""Box geometry shared by the detectors, the tracker, enrollment and the benchmark: IoU and the optimal
assignment of detections to tracks. Boxes are ``[x1, y1, x2, y2]`` in pixels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_BIG = 1e6  # cost of a pair the gates forbid


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4) -> (N, M)."""
    a = a[:, None, :]
    b = b[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = np.clip(a[..., 2] - a[..., 0], 0, None) * np.clip(a[..., 3] - a[..., 1], 0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def hungarian(cost: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Minimum-cost assignment of a rectangular cost matrix: ``[(row, col), ...]``, min(N, M) pairs.

    Shortest-augmenting-path Hungarian algorithm, O(N^2 M); the tracker only runs it on small connected
    groups of overlapping boxes, so pure Python is fast enough and no scipy is needed.
    """
    n = len(cost)
    m = len(cost[0]) if n else 0
    if n == 0 or m == 0:
        return []
    if n > m:
        transposed = [[cost[i][j] for i in range(n)] for j in range(m)]
        return [(i, j) for j, i in hungarian(transposed)]
    inf = float("inf")
    u = [0.0] * (n + 1)
    v = [0.0] * (m + 1)
    p = [0] * (m + 1)  # p[j] = row (1-based) assigned to column j
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = inf
            j1 = 0
            row = cost[i0 - 1]
            for j in range(1, m + 1):
                if not used[j]:
                    cur = row[j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    return [(p[j] - 1, j - 1) for j in range(1, m + 1) if p[j] != 0]


def _components(valid: np.ndarray) -> list[tuple[list[int], list[int]]]:
    """Connected groups of rows/cols linked by valid pairs (union-find), each as (rows, cols)."""
    n, m = valid.shape
    parent = list(range(n + m))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in zip(*np.nonzero(valid), strict=True):
        ra, rb = find(int(i)), find(n + int(j))
        if ra != rb:
            parent[ra] = rb
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for i in range(n):
        if valid[i].any():
            groups.setdefault(find(i), ([], []))[0].append(i)
    for j in range(m):
        if valid[:, j].any():
            groups.setdefault(find(n + j), ([], []))[1].append(j)
    return list(groups.values())


def assign(cost: np.ndarray, valid: np.ndarray) -> list[tuple[int, int]]:
    """Optimal assignment restricted to ``valid`` pairs: most valid pairs first, then least total cost."""
    pairs: list[tuple[int, int]] = []
    for rows, cols in _components(valid):
        if len(rows) == 1 and len(cols) == 1:
            pairs.append((rows[0], cols[0]))
            continue
        sub = np.where(valid[np.ix_(rows, cols)], cost[np.ix_(rows, cols)], _BIG)
        for r, c in hungarian(sub.tolist()):
            if valid[rows[r], cols[c]]:
                pairs.append((rows[r], cols[c]))
    return pairs


def box_iou(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """IoU of two boxes."""
    return float(iou_matrix(np.asarray(a, np.float64)[None, :4], np.asarray(b, np.float64)[None, :4])[0, 0])
