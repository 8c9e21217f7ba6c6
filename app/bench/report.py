"""The bench's outputs: CSV files, the Table-6 markdown table and ``report.md`` with the machine, what
ran, what was skipped or failed, the results and the figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.bench.constants import BASELINES, FR_TOLERANCE, FR_UPSAMPLE, IOU_MATCH, REFERENCE
from app.bench.plan import Plan
from core.recording import CSVSink, csv_cell


def fmt(v: Any, digits: int = 1) -> str:
    """A table cell: a float with ``digits`` decimals, empty for None, "" and non-finite values."""
    if v is None or v == "":
        return ""
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.{digits}f}"
    return str(v)


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """``rows`` as CSV with ``columns`` (others ignored, missing ones empty; floats to 4 decimals)."""
    with CSVSink(path, columns, ignore_extra=True) as sink:
        sink.write_many([{k: csv_cell(v, 4) for k, v in r.items()} for r in rows])


def _pct(v: Any) -> str:
    return f"{v:.1f}%" if isinstance(v, float) else ""


def _ratio(v: Any) -> str:
    return f"{v:.2f}x" if isinstance(v, float) else ""


def summary_markdown(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        "| configuration | res | avg detect ms | avg recog. ms | avg FPS | avg faces | RSS MiB | GPU MiB "
        "| W | J/frame | face drift | matched | id agree | vs TF/TF | vs face_recognition |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        drift = r.get("face_drift_pct")
        agree = r.get("identity_agree_pct")
        ref = r["role"] == "reference"
        lines.append(
            f"| {r['label']} | {r['resolution']}p | {fmt(r['avg_detect_ms'])} "
            f"| {fmt(r['avg_recognize_ms'])} | {fmt(r['avg_fps'], 2)} | {fmt(r['avg_faces'], 2)} "
            f"| {fmt(r['rss_mb'], 0)} | {fmt(r.get('gpu_mem_mb'), 0)} | {fmt(r.get('power_w'))} "
            f"| {fmt(r.get('energy_j_per_frame'), 3)} "
            f"| {'(ref)' if ref else '' if drift is None else f'{drift:+.1f}%'} "
            f"| {'(ref)' if ref else _pct(r.get('matched_pct'))} "
            f"| {'(ref)' if ref else _pct(agree)} "
            f"| {_ratio(r.get('x_vs_tf_tf'))} | {_ratio(r.get('x_vs_face_recognition'))} |"
        )
    return "\n".join(lines)


def write_report(
    out: Path,
    rows: Sequence[dict[str, Any]],
    figs: dict[str, str],
    plan: Plan,
    machine: dict[str, Any],
    settings: dict[str, Any],
    failures: Sequence[dict[str, Any]],
    probes: Sequence[dict[str, Any]],
    notes: Sequence[str],
    warnings: Sequence[str] = (),
) -> Path:
    """``out/report.md``; returns its path."""
    lines = ["# FaceGate benchmark", ""]
    lines.append(
        f"Measured {settings['started']} - {settings['ended']} ({settings['elapsed_s']:.0f} s) with "
        f"`main.py bench{' --quick' if plan.quick else ''}`."
    )
    lines += _machine_section(machine, settings)
    lines += _what_ran_section(plan, settings, notes)
    for title, items in (
        ("Skipped", [f"{what}: {why}" for what, why in plan.skipped]),
        ("Failed", [f"{f['run']}: {f['reason']}" for f in failures]),
        ("Warnings", list(warnings)),
    ):
        if items:
            lines += ["", f"{title}:", ""]
            lines += [f"- {item}" for item in items]
    lines += _results_section(rows, machine, probes)
    return _write_report(
        out,
        lines,
        figs,
        [
            "`summary.csv`: the table above with every column; `runs.csv`: one row per run",
            "`frames.csv`: every measured frame (run + session CSV columns); `faces.csv`: every face found",
            "`logs/`: each worker's log and spec",
        ],
    )


def _machine_section(m: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    lines = ["", "## Machine", ""]
    lines.append(
        f"- CPU: {m['cpu']}, {m['cores']} logical cores ({m['cores_usable']} usable), "
        f"{m.get('ram_gb')} GiB RAM"
    )
    lines.append(f"- GPU: {m['gpu'] or 'none (every runtime ran on the CPU)'}")
    lines.append(
        f"- {m['os']}, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    )
    la0, la1 = settings.get("load_before"), settings.get("load_after")
    if la0 is not None:
        lines.append(
            f"- load average (1/5/15 min) before {la0}, after {la1}: anything well above 0 means "
            "other work shared the CPU and the times are inflated"
        )
    return lines


def _what_ran_section(plan: Plan, settings: dict[str, Any], notes: Sequence[str]) -> list[str]:
    lines = ["", "## What ran", ""]
    lines.append(
        f"- video: {settings['videos']}; {settings['frames_measured']} frames per run "
        f"(spread over the video), after {settings['warmup']} warm-up frames per resolution and "
        "mode that are not measured; frames scaled to each resolution's height"
    )
    lines.append(
        "- every face recognised in every frame (no tracking), as in the study; thresholds: each "
        "model's default; FPS = frames / processing time (video decoding excluded)"
    )
    lines.append(
        f"- resolutions {', '.join(f'{r}p' for r in plan.resolutions)}; "
        f"modes {', '.join(plan.modes)}; {plan.runs} run(s) per configuration; each "
        "detector+recognizer pair and each baseline in its own process, one at a time"
    )
    if any(mode != "local" for mode in plan.modes):
        where = (
            f"the endpoint at {settings['endpoint']} (its own backends ran the remote stages)"
            if settings.get("endpoint")
            else "an endpoint started per pair on 127.0.0.1 with that pair's backends (same CPU as "
            "the client)"
        )
        lines.append(f"- cloud/hybrid: {where}")
    for n in notes:
        lines.append(f"- {n}")
    lines.append(
        f"- accuracy: each configuration vs the TensorFlow reference ({' + '.join(REFERENCE)}, "
        f"local) on the same frames: face count drift, faces matched (IoU >= {IOU_MATCH}) and "
        "identity agreement among matched faces (two unknowns agree)"
    )
    lines.append(
        "- baselines: "
        + "; ".join(f"{label} ({det} + {rec})" for label, det, rec, _ in BASELINES.values())
        + f"; face_recognition with its defaults (HOG upsample {FR_UPSAMPLE}, tolerance {FR_TOLERANCE}), its "
        "gallery from the same enrolled face crops"
    )
    return lines


def _results_section(
    rows: Sequence[dict[str, Any]], m: dict[str, Any], probes: Sequence[dict[str, Any]]
) -> list[str]:
    """The Table-6 table, the deployment modes' table where any ran, and why power is missing."""
    lines = ["", "## Results (study Table 6 style)", ""]
    lines.append(
        f"Platform: {m['platform']}. Times are means per frame; RSS is the peak of the "
        "configuration's process; empty cells were not measured here."
    )
    lines += ["", summary_markdown(rows), ""]
    remote = [r for r in rows if r["mode"] != "local"]
    if remote:
        lines += [
            "Deployment modes: what crossed the network per frame (the study's bandwidth argument for "
            "hybrid), and the endpoint's own memory.",
            "",
            "| configuration | res | endpoint round trip ms | kB up / frame | kB down / frame "
            "| endpoint RSS MiB | frames processed locally |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in remote:
            lines.append(
                f"| {r['label']} | {r['resolution']}p | {fmt(r.get('avg_network_ms'))} "
                f"| {fmt(r.get('kb_up_per_frame'))} | {fmt(r.get('kb_down_per_frame'), 2)} "
                f"| {fmt(r.get('endpoint_rss_mb'), 0)} | {r.get('fallback_frames', 0)} |"
            )
        lines.append("")
    missing_power = [p for p in probes if p["name"] != "process" and not p["available"]]
    if not any(r.get("energy_j_per_frame") is not None for r in rows):
        lines.append(
            "Power and energy: not measured on this machine ("
            + "; ".join(f"{p['name']}: {p['reason']}" for p in missing_power)
            + ")."
        )
        lines.append("")
    return lines


def cameras_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """``bench --cameras``: one line per N and camera, then where the time goes per N."""
    head = (
        "| cameras | camera | FPS | dropped | named right | events | detect ms p50 (mean) "
        "| embed ms p50 (mean) | match ms p50 (mean) | capture ms p50 |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        named = (
            "yes"
            if r["named_right"]
            else (f"no ({r['wrong_names']} wrong, {r['missed']} missed, {r['extra']} extra)")
        )
        lines.append(
            f"| {r['cameras']} | {r['camera']} | {fmt(r['fps'])} | {r['dropped']} of {r['played']} "
            f"({fmt(r['dropped_pct'], 0)}%) | {named} | {r['events']} | {_p50_mean(r, 'detect_ms')} "
            f"| {_p50_mean(r, 'embed_ms')} | {_p50_mean(r, 'match_ms', 2)} | {fmt(r.get('capture_ms_p50'))} |"
        )
    lines += [
        "",
        "| cameras | slowest FPS | worst drops | all named | holds | round ms p50 (mean) | loop busy | CPU "
        "| RSS MiB "
        "| load before | load after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in sorted({r["cameras"] for r in rows}):
        rs = [r for r in rows if r["cameras"] == n]
        r0 = rs[0]
        lines.append(
            f"| {n} | {fmt(min(r['fps'] for r in rs))} | {fmt(max(r['dropped_pct'] for r in rs), 0)}% "
            f"| {'yes' if all(r['named_right'] for r in rs) else 'no'} "
            f"| {'yes' if all(r['holds'] for r in rs) else 'no'} | {_p50_mean(r0, 'round_ms')} "
            f"| {fmt(r0.get('busy_pct'), 0)}% | {fmt(r0.get('cpu_percent'), 0)}% | {fmt(r0.get('rss_mb'), 0)} "
            f"| {r0.get('load_before', '')} | {r0.get('load_after', '')} |"
        )
    return "\n".join(lines)


def _p50_mean(r: dict[str, Any], stage: str, digits: int = 1) -> str:
    return f"{fmt(r.get(stage + '_p50'), digits)} ({fmt(r.get(stage + '_mean'), digits)})"


def write_cameras_report(
    out: Path,
    rows: Sequence[dict[str, Any]],
    figs: dict[str, str],
    machine: dict[str, Any],
    settings: dict[str, Any],
    failures: Sequence[str],
) -> Path:
    """``out/report.md`` of ``bench --cameras``; returns its path."""
    from app.bench.constants import SINGLE_STREAM_720P

    lines = ["# FaceGate benchmark: several cameras in one process", ""]
    lines.append(
        f"Measured {settings['started']} ({settings['elapsed_s']:.0f} s) with `main.py bench --cameras "
        f"{','.join(map(str, settings['counts']))}"
        f"{' --frames ' + str(settings['frames']) if settings['frames'] else ''}`."
    )
    lines += _machine_section(machine, {})  # the load average is in the tables, per camera count
    lines += [
        "",
        "## What ran",
        "",
        f"- cameras: the site videos ({settings['videos']}: 720p, 20 FPS, real faces from the val photos; "
        "reused in turn beyond four, each camera with its own name), played in real time at their own FPS "
        "(a camera keeps only its newest frame; frames overwritten meanwhile are dropped)",
        f"- {settings['detector']} + {settings['recognizer']}, local, with tracking; one CameraSet round takes "
        "each camera's newest frame, detects each, embeds all cameras' faces in one batch, matches",
        f"- {settings['frames'] or 'all'} frames per camera; each camera count in a fresh process (models "
        "loaded and warmed at 720p before the videos start playing)",
        f"- {settings['gallery']}",
        "- FPS = frames processed / seconds from the start of playback to the end; named right: each person "
        "who passed the camera decided once, as the store's policy says, no wrong name, no extra decision",
        "- stage times are medians per frame (capture = decoding the video frame, in the camera's own "
        "thread); round ms = median (mean) per round of the frames' detect + embed + match (one embedding batch "
        "for all cameras); loop busy = share of "
        "the time the inference loop was processing; CPU = process CPU time / wall time (200% = 2 cores)",
    ]
    if failures:
        lines += ["", "Failed:", ""] + [f"- {f}" for f in failures]
    lines += ["", "## Results", "", cameras_markdown(rows), "", settings["verdict"], ""]
    lines.append(
        "Single-stream 720p numbers of this machine's study rerun, for comparison: "
        + "; ".join(f"{k}: {v:g} FPS" for k, v in SINGLE_STREAM_720P.items())
        + "."
    )
    lines.append("")
    return _write_report(
        out,
        lines,
        figs,
        [
            "`cameras.csv`: one row per camera count and camera (every column above, and the decisions)",
            "`frames-N.csv`, `events-N.csv`: the session CSVs of each camera count; `videos/`, `logs/`",
        ],
    )


def _write_report(out: Path, lines: list[str], figs: dict[str, str], files: list[str]) -> Path:
    """``out/report.md``: ``lines``, then each figure under its caption, then the files it describes."""
    for name, caption in figs.items():
        lines += [f"### {caption}", "", f"![{caption}]({name})", ""]
    lines += ["## Files", "", *(f"- {f}" for f in files), ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
