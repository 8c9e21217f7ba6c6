"""What the window adds to each session it records, from the Settings dialog's Integrations and Retention
tabs (saved in gui/settings.py): the retention periods and ``blur_unknown`` applied to the store as it
opens (db/retention.py ``apply_config``, as ``main.py run`` does), and every decision delivered through
the store's outbox to the webhooks and the MQTT broker (app/integrations.py, the CLI's own code).

Built on the builder thread (reading a secret file may fail: the start fails with that one line), opened
and closed on the inference worker's thread, which owns the store the events are written to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: closing the window or restarting waits this long at most for deliveries still pending (they wait in the
#: outbox for the next session); the operator's Stop waits the configuration's ``drain_s``, as a run's end
QUICK_DRAIN_S = 1.0


@dataclass
class SessionExtras:
    """The retention section and the integrations (None: no target) of one session."""

    retention: Any  # core.config.RetentionConfig
    integrations: Any = None  # app.integrations.Integrations, not started

    @classmethod
    def build(cls, retention: Any, integrations_config: Any) -> SessionExtras | None:
        """From the two configuration sections (None when neither asks for anything); a one-line
        FaceGateError for a missing secret file, a bad saved URL etc."""
        from app.integrations import Integrations
        from core.config import RetentionConfig

        integrations = Integrations.from_config(integrations_config)
        if not integrations.enabled and retention == RetentionConfig():
            return None
        return cls(retention, integrations if integrations.enabled else None)

    @classmethod
    def from_settings(cls, settings: Any) -> SessionExtras | None:
        """From the window's saved settings (gui/settings.py) over the CLI's defaults and environment."""
        return cls.build(settings.retention(), settings.integrations())

    def open(self, store: Any, say: Callable[[str], None]) -> None:
        """Worker thread, the session's store just opened: retention now, blur from now on, deliveries."""
        from db.retention import apply_config

        try:
            line = apply_config(store, self.retention)
        except Exception as err:  # noqa: BLE001 - a locked store: the session records anyway
            log.warning("retention not applied: %s", err)
            line = f"retention not applied: {err}"
        if line:
            log.info("%s", line)
            say(line)
        if self.integrations is not None:
            self.integrations.start(
                store, on_status=lambda target, text: say(f"integrations: {target}: {text}")
            )
            say("integrations: delivering each decision to " + ", ".join(self.integrations.transports))

    def close(self, quick: bool = False) -> str:
        """Worker thread, the session's last events stored: deliver what is pending (for a while), stop."""
        if self.integrations is None or self.integrations.worker is None:
            return ""
        return str(self.integrations.stop(QUICK_DRAIN_S if quick else None))


def send_test(config: Any, wait_s: float | None = None) -> str:
    """Deliver one test event to every target of ``config`` (an IntegrationsConfig) through the path a
    session's decisions take: an outbox row per target in a throwaway store, the delivery worker, each
    target's transport (signed webhook POST, MQTT publish on ``<prefix>/test/test``). One try per target;
    returns one line ("webhook https://…: delivered; mqtt host:1883: failed (connection refused)")."""
    import dataclasses
    import datetime as dt
    import tempfile
    import time
    from pathlib import Path

    from app.integrations import Integrations
    from db.store import Store

    integrations = Integrations.from_config(dataclasses.replace(config, max_attempts=1))
    if not integrations.enabled:
        return "no webhook URL or MQTT broker set: nothing to send"
    deadline = time.monotonic() + (config.timeout_s + 2.0 if wait_s is None else wait_s)
    with tempfile.TemporaryDirectory(prefix="facegate-test-") as tmp:
        store = Store(Path(tmp) / "test.db")
        try:
            integrations.start(store, on_status=lambda *_: None)
            session = store.start_session("Settings: Send test", "local")
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
            store.add_event(
                session,
                now,
                0,
                "FaceGate test",
                0.0,
                "test",
                reason="a test from the Settings dialog",
                camera="test",
            )
            while store.outbox(state="pending") and time.monotonic() < deadline:
                time.sleep(0.05)
            integrations.stop(0.0)
            rows = store.outbox()
        finally:
            store.close()
    parts = []
    for row in rows:
        if row["state"] == "delivered":
            parts.append(f"{row['target']}: delivered")
        elif row["last_error"]:
            parts.append(f"{row['target']}: failed ({row['last_error']})")
        else:
            parts.append(f"{row['target']}: no answer within {config.timeout_s:g} s")
    return "; ".join(parts)
