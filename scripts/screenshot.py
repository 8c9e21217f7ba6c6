"""Save a screenshot of the operator window playing the demo: ``python scripts/screenshot.py OUT.png
[--seconds 25] [--db PATH]``. Runs offscreen unless a display is set; used for docs/screenshot.png."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seconds", type=float, default=25.0)
    ap.add_argument("--db", type=Path, default=None, help="identity store (default: a fresh one in /tmp)")
    ap.add_argument("--size", default="1440x900")
    args = ap.parse_args()

    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow
    from gui.settings import Settings

    app = QApplication([])
    tmp = Path("/tmp/facegate-screenshot")
    tmp.mkdir(exist_ok=True)
    db = args.db or tmp / "gate.db"
    w = MainWindow(Settings(tmp / "facegate.ini"), db=str(db), source="demo")
    width, height = (int(v) for v in args.size.split("x"))
    w.resize(width, height)
    w.show()
    w.start()
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
    ok = w.grab().save(str(args.out))
    w.close()
    print(f"saved {args.out}" if ok else f"could not save {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
