"""The SQLite identity store: one transaction per enrollment, galleries per model."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from core.errors import StoreError
from db.store import SCHEMA_VERSION, Store


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_enroll_and_reload_from_disk(tmp_path) -> None:
    path = tmp_path / "s.db"
    s = Store(path)
    assert s.enroll("ann", "facenet128", unit(3, 128), ["h1", "h2", "h3"], [0.9, 0.8, 0.7]) == 3
    s.enroll("ann", "facenet128", unit(1, 128, seed=1), ["h4"])
    s.close()
    s2 = Store(path)
    assert s2.identities()[0]["samples"] == 4
    names, mat = s2.embeddings("facenet128")
    assert names == ["ann"] * 4 and mat.shape == (4, 128)
    np.testing.assert_allclose(mat[:3], unit(3, 128))
    assert s2.sample_hashes("ann", "facenet128") == {"h1", "h2", "h3", "h4"}
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sqlite3.connect(path).execute(
        "SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)


def test_models_are_never_mixed(tmp_path) -> None:
    s = Store(tmp_path / "s.db")
    s.enroll("ann", "facenet128", unit(2, 128))
    s.enroll("bob", "facenet512", unit(2, 512))
    g128 = s.gallery("facenet128", 1.0)
    assert g128.identities == ["ann"] and len(g128) == 2
    assert s.gallery("facenet512", 1.0).identities == ["bob"]


def test_failed_transaction_leaves_no_half_person(tmp_path) -> None:
    s = Store(tmp_path / "s.db")
    with pytest.raises(RuntimeError):
        with s.transaction():
            s.db.execute("INSERT INTO identities(name, created) VALUES ('half', 'now')")
            raise RuntimeError("killed mid-enrollment")
    assert s.identity_id("half") is None and s.counts() == {"identities": 0, "embeddings": 0}


def test_bad_names_and_policies_are_refused(tmp_path) -> None:
    s = Store(tmp_path / "s.db")
    with pytest.raises(StoreError):
        s.enroll("  ", "facenet128", unit(1, 128))
    with pytest.raises(StoreError):
        s.enroll("ann", "facenet128", unit(1, 128), policy="maybe")
    assert s.counts()["identities"] == 0


def test_not_a_database_is_a_clear_error(tmp_path) -> None:
    p = tmp_path / "notes.db"
    p.write_text("just some text, definitely not sqlite " * 100)
    with pytest.raises(StoreError, match="not a FaceGate database"):
        Store(p)
