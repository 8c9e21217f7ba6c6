"""Bytes up per frame, cloud vs hybrid, on a 480p scene of people coming and going (real photos, textured wall).

Runs the engine (tracker included) over ``tests/scenes.py:lobby_scene`` (210 frames at 15 FPS:
ben and jerry (allowed), elton (denied) and a stranger walk in, stand and leave, two of them in view at
once) in each mode against a real ``main.py serve`` on a free loopback port, and prints per mode:
bytes up and down per frame, the upload ratio against cloud, requests, the access events and whether
they are local's, and on which frame (and second of the run) each decision was made.

- ``cloud``: every frame as JPEG (quality 85);
- ``hybrid raw, in-frame``: the old default (UINT8 crops, every question answered within its frame);
- ``hybrid jpeg, in-frame``: JPEG crops (quality 90), answered within the frame;
- ``hybrid jpeg + pending``: today's default: JPEG crops, routine questions in the background, a
  track whose answer is on its way is not asked again.

``--rtt-ms`` adds that much delay to every request (a WAN link) and ``--fps`` paces the frames like a
camera, so the background requests' effect shows: with ``--rtt-ms 200 --fps 15`` the in-frame modes
stall each asking frame for the round trip, the pending mode does not.

    python benchmarks/bench_uplink.py [--rtt-ms 0] [--fps 0] [--modes cloud,raw,jpeg,pending]
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODES = {
    "local": ("local", {}),
    "cloud": ("cloud", {}),
    "raw": ("hybrid raw, in-frame (old default)", {"crop_format": "raw", "background": False}),
    "jpeg": ("hybrid jpeg, in-frame", {"crop_format": "jpeg", "background": False}),
    "serial": ("hybrid jpeg + pending, serial", {"first_crops": 1}),
    "pending": ("hybrid jpeg + pending (default)", {}),
}


def enrolled_store(folder: Path) -> Path:
    """A store with ben_afflek, jerry_seinfeld (allowed) and elton_john (denied), from their train photos."""
    from app.cli import main
    from core import photos

    db = folder / "lobby.db"
    train = photos.people("train")
    for name, policy in (("ben_afflek", []), ("jerry_seinfeld", []), ("elton_john", ["--policy", "denied"])):
        with redirect_stdout(io.StringIO()):
            code = main(["--db", str(db), "enroll", name, *policy, *map(str, train[name])])
        if code != 0:
            raise SystemExit(f"enrolling {name} failed")
    return db


def run_mode(
    key: str, frames: list[Any], local: Any, store: Any, url: str, token: str, rtt_ms: float, fps: float
) -> dict[str, Any]:
    from core.deploy.client import remote_pipeline
    from core.engine import Engine

    mode, kwargs = MODES[key][0].split()[0], MODES[key][1]
    pipe = (
        local
        if mode == "local"
        else remote_pipeline(mode, local, endpoint=url, token=token, fallback_after_s=20, **kwargs)
    )
    if rtt_ms > 0 and mode != "local":
        infer = pipe.link.infer

        def slow_infer(*a: Any, **kw: Any) -> Any:
            time.sleep(rtt_ms / 1e3)
            return infer(*a, **kw)

        pipe.link.infer = slow_infer
    engine = Engine(pipe, store=store, record=False)
    up = down = requests = 0
    modes: set[str] = set()
    frame_ms, embed_ms, decided_s, decided_at = [], [], [], []
    t_start = time.perf_counter()
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        result = engine.process(frame, i, timestamp=i / 15.0)
        frame_ms.append((time.perf_counter() - t0) * 1e3)
        embed_ms.append(result.timings_ms["embed_ms"])
        decided_s += [time.perf_counter() - t_start] * len(result.events)
        decided_at += [(i, e.identity or "", e.decision) for e in result.events]
        modes.add(result.mode)
        if mode != "local":
            s = pipe.frame_stats()
            up += s["bytes_up"] or 0
            down += s["bytes_down"] or 0
            requests += s["requests"]
        if fps > 0:
            time.sleep(max(0.0, t0 + 1 / fps - time.perf_counter()))
    stats = engine.close()
    wall = time.perf_counter() - t_start
    if pipe is not local:
        pipe.close()
    frame_ms.sort()
    return {
        "up": up,
        "down": down,
        "requests": requests,
        "modes": modes,
        "events": sorted((e.identity or "", e.decision, e.reason) for e in stats.events),
        "decided_at": decided_at
        + [(len(frames), e.identity or "", e.decision) for e in stats.events[len(decided_at) :]],
        "p50_ms": frame_ms[len(frame_ms) // 2],
        "max_ms": frame_ms[-1],
        "embed_max_ms": max(embed_ms),
        "decided_s": decided_s,
        "wall_s": wall,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", default="cloud,raw,jpeg,pending", help="of " + ",".join(MODES))
    ap.add_argument("--rtt-ms", type=float, default=0.0, help="extra delay per request (a WAN link)")
    ap.add_argument(
        "--fps", type=float, default=0.0, help="pace the frames like a camera (0: as fast as possible)"
    )
    args = ap.parse_args()
    keys = ["local", *[k for k in args.modes.split(",") if k and k != "local"]]
    unknown = [k for k in keys if k not in MODES]
    if unknown:
        ap.error(f"unknown modes {unknown}; choose from {', '.join(MODES)}")

    from benchmarks.bench_endpoint import Server
    from benchmarks.common import machine
    from core import photos
    from core.pipeline import Pipeline
    from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, create_detector, create_recognizer
    from db.store import Store
    from tests.scenes import lobby_scene

    scene = lobby_scene(photos.people("val"))
    n = len(scene.frames)
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(enrolled_store(Path(tmp)))
        det, rec = create_detector(DEFAULT_DETECTOR), create_recognizer(DEFAULT_RECOGNIZER)
        local = Pipeline(det, rec, store.gallery(rec.model, rec.default_threshold))
        server = Server(token)
        try:
            runs = {
                k: run_mode(k, scene.frames, local, store, server.url, token, args.rtt_ms, args.fps)
                for k in keys
            }
        finally:
            server.stop()
    print(f"# uplink: {n} frames 640x480 (lobby scene, textured wall), {machine()}")
    print(
        f"# extra round trip {args.rtt_ms:g} ms, pacing {args.fps:g} FPS; endpoint on this machine (loopback)"
    )
    cloud_up = runs["cloud"]["up"] if "cloud" in runs else None
    print(
        f"{'mode':36} {'up B/frame':>11} {'down B/frame':>12} {'vs cloud':>9} {'requests':>8} "
        f"{'frame p50/max ms':>17} {'recognise max ms':>16}  same events as local"
    )
    for k, r in runs.items():
        ratio = f"{cloud_up / r['up']:.1f}x" if cloud_up and r["up"] else "-"
        same = "yes" if r["events"] == runs["local"]["events"] else f"NO: {r['events']}"
        print(
            f"{MODES[k][0]:36} {r['up'] / n:>11.0f} {r['down'] / n:>12.0f} {ratio:>9} {r['requests']:>8} "
            f"{r['p50_ms']:>8.0f}/{r['max_ms']:<8.0f} {r['embed_max_ms']:>16.0f}  {same}"
        )
    for k, r in runs.items():
        at = ", ".join(
            f"{who or 'stranger'} {d} at frame {f} ({t:.2f} s)"
            for (f, who, d), t in zip(r["decided_at"], r["decided_s"], strict=False)
        )
        print(f"  {k}: {at}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
