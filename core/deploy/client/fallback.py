"""Falling back and coming back: an endpoint's health, and the background probe that sees it answer again.

A request that fails makes the link "down": frames run locally and a probe thread checks (server ready
+ every model in use answers its metadata) every ``probe_every_s``, backing off to :data:`MAX_PROBE_S`
while checks keep failing; the first frame after a check that passed goes to the endpoint again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from core.deploy.client.errors import describe

log = logging.getLogger(__name__)

MAX_PROBE_S = 30.0


class EndpointHealth:
    """Health state and probe of :class:`core.deploy.client.transport.EndpointLink` (its base class)."""

    endpoint: str
    timeout_s: float
    status: str
    _lock: threading.Lock
    _clients: list[Any]
    _models: dict[str, Any]

    def _init_health(self, probe_every_s: float | None) -> None:
        self.probe_every_s = float(probe_every_s) if probe_every_s else min(max(self.timeout_s, 0.5), 5.0)
        self._up = True  # optimistic until a request fails
        self._recovered = threading.Event()
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None
        self._probe_delay = self.probe_every_s
        self._streak = 0  # fallbacks since the last successful request (probe back-off)
        self.watch: list[str] = []  # models the probe checks

    def _new_client(self) -> Any:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def available(self) -> bool:
        """Whether the next request should go to the endpoint (flips back once a probe succeeded)."""
        if self._up:
            return True
        if self._recovered.is_set():
            self._recovered.clear()
            self._up = True
            self.status = f"endpoint {self.endpoint} answers again"
            log.warning("%s", self.status)
            return True
        if self._prober is None or not self._prober.is_alive():
            self._start_probe(self._probe_delay)  # closed while failing, then used again
        return False

    def failed(self, reason: str) -> None:
        """A request failed: process locally from now on and probe in the background."""
        self._streak += 1
        self._models.clear()  # re-read the models' metadata when it answers again (it may have changed)
        first = self._up
        self._up = False
        self._recovered.clear()
        delay = min(self.probe_every_s * 2 ** max(self._streak - 1, 0), MAX_PROBE_S)
        self.status = f"endpoint failed ({reason}); processing locally, next check in {delay:.0f} s"
        if first:
            log.warning("%s", self.status)
        self._start_probe(delay)

    def succeeded(self) -> None:
        self._streak = 0

    def _start_probe(self, delay: float) -> None:
        with self._lock:
            if self._prober is not None and self._prober.is_alive():
                self._probe_delay = delay
                return
            self._probe_delay = delay
            self._stop.clear()
            self._prober = threading.Thread(target=self._probe_loop, name="endpoint-probe", daemon=True)
            self._prober.start()

    def _probe_loop(self) -> None:
        client = None
        try:
            while not self._stop.wait(self._probe_delay):
                try:
                    if client is None:
                        client = self._new_client()
                    reason = self._check(client)
                except Exception as err:  # noqa: BLE001 - any failure means "not yet"
                    reason = describe(err)
                    self._forget(client)
                    client = None
                if reason is None:
                    self._recovered.set()
                    return
                self.status = f"endpoint still failing ({reason}); processing locally"
                log.debug("probe: %s", reason)
        finally:
            self._forget(client)

    def _forget(self, client: Any) -> None:
        if client is None:
            return
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)
        try:
            client.close()
        except Exception:  # noqa: BLE001
            pass

    def _check(self, client: Any) -> str | None:
        """None when the server is ready and every watched model answers its metadata; else why not."""
        if not client.is_server_ready(headers=self.headers()):
            return "server not ready"
        for name in self.watch:
            client.get_model_metadata(name, headers=self.headers())
        return None
