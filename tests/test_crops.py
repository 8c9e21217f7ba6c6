"""core.crops: the one place that cuts, scales and encodes face crops (event log, window, enrollment)."""

from __future__ import annotations

import numpy as np

from core.crops import clip_crop, encode_jpeg, fit_within, resize_by, resize_to_height
from core.imageio import decode_image, load_image


def test_a_box_partly_outside_the_photo_is_clipped_and_one_outside_is_empty(celeb_val) -> None:
    image = load_image(next(iter(celeb_val.values()))[0])
    h, w = image.shape[:2]
    part = clip_crop(image, -20, -10, 40, 30)
    assert part.shape[:2] == (30, 40) and np.shares_memory(part, image)  # a view, no copy
    assert clip_crop(image, w + 5, 0, w + 50, 20).size == 0
    assert clip_crop(image, 0, 0, 10 * w, 10 * h).shape == image.shape


def test_scaling_keeps_at_least_a_pixel_and_hits_the_asked_height() -> None:
    sliver = np.full((300, 2, 3), 200, np.uint8)
    assert resize_by(sliver, 0.1).shape == (30, 1, 3)  # 0.2 px wide -> 1 px, never 0
    for h in (49, 98, 103, 161):  # heights where int(h * (64 / h)) is 63
        assert resize_to_height(np.zeros((h, 80, 3), np.uint8), 64).shape[0] == 64


def test_fit_within_only_shrinks_and_the_jpeg_decodes_back(celeb_val) -> None:
    image = load_image(next(iter(celeb_val.values()))[0])
    small, scale = fit_within(image, 10_000)
    assert small is image and scale == 1.0
    fitted, scale = fit_within(image, 100)
    assert max(fitted.shape[:2]) <= 100 and scale < 1.0
    back = decode_image(encode_jpeg(fitted, 92))
    assert back.shape == fitted.shape
    assert float(np.abs(back.astype(int) - fitted.astype(int)).mean()) < 8  # lossy, but the same picture
