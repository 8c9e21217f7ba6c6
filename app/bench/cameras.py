"""``main.py bench --cameras 1,2,4``: how many real-time cameras one process keeps up with.

For each count N, a fresh worker process (:mod:`app.bench.camworker`) plays N 720p site videos
(:mod:`app.bench.site`; the four reused cyclically for N > 4, each camera with its own name) in real time
at their own 20 FPS through one :class:`core.cameras.CameraSet` with the configured detector and
recognizer, for the length of the videos (or ``--frames`` per camera). Per camera: processed FPS, frames
dropped, events and whether everyone was named right (each appearance decided as the store's policy
says, no wrong name, no extra decision); per N: where the time goes (median stage times per frame and per
round, the share of the time the inference loop was busy), process CPU and RSS, the load average.

Outputs in ``--out``: ``cameras.csv`` (one row per N and camera), ``frames-N.csv`` and ``events-N.csv`` (the
session CSVs of each N), ``fig_cameras.png``, ``report.md`` and ``logs/``. The verdict: the largest N whose
every camera keeps >= 18 FPS with <= 10% of its frames dropped and everyone named right.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.bench.constants import (
    CAMERA_COLUMNS,
    CAMERA_DROP_MAX,
    CAMERA_FPS_HOLD,
    SINGLE_STREAM_720P,
)
from app.bench.plan import UsageError
from app.bench.process import run_worker
from app.bench.report import write_csv
from app.bench.site import SITE, site_cameras, site_frames, site_passes, site_spans, site_videos

MAX_CAMERAS = 64


def parse_counts(value: Any) -> list[int]:
    """``--cameras 1,2,4`` -> [1, 2, 4] (sorted, unique); a UsageError when not counts of 1..64."""
    out: set[int] = set()
    for part in str(value).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            n = int(part)
        except ValueError:
            raise UsageError(f"--cameras: {part!r} is not a number (use e.g. 1,2,4)") from None
        if not 1 <= n <= MAX_CAMERAS:
            raise UsageError(f"--cameras: {n} is not a camera count between 1 and {MAX_CAMERAS}")
        out.add(n)
    if not out:
        raise UsageError("--cameras is empty (use e.g. 1,2,4)")
    return sorted(out)


def check_names(
    decisions: Sequence[Sequence[Any]],
    spans: Sequence[Sequence[Any]],
    expected_decisions: dict[str, str],
    played: int,
) -> dict[str, Any]:
    """Compare a camera's decisions [(identity, decision, frame)] with who passed it ``spans`` [(name,
    first, last)]. A decision belongs to the appearance it was made in (the last one that began at or
    before its frame: a track that ends is decided after its last frame); that appearance wants its name
    and the store's decision (``expected_decisions``, "unknown" for a stranger). An appearance that began
    within the ``played`` frames may be decided; one played to its end must be. Returns expected
    (appearances played to their end), wrong_names (a name that never passed this camera), missed, extra
    (any other decision: an unknown for an enrolled person, a wrong decision, a second one) and
    named_right (none of those)."""
    started = [(name, first, last < played) for name, first, last in spans if first < played]
    names = {name for name, _, _ in spans if name}
    wrong = extra = 0
    matched: set[int] = set()
    for identity, decision, frame in decisions:
        if identity and identity not in names:
            wrong += 1
            continue
        k = max((i for i, (_, first, _) in enumerate(started) if first <= frame), default=None)
        if k is None or k in matched:
            extra += 1
            continue
        name = started[k][0]
        if (identity or None, decision) == (
            name,
            "unknown" if name is None else expected_decisions.get(name),
        ):
            matched.add(k)
        else:
            extra += 1
    missed = sum(1 for k, (_, _, required) in enumerate(started) if required and k not in matched)
    return {
        "expected": sum(1 for _, _, required in started if required),
        "wrong_names": wrong,
        "missed": missed,
        "extra": extra,
        "named_right": wrong == 0 and missed == 0 and extra == 0,
    }


def camera_rows(
    result: dict[str, Any], detector: str, recognizer: str, spans: dict[str, list[Any]]
) -> list[dict[str, Any]]:
    """One ``cameras.csv`` row per camera of a worker's result (run-wide values repeated on each); ``spans``:
    who passed each video (:func:`app.bench.site.site_spans`)."""
    rows = []
    for cam in result["cameras"]:
        names = check_names(cam["decisions"], spans[cam["video"]], cam["expected_decisions"], cam["played"])
        seconds = result["seconds"]
        fps = cam["processed"] / seconds if seconds > 0 else 0.0
        drop = cam["dropped"] / cam["played"] if cam["played"] else 0.0
        row = {
            "cameras": result["count"],
            "camera": cam["camera"],
            "video": cam["video"],
            "detector": detector,
            "recognizer": recognizer,
            "played": cam["played"],
            "processed": cam["processed"],
            "seconds": seconds,
            "fps": fps,
            "dropped": cam["dropped"],
            "dropped_pct": 100.0 * drop,
            "faces": cam["faces"],
            "recognized": cam["recognized"],
            "events": len(cam["decisions"]),
            **names,
            "holds": fps >= CAMERA_FPS_HOLD and drop <= CAMERA_DROP_MAX and names["named_right"],
            **{k: cam.get(k) for k in CAMERA_COLUMNS if k.endswith(("_p50", "_mean")) and "round" not in k},
            "round_ms_p50": result.get("round_ms_p50"),
            "round_ms_mean": result.get("round_ms_mean"),
            "rounds": result.get("rounds"),
            "busy_pct": result.get("busy_pct"),
            "cpu_percent": result.get("cpu_percent"),
            "rss_mb": result.get("rss_mb"),
            "load_before": _load_text(result.get("load_before")),
            "load_after": _load_text(result.get("load_after")),
            "decisions": "; ".join(f"{i or 'stranger'}:{d}@{f}" for i, d, f in cam["decisions"]),
        }
        rows.append(row)
    return rows


def _load_text(load: Any) -> str:
    return "" if not load else " ".join(f"{x:.2f}" for x in load)


def verdict(rows: Sequence[dict[str, Any]], counts: Sequence[int]) -> tuple[int | None, str]:
    """(the largest N whose every camera holds, a one-line verdict)."""
    held = {n: bool(rs) and all(r["holds"] for r in rs) for n in counts for rs in [_of(rows, n)]}
    best = max((n for n, ok in held.items() if ok), default=None)
    rule = f">= {CAMERA_FPS_HOLD:g} FPS, <= {CAMERA_DROP_MAX:.0%} dropped and everyone named right on every camera"
    if best is None:
        return None, f"verdict: no camera count held ({rule}); tried {', '.join(map(str, counts))}"
    failed_below = [n for n in counts if n < best and not held[n]]
    note = f" (but {', '.join(map(str, failed_below))} did not)" if failed_below else ""
    return best, f"verdict: {best} camera{'s' if best > 1 else ''} held ({rule}){note}"


def _of(rows: Sequence[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    return [r for r in rows if r["cameras"] == n]


def _store(ctx: Any, args: argparse.Namespace, out: Path) -> tuple[str, str]:
    """(database path, what it is): ``--db`` (its embeddings completed for the recognizer), or
    ``out/site.db`` with the demo's people (the four SITE people) enrolled from their train photos, made
    once per ``--out`` (the user's stores are never written to)."""
    from app.session import video_detector
    from core.registry import DEFAULT_DETECTOR, create_recognizer
    from db.store import Store

    rec = create_recognizer(ctx.recognizer_key)
    if getattr(args, "db", None):
        from enroll.service import compute_missing_embeddings

        store = Store(args.db)
        compute_missing_embeddings(store, rec)
        missing = sorted(
            {n for people in SITE.values() for n, _ in people if n} - {i["name"] for i in store.identities()}
        )
        if missing:
            print(
                f"note: {', '.join(missing)} not enrolled in {args.db}: they cannot be named", file=sys.stderr
            )
        return str(args.db), f"gallery: {args.db}"
    from app.demo import demo_store
    from core.demo_video import DENIED, ENROLLED

    path = out / "site.db"
    demo_store(video_detector(DEFAULT_DETECTOR), rec, Store(path))
    people = ", ".join(f"{n} (denied)" if n == DENIED else n for n in ENROLLED)
    return str(path.resolve()), f"gallery: {people}, enrolled from their train photos into site.db"


def _run_count(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """One N in its own process; its result, or {"error": why}."""
    n = spec["count"]
    spec_path = out / "logs" / f"cameras-{n}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    log_path = out / "logs" / f"cameras-{n}.log"
    result: dict[str, Any] = {"error": "the worker reported nothing"}

    def on_message(msg: dict[str, Any]) -> None:
        nonlocal result
        kind = msg.pop("type", "")
        if kind == "cameras":
            result = msg
        elif kind == "crash":
            result = {"error": msg.get("reason", "crashed")}

    code = run_worker("app.bench.camworker", spec_path, log_path, on_message)
    if code != 0 and "error" not in result:
        result = {"error": f"worker exited with code {code} (log: {log_path})"}
    return result


def run_cameras_bench(ctx: Any, args: argparse.Namespace) -> int:
    """``main.py bench --cameras 1,2,4``; 0 when every count was measured, 1 when one failed, 2 for
    unusable options, 130 when interrupted."""
    from app.bench.figures import write_cameras_figure
    from app.bench.machine import machine_info
    from app.bench.report import cameras_markdown, write_cameras_report
    from core import photos
    from core.deploy.signals import sigterm_as_keyboard_interrupt

    started = time.time()
    out = Path(getattr(args, "out", None) or "bench-out")
    try:
        counts = parse_counts(args.cameras)
        frames = int(getattr(args, "frames", 0) or 0)
        if frames < 0:
            raise UsageError("--frames must be >= 0")
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    det, rec = ctx.detector_key, ctx.recognizer_key
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    (out / "videos").mkdir(exist_ok=True)
    passes = site_passes(frames)  # --frames beyond one pass of the people: they pass again
    videos = {
        k: str(p.resolve())
        for k, p in site_videos(out / "videos", photos.people("val"), passes=passes).items()
    }
    db, gallery = _store(ctx, args, out)
    machine = machine_info()
    spans = site_spans(passes=passes)
    print(
        f"bench --cameras: {', '.join(map(str, counts))} cameras, each a 720p video at its own 20 FPS in real "
        f"time, {frames or 'all'} frames per camera, {det} + {rec}, one process per count; results in {out}/",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    failed = 0
    interrupted = False
    try:
        with sigterm_as_keyboard_interrupt():
            for n in counts:
                cams = [
                    {"name": name, "video": key, "path": videos[key], "spans": spans[key]}
                    for name, key in site_cameras(n)
                ]
                spec = {
                    "count": n,
                    "cameras": cams,
                    "detector": det,
                    "recognizer": rec,
                    "threshold": ctx.config.models.threshold,
                    "db": db,
                    "frames": frames,
                    "frames_csv": str((out / f"frames-{n}.csv").resolve()),
                    "events_csv": str((out / f"events-{n}.csv").resolve()),
                }
                result = _run_count(spec, out)
                if "error" in result:
                    failed += 1
                    failures.append(f"{n} cameras: {result['error']}")
                    print(f"{n} cameras: FAILED: {result['error']}", flush=True)
                    continue
                mine = camera_rows(result, det, rec, spans)
                rows += mine
                print(_count_line(n, mine), flush=True)
    except KeyboardInterrupt:
        interrupted = True
        failures.append("interrupted: only the counts above were measured")
    write_csv(out / "cameras.csv", CAMERA_COLUMNS, rows)
    figs = {}
    if rows:
        try:
            figs = write_cameras_figure(rows, out, SINGLE_STREAM_720P)
        except ImportError as err:
            failures.append(f"figure not drawn: {err}")
    best, line = verdict(rows, counts)
    settings = {
        "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        "elapsed_s": time.time() - started,
        "counts": counts,
        "frames": frames,
        "detector": det,
        "recognizer": rec,
        "gallery": gallery,
        "videos": ", ".join(f"{k}.avi" for k in SITE) + f" ({site_frames(passes=passes)} frames each)",
        "verdict": line,
    }
    report = write_cameras_report(out, rows, figs, machine, settings, failures)
    print("\n" + cameras_markdown(rows) + "\n", flush=True)
    print(line, flush=True)
    print(f"wrote {out}/cameras.csv, {len(figs)} figure(s) and {report}", flush=True)
    if interrupted:
        return 130
    return 1 if failed else 0


def _count_line(n: int, rows: Sequence[dict[str, Any]]) -> str:
    fps = ", ".join(f"{r['camera']} {r['fps']:.1f}" for r in rows)
    drops = max(r["dropped_pct"] for r in rows)
    named = sum(1 for r in rows if r["named_right"])
    return (
        f"{n} camera{'s' if n > 1 else ''}: FPS {fps}; worst drops {drops:.0f}%; named right on {named} of "
        f"{len(rows)}; round {rows[0]['round_ms_p50'] or 0:.0f} ms (median), busy {rows[0]['busy_pct'] or 0:.0f}%, "
        f"CPU {rows[0]['cpu_percent'] or 0:.0f}%, load {rows[0]['load_before']} -> {rows[0]['load_after']}"
    )
