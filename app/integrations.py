"""The run's integrations: from the configuration and ``run``'s options to targets in the store's outbox
and a delivery worker (core/integrations/), started with the run and stopped after its last event."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import Config
from core.errors import FaceGateError
from core.integrations.config import IntegrationsConfig, parse_mqtt_address
from core.token_file import read_secret


def integrations_config(config: Config, args: argparse.Namespace) -> IntegrationsConfig:
    """The ``integrations`` section with ``run``'s options over it (a one-line error for a bad value)."""
    webhooks = getattr(args, "webhook", None)
    values = {
        "webhook": ",".join(webhooks) if webhooks else None,
        "webhook_secret_file": getattr(args, "webhook_secret_file", None),
        "webhook_insecure_http": True if getattr(args, "webhook_insecure_http", False) else None,
        "mqtt": getattr(args, "mqtt", None),
        "mqtt_topic": getattr(args, "mqtt_topic", None),
        "mqtt_tls": True if getattr(args, "mqtt_tls", False) else None,
        "mqtt_ca_cert": getattr(args, "mqtt_ca_cert", None),
        "mqtt_username": getattr(args, "mqtt_username", None),
        "mqtt_password_file": getattr(args, "mqtt_password_file", None),
    }
    return config.replace(integrations=values).integrations


class Integrations:
    """The targets of one run. Build it (:meth:`from_config`) before anything opens: every error is
    found then; :meth:`start` once the store is open; :meth:`stop` after the cameras are closed."""

    def __init__(self, config: IntegrationsConfig, transports: dict[str, Any]) -> None:
        self.config = config
        self.transports = transports
        self.worker: Any = None
        self.store: Any = None

    @classmethod
    def from_config(cls, config: IntegrationsConfig) -> Integrations:
        from core.integrations.transports import MqttPublisher, Webhook
        from core.sources import redact_url

        transports: dict[str, Any] = {}
        if config.webhooks:
            secret = _secret(config)
            for url in config.webhooks:
                transports[f"webhook {redact_url(url)}"] = Webhook(
                    url, secret, config.timeout_s, _readable(config.webhook_ca_cert, "webhook CA certificate")
                )
        if config.mqtt:
            import importlib.util

            if importlib.util.find_spec("paho") is None or importlib.util.find_spec("paho.mqtt") is None:
                raise FaceGateError("--mqtt needs paho-mqtt: pip install 'facegate[integrations]'")
            host, port = parse_mqtt_address(config.mqtt, config.mqtt_tls)
            password = None
            if config.mqtt_password_file:
                password = read_secret(config.mqtt_password_file, "MQTT password")
            transports[f"mqtt {host}:{port}"] = MqttPublisher(
                host,
                port,
                config.mqtt_topic.strip().strip("/"),
                config.timeout_s,
                tls=config.mqtt_tls,
                ca_cert=_readable(config.mqtt_ca_cert, "MQTT CA certificate"),
                username=config.mqtt_username,
                password=password,
            )
        return cls(config, transports)

    @property
    def enabled(self) -> bool:
        return bool(self.transports)

    def start(self, store: Any, on_status: Callable[[str, str], None] | None = None) -> None:
        """Every event ``store`` records from now on gets a delivery per target; start delivering them,
        and whatever an earlier run left pending for these targets, first. ``on_status(target, line)``:
        a target starts failing or recovers (default: a line on stderr; the window: its status bar)."""
        if not self.enabled:
            return
        from core.integrations.worker import DeliveryWorker
        from db.store import Store

        self.store = store
        store.outbox_targets = tuple(self.transports)
        path = Path(store.path)
        cfg = self.config
        self.worker = DeliveryWorker(
            lambda: Store(path),
            self.transports,
            retry_min_s=cfg.retry_min_s,
            retry_max_s=cfg.retry_max_s,
            max_attempts=cfg.max_attempts,
            on_status=on_status or _say,
        ).start()

    def stop(self, drain_s: float | None = None) -> str:
        """Stop delivering (after at most ``drain_s`` more, default the configuration's); one summary line
        ("" with no targets)."""
        if self.worker is None:
            return ""
        self.store.outbox_targets = ()
        stats = self.worker.stop(
            self.config.drain_s if drain_s is None else min(drain_s, self.config.drain_s)
        )
        self.worker = None
        counts = self.store.outbox_counts()
        parts = []
        for target, s in stats.items():
            left = counts.get(target, {})
            part = f"{target}: {s.delivered} delivered"
            if left.get("pending"):
                part += f", {left['pending']} pending (sent on the next run)"
            if left.get("failed"):
                part += f", {left['failed']} failed (main.py outbox retry)"
            parts.append(part)
        return "integrations: " + "; ".join(parts)


def _say(target: str, line: str) -> None:
    from app.cli.common import printable

    print(f"integrations: {printable(target)}: {printable(line)}", file=sys.stderr, flush=True)


def _secret(config: IntegrationsConfig) -> str:
    if config.webhook_secret_file:
        return read_secret(config.webhook_secret_file, "webhook secret")
    if config.webhook_secret.strip():
        return config.webhook_secret.strip()
    raise FaceGateError(
        "--webhook needs a secret to sign with: --webhook-secret-file FILE "
        "(or FACEGATE_INTEGRATIONS_WEBHOOK_SECRET)"
    )


def _readable(path: str, what: str) -> str:
    if path and not Path(path).expanduser().is_file():
        raise FaceGateError(f"{path}: no such {what} file")
    return str(Path(path).expanduser()) if path else ""
