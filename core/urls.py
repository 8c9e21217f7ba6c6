"""The one check of an ``http(s)://`` URL a user gives (the cloud/hybrid endpoint, a webhook)."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from core.errors import FaceGateError


def check_http_url(
    url: str, option: str, hint: str, *, allow_query: bool = False, error: type[Exception] = FaceGateError
) -> SplitResult:
    """``url``'s parts when it is a usable ``http(s)://host[:port][/path]``, else one ``error`` line naming
    ``option`` and ending with ``hint``. Messages never show a password (:func:`core.sources.redact_url`).
    ``allow_query``: a ``?query`` is part of the URL (a webhook); a #fragment never is."""
    from core.sources import redact_url

    try:
        parts = urlsplit(url)
        port = parts.port
        shown = redact_url(url)
    except ValueError as err:
        raise error(f"{option} {url!r}: not a valid URL ({err}); {hint}") from None
    if parts.scheme not in ("http", "https"):
        raise error(f"{option} {shown!r}: needs http:// or https://; {hint}")
    if not parts.hostname:
        raise error(f"{option} {shown!r}: no host; {hint}")
    if port == 0:
        raise error(f"{option} {shown!r}: port 0 cannot be connected to; {hint}")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise error(f"{option} {shown!r}: holds spaces or control characters; {hint}")
    if parts.fragment or (parts.query and not allow_query):
        what = "#fragment" if allow_query else "?query or #fragment"
        raise error(f"{option} {shown!r}: a base URL takes no {what}; {hint}")
    return parts
