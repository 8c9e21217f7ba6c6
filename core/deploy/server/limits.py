"""What one request may ask of the endpoint (:class:`Limits`) and server-wide budgets (:class:`Budget`)."""

from __future__ import annotations

import threading

from core.config import ServeLimits

# the endpoint's limits are a section of the one configuration (core/config.py: ``Config.serve``)
Limits = ServeLimits


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
