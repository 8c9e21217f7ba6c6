"""Settings that persist between launches (QSettings: ``~/.config/FaceGate/FaceGate.conf`` on Linux).

Kept: last source and recent sources, the cameras list and the grid layout, detector, recognizer, mode, the endpoint settings, a threshold per
recognizer model, alert sound, loop files, window geometry and dock layout. A token is never stored,
only the path of the file that holds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from core.config import defaults
from gui.backends import RemoteSettings

_REMOTE = defaults().remote  # core/config.py holds the defaults

MAX_RECENT = 8


class Settings:
    """Typed access to a :class:`QSettings` (an INI file at ``path`` when given: tests, portable use)."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is not None:
            self.q = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self.q = QSettings("FaceGate", "FaceGate")

    # ------------------------------------------------------------------ primitives
    def _str(self, key: str, default: str = "") -> str:
        value = self.q.value(key, default)
        return default if value is None else str(value)

    def _float(self, key: str, default: float | None = None) -> float | None:
        value: Any = self.q.value(key, None)  # whatever type was stored (a str from the .conf file)
        if value in (None, ""):
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            return default

    def _bool(self, key: str, default: bool = False) -> bool:
        value = self.q.value(key, None)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes", "on")

    def set(self, key: str, value: Any) -> None:
        self.q.setValue(key, value)

    def sync(self) -> None:
        self.q.sync()

    # ------------------------------------------------------------------ source
    @property
    def source(self) -> str:
        return self._str("source/last")

    @source.setter
    def source(self, spec: str) -> None:
        self.set("source/last", spec)
        recent = [s for s in self.recent_sources if s != spec]
        self.set("source/recent", [spec, *recent][:MAX_RECENT])

    @property
    def recent_sources(self) -> list[str]:
        value: Any = self.q.value("source/recent", [])  # a list, or one str when one was stored
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if str(v)]

    @property
    def cameras(self) -> list[str]:
        """The Cameras dialog's lines (``NAME=SOURCE``)."""
        value: Any = self.q.value("source/cameras", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if str(v)]

    @cameras.setter
    def cameras(self, lines: list[str]) -> None:
        self.set("source/cameras", list(lines))

    @property
    def grid_layout(self) -> str:
        """The camera grid's layout: ``1``, ``2x2`` or ``3x3``."""
        value = self._str("view/grid", "2x2")
        return value if value in ("1", "2x2", "3x3") else "2x2"

    @grid_layout.setter
    def grid_layout(self, layout: str) -> None:
        self.set("view/grid", layout)

    @property
    def loop_files(self) -> bool:
        return self._bool("source/loop", False)

    @loop_files.setter
    def loop_files(self, on: bool) -> None:
        self.set("source/loop", int(bool(on)))  # ints: PySide6 6.12.0 mis-counts bool references

    # ------------------------------------------------------------------ backends
    @property
    def detector(self) -> str:
        return self._str("backends/detector")

    @detector.setter
    def detector(self, key: str) -> None:
        self.set("backends/detector", key)

    @property
    def recognizer(self) -> str:
        return self._str("backends/recognizer")

    @recognizer.setter
    def recognizer(self, key: str) -> None:
        self.set("backends/recognizer", key)

    @property
    def mode(self) -> str:
        return self._str("backends/mode", "local") or "local"

    @mode.setter
    def mode(self, mode: str) -> None:
        self.set("backends/mode", mode)

    def threshold(self, model: str) -> float | None:
        """The operator's threshold for a recognizer model; None = the model's default."""
        return self._float(f"thresholds/{model}")

    def set_threshold(self, model: str, value: float | None) -> None:
        if value is None:
            self.q.remove(f"thresholds/{model}")
        else:
            self.set(f"thresholds/{model}", round(float(value), 3))

    # ------------------------------------------------------------------ endpoint
    @property
    def remote(self) -> RemoteSettings:
        return RemoteSettings(
            endpoint=self._str("endpoint/url"),
            token_file=self._str("endpoint/token_file"),
            ca_cert=self._str("endpoint/ca_cert"),
            jpeg_quality=int(self._float("endpoint/jpeg_quality") or _REMOTE.jpeg_quality),
            fallback_after_s=float(self._float("endpoint/fallback_after_s") or _REMOTE.fallback_after_s),
        )

    @remote.setter
    def remote(self, r: RemoteSettings) -> None:
        self.set("endpoint/url", r.endpoint)
        self.set("endpoint/token_file", r.token_file)
        self.set("endpoint/ca_cert", r.ca_cert)
        self.set("endpoint/jpeg_quality", int(r.jpeg_quality))
        self.set("endpoint/fallback_after_s", float(r.fallback_after_s))

    # ------------------------------------------------------------------ alerts, layout
    @property
    def alert_sound(self) -> bool:
        return self._bool("alerts/sound", False)

    @alert_sound.setter
    def alert_sound(self, on: bool) -> None:
        self.set("alerts/sound", int(bool(on)))

    def layout(self) -> tuple[QByteArray | None, QByteArray | None]:
        geo, state = self.q.value("window/geometry"), self.q.value("window/state")
        return (
            geo if isinstance(geo, QByteArray) else None,
            state if isinstance(state, QByteArray) else None,
        )

    def set_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self.set("window/geometry", geometry)
        self.set("window/state", state)

    # ------------------------------------------------------------------ integrations, retention
    def integrations(self) -> Any:
        """The ``integrations`` section (core/config.py): the CLI's defaults and environment, then the
        values saved here; a hand-edited bad value raises the one-line ConfigError/IntegrationError."""
        from core.config import Config

        base = Config.from_env()  # webhook_secret is never saved: only the path of the file that holds it
        values = self._section("integrations", base.integrations, _INTEGRATIONS)
        return base.replace(integrations=values).integrations

    def set_integrations(self, cfg: Any) -> None:
        for name in _INTEGRATIONS:
            value = getattr(cfg, name)
            self.set(f"integrations/{name}", int(value) if isinstance(value, bool) else value)

    def retention(self) -> Any:
        """The ``retention`` section: defaults, environment, then the values saved here (as integrations)."""
        from core.config import Config

        base = Config.from_env()
        return base.replace(retention=self._section("retention", base.retention, _RETENTION)).retention

    def set_retention(self, cfg: Any) -> None:
        for name in _RETENTION:
            value = getattr(cfg, name)
            self.set(f"retention/{name}", int(value) if isinstance(value, bool) else float(value))

    def _section(self, group: str, current: Any, names: tuple[str, ...]) -> dict[str, Any]:
        from core.config import ConfigError

        values: dict[str, Any] = {}
        for name in names:
            raw: Any = self.q.value(f"{group}/{name}", None)
            if raw is None:
                continue
            default = getattr(current, name)
            try:
                if isinstance(default, bool):
                    values[name] = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
                elif isinstance(default, float):
                    values[name] = float(raw)
                else:
                    values[name] = str(raw)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"{group}.{name} must be a number, not {raw!r} (in {self.q.fileName()})"
                ) from None
        return values


#: what the Settings dialog edits and the .ini keeps (``integrations/<name>``, ``retention/<name>``)
_INTEGRATIONS = (
    "webhook",
    "webhook_secret_file",
    "webhook_insecure_http",
    "webhook_ca_cert",
    "mqtt",
    "mqtt_topic",
    "mqtt_tls",
    "mqtt_ca_cert",
    "mqtt_username",
    "mqtt_password_file",
)
_RETENTION = ("frames_days", "events_days", "snapshots_days", "blur_unknown")
