"""MTCNN face detector (Zhang et al. 2016), written once in numpy; P/R/O-Net run on any runtime.

The networks are the TF/Keras MTCNN of the ``mtcnn`` 1.0.0 package (the implementation the study
used), converted by :mod:`core.provision.mtcnn`. The glue follows that package's stages (P-Net
windows ``[2x + 1, 2x + 12]``, box regression before NMS, crops sampled like
``tf.image.crop_and_resize``, final NMS "Min"), vectorised for speed:

1. image pyramid from ``12 / min_face_size`` down by ``scale_factor`` while the short side >= 12 px;
2. P-Net on every level -> windows above ``thresholds[0]``, regressed, NMS 0.5 per level, NMS 0.7
   across levels, squared;
3. R-Net on all candidates as one batch of 24x24 crops (``cv2.remap`` samples them, a few hundred
   crops per call: OpenCV maps must stay under 32767 rows), regressed, ``thresholds[1]``, NMS 0.7,
   squared;
4. O-Net on 48x48 crops -> boxes, 5 landmarks, ``thresholds[2]``, NMS 0.7 "Min".

Inputs to the networks are RGB, ``(x - 127.5) / 128``, NHWC, in the image's own (rows, cols)
orientation (mtcnn 1.0.0 no longer transposes images as its 0.x versions did).

Options: ``min_face_size`` (px, default 40), ``scale_factor`` (0.709), ``thresholds`` (0.6, 0.7, 0.7),
``pyramid`` ("fast" | "area"), ``max_batch`` (256, R/O-Net chunk = the TensorRT profile maximum),
``max_pyramid_pixels`` (1.2 MP), plus runtime options (e.g. ``threads``).

- ``min_face_size`` 40: at 720p a door camera (70-90 degrees wide) sees a 16 cm wide face at 40-50 px
  from 3-3.5 m, as far away as a face is worth recognising (FaceNet wants 160 px crops; enrolment asks
  for more), and P-Net's work grows ~4x each time ``min_face_size`` halves (20 px: 2 more levels,
  ~4x the pixels). The ``mtcnn`` package defaults to 20 for arbitrary photos.
- ``pyramid`` "fast" (default) resizes each level bilinearly from a 2x2-area mip chain (ratio in
  (0.5, 1], near INTER_AREA quality, ~0.5 ms for a 720p pyramid); "area" uses exact INTER_AREA from
  the full frame like the ``mtcnn`` package (TF AREA), ~3 ms per level at 720p. MTCNN is sensitive
  to such pixel differences at the P-Net stage, so "area" reproduces the package's boxes more often.
- ``max_pyramid_pixels`` 1.2 MP bounds the largest pyramid level, so memory and time stay bounded
  whatever the photo's size: a 6000x4000 photo at ``min_face_size`` 20 would start P-Net on a
  3600x2400 level (2.4 GB, 20 s here). Past the bound the smallest face searched grows with the
  image (4000x3000: 38 px, 6000x4000: 54 px, i.e. ~1% of the long side), which P-Net sees on a
  reduced copy; R-Net and O-Net still crop the full-resolution image, boxes and landmarks are in
  its pixels, and recognition embeds from it. Frames up to 1080p at 20 px are not affected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.detectors import Detector
from core.errors import BackendUnavailable
from core.types import Face

MODEL = "mtcnn"

#: runtime -> artifact keys (pnet, rnet, onet)
RUNTIMES: dict[str, tuple[str, ...]] = {
    "onnxruntime": ("mtcnn/pnet-onnx", "mtcnn/rnet-onnx", "mtcnn/onet-onnx"),
    "tensorflow": ("mtcnn/pnet-savedmodel", "mtcnn/rnet-savedmodel", "mtcnn/onet-savedmodel"),
    "tflite": ("mtcnn/pnet-tflite", "mtcnn/rnet-tflite", "mtcnn/onet-tflite"),
    "tensorrt": ("mtcnn/pnet-onnx", "mtcnn/rnet-onnx", "mtcnn/onet-onnx"),
}

DEFAULTS: dict[str, Any] = {
    "min_face_size": 40,
    "scale_factor": 0.709,
    "thresholds": (0.6, 0.7, 0.7),
    "max_pyramid_pixels": 1_200_000,
}

_NORM = 1.0 / 128.0
_MEAN = 127.5
_MAP_ROWS = 32000  # cv2.remap needs maps and source under SHRT_MAX (32767) rows and columns


# ---------------------------------------------------------------------------------------- box math


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, highest score first.

    ``method`` "union" = IoU, "min" = intersection over the smaller area (MTCNN's last stage).
    """
    n = len(boxes)
    if n == 0:
        return np.empty(0, np.intp)
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, i]) for i in range(4))
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    use_min = method == "min"
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        if not rest.size:
            break
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.maximum(w, 0) * np.maximum(h, 0)
        if use_min:
            denom = np.minimum(area[i], area[rest])
        else:
            denom = area[i] + area[rest] - inter
        overlap = inter / np.maximum(denom, 1e-9)
        order = rest[overlap <= threshold]
    return np.asarray(keep, np.intp)


def square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre (side = the longer side)."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out = np.empty_like(boxes)
    out[:, 0] = boxes[:, 0] + 0.5 * (w - side)
    out[:, 1] = boxes[:, 1] + 0.5 * (h - side)
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply R/O-Net box offsets (fractions of the box size, mtcnn's ``w = x2 - x1 + 1``)."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes + reg * np.stack([w, h, w, h], axis=1)


def pyramid_scales(width: int, height: int, min_face_size: float, scale_factor: float) -> list[float]:
    """Scales from ``12 / min_face_size`` down by ``scale_factor`` while the short side stays >= 12 px."""
    if not 0.0 < scale_factor < 1.0:
        raise ValueError(f"scale_factor must be in (0, 1), got {scale_factor}")
    if min_face_size <= 0:
        raise ValueError(f"min_face_size must be > 0, got {min_face_size}")
    scale = 12.0 / float(min_face_size)
    short = min(width, height)
    scales = []
    while short * scale >= 12.0:
        scales.append(scale)
        scale *= scale_factor
    return scales


# ---------------------------------------------------------------------------------------- detector


class MTCNNDetector(Detector):
    """MTCNN over three :class:`core.runtimes.Network` objects (one per net) of one runtime."""

    def __init__(
        self,
        runtime: str,
        paths: tuple[Path, Path, Path],
        min_face_size: float = DEFAULTS["min_face_size"],
        scale_factor: float = DEFAULTS["scale_factor"],
        thresholds: tuple[float, float, float] = DEFAULTS["thresholds"],
        nms_thresholds: tuple[float, float, float, float] = (0.5, 0.7, 0.7, 0.7),
        max_batch: int = 256,
        pyramid: str = "fast",
        max_pyramid_pixels: int = DEFAULTS["max_pyramid_pixels"],
        **runtime_options: Any,
    ) -> None:
        from core.runtimes import base_runtime, load_network

        if len(thresholds) != 3:
            raise ValueError(f"thresholds needs 3 values (P, R, O-Net), got {thresholds!r}")
        self.runtime = runtime
        self.paths = tuple(Path(p) for p in paths)
        self.base_runtime = base_runtime(runtime)
        self.min_face_size = float(min_face_size)
        self.scale_factor = float(scale_factor)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.nms_thresholds = tuple(float(t) for t in nms_thresholds)
        self.max_batch = int(max_batch)
        if int(max_pyramid_pixels) < 144:
            raise ValueError(
                f"max_pyramid_pixels must be >= 144 (one 12x12 window), got {max_pyramid_pixels}"
            )
        self.max_pyramid_pixels = int(max_pyramid_pixels)
        if pyramid not in ("fast", "area"):
            raise ValueError(f"pyramid must be 'fast' or 'area', got {pyramid!r}")
        self.pyramid = pyramid
        # TFLite keeps one interpreter per input shape: round R/O-Net batches up to a power of two
        self._bucket = self.base_runtime == "tflite"
        self.pnet, self.rnet, self.onet = (
            load_network(self.base_runtime, p, **runtime_options) for p in self.paths
        )
        self._scales_key: tuple[int, int] | None = None
        self._scales: list[tuple[float, int, int]] = []

    # -------------------------------------------------------------------------------- stages

    def min_face_for(self, width: int, height: int) -> float:
        """Smallest face (px) searched in a ``width`` x ``height`` image: ``min_face_size``, or more
        where the first pyramid level would exceed ``max_pyramid_pixels``."""
        first = width * height * (12.0 / self.min_face_size) ** 2
        if first <= self.max_pyramid_pixels:
            return self.min_face_size
        return 12.0 * float(np.sqrt(width * height / self.max_pyramid_pixels))

    def _levels(self, width: int, height: int) -> list[tuple[float, int, int]]:
        """(scale, level width, level height) per pyramid level; cached per frame size."""
        if self._scales_key != (width, height):
            levels = []
            min_face = self.min_face_for(width, height)
            for s in pyramid_scales(width, height, min_face, self.scale_factor):
                lw, lh = int(width * s), int(height * s)  # truncated, as mtcnn does
                if min(lw, lh) >= 12:
                    levels.append((s, lw, lh))
            self._scales = levels
            self._scales_key = (width, height)
        return self._scales

    @staticmethod
    def _normalise(bgr: np.ndarray) -> np.ndarray:
        """BGR uint8 (..., 3) -> RGB float32 (x - 127.5) / 128."""
        out = bgr[..., ::-1].astype(np.float32)
        out -= _MEAN
        out *= _NORM
        return out

    @staticmethod
    def _resize(mips: list[np.ndarray], width: int, height: int) -> np.ndarray:
        """Resize from the smallest mip level (image halved by 2x2 area averages) that is still at
        least as large as the target, with bilinear interpolation: the ratio is then in (0.5, 1],
        so this is close to INTER_AREA from the full image (mtcnn uses TF's AREA) at a fraction of
        the cost (OpenCV's generic non-integer INTER_AREA takes ~3 ms on 720p)."""
        src = mips[0]
        if width < src.shape[1] // 2 and height < src.shape[0] // 2:
            while True:
                last = mips[-1]
                if width >= last.shape[1] // 2 or height >= last.shape[0] // 2:
                    break
                half = (last.shape[1] // 2, last.shape[0] // 2)
                mips.append(cv2.resize(last, half, interpolation=cv2.INTER_AREA))
            src = next(m for m in reversed(mips) if m.shape[1] >= width and m.shape[0] >= height)
        if src.shape[1] == width and src.shape[0] == height:
            return src
        return cv2.resize(src, (width, height), interpolation=cv2.INTER_LINEAR)

    def _stage1(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        levels = self._levels(width, height)
        t0 = self.thresholds[0]
        found = []
        mips = [image]
        for s, lw, lh in levels:
            if self.pyramid == "area":
                interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
                level = cv2.resize(image, (lw, lh), interpolation=interp)
            else:
                level = self._resize(mips, lw, lh)
            reg, prob = self.pnet.run(self._normalise(level)[None])
            score = prob[0, :, :, 1]
            ys, xs = np.nonzero(score > t0)
            if ys.size == 0:
                continue
            r = reg[0, ys, xs].astype(np.float32)
            # window of cell (y, x): [2x + 1, 2x + 12] (mtcnn's convention), regressed by its size 11
            gx = xs.astype(np.float32) * 2.0
            gy = ys.astype(np.float32) * 2.0
            boxes = np.stack(
                [
                    gx + 1.0 + r[:, 0] * 11.0,
                    gy + 1.0 + r[:, 1] * 11.0,
                    gx + 12.0 + r[:, 2] * 11.0,
                    gy + 12.0 + r[:, 3] * 11.0,
                ],
                axis=1,
            ) / np.float32(s)
            scores = score[ys, xs].astype(np.float32)
            valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            boxes, scores = boxes[valid], scores[valid]
            keep = nms(boxes, scores, self.nms_thresholds[0], "union")
            found.append((boxes[keep], scores[keep]))
        if not found:
            return np.empty((0, 5), np.float32)
        boxes = np.concatenate([b for b, _ in found])
        scores = np.concatenate([s for _, s in found])
        keep = nms(boxes, scores, self.nms_thresholds[1], "union")
        return np.concatenate([square(boxes[keep]), scores[keep, None]], axis=1)

    def _crops(self, image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
        """Sample ``size`` x ``size`` RGB-normalised crops of ``boxes`` like ``tf.image.crop_and_resize``
        (bilinear, outside the image = 0 after normalisation).

        ``cv2.remap`` samples the crops, in chunks: one call for all of them fails past ~1365 R-Net
        crops (maps must stay under 32767 rows), which a detailed photo easily produces. Each call
        reads only the region its boxes cover, so images over 32767 px wide work too.
        """
        height, width = image.shape[:2]
        n = len(boxes)
        step = np.arange(size, dtype=np.float32) / np.float32(size - 1)
        fx, fy = np.float32((width - 1) / width), np.float32((height - 1) / height)
        x1, y1 = boxes[:, 0:1] * fx, boxes[:, 1:2] * fy
        xs = x1 + (boxes[:, 2:3] * fx - x1) * step  # (n, size)
        ys = y1 + (boxes[:, 3:4] * fy - y1) * step
        patches = np.empty((n, size, size, 3), np.uint8)
        chunk = max(1, _MAP_ROWS // size)
        for start in range(0, n, chunk):
            sl = slice(start, min(start + chunk, n))
            patches[sl] = self._sample(image, xs[sl], ys[sl])
        return self._normalise(patches)

    @classmethod
    def _sample(cls, image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Bilinear samples ``image[ys[i, r], xs[i, c]]`` -> (n, size, size, 3) uint8, grey outside."""
        height, width = image.shape[:2]
        n, size = xs.shape
        # the source region these crops read (+1 px for the bilinear neighbour)
        c0 = int(np.clip(np.floor(xs.min()), 0, width - 1))
        c1 = int(np.clip(np.floor(xs.max()) + 2, 1, width))
        r0 = int(np.clip(np.floor(ys.min()), 0, height - 1))
        r1 = int(np.clip(np.floor(ys.max()) + 2, 1, height))
        if c1 - c0 >= _MAP_ROWS or r1 - r0 >= _MAP_ROWS:
            if n > 1:  # split until each call's region fits
                half = n // 2
                return np.concatenate(
                    [cls._sample(image, xs[:half], ys[:half]), cls._sample(image, xs[half:], ys[half:])]
                )
            # one box over 32000 px: take every k-th pixel first (it becomes a 24-48 px crop anyway)
            k = int(np.ceil(max(c1 - c0, r1 - r0) / (_MAP_ROWS - 1)))
            region = image[r0:r1:k, c0:c1:k]
            return cls._remap(region, (xs - c0) / k, (ys - r0) / k, n, size)
        return cls._remap(image[r0:r1, c0:c1], xs - c0, ys - r0, n, size)

    @staticmethod
    def _remap(region: np.ndarray, xs: np.ndarray, ys: np.ndarray, n: int, size: int) -> np.ndarray:
        map_x = np.broadcast_to(xs[:, None, :], (n, size, size)).reshape(n * size, size)
        map_y = np.broadcast_to(ys[:, :, None], (n, size, size)).reshape(n * size, size)
        patches = cv2.remap(
            region,
            np.ascontiguousarray(map_x, np.float32),
            np.ascontiguousarray(map_y, np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(128, 128, 128),
        )
        return patches.reshape(n, size, size, 3)

    def _run_batched(self, net: Any, patches: np.ndarray) -> list[np.ndarray]:
        n = len(patches)
        outs: list[list[np.ndarray]] = []
        for start in range(0, n, self.max_batch):
            chunk = patches[start : start + self.max_batch]
            m = len(chunk)
            if self._bucket:
                target = min(1 << (m - 1).bit_length(), self.max_batch)
                if target > m:
                    pad = np.zeros((target - m, *chunk.shape[1:]), np.float32)
                    chunk = np.concatenate([chunk, pad])
            got = net.run(chunk)
            outs.append([np.asarray(o)[:m] for o in got])
        return [np.concatenate(parts) for parts in zip(*outs, strict=True)]

    def _stage2(self, image: np.ndarray, cand: np.ndarray) -> np.ndarray:
        reg, prob = self._run_batched(self.rnet, self._crops(image, cand[:, :4], 24))
        scores = prob[:, 1]
        ok = scores > self.thresholds[1]
        if not ok.any():
            return np.empty((0, 5), np.float32)
        boxes = regress(cand[ok, :4], reg[ok])
        scores = scores[ok]
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[valid], scores[valid]
        keep = nms(boxes, scores, self.nms_thresholds[2], "union")
        return np.concatenate([square(boxes[keep]), scores[keep, None]], axis=1).astype(np.float32)

    def _stage3(self, image: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        reg, lms, prob = self._run_batched(self.onet, self._crops(image, cand[:, :4], 48))
        scores = prob[:, 1]
        ok = scores > self.thresholds[2]
        cand, reg, lms, scores = cand[ok, :4], reg[ok], lms[ok], scores[ok]
        w = cand[:, 2:3] - cand[:, 0:1] + 1
        h = cand[:, 3:4] - cand[:, 1:2] + 1
        lx = w * lms[:, 0:5] + cand[:, 0:1] - 1
        ly = h * lms[:, 5:10] + cand[:, 1:2] - 1
        boxes = regress(cand, reg)
        keep = nms(boxes, scores, self.nms_thresholds[3], "min")
        return boxes[keep], scores[keep], np.stack([lx[keep], ly[keep]], axis=2)

    # -------------------------------------------------------------------------------- API

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        image = np.asarray(image_bgr)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
            raise ValueError(f"expected a BGR image (H, W, 3), got shape {image.shape}")
        if image.dtype != np.uint8:
            image = np.clip(image, 0, 255).astype(np.uint8)
        image = np.ascontiguousarray(image)
        height, width = image.shape[:2]
        cand = self._stage1(image)
        if len(cand):
            cand = self._stage2(image, cand)
        if not len(cand):
            return []
        boxes, scores, landmarks = self._stage3(image, cand)
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width - 1)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height - 1)
        order = np.argsort(-scores, kind="stable")
        return [
            Face(
                box=boxes[i].astype(np.float32),
                score=float(scores[i]),
                landmarks=landmarks[i].astype(np.float32),
            )
            for i in order
            if boxes[i, 2] > boxes[i, 0] and boxes[i, 3] > boxes[i, 1]
        ]


def create(runtime: str, **options: Any) -> Detector:
    """Build the detector for ``runtime`` (its network files are provisioned on first use)."""
    if runtime not in RUNTIMES:
        raise BackendUnavailable(f"unknown runtime {runtime!r} for mtcnn; have {', '.join(RUNTIMES)}")
    from core.models import ensure

    paths = tuple(ensure(key) for key in RUNTIMES[runtime])
    return MTCNNDetector(runtime, paths, **options)  # type: ignore[arg-type]
