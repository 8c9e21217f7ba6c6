"""The ``integrations`` section of the configuration (core/config.py) and the checks of its targets.

Every setting is also ``FACEGATE_INTEGRATIONS_<FIELD>`` (e.g. ``FACEGATE_INTEGRATIONS_WEBHOOK``,
``FACEGATE_INTEGRATIONS_WEBHOOK_SECRET_FILE``, ``FACEGATE_INTEGRATIONS_MQTT=broker:1883``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.errors import FaceGateError

DEFAULT_MQTT_PORT = 1883
DEFAULT_MQTTS_PORT = 8883
_HOST = re.compile(r"^[A-Za-z0-9_.\-]{1,253}$")
_TOPIC = re.compile(r"^[^+#\x00]{1,200}$")


class IntegrationError(FaceGateError, ValueError):
    """A webhook URL, an MQTT address, a topic prefix or a secret that cannot be used (one line)."""


def split_urls(text: str) -> tuple[str, ...]:
    """``"URL1, URL2"`` (commas or spaces) -> the URLs."""
    return tuple(u for u in re.split(r"[,\s]+", text or "") if u)


def check_webhook_url(url: str, allow_insecure_http: bool = False) -> str:
    """``url`` when it is an ``http(s)://host[:port]/path`` a webhook can be POSTed to, else a one-line
    :class:`IntegrationError`. Plain http is refused to any host but this machine's loopback unless
    ``allow_insecure_http`` (events name people; the signature proves origin, not secrecy)."""
    from core.deploy.protocol import is_loopback
    from core.sources import redact_url
    from core.urls import check_http_url

    hint = "write e.g. --webhook https://doors.example.com/facegate"
    parts = check_http_url(url, "--webhook", hint, allow_query=True, error=IntegrationError)
    shown = redact_url(url)
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise IntegrationError(
            f"--webhook {shown!r}: plain http to another machine would send who came through which door "
            "unencrypted; use https://, or allow it with --webhook-insecure-http"
        )
    return url


def parse_mqtt_address(text: str, tls: bool = False) -> tuple[str, int]:
    """``HOST[:PORT]`` (or ``[v6]:PORT``) -> (host, port); the port defaults to 1883 (8883 with TLS)."""
    hint = "write e.g. --mqtt broker.local:1883"
    text = (text or "").strip()
    if text.startswith("mqtt://") or text.startswith("mqtts://"):
        text = text.split("://", 1)[1].rstrip("/")
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise IntegrationError(f"--mqtt {text!r}: not HOST[:PORT]; {hint}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host or not (_HOST.match(host) or (":" in host and re.match(r"^[0-9A-Fa-f:.]+$", host))):
        raise IntegrationError(f"--mqtt {text!r}: not a host name or address; {hint}")
    port = DEFAULT_MQTTS_PORT if tls else DEFAULT_MQTT_PORT
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise IntegrationError(f"--mqtt {text!r}: the port must be 1-65535; {hint}")
        port = int(port_text)
    return host, port


def check_topic_prefix(prefix: str) -> str:
    prefix = (prefix or "").strip().strip("/")
    if not _TOPIC.match(prefix):
        raise IntegrationError(
            f"--mqtt-topic {prefix!r}: a topic prefix is 1-200 characters without '+' or '#', e.g. facegate"
        )
    return prefix


@dataclass(frozen=True)
class IntegrationsConfig:
    """Where each access decision is delivered, and how deliveries are retried (README "Integrations")."""

    #: webhook URL(s), separated by commas or spaces; each gets every event, signed
    webhook: str = ""
    #: file holding the HMAC secret of the webhooks (surrounding whitespace ignored) ...
    webhook_secret_file: str = ""
    #: ... or the secret itself (FACEGATE_INTEGRATIONS_WEBHOOK_SECRET); never shown
    webhook_secret: str = field(default="", repr=False)
    #: allow plain http:// webhooks to hosts other than this machine
    webhook_insecure_http: bool = False
    #: CA certificate (PEM) to verify https webhooks with, instead of the system's
    webhook_ca_cert: str = ""
    #: MQTT broker, HOST[:PORT] (port 1883, 8883 with TLS); empty: no MQTT
    mqtt: str = ""
    #: topics are <prefix>/<camera>/<decision>
    mqtt_topic: str = "facegate"
    mqtt_tls: bool = False
    mqtt_ca_cert: str = ""  # CA certificate (PEM) for TLS; default: the system's
    mqtt_username: str = ""
    mqtt_password_file: str = ""
    #: one delivery try's time limit (connect + send + answer)
    timeout_s: float = 5.0
    #: backoff after a failed try: retry_min_s, doubling per try, at most retry_max_s
    retry_min_s: float = 1.0
    retry_max_s: float = 60.0
    #: tries before a delivery is given up as failed (0: retry until it is delivered)
    max_attempts: int = 0
    #: at the end of a run, how long to keep delivering what is pending (the rest waits for the next run)
    drain_s: float = 5.0

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, bound: str) -> None:
            if not ok:
                raise IntegrationError(f"integrations.{name} must be {bound}")

        check("timeout_s", 0 < self.timeout_s <= 300, "in (0, 300] s")
        check("retry_min_s", 0 < self.retry_min_s <= 3600, "in (0, 3600] s")
        check("retry_max_s", self.retry_min_s <= self.retry_max_s <= 86400, "in [retry_min_s, 86400] s")
        check("max_attempts", self.max_attempts >= 0, ">= 0")
        check("drain_s", 0 <= self.drain_s <= 3600, "in [0, 3600] s")
        for url in self.webhooks:
            check_webhook_url(url, self.webhook_insecure_http)
        if self.mqtt:
            parse_mqtt_address(self.mqtt, self.mqtt_tls)
        check_topic_prefix(self.mqtt_topic)

    @property
    def webhooks(self) -> tuple[str, ...]:
        return split_urls(self.webhook)

    @property
    def enabled(self) -> bool:
        return bool(self.webhooks or self.mqtt)
