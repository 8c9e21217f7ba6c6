"""FaceNet 128-d and 512-d on every runtime: real faces, parity with TensorFlow, identification.

Faces: the 5-celebrity photos (25 val + 15 train per person = ~100 faces), the largest face of
each found by FaceGate's own MTCNN (``mtcnn:onnxruntime``, ``min_face_size=20`` like the reference
package), aligned once per model with the model's default crop. Network files are provisioned
(converted from the package archives) on first use into ``FACEGATE_CACHE``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.types import Face
from tests.conftest import skip_unless_available

MODELS = ["facenet128", "facenet512"]
RUNTIMES = ["onnxruntime", "tflite", "tflite-fp16", "tflite-int8", "tensorrt"]
TRAIN_PER_PERSON = 15


def _family(model: str):
    return importlib.import_module(f"core.recognizers.{model}")


@pytest.fixture(scope="module")
def faces(celeb_train: dict[str, list[Path]], celeb_val: dict[str, list[Path]]) -> list[tuple]:
    """[(split, person, image_bgr, Face)] for the largest face of each photo."""
    from core.registry import create_detector

    skip_unless_available("detector", "mtcnn:onnxruntime")
    det = create_detector("mtcnn:onnxruntime", min_face_size=20)
    out = []
    for split, table in (("train", celeb_train), ("val", celeb_val)):
        for person, paths in table.items():
            for p in paths[: TRAIN_PER_PERSON if split == "train" else None]:
                img = cv2.imread(str(p), cv2.IMREAD_COLOR)
                found = det.detect(img)
                if found:
                    out.append((split, person, img, max(found, key=lambda f: f.area)))
    assert len(out) >= 90, f"MTCNN found only {len(out)} faces"
    return out


_RECOGNIZERS: dict[str, object] = {}


def _recognizer(model: str, runtime: str):
    key = f"{model}:{runtime}"
    skip_unless_available("recognizer", key)
    if key not in _RECOGNIZERS:
        from core.registry import create_recognizer

        _RECOGNIZERS[key] = create_recognizer(key)
    return _RECOGNIZERS[key]


@pytest.fixture(scope="module")
def crops(faces: list[tuple]) -> dict[str, np.ndarray]:
    """{model: (N, 160, 160, 3) RGB uint8} aligned with the model's defaults (runtime-independent)."""
    from core.recognizers.facenet import crop

    out = {}
    for model in MODELS:
        d = _family(model).DEFAULTS
        out[model] = np.stack([crop(img, f, 160, d["align"], d["margin"]) for _, _, img, f in faces])
    return out


@pytest.fixture(scope="module")
def labels(faces: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([p for _, p, _, _ in faces]), np.array([s == "val" for s, _, _, _ in faces])


_REFERENCE: dict[str, np.ndarray] = {}


@pytest.fixture(scope="module")
def reference(crops: dict[str, np.ndarray]):
    """TensorFlow (the reference runtime) embeddings per model."""

    def get(model: str) -> np.ndarray:
        if model not in _REFERENCE:
            _REFERENCE[model] = _recognizer(model, "tensorflow").embed_crops(crops[model])
        return _REFERENCE[model]

    return get


def _nearest(emb: np.ndarray, labels: np.ndarray, is_val: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(emb[is_val][:, None] - emb[~is_val][None], axis=-1)
    return labels[~is_val][np.argmin(d, axis=1)]


def _pair_distances(emb: np.ndarray, names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(same-person, different-people) L2 distances over all pairs of faces."""
    d = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    iu = np.triu_indices(len(d), 1)
    same = names[iu[0]] == names[iu[1]]
    return d[iu][same], d[iu][~same]


def _assert_door_rates(key: str, ds: np.ndarray, dn: np.ndarray, thr: float) -> None:
    """The default threshold is an access-control one: (almost) no different-person pair accepted, at
    the price of rejecting some same-person pairs (measured FRR ~17% / ~31% on these photos at the
    calibrated 1.00, see benchmarks/calibrate_defaults.py)."""
    far, frr = np.mean(dn <= thr), np.mean(ds > thr)
    assert far <= 0.001 and frr <= 0.35, f"{key}: FAR {far:.2%} FRR {frr:.1%} at threshold {thr}"


def _assert_parity(key: str, emb: np.ndarray, ref: np.ndarray, labels) -> None:
    """The parity limits: unit vectors, cosine to TensorFlow >= 0.99 (0.98 for the int8 model) on
    every face, and the same nearest train identity for every val photo."""
    assert emb.shape == ref.shape and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    cos = np.sum(emb * ref, axis=1)
    floor = 0.98 if key.endswith(":tflite-int8") else 0.99
    assert cos.min() >= floor, f"{key} min cosine {cos.min():.4f} (mean {cos.mean():.5f})"
    names, is_val = labels
    np.testing.assert_array_equal(_nearest(emb, names, is_val), _nearest(ref, names, is_val))


@pytest.mark.parametrize("model", MODELS)
def test_reference_identifies_people(model, reference, labels):
    emb = reference(model)
    names, is_val = labels
    rec = _recognizer(model, "tensorflow")
    assert emb.shape == (len(names), rec.dim) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # val photos identified against the train gallery
    acc = np.mean(_nearest(emb, names, is_val) == names[is_val])
    assert acc >= 0.99, f"{model}: val identification {acc:.1%}"
    # same person closer than different people (all pairs)
    ds, dn = _pair_distances(emb, names)
    assert ds.mean() + 0.4 < dn.mean(), (ds.mean(), dn.mean())
    _assert_door_rates(f"{model}:tensorflow", ds, dn, rec.default_threshold)
    # every person's own centroid is the nearest centroid for each of their photos
    people = sorted(set(names))
    cents = np.stack([emb[names == p].mean(0) for p in people])
    nearest = np.array(people)[np.argmin(np.linalg.norm(emb[:, None] - cents[None], axis=-1), axis=1)]
    assert np.mean(nearest == names) >= 0.97


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("model", MODELS)
def test_runtime_parity(model, runtime, crops, reference, labels):
    rec = _recognizer(model, runtime)
    _assert_parity(f"{model}:{runtime}", rec.embed_crops(crops[model]), reference(model), labels)
    assert rec.model == model and rec.default_threshold == _family(model).DEFAULT_THRESHOLD


def test_the_default_pair_agrees_with_tensorflow(faces, crops, reference, labels) -> None:
    """Issue 12: the defaults are the fastest pair within the parity limits. The default recognizer
    passes test_runtime_parity's limits and the door's FAR/FRR bounds at its shipped threshold, and the
    default detector's faces, embedded by it, give every val photo the identity TensorFlow gives (the
    detector's own limits: tests/test_mtcnn.py::test_the_default_detector_agrees_with_tensorflow).
    A change of default that breaks parity fails here; an unavailable default fails, not skips."""
    from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, backends, create_detector

    info = {b.key: b for b in backends()}
    for key in (DEFAULT_DETECTOR, DEFAULT_RECOGNIZER):
        assert info[key].available, f"the default {key} cannot run here: {info[key].reason}"
    model, _, runtime = DEFAULT_RECOGNIZER.partition(":")
    assert model in MODELS, f"no TensorFlow reference here for {DEFAULT_RECOGNIZER}"
    rec = _recognizer(model, runtime)
    emb, ref = rec.embed_crops(crops[model]), reference(model)
    _assert_parity(DEFAULT_RECOGNIZER, emb, ref, labels)
    names, is_val = labels
    _assert_door_rates(DEFAULT_RECOGNIZER, *_pair_distances(emb, names), rec.default_threshold)
    # the pair: the same photos through the default detector (photo setting, 20 px) and recognizer
    det = create_detector(DEFAULT_DETECTOR, min_face_size=20)
    found = [max(det.detect(img), key=lambda f: f.area, default=None) for _, _, img, _ in faces]
    assert all(f is not None for f in found), f"{DEFAULT_DETECTOR} misses faces the reference finds"
    pair = rec.embed_crops(
        np.stack([rec.align(img, f) for (_, _, img, _), f in zip(faces, found, strict=True)])
    )
    np.testing.assert_array_equal(_nearest(pair, names, is_val), _nearest(ref, names, is_val))


@pytest.mark.parametrize("model", MODELS)
def test_batching_and_embed(model, crops, faces):
    rec = _recognizer(model, "onnxruntime")
    c = crops[model][:10]
    rec.max_batch = 4  # 10 crops -> batches of 4, 4, 2
    try:
        batched = rec.embed_crops(c)
    finally:
        rec.max_batch = 32
    single = np.concatenate([rec.embed_crops(c[i : i + 1]) for i in range(len(c))])
    np.testing.assert_allclose(batched, single, atol=1e-4)
    assert rec.embed_crops(c[:0]).shape == (0, rec.dim)
    # embed(): aligns, embeds and sets face.embedding
    _, _, img, face = faces[0]
    f = Face(face.box.copy(), face.score, face.landmarks.copy())
    emb = rec.embed(img, [f])
    assert emb.shape == (1, rec.dim) and f.embedding is not None
    np.testing.assert_allclose(f.embedding, rec.embed_crops(crops[model][:1])[0], atol=1e-4)


def test_align_fallbacks(faces):
    """No landmarks -> Sandberg box crop; degenerate landmarks too; faces cut by the image edge."""
    from core.recognizers.facenet import crop

    _, _, img, face = faces[0]
    with_lm = crop(img, face, 160, "landmarks", 0.2)
    no_lm = crop(img, Face(face.box, face.score, None), 160, "landmarks", 0.2)
    box = crop(img, face, 160, "box", 0.2)
    for c in (with_lm, no_lm, box):
        assert c.shape == (160, 160, 3) and c.dtype == np.uint8
    np.testing.assert_array_equal(no_lm, box)
    # the 5-point crop and the box crop frame the same face similarly
    assert np.mean(np.abs(with_lm.astype(float) - box.astype(float))) < 60
    degenerate = Face(face.box, face.score, np.zeros((5, 2), np.float32))
    np.testing.assert_array_equal(crop(img, degenerate, 160, "landmarks", 0.2), box)
    h, w = img.shape[:2]
    edge = Face(np.array([-50, -40, 60, 90], np.float32), 0.9, None)
    assert crop(img, edge, 160, "box", 0.2).shape == (160, 160, 3)
    big = Face(np.array([0, 0, w, h], np.float32), 0.9, None)  # strong downscale path
    assert crop(img, big, 160, "box", 0.0).shape == (160, 160, 3)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert crop(gray, face, 160, "landmarks", 0.2).shape == (160, 160, 3)


def test_sidecars_name_real_tensors():
    """Every provisioned FaceNet file lists its real input/output names (TensorRT: a batch profile)."""
    from core.models import artifacts
    from core.runtimes import read_meta

    arts = {k: a for k, a in artifacts().items() if k.startswith("facenet")}
    assert len(arts) == 10
    for key, art in arts.items():
        if not art.ready:
            continue
        meta = read_meta(art.path)
        assert len(meta["inputs"]) == 1 and len(meta["outputs"]) == 1, key
        if key.endswith("/onnx"):
            import onnx

            m = onnx.load(str(art.path), load_external_data=False)
            assert [i.name for i in m.graph.input] == meta["inputs"]
            assert [o.name for o in m.graph.output] == meta["outputs"]
            shapes = meta["input_shapes"][meta["inputs"][0]]
            assert shapes["min"][0] == 1 and shapes["max"][0] >= shapes["opt"][0] >= 1
