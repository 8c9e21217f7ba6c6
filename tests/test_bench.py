"""``main.py bench``: planning and analysis units, then one small end-to-end run on the real-face demo video
(workers, CSVs, summary, figures, report, baselines)."""

from __future__ import annotations

import argparse
import csv
import importlib.util
from pathlib import Path

import pytest

from app import bench
from core.recording import FRAME_COLUMNS
from core.registry import BackendInfo

DEFAULTS = dict(
    quick=False,
    out="bench-out",
    runs=1,
    frames=0,
    resolutions="480,720,1080",
    backends="",
    modes="local,cloud,hybrid",
    video=None,
    endpoint=None,
    token=None,
    no_baselines=True,
)


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{**DEFAULTS, **kw})


def _infos() -> list[BackendInfo]:
    def b(key: str, kind: str, ok: bool = True) -> BackendInfo:
        model, _, rt = key.partition(":")
        return BackendInfo(key, kind, model, rt, ok, None if ok else f"{rt}: module not found")

    return [
        b("mtcnn:onnxruntime", "detector"),
        b("mtcnn:tensorflow", "detector"),
        b("mtcnn:tensorrt", "detector", False),
        b("blazeface:tflite", "detector"),
        b("facenet128:tensorflow", "recognizer"),
        b("facenet128:onnxruntime", "recognizer"),
        b("facenet128:tflite-int8", "recognizer"),
        b("facenet128:tensorrt", "recognizer", False),
        b("facenet512:onnxruntime", "recognizer"),
    ]


def _plan(remote_reason: str | None = None, **kw) -> bench.Plan:
    return bench.make_plan(
        _args(**kw), _infos(), "mtcnn:onnxruntime", "facenet128:onnxruntime", remote_reason
    )


def _pairs(plan: bench.Plan) -> set[tuple[str, str]]:
    return {(g.detector, g.recognizer) for g in plan.groups if g.kind == "facegate"}


# ------------------------------------------------------------------------------------------ planning
def test_quick_plan_is_the_default_detector_with_two_recognizer_runtimes_at_720p() -> None:
    plan = _plan(quick=True)
    assert plan.resolutions == [720] and plan.modes == ["local", "hybrid"]
    assert plan.frames == bench.QUICK_FRAMES
    assert _pairs(plan) == {
        ("mtcnn:onnxruntime", "facenet128:onnxruntime"),
        ("mtcnn:onnxruntime", "facenet128:tflite-int8"),
        bench.REFERENCE,
    }
    # the reference runs first, local only when it is not part of the requested matrix
    assert (plan.groups[0].detector, plan.groups[0].recognizer) == bench.REFERENCE
    assert [(r["mode"], r["role"]) for r in plan.groups[0].runs] == [("local", "reference")]
    # explicit options win over --quick's
    plan = _plan(quick=True, resolutions="480", modes="local", frames=5)
    assert plan.resolutions == [480] and plan.modes == ["local"] and plan.frames == 5


def test_backend_globs_filter_each_kind_and_unavailable_ones_are_skipped_with_the_reason() -> None:
    plan = _plan(backends="mtcnn:*,facenet128:tflite*,facenet128:tensorrt", modes="local")
    assert _pairs(plan) == {
        ("mtcnn:onnxruntime", "facenet128:tflite-int8"),
        ("mtcnn:tensorflow", "facenet128:tflite-int8"),
        bench.REFERENCE,
    }
    skipped = dict(plan.skipped)
    assert skipped["mtcnn:tensorrt"] == "tensorrt: module not found"
    assert skipped["facenet128:tensorrt"] == "tensorrt: module not found"
    # a pattern naming only detectors keeps every recognizer; a bare model name works
    plan = _plan(backends="blazeface", modes="local", resolutions="480")
    assert {r for _, r in _pairs(plan)} >= {"facenet128:onnxruntime", "facenet512:onnxruntime"}
    assert {d for d, _ in _pairs(plan)} == {"blazeface:tflite", "mtcnn:tensorflow"}  # + the reference
    with pytest.raises(bench.UsageError, match="nosuch"):
        _plan(backends="nosuch:*")


def test_full_matrix_counts_and_remote_modes_skip_with_the_reason() -> None:
    plan = _plan(runs=2)
    facegate = [r for g in plan.groups if g.kind == "facegate" for r in g.runs]
    # 3 available detectors x 4 available recognizers x 3 resolutions x 3 modes x 2 runs
    assert len(facegate) == 3 * 4 * 3 * 3 * 2
    assert len({r["run"] for r in facegate}) == len(facegate)
    plan = _plan(remote_reason="no endpoint here")
    assert plan.modes == ["local"]
    assert ("cloud mode", "no endpoint here") in plan.skipped and (
        "hybrid mode",
        "no endpoint here",
    ) in plan.skipped
    for bad in ({"resolutions": "720,abc"}, {"modes": "edge"}, {"runs": 0}):
        with pytest.raises(bench.UsageError):
            _plan(**bad)


def test_frames_are_spread_over_the_video_and_scaled_by_height() -> None:
    assert bench.select_frames(240, 0) == list(range(240))
    picks = bench.select_frames(240, 6)
    assert len(picks) == 6 and picks[0] == 0 and picks[-1] == 239
    assert bench.select_frames(5, 10) == [0, 1, 2, 3, 4]
    sizes = [bench.scaled_size(1280, 720, h) for h in (480, 720, 1080)]
    assert sizes == [(854, 480), (1280, 720), (1920, 1080)]


def test_accuracy_matches_faces_by_iou_and_compares_identities() -> None:
    ref = [([0, 0, 100, 100], "ann"), ([200, 0, 300, 100], ""), ([400, 0, 500, 100], "bob")]
    got = [([5, 5, 105, 105], "ann"), ([200, 0, 300, 100], "bob"), ([900, 0, 950, 50], "")]
    assert bench.compare_frames(ref, got) == (2, 1)  # bob's face missed, a false positive far away
    assert bench.compare_frames([], got) == (0, 0)


def _result(config: str, role: str, rep: int, frames: int, time_s: float, faces: int, **kw) -> dict:
    det, rec, res, mode = config.split("|")
    return {
        "run": f"{config}|{rep}",
        "config": config,
        "role": role,
        "detector": det,
        "recognizer": rec,
        "resolution": int(res[:-1]),
        "mode": mode,
        "rep": rep,
        "width": 1280,
        "height": 720,
        "frames": frames,
        "time_s": time_s,
        "fps": frames / time_s,
        "detect_ms": 10.0,
        "embed_ms": 5.0,
        "match_ms": 0.1,
        "recognize_ms": 5.1,
        "network_ms": None,
        "total_ms": 15.1,
        "faces_total": faces,
        "faces": faces / frames,
        "rss_mb": 300.0,
        "energy_j": None,
        "power_w": None,
        "frame_indices": list(range(frames)),
        **kw,
    }


def test_summary_averages_runs_and_gives_ratios_and_drift_without_inventing_power() -> None:
    ref = _result("mtcnn:tensorflow|facenet128:tensorflow|720p|local", "reference", 0, 4, 1.0, 4)
    a0 = _result("mtcnn:onnxruntime|facenet128:onnxruntime|720p|local", "facegate", 0, 4, 0.5, 4)
    a1 = _result(
        "mtcnn:onnxruntime|facenet128:onnxruntime|720p|local", "facegate", 1, 4, 0.3, 4, rss_mb=350.0
    )
    tf = _result("mtcnn-package:tensorflow|facenet128:tensorflow|720p|local", "baseline", 0, 4, 2.0, 4)
    tf["config"] = "baseline:tf-tf|720p|local"
    faces = {
        ref["run"]: {i: [([0, 0, 10, 10], "ann")] for i in range(4)},
        a0["run"]: {i: [([0, 0, 10, 10], "ann" if i else "")] for i in range(4)},
        a1["run"]: {i: [([0, 0, 10, 10], "ann"), ([50, 50, 60, 60], "")] for i in range(4)},
    }
    rows = {r["label"]: r for r in bench.summarise([ref, a0, a1, tf], faces, "test CPU")}
    ort = rows["MTCNN ORT + FN128 ORT"]
    assert ort["runs"] == 2 and ort["frames"] == 8
    assert ort["avg_fps"] == pytest.approx(8 / 0.8) and ort["rss_mb"] == 350.0
    assert ort["face_drift_pct"] == pytest.approx(50.0)  # 12 faces found where the reference has 8
    assert ort["matched_pct"] == pytest.approx(100.0)
    assert ort["identity_agree_pct"] == pytest.approx(7 / 8 * 100)
    assert ort["x_vs_tf_tf"] == pytest.approx(10.0 / 2.0)
    assert ort.get("x_vs_face_recognition") is None  # that baseline did not run
    assert ort["power_w"] is None and ort["energy_j_per_frame"] is None
    assert rows["MTCNN TF + FN128 TF"]["role"] == "reference"
    assert [r["role"] for r in rows.values()] == ["reference", "facegate", "baseline"]


def _table(report: str, head: str) -> list[dict[str, str]]:
    """The rows of the markdown table in ``report`` whose header line starts with ``head``, by column."""
    lines = report.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(head))
    columns = [c.strip() for c in lines[start].strip().strip("|").split("|")]
    rows = []
    for ln in lines[start + 2 :]:
        if not ln.startswith("|"):
            break
        rows.append(dict(zip(columns, (c.strip() for c in ln.strip().strip("|").split("|")), strict=True)))
    return rows


def _assert_energy_cells(report: str, summary: list[dict]) -> None:
    """Each configuration's J/frame cell in the report's Table 6 is its summary value (3 decimals), empty
    where nothing measured it; with no energy at all the report says why power is missing."""
    table = {(r["configuration"], r["res"]): r for r in _table(report, "| configuration | res | avg detect")}
    assert len(table) == len(summary)
    for row in summary:
        cell = table[(row["label"], f"{row['resolution']}p")]["J/frame"]
        energy = row["energy_j_per_frame"]
        if energy in ("", None):
            assert cell == "", row["label"]
        else:
            assert float(cell) == pytest.approx(float(energy), abs=1e-3), row["label"]
    measured = any(row["energy_j_per_frame"] not in ("", None) for row in summary)
    assert ("Power and energy: not measured on this machine" in report) is not measured


def test_report_table_shows_each_configurations_energy_per_frame_and_no_made_up_ones(tmp_path) -> None:
    ref = _result("mtcnn:tensorflow|facenet128:tensorflow|720p|local", "reference", 0, 4, 1.0, 4)
    ort = _result(
        "mtcnn:onnxruntime|facenet128:onnxruntime|720p|local",
        "facegate",
        0,
        4,
        0.5,
        4,
        energy_j=2.5,
        power_w=5.0,
    )
    faces = {r["run"]: {i: [([0, 0, 10, 10], "ann")] for i in range(4)} for r in (ref, ort)}
    machine = dict(cpu="test CPU", cores=2, cores_usable=2, ram_gb=4.0, gpu=None, os="Linux", python="3")
    machine["platform"] = "test CPU (2 cores)"
    settings = dict(started="then", ended="now", elapsed_s=1.0, videos="v.mp4", frames_measured=4, warmup=3)
    probes = [{"name": "rapl", "available": False, "reason": "no RAPL here"}]
    table = "| configuration | res | avg detect"
    rows = bench.summarise([ref, ort], faces, "test CPU")
    report = bench.write_report(tmp_path, rows, {}, _plan(), machine, settings, [], probes, []).read_text()
    _assert_energy_cells(report, _csv_of(tmp_path, rows)[1])
    cells = {r["configuration"]: r["J/frame"] for r in _table(report, table)}
    assert cells == {"MTCNN TF + FN128 TF": "", "MTCNN ORT + FN128 ORT": "0.625"}  # 2.5 J / 4 frames
    assert "Power and energy" not in report

    rows = bench.summarise([ref], faces, "test CPU")
    report = bench.write_report(tmp_path, rows, {}, _plan(), machine, settings, [], probes, []).read_text()
    _assert_energy_cells(report, _csv_of(tmp_path, rows)[1])
    assert {r["configuration"]: r["J/frame"] for r in _table(report, table)} == {"MTCNN TF + FN128 TF": ""}
    assert "Power and energy: not measured on this machine (rapl: no RAPL here)." in report


def _csv_of(folder: Path, rows: list[dict]) -> tuple[list[str], list[dict[str, str]]]:
    """``rows`` written as summary.csv and read back, as the end-to-end test reads them."""
    from app.bench.report import write_csv

    write_csv(folder / "summary.csv", bench.SUMMARY_COLUMNS, rows)
    return _csv(folder / "summary.csv")


# ------------------------------------------------------------------------------------------ end to end
def _csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_quick_bench_end_to_end_on_the_real_face_video(run_cli, tmp_path) -> None:
    out = tmp_path / "bench"
    code, stdout, err = run_cli("bench", "--quick", "--frames", "6", "--out", out)
    assert code == 0, err + stdout
    assert "| configuration |" in stdout

    cols, frames = _csv(out / "frames.csv")
    assert cols == ["run", *FRAME_COLUMNS]
    _, runs = _csv(out / "runs.csv")
    measured = [r for r in runs if not r["error"]]
    failed = [r for r in runs if r["error"]]
    assert not failed, failed
    assert len(frames) == 6 * len(measured)  # warm-up frames are not in the CSV
    for r in frames:
        assert float(r["detect_ms"]) > 0 and float(r["total_ms"]) >= float(r["detect_ms"])
        assert float(r["rss_mb"]) > 50
        # nothing measures power on a CI runner without a GPU/RAPL; where something does it is positive
        assert r["power_w"] == "" or float(r["power_w"]) > 0

    _, summary = _csv(out / "summary.csv")
    assert summary and {r["role"] for r in summary} >= {"reference", "facegate"}
    for row in summary:
        frames_n, time_s, fps = int(row["frames"]), float(row["time_s"]), float(row["avg_fps"])
        assert frames_n == 6 and time_s > 0
        assert fps == pytest.approx(frames_n / time_s, rel=1e-3)
        assert float(row["avg_detect_ms"]) > 0 and float(row["avg_recognize_ms"]) > 0
        assert float(row["avg_faces"]) > 0, row  # the demo video is real faces
        assert float(row["rss_mb"]) > 50
        # nothing measures power on a CI runner without a GPU/RAPL; where something does it is positive
        assert row["power_w"] == "" or float(row["power_w"]) > 0
        if row["role"] != "reference":
            assert float(row["matched_pct"]) >= 50 and float(row["identity_agree_pct"]) >= 50, row
            assert abs(float(row["face_drift_pct"])) <= 50, row
    local = [r for r in summary if r["role"] == "facegate" and r["mode"] == "local"]
    assert len(local) == 2 and {r["recognizer_runtime"] for r in local} >= {"onnxruntime"}

    report = (out / "report.md").read_text()
    pngs = sorted(out.glob("fig_*.png"))
    assert pngs, "no figure written"
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f"]({png.name})" in report
    assert "## Machine" in report
    _assert_energy_cells(report, summary)

    fr = importlib.util.find_spec("face_recognition") is not None
    tf = importlib.util.find_spec("tensorflow") is not None and importlib.util.find_spec("mtcnn") is not None
    baselines = {r["label"]: r for r in summary if r["role"] == "baseline"}
    if tf:
        assert float(baselines["baseline: paper TF/TF"]["avg_faces"]) > 0
        assert all(r["x_vs_tf_tf"] for r in local)
    if fr:
        assert float(baselines["baseline: face_recognition"]["avg_faces"]) > 0
        assert all(r["x_vs_face_recognition"] for r in local)
    else:
        assert "face_recognition" in report and "Skipped" in report
    hybrid = [r for r in summary if r["mode"] == "hybrid"]
    assert len(hybrid) == 2
    for r in hybrid:
        assert float(r["kb_up_per_frame"]) > 0 and r["note"] == "", r  # crops went up, no fallback
