"""Entry points for ``python main.py`` (no subcommand): is a GUI possible here, and run it.

``gui_available()`` never starts Qt: Qt aborts the whole process (not an exception) when its platform
plugin cannot load, so the checks below find that out first and the CLI falls back to the headless demo
with the reason.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

APT_PACKAGES = (
    "libegl1 libgl1 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0 libxkbcommon0 "
    "libxkbcommon-x11-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 "
    "libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 fonts-dejavu-core"
)


def _platform() -> str:
    forced = os.environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if forced:
        return forced
    if sys.platform != "linux":
        return "native"
    if os.environ.get("WAYLAND_DISPLAY") and (
        os.environ.get("XDG_SESSION_TYPE") == "wayland" or not os.environ.get("DISPLAY")
    ):
        return "wayland"
    return "xcb"


def _x_display_reachable(display: str) -> tuple[bool, str]:
    """A local X display (``:0``) has a socket; remote ones (``host:0``) are assumed reachable."""
    m = re.fullmatch(r"(unix)?:(\d+)(\.\d+)?", display)
    if not m:
        return True, ""
    sock = Path(f"/tmp/.X11-unix/X{m.group(2)}")
    return (True, "") if sock.exists() else (False, f"DISPLAY={display} but no X server socket {sock}")


def _plugin_loads(name: str) -> tuple[bool, str]:
    """Load Qt's platform plugin library the way Qt will: a missing system library shows up here as an
    OSError naming it, instead of Qt aborting the process."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return False, "PySide6 not installed"
    root = Path(list(spec.submodule_search_locations)[0])
    lib = root / "Qt" / "plugins" / "platforms" / f"libq{name}.so"
    if not lib.exists():
        return True, ""  # another layout (conda, distro Qt): let Qt decide
    try:
        ctypes.CDLL(str(lib), mode=os.RTLD_LAZY | getattr(os, "RTLD_LOCAL", 0))
    except OSError as err:
        return (
            False,
            f"Qt's {name} platform plugin cannot load ({err}); "
            f"on Debian/Ubuntu: apt-get install {APT_PACKAGES}",
        )
    return True, ""


def gui_available() -> tuple[bool, str]:
    """(True, "") when the operator window can open here; else (False, a one-line reason)."""
    for module, pip in (("PySide6", "PySide6-Essentials"), ("pyqtgraph", "pyqtgraph")):
        if importlib.util.find_spec(module) is None:
            return False, f"{module} is not installed (pip install {pip})"
    try:
        from PySide6 import QtGui, QtWidgets  # noqa: F401 - the import itself is the check
    except ImportError as err:  # e.g. libEGL.so.1 / libGL.so.1 / libfontconfig.so.1 missing
        return False, f"PySide6 cannot load ({err}); on Debian/Ubuntu: apt-get install {APT_PACKAGES}"
    platform = _platform()
    if platform in ("offscreen", "minimal", "vnc", "native"):
        return True, ""
    if platform == "xcb":
        display = os.environ.get("DISPLAY", "")
        if not display:
            return False, "no display (DISPLAY is not set)"
        ok, why = _x_display_reachable(display)
        if not ok:
            return False, why
    if platform == "wayland" and not os.environ.get("WAYLAND_DISPLAY"):
        return False, "no display (WAYLAND_DISPLAY is not set)"
    return _plugin_loads(platform)


def create_app(argv: list[str] | None = None) -> Any:
    from PySide6.QtWidgets import QApplication

    from gui.main_window import apply_style

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv or [sys.argv[0]])
        app.setApplicationName("FaceGate")
        app.setOrganizationName("FaceGate")
        app.setApplicationDisplayName("FaceGate")
        apply_style(app)
    return app


def run_gui(args: Any) -> int:
    """Open the operator window (``args``: optional db, detector, recognizer, threshold, source)."""
    from PySide6.QtCore import QTimer

    from core.deploy.signals import on_stop_signals
    from gui.main_window import MainWindow
    from gui.settings import Settings

    app = create_app()
    window = MainWindow(
        Settings(os.environ.get("FACEGATE_SETTINGS") or None),
        db=getattr(args, "db", None),
        detector=getattr(args, "detector", None),
        recognizer=getattr(args, "recognizer", None),
        threshold=getattr(args, "threshold", None),
        source=getattr(args, "source", None),
    )
    window.show()
    window.start()
    # Ctrl-C / SIGTERM in the terminal close the window the normal way (session saved, threads joined);
    # the timer lets the Python interpreter run its signal handlers while Qt's loop is in C++
    with on_stop_signals(lambda *_: window.close()):
        tick = QTimer()
        tick.start(200)
        tick.timeout.connect(lambda: None)
        code = 1
        try:
            code = int(app.exec())
            return code
        finally:
            tick.stop()
            window.shutdown()
            if window.builder.abandoned_job_running:
                # a model build abandoned at close is inside TensorFlow's C++ code, which the interpreter's
                # exit would tear down mid-call (abort, status 134); the session and settings are saved
                log.info("leaving a model build unfinished")
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
