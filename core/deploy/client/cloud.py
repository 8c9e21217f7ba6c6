"""Cloud mode: whole frames (JPEG) to ``<model>_frame``; boxes, landmarks and embeddings back; match locally."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from core.deploy.client.base import RemotePipeline
from core.deploy.client.errors import EndpointError, describe
from core.deploy.client.transport import EndpointLink
from core.deploy.protocol import FRAME_INPUT, FRAME_OUTPUTS, frame_model_name
from core.errors import FaceGateError
from core.types import Face

if TYPE_CHECKING:
    from core.pipeline import Pipeline


class CloudPipeline(RemotePipeline):
    """Whole frames (JPEG) to ``<model>_frame``; boxes, landmarks and embeddings back; match locally."""

    mode = "cloud"

    def __init__(self, local: Pipeline, link: EndpointLink, jpeg_quality: int = 85) -> None:
        super().__init__(local, link)
        self.jpeg_quality = int(jpeg_quality)
        self.model_name = frame_model_name(self.recognizer.model)

    def _check(self, meta: dict[str, Any]) -> int:
        ins = {i.get("name"): i for i in meta.get("inputs", [])}
        if ins.get(FRAME_INPUT, {}).get("datatype") != "BYTES":
            raise EndpointError(f"{self.model_name} has no BYTES {FRAME_INPUT} input")
        names = {o.get("name") for o in meta.get("outputs", [])}
        missing = [o for o in FRAME_OUTPUTS if o not in names]
        if missing:
            raise EndpointError(f"{self.model_name} lacks outputs {missing}")
        return self._check_embeddings(meta, self.model_name)

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        self._begin_frame()
        if not self.link.available():
            self._net.fallback = True
            return self.local.detect(image_bgr)
        t0 = time.perf_counter()
        try:
            faces = self._remote_detect(image_bgr)
        except EndpointError as err:
            self._fall_back(t0, str(err))
            return self.local.detect(image_bgr)
        except Exception as err:  # noqa: BLE001 - metadata calls raise tritonclient/socket errors
            self._fall_back(t0, describe(err))
            return self.local.detect(image_bgr)
        return faces

    def _remote_detect(self, image_bgr: np.ndarray) -> list[Face]:
        import cv2
        import tritonclient.http as httpclient

        self.link.model(self.model_name, self._check)
        ok, jpeg = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise FaceGateError("cannot encode the frame as JPEG")
        data = jpeg.tobytes()
        inp = httpclient.InferInput(FRAME_INPUT, [1, 1], "BYTES")
        inp.set_data_from_numpy(np.array([[data]], dtype=np.object_), binary_data=True)
        reply = self.link.infer(self.model_name, [inp], list(FRAME_OUTPUTS), bytes_up=4 + len(data))
        self._net.add(reply)
        o = reply.outputs
        try:
            n = int(np.asarray(o["NUM_FACES"]).reshape(-1)[0])
            boxes = np.asarray(o["BOXES"], np.float32).reshape(1, -1, 4)[0]
            f = len(boxes)
            scores = np.asarray(o["SCORES"], np.float32).reshape(1, f)[0]
            marks = np.asarray(o["LANDMARKS"], np.float32).reshape(1, f, 5, 2)[0]
            embs = np.asarray(o["EMBEDDINGS"], np.float32)
            embs = embs.reshape(1, f, embs.shape[-1])[0]
        except (ValueError, IndexError, KeyError) as err:
            raise EndpointError(f"{self.model_name}: malformed answer ({err})") from None
        if not 0 <= n <= len(boxes) or embs.shape[-1] != self.recognizer.dim:
            raise EndpointError(
                f"{self.model_name}: answer holds {n} faces of {embs.shape[-1]}-d, "
                f"expected <= {len(boxes)} of {self.recognizer.dim}-d"
            )
        faces = []
        for i in range(n):
            lm = marks[i] if np.all(np.isfinite(marks[i])) else None
            e = embs[i] / max(float(np.linalg.norm(embs[i])), 1e-12)
            face = Face(
                box=boxes[i].copy(),
                score=float(scores[i]),
                landmarks=None if lm is None else lm.copy(),
                embedding=e.astype(np.float32),
            )
            face.embedded_by = self.mode
            faces.append(face)
        return faces

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Embeddings came with the faces; faces detected locally (fallback frames) are embedded here."""
        todo = [f for f in faces if f.embedding is None]
        if todo:
            self.recognizer.embed(image_bgr, todo)
        if not faces:
            return np.zeros((0, self.recognizer.dim), np.float32)
        return np.stack([np.asarray(f.embedding) for f in faces])
