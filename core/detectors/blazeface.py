"""BlazeFace (MediaPipe's face detector): a fast single-shot detector for edge devices.

The glue is written once in numpy, after MediaPipe's graphs (face_detection_*_common.pbtxt):
letterbox to a square, resize to the network side, scale to [-1, 1]; SSD anchors
(SsdAnchorsCalculator options of each model, fixed anchor size 1); box + 6 keypoint decoding
(TensorsToDetectionsCalculator: offsets / input side, added to the anchor centre); sigmoid scores
(raw clipped to +-100); weighted NMS (MediaPipe's WEIGHTED algorithm: the detections overlapping
the best one with IoU > 0.3 are blended, weighted by score; the best one's score is kept).

Variants (``variant=`` option): ``full`` (default; 192x192) and ``short`` (128x128, ~2.5x cheaper).
A 720p door camera (~70 deg field of view) sees a face 0.5-3 m away at ~300-50 px wide. Measured on
real faces pasted into 1280x720 frames, ``full`` finds 83% of 60 px, 93% of 75 px and all >= 100 px
faces; ``short`` nothing below 100 px and 93% at 150 px (fine for a kiosk at arm's length only).
On the real test photos (close-ups) ``full`` at 0.5 found a face in 124/124, ``short`` at 0.6 in 120/124.

Keypoints, as the network gives them (``face.keypoints6``, image pixels): the subject's
right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion. For a
non-mirrored camera the subject's right eye is the image-left one, so ``landmarks`` (left eye,
right eye, nose, mouth left, mouth right as seen in the image) takes keypoints 0, 1, 2, and the
mouth corners are *approximated* as the mouth centre +- 0.46 x the eye-to-eye vector (BlazeFace
has no mouth corners; 0.46 = half the median mouth-width / eye-distance ratio, 0.915, of MTCNN's
landmarks on the 124 real test photos). Fine for alignment; do not treat them as measured points.

Large frames: the whole frame is squeezed into 192 (128) px, so faces under ~6% (~12% for short)
of the frame's long side are often missed. ``tiles=N`` (N >= 2) also runs the network on a grid of
overlapping square crops (tile side ~1.25 x long side / N, at most the short side) and merges
everything with the same weighted NMS; faces cut by an inner tile edge are dropped from that tile.
At 720p ``tiles=2`` adds two 720x720 tiles (3 runs, ~2.5x the time) and lifts ``full`` to 86% at
40 px, 97% at 60 px.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from core.detectors import Detector
from core.errors import BackendUnavailable
from core.geometry import iou_matrix
from core.provision.blazeface import VARIANTS, artifact_key
from core.types import Face

MODEL = "blazeface"
DEFAULT_VARIANT = "full"

#: runtime -> artifact keys it runs (the default variant; ``create(variant=...)`` picks another)
RUNTIMES: dict[str, tuple[str, ...]] = {
    "tflite": (artifact_key(DEFAULT_VARIANT, "tflite"),),
    "onnxruntime": (artifact_key(DEFAULT_VARIANT, "onnx"),),
    "tensorrt": (artifact_key(DEFAULT_VARIANT, "onnx"),),
}
_FORMAT = {"tflite": "tflite", "onnxruntime": "onnx", "tensorrt": "onnx"}

#: per variant: SsdAnchorsCalculator options (MediaPipe face_detection_*_common.pbtxt)
_ANCHORS: dict[str, dict[str, Any]] = {
    "short": {"strides": (8, 16, 16, 16), "interpolated_scale_aspect_ratio": 1.0},
    "full": {"strides": (4,), "interpolated_scale_aspect_ratio": 0.0},
}
DEFAULT_SCORE = {"short": 0.6, "full": 0.5}
NMS_IOU = 0.3  # MediaPipe min_suppression_threshold
RAW_SCORE_CLIP = 80.0  # MediaPipe clips at 100; 80 keeps exp() inside float32
MOUTH_HALF_WIDTH = 0.46  # mouth corner = mouth centre +- this x (right eye - left eye); MTCNN median


def ssd_anchors(side: int, strides: tuple[int, ...], interpolated_scale_aspect_ratio: float) -> np.ndarray:
    """(N, 2) anchor centres in [0, 1] (x, y), in the order the network emits its boxes.

    Anchor sizes are fixed at 1 (``fixed_anchor_size: true``), so only centres matter. Layers of
    equal stride share one feature map; each contributes 1 anchor per cell per aspect ratio (one
    ratio, 1.0) plus one interpolated-scale anchor when that ratio is non-zero.
    """
    per_layer = 1 + (1 if interpolated_scale_aspect_ratio > 0 else 0)
    out: list[np.ndarray] = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        repeats = per_layer * (j - i)
        n = side // strides[i]
        c = (np.arange(n, dtype=np.float32) + 0.5) / n
        yy, xx = np.meshgrid(c, c, indexing="ij")
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        out.append(np.repeat(grid, repeats, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def decode(
    regressors: np.ndarray, classificators: np.ndarray, anchors: np.ndarray, side: int, min_score: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs -> (boxes (K,4) x1y1x2y2, keypoints (K,6,2), scores (K,)), normalised to the
    network input, only for scores >= ``min_score`` and boxes of positive size."""
    reg: np.ndarray = np.asarray(regressors, np.float32).reshape(-1, 16)
    raw = np.clip(np.asarray(classificators, np.float32).reshape(-1), -RAW_SCORE_CLIP, RAW_SCORE_CLIP)
    scores = 1.0 / (1.0 + np.exp(-raw))
    keep = np.flatnonzero(scores >= min_score)
    reg, scores, anc = reg[keep] / side, scores[keep], anchors[keep]
    centre = reg[:, 0:2] + anc
    half = reg[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    kps = reg[:, 4:16].reshape(-1, 6, 2) + anc[:, None, :]
    ok = (half > 0).all(axis=1)
    return boxes[ok], kps[ok], scores[ok].astype(np.float32)


def weighted_nms(
    boxes: np.ndarray, kps: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted NMS: each kept detection is the score-weighted mean (box and
    keypoints) of every remaining detection overlapping the best one by IoU > ``iou``."""
    order = np.argsort(-scores, kind="stable")
    boxes, kps, scores = boxes[order], kps[order], scores[order]
    out_b, out_k, out_s = [], [], []
    remaining = np.arange(len(scores))
    while remaining.size:
        top = remaining[0]
        overlap = iou_matrix(boxes[top][None, :4], boxes[remaining][:, :4])[0] > iou
        members = remaining[overlap]
        w = scores[members][:, None]
        out_b.append((boxes[members] * w).sum(0) / w.sum())
        out_k.append((kps[members] * w[:, :, None]).sum(0) / w.sum())
        out_s.append(scores[top])
        remaining = remaining[~overlap]
    if not out_s:
        return np.zeros((0, 4), np.float32), np.zeros((0, 6, 2), np.float32), np.zeros(0, np.float32)
    return np.asarray(out_b, np.float32), np.asarray(out_k, np.float32), np.asarray(out_s, np.float32)


def five_landmarks(kp6: np.ndarray) -> np.ndarray:
    """(6, 2) BlazeFace keypoints -> (5, 2) left eye, right eye, nose, mouth left, mouth right
    (as seen in the image; mouth corners approximated, see the module docstring)."""
    left_eye, right_eye, nose, mouth = kp6[0], kp6[1], kp6[2], kp6[3]
    half = MOUTH_HALF_WIDTH * (right_eye - left_eye)
    return np.stack([left_eye, right_eye, nose, mouth - half, mouth + half]).astype(np.float32)


class BlazeFaceDetector(Detector):
    def __init__(
        self,
        network: Any,
        variant: str = DEFAULT_VARIANT,
        score_threshold: float | None = None,
        min_face_size: float = 0.0,
        tiles: int = 0,
        nms_iou: float = NMS_IOU,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown BlazeFace variant {variant!r}; have {', '.join(VARIANTS)}")
        self.net = network
        self.variant = variant
        self.side = VARIANTS[variant][1]
        self.score_threshold = DEFAULT_SCORE[variant] if score_threshold is None else float(score_threshold)
        self.min_face_size = float(min_face_size)
        self.tiles = int(tiles)
        self.nms_iou = float(nms_iou)
        self.anchors = ssd_anchors(self.side, **_ANCHORS[variant])

    # -- one square window of the image through the network -----------------------------------
    def _run_window(
        self, bgr: np.ndarray, x0: int, y0: int, w: int, h: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Letterbox the ``w x h`` window at ``(x0, y0)`` into the network; boxes in image pixels."""
        s = self.side
        crop = bgr[y0 : y0 + h, x0 : x0 + w]
        scale = s / max(w, h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        while crop.shape[1] >= 2 * nw and crop.shape[0] >= 2 * nh:
            crop = cv2.pyrDown(crop)  # Gaussian halving: anti-aliased, ~4x cheaper than INTER_AREA at 720p
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        small = cv2.cvtColor(cv2.resize(crop, (nw, nh), interpolation=interp), cv2.COLOR_BGR2RGB)
        px, py = (s - nw) // 2, (s - nh) // 2
        tensor = np.full((1, s, s, 3), -1.0, np.float32)  # black letterbox (MediaPipe's zero border)
        tensor[0, py : py + nh, px : px + nw] = small * np.float32(2.0 / 255.0) - np.float32(1.0)
        regressors, classificators = self.net.run(tensor)[:2]
        boxes, kps, scores = decode(regressors, classificators, self.anchors, s, self.score_threshold)
        # network-normalised -> window pixels -> image pixels
        sx, sy = w / nw, h / nh
        boxes = boxes * s
        kps = kps * s
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - px) * sx + x0
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - py) * sy + y0
        kps[..., 0] = (kps[..., 0] - px) * sx + x0
        kps[..., 1] = (kps[..., 1] - py) * sy + y0
        return boxes, kps, scores

    def _windows(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """The whole frame, plus (``tiles`` >= 2) square tiles of side ~1.25 x long side / tiles
        (at most the short side), overlapping by >= 20%."""
        wins = [(0, 0, width, height)]
        if self.tiles >= 2:
            t = int(min(min(width, height), np.ceil(max(width, height) / self.tiles * 1.25)))

            def starts(length: int) -> np.ndarray:
                n = 1 if length <= t else int(np.ceil((length - t) / (0.8 * t))) + 1
                return np.linspace(0, max(length - t, 0), n).round().astype(int)

            wins += [(int(x), int(y), t, t) for y in starts(height) for x in starts(width)]
        return wins

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        img = np.asarray(image_bgr)
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[:, :, 0]
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        height, width = img.shape[:2]
        if height == 0 or width == 0:
            return []
        parts = []
        for i, (x0, y0, w, h) in enumerate(self._windows(width, height)):
            boxes, kps, scores = self._run_window(img, x0, y0, w, h)
            if i:  # a tile: drop faces cut by an edge that is not the frame's own edge
                m = 2.0
                cut = (
                    ((boxes[:, 0] < x0 + m) & (x0 > 0))
                    | ((boxes[:, 1] < y0 + m) & (y0 > 0))
                    | ((boxes[:, 2] > x0 + w - m) & (x0 + w < width))
                    | ((boxes[:, 3] > y0 + h - m) & (y0 + h < height))
                )
                boxes, kps, scores = boxes[~cut], kps[~cut], scores[~cut]
            parts.append((boxes, kps, scores))
        boxes = np.concatenate([p[0] for p in parts])
        kps = np.concatenate([p[1] for p in parts])
        scores = np.concatenate([p[2] for p in parts])
        boxes, kps, scores = weighted_nms(boxes, kps, scores, self.nms_iou)
        faces: list[Face] = []
        for box, kp6, score in zip(boxes, kps, scores, strict=True):
            raw_w, raw_h = box[2] - box[0], box[3] - box[1]
            if min(raw_w, raw_h) < self.min_face_size:
                continue
            clipped = np.clip(box, 0, [width, height, width, height]).astype(np.float32)
            if clipped[2] - clipped[0] < 1 or clipped[3] - clipped[1] < 1:
                continue
            faces.append(
                Face(
                    box=clipped,
                    score=float(score),
                    landmarks=five_landmarks(kp6),
                    keypoints6=kp6.astype(np.float32),
                )
            )
        faces.sort(key=lambda f: -f.score)
        return faces


def create(runtime: str, **options: Any) -> Detector:
    """``runtime`` in :data:`RUNTIMES`. Options: ``variant`` ("full" | "short"), ``score_threshold``,
    ``min_face_size`` (px, smaller boxes dropped), ``tiles`` (0 = whole frame only), ``nms_iou``,
    and runtime options (``threads``, ``fp16`` for TensorRT)."""
    from core.models import ensure
    from core.runtimes import load_network

    if runtime not in RUNTIMES:
        raise BackendUnavailable(f"unknown runtime {runtime!r} for {MODEL}; have {', '.join(RUNTIMES)}")
    variant = options.pop("variant", DEFAULT_VARIANT)
    if variant not in VARIANTS:
        raise BackendUnavailable(f"unknown BlazeFace variant {variant!r}; have {', '.join(VARIANTS)}")
    names = ("score_threshold", "min_face_size", "tiles", "nms_iou")
    det_opts = {k: options.pop(k) for k in names if k in options}
    path = ensure(artifact_key(variant, _FORMAT[runtime]))
    net = load_network(runtime, path, **options)
    return BlazeFaceDetector(net, variant=variant, **det_opts)
