"""The photo commands: ``enroll``, ``identify`` and ``verify``; one bad photo never loses the others."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.common import log, print_error, print_line, printable
from app.cli.context import Context
from core.errors import FaceGateError, NoFaceError


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_photo(path: str | Path) -> Any:
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


def photo_error(path: str | Path, err: Exception) -> FaceGateError:
    """Any failure on one photo as a one-line error naming it, so a batch goes on with the next photo.

    FaceGateErrors already read well; anything else (a backend bug, out of memory) is named by its
    type and first line, and its traceback is logged (``-v``)."""
    if isinstance(err, FaceGateError):
        return err
    log.info("%s failed", path, exc_info=err)
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    detail = f"{type(err).__name__}: {first[:200]}" if first else type(err).__name__
    return FaceGateError(f"{path}: failed ({detail})")


def cmd_enroll(ctx: Context, args: argparse.Namespace) -> int:
    from enroll.service import Enrollment

    name = args.name.strip()
    if not name:
        print_error("a person needs a non-empty name")
        return 1
    job = Enrollment(name, ctx.detector, ctx.recognizer, ctx.store, min_face_px=ctx.config.enroll.min_face_px)
    for path in args.images:
        try:
            check = job.add_image(load_photo(path), str(path), image_sha256=_sha256(path))
        except Exception as err:  # one bad photo must not lose the others
            print_line(f"rejected {path}: {photo_error(path, err)}")
            continue
        if check.ok:
            print_line(f"accepted {path} (quality {check.quality:.2f})")
        else:
            print_line(f"rejected {path}: {check.reason}")
    if not job.samples:
        print_error(f"nothing stored for {printable(name)}: no image passed the checks")
        return 1
    if ctx.store.identity_id(name) is None:
        similar = job.lookalike(ctx.threshold)
        if similar is not None:
            print_line(
                f"warning: {printable(name)} looks like enrolled {printable(similar[0])} "
                f"(distance {similar[1]:.2f})"
            )
    n = job.save(policy=args.policy, schedule=args.schedule or "")
    print_line(
        f"enrolled {printable(name)}: {n} sample(s) stored for {ctx.recognizer.model} in {ctx.db_path}"
    )
    return 0


def cmd_identify(ctx: Context, args: argparse.Namespace) -> int:

    pipe = None
    failed = 0
    for path in args.images:
        try:
            image = load_photo(path)
            pipe = pipe or _identify_pipeline(ctx)
            result = pipe.process(image)
            if not result.faces:
                raise NoFaceError(f"{path}: no face found")
        except Exception as exc:  # one bad photo must not lose the rest of the batch
            err = photo_error(path, exc)
            failed += 1
            print_error(str(err))
            if args.json:
                print_line(json.dumps({"image": str(path), "faces": [], "error": str(err)}))
            continue
        faces = sorted(result.faces, key=lambda f: f.box[0])
        if args.json:
            print_line(json.dumps({"image": str(path), "faces": [f.to_json() for f in faces]}))
        else:
            parts = [
                printable(f.identity or "unknown")
                + (f" ({f.distance:.2f})" if f.distance is not None else "")
                + f" at {[int(v) for v in f.box]}"
                for f in faces
            ]
            print_line(f"{printable(path)}: {len(faces)} face(s): " + "; ".join(parts))
    return 1 if failed else 0


def _identify_pipeline(ctx: Context) -> Any:
    """The pipeline for ``identify``: like ``run``, people enrolled under another recognizer model get
    this model's embeddings from their stored face crops; whoever still cannot be matched is named."""
    from app.session import prepare_store

    store, model = ctx.store, ctx.recognizer.model
    added = prepare_store(store, ctx.recognizer)
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
        print_error("verify needs two images, or --pairs PAIRS.csv")
        return 2
    cache: dict[str, np.ndarray | FaceGateError] = {}

    def embedding(path: str) -> np.ndarray:
        if path not in cache:
            try:
                image = load_photo(path)
                face = largest_face(ctx.detector.detect(image))
                if face is None:
                    raise NoFaceError(f"{path}: no face found")
                cache[path] = ctx.recognizer.embed(image, [face])[0]
            except Exception as err:  # one bad photo must not lose the other pairs
                cache[path] = photo_error(path, err)
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
            print_error(str(err))
            if args.json:
                print_line(
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
            print_line(
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
            print_line(f"{a} vs {b}: distance {dist:.3f} (threshold {ctx.threshold:.2f}): {verdict}")
    return 1 if failed else 0
