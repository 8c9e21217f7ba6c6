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
    from core.protocols import FacePipeline


def run_headless(ctx: Any, args: argparse.Namespace) -> int:
    from core.sources import open_source

    _check_arguments(args)  # every argument that can be wrong, before the source, models or store open
    source = open_source(args.source, realtime=True if args.realtime else None)
    try:
        store, pipe = _open_session(ctx, args)
    except BaseException:
        source.close()
        raise
    return _run(ctx, args, source, store, pipe)


def _check_arguments(args: argparse.Namespace) -> None:
    """The output files and, for cloud/hybrid, the endpoint URL: a one-line FaceGateError when wrong."""
    from app.cli.common import check_output_file

    check_output_file(args.export, "--export")
    check_output_file(args.events, "--events")
    if args.mode != "local":
        check_endpoint_url(args.endpoint, args.mode)


def _open_session(ctx: Any, args: argparse.Namespace) -> tuple[Any, FacePipeline]:
    """(store, pipeline): ``run demo`` without ``--db`` uses the demo's own store (its people enrolled
    once); any other run uses ``--db`` and warns about people this recognizer cannot recognise."""
    from app.session import build_session

    if args.source == "demo" and getattr(args, "db", None) is None:
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


def _run(ctx: Any, args: argparse.Namespace, source: Any, store: Any, pipe: FacePipeline) -> int:
    """Process the source until it ends, ``--frames`` or Ctrl-C/SIGTERM; then print the summary."""
    from core.deploy.signals import sigterm_as_keyboard_interrupt
    from core.engine import Engine
    from core.telemetry import Sampler

    sampler = Sampler().start()
    engine = Engine(
        pipe,
        store,
        source_name=source.name,
        mode=args.mode,
        track=not args.no_track,
        frames_csv=args.export,
        events_csv=args.events,
        sampler=sampler,
        tracker_config=ctx.config.tracker,
    )
    t_start = time.perf_counter()
    interrupted = False
    try:
        with sigterm_as_keyboard_interrupt():  # a kill ends the run like Ctrl-C: everything is written
            _loop(args, source, engine, pipe)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        source.close()
        stats = engine.close()
        if hasattr(pipe, "close"):  # a remote pipeline: stop its endpoint probe, close its connections
            pipe.close()
        energy = _energy_line(sampler, stats.frames)
        sampler.close()
    elapsed = time.perf_counter() - t_start
    if sys.stdout.isatty() and not args.quiet:
        print()
    _print_summary(args, source, store, pipe, engine, stats, elapsed, energy, interrupted)
    return 130 if interrupted else 0


def _loop(args: argparse.Namespace, source: Any, engine: Any, pipe: FacePipeline) -> None:
    """Each frame through the engine, printing mode changes, events and (unless --quiet) a status line."""
    from app.cli.common import printable

    show = _Shower() if args.show else None
    tty = sys.stdout.isatty()
    last_mode = args.mode
    waiting = _WaitReporter(source)
    for frame in source.iter_frames(on_wait=waiting):
        result = engine.process(
            frame.image, frame.index, frame.timestamp, frame.capture_ms, dropped=source.grabber.dropped
        )
        if result.mode != last_mode:  # cloud/hybrid fell back to local, or came back
            line = f"mode: {result.mode} from frame {result.frame_index} ({getattr(pipe, 'status', '')})"
            print(("\r" + line.ljust(118) + "\n") if tty else line, end="" if tty else "\n", flush=True)
            last_mode = result.mode
        if show is not None:
            show(frame.image, result)
        for ev in result.events:
            line = f"event: track {ev.track_id} {printable(ev.identity or 'unknown')} -> {ev.decision}"
            print(("\r" + line.ljust(118) + "\n") if tty else line, end="", flush=True)
            if not tty:
                print()
        if not args.quiet:
            line = _status_line(engine, source, result)
            print(("\r" + line[:118].ljust(118)) if tty else line, end="" if tty else "\n", flush=True)
        if args.frames and engine.stats.frames >= args.frames:
            break


def _status_line(engine: Any, source: Any, result: Any) -> str:
    t = result.timings_ms
    names = ", ".join(sorted({f.identity for f in result.faces if f.identity})) or "-"
    fps = engine.fps.fps() or 0.0
    return (
        f"frame {engine.stats.frames:5d}  {fps:5.1f} FPS  faces {len(result.faces)} "
        f"[{names}]  detect {t['detect_ms']:.0f} ms  embed {t['embed_ms']:.0f} ms "
        f"({result.recognized} recognised)  dropped {source.grabber.dropped}  {source.status}"
    )


def _print_summary(
    args: argparse.Namespace,
    source: Any,
    store: Any,
    pipe: FacePipeline,
    engine: Any,
    stats: Any,
    elapsed: float,
    energy: str,
    interrupted: bool,
) -> None:
    from app.cli.common import printable

    fps = stats.frames / elapsed if elapsed > 0 else 0.0
    saved = 1 - stats.recognized / stats.faces if stats.faces else 0.0
    print(
        f"{'interrupted: ' if interrupted else ''}processed {stats.frames} frames from {source.name} in "
        f"{elapsed:.1f} s ({fps:.1f} FPS) with {pipe.detector.key} + {pipe.recognizer.key}; "
        f"recognised {stats.recognized} of {stats.faces} faces (tracking saved {saved:.0%})"
    )
    for name, frames in sorted(stats.seen.items(), key=lambda kv: -kv[1]):
        print(f"saw {printable(name)} ({store.policy(name) or 'removed'}) in {frames} frames")
    print(energy)
    counts: dict[str, int] = {}
    for ev in stats.events:
        counts[ev.decision] = counts.get(ev.decision, 0) + 1
    print("events: " + (", ".join(f"{n} {d}" for d, n in sorted(counts.items())) or "none"))
    if engine.session_id:
        print(f"session {engine.session_id} saved in {store.path}")
    for label, path in (("frames", args.export), ("events", args.events)):
        if path:
            print(f"{label} CSV: {path}")


class _WaitReporter:
    """While a live source gives no frame (no such camera, camera unplugged, stream down), say on stderr
    what is wrong and when the next try is, once per change: the capture thread retries with backoff."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.said = ""

    def __call__(self) -> None:
        error = self.source.grabber.error
        if error and self.source.status != self.said:
            self.said = self.source.status
            print(f"waiting for {self.source.name}: {self.said}", file=sys.stderr, flush=True)


def check_endpoint_url(url: str | None, mode: str) -> None:
    """A usable ``http(s)://host[:port][/base]`` endpoint URL, or a one-line FaceGateError."""
    from urllib.parse import urlsplit

    from core.errors import FaceGateError
    from core.sources import redact_url

    if not url:
        raise FaceGateError(f"{mode} mode needs an endpoint URL (--endpoint http://host:port)")
    hint = "write e.g. --endpoint http://127.0.0.1:8000"
    try:
        parts = urlsplit(url)
        port = parts.port
        url = redact_url(url)  # the messages below never show a password
    except ValueError as err:
        raise FaceGateError(f"--endpoint {url!r}: not a valid URL ({err}); {hint}") from None
    if parts.scheme not in ("http", "https"):
        raise FaceGateError(f"--endpoint {url!r}: needs http:// or https://; {hint}")
    if not parts.hostname:
        raise FaceGateError(f"--endpoint {url!r}: no host; {hint}")
    if port == 0:
        raise FaceGateError(f"--endpoint {url!r}: port 0 cannot be connected to; {hint}")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise FaceGateError(f"--endpoint {url!r}: holds spaces or control characters; {hint}")
    if parts.query or parts.fragment:
        raise FaceGateError(f"--endpoint {url!r}: a base URL takes no ?query or #fragment; {hint}")


def _token(args: argparse.Namespace) -> str | None:
    """The bearer token from --token or --token-file (stripped), or None."""
    from core.deploy.protocol import read_token
    from core.errors import FaceGateError

    if getattr(args, "token_file", None):
        token = read_token(args.token_file)
        if token is None:
            raise FaceGateError(f"{args.token_file}: the token file is empty")
        return token
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

    def __call__(self, image: Any, result: Any) -> None:
        if not self.ok:
            return
        import cv2

        try:
            cv2.imshow("FaceGate", self.annotator.annotate(image, result))
            cv2.waitKey(1)
        except cv2.error:
            self.ok = False
            print(
                "note: --show needs an OpenCV build with a GUI (this one is headless); "
                "the desktop app `python main.py` shows the video",
                file=sys.stderr,
            )
