"""Secrets read from files (the endpoint token, the webhook secret, the MQTT password): one reader for
``serve``, ``run``, the client, the integrations and the GUI."""

from __future__ import annotations

from core.errors import FaceGateError


def read_token(path: str) -> str | None:
    """The shared token in a file, without surrounding whitespace/newlines (None when empty).

    Both sides strip it the same way, so a token file written with ``echo`` authenticates.
    """
    from pathlib import Path

    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise FaceGateError(f"{path}: cannot read token file ({reason})") from None


def read_secret(path: str, what: str = "token", prefix: str = "") -> str:
    """A secret that must be there: the file's stripped text, or one FaceGateError line when the file
    cannot be read or is empty (a missing secret never means "no authentication")."""
    secret = read_token(path)
    if secret is None:
        raise FaceGateError(f"{prefix}{path}: the {what} file is empty; put the shared secret in it")
    return secret
