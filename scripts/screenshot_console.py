"""Screenshots of the operator console's history, alarm and audit views on real recordings:
``python scripts/screenshot_console.py OUTDIR``. Builds the four held-out site cameras and their store
(scripts/screenshot.py), records them with ``main.py run`` (real models: real decisions, face crops and
frame snapshots), makes the changes an operator makes (a threshold, a policy, an acknowledgement) and
then plays the cameras in the window in full screen until an alarm shows, and saves
``screenshot-history.png``, ``screenshot-alarms.png``, ``screenshot-audit.png`` and
``screenshot-fullscreen.png`` in OUTDIR. Offscreen unless a display is set; used for the docs/ screenshots."""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
if "QT_QPA_PLATFORM" not in os.environ and not os.environ.get("DISPLAY"):
    # offscreen, on a 1280x720 screen (the full-screen shot's size; the platform's default is 800x800)
    SCREEN = Path("/tmp/facegate-screenshot/screen.json")
    SCREEN.parent.mkdir(parents=True, exist_ok=True)
    SCREEN.write_text(
        '{"screens": [{"name": "shot", "x": 0, "y": 0, "width": 1280, "height": 720, "dpr": 1}]}'
    )
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={SCREEN}"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RUNS = 3  # recordings of the site: events spread over a couple of minutes


def record(folder: Path) -> Path:
    """The site's store with RUNS recordings of its four cameras and an operator's changes (built once)."""
    from screenshot import site

    from app.cli import main
    from db.store import Store

    db, sources = site(folder)
    store = Store(db)
    try:
        if store.find_events():
            return db
    finally:
        store.close()
    for _ in range(RUNS):
        args = ["--db", str(db), "run"]
        for src in sources:
            args += ["--source", src]
        if main(args) != 0:
            raise SystemExit("the recording failed")
    store = Store(db)
    try:
        store.record_threshold("facenet128", 1.0, 0.92)  # as the window's slider records it
        store.set_policy("madonna", "schedule", "mon-fri 07:00-19:00")  # then back: both in the audit
        store.set_policy("madonna", "allowed")
        first = next(a for a in store.alarms(open_only=True) if a["decision"] == "unknown")
        store.ack_alarm(first["id"], "visitor for reception, escorted")
    finally:
        store.close()
    return db


def settle(app: object, widget: object, rounds: int = 8) -> None:
    for _ in range(rounds):
        app.processEvents()  # type: ignore[attr-defined]


def history_shot(app: object, store: object, out: Path) -> bool:
    from gui.history import HistoryWindow, to_qdatetime

    events = store.find_events()  # type: ignore[attr-defined]
    first = _dt.datetime.fromisoformat(events[0]["timestamp"]).astimezone()
    last = _dt.datetime.fromisoformat(events[-1]["timestamp"]).astimezone()
    w = HistoryWindow(lambda: store)
    w.resize(1280, 780)
    w.from_edit.setDateTime(to_qdatetime(first - _dt.timedelta(seconds=30)))
    w.to_edit.setDateTime(to_qdatetime(last + _dt.timedelta(minutes=1)))
    w.apply()
    denied = next(e for e in events if e["decision"] == "denied")
    w.select_event(denied["id"])
    w.show()
    settle(app, w)
    ok = w.grab().save(str(out))
    w.close()
    return ok


def window_shots(app: Any, db: Path, sources: list[str], outdir: Path, seconds: float = 40.0) -> int:
    """The window on the site cameras in full screen until its overlay shows a new alarm; then the
    alarms and audit windows. Returns how many shots failed."""
    from gui.alarms import open_audit
    from gui.main_window import MainWindow
    from gui.settings import Settings

    settings = Settings(db.parent / "facegate.ini")
    settings.loop_files = True
    settings.grid_layout = "2x2"
    w = MainWindow(settings, db=str(db), source="; ".join(sources))
    w.resize(1280, 720)
    w.show()
    w.start()
    before = w.gui_store().open_alarm_count()
    w.toggle_fullscreen()
    start = time.monotonic()
    while time.monotonic() < start + seconds:  # a new alarm after 15 s of video, its face still in view
        app.processEvents()
        count = w.gui_store().open_alarm_count()
        if count > before:
            before = count
            if time.monotonic() > start + 15:
                break
        time.sleep(0.02)
    end = time.monotonic() + 1.0  # the faces named by then
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)
    settle(app, w, 30)
    failed = 0

    def save(widget: Any, name: str) -> None:
        nonlocal failed
        ok = widget.grab().save(str(outdir / name))
        print(f"saved {outdir / name}" if ok else f"could not save {outdir / name}")
        failed += not ok

    save(w, "screenshot-fullscreen.png")
    w.toggle_fullscreen()
    alarms = w.alarms.open_window()
    alarms.show_acked.setChecked(True)
    alarms.resize(1000, 560)
    settle(app, alarms)
    save(alarms, "screenshot-alarms.png")
    alarms.close()
    audit = open_audit(w)
    audit.resize(1000, 420)
    settle(app, audit)
    save(audit, "screenshot-audit.png")
    audit.close()
    w.close()
    return failed


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from db.store import Store
    from gui.main_window import apply_style

    outdir = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    outdir.mkdir(parents=True, exist_ok=True)
    from screenshot import site

    folder = Path("/tmp/facegate-screenshot/console")
    db = record(folder)
    app = QApplication.instance() or QApplication([])
    apply_style(app)  # type: ignore[arg-type]
    store = Store(db)
    ok = history_shot(app, store, outdir / "screenshot-history.png")
    print(f"saved {outdir / 'screenshot-history.png'}" if ok else "could not save the history")
    store.close()
    failed = (not ok) + window_shots(app, db, site(folder)[1], outdir)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
