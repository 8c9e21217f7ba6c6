"""One coherent state for a camera that sends no frame (a bad RTSP URL, a camera that went away).

While the session's only camera is not live, its tile and the status bar say the same thing: "Connecting
to rtsp://…", then "Reconnecting to rtsp://… (attempt 3: cannot open stream)", with Stop available (a
session runs and retries in the background, core/sources.py); no FPS of a frame that is not there, no line
of the session before. Several cameras: each tile says its own state already (gui/grid.py).
"""

from __future__ import annotations

from typing import Any

from gui.views import CameraInfo


def connection_text(info: CameraInfo) -> str | None:
    """What to say about a camera that is not live; None when it is (its frames speak)."""
    if info.state == "live":
        return None
    source = info.source
    reason = (info.error or "").removeprefix(f"{source}: ").strip()
    if info.state == "connecting":
        return f"Connecting to {source}…"
    if info.state == "reconnecting":
        attempt = f"attempt {info.reconnects}" if info.reconnects else "retrying"
        return f"Reconnecting to {source} ({attempt}: {reason or 'no frames'})"
    if info.state == "offline":
        return f"Cannot open {source}: {reason or info.status}"
    return None


def show(window: Any) -> bool:
    """The window's one camera runs without frames: its tile and the status bar say why (True), else
    False (the status bar shows FPS as usual)."""
    infos = window.worker.cameras
    if not window.running or len(infos) != 1 or len(window.grid.tiles) != 1:
        return False
    text = connection_text(infos[0])
    if text is None:
        return False
    if window.video.placeholder != text or window.video.view is not None:
        window.last_view = None  # no FPS of a frame that is not there
        window.grid.clear(text)
    window.status_source.setText(text)
    window.status_perf.setText("")
    return True
