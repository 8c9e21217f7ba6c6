"""The two ways a delivery leaves: an HTTPS webhook POST and an MQTT publish.

Each ``send(payload)`` returns when the receiver has acknowledged it (an HTTP 2xx; an MQTT PUBACK) or
raises :class:`DeliveryError`: ``permanent`` when retrying the same bytes cannot help (an HTTP 4xx other
than 408/425/429, a redirect), transient otherwise (refused, timed out, 5xx, broker down).
"""

from __future__ import annotations

import json
import ssl
import time
from typing import Any

from core.integrations.payload import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
    signed_body,
    topic,
)

USER_AGENT = "FaceGate-webhook/1"
#: HTTP statuses worth retrying: the receiver is busy or down, not refusing this event
RETRY_STATUSES = {408, 425, 429}


class DeliveryError(Exception):
    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def _tls_context(ca_cert: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if ca_cert:
        ctx.load_verify_locations(ca_cert)
    return ctx


class Webhook:
    """POST the event JSON (with ``sent_at``, this try's unix seconds) to ``url`` with
    ``X-FaceGate-Signature: sha256=HMAC-SHA256(secret, body)``; ``X-FaceGate-Timestamp`` repeats
    ``sent_at`` and ``X-FaceGate-Event`` is the event id (the same on every retry: receivers dedupe on it)."""

    kind = "webhook"

    def __init__(self, url: str, secret: str, timeout_s: float = 5.0, ca_cert: str = "") -> None:
        from urllib.parse import urlsplit

        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.ca_cert = ca_cert
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._auth = None
        if parts.username is not None:  # https://user:pass@host/...: basic auth, as a browser would
            import base64

            cred = f"{parts.username}:{parts.password or ''}".encode()
            self._auth = "Basic " + base64.b64encode(cred).decode("ascii")

    def send(self, payload: str) -> None:
        import http.client

        sent_at = int(time.time())
        body = signed_body(payload, sent_at)
        stamp = str(sent_at)
        event_id = str(json.loads(payload).get("event_id", ""))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: signature(self.secret, body),
            EVENT_HEADER: event_id,
            "Idempotency-Key": f"facegate-event-{event_id}",
        }
        if self._auth:
            headers["Authorization"] = self._auth
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout_s, context=_tls_context(self.ca_cert)
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)
        try:
            conn.request("POST", self._path, body=body, headers=headers)
            response = conn.getresponse()
            response.read(65536)
            status = response.status
        except (OSError, http.client.HTTPException) as err:  # refused, reset, timed out, TLS, bad answer
            raise DeliveryError(_reason(err)) from None
        finally:
            conn.close()
        if 200 <= status < 300:
            return
        permanent = status < 500 and status not in RETRY_STATUSES
        raise DeliveryError(f"HTTP {status} {response.reason}".strip(), permanent=permanent)

    def close(self) -> None:
        pass


class MqttPublisher:
    """Publish each event at QoS 1 to ``<prefix>/<camera>/<decision>``; one paho client, connected on
    first use and again after any failure."""

    kind = "mqtt"

    def __init__(
        self,
        host: str,
        port: int,
        prefix: str = "facegate",
        timeout_s: float = 5.0,
        tls: bool = False,
        ca_cert: str = "",
        username: str = "",
        password: str | None = None,
        client_id: str = "",
    ) -> None:
        self.host, self.port, self.prefix, self.timeout_s = host, port, prefix, timeout_s
        self.tls, self.ca_cert = tls, ca_cert
        self.username, self.password = username, password
        self.client_id = client_id
        self._client: Any = None

    def _connect(self) -> Any:
        import paho.mqtt.client as mqtt  # lazy: only a run with --mqtt needs paho-mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True)
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set_context(_tls_context(self.ca_cert))
        client.reconnect_delay_set(1, 30)
        try:
            client.connect(self.host, self.port, keepalive=30)
        except (OSError, ValueError) as err:
            raise DeliveryError(f"broker {self.host}:{self.port}: {_reason(err)}") from None
        client.loop_start()
        deadline = time.monotonic() + self.timeout_s
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not client.is_connected():  # e.g. refused the credentials (CONNACK != 0)
            client.loop_stop()
            client.disconnect()
            raise DeliveryError(f"broker {self.host}:{self.port}: no CONNACK in {self.timeout_s:g} s")
        return client

    def send(self, payload: str) -> None:
        if self._client is None or not self._client.is_connected():
            self.close()
            self._client = self._connect()
        info = self._client.publish(topic(self.prefix, json.loads(payload)), payload.encode("utf-8"), qos=1)
        try:
            info.wait_for_publish(self.timeout_s)
        except (RuntimeError, ValueError) as err:  # paho: not queued (no connection) or queue full
            self.close()
            raise DeliveryError(f"publish failed ({err})") from None
        if not info.is_published():
            self.close()
            raise DeliveryError(f"no PUBACK from {self.host}:{self.port} in {self.timeout_s:g} s")

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.disconnect()
            finally:
                client.loop_stop()


def _reason(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return f"{type(err).__name__}: {text}" if isinstance(err, TimeoutError) else str(text)
