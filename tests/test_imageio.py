"""Bad image input gives one ImageError line naming the file; good input decodes to BGR uint8."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import ImageError
from core.imageio import decode_image, header_size, load_image


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


def _truncated(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)] + b"\xff\xd9")  # cut, then an end marker appended
    return dst


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_truncated_jpeg_with_an_end_marker_is_refused(
    tmp_path: Path, fr_images: Path, fraction: float
) -> None:
    """libjpeg only warns and fills the missing part with grey: the photo would pass as a whole one."""
    p = _truncated(fr_images / "obama.jpg", tmp_path / "cut.jpg", fraction)
    with pytest.raises(ImageError) as err:
        load_image(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: truncated or corrupt JPEG") and "\n" not in msg


def test_real_photos_are_not_taken_for_truncated(celeb_val, celeb_train, fr_images: Path) -> None:
    paths = [p for ps in [*celeb_val.values(), *celeb_train.values()] for p in ps]
    paths += sorted(fr_images.glob("*.jpg"))
    for p in paths:
        load_image(p)
    # a photo on a mid-grey background that does not reach the bottom row is fine too
    img = cv2.imread(str(fr_images / "obama.jpg"))
    img[-100:-1] = 128
    ok, buf = cv2.imencode(".jpg", img)
    assert decode_image(buf.tobytes(), "grey.jpg").shape == img.shape


def test_a_jpeg_over_the_pixel_limit_is_decoded_reduced(tmp_path: Path, fr_images: Path) -> None:
    """A 108 MP phone photo is decoded at half size by libjpeg (cheap) instead of refused; a PNG of
    that size cannot be reduced while decoding and is refused (see test_giant_image_refused...)."""
    face = cv2.imread(str(fr_images / "obama.jpg"))  # 910x1137
    p = tmp_path / "108mp.jpg"
    cv2.imwrite(str(p), cv2.resize(face, (12000, 9000), interpolation=cv2.INTER_NEAREST))
    img = load_image(p)
    assert img.shape == (4500, 6000, 3)
    # the endpoint keeps the original pixel grid: there it is refused
    with pytest.raises(ImageError, match="too large"):
        decode_image(p.read_bytes(), "108mp.jpg")
