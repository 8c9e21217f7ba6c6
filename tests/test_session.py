"""The one session builder (app/session.py), on a real small store: real photos, real models, a real
SQLite file. The CLI, ``run``, the window and the bench build through it, so what it promises here holds
for all of them: another recognizer model gets its embeddings from the stored face crops, whoever cannot be
recognised is named, the gallery is at the threshold asked for, and cloud/hybrid get the remote settings.
"""

from __future__ import annotations

import pytest

from app.session import Remote, build_session, local_pipeline, open_store, wrap
from core.config import RemoteConfig
from core.errors import FaceGateError
from core.imageio import load_image
from db.store import Store
from enroll.service import Enrollment
from tests.helpers import free_port


@pytest.fixture(scope="module")
def facenet512():
    from core.registry import create_recognizer

    return create_recognizer("facenet512:onnxruntime")


@pytest.fixture
def store_path(detector, recognizer, fr_images, tmp_path):
    """obama enrolled from two photos (crops kept) under the default recognizer; "ghost" has one
    embedding of that model and no crop, so no other model can ever recognise them."""
    path = tmp_path / "ids.db"
    store = Store(path)
    job = Enrollment("obama", detector, recognizer, store)
    for name in ("obama.jpg", "obama2.jpg"):
        assert job.add_image(load_image(fr_images / name), name).ok
    job.save()
    image = load_image(fr_images / "biden.jpg")
    store.enroll("ghost", recognizer.model, recognizer.embed(image, detector.detect(image)[:1]))
    store.close()
    return path


def _identity(pipe, fr_images, name):
    image = load_image(fr_images / name)
    return max(pipe.process(image).faces, key=lambda f: f.area).identity


def test_another_model_gets_embeddings_from_crops_and_names_who_cannot_be_recognised(
    detector, facenet512, store_path, fr_images
):
    reported: list[list[str]] = []
    store = Store(store_path)
    try:
        s = build_session(detector, facenet512, store, report=reported.append)
        assert s.added == 2  # obama's two stored crops, embedded by the 512-d model
        assert s.unrecognisable == ["ghost"] and reported == [["ghost"]]
        assert s.mode == "local" and s.pipeline is s.local and s.store is store
        assert s.local.threshold == pytest.approx(facenet512.default_threshold)
        assert _identity(s.pipeline, fr_images, "obama3.jpg") == "obama"
        assert _identity(s.pipeline, fr_images, "biden.jpg") is None
        assert store.people_without(facenet512.model) == ["ghost"]  # the store stays open, ready
    finally:
        store.close()


def test_the_gallery_is_at_the_threshold_asked_for(detector, recognizer, store_path, fr_images):
    store = open_store(store_path, recognizer)
    try:
        strict = local_pipeline(detector, recognizer, store, 0.05)
        default = local_pipeline(detector, recognizer, store, None)
    finally:
        store.close()
    assert strict.threshold == strict.gallery.threshold == pytest.approx(0.05)
    assert default.threshold == pytest.approx(recognizer.default_threshold)
    # an unseen photo of obama is far further than 0.05 from his samples: unknown at that threshold
    assert _identity(strict, fr_images, "obama3.jpg") is None
    assert _identity(default, fr_images, "obama3.jpg") == "obama"


def test_hybrid_gets_the_remote_settings(detector, recognizer, store_path):
    store = Store(store_path)
    try:
        local = local_pipeline(detector, recognizer, store)
    finally:
        store.close()
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: building connects to nothing
    config = RemoteConfig(crop_format="jpeg", crop_quality=70, fallback_after_s=0.5)
    pipe = wrap("hybrid", local, Remote(url, token="s3cret", config=config))
    try:
        assert pipe.mode == "hybrid" and pipe.local is local
        assert (pipe.crop_format, pipe.crop_quality) == ("jpeg", 70)
        assert pipe.link.token == "s3cret" and pipe.link.timeout_s == pytest.approx(0.5)
    finally:
        pipe.close()
    assert wrap("local", local, None) is local


def test_the_opt_ins_reach_the_endpoint_checks(detector, recognizer, store_path):
    store = Store(store_path)
    try:
        local = local_pipeline(detector, recognizer, store)
    finally:
        store.close()
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(FaceGateError, match="no token to authenticate"):
        wrap("cloud", local, Remote(url))
    pipe = wrap("cloud", local, Remote(url, allow_unauthenticated=True))
    pipe.close()
    with pytest.raises(FaceGateError, match="refusing to send faces"):
        wrap("cloud", local, Remote("http://192.0.2.1:8000", token="s3cret"))


def test_run_names_whom_its_recognizer_cannot_recognise_and_recognises_the_rest(
    store_path, facenet512, fr_images, run_cli, tmp_path
):
    import shutil

    folder = tmp_path / "door"
    folder.mkdir()
    for i in range(6):  # a track is decided on a few frames' evidence
        shutil.copy(fr_images / "obama3.jpg", folder / f"{i:04d}.jpg")
    code, out, err = run_cli(
        "run", "--source", str(folder), "--db", str(store_path), "--recognizer", facenet512.key, "--quiet"
    )
    assert code == 0, err
    assert (
        f"warning: ghost has no {facenet512.model} embedding and no stored face crop; re-enroll them to "
        "recognise them with this recognizer"
    ) in err
    assert "event: track 1 obama -> granted" in out  # from the 512-d embeddings of his stored crops
