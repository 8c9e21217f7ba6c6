"""Enrollment (Qt-free): collect quality-checked samples of one person, then save them in one go.

Used by ``main.py enroll`` (photos) and the GUI wizard (live frames). Each accepted sample keeps a
JPEG face crop with its box and landmarks, so embeddings for another recognizer model can be
computed later without the person (:func:`compute_missing_embeddings`).

Live enrollment follows ONE person (:meth:`Enrollment.add_live_frame`): the largest face when capture
starts, then the face overlapping it in the next frames; a second face in view pauses capture; a new
sample must look like the samples already taken (L2 distance to their mean within the recognizer's
threshold). :meth:`Enrollment.outliers` flags samples that do not look like the others (for review).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.geometry import box_iou
from core.types import Face
from enroll.quality import MIN_FACE_PX, SampleCheck, check_sample

CROP_SCALE = 1.6  # crop side = 1.6 x the face box: room for any recognizer's margin/alignment
CROP_MAX_PX = 256
MIN_SAMPLE_DISTANCE = 0.12  # live frames closer than this to a taken sample add nothing new
FOLLOW_IOU = 0.2  # live: the followed face overlaps its box of the previous sampled frame at least this much


@dataclass
class Sample:
    source: str
    embedding: np.ndarray
    quality: float
    image_sha256: str | None
    crop_jpeg: bytes
    crop_face: dict[str, Any]
    yaw: float | None = None


@dataclass
class Enrollment:
    """Samples of one person, checked one by one; :meth:`save` stores them in one transaction."""

    name: str
    detector: Any
    recognizer: Any
    store: Any
    min_samples: int = 1
    min_face_px: int = MIN_FACE_PX
    require_pose_spread: float = 0.0  # e.g. 0.25: live enrollment asks for the head turned a little
    threshold: float | None = None  # same-person L2 distance; None: the recognizer's default threshold
    samples: list[Sample] = field(default_factory=list)
    target_box: np.ndarray | None = None  # live: the box of the face being followed (frame pixels)

    def add_image(
        self, image_bgr: np.ndarray, source: str = "", image_sha256: str | None = None, live: bool = False
    ) -> SampleCheck:
        """Check one photo/frame; accepted samples are kept (not stored until :meth:`save`)."""
        sha = image_sha256 or hashlib.sha256(np.ascontiguousarray(image_bgr).tobytes()).hexdigest()
        if sha in {s.image_sha256 for s in self.samples} or sha in self.store.sample_hashes(
            self.name, self.recognizer.model
        ):
            return SampleCheck(False, f"this photo is already enrolled for {self.name}")
        faces = self.detector.detect(image_bgr)
        check = check_sample(image_bgr, faces, min_face_px=self.min_face_px)
        if not check.ok or check.face is None:
            return check
        face = check.face
        emb = self.recognizer.embed(image_bgr, [face])[0]
        if live and self.samples:
            nearest = min(float(np.linalg.norm(emb - s.embedding)) for s in self.samples)
            if nearest < MIN_SAMPLE_DISTANCE:
                return SampleCheck(
                    False, "too similar to a sample already taken; turn your head a little", face=face
                )
        crop, crop_face = face_crop(image_bgr, face)
        self.samples.append(Sample(source, emb, check.quality, sha, crop, crop_face, yaw_proxy(face)))
        return check

    @property
    def match_threshold(self) -> float:
        """The L2 distance under which two faces are the same person (the recognizer's threshold)."""
        return float(self.recognizer.default_threshold if self.threshold is None else self.threshold)

    def mean_embedding(self, exclude: int | None = None) -> np.ndarray | None:
        """Unit-length mean of the samples' embeddings (without sample ``exclude``); None if none."""
        embs = [s.embedding for i, s in enumerate(self.samples) if i != exclude]
        if not embs:
            return None
        mean = np.mean(np.stack(embs), axis=0)
        return mean / max(float(np.linalg.norm(mean)), 1e-12)

    def add_live_frame(self, image_bgr: np.ndarray, source: str = "") -> SampleCheck:
        """Live capture: take a sample of the followed person from this frame, or say why not.

        The person is the largest face when capture starts, then the face whose box overlaps theirs
        (IoU >= FOLLOW_IOU). Another face of enrollable size in view pauses capture. A sample must be
        within :attr:`match_threshold` of the mean of the samples already taken.
        """
        faces = self.detector.detect(image_bgr)
        if not faces:
            return SampleCheck(False, "no face found; look at the camera")
        usable = [f for f in faces if min(f.width, f.height) >= self.min_face_px]
        target = self._follow(faces)
        others = [f for f in usable if f is not target]
        if target is None:
            if len(usable) > 1:
                return SampleCheck(
                    False,
                    f"paused: {len(usable)} faces in view; only {self.name} should be in front of the camera",
                    paused=True,
                )
            if self.target_box is not None and self.samples:
                # lost the followed face: a single face may be them again; the embedding check decides
                target = usable[0] if usable else max(faces, key=lambda f: f.area)
            else:
                target = max(faces, key=lambda f: f.area)
        elif others:
            return SampleCheck(
                False,
                f"paused: a second face is in view; capture resumes when only {self.name} is in view",
                face=target,
                paused=True,
            )
        check = check_sample(image_bgr, [target], min_face_px=self.min_face_px)
        if not check.ok or check.face is None:
            if self.target_box is None or not self.samples:
                self.target_box = np.asarray(target.box, np.float32).copy()
            return check
        emb = self.recognizer.embed(image_bgr, [target])[0]
        if self.samples:
            nearest = min(float(np.linalg.norm(emb - s.embedding)) for s in self.samples)
            if nearest < MIN_SAMPLE_DISTANCE:
                self.target_box = np.asarray(target.box, np.float32).copy()
                return SampleCheck(
                    False, "too similar to a sample already taken; turn your head a little", face=target
                )
            mean = self.mean_embedding()
            assert mean is not None
            d = float(np.linalg.norm(emb - mean))
            if d > self.match_threshold:
                return SampleCheck(
                    False,
                    f"does not look like the samples taken so far (distance {d:.2f} > "
                    f"{self.match_threshold:.2f}); only {self.name} should be in view",
                    face=target,
                )
        self.target_box = np.asarray(target.box, np.float32).copy()
        sha = hashlib.sha256(np.ascontiguousarray(image_bgr).tobytes()).hexdigest()
        crop, crop_face = face_crop(image_bgr, target)
        self.samples.append(Sample(source, emb, check.quality, sha, crop, crop_face, yaw_proxy(target)))
        return check

    def _follow(self, faces: list[Face]) -> Face | None:
        """The face that continues the followed one (best IoU); at the start the largest one alone."""
        if self.target_box is None:
            usable = [f for f in faces if min(f.width, f.height) >= self.min_face_px]
            return max(usable, key=lambda f: f.area) if len(usable) == 1 else None
        best, best_iou = None, FOLLOW_IOU
        for f in faces:
            v = box_iou(self.target_box, np.asarray(f.box, np.float32))
            if v >= best_iou:
                best, best_iou = f, v
        return best

    def sample_distances(self) -> list[float | None]:
        """Each sample's L2 distance to the mean of the *other* samples (None with fewer than 3)."""
        if len(self.samples) < 3:
            return [None] * len(self.samples)
        out: list[float | None] = []
        for i, s in enumerate(self.samples):
            mean = self.mean_embedding(exclude=i)
            out.append(None if mean is None else float(np.linalg.norm(s.embedding - mean)))
        return out

    def outliers(self) -> list[int]:
        """Indices of samples farther than :attr:`match_threshold` from the others' mean."""
        thr = self.match_threshold
        return [i for i, d in enumerate(self.sample_distances()) if d is not None and d > thr]

    @property
    def pose_ok(self) -> bool:
        return self.pose_spread >= self.require_pose_spread

    @property
    def pose_spread(self) -> float:
        yaws = [s.yaw for s in self.samples if s.yaw is not None]
        return float(max(yaws) - min(yaws)) if len(yaws) >= 2 else 0.0

    @property
    def ready(self) -> bool:
        """Enough good samples to save. The head turn is asked for, never required: a person who cannot
        turn (or a video that does not) must still be enrollable."""
        return len(self.samples) >= self.min_samples

    def guidance(self) -> str:
        """What the person should do next (live enrollment)."""
        if self.ready and not self.pose_ok:
            yaws = [s.yaw for s in self.samples if s.yaw is not None]
            turn = "left" if yaws and np.mean(yaws) > 0 else "right"
            return f"enough samples: you can finish now, or turn your head slightly {turn} for better ones"
        if self.ready:
            return "done"
        return f"look at the camera ({len(self.samples)}/{self.min_samples} samples)"

    def lookalike(self, threshold: float | None = None) -> tuple[str, float] | None:
        """An already enrolled *other* person this one matches (a warning, not an error)."""
        if not self.samples:
            return None
        thr = self.recognizer.default_threshold if threshold is None else threshold
        gallery = self.store.gallery(self.recognizer.model, thr)
        if not len(gallery):
            return None
        mean = np.mean(np.stack([s.embedding for s in self.samples]), axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        for m in gallery.match(mean[None]):
            if m.identity is not None and m.identity != self.name:
                return m.identity, m.distance
        return None

    def save(self, policy: str | None = None, schedule: str = "", notes: str = "") -> int:
        if not self.samples:
            return 0
        return self.store.enroll(
            self.name,
            self.recognizer.model,
            np.stack([s.embedding for s in self.samples]),
            image_sha256=[s.image_sha256 for s in self.samples],
            quality=[s.quality for s in self.samples],
            policy=policy,
            schedule=schedule,
            notes=notes,
            crops=[s.crop_jpeg for s in self.samples],
            crop_faces=[s.crop_face for s in self.samples],
        )


def yaw_proxy(face: Face) -> float | None:
    """Nose offset from the eye midpoint in eye distances: ~0 frontal, +/-0.3 a clear head turn."""
    if face.landmarks is None:
        return None
    lm = np.asarray(face.landmarks, np.float32)
    eye_mid = (lm[0] + lm[1]) / 2
    eye_dist = float(np.linalg.norm(lm[1] - lm[0]))
    return float((lm[2, 0] - eye_mid[0]) / max(eye_dist, 1e-6))


def face_crop(image_bgr: np.ndarray, face: Face) -> tuple[bytes, dict[str, Any]]:
    """A JPEG square crop around the face and the face's box/landmarks in crop pixels."""
    import cv2

    from core.crops import encode_jpeg, fit_within

    h, w = image_bgr.shape[:2]
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    side = max(face.width, face.height) * CROP_SCALE
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x1, y1 = int(round(cx + side / 2)), int(round(cy + side / 2))
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    src = cv2.copyMakeBorder(image_bgr, pad, pad, pad, pad, cv2.BORDER_CONSTANT) if pad else image_bgr
    crop, scale = fit_within(src[y0 + pad : y1 + pad, x0 + pad : x1 + pad], CROP_MAX_PX)
    box = ((np.asarray(face.box, np.float32) - [x0, y0, x0, y0]) * scale).tolist()
    lms = None
    if face.landmarks is not None:
        lms = ((np.asarray(face.landmarks, np.float32) - [x0, y0]) * scale).tolist()
    return encode_jpeg(crop, 92), {"box": box, "landmarks": lms}


def compute_missing_embeddings(store: Any, recognizer: Any) -> int:
    """Embed stored face crops that have no embedding for ``recognizer.model`` yet."""
    import cv2

    todo = store.samples_missing(recognizer.model)
    items = []
    for t in todo:
        img = cv2.imdecode(np.frombuffer(t["crop"], np.uint8), cv2.IMREAD_COLOR)
        if img is None or not t["face"]:
            continue
        geo = t["face"]
        face = Face(
            box=np.asarray(geo["box"], np.float32),
            score=1.0,
            landmarks=None if geo.get("landmarks") is None else np.asarray(geo["landmarks"], np.float32),
        )
        items.append((t["sample_id"], recognizer.embed(img, [face])[0]))
    return store.add_sample_embeddings(recognizer.model, items)
