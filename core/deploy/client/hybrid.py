"""Hybrid mode: detect (and track) and align locally, embed the crops remotely in one batch, match locally."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from core.deploy.client.base import FALLBACK_SUFFIX, RemotePipeline
from core.deploy.client.errors import EndpointError, describe
from core.deploy.client.transport import EndpointLink
from core.deploy.protocol import CROPS_INPUT, CROPS_JPEG_INPUT, CROPS_OUTPUT, crops_model_name
from core.types import Face

if TYPE_CHECKING:
    from core.pipeline import Pipeline


class HybridPipeline(RemotePipeline):
    """Detect (and track) locally; align crops locally; embed them remotely in one batch; match locally."""

    mode = "hybrid"

    def __init__(
        self, local: Pipeline, link: EndpointLink, crop_format: str = "raw", crop_quality: int = 90
    ) -> None:
        super().__init__(local, link)
        self.crop_format, self.crop_quality = crop_format, int(crop_quality)
        self.model_name = crops_model_name(self.recognizer.model, crop_format)

    def _check(self, meta: dict[str, Any]) -> int:
        s = int(self.recognizer.input_size)
        ins = {i.get("name"): i for i in meta.get("inputs", [])}
        if self.crop_format == "jpeg":
            if ins.get(CROPS_JPEG_INPUT, {}).get("datatype") != "BYTES":
                raise EndpointError(f"{self.model_name} has no BYTES {CROPS_JPEG_INPUT} input")
            return self._check_embeddings(meta, self.model_name)
        crops = ins.get(CROPS_INPUT)
        if (
            crops is None
            or crops.get("datatype") != "UINT8"
            or list(crops.get("shape", []))[-3:] != [s, s, 3]
        ):
            raise EndpointError(
                f"{self.model_name} needs a UINT8 {CROPS_INPUT} input of [N, {s}, {s}, 3]; it has {crops}"
            )
        return self._check_embeddings(meta, self.model_name)

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        self._begin_frame()
        if not self.link.available():
            self._net.fallback = True  # the CSV shows the outage on every frame, not only on requests
        return self.local.detect(image_bgr)

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Align ``faces`` here, embed the crops on the endpoint (locally if it fails); sets ``embedding``."""
        rec = self.recognizer
        if not faces:
            return np.zeros((0, rec.dim), np.float32)
        crops = np.stack([rec.align(image_bgr, f) for f in faces])
        emb = None
        if not self._net.fallback and self.link.available():
            t0 = time.perf_counter()
            try:
                emb = self._remote_embed(crops)
            except EndpointError as err:
                self._fall_back(t0, str(err))
            except Exception as err:  # noqa: BLE001 - metadata calls raise tritonclient/socket errors
                self._fall_back(t0, describe(err))
        else:
            self._net.fallback = True
        if emb is None:
            emb = rec.embed_crops(crops)
        for f, e in zip(faces, emb, strict=True):
            f.embedding = e
            f.embedded_by = self.mode + (FALLBACK_SUFFIX if self._net.fallback else "")
        return emb

    def _remote_embed(self, crops: np.ndarray) -> np.ndarray:
        import tritonclient.http as httpclient

        info = self.link.model(self.model_name, self._check)
        out = []
        for i in range(0, len(crops), info.max_batch):
            part = np.ascontiguousarray(crops[i : i + info.max_batch], np.uint8)
            if self.crop_format == "jpeg":
                import cv2

                params = [cv2.IMWRITE_JPEG_QUALITY, self.crop_quality]
                blobs = [
                    cv2.imencode(".jpg", cv2.cvtColor(c, cv2.COLOR_RGB2BGR), params)[1].tobytes()
                    for c in part
                ]
                inp = httpclient.InferInput(CROPS_JPEG_INPUT, [len(blobs), 1], "BYTES")
                inp.set_data_from_numpy(np.array(blobs, dtype=np.object_).reshape(-1, 1), binary_data=True)
                size = sum(4 + len(b) for b in blobs)
            else:
                inp = httpclient.InferInput(CROPS_INPUT, list(part.shape), "UINT8")
                inp.set_data_from_numpy(part, binary_data=True)
                size = part.nbytes
            reply = self.link.infer(self.model_name, [inp], [CROPS_OUTPUT], bytes_up=size)
            self._net.add(reply)
            emb = np.asarray(reply.outputs[CROPS_OUTPUT], np.float32)
            if emb.shape != (len(part), self.recognizer.dim):
                raise EndpointError(
                    f"{self.model_name}: {list(emb.shape)} embeddings for {len(part)} crops, "
                    f"expected [{len(part)}, {self.recognizer.dim}]"
                )
            out.append(emb)
        emb = np.concatenate(out)
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        if not np.all(np.isfinite(emb)) or np.any(norms < 1e-6):
            raise EndpointError(f"{self.model_name}: answer holds non-finite or zero embeddings")
        return emb / norms
