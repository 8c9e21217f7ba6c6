"""A worker of ``main.py bench --cameras`` (``python -m app.bench.camworker SPEC.json``): N site cameras
played in real time at their own FPS through one :class:`core.cameras.CameraSet`, in a fresh process per
N so a run never warms the next. Reports one JSON line (``type: cameras``) on stdout, like
:mod:`app.bench.worker`."""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.bench.constants import CAMERA_WARMUP_FRAMES, SAMPLER_HZ
from app.bench.process import emit, worker_protocol
from core.deploy.signals import sigterm_as_keyboard_interrupt

log = logging.getLogger(__name__)

STAGES = ("capture_ms", "detect_ms", "embed_ms", "match_ms", "total_ms")


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _mean(values: list[float]) -> float | None:
    return float(statistics.fmean(values)) if values else None


def _load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _build(spec: dict[str, Any]) -> tuple[Any, Any]:
    """(store, warmed local pipeline) of the spec's detector and recognizer."""
    from app.session import local_pipeline, video_detector
    from core.config import Config
    from core.registry import create_recognizer
    from db.store import Store

    det = video_detector(spec["detector"], Config.from_env().detector)
    rec = create_recognizer(spec["recognizer"])
    det.warmup()
    rec.warmup()
    store = Store(spec["db"])
    return store, local_pipeline(det, rec, store, spec.get("threshold"))


def _warm(pipe: Any, videos: list[str], count: int) -> None:
    """Run the pipeline on real 720p frames with a face, and embed batches of 1..count crops: the first
    call of a shape is slow on some runtimes and must not be charged to the measured run."""
    import cv2

    crops = []
    for path in dict.fromkeys(videos):
        cap = cv2.VideoCapture(path)
        cap.set(cv2.CAP_PROP_POS_FRAMES, 20)  # a person stands at the door from frame 6
        for _ in range(CAMERA_WARMUP_FRAMES):
            ok, img = cap.read()
            if not ok:
                break
            faces = pipe.detect(img)
            pipe.embed(img, faces)
            pipe.match(faces)
            crops += [pipe.recognizer.align(img, f) for f in faces]
        cap.release()
    if crops:
        for n in range(1, count + 1):
            pipe.recognizer.embed_crops(np.stack([crops[i % len(crops)] for i in range(n)]))


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Play the spec's cameras in real time through one CameraSet; per-camera and per-run measurements."""
    from core.cameras import CameraSet, CameraSpec, open_cameras
    from core.config import Config
    from core.telemetry import Sampler

    store, pipe = _build(spec)
    cams = spec["cameras"]
    _warm(pipe, [c["path"] for c in cams], len(cams))
    specs = [CameraSpec(c["name"], c["path"]) for c in cams]
    opened = open_cameras(specs)  # every frame delivered until play_realtime (models are loaded by now)
    sampler = Sampler(rate_hz=SAMPLER_HZ).start()
    site = CameraSet(
        pipe,
        opened,
        store,
        track=True,
        frames_csv=spec["frames_csv"],
        events_csv=spec["events_csv"],
        sampler=sampler,
        tracker_config=Config.from_env().tracker,
        record=False,  # decisions use the store's policies; nothing is written to it
    )
    stages: dict[str, dict[str, list[float]]] = {c.name: {s: [] for s in STAGES} for c in site.cameras}
    round_ms: list[float] = []
    limit = int(spec.get("frames") or 0)
    load_before = _load()
    cpu0 = os.times()
    for cam in site.cameras:
        cam.source.grabber.play_realtime()
    t0 = time.perf_counter()
    try:
        while not site.ended:
            done = site.round(timeout=0.5)
            if done:
                round_ms.append(sum(r.timings_ms.get("total_ms", 0.0) for _, r in done))
            for cam, result in done:
                for s in STAGES:
                    if s in result.timings_ms:
                        stages[cam.name][s].append(float(result.timings_ms[s]))
            if limit and all(c.captured >= limit or c.source.ended for c in site.cameras):
                break
        elapsed = time.perf_counter() - t0
        cpu1 = os.times()
        counts = {c.name: (c.captured, c.dropped) for c in site.cameras}
    finally:
        stats = site.close()
        history = sampler.history()
        sampler.close()
    load_after = _load()
    cpu_s = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    rss = [s.rss_mb for s in history if s.rss_mb is not None]
    cameras = []
    for cam, c in zip(site.cameras, cams, strict=True):
        st = stats[cam.name]
        played, dropped = counts[cam.name]
        cameras.append(
            {
                "camera": cam.name,
                "video": c["video"],
                "played": played,
                "processed": st.frames,
                "dropped": dropped,
                "faces": st.faces,
                "recognized": st.recognized,
                # in the order of the frames they were made on (a track that ends is decided later)
                "decisions": [
                    [ev.identity, ev.decision, ev.frame_index]
                    for ev in sorted(st.events, key=lambda e: e.frame_index)
                ],
                "expected_decisions": {
                    name: store.access(name, camera=cam.name)[0]
                    for name in {n for n, _, _ in c["spans"] if n}
                },
                **{f"{s}_p50": _median(v) for s, v in stages[cam.name].items()},
                **{f"{s}_mean": _mean(v) for s, v in stages[cam.name].items()},
                "total_ms_sum": sum(stages[cam.name]["total_ms"]),
            }
        )
    return {
        "count": len(cams),
        "seconds": elapsed,
        "rounds": len(round_ms),
        "round_ms_p50": _median(round_ms),
        "round_ms_mean": _mean(round_ms),
        "busy_pct": 100.0 * sum(round_ms) / 1e3 / elapsed if elapsed > 0 else None,
        "cpu_percent": 100.0 * cpu_s / elapsed if elapsed > 0 else None,
        "rss_mb": max(rss) if rss else None,
        "load_before": load_before,
        "load_after": load_after,
        "cameras": cameras,
    }


def main(spec_path: str) -> int:
    """Entry of the process; the protocol owns the real stdout, everything else goes to stderr (the log)."""
    proto = worker_protocol()
    spec = json.loads(Path(spec_path).read_text())
    try:
        with sigterm_as_keyboard_interrupt():
            emit(proto, type="cameras", **measure(spec))
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - the parent reports it as this count's failure
        log.exception("cameras worker failed")
        emit(proto, type="crash", reason=f"{type(err).__name__}: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
