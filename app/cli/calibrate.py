"""``main.py calibrate``: measure FAR/FRR and store the threshold for a target FAR."""

from __future__ import annotations

import argparse
import json

from app.cli.common import print_error, print_line
from app.cli.context import Context


def cmd_calibrate(ctx: Context, args: argparse.Namespace) -> int:
    """Measure FAR/FRR on the enrolled people + the impostor set; store the threshold for a target FAR."""
    from core import calibration as cal

    target = args.target_far
    if not 0.0 <= target < 1.0:
        print_error(f"--target-far must be in [0, 1), got {target:g}")
        return 2
    rec = ctx.recognizer
    if not ctx.db_path.exists():
        print_error(
            f"nobody is enrolled for {rec.model}: {ctx.db_path} does not exist (main.py enroll NAME PHOTOS...)"
        )
        return 1
    from enroll.service import compute_missing_embeddings

    store = ctx.store
    compute_missing_embeddings(store, rec)  # people enrolled under another recognizer, from their crops
    names, emb = store.embeddings(rec.model)
    if not names:
        print_error(
            f"nobody is enrolled for {rec.model} in {ctx.db_path}: enroll people first (main.py enroll)"
        )
        return 1
    strangers = cal.impostor_embeddings(ctx.detector, rec)
    try:
        result = cal.calibrate(rec.model, names, emb, strangers, target, cal.impostor_set_id())
    except cal.NoGenuinePairs as err:
        print_error(f"{err} (in {ctx.db_path})")
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
        print_line(json.dumps(out))
        return 0

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.3f}%"

    print_line(
        f"{rec.model}: {result.people} people, {result.samples} samples; "
        f"{result.strangers} stranger faces ({result.impostor_set})"
    )
    print_line(f"genuine pairs {result.genuine}, impostor pairs {result.impostor}")
    if target * result.impostor < 1:
        print_line(
            f"note: {result.impostor} impostor pairs cannot resolve a FAR of {pct(target)}: "
            "the threshold sits below every measured impostor distance"
        )
    print_line(f"{'threshold':>9}  {'FAR':>8}  {'FRR':>8}")
    for t, far, frr in result.table(rows):
        mark = "  <- chosen" if t == result.threshold else ("  (model default)" if t == default else "")
        print_line(f"{t:>9.3f}  {pct(far):>8}  {pct(frr):>8}{mark}")
    print_line(
        f"threshold {result.threshold:.3f} for target FAR {pct(target)}: measured FAR {pct(result.far)} "
        f"(1 pair = {pct(1 / result.impostor)}), FRR {pct(result.frr)}; stored in {ctx.db_path}: "
        f"identify, verify, enroll and run use it for {rec.model} unless --threshold is given"
    )
    return 0
