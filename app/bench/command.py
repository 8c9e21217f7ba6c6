"""``main.py bench``: plan, run every group in a worker, write CSVs, figures, the report and bench.json."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from app.bench.analysis import read_faces, summarise
from app.bench.constants import RUN_COLUMNS, SUMMARY_COLUMNS, WARMUP_FRAMES
from app.bench.figures import write_figures
from app.bench.frames import select_frames, video_frame_count
from app.bench.machine import machine_info
from app.bench.plan import Group, Plan, UsageError, make_plan
from app.bench.process import json_default
from app.bench.report import summary_markdown, write_csv, write_report
from app.bench.runner import Progress, Tally, run_group
from core.deploy.signals import sigterm_as_keyboard_interrupt


def prepare_store(plan: Plan, db: str | None) -> tuple[str, list[str]]:
    """The identity store every worker matches against (the demo people by default), with embeddings for
    every recognizer model in the plan. Returns (path, notes)."""
    from app.session import video_detector
    from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, backends, create_recognizer

    models: dict[str, str] = {}
    available = [b.key for b in backends() if b.kind == "recognizer" and b.available]
    default_runtime = DEFAULT_RECOGNIZER.partition(":")[2]
    for g in plan.groups:
        if g.kind == "facegate" or g.baseline == "tf-tf":
            model = g.recognizer.partition(":")[0]
            # any runtime of the model gives the gallery's embeddings; prefer the default's runtime
            models.setdefault(
                model, next((k for k in available if k == f"{model}:{default_runtime}"), g.recognizer)
            )
    notes = []
    if db:
        from db.store import Store
        from enroll.service import compute_missing_embeddings

        store = Store(db)
        for key in models.values():
            compute_missing_embeddings(store, create_recognizer(key))
        notes.append(f"gallery: {db}")
        return str(db), notes
    from app.demo import ENROLLED, demo_db_path, demo_store

    det = None
    for key in models.values() or [DEFAULT_RECOGNIZER]:
        det = det or video_detector(DEFAULT_DETECTOR)
        demo_store(det, create_recognizer(key))
    notes.append(f"gallery: the demo people ({', '.join(ENROLLED)}) enrolled from their train photos")
    return str(demo_db_path()), notes


def run_bench(ctx: Any, args: argparse.Namespace) -> int:
    """``main.py bench``: plan, run every group in a worker, write CSVs, figures and the report.

    Returns 0 when at least one run was measured, 1 when none was, 2 for unusable options.
    """
    from core.registry import backends

    if getattr(args, "cameras", None):
        from app.bench.cameras import run_cameras_bench

        return run_cameras_bench(ctx, args)
    started = time.time()
    out = Path(getattr(args, "out", None) or "bench-out")
    try:
        plan = make_plan(args, backends(), ctx.detector_key, ctx.recognizer_key)
        videos = _videos(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for what, why in plan.skipped:
        print(f"skipped {what}: {why}", flush=True)
    if not plan.requested:
        print(
            "error: nothing to run: every selected detector or recognizer is unavailable here "
            "(see the reasons above and `main.py backends`)",
            file=sys.stderr,
        )
        return 1

    total = sum(v["frames"] for v in videos)
    indices = select_frames(total, plan.frames)
    warmup = min(WARMUP_FRAMES, len(indices))
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    for name in ("frames.csv", "faces.csv"):  # every run appends; start clean
        (out / name).unlink(missing_ok=True)
    db, notes = prepare_store(plan, getattr(args, "db", None))
    machine = machine_info()
    spec = {
        "out": str(out.resolve()),
        "videos": videos,
        "indices": indices,
        "warmup": warmup,
        "session": "bench-" + time.strftime("%Y%m%d-%H%M%S"),
        "db": db,
        "endpoint": getattr(args, "endpoint", None),
        "token": getattr(args, "token", None),
    }
    n_runs = sum(len(g.runs) for g in plan.groups)
    print(
        f"bench: {n_runs} runs in {len(plan.groups)} processes, {len(indices)} frames each "
        f"(+{warmup} warm-up) from {', '.join(Path(v['path']).name for v in videos)}; results in {out}/",
        flush=True,
    )
    tally = Tally(n_runs)
    interrupted = _run_groups(plan, spec, out, tally, n_runs * (len(indices) + warmup))
    if interrupted:
        notes.append("interrupted: only the runs above were measured")

    rows = summarise(tally.results, read_faces(out / "faces.csv"), machine["platform"])
    figs = _write_tables(out, rows, tally, notes)
    ended = time.time()
    settings = _settings(started, ended, videos, len(indices), warmup, args, machine)
    probes = tally.probes or []
    report = write_report(
        out, rows, figs, plan, machine, settings, tally.failures, probes, notes, tally.warnings
    )
    _write_json(out / "bench.json", machine, settings, plan, tally)
    print("\n" + summary_markdown(rows) + "\n", flush=True)
    print(
        f"wrote {out}/summary.csv, runs.csv, frames.csv, faces.csv, {len(figs)} figures and {report} "
        f"in {ended - started:.0f} s",
        flush=True,
    )
    if interrupted:
        return 130
    return 0 if tally.results else 1


def _write_json(
    path: Path, machine: dict[str, Any], settings: dict[str, Any], plan: Plan, tally: Tally
) -> None:
    """bench.json: the machine, the settings, what was skipped or failed, the probes and every run."""
    bench_json = {
        "machine": machine,
        "settings": settings,
        "skipped": plan.skipped,
        "failures": tally.failures,
        "probes": tally.probes or [],
        "results": tally.results,
    }
    path.write_text(json.dumps(bench_json, indent=1, default=json_default))


def _videos(args: argparse.Namespace) -> list[dict[str, Any]]:
    """``--video`` files (default: the demo video) with their frame count and size."""
    video_paths = [Path(v) for v in (getattr(args, "video", None) or [])]
    if not video_paths:
        from core.demo_video import demo_video

        video_paths = [demo_video()]
    videos: list[dict[str, Any]] = []
    for p in video_paths:
        n, w, h = video_frame_count(p)
        videos.append({"path": str(p.resolve()), "frames": n, "width": w, "height": h})
    return videos


def _group_spec(group: Group) -> dict[str, Any]:
    return {
        "name": group.name,
        "kind": group.kind,
        "detector": group.detector,
        "recognizer": group.recognizer,
        "baseline": group.baseline,
        "runs": group.runs,
    }


def _run_groups(plan: Plan, spec: dict[str, Any], out: Path, tally: Tally, frames: int) -> bool:
    """Run every group, one worker at a time; True when interrupted (Ctrl+C or SIGTERM) part way."""
    progress = Progress(frames)  # each run reports its warm-up share
    try:
        with sigterm_as_keyboard_interrupt():
            for g in plan.groups:
                run_group(g, {"group": _group_spec(g), **spec}, out, progress, tally)
    except KeyboardInterrupt:
        progress.line("interrupted: writing what was measured so far")
        return True
    finally:
        progress.close()
    return False


def _write_tables(out: Path, rows: list[dict[str, Any]], tally: Tally, notes: list[str]) -> dict[str, str]:
    """runs.csv, summary.csv and the figures (when matplotlib imports); returns {figure: caption}."""
    write_csv(
        out / "runs.csv",
        RUN_COLUMNS,
        [{**r, "error": ""} for r in tally.results]
        + [{"run": f["run"], "error": f["reason"]} for f in tally.failures],
    )
    write_csv(out / "summary.csv", SUMMARY_COLUMNS, rows)
    if rows and importlib.util.find_spec("matplotlib") is None:
        notes.append("figures: not drawn, matplotlib is not installed (pip install matplotlib)")
        print(f"note: {notes[-1]}", file=sys.stderr)
    elif rows:
        return write_figures(rows, out)
    return {}


def _settings(
    started: float,
    ended: float,
    videos: list[dict[str, Any]],
    frames: int,
    warmup: int,
    args: argparse.Namespace,
    machine: dict[str, Any],
) -> dict[str, Any]:
    """How the bench ran, for the report and bench.json."""
    machine_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        "ended": time.strftime("%H:%M", time.localtime(ended)),
        "elapsed_s": ended - started,
        "videos": ", ".join(
            f"{Path(v['path']).name} ({v['frames']} frames, {v['width']}x{v['height']})" for v in videos
        ),
        "frames_measured": frames,
        "warmup": warmup,
        "endpoint": getattr(args, "endpoint", None),
        "load_before": machine.get("load_avg"),
        "load_after": [round(x, 2) for x in machine_after] if machine_after else None,
    }
