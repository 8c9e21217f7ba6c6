"""The served models: v2 tensors, input validation (decode pool) and batched inference (worker)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.deploy.protocol import (
    CROPS_INPUT,
    CROPS_JPEG_INPUT,
    CROPS_OUTPUT,
    FRAME_INPUT,
    InferRequest,
    ProtocolError,
    TensorSpec,
    crops_model_name,
    frame_model_name,
)
from core.deploy.server.limits import Limits
from core.errors import ImageError

SERVER_NAME = "facegate"
SERVER_VERSION = "0.2.0"


class Model:
    """A served model: its v2 tensors, input validation (connection thread) and batched inference (worker)."""

    name: str = ""
    version: str = "1"
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    max_batch_size: int = 1
    max_elements: int = 1

    def prepare(self, request: InferRequest) -> tuple[Any, int]:
        """Validate and decode a request's inputs: (work item, its batch size). Raises ProtocolError."""
        raise NotImplementedError

    def pixels(self, request: InferRequest) -> int:
        """Pixels the request's images will take once decoded, read without decoding (413 past limits)."""
        return 0

    def run_batch(self, items: Sequence[Any]) -> list[list[tuple[TensorSpec, np.ndarray]]]:
        """Run work items as one batch: each item's outputs, in ``outputs`` order."""
        raise NotImplementedError

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": SERVER_NAME,
            "inputs": [s.metadata() for s in self.inputs],
            "outputs": [s.metadata() for s in self.outputs],
        }

    def config(self) -> dict[str, Any]:
        """The model as Triton's ``/config`` describes one (dims without the batch dimension)."""

        def entry(s: TensorSpec) -> dict[str, Any]:
            return {
                "name": s.name,
                "data_type": f"TYPE_{'STRING' if s.datatype == 'BYTES' else s.datatype}",
                "dims": list(s.shape[1:]),
            }

        return {
            "name": self.name,
            "platform": SERVER_NAME,
            "max_batch_size": self.max_batch_size,
            "input": [entry(s) for s in self.inputs],
            "output": [entry(s) for s in self.outputs],
            "dynamic_batching": {},
            "parameters": self.parameters(),
        }

    def parameters(self) -> dict[str, dict[str, str]]:
        return {}


class CropsModel(Model):
    """``<model>_crops``: aligned RGB crops ``CROPS`` UINT8 [N, S, S, 3] -> ``EMBEDDINGS`` FP32 [N, D]."""

    def __init__(self, recognizer: Any, limits: Limits) -> None:
        self.recognizer = recognizer
        s, d = int(recognizer.input_size), int(recognizer.dim)
        self.size = s
        self.name = crops_model_name(recognizer.model)
        self.max_batch_size = limits.max_crops
        self.max_elements = limits.max_crops * s * s * 3
        self.inputs = (TensorSpec(CROPS_INPUT, "UINT8", (-1, s, s, 3)),)
        self.outputs = (TensorSpec(CROPS_OUTPUT, "FP32", (-1, d)),)

    def parameters(self) -> dict[str, dict[str, str]]:
        return {"recognizer": {"string_value": self.recognizer.key}}

    def prepare(self, request: InferRequest) -> tuple[Any, int]:
        t = request.inputs[CROPS_INPUT]
        s = self.size
        if len(t.shape) != 4 or t.shape[1:] != (s, s, 3):
            raise ProtocolError(
                f"{CROPS_INPUT} must have shape [N, {s}, {s}, 3] (RGB crops), got {list(t.shape)}"
            )
        n = t.shape[0]
        if n > self.max_batch_size:
            raise ProtocolError(f"{CROPS_INPUT}: batch of {n} crops, limit {self.max_batch_size}")
        return t.data, n

    def pixels(self, request: InferRequest) -> int:
        tensor = next(iter(request.inputs.values()))
        return int(tensor.shape[0] if tensor.shape else 0) * self.size * self.size

    def run_batch(self, items: Sequence[Any]) -> list[list[tuple[TensorSpec, np.ndarray]]]:
        sizes = [len(x) for x in items]
        crops = [x for x in items if len(x)]
        emb = (
            self.recognizer.embed_crops(np.concatenate(crops))
            if crops
            else np.zeros((0, self.recognizer.dim), np.float32)
        )
        out, pos = [], 0
        for n in sizes:
            out.append([(self.outputs[0], emb[pos : pos + n])])
            pos += n
        return out


class CropsJpegModel(CropsModel):
    """``<model>_crops_jpeg``: ``CROPS_JPEG`` BYTES [N, 1] (S x S JPEG/PNG crops) -> ``EMBEDDINGS`` [N, D]."""

    def __init__(self, recognizer: Any, limits: Limits) -> None:
        super().__init__(recognizer, limits)
        self.name = crops_model_name(recognizer.model, "jpeg")
        self.max_elements = limits.max_crops
        self.inputs = (TensorSpec(CROPS_JPEG_INPUT, "BYTES", (-1, 1)),)

    def prepare(self, request: InferRequest) -> tuple[Any, int]:
        import cv2

        t = request.inputs[CROPS_JPEG_INPUT]
        s = self.size
        if len(t.shape) not in (1, 2) or (len(t.shape) == 2 and t.shape[1] != 1):
            raise ProtocolError(
                f"{CROPS_JPEG_INPUT} must have shape [N, 1] of encoded crops, got {list(t.shape)}"
            )
        crops = []
        for i, data in enumerate(t.data):
            image = _decode(data, f"{CROPS_JPEG_INPUT}[{i}]", s * s)
            if image.shape[:2] != (s, s):
                raise ProtocolError(
                    f"{CROPS_JPEG_INPUT}[{i}]: crops must be {s}x{s} px, got "
                    f"{image.shape[1]}x{image.shape[0]}"
                )
            crops.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        n = len(crops)
        return (np.stack(crops) if crops else np.zeros((0, s, s, 3), np.uint8)), n


def _header_size(data: bytes, where: str, max_pixels: int) -> tuple[int, int]:
    """(width, height) of a JPEG or PNG from its header (only those: theirs give the size before
    decoding); 400 for anything else, 413 past ``max_pixels``."""
    from core.imageio import header_size

    size = header_size(data) if data[:2] == b"\xff\xd8" or data[:4] == b"\x89PNG" else None
    if size is None:
        raise ProtocolError(f"{where}: not a JPEG or PNG image ({len(data)} bytes)")
    if size[0] * size[1] > max_pixels:
        raise ProtocolError(
            f"{where}: image too large ({size[0]}x{size[1]} px, limit {max_pixels / 1e6:.1f} MP)", 413
        )
    return int(size[0]), int(size[1])


def _decode(data: bytes, where: str, max_pixels: int) -> np.ndarray:
    """A JPEG or PNG as BGR, within ``max_pixels`` (checked from the header first)."""
    from core.imageio import decode_image

    _header_size(data, where, max_pixels)
    try:
        return decode_image(data, where, max_pixels=max_pixels)
    except ImageError as err:
        raise ProtocolError(str(err)) from None


class FrameModel(Model):
    """``<model>_frame``: encoded images -> faces (boxes, scores, landmarks, embeddings), padded."""

    def __init__(self, detector: Any, recognizer: Any, limits: Limits) -> None:
        self.detector, self.recognizer = detector, recognizer
        self.max_pixels = limits.max_pixels
        self.max_request_pixels = limits.max_request_pixels
        d = int(recognizer.dim)
        self.name = frame_model_name(recognizer.model)
        self.max_batch_size = limits.max_frames
        self.max_elements = limits.max_frames
        self.inputs = (TensorSpec(FRAME_INPUT, "BYTES", (-1, 1)),)
        self.outputs = (
            TensorSpec("NUM_FACES", "INT32", (-1, 1)),
            TensorSpec("BOXES", "FP32", (-1, -1, 4)),
            TensorSpec("SCORES", "FP32", (-1, -1)),
            TensorSpec("LANDMARKS", "FP32", (-1, -1, 5, 2)),
            TensorSpec("EMBEDDINGS", "FP32", (-1, -1, d)),
        )

    def parameters(self) -> dict[str, dict[str, str]]:
        return {
            "detector": {"string_value": self.detector.key},
            "recognizer": {"string_value": self.recognizer.key},
        }

    def prepare(self, request: InferRequest) -> tuple[Any, int]:
        t = request.inputs[FRAME_INPUT]
        if len(t.shape) not in (1, 2) or (len(t.shape) == 2 and t.shape[1] != 1):
            raise ProtocolError(
                f"{FRAME_INPUT} must have shape [N, 1] (or [N]) of encoded images, got {list(t.shape)}"
            )
        n = t.shape[0]
        if n > self.max_batch_size:
            raise ProtocolError(f"{FRAME_INPUT}: batch of {n} images, limit {self.max_batch_size}")
        self.pixels(request)
        images = [_decode(data, f"{FRAME_INPUT}[{i}]", self.max_pixels) for i, data in enumerate(t.data)]
        return images, n

    def pixels(self, request: InferRequest) -> int:
        """Decoded pixels of the request's images, from their headers; 413 past the per-image or
        per-request limit (checked before any image is decoded)."""
        total = 0
        for i, data in enumerate(request.inputs[FRAME_INPUT].data):
            w, h = _header_size(data, f"{FRAME_INPUT}[{i}]", self.max_pixels)
            total += w * h
            if total > self.max_request_pixels:
                raise ProtocolError(
                    f"{FRAME_INPUT}: images of this request hold over {self.max_request_pixels / 1e6:.1f} MP "
                    f"(the per-request limit); send fewer or smaller frames",
                    413,
                )
        return total

    def run_batch(self, items: Sequence[Any]) -> list[list[tuple[TensorSpec, np.ndarray]]]:
        rec = self.recognizer
        per_item = []
        crops: list[np.ndarray] = []
        for images in items:
            found = []
            for image in images:
                faces = self.detector.detect(image)
                crops.extend(rec.align(image, f) for f in faces)
                found.append(faces)
            per_item.append(found)
        emb = rec.embed_crops(np.stack(crops)) if crops else np.zeros((0, rec.dim), np.float32)
        out, pos = [], 0
        for found in per_item:
            n, most = len(found), max((len(f) for f in found), default=0)
            counts = np.zeros((n, 1), np.int32)
            boxes = np.zeros((n, most, 4), np.float32)
            scores = np.zeros((n, most), np.float32)
            marks = np.full((n, most, 5, 2), np.nan, np.float32)
            embs = np.zeros((n, most, rec.dim), np.float32)
            for i, faces in enumerate(found):
                counts[i, 0] = len(faces)
                for j, f in enumerate(faces):
                    boxes[i, j] = np.asarray(f.box, np.float32)[:4]
                    scores[i, j] = f.score
                    if f.landmarks is not None:
                        marks[i, j] = np.asarray(f.landmarks, np.float32).reshape(5, 2)
                    embs[i, j] = emb[pos]
                    pos += 1
            out.append(list(zip(self.outputs, (counts, boxes, scores, marks, embs), strict=True)))
        return out
