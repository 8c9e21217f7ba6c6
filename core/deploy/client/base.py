"""What cloud and hybrid share (:class:`RemotePipeline`): the local pipeline's parts, the link, per-frame stats."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.deploy.client.errors import EndpointError
from core.deploy.client.transport import EndpointLink, Reply
from core.deploy.protocol import CROPS_OUTPUT
from core.types import Face, FrameResult

if TYPE_CHECKING:
    from core.gallery import Gallery
    from core.pipeline import Pipeline

FALLBACK_SUFFIX = "->local"


@dataclass
class _FrameNet:
    """What one frame cost on the network."""

    network_ms: float | None = None
    bytes_up: int | None = 0
    bytes_down: int | None = 0
    server_ms: float | None = None
    requests: int = 0
    fallback: bool = False

    def add(self, reply: Reply) -> None:
        self.network_ms = (self.network_ms or 0.0) + reply.network_ms
        self.bytes_up = (self.bytes_up or 0) + reply.bytes_up
        self.bytes_down = (self.bytes_down or 0) + reply.bytes_down
        if reply.server_ms is not None:
            self.server_ms = (self.server_ms or 0.0) + reply.server_ms
        self.requests += 1

    def lost(self, t0: float) -> None:
        """A failed request: its time counts, its bytes are unknown, the frame falls back."""
        self.network_ms = (self.network_ms or 0.0) + (time.perf_counter() - t0) * 1e3
        self.bytes_up = self.bytes_down = None
        self.fallback = True


class RemotePipeline:
    """What cloud and hybrid share: the local pipeline's parts, the endpoint link, per-frame stats."""

    mode = "remote"

    def __init__(self, local: Pipeline, link: EndpointLink) -> None:
        self.local = local
        self.link = link
        self.detector = local.detector
        self.recognizer = local.recognizer
        self._net = _FrameNet()

    @property
    def gallery(self) -> Gallery | None:
        return self.local.gallery

    @property
    def threshold(self) -> float:
        return float(self.local.threshold)

    @property
    def status(self) -> str:
        """One line for the GUI: the endpoint, or why frames run locally."""
        return self.link.status

    def frame_stats(self) -> dict[str, Any]:
        """The current frame's network measurements and the mode that really processed it."""
        n = self._net
        return {
            "mode": self.mode + (FALLBACK_SUFFIX if n.fallback else ""),
            "network_ms": n.network_ms,
            "bytes_up": n.bytes_up,
            "bytes_down": n.bytes_down,
            "server_ms": n.server_ms,
            "requests": n.requests,
            "status": self.link.status,
        }

    def _begin_frame(self) -> None:
        self._net = _FrameNet()

    def skip_frame(self) -> None:
        """A frame the engine handles without the pipeline (nothing moved: core/motion.py): nothing
        crossed the network for it."""
        self._begin_frame()

    def _fall_back(self, t0: float | None, reason: str) -> None:
        if t0 is not None:
            self._net.lost(t0)
        else:
            self._net.fallback = True
        self.link.failed(reason)

    def _check_embeddings(self, meta: dict[str, Any], model: str) -> int:
        """The embedding size the model's EMBEDDINGS output declares; it must be the local recognizer's."""
        out = {o.get("name"): o for o in meta.get("outputs", [])}
        emb = out.get(CROPS_OUTPUT)
        if emb is None or emb.get("datatype") != "FP32":
            raise EndpointError(f"{model} has no FP32 {CROPS_OUTPUT} output")
        dim = int(emb.get("shape", [-1])[-1])
        if dim not in (-1, self.recognizer.dim):
            raise EndpointError(
                f"{model} gives {dim}-d embeddings, the local gallery holds "
                f"{self.recognizer.dim}-d ({self.recognizer.model})"
            )
        return dim

    def match(self, faces: list[Face]) -> None:
        """Match against the local gallery (the gallery never leaves the site)."""
        self.local.match(faces)

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        raise NotImplementedError

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        raise NotImplementedError

    def process(
        self, image_bgr: np.ndarray, frame_index: int = 0, timestamp: float | None = None
    ) -> FrameResult:
        """detect -> embed every face -> match, like :meth:`core.pipeline.Pipeline.process`."""
        from core.pipeline import process_frame

        return process_frame(self, image_bgr, frame_index, timestamp)

    def close(self) -> None:
        """Stop the background probe and close connections; the pipeline reopens them if used again."""
        self.link.close()
