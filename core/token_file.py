"""The shared secret of the endpoint, read from a file: one reader for ``serve``, ``run``, the client and the GUI."""

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
