"""FaceNet glue shared by the 128-d and 512-d models: alignment, normalisation, batching.

Written once in numpy/OpenCV; a runtime only runs the network file (``core.runtimes``), so every
runtime sees the same crops and the same input tensor.

Alignment (``align=``). Both FaceNets were trained on Sandberg's ``align_dataset_mtcnn`` crops:
MTCNN's box grown by a margin on both axes and resized to a square *without* keeping its aspect.
MTCNN's boxes are taller than wide (median w/h :data:`BOX_ASPECT` = 0.73 on the real photos), so
training faces are stretched sideways by ~1.3x; on the 5-celebrity photos this framing beat a
square crop and an undistorted 5-point alignment for both models (``benchmarks/facenet_accuracy.py``).

- ``"landmarks"``: a similarity transform (rotation, uniform scale, translation; least squares over
  the 5 points, ``cv2.estimateAffinePartial2D``) maps the detector's landmarks onto
  :data:`TEMPLATE` (the mean MTCNN landmarks relative to MTCNN's box), then the crop gets the
  training stretch of a mean MTCNN box (grown by ``margin``). Eyes levelled, scale from 5 points,
  same framing as the training crops on average; independent of the detector's box style.
- ``"box"``: Sandberg's crop exactly: the box grown by ``margin`` x (w + h) / 2 on both axes,
  resized to ``input_size`` (aspect not kept). Used whenever a face has no landmarks.

Normalisation (``norm=``): ``"prewhiten"`` (per-crop mean/std, Sandberg's ``prewhiten`` and
Taniai's notebook) or ``"fixed"`` ((x - 127.5) / 128, Sandberg's ``fixed_image_standardization``).
The network outputs a raw embedding; it is L2-normalised here.

The per-model choice (margin, alignment, normalisation, threshold) lives in ``facenet128.py`` and
``facenet512.py``, each with the measurement that chose it (``benchmarks/facenet_accuracy.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import BackendUnavailable
from core.recognizers import Recognizer, l2_normalize
from core.types import Face

#: Mean MTCNN landmarks (left eye, right eye, nose, mouth left, mouth right as seen in the image)
#: relative to MTCNN's box centre, in units of the box height, measured with the reference
#: ``mtcnn`` package on the 117 celebrity photos where it finds a face (largest face each;
#: ``benchmarks/facenet_accuracy.py --template``), made left-right symmetric.
TEMPLATE = np.array(
    [
        [-0.1654, -0.1157],
        [0.1654, -0.1157],
        [0.0000, 0.0899],
        [-0.1491, 0.2452],
        [0.1491, 0.2452],
    ],
    np.float32,
)
#: median width / height of MTCNN's boxes on the same photos (5th-95th percentile 0.66-0.82)
BOX_ASPECT = 0.73


def box_matrix(box: np.ndarray, size: int, margin: float) -> np.ndarray:
    """2x3 affine matrix: Sandberg's crop, box grown by margin x (w + h) / 2 on both axes -> square."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    grow = margin * (w + h) / 2.0
    sx, sy = size / (w + grow), size / (h + grow)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    return np.array([[sx, 0.0, size / 2.0 - sx * cx], [0.0, sy, size / 2.0 - sy * cy]], np.float64)


def crop_frame(margin: float, aspect: float = BOX_ASPECT) -> tuple[float, float]:
    """Crop width and height in units of a mean MTCNN box's height."""
    grow = margin * (aspect + 1.0) / 2.0
    return aspect + grow, 1.0 + grow


def landmark_matrix(
    landmarks: np.ndarray,
    size: int,
    margin: float,
    template: np.ndarray = TEMPLATE,
    aspect: float = BOX_ASPECT,
) -> np.ndarray | None:
    """Similarity landmarks -> template (crop of height ``size``), then the training stretch in x."""
    src = np.asarray(landmarks, np.float32).reshape(-1, 2)
    if len(src) < 2 or not np.all(np.isfinite(src)):
        return None
    width, height = crop_frame(margin, aspect)
    dst = (np.asarray(template, np.float32)[: len(src)] / height + 0.5) * size  # isotropic frame
    # a huge RANSAC threshold keeps every point an inlier: the result is the refined least-squares fit
    m, _ = cv2.estimateAffinePartial2D(
        src, dst.astype(np.float32), method=cv2.RANSAC, ransacReprojThreshold=1e6, refineIters=50
    )
    if m is None or not np.all(np.isfinite(m)) or abs(np.linalg.det(m[:, :2])) < 1e-8:
        return None
    stretch = height / width  # x scale about the crop centre
    d = np.array([[stretch, 0.0, size / 2.0 * (1.0 - stretch)], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return (d @ np.vstack([m, [0.0, 0.0, 1.0]]))[:2].astype(np.float64)


def warp(image: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """Warp ``image`` with the 2x3 matrix ``m`` into (size, size), antialiasing strong shrinks."""
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    # shrink the needed region with INTER_AREA first, then warp at ~1:1
    if scale < 0.7 and min(image.shape[:2]) > 1:
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inv.T
        h, w = image.shape[:2]
        x0 = int(np.clip(np.floor(corners[:, 0].min()) - 2, 0, w - 1))
        y0 = int(np.clip(np.floor(corners[:, 1].min()) - 2, 0, h - 1))
        x1 = int(np.clip(np.ceil(corners[:, 0].max()) + 2, x0 + 1, w))
        y1 = int(np.clip(np.ceil(corners[:, 1].max()) + 2, y0 + 1, h))
        region = image[y0:y1, x0:x1]
        f = scale
        rw, rh = max(1, round(region.shape[1] * f)), max(1, round(region.shape[0] * f))
        fx, fy = rw / region.shape[1], rh / region.shape[0]
        region = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA)
        # src = (src' / f) + origin  ->  m' = m . [[1/fx, 0, x0], [0, 1/fy, y0]]
        a = m[:, :2]
        m = np.concatenate([a @ np.diag([1.0 / fx, 1.0 / fy]), (a @ [x0, y0] + m[:, 2])[:, None]], axis=1)
        image = region
    return cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)
    )


def crop(
    image_bgr: np.ndarray, face: Face, size: int = 160, align: str = "landmarks", margin: float = 0.2
) -> np.ndarray:
    """Aligned (size, size, 3) RGB uint8 crop of ``face`` (see the module docstring)."""
    m = None
    if align == "landmarks" and face.landmarks is not None:
        m = landmark_matrix(face.landmarks, size, margin)
    if m is None:
        m = box_matrix(face.box, size, margin)
    out = warp(image_bgr, m, size)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB) if out.ndim == 3 else cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)


def normalize(crops_rgb: np.ndarray, norm: str) -> np.ndarray:
    """(N, S, S, 3) uint8 -> float32 network input."""
    x = np.asarray(crops_rgb, np.float32)
    if norm == "fixed":
        return (x - 127.5) / 128.0
    if norm == "prewhiten":
        axes = tuple(range(1, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        std = x.std(axis=axes, keepdims=True)
        std = np.maximum(std, 1.0 / np.sqrt(x[0].size))
        return (x - mean) / std
    raise ValueError(f"unknown normalisation {norm!r} (prewhiten or fixed)")


class FaceNetRecognizer(Recognizer):
    """One FaceNet network on one runtime, with the model's alignment and normalisation."""

    closed = False  # close() ran: a switch replaced it

    def __init__(
        self,
        model: str,
        runtime: str,
        path: Path,
        dim: int,
        threshold: float,
        *,
        align: str = "landmarks",
        margin: float = 0.2,
        norm: str = "prewhiten",
        max_batch: int = 32,
        **options: Any,
    ) -> None:
        from core.runtimes import base_runtime, load_network

        if align not in ("landmarks", "box"):
            raise BackendUnavailable(f"{model}: unknown align {align!r} (landmarks or box)")
        if norm not in ("prewhiten", "fixed"):
            raise BackendUnavailable(f"{model}: unknown norm {norm!r} (prewhiten or fixed)")
        self.model = model
        self.key = f"{model}:{runtime}"
        self.runtime = runtime
        self.dim = dim
        self.input_size = 160
        self.default_threshold = threshold
        self.align_mode, self.margin, self.norm = align, float(margin), norm
        self.max_batch = max(1, int(max_batch))
        self.network = load_network(base_runtime(runtime), path, **options)

    def close(self) -> None:
        """Release the network (a switch replaced this recognizer); it cannot embed after."""
        network, self.closed = self.network, True
        network.close()

    def align(self, image_bgr: np.ndarray, face: Face) -> np.ndarray:
        return crop(image_bgr, face, self.input_size, self.align_mode, self.margin)

    def preprocess(self, crops_rgb: np.ndarray) -> np.ndarray:
        return normalize(crops_rgb, self.norm)

    def embed_crops(self, crops_rgb: np.ndarray) -> np.ndarray:
        crops_rgb = np.asarray(crops_rgb)
        if crops_rgb.ndim == 3:
            crops_rgb = crops_rgb[None]
        n = len(crops_rgb)
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        s = self.input_size
        if crops_rgb.shape[1:] != (s, s, 3):
            raise ValueError(f"{self.key}: crops must be (N, {s}, {s}, 3) RGB uint8, got {crops_rgb.shape}")
        outs = []
        for i in range(0, n, self.max_batch):
            x = self.preprocess(crops_rgb[i : i + self.max_batch])
            outs.append(np.asarray(self.network.run(x)[0], np.float32).reshape(len(x), -1))
        return l2_normalize(np.concatenate(outs))


def make(
    model: str,
    dim: int,
    threshold: float,
    defaults: dict[str, Any],
    runtimes: dict[str, tuple[str, ...]],
    runtime: str,
    **options: Any,
) -> FaceNetRecognizer:
    """``create()`` of a FaceNet family module: provisions the runtime's file and loads it."""
    if runtime not in runtimes:
        raise BackendUnavailable(f"unknown runtime {runtime!r} for {model}; have {', '.join(runtimes)}")
    from core.models import ensure

    path = ensure(runtimes[runtime][0])
    kw = {**defaults, **options}
    return FaceNetRecognizer(model, runtime, path, dim, kw.pop("threshold", threshold), **kw)
