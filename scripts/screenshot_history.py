"""Save a screenshot of the event history window: ``python scripts/screenshot_history.py OUT.png``. A fresh
store of a week of events made of real face photos (tests/history_scene.py), last Tuesday selected;
offscreen unless a display is set. Used for docs/screenshot-history.png."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from core import photos
    from gui.history import HistoryWindow, to_qdatetime
    from tests.history_scene import build_history_store

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "history.png")
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        store, events = build_history_store(Path(tmp) / "h.db", photos.people("train"), photos.people("val"))
        w = HistoryWindow(lambda: store)
        first, last = events[0]["when"], events[-1]["when"]
        w.from_edit.setDateTime(to_qdatetime(first.replace(hour=0, minute=0)))
        w.to_edit.setDateTime(to_qdatetime(last.replace(hour=23, minute=59)))
        w.apply()
        w.select_event(events[2]["id"])  # a denied event at the front door
        w.show()
        for _ in range(5):
            app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        ok = w.grab().save(str(out))
        w.close()
        store.close()
    print(f"saved {out}" if ok else f"cannot save {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
