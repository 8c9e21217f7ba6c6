"""The bench's analysis: runs averaged into one Table-6 row per configuration, with accuracy against the
TensorFlow reference (faces matched by IoU, identities compared) and speed ratios to the baselines."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.bench.constants import IOU_MATCH, MODES
from core.geometry import box_iou


def mean_of(values: Sequence[float | None]) -> float | None:
    """The mean of the finite values, None when there is none."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def max_of(values: Sequence[float | None]) -> float | None:
    """The largest value that is not None, None when there is none."""
    vals = [float(v) for v in values if v is not None]
    return max(vals) if vals else None


def compare_frames(
    ref: Sequence[tuple[Sequence[float], str]],
    got: Sequence[tuple[Sequence[float], str]],
    min_iou: float = IOU_MATCH,
) -> tuple[int, int]:
    """Greedy one-to-one matching of one frame's faces by IoU: (matched, matched with the same identity;
    two unknowns agree)."""
    pairs = sorted(
        ((box_iou(a[0], b[0]), i, j) for i, a in enumerate(ref) for j, b in enumerate(got)), reverse=True
    )
    used_r: set[int] = set()
    used_g: set[int] = set()
    matched = agree = 0
    for v, i, j in pairs:
        if v < min_iou:
            break
        if i in used_r or j in used_g:
            continue
        used_r.add(i)
        used_g.add(j)
        matched += 1
        agree += ref[i][1] == got[j][1]
    return matched, agree


def read_faces(path: Path) -> dict[str, dict[int, list[tuple[list[float], str]]]]:
    out: dict[str, dict[int, list[tuple[list[float], str]]]] = defaultdict(lambda: defaultdict(list))
    if not path.exists():
        return out
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            box = [float(r[c]) for c in ("x1", "y1", "x2", "y2")]
            out[r["run"]][int(r["frame"])].append((box, r["identity"]))
    return out


def summarise(
    results: Sequence[dict[str, Any]],
    faces: dict[str, dict[int, list[Any]]],
    platform_name: str,
) -> list[dict[str, Any]]:
    """One Table-6 row per configuration (runs averaged), with accuracy vs the reference and ratios."""
    by_config: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_config[r["config"]].append(r)
    # the reference's faces per resolution: its first run there
    ref_runs = {
        r["resolution"]: r
        for r in sorted(results, key=lambda r: r["rep"])
        if r["role"] == "reference" and r["frames"]
    }
    rows = []
    for runs in by_config.values():
        row = _config_row(runs, platform_name)
        ref = ref_runs.get(runs[0]["resolution"])
        if ref is not None and runs[0]["role"] != "reference":
            row.update(_accuracy(ref, runs, faces))
        rows.append(row)
    _add_baseline_ratios(rows)
    order = {"reference": 0, "facegate": 1, "baseline": 2}
    rows.sort(
        key=lambda r: (
            order[r["role"]],
            r["resolution"],
            r["detector"],
            r["detector_runtime"],
            r["recognizer"],
            r["recognizer_runtime"],
            MODES.index(r["mode"]),
        )
    )
    return rows


def _config_row(runs: list[dict[str, Any]], platform_name: str) -> dict[str, Any]:
    """The summary row of one configuration's runs: frame-weighted means, peaks, totals, notes."""
    first = runs[0]
    frames = sum(r["frames"] for r in runs)
    time_s = sum(r["time_s"] for r in runs)

    def wmean(key: str) -> float | None:
        pairs = [(r[key], r["frames"]) for r in runs if r.get(key) is not None and r["frames"]]
        n = sum(w for _, w in pairs)
        return sum(v * w for v, w in pairs) / n if n else None

    energies = [r.get("energy_j") for r in runs]
    energy = (
        sum(e for e in energies if e is not None) / frames
        if frames and all(e is not None for e in energies)
        else None
    )
    powers = [r.get("power_w") for r in runs]
    det_model, _, det_rt = first["detector"].partition(":")
    rec_model, _, rec_rt = first["recognizer"].partition(":")
    faces_total = sum(r["faces_total"] for r in runs)
    rec_total = sum((r.get("recognize_ms") or 0.0) * r["frames"] for r in runs)
    ups = [r["bytes_up"] for r in runs if r.get("bytes_up") is not None]
    downs = [r["bytes_down"] for r in runs if r.get("bytes_down") is not None]
    notes = []
    fallback = sum(r.get("fallback_frames") or 0 for r in runs)
    if fallback:
        notes.append(f"{fallback} of {frames} frames fell back to local: not a {first['mode']} measurement")
    if first["role"] == "reference":
        notes.append("accuracy reference")
    return {
        "platform": platform_name,
        "role": first["role"],
        "label": config_label(first),
        "detector": det_model,
        "detector_runtime": det_rt,
        "recognizer": rec_model,
        "recognizer_runtime": rec_rt,
        "resolution": first["resolution"],
        "width": first["width"],
        "height": first["height"],
        "mode": first["mode"],
        "runs": len(runs),
        "frames": frames,
        "time_s": time_s,
        "avg_detect_ms": wmean("detect_ms"),
        "avg_recognize_ms": wmean("recognize_ms"),
        "recognize_ms_per_face": rec_total / faces_total if faces_total else None,
        "avg_network_ms": wmean("network_ms"),
        "avg_total_ms": wmean("total_ms"),
        "avg_fps": frames / time_s if time_s > 0 else None,
        "avg_faces": faces_total / frames if frames else None,
        "rss_mb": max_of([r.get("rss_mb") for r in runs]),
        "endpoint_rss_mb": max_of([r.get("endpoint_rss_mb") for r in runs]),
        "gpu_mem_mb": max_of([r.get("gpu_mem_mb") for r in runs]),
        "cpu_percent": wmean("cpu_percent"),
        "power_w": mean_of(powers) if all(p is not None for p in powers) else None,
        "energy_j_per_frame": energy,
        "kb_up_per_frame": sum(ups) / 1024 / frames if ups and frames else None,
        "kb_down_per_frame": sum(downs) / 1024 / frames if downs and frames else None,
        "fallback_frames": fallback,
        "note": "; ".join(notes),
    }


def _accuracy(
    ref: dict[str, Any], runs: list[dict[str, Any]], faces: dict[str, dict[int, list[Any]]]
) -> dict[str, float]:
    """Face count drift and faces matched (% of the reference's faces), identity agreement (% of the
    matched), over the frames both measured; a column is absent when its denominator is 0."""
    n_ref = n_got = matched = agree = 0
    ref_faces = faces.get(ref["run"], {})
    for r in runs:
        got = faces.get(r["run"], {})
        for fi in set(ref["frame_indices"]) & set(r["frame_indices"]):
            a, b = ref_faces.get(fi, []), got.get(fi, [])
            m, s = compare_frames(a, b)
            n_ref, n_got, matched, agree = n_ref + len(a), n_got + len(b), matched + m, agree + s
    out: dict[str, float] = {}
    if n_ref:
        out["face_drift_pct"] = 100.0 * (n_got - n_ref) / n_ref
        out["matched_pct"] = 100.0 * matched / n_ref
    if matched:
        out["identity_agree_pct"] = 100.0 * agree / matched
    return out


def _add_baseline_ratios(rows: list[dict[str, Any]]) -> None:
    """``x_vs_tf_tf`` and ``x_vs_face_recognition``: FPS over the baseline's at the same resolution."""
    base_fps: dict[tuple[str, int], float | None] = {}
    for row in rows:
        if row["role"] == "baseline":
            name = "tf-tf" if row["detector"] == "mtcnn-package" else "face_recognition"
            base_fps[(name, row["resolution"])] = row["avg_fps"]
    for row in rows:
        for name, col in (("tf-tf", "x_vs_tf_tf"), ("face_recognition", "x_vs_face_recognition")):
            base = base_fps.get((name, row["resolution"]))
            if base and row["avg_fps"]:
                row[col] = row["avg_fps"] / base


SHORT_RUNTIME = {
    "onnxruntime": "ORT",
    "tensorflow": "TF",
    "tflite": "TFLite",
    "tflite-fp16": "TFLite-fp16",
    "tflite-int8": "TFLite-int8",
    "tensorrt": "TRT",
}
SHORT_MODEL = {"mtcnn": "MTCNN", "blazeface": "BlazeFace", "facenet128": "FN128", "facenet512": "FN512"}


def config_label(r: dict[str, Any]) -> str:
    """``MTCNN ORT + FN128 TFLite-int8 [hybrid]``; baselines by their name."""
    if r.get("role") == "baseline":
        name = r["config"].split("|")[0].split(":", 1)[1]
        return "baseline: " + ("paper TF/TF" if name == "tf-tf" else "face_recognition")

    def short(key: str) -> str:
        model, _, rt = key.partition(":")
        return f"{SHORT_MODEL.get(model, model)} {SHORT_RUNTIME.get(rt, rt)}"

    label = f"{short(r['detector'])} + {short(r['recognizer'])}"
    return label + (f" [{r['mode']}]" if r["mode"] != "local" else "")
