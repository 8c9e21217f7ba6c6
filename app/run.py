"""Headless run: process a source with tracking, print a live one-line status, write the CSVs.

Ctrl-C (or SIGTERM) ends cleanly: open tracks are closed, and every frame row and event is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.cameras import CameraSpec
    from core.deploy.signals import StopRequest
    from core.protocols import FacePipeline


def run_headless(ctx: Any, args: argparse.Namespace) -> int:
    from app.integrations import Integrations, integrations_config
    from core.cameras import open_cameras
    from db.retention import apply_config

    specs = _check_arguments(args)  # every argument that can be wrong, before sources, models or store open
    integrations = Integrations.from_config(integrations_config(ctx.config, args))  # --webhook, --mqtt
    cameras = open_cameras(specs)  # files deliver every frame until the run starts (see _run)
    try:
        store, pipe = _open_session(ctx, args, specs)
        line = apply_config(store, ctx.config.retention)  # retention periods, blur_unknown (db/retention.py)
    except BaseException:
        for _, source in cameras:
            source.close()
        raise
    if line:
        print(line, flush=True)
    integrations.start(store)  # every event stored from now on is delivered through the outbox
    try:
        return _run(ctx, args, cameras, store, pipe)
    finally:
        if integrations.enabled:
            print(integrations.stop(), flush=True)


def _check_arguments(args: argparse.Namespace) -> list[CameraSpec]:
    """The cameras, the output files and, for cloud/hybrid, the endpoint URL: a one-line FaceGateError
    when wrong."""
    from app.cli.common import check_output_file
    from core.cameras import parse_sources

    specs = parse_sources(args.source or ["demo"])
    check_output_file(args.export, "--export")
    check_output_file(args.events, "--events")
    if args.mode != "local":
        check_endpoint_url(args.endpoint, args.mode)
    return specs


def _open_session(ctx: Any, args: argparse.Namespace, specs: list[CameraSpec]) -> tuple[Any, FacePipeline]:
    """(store, pipeline): ``run demo`` without ``--db`` uses the demo's own store (its people enrolled
    once); any other run uses ``--db`` and warns about people this recognizer cannot recognise."""
    from app.session import build_session

    if all(s.source == "demo" for s in specs) and getattr(args, "db", None) is None:
        from app.demo import demo_db_path
        from db.store import Store

        store, demo, report = Store(demo_db_path()), True, None
    else:
        store, demo, report = ctx.store, False, _warn_unrecognisable(ctx.recognizer.model)
    session = build_session(
        ctx.video_detector,
        ctx.recognizer,
        store,
        ctx.threshold,
        args.mode,
        _remote(ctx, args) if args.mode != "local" else None,
        demo=demo,
        report=report,
    )
    return session.store, session.pipeline


def _warn_unrecognisable(model: str) -> Callable[[list[str]], None]:
    def report(names: list[str]) -> None:
        from app.cli.common import printable

        for name in names:
            print(
                f"warning: {printable(name)} has no {model} embedding and no stored face "
                "crop; re-enroll them to recognise them with this recognizer",
                file=sys.stderr,
            )

    return report


def _remote(ctx: Any, args: argparse.Namespace) -> Any:
    """Where ``--mode cloud|hybrid`` sends its work: the endpoint, the token, the CA and the opt-ins."""
    from app.session import Remote

    return Remote(
        endpoint=args.endpoint,
        token=_token(args),
        ca_cert=args.ca_cert,
        config=ctx.config.remote,
        allow_insecure_http=bool(getattr(args, "insecure_http", False)),
        allow_unauthenticated=bool(getattr(args, "allow_unauthenticated_endpoint", False)),
    )


def _run(ctx: Any, args: argparse.Namespace, cameras: list[Any], store: Any, pipe: FacePipeline) -> int:
    """Process the cameras until their sources end, ``--frames`` or Ctrl-C/SIGTERM; then the summary."""
    from core.cameras import CameraSet
    from core.deploy.signals import stop_requested_on_signals
    from core.telemetry import Sampler

    sampler = Sampler().start()
    try:
        site = CameraSet(
            pipe,
            cameras,
            store,
            mode=args.mode,
            track=not args.no_track,
            frames_csv=args.export,
            events_csv=args.events,
            sampler=sampler,
            tracker_config=ctx.config.tracker,
            detector_config=ctx.config.detector,
        )
    except BaseException:
        sampler.close()
        for _, source in cameras:
            source.close()
        raise
    if args.realtime:  # models are loaded: from now on each file plays at its own FPS, dropping frames
        for _, source in cameras:
            source.grabber.play_realtime()
    t_start = time.perf_counter()
    interrupted = False
    try:
        # Ctrl-C or a kill ends the loop between rounds (a second Ctrl-C at once): everything is written
        with stop_requested_on_signals() as stop:
            _loop(args, site, pipe, stop)
        interrupted = stop.requested
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stats = site.close()
        if hasattr(pipe, "close"):  # a remote pipeline: stop its endpoint probe, close its connections
            pipe.close()
        frames = sum(s.frames for s in stats.values())
        energy = _energy_line(sampler, frames)
        sampler.close()
    elapsed = time.perf_counter() - t_start
    if sys.stdout.isatty() and not args.quiet:
        print()
    _print_summary(args, site, store, pipe, elapsed, energy, interrupted)
    return 130 if interrupted else 0


def _say(line: str, tty: bool, status: bool = False) -> None:
    """A line on stdout; on a terminal the status line is rewritten in place, other lines go above it."""
    if status:
        print(("\r" + line[:118].ljust(118)) if tty else line, end="" if tty else "\n", flush=True)
    else:
        print(("\r" + line.ljust(118) + "\n") if tty else line, end="" if tty else "\n", flush=True)


def _loop(args: argparse.Namespace, site: Any, pipe: FacePipeline, stop: StopRequest) -> None:
    """Rounds of the cameras until they end or ``stop`` is requested, printing mode changes, events and
    (unless --quiet) a status line."""
    from app.cli.common import printable

    show = _Shower() if args.show else None
    tty = sys.stdout.isatty()
    several = len(site.cameras) > 1
    last_mode = {cam.name: args.mode for cam in site.cameras}
    waiting = {cam.name: _WaitReporter(cam, several) for cam in site.cameras}
    while not site.ended and not stop.requested:
        done = site.round(timeout=0.5)
        for cam in site.cameras:
            waiting[cam.name]()
        for cam, result in done:
            where = f"{cam.name}: " if several else ""
            if result.mode != last_mode[cam.name]:  # cloud/hybrid fell back to local, or came back
                status = getattr(pipe, "status", "")
                _say(f"{where}mode: {result.mode} from frame {result.frame_index} ({status})", tty)
                last_mode[cam.name] = result.mode
            if show is not None:
                show(cam.name if several else "", cam.last_image, result)
            for ev in result.events:
                name = printable(ev.identity or "unknown")
                _say(f"event: {where}track {ev.track_id} {name} -> {ev.decision}", tty)
        if done and not args.quiet:
            _say(_status_line(site, done[-1][1]) if not several else _cameras_line(site), tty, status=True)
        if args.frames and all(c.frames >= args.frames or c.source.ended for c in site.cameras):
            break


def _status_line(site: Any, result: Any) -> str:
    cam = site.cameras[0]
    t = result.timings_ms
    names = ", ".join(sorted({f.identity for f in result.faces if f.identity})) or "-"
    fps = cam.engine.fps.fps() or 0.0
    return (
        f"frame {cam.engine.stats.frames:5d}  {fps:5.1f} FPS  faces {len(result.faces)} "
        f"[{names}]  detect {t['detect_ms']:.0f} ms  embed {t['embed_ms']:.0f} ms "
        f"({result.recognized} recognised)  dropped {cam.dropped}  {cam.source.status}"
    )


def _cameras_line(site: Any) -> str:
    """Several cameras: FPS, faces and drops of each, and the state of those not live."""
    parts = []
    for cam in site.cameras:
        fps = cam.engine.fps.fps() or 0.0
        faces = len(cam.last.faces) if cam.last is not None else 0
        state = "" if cam.state == "live" else f" {cam.state}"
        parts.append(f"{cam.name} {fps:4.1f} FPS {faces}f d{cam.dropped}{state}")
    return " | ".join(parts)


def _print_summary(
    args: argparse.Namespace,
    site: Any,
    store: Any,
    pipe: FacePipeline,
    elapsed: float,
    energy: str,
    interrupted: bool,
) -> None:
    """The totals (one camera: as always), then one line per camera when there are several."""
    from app.cli.common import printable

    stats = {c.name: c.engine.stats for c in site.cameras}
    frames = sum(s.frames for s in stats.values())
    faces = sum(s.faces for s in stats.values())
    recognized = sum(s.recognized for s in stats.values())
    fps = frames / elapsed if elapsed > 0 else 0.0
    saved = 1 - recognized / faces if faces else 0.0
    what = site.cameras[0].source.name if len(site.cameras) == 1 else f"{len(site.cameras)} cameras"
    print(
        f"{'interrupted: ' if interrupted else ''}processed {frames} frames from {what} in "
        f"{elapsed:.1f} s ({fps:.1f} FPS) with {pipe.detector.key} + {pipe.recognizer.key}; "
        f"recognised {recognized} of {faces} faces (tracking saved {saved:.0%})"
    )
    if len(site.cameras) > 1:
        for cam in site.cameras:
            s = stats[cam.name]
            decided = _counts(s.events)
            print(
                f"camera {cam.name} ({cam.source.name}): {s.frames} frames, "
                f"{s.frames / elapsed if elapsed > 0 else 0.0:.1f} FPS, dropped {cam.dropped} of "
                f"{cam.captured} ({cam.drop_rate():.0%}), {cam.state}; events: {decided}"
            )
    seen: dict[str, int] = {}
    for s in stats.values():
        for name, n in s.seen.items():
            seen[name] = seen.get(name, 0) + n
    for name, n in sorted(seen.items(), key=lambda kv: -kv[1]):
        where = ""
        if len(site.cameras) > 1:
            where = " on " + ", ".join(c.name for c in site.cameras if name in stats[c.name].seen)
        print(f"saw {printable(name)} ({store.policy(name) or 'removed'}) in {n} frames{where}")
    skipped = sum(c.engine.still_gate.skipped for c in site.cameras if c.engine.still_gate is not None)
    if skipped:
        print(f"still frames: detection skipped on {skipped} of {frames} frames (nothing moved, no track)")
    print(energy)
    print("events: " + _counts([ev for s in stats.values() for ev in s.events]))
    if site.session_id:
        print(f"session {site.session_id} saved in {store.path}")
    for label, path in (("frames", args.export), ("events", args.events)):
        if path:
            print(f"{label} CSV: {path}")


def _counts(events: list[Any]) -> str:
    counts: dict[str, int] = {}
    for ev in events:
        counts[ev.decision] = counts.get(ev.decision, 0) + 1
    return ", ".join(f"{n} {d}" for d, n in sorted(counts.items())) or "none"


class _WaitReporter:
    """While a live camera gives no frame (no such camera, camera unplugged, stream down), say on stderr
    what is wrong and when the next try is, once per change: the capture thread retries with backoff."""

    def __init__(self, camera: Any, several: bool) -> None:
        self.camera = camera
        self.label = f"{camera.name} ({camera.source.name})" if several else camera.source.name
        self.said = ""

    def __call__(self) -> None:
        source = self.camera.source
        error = source.grabber.error
        if error and source.status != self.said:
            self.said = source.status
            print(f"waiting for {self.label}: {self.said}", file=sys.stderr, flush=True)


def check_endpoint_url(url: str | None, mode: str) -> None:
    """A usable ``http(s)://host[:port][/base]`` endpoint URL, or a one-line FaceGateError."""
    from core.errors import FaceGateError
    from core.urls import check_http_url

    if not url:
        raise FaceGateError(f"{mode} mode needs an endpoint URL (--endpoint http://host:port)")
    check_http_url(url, "--endpoint", "write e.g. --endpoint http://127.0.0.1:8000")


def _token(args: argparse.Namespace) -> str | None:
    """The bearer token from --token or --token-file (stripped), or None."""
    from core.token_file import read_secret

    if getattr(args, "token_file", None):
        return read_secret(args.token_file, "token")
    return (getattr(args, "token", None) or "").strip() or None


def _energy_line(sampler: Any, frames: int) -> str:
    """Energy per frame over the run where a power sensor exists; otherwise why there is none."""
    history = sampler.history()
    if len(history) >= 2 and frames:
        joules = sampler.energy_j(history[0].t, history[-1].t)
        if joules is not None:
            span = history[-1].t - history[0].t
            return (
                f"power: {joules / span:.1f} W average ({history[-1].power_source}), "
                f"{joules / frames:.3f} J per frame"
            )
    reasons = [f"{s.name}: {s.reason}" for s in sampler.status() if not s.available and s.name != "process"]
    return "power: no sensor (" + "; ".join(reasons) + ")"


class _Shower:
    """--show: an OpenCV window when this OpenCV build has one; otherwise says how to get one."""

    def __init__(self) -> None:
        from core.annotate import Annotator

        self.annotator = Annotator()
        self.ok = True

    def __call__(self, camera: str, image: Any, result: Any) -> None:
        if not self.ok or image is None:
            return
        import cv2

        try:
            cv2.imshow(f"FaceGate {camera}".strip(), self.annotator.annotate(image, result))
            cv2.waitKey(1)
        except cv2.error:
            self.ok = False
            print(
                "note: --show needs an OpenCV build with a GUI (this one is headless); "
                "the desktop app `python main.py` shows the video",
                file=sys.stderr,
            )
