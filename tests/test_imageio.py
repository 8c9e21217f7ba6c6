"""Bad image input gives one ImageError line naming the file; good input decodes to BGR uint8."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import ImageError
from core.imageio import header_size, load_image


def test_real_photo_loads_as_bgr(fr_images: Path) -> None:
    img = load_image(fr_images / "obama.jpg")
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_png_with_alpha_becomes_bgr(fr_images: Path) -> None:
    img = load_image(fr_images / "32bit.png")
    assert img.shape[2] == 3


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p, src: None, "no such file"),
        (lambda p, src: p.write_bytes(b""), "empty"),
        (lambda p, src: p.write_text("hello, not a picture"), "not an image"),
        (
            lambda p, src: p.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"),
            "not an image",
        ),
        (lambda p, src: p.write_bytes(src.read_bytes()[: len(src.read_bytes()) // 2]), "truncated"),
    ],
    ids=["missing", "empty", "text", "corrupt-jpeg", "truncated-jpeg"],
)
def test_bad_files_raise_one_line(tmp_path: Path, fr_images: Path, make, words: str) -> None:
    p = tmp_path / "bad.jpg"
    make(p, fr_images / "obama.jpg")
    with pytest.raises(ImageError) as err:
        load_image(p)
    msg = str(err.value)
    assert str(p) in msg and words in msg and "\n" not in msg


def test_giant_image_refused_before_decoding(tmp_path: Path) -> None:
    p = tmp_path / "giant.png"
    cv2.imwrite(str(p), np.zeros((9000, 6000), np.uint8))  # 54 MP, a few KB on disk
    assert header_size(p.read_bytes()) == (6000, 9000)
    with pytest.raises(ImageError, match="too large"):
        load_image(p)


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not a file"):
        load_image(tmp_path)
