"""GUI-thread responsiveness: FPS with and without the window, frame-to-screen latency, event-loop lag.

    python benchmarks/bench_gui.py                       # offscreen Qt (QT_QPA_PLATFORM=offscreen)
    xvfb-run -s "-screen 0 1600x1000x24" python benchmarks/bench_gui.py --platform xcb   # a real X window

Runs on the demo video (1280x720, real faces), the default backends:
1. headless: the same Engine loop without Qt (what ``main.py run`` does), every frame, no pacing;
2. GUI, max throughput: the window with the demo read without pacing (the inference thread is the limit);
3. GUI, real time: the demo paced at its 15 FPS like a camera (what an operator sees), with a backend
   switch in the middle.
Measured in the window: processed FPS (inference thread), shown FPS (frames painted), frame-to-screen
latency (capture time -> end of paint), and GUI event-loop lag (a 5 ms timer's lateness: how long the GUI
thread was busy; > 50 ms feels sluggish), overall and around the backend switch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, float), q)) if values else float("nan")


def headless(frames: int) -> dict[str, float]:
    from app.demo import demo_store
    from app.session import local_pipeline
    from core.engine import Engine
    from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, create_detector, create_recognizer
    from core.sources import open_source

    det, rec = create_detector(DEFAULT_DETECTOR), create_recognizer(DEFAULT_RECOGNIZER)
    det.warmup()
    rec.warmup()
    store = demo_store(det, rec)
    engine = Engine(local_pipeline(det, rec, store), store=None)
    n = 0
    t0 = time.perf_counter()
    while n < frames:
        source = open_source("demo", realtime=False)
        for frame in source.iter_frames():
            engine.process(frame.image, n, frame.timestamp, frame.capture_ms)
            n += 1
            if n >= frames:
                break
        source.close()
    elapsed = time.perf_counter() - t0
    engine.close()
    return {"frames": n, "fps": n / elapsed}


def gui(seconds: float, realtime: bool, switch_to: str | None, size: tuple[int, int]) -> dict[str, float]:
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.app import create_app
    from gui.main_window import MainWindow
    from gui.settings import Settings
    from gui.views import SourceSpec

    app = create_app()
    settings = Settings(Path(os.environ.get("TMPDIR", "/tmp")) / f"facegate-bench-{os.getpid()}.ini")
    w = MainWindow(settings, source="demo")
    w.controller.source_for = lambda spec: SourceSpec(spec, realtime=realtime, loop=True)  # type: ignore[method-assign]
    w.resize(*size)
    w.show()
    w.start()
    lags: list[tuple[float, float]] = []  # (time, lag ms)
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]
    tick = QTimer()
    tick.setInterval(5)

    def on_tick() -> None:
        now = clock.elapsed()
        lags.append((time.monotonic(), max(0.0, now - last[0] - 5.0)))
        last[0] = now

    tick.timeout.connect(on_tick)
    state: dict[str, float] = {}

    def first_frame() -> None:
        if "t0" not in state:
            state["t0"] = time.monotonic()
            state["painted0"] = w.video.frames_painted
            state["processed0"] = w.worker.frames_processed
            w.video.latencies_ms.clear()
            lags.clear()
            last[0] = clock.elapsed()
            tick.start()
            if switch_to:
                QTimer.singleShot(
                    int(seconds * 500),
                    lambda: (
                        state.__setitem__("switch_at", time.monotonic()),
                        w.switch("recognizer", switch_to),
                    ),
                )
            QTimer.singleShot(int(seconds * 1000), finish)

    def switched(mark) -> None:  # noqa: ANN001
        if mark.kind == "recognizer":
            state["switched_at"] = time.monotonic()
            state["build_ms"] = mark.build_ms
            state["frames_during_build"] = mark.frames_during_build

    def finish() -> None:
        state["t1"] = time.monotonic()
        state["painted1"] = w.video.frames_painted
        state["processed1"] = w.worker.frames_processed
        tick.stop()
        w.close()
        app.quit()

    w.frameShown.connect(lambda _: first_frame())
    w.backendSwitched.connect(switched)
    app.exec()
    span = state["t1"] - state["t0"]
    lat = list(w.video.latencies_ms)
    paint = list(w.video.paint_ms)
    all_lag = [v for _, v in lags]
    out = {
        "platform": QApplication.platformName(),
        "seconds": round(span, 1),
        "processed_fps": (state["processed1"] - state["processed0"]) / span,
        "shown_fps": (state["painted1"] - state["painted0"]) / span,
        "latency_ms_p50": pct(lat, 50),
        "latency_ms_p95": pct(lat, 95),
        "latency_ms_max": max(lat or [0]),
        "paint_ms_p50": pct(paint, 50),
        "paint_ms_p95": pct(paint, 95),
        "gui_lag_ms_p50": pct(all_lag, 50),
        "gui_lag_ms_p95": pct(all_lag, 95),
        "gui_lag_ms_max": max(all_lag or [0]),
    }
    if lags:
        t_max, _ = max(lags, key=lambda tv: tv[1])
        out["gui_lag_max_at_s"] = t_max - state["t0"]
        out["gui_lags_over_50ms"] = sum(1 for _, v in lags if v > 50)
    if "switch_at" in state:
        out["switch_at_s"] = state["switch_at"] - state["t0"]
    if "switched_at" in state:
        around = [v for t, v in lags if state["switch_at"] - 0.5 <= t <= state["switched_at"] + 0.5]
        out.update(
            {
                "switch_build_ms": state["build_ms"],
                "switch_frames_during_build": state["frames_during_build"],
                "switch_gui_lag_ms_max": max(around or [0]),
            }
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0, help="measured seconds per GUI run")
    ap.add_argument("--frames", type=int, default=300, help="frames for the headless run")
    ap.add_argument(
        "--platform", default=None, help="QT_QPA_PLATFORM (default offscreen unless DISPLAY is set)"
    )
    ap.add_argument(
        "--switch-to", default="facenet128:tflite", help="recognizer switched to mid-run ('' = none)"
    )
    ap.add_argument("--size", default="1440x900")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    os.environ["QT_QPA_PLATFORM"] = args.platform or ("xcb" if os.environ.get("DISPLAY") else "offscreen")
    size = tuple(int(v) for v in args.size.split("x"))
    results = {
        "headless": headless(args.frames),
        "gui_max": gui(args.seconds, False, None, size),
        "gui_realtime": gui(args.seconds, True, args.switch_to or None, size),
        "cpus": os.cpu_count(),
    }
    for name, r in results.items():
        if isinstance(r, dict):
            print(
                f"{name:13s} "
                + "  ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items())
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
