"""Quality gates for an enrollment sample. Each rejection carries a reason a person understands."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import defaults
from core.types import Face

MIN_FACE_PX = defaults().enroll.min_face_px  # core/config.py: smaller faces give unstable embeddings
MIN_SHARPNESS = 15.0  # variance of the Laplacian on the 160 px face crop; below = blurred
MIN_BRIGHTNESS, MAX_BRIGHTNESS = 40.0, 220.0  # mean grey level of the face
MIN_CONTRAST = 15.0  # std of grey levels of the face
#: share of the face that may be exactly (128, 128, 128): libjpeg's fill where image data is missing
#: (a truncated photo, a corrupt MJPEG camera frame); a real face has sensor noise, never such a patch
MAX_MISSING = 0.05


@dataclass(frozen=True)
class SampleCheck:
    ok: bool
    reason: str  # "ok" or why it was rejected
    quality: float = 0.0  # 0..1, higher is better (for choosing among samples)
    face: Face | None = None
    paused: bool = False  # live capture waits (e.g. a second face in view); nothing is wrong with the face


def check_sample(image_bgr: np.ndarray, faces: list[Face], min_face_px: int = MIN_FACE_PX) -> SampleCheck:
    """Accept a photo/frame as an enrollment sample only with exactly one face of at least ``min_face_px``."""
    import cv2

    if not faces:
        return SampleCheck(False, "no face found")
    # faces too small to enroll are background (people far behind, prints): they do not count,
    # unless no face is large enough at all
    usable = [f for f in faces if min(f.width, f.height) >= min_face_px]
    if len(usable) > 1:
        return SampleCheck(False, f"{len(usable)} faces found; use a photo with only this person")
    if not usable:
        face = max(faces, key=lambda f: f.area)
        side = min(face.width, face.height)
        return SampleCheck(
            False, f"face too small ({side:.0f} px, need {min_face_px} px); come closer", face=face
        )
    face = usable[0]
    side = min(face.width, face.height)
    x1, y1, x2, y2 = (int(round(v)) for v in face.box)
    crop = image_bgr[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)]
    if crop.size == 0:
        return SampleCheck(False, "face is outside the image", face=face)
    missing = float((crop == 128).all(axis=2).mean())
    if missing > MAX_MISSING:
        return SampleCheck(
            False,
            f"part of the face is missing ({100 * missing:.0f}% blank: the image data is corrupt or "
            "cut short); use another photo",
            face=face,
        )
    grey = cv2.cvtColor(cv2.resize(crop, (160, 160), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    brightness, contrast = float(grey.mean()), float(grey.std())
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    if brightness < MIN_BRIGHTNESS:
        return SampleCheck(False, f"too dark (brightness {brightness:.0f}); add light", face=face)
    if brightness > MAX_BRIGHTNESS:
        return SampleCheck(False, f"overexposed (brightness {brightness:.0f}); reduce light", face=face)
    if contrast < MIN_CONTRAST:
        return SampleCheck(False, f"too little contrast ({contrast:.0f})", face=face)
    if sharpness < MIN_SHARPNESS:
        return SampleCheck(False, f"too blurred (sharpness {sharpness:.0f}); hold still", face=face)
    quality = float(min(1.0, sharpness / 200.0) * 0.5 + min(1.0, side / 200.0) * 0.5)
    return SampleCheck(True, "ok", quality=quality, face=face)
