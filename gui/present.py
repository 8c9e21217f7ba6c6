"""How the windows present things: stored times in the operator's zone, JPEG blobs as pictures, dialogs."""

from __future__ import annotations

import datetime as _dt
from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog

D = TypeVar("D", bound=QDialog)


def open_dialog(dlg: D, modal: bool) -> D:
    """Show ``dlg``: ``modal``, run it until it closes (the window's menus); else shown and returned at
    once (tests and callers that drive it)."""
    if modal:
        dlg.exec()
    else:
        dlg.show()
    return dlg


def local_time(iso: str | None, with_date: bool = True) -> str:
    """A stored (UTC ISO) time as the operator reads it: local date, time and zone, e.g.
    "2026-12-01 08:14:03 CET" (the UTC offset when the zone has no abbreviation); "–" for none."""
    if not iso:
        return "–"
    try:
        when = _dt.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return str(iso)
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    when = when.astimezone()
    zone = when.tzname() or ""
    if not zone or zone[0] in "+-":
        zone = when.strftime("UTC%z")
    return when.strftime("%Y-%m-%d %H:%M:%S " if with_date else "%H:%M:%S ") + zone


def pixmap_from_jpeg(data: bytes | None, width: int, height: int | None = None) -> QPixmap | None:
    """A JPEG (or PNG) blob scaled to fit ``width`` x ``height`` (a square when no height), keeping its
    aspect; None when there is none or it cannot be decoded."""
    if not data:
        return None
    img = QImage.fromData(data)
    if img.isNull():
        return None
    return QPixmap.fromImage(img).scaled(
        width,
        width if height is None else height,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
