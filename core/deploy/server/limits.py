"""What one request may ask of the endpoint (:class:`Limits`) and server-wide budgets (:class:`Budget`)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, fields
from typing import Any

from core.errors import FaceGateError


@dataclass
class Limits:
    """What one request may ask of the endpoint, and how long it may take. Sizes in bytes/px, times in s."""

    max_body_mb: float = 16.0  # whole HTTP body (413 past it)
    max_pixels: int = 4096 * 4096  # per decoded image, read from the header before decoding (413)
    max_request_pixels: int = 4096 * 4096  # all images of one request together (413)
    max_pixels_in_flight: int = 2 * 4096 * 4096  # decoded pixels held by all requests at once (429)
    max_bytes_in_flight_mb: float = 64.0  # request bodies held by all requests at once (429)
    max_frames: int = 8  # images per frame-model request (400)
    max_crops: int = 64  # crops per crops-model request (400)
    read_timeout_s: float = 10.0  # to receive a request's head, and then its body (408 / closed)
    idle_timeout_s: float = 120.0  # a keep-alive connection idle this long is closed
    infer_timeout_s: float = 30.0  # longest a request waits for its batch to run (503)
    max_connections: int = 4096  # open connections (idle ones cost a descriptor); past it requests get 503
    max_queue: int = 64  # requests waiting per model; more are answered 429
    instances: int = 1  # worker threads per model (Triton's instance_group count)
    decode_workers: int = 2  # threads parsing bodies and decoding images (all models together)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 2**20)

    @property
    def max_bytes_in_flight(self) -> int:
        return int(self.max_bytes_in_flight_mb * 2**20)

    @classmethod
    def from_args(cls, args: Any = None) -> Limits:
        """Each limit from ``args.<name>`` if set, else ``FACEGATE_SERVE_<NAME>``, else the default."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = getattr(args, f.name, None) if args is not None else None
            if value is None:
                value = os.environ.get(f"FACEGATE_SERVE_{f.name.upper()}")
            if value is None:
                continue
            kind = int if f.type in ("int", int) else float
            try:
                number = kind(value)
            except (TypeError, ValueError):
                raise FaceGateError(f"serve: {f.name} must be a number, not {value!r}") from None
            if number <= 0:
                raise FaceGateError(f"serve: {f.name} must be positive, not {value!r}")
            values[f.name] = number
        return cls(**values)


class Budget:
    """A thread-safe count of something held (bytes, pixels) with a ceiling; ``take`` never blocks."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.held = 0
        self._lock = threading.Lock()

    def take(self, amount: int) -> bool:
        with self._lock:
            if self.held + amount > self.limit:
                return False
            self.held += amount
            return True

    def give(self, amount: int) -> None:
        with self._lock:
            self.held -= amount
