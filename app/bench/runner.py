"""The parent side of the bench's workers: start one worker per group, follow its JSON-lines progress,
collect its runs and failures, and show progress."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.bench.plan import Group
from app.bench.process import run_worker
from app.bench.report import fmt


class Progress:
    """tqdm over all frames (warm-up included) on stderr; one line per finished run on stdout."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            unit="frame",
            desc="bench",
            dynamic_ncols=True,
            file=sys.stderr,
            disable=None,
            mininterval=0.5,
        )

    def update(self, n: int) -> None:
        self.bar.update(n)

    def describe(self, text: str) -> None:
        self.bar.set_postfix_str(text[:60], refresh=False)

    def line(self, text: str) -> None:
        self.bar.write(text, file=sys.stdout)

    def close(self) -> None:
        self.bar.close()


@dataclass
class Tally:
    """What the workers reported: measured runs, failures, telemetry probes, warnings, runs finished."""

    n_runs: int
    results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    probes: list[dict[str, Any]] | None = None  # the first worker's telemetry probes
    warnings: list[str] = field(default_factory=list)
    finished: int = 0

    def count(self) -> str:
        """Count one more finished run; its ``[n/total]`` prefix."""
        self.finished += 1
        return f"[{self.finished}/{self.n_runs}]"


def run_group(group: Group, spec: dict[str, Any], out: Path, progress: Progress, tally: Tally) -> None:
    """Run ``group`` in a worker process (``python -m app.bench SPEC.json``, its stderr to logs/) and
    wait for it; a run it did not report fails with the log's last error. Interrupted, it terminates the
    worker and re-raises."""
    spec_path = out / "logs" / f"{group.name}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    log_path = out / "logs" / f"{group.name}.log"
    progress.describe(f"{group.detector} + {group.recognizer}")
    done: set[str] = set()
    code = run_worker(
        "app.bench", spec_path, log_path, lambda msg: _on_message(msg, group, progress, tally, done)
    )
    if code != 0 or len(done) < len(group.runs):
        reason = _log_tail(log_path) or f"worker exited with code {code}"
        for run in group.runs:
            if run["run"] not in done:
                tally.failures.append({"run": run["run"], "reason": reason})
                progress.line(f"{tally.count()} {run['run']}: FAILED: {reason}")


def _on_message(msg: dict[str, Any], group: Group, progress: Progress, tally: Tally, done: set[str]) -> None:
    """Handle one protocol message of ``group``'s worker; ``done`` collects the runs it reported."""
    kind = msg.pop("type", "")
    if kind == "progress":
        progress.update(int(msg.get("n", 1)))
    elif kind == "telemetry":
        if tally.probes is None:
            tally.probes = msg["probes"]
    elif kind == "run":
        done.add(msg["run"])
        tally.results.append(msg)
        progress.line(
            f"{tally.count()} {_run_label(msg)}: {fmt(msg.get('fps'))} FPS, "
            f"detect {fmt(msg.get('detect_ms'))} ms, recognise "
            f"{fmt(msg.get('recognize_ms'))} ms, "
            f"{fmt(msg.get('faces'), 2)} faces/frame"
        )
        if msg.get("fallback_frames"):
            warning = (
                f"{msg['run']}: {msg['fallback_frames']} of {msg['frames']} frames were "
                "processed locally because the endpoint failed "
                f"(see logs/{group.name}.log): not a measurement of that mode"
            )
            tally.warnings.append(warning)
            progress.line(f"  WARNING {warning}")
    elif kind == "fail":
        done.add(msg["run"])
        prefix = tally.count()
        progress.update(int(msg.get("frames", 0)))
        tally.failures.append(msg)
        progress.line(f"{prefix} {msg['run']}: FAILED: {msg['reason']}")
    elif kind == "crash":
        tally.failures.append({"run": group.name, "reason": msg["reason"]})


def _log_tail(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errs = [ln for ln in lines if "Error" in ln or "error" in ln]
    return (errs or lines or [""])[-1][:300]


def _run_label(r: dict[str, Any]) -> str:
    if r.get("role") == "baseline":
        return f"baseline {r['config'].split('|')[0].split(':', 1)[1]} {r['resolution']}p"
    return f"{r['detector']} + {r['recognizer']} {r['resolution']}p {r['mode']}"
