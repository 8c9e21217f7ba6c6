"""The argument parser of ``main.py``: global options, then one step per sub-command."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.alarms import add_alarms_commands
from app.cli.calibrate import cmd_calibrate
from app.cli.common import count_arg, port_arg, seconds_arg
from app.cli.events import add_events_command
from app.cli.jobs import cmd_bench, cmd_run, cmd_serve
from app.cli.manage import cmd_backends, cmd_doors, cmd_identities, cmd_models, cmd_sessions
from app.cli.outbox import add_outbox_command, add_run_options
from app.cli.photos import cmd_enroll, cmd_identify, cmd_verify
from app.cli.retention import add_retention_commands
from core.config import CROP_FORMATS, defaults


class CliParser(argparse.ArgumentParser):
    """Usage errors in one line (``main.py run: error: argument --frames: must be >= 0, not -3``), exit 2."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _global_options() -> CliParser:
    """``--db``, ``--detector``, ``--recognizer``, ``--threshold``, ``-v``: a parent of the main parser and
    of every sub-command, so they go before or after the sub-command."""
    common = CliParser(add_help=False)
    g = common.add_argument_group("global options")
    g.add_argument("--db", default=argparse.SUPPRESS, help="identity database (default: user data dir)")
    g.add_argument("--detector", default=argparse.SUPPRESS, help="detector key, e.g. mtcnn:onnxruntime")
    g.add_argument(
        "--recognizer", default=argparse.SUPPRESS, help="recognizer key, e.g. facenet128:tflite-int8"
    )
    g.add_argument(
        "--threshold",
        type=float,
        default=argparse.SUPPRESS,
        help="match threshold (L2 on unit vectors; default: the recognizer model's)",
    )
    g.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more")
    return common


def _add_enroll(sub: Any, common: CliParser) -> None:
    """``enroll``: add a person (or more samples) from photos."""
    p = sub.add_parser("enroll", parents=[common], help="add a person (or more samples) from photos")
    p.add_argument("name")
    p.add_argument("images", nargs="+", metavar="IMG")
    p.add_argument(
        "--policy",
        choices=["allowed", "denied", "schedule"],
        default=None,
        help="access policy (default: allowed for a new person, unchanged for an existing one)",
    )
    p.add_argument("--schedule", help="with --policy schedule: e.g. 'mon-fri 08:00-18:00; sat 09:00-12:00'")
    p.add_argument(
        "--min-face", type=int, help=f"minimum face side in px (default {defaults().enroll.min_face_px})"
    )
    p.set_defaults(func=cmd_enroll)


def _add_identify(sub: Any, common: CliParser) -> None:
    """``identify``: who is in these photos."""
    p = sub.add_parser("identify", parents=[common], help="who is in these photos")
    p.add_argument("--json", action="store_true", help="one JSON object per line per image")
    p.add_argument("images", nargs="+", metavar="IMG")
    p.set_defaults(func=cmd_identify)


def _add_verify(sub: Any, common: CliParser) -> None:
    """``verify``: are two photos the same person."""
    p = sub.add_parser("verify", parents=[common], help="are two photos the same person")
    p.add_argument("--json", action="store_true")
    p.add_argument("--pairs", metavar="PAIRS.csv", help="CSV whose first two columns are image paths")
    p.add_argument("images", nargs="*", metavar="IMG")
    p.set_defaults(func=cmd_verify)


def _add_backends(sub: Any, common: CliParser) -> None:
    """``backends``: detector/recognizer x runtime availability."""
    p = sub.add_parser("backends", parents=[common], help="detector/recognizer x runtime availability")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_backends)


def _add_models(sub: Any, common: CliParser) -> None:
    """``models``: model files: source, sha256, path, state."""
    p = sub.add_parser("models", parents=[common], help="model files: source, sha256, path, state")
    p.add_argument("--provision", action="store_true", help="fetch and convert every model file now")
    p.add_argument("--force", action="store_true", help="with --provision: rebuild even if present")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)


def _add_identities(sub: Any, common: CliParser) -> None:
    """``identities``: list | remove NAME | rename OLD NEW | policy NAME P."""
    p = sub.add_parser(
        "identities", parents=[common], help="list | remove NAME | rename OLD NEW | policy NAME P"
    )
    p.add_argument("action", choices=["list", "remove", "rename", "policy"])
    p.add_argument("names", nargs="*")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_identities)


def _add_sessions(sub: Any, common: CliParser) -> None:
    """``sessions``: list | export ID."""
    p = sub.add_parser("sessions", parents=[common], help="list | export ID")
    p.add_argument("action", choices=["list", "export"])
    p.add_argument("id", nargs="?")
    p.add_argument("--out", help="frames CSV (default session-ID.csv)")
    p.add_argument("--events", help="events CSV (default session-ID-events.csv)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sessions)


def _add_doors(sub: Any, common: CliParser) -> None:
    """``doors``: which camera watches which door, and who may pass it."""
    p = sub.add_parser(
        "doors",
        parents=[common],
        help="list | set CAMERA DOOR | unset CAMERA | allow|deny|clear DOOR PERSON | remove DOOR",
    )
    p.add_argument("action", choices=["list", "set", "unset", "allow", "deny", "clear", "remove"])
    p.add_argument("names", nargs="*")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--only-listed", action="store_true", help="with set: only people allowed at this door may pass"
    )
    group.add_argument("--open", action="store_true", help="with set: everyone their own policy allows")
    p.add_argument("--schedule", help="with allow: when, e.g. 'mon-fri 08:00-18:00; sat 09:00-12:00'")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doors)


def _add_run(sub: Any, common: CliParser) -> None:
    """``run``: process one or several video sources headless."""
    p = sub.add_parser("run", parents=[common], help="process one or several video sources headless")
    p.add_argument(
        "--source",
        action="append",
        metavar="[NAME=]SRC",
        help="demo | video file | image folder | camera index | rtsp/http URL; repeat for several cameras, "
        "NAME=SRC names one (default names cam1, cam2, ... in order; default source: demo)",
    )
    p.add_argument(
        "--frames",
        type=count_arg,
        default=0,
        help="stop after N frames of each camera (0: until the sources end)",
    )
    p.add_argument("--export", metavar="FILE.csv", help="per-frame measurements CSV")
    p.add_argument("--events", metavar="FILE.csv", help="access events CSV")
    p.add_argument("--show", action="store_true", help="show the annotated video in a window")
    p.add_argument(
        "--realtime",
        action="store_true",
        help="play a file at its own FPS, dropping frames like a camera (default: every frame)",
    )
    p.add_argument("--no-track", action="store_true", help="recognise every face in every frame")
    p.add_argument(
        "--mode",
        choices=["local", "cloud", "hybrid"],
        default="local",
        help="local: all on this machine; cloud: whole frames to --endpoint; "
        "hybrid: detect + track here, only new face crops to --endpoint",
    )
    p.add_argument("--endpoint", help="recognition endpoint URL (main.py serve, or a Triton server)")
    p.add_argument("--token", help="bearer token for the endpoint")
    p.add_argument("--token-file", help="file holding the bearer token")
    p.add_argument("--ca-cert", help="CA certificate to verify the endpoint's TLS certificate")
    p.add_argument(
        "--insecure-http",
        action="store_true",
        help="allow sending faces (and the token) over plain http to a host other than this machine",
    )
    p.add_argument(
        "--allow-unauthenticated-endpoint",
        action="store_true",
        help="trust answers the endpoint cannot prove with the shared token (e.g. a plain Triton)",
    )
    p.add_argument(
        "--jpeg-quality",
        type=int,
        help=f"cloud mode: JPEG quality of sent frames (default {defaults().remote.jpeg_quality})",
    )
    p.add_argument(
        "--crop-format",
        choices=list(CROP_FORMATS),
        help="hybrid mode: send aligned crops as JPEG (~11x fewer bytes) or raw (exact; default "
        f"{defaults().remote.crop_format})",
    )
    p.add_argument(
        "--fallback-after",
        type=seconds_arg,
        help="seconds of endpoint failure before processing locally "
        f"(default {defaults().remote.fallback_after_s})",
    )
    p.add_argument("--quiet", action="store_true", help="no per-frame status line")
    add_run_options(p)  # --webhook, --mqtt, ... (app/cli/outbox.py)
    p.set_defaults(func=cmd_run)


def _add_serve(sub: Any, common: CliParser) -> None:
    """``serve``: serve the recognition endpoint (KServe v2 protocol)."""
    p = sub.add_parser("serve", parents=[common], help="serve the recognition endpoint (KServe v2 protocol)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    p.add_argument("--port", type=port_arg, default=8000, help="TCP port 0-65535 (default 8000; 0: any free)")
    p.add_argument("--token", help="require this bearer token on every route but health")
    p.add_argument("--token-file", help="file holding the bearer token (surrounding whitespace ignored)")
    p.add_argument(
        "--insecure-no-token",
        action="store_true",
        help="allow serving on a non-loopback --host without a token (anyone who reaches it can use it)",
    )
    p.add_argument("--tls-cert", help="TLS certificate (PEM)")
    p.add_argument("--tls-key", help="TLS private key (PEM)")
    limits = p.add_argument_group("limits (each also FACEGATE_SERVE_<NAME>; a request past one gets a 4xx)")
    limits.add_argument("--max-body-mb", type=float, help="largest request body (default 16)")
    limits.add_argument("--max-pixels", type=int, help="largest decoded image in px (default 4096*4096)")
    limits.add_argument(
        "--max-request-pixels", type=int, help="decoded px of all images of one request (default 4096*4096)"
    )
    limits.add_argument(
        "--max-pixels-in-flight",
        type=int,
        help="decoded px held by all requests at once (default 2x4096*4096)",
    )
    limits.add_argument("--max-frames", type=int, help="images per frame-model request (default 8)")
    limits.add_argument("--max-crops", type=int, help="crops per crops-model request (default 64)")
    limits.add_argument("--read-timeout-s", type=float, help="to receive a head, then a body (default 10)")
    limits.add_argument("--infer-timeout-s", type=float, help="longest wait for a batch to run (default 30)")
    limits.add_argument("--max-connections", type=int, help="open connections before 503 (default 4096)")
    limits.add_argument("--decode-workers", type=int, help="threads decoding requests (default 2)")
    limits.add_argument("--instances", type=int, help="worker threads per model (default 1)")
    p.set_defaults(func=cmd_serve)


def _add_bench(sub: Any, common: CliParser) -> None:
    """``bench``: rerun the study: speed, memory, power per backend/mode."""
    p = sub.add_parser(
        "bench", parents=[common], help="rerun the study: speed, memory, power per backend/mode"
    )
    p.add_argument("--quick", action="store_true", help="a small subset that runs in a few minutes")
    p.add_argument("--out", default="bench-out", help="folder for the CSVs, figures and report")
    p.add_argument("--runs", type=int, default=1, help="repetitions of each configuration")
    p.add_argument(
        "--frames",
        type=int,
        default=0,
        help="frames per run (0: the whole video); with --cameras: per camera, the people passing again "
        "when longer than the site videos (86 frames)",
    )
    p.add_argument(
        "--cameras",
        metavar="N,N,...",
        help="instead of the study: N real-time 720p cameras in one process for each N (e.g. 1,2,4): FPS, "
        "drops and names per camera",
    )
    p.add_argument("--resolutions", default="480,720,1080", help="comma-separated: 480,720,1080")
    p.add_argument(
        "--backends",
        default="",
        help="comma-separated detector/recognizer keys or globs (e.g. 'mtcnn:*,facenet128:tflite*')",
    )
    p.add_argument("--modes", default="local,cloud,hybrid", help="comma-separated: local,cloud,hybrid")
    p.add_argument("--video", action="append", help="video file(s) to use (default: real-face video)")
    p.add_argument("--endpoint", help="an endpoint to use for cloud/hybrid instead of starting one")
    p.add_argument("--token", help="bearer token for --endpoint")
    p.add_argument(
        "--no-baselines", action="store_true", help="skip the TF/TF and face_recognition baselines"
    )
    p.set_defaults(func=cmd_bench)


def _add_calibrate(sub: Any, common: CliParser) -> None:
    """``calibrate``: measure FAR/FRR and store the threshold for a target FAR."""
    p = sub.add_parser(
        "calibrate", parents=[common], help="measure FAR/FRR and store the threshold for a target FAR"
    )
    p.add_argument(
        "--target-far",
        type=float,
        default=0.001,
        help="largest share of impostor pairs to accept (default 0.001 = 0.1%%)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)


#: the sub-commands in the order ``--help`` lists them
_COMMANDS = (
    _add_enroll,
    _add_identify,
    _add_verify,
    _add_backends,
    _add_models,
    _add_identities,
    _add_sessions,
    _add_doors,
    _add_run,
    add_events_command,
    add_alarms_commands,
    add_outbox_command,
    add_retention_commands,  # backup, restore, retention (app/cli/retention.py)
    _add_serve,
    _add_bench,
    _add_calibrate,
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``main.py``: the global options, then each sub-command (its ``func`` runs it)."""
    common = _global_options()
    parser = CliParser(
        prog="main.py",
        parents=[common],
        description="FaceGate: face-recognition access control (MTCNN + FaceNet on swappable runtimes).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_command in _COMMANDS:
        add_command(sub, common)
    return parser
