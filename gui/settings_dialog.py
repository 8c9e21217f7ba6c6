"""The Settings dialog's Integrations and Retention & privacy tabs (Ctrl+,), beside the endpoint tab of
gui/dialogs.py.

Every value is checked by the configuration's own dataclasses (core/config.py, the ones ``main.py run``
uses, with the CLI's defaults and ``FACEGATE_*`` environment under them): a bad one is one line in the
dialog, and nothing is saved. "Send test" delivers a test event through the outbox and the delivery
worker (gui/session_extras.py :func:`send_test`); "Apply now" removes what is older than the periods after
saying how much that is (db/retention.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.dialogs import SettingsDialog
from gui.present import open_dialog

log = logging.getLogger(__name__)

ERROR_STYLE = "color:#ff5d5d"


def _config_error(err: Exception) -> str:
    return str(err).replace("--webhook-insecure-http", "“Allow plain http”").replace("--", "")


class IntegrationsTab(QWidget):
    """Webhooks (URLs, secret file, plain http) and MQTT (broker, topic prefix, TLS, user, password file)."""

    testDone = Signal(str)  # the "Send test" line (emitted from its thread)

    def __init__(self, cfg: Any, browse: Callable[[QLineEdit, str], QWidget]) -> None:
        super().__init__()
        self.webhook = QLineEdit(cfg.webhook)
        self.webhook.setPlaceholderText("https://doors.example.com/facegate (several: separated by commas)")
        self.secret_file = QLineEdit(cfg.webhook_secret_file)
        self.secret_file.setPlaceholderText(
            "file holding the HMAC secret (the secret itself is never stored)"
        )
        self.insecure_http = QCheckBox(
            "Allow plain http:// to other machines (events name people: prefer https)"
        )
        self.insecure_http.setChecked(cfg.webhook_insecure_http)
        self.webhook_ca = QLineEdit(cfg.webhook_ca_cert)
        self.webhook_ca.setPlaceholderText(
            "CA certificate (PEM) of a self-signed receiver; empty: the system's"
        )
        self.mqtt = QLineEdit(cfg.mqtt)
        self.mqtt.setPlaceholderText("broker HOST[:PORT] (1883, 8883 with TLS); empty: no MQTT")
        self.topic = QLineEdit(cfg.mqtt_topic)
        self.topic.setPlaceholderText("facegate (topics: PREFIX/CAMERA/DECISION)")
        self.tls = QCheckBox("TLS")
        self.tls.setChecked(cfg.mqtt_tls)
        self.mqtt_ca = QLineEdit(cfg.mqtt_ca_cert)
        self.username = QLineEdit(cfg.mqtt_username)
        self.password_file = QLineEdit(cfg.mqtt_password_file)
        self.password_file.setPlaceholderText("file holding the MQTT password (never stored itself)")
        self.test_button = QPushButton("Send test")
        self.test_button.setToolTip('Deliver one test event (decision "test") to every target, one try each')
        self.test_button.clicked.connect(self.send_test)
        self.result = QLabel("Each decision of a running session is delivered through the store's outbox.")
        self.result.setWordWrap(True)
        self.testDone.connect(self._tested)
        form = QFormLayout(self)
        form.addRow(QLabel("<b>Signed webhooks</b> (HTTP POST, JSON, X-FaceGate-Signature)"))
        form.addRow("Webhook URLs", self.webhook)
        form.addRow("Secret file", browse(self.secret_file, "Webhook secret file"))
        form.addRow(self.insecure_http)
        form.addRow("Receiver CA", browse(self.webhook_ca, "Webhook CA certificate"))
        form.addRow(QLabel("<b>MQTT</b> (QoS 1)"))
        form.addRow("Broker", self.mqtt)
        form.addRow("Topic prefix", self.topic)
        form.addRow(self.tls)
        form.addRow("Broker CA", browse(self.mqtt_ca, "MQTT CA certificate"))
        form.addRow("Username", self.username)
        form.addRow("Password file", browse(self.password_file, "MQTT password file"))
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addWidget(self.result, 1)
        form.addRow(row)
        for label, field in (("Webhook URLs", self.webhook), ("MQTT broker", self.mqtt)):
            field.setAccessibleName(label)

    def values(self) -> dict[str, Any]:
        return {
            "webhook": self.webhook.text().strip(),
            "webhook_secret_file": self.secret_file.text().strip(),
            "webhook_insecure_http": self.insecure_http.isChecked(),
            "webhook_ca_cert": self.webhook_ca.text().strip(),
            "mqtt": self.mqtt.text().strip(),
            "mqtt_topic": self.topic.text().strip(),
            "mqtt_tls": self.tls.isChecked(),
            "mqtt_ca_cert": self.mqtt_ca.text().strip(),
            "mqtt_username": self.username.text().strip(),
            "mqtt_password_file": self.password_file.text().strip(),
        }

    def config(self) -> Any:
        """The IntegrationsConfig shown; a bad value raises its one-line error (files are read too)."""
        from core.config import Config
        from gui.session_extras import SessionExtras

        cfg = Config.from_env().replace(integrations=self.values()).integrations
        SessionExtras.build(Config().retention, cfg)  # the secret and password files, paho-mqtt: as a run
        return cfg

    def send_test(self) -> None:
        """Deliver a test event to what the tab shows (saved or not), off the GUI thread."""
        from core.errors import FaceGateError

        try:
            cfg = self.config()
        except (FaceGateError, ValueError) as err:
            self._show(_config_error(err), error=True)
            return
        self.test_button.setEnabled(False)
        self._show("sending a test event…")
        threading.Thread(target=self._send, args=(cfg,), name="facegate-send-test", daemon=True).start()

    def _send(self, cfg: Any) -> None:
        from gui.session_extras import send_test

        try:
            line = send_test(cfg)
        except Exception as err:  # noqa: BLE001 - one line in the dialog, whatever failed
            log.exception("send test failed")
            line = f"failed: {err}"
        try:
            self.testDone.emit(line)
        except RuntimeError:  # the dialog was closed meanwhile
            pass

    def _tested(self, line: str) -> None:
        self.test_button.setEnabled(True)
        self._show(line, error="delivered" not in line or "failed" in line)

    def _show(self, text: str, error: bool = False) -> None:
        self.result.setText(text)
        self.result.setStyleSheet(ERROR_STYLE if error else "")


class RetentionTab(QWidget):
    """Days to keep frames, events and face snapshots (0 = forever), blur unknown faces, Apply now."""

    def __init__(self, cfg: Any, store: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self.store = store
        self.days: dict[str, QDoubleSpinBox] = {}
        form = QFormLayout(self)
        form.addRow(QLabel("<b>Keep recordings for</b> (0 days: forever; applied when a session starts)"))
        for name, label in (
            ("frames_days", "Frame measurements"),
            ("events_days", "Access events"),
            ("snapshots_days", "Face snapshots"),
        ):
            box = QDoubleSpinBox()
            box.setRange(0, 36500)
            box.setDecimals(1)
            box.setSuffix(" days")
            box.setSpecialValueText("forever")
            box.setValue(float(getattr(cfg, name)))
            box.setAccessibleName(f"{label}: days to keep")
            self.days[name] = box
            form.addRow(label, box)
        self.blur = QCheckBox("Blur unknown faces in snapshots and exports")
        self.blur.setChecked(bool(cfg.blur_unknown))
        form.addRow(self.blur)
        self.apply_button = QPushButton("Apply now…")
        self.apply_button.setToolTip("Remove what is older than these periods from the identity store now")
        self.apply_button.clicked.connect(lambda: self.apply_now())
        self.apply_button.setEnabled(store is not None)
        self.result = QLabel()
        self.result.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.apply_button)
        row.addWidget(self.result, 1)
        form.addRow(row)

    def config(self) -> Any:
        from core.config import Config

        values = {name: box.value() for name, box in self.days.items()}
        return (
            Config.from_env().replace(retention={**values, "blur_unknown": self.blur.isChecked()}).retention
        )

    def apply_now(self, confirm: Callable[[str], bool] | None = None) -> dict[str, int] | None:
        """Say what the periods shown would remove, ask (No is the default), remove it; the counts removed
        (None: nothing to do, refused or failed; the line says which)."""
        from db.retention import retention_preview, retention_summary

        if self.store is None:
            return None
        cfg = self.config()
        if not (cfg.frames_days or cfg.events_days or cfg.snapshots_days):
            self.result.setText("every period is 0 (forever): nothing to remove")
            return None
        try:
            store = self.store()
            would = retention_summary(retention_preview(store, cfg)).replace("removed ", "remove ", 1)
            if not would:
                self.result.setText("nothing is older than these periods")
                return None
            ask = confirm or self._ask
            if not ask(f"{would[0].upper()}{would[1:]} from {store.path}? This cannot be undone."):
                self.result.setText("nothing removed")
                return None
            counts: dict[str, int] = store.apply_retention(
                cfg.frames_days, cfg.events_days, cfg.snapshots_days
            )
        except Exception as err:  # noqa: BLE001 - a locked or unreadable store: one line
            self.result.setText(f"retention not applied: {err}")
            self.result.setStyleSheet(ERROR_STYLE)
            return None
        self.result.setText(retention_summary(counts) or "nothing removed")
        self.result.setStyleSheet("")
        return counts

    def _ask(self, question: str) -> bool:
        box = QMessageBox.question(
            self,
            "Apply retention now",
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return box == QMessageBox.StandardButton.Yes


class FullSettingsDialog(SettingsDialog):
    """gui/dialogs.py's SettingsDialog with the Integrations and Retention & privacy tabs; OK saves every
    tab only when all their values are valid (else one line, and the dialog stays open)."""

    def __init__(self, window: Any) -> None:
        settings = window.settings
        super().__init__(settings.remote, settings.loop_files, str(window.controller.store_path()), window)
        self.settings = settings
        self.resize(640, 460)
        from core.config import Config

        try:
            integrations, retention = settings.integrations(), settings.retention()
            saved_error = ""
        except ValueError as err:  # a hand-edited .ini: show the defaults and say so
            base = Config.from_env()
            integrations, retention = base.integrations, base.retention
            saved_error = f"the saved settings were not valid ({err}); showing the defaults"
        self.integrations = IntegrationsTab(integrations, self._with_browse)
        self.retention = RetentionTab(retention, window.gui_store)
        self.tabs.addTab(self.integrations, "Integrations")
        self.tabs.addTab(self.retention, "Retention && privacy")
        self.error = QLabel(saved_error)
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        lay = self.layout()
        if isinstance(lay, QVBoxLayout):
            lay.insertWidget(1, self.error)

    def accept(self) -> None:
        from core.errors import FaceGateError

        try:
            integrations = self.integrations.config()
            retention = self.retention.config()
        except (FaceGateError, ValueError) as err:
            self.error.setText(_config_error(err))
            self.tabs.setCurrentWidget(self.retention if "retention" in str(err) else self.integrations)
            return
        self.settings.set_integrations(integrations)
        self.settings.set_retention(retention)
        self.settings.sync()
        self.error.setText("")
        super().accept()


def open_settings(window: Any, modal: bool = True) -> FullSettingsDialog:
    """Ctrl+,: the dialog; accepted, the endpoint and playback go to the controller (the other tabs are
    saved by the dialog and take effect when the next session starts)."""
    dlg = FullSettingsDialog(window)

    def accepted() -> None:
        window.apply_settings(dlg.remote(), dlg.loop.isChecked())
        window.say("settings saved; integrations and retention apply from the next session start", 6000)

    dlg.accepted.connect(accepted)
    return open_dialog(dlg, modal)
