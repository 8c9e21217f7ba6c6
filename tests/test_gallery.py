"""Matching: nearest / vote, thresholds, one model per gallery."""

from __future__ import annotations

import numpy as np
import pytest

from core.gallery import Gallery


def unit(rng: np.random.Generator, n: int, d: int = 128) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_nearest_finds_the_person_and_rejects_strangers() -> None:
    rng = np.random.default_rng(0)
    centres = unit(rng, 3)
    g = Gallery("facenet128", threshold=0.8)
    for i, name in enumerate(["ann", "bob", "cy"]):
        noisy = centres[i] + 0.05 * rng.standard_normal((4, 128)).astype(np.float32)
        g.add(name, noisy / np.linalg.norm(noisy, axis=1, keepdims=True))
    matches = g.match(centres)
    assert [m.identity for m in matches] == ["ann", "bob", "cy"]
    assert all(0 <= m.distance < 0.8 for m in matches)
    stranger = g.match(unit(rng, 1))[0]
    assert (
        stranger.identity is None and stranger.distance > 0.8 and stranger.candidate in {"ann", "bob", "cy"}
    )


def test_distance_is_l2_between_unit_vectors() -> None:
    rng = np.random.default_rng(1)
    a, b = unit(rng, 2)
    g = Gallery("m", threshold=1.0)
    g.add("a", a)
    assert g.distances(b[None])[0, 0] == pytest.approx(np.linalg.norm(a - b), abs=1e-4)


def test_vote_outvotes_a_single_outlier_sample() -> None:
    rng = np.random.default_rng(2)
    q = unit(rng, 1)[0]
    g = Gallery("m", threshold=1.2, combine="vote", k=5)
    near = q + 0.02 * rng.standard_normal(128).astype(np.float32)
    g.add("outlier", near / np.linalg.norm(near))  # the single nearest sample
    for _ in range(4):
        v = q + 0.08 * rng.standard_normal(128).astype(np.float32)
        g.add("majority", v / np.linalg.norm(v))
    assert g.match(q[None])[0].identity == "majority"
    nearest = Gallery("m", threshold=1.2)
    nearest.add("outlier", near / np.linalg.norm(near))
    assert nearest.match(q[None])[0].identity == "outlier"


def test_empty_gallery_matches_nobody() -> None:
    g = Gallery("m", threshold=1.0)
    m = g.match(np.ones((2, 128), np.float32) / np.sqrt(128))
    assert [x.identity for x in m] == [None, None]


def test_threshold_override() -> None:
    rng = np.random.default_rng(3)
    a = unit(rng, 1)
    g = Gallery("m", threshold=0.0)
    g.add("a", a)
    noisy = a + 0.05 * rng.standard_normal(a.shape).astype(np.float32)
    noisy /= np.linalg.norm(noisy)
    assert g.match(noisy)[0].identity is None
    assert g.match(noisy, threshold=1.0)[0].identity == "a"
