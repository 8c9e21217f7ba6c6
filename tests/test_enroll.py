"""Enrollment (Qt-free): quality gates with reasons, live samples, crops for other models."""

from __future__ import annotations

import cv2
import numpy as np

from core.imageio import load_image
from db.store import Store
from enroll.quality import check_sample
from enroll.service import Enrollment, compute_missing_embeddings


def test_quality_gates_give_reasons(detector, fr_images) -> None:
    img = load_image(fr_images / "obama.jpg")
    faces = detector.detect(img)
    assert check_sample(img, faces).ok
    assert check_sample(img, []).reason == "no face found"
    assert "2 faces" in check_sample(img, faces * 2).reason
    small = cv2.resize(img, (img.shape[1] // 8, img.shape[0] // 8), interpolation=cv2.INTER_AREA)
    check = check_sample(small, detector.detect(small))
    assert not check.ok and ("too small" in check.reason or check.reason == "no face found")
    dark = (img * 0.1).astype(np.uint8)
    check = check_sample(dark, faces)
    assert not check.ok and "too dark" in check.reason
    blurred = cv2.GaussianBlur(img, (0, 0), 12)
    check = check_sample(blurred, faces)
    assert not check.ok and "blurred" in check.reason


def test_live_enrollment_needs_distinct_samples(detector, recognizer, fr_images, tmp_path) -> None:
    store = Store(tmp_path / "e.db")
    job = Enrollment("obama", detector, recognizer, store, min_samples=2)
    frame = load_image(fr_images / "obama.jpg")
    assert job.add_image(frame, "cam", live=True).ok
    assert not job.ready and "1/2" in job.guidance()
    # the same face again (a near-identical next frame) adds nothing new
    nudged = cv2.convertScaleAbs(frame, alpha=1.03, beta=2)
    check = job.add_image(nudged, "cam", live=True)
    assert not check.ok and "too similar" in check.reason
    assert job.add_image(load_image(fr_images / "obama2.jpg"), "cam", live=True).ok
    assert job.ready and job.save() == 2
    assert store.identities()[0]["samples"] == 2


def test_other_model_embeddings_come_from_stored_crops(detector, recognizer, fr_images, tmp_path) -> None:
    from core.registry import create_recognizer

    store = Store(tmp_path / "e.db")
    job = Enrollment("obama", detector, recognizer, store)
    for name in ("obama.jpg", "obama2.jpg"):
        assert job.add_image(load_image(fr_images / name), name).ok
    job.save()
    other = create_recognizer("facenet512:onnxruntime")
    assert store.gallery(other.model, other.default_threshold).identities == []
    assert compute_missing_embeddings(store, other) == 2
    gallery = store.gallery(other.model, other.default_threshold)
    probe = load_image(fr_images / "obama3.jpg")
    face = detector.detect(probe)[0]
    assert gallery.match(other.embed(probe, [face]))[0].identity == "obama"
    biden = load_image(fr_images / "biden.jpg")
    assert gallery.match(other.embed(biden, detector.detect(biden)[:1]))[0].identity is None


def test_a_face_cut_short_by_missing_image_data_is_rejected(detector, fr_images) -> None:
    """A JPEG cut at 35% with an end marker appended (as a failed copy or a corrupt MJPEG camera
    frame): decoded without load_image's check, the face is still found (libjpeg fills the missing
    part with grey), but it must not be enrolled (it was, at quality 1.00: the hard edge of the
    fill reads as sharpness)."""
    data = (fr_images / "obama.jpg").read_bytes()
    cut = cv2.imdecode(np.frombuffer(data[: int(len(data) * 0.35)] + b"\xff\xd9", np.uint8), cv2.IMREAD_COLOR)
    faces = detector.detect(cut)
    assert faces
    check = check_sample(cut, faces)
    assert not check.ok and "part of the face is missing" in check.reason
    whole = load_image(fr_images / "obama.jpg")
    assert check_sample(whole, detector.detect(whole)).ok
