"""MTCNN on real photos: faces found, sane boxes/landmarks, every runtime agrees with TensorFlow.

The three networks are provisioned (converted from the ``mtcnn`` 1.0.0 wheel's weights) on first
use into ``FACEGATE_CACHE``; after that the module runs in well under a minute.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.detectors import mtcnn as mt
from core.geometry import box_iou

RUNTIMES = list(mt.RUNTIMES)


def _available(runtime: str) -> tuple[bool, str | None]:
    from core.registry import _status

    return _status(runtime, mt.RUNTIMES[runtime])


_DETECTORS: dict[str, object] = {}


def _detector(runtime: str):
    ok, reason = _available(runtime)
    if not ok:
        pytest.skip(f"mtcnn:{runtime} unavailable here: {reason}")
    if runtime not in _DETECTORS:
        _DETECTORS[runtime] = mt.create(runtime)
    return _DETECTORS[runtime]


@pytest.fixture(scope="module")
def photos(celeb_val: dict[str, list[Path]], fr_images: Path) -> dict[str, np.ndarray]:
    """A dozen real photos: two per celebrity (val split) plus face_recognition's four."""
    out = {}
    for person, paths in celeb_val.items():
        for p in paths[:2]:
            out[f"{person}/{p.name}"] = cv2.imread(str(p))
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        out[name] = cv2.imread(str(fr_images / name))
    assert all(img is not None for img in out.values())
    return out


@pytest.fixture(scope="module")
def reference(photos: dict[str, np.ndarray]) -> dict[str, list]:
    """TensorFlow (the study's runtime) results: the parity baseline."""
    det = _detector("tensorflow")
    return {name: det.detect(img) for name, img in photos.items()}


def test_every_celebrity_val_photo_has_a_face(celeb_val: dict[str, list[Path]]) -> None:
    det = _detector("onnxruntime")
    for person, paths in celeb_val.items():
        for p in paths:
            faces = det.detect(cv2.imread(str(p)))
            assert len(faces) >= 1, f"no face in {person}/{p.name}"


def test_obama_has_exactly_one_face(fr_images: Path) -> None:
    faces = _detector("onnxruntime").detect(cv2.imread(str(fr_images / "obama.jpg")))
    assert len(faces) == 1
    assert faces[0].score > 0.95


def test_boxes_and_landmarks_are_sane(photos: dict[str, np.ndarray]) -> None:
    det = _detector("onnxruntime")
    for name, img in photos.items():
        h, w = img.shape[:2]
        faces = det.detect(img)
        assert faces, name
        scores = [f.score for f in faces]
        assert scores == sorted(scores, reverse=True), name
        for f in faces:
            assert f.box.dtype == np.float32 and f.box.shape == (4,)
            x1, y1, x2, y2 = f.box
            assert 0 <= x1 < x2 <= w - 1 and 0 <= y1 < y2 <= h - 1, (name, f.box)
            assert 0.7 < f.score <= 1.0
            lm = f.landmarks
            assert lm is not None and lm.shape == (5, 2) and lm.dtype == np.float32
            if min(f.width, f.height) < 40:  # small background faces: too few pixels to judge
                continue
            slack = 0.05 * max(f.width, f.height)
            assert (lm[:, 0] >= x1 - slack).all() and (lm[:, 0] <= x2 + slack).all(), (name, f.box, lm)
            assert (lm[:, 1] >= y1 - slack).all() and (lm[:, 1] <= y2 + slack).all(), (name, f.box, lm)
            left_eye, right_eye, nose, mouth_left, mouth_right = lm
            assert left_eye[0] < right_eye[0], name  # as the image shows them
            assert mouth_left[0] < mouth_right[0], name
            assert max(left_eye[1], right_eye[1]) < min(mouth_left[1], mouth_right[1]), name
            assert min(left_eye[1], right_eye[1]) < nose[1] < max(mouth_left[1], mouth_right[1]), name


def _assert_parity(runtime: str, photos: dict[str, np.ndarray], reference) -> None:
    """The parity limits: the same faces as TensorFlow on every photo, box IoU >= 0.9, score within
    0.05, landmarks within 10% of the face's size."""
    det = _detector(runtime)
    for name, img in photos.items():
        got, want = det.detect(img), reference[name]
        assert len(got) == len(want), (runtime, name, len(got), len(want))
        for g, r in zip(got, want, strict=True):
            assert box_iou(g.box, r.box) >= 0.9, (runtime, name, g.box, r.box)
            assert abs(g.score - r.score) < 0.05, (runtime, name, g.score, r.score)
            assert np.abs(g.landmarks - r.landmarks).max() < 0.1 * max(r.width, r.height), (runtime, name)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_runtime_parity_with_tensorflow(runtime: str, photos: dict[str, np.ndarray], reference) -> None:
    _assert_parity(runtime, photos, reference)


def test_the_default_detector_agrees_with_tensorflow(photos: dict[str, np.ndarray], reference) -> None:
    """Issue 12: the default detector is available (fails, not skips) and within the parity limits;
    the recognizer's side: tests/test_facenet.py::test_the_default_pair_agrees_with_tensorflow."""
    from core.registry import DEFAULT_DETECTOR, backends

    info = next(b for b in backends() if b.key == DEFAULT_DETECTOR)
    assert info.available, f"the default {DEFAULT_DETECTOR} cannot run here: {info.reason}"
    assert info.model == mt.MODEL, f"no TensorFlow reference here for {DEFAULT_DETECTOR}"
    _assert_parity(info.runtime, photos, reference)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_blank_and_tiny_images_have_no_face(runtime: str) -> None:
    det = _detector(runtime)
    assert det.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert det.detect(np.full((720, 1280, 3), 127, np.uint8)) == []
    assert det.detect(np.full((8, 8, 3), 200, np.uint8)) == []  # smaller than one 12 px window


def test_min_face_size_bounds_the_pyramid() -> None:
    scales = mt.pyramid_scales(1280, 720, min_face_size=40, scale_factor=0.709)
    assert scales[0] == pytest.approx(12 / 40)
    assert 720 * scales[-1] >= 12 and 720 * scales[-1] * 0.709 < 12
    assert len(mt.pyramid_scales(1280, 720, 20, 0.709)) == len(scales) + 2
    with pytest.raises(ValueError):
        mt.pyramid_scales(640, 480, 40, 1.2)


def test_large_min_face_size_skips_small_faces(fr_images: Path) -> None:
    img = cv2.imread(str(fr_images / "obama.jpg"))  # one face, ~230 px wide
    det = mt.MTCNNDetector("onnxruntime", _detector("onnxruntime").paths, min_face_size=600)
    assert det.detect(img) == []


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [2, 2, 6, 6]], np.float32)
    scores = np.array([0.9, 0.95, 0.5, 0.8], np.float32)
    assert mt.nms(boxes, scores, 0.5, "union").tolist() == [1, 3, 2]
    assert mt.nms(boxes, scores, 0.5, "min").tolist() == [1, 2]  # the small box lies inside box 1
    assert mt.nms(np.empty((0, 4), np.float32), np.empty(0, np.float32), 0.5).size == 0


def test_crops_of_thousands_of_boxes_match_one_remap(fr_images: Path) -> None:
    """A detailed photo gives R-Net thousands of candidates; one cv2.remap for all of them fails past
    ~1365 (its maps must stay under 32767 rows), so crops are sampled in chunks, each from the region
    its boxes cover: the pixels must be those one remap over the whole image gives."""
    img = cv2.imread(str(fr_images / "obama.jpg"))
    h, w = img.shape[:2]
    rng = np.random.default_rng(0)
    xy = rng.uniform([-50, -50], [w, h], size=(3000, 2)).astype(np.float32)
    side = rng.uniform(8, 400, size=(3000, 1)).astype(np.float32)
    boxes = np.concatenate([xy, xy + side], axis=1)  # some reach past the image's edges
    got = _detector("onnxruntime")._crops(img, boxes, 24)
    assert got.shape == (3000, 24, 24, 3)
    # the reference: the single whole-image remap the detector used to make, for 1000 boxes at a time
    step = np.arange(24, dtype=np.float32) / np.float32(23)
    fx, fy = np.float32((w - 1) / w), np.float32((h - 1) / h)
    for start in (0, 1000, 2000):
        b = boxes[start : start + 1000]
        xs = b[:, 0:1] * fx + (b[:, 2:3] * fx - b[:, 0:1] * fx) * step
        ys = b[:, 1:2] * fy + (b[:, 3:4] * fy - b[:, 1:2] * fy) * step
        map_x = np.broadcast_to(xs[:, None, :], (1000, 24, 24)).reshape(-1, 24)
        map_y = np.broadcast_to(ys[:, :, None], (1000, 24, 24)).reshape(-1, 24)
        want = cv2.remap(
            img,
            np.ascontiguousarray(map_x),
            np.ascontiguousarray(map_y),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(128, 128, 128),
        )
        want = mt.MTCNNDetector._normalise(want.reshape(1000, 24, 24, 3))
        np.testing.assert_allclose(got[start : start + 1000], want, atol=1.5 / 128)


def test_faces_past_32767_px_in_a_panorama_are_found(fr_images: Path) -> None:
    """cv2.remap also refuses sources over 32767 px wide: crops come from the region they cover."""
    face = cv2.imread(str(fr_images / "obama.jpg"))
    face = cv2.resize(face, (320, 400), interpolation=cv2.INTER_AREA)
    pano = np.full((400, 33400, 3), 90, np.uint8)
    for x in (100, 16000, 33000):
        pano[:, x : x + 320] = face
    faces = _detector("onnxruntime").detect(pano)
    centres = sorted(float(f.box[0] + f.box[2]) / 2 for f in faces if f.score > 0.95)
    assert len(centres) == 3, centres
    for got, x in zip(centres, (100, 16000, 33000), strict=True):
        assert x < got < x + 320


def test_the_pyramid_is_bounded_for_large_photos() -> None:
    """P-Net's largest level stays within max_pyramid_pixels (memory and time), so a 6000x4000 photo
    is searched for faces of ~54 px instead of 20; frames up to 1080p keep their min_face_size."""
    det = mt.MTCNNDetector("onnxruntime", _detector("onnxruntime").paths, min_face_size=20)
    assert det.min_face_for(1920, 1080) == 20
    assert det.min_face_for(6000, 4000) == pytest.approx(53.7, abs=0.1)
    for w, h in ((1920, 1080), (2048, 2048), (4000, 3000), (6000, 4000), (8640, 5770)):
        _, lw, lh = det._levels(w, h)[0]
        assert lw * lh <= det.max_pyramid_pixels
