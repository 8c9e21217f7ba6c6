"""Save a screenshot of the operator window: ``python scripts/screenshot.py OUT.png [--seconds 25]
[--db PATH] [--size 1280x800] [--source NAME=SRC ...] [--site] [--layout 2x2]``. Plays the demo unless
sources are given; ``--site`` plays the four held-out site cameras of tests/scenes.py (front, back, lobby,
garage; real photos) against a store with their four people. Runs offscreen unless a display is set;
used for docs/screenshot.png and docs/screenshot-cameras.png."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def site(folder: Path) -> tuple[Path, list[str]]:
    """The four site cameras and a store with their people (elton_john denied), built once in ``folder``."""
    from app.cli import main
    from core import photos
    from tests.scenes import site_videos

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "site.db"
    if not db.exists():
        train = photos.people("train")
        for name in ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna"):
            policy = ["--policy", "denied"] if name == "elton_john" else []
            if main(["--db", str(db), "enroll", name, *policy, *map(str, train[name][:8])]) != 0:
                raise SystemExit(f"cannot enroll {name}")
    videos = {cam: folder / f"{cam}.avi" for cam in ("front", "back", "lobby", "garage")}
    if not all(p.exists() for p in videos.values()):
        videos = site_videos(folder, photos.people("val"), stay=60)
    return db, [f"{cam}={path}" for cam, path in videos.items()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seconds", type=float, default=25.0)
    ap.add_argument("--db", type=Path, default=None, help="identity store (default: a fresh one in /tmp)")
    ap.add_argument("--size", default="1440x900")
    ap.add_argument("--source", action="append", default=[], help="[NAME=]SRC; repeat for several cameras")
    ap.add_argument("--site", action="store_true", help="the four site cameras and their people")
    ap.add_argument("--layout", choices=["1", "2x2", "3x3"], default="2x2", help="the camera grid")
    ap.add_argument("--select", default="", help="the camera to select (its plots and events)")
    args = ap.parse_args()

    from PySide6.QtCore import Qt

    from gui.app import create_app
    from gui.main_window import MainWindow
    from gui.settings import Settings

    app = create_app()  # as main.py makes it: the operator's style
    tmp = Path("/tmp/facegate-screenshot")
    tmp.mkdir(exist_ok=True)
    db = args.db or tmp / "gate.db"
    sources = list(args.source)
    if args.site:
        site_db, site_sources = site(tmp / "site")
        db, sources = args.db or site_db, sources + site_sources
    (tmp / "facegate.ini").unlink(missing_ok=True)  # a fresh window: no layout saved by an earlier shot
    settings = Settings(tmp / "facegate.ini")
    settings.loop_files = True
    settings.grid_layout = args.layout
    w = MainWindow(settings, db=str(db), source="; ".join(sources) or "demo")
    width, height = (int(v) for v in args.size.split("x"))
    w.setWindowState(Qt.WindowState.WindowNoState)  # this size, even where the screen is smaller
    w.resize(width, height)
    w.show()
    w.start()
    end = time.monotonic() + args.seconds
    selected = False
    while time.monotonic() < end:
        app.processEvents()
        if args.select and not selected and args.select in w.grid.tiles:
            w.select_camera(args.select)
            selected = True
        time.sleep(0.01)
    ok = w.grab().save(str(args.out))
    w.close()
    print(f"saved {args.out}" if ok else f"could not save {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
