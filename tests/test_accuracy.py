"""Identification on real faces with the default pipeline and each model's default threshold:
every celebrity in turn is a stranger (never enrolled) against the other four."""

from __future__ import annotations

import pytest

from core.gallery import Gallery
from core.registry import DEFAULT_RECOGNIZER
from tests.helpers import embed_largest_faces


@pytest.mark.parametrize(
    "key", list(dict.fromkeys([DEFAULT_RECOGNIZER, "facenet128:onnxruntime", "facenet512:onnxruntime"]))
)
def test_leave_one_person_out(key, detector, celeb_train, celeb_val) -> None:
    from core.registry import create_recognizer

    rec = create_recognizer(key)

    def embed(paths):
        return embed_largest_faces(detector, rec, paths)

    train = {k: embed(v) for k, v in celeb_train.items()}
    val = {k: embed(v) for k, v in celeb_val.items()}
    correct = total = strangers = accepted = 0
    for held_out in train:
        g = Gallery(rec.model, rec.default_threshold)
        for name, emb in train.items():
            if name != held_out:
                g.add(name, emb)
        for person, emb in val.items():
            for m in g.match(emb):
                if person == held_out:
                    strangers += 1
                    accepted += m.identity is not None
                else:
                    total += 1
                    correct += m.identity == person
    assert correct / total >= 0.99, f"{key}: {correct}/{total} enrolled val photos identified"
    assert accepted == 0, f"{key}: {accepted}/{strangers} stranger photos accepted as someone"
