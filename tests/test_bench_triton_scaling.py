"""benchmarks/bench_triton_scaling.py: its argument parsing and the analysis behind docs/triton.md's table."""

from __future__ import annotations

import argparse
import csv
import math

import pytest

from benchmarks.bench_triton_scaling import (
    CSV_FIELDS,
    ModelStats,
    add_ratios,
    parse_clients,
    summarize,
    write_csv,
)


def test_client_counts_are_parsed_and_bounded():
    assert parse_clients("1,2,4,8") == [1, 2, 4, 8]
    assert parse_clients(" 3 ") == [3]
    for bad in ("", "0", "1,1", "65", "two"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_clients(bad)


def _stats(requests: int, crops: int, executions: int) -> dict:
    """The shape of Triton 2.51's GET /v2/models/<m>/stats (fields the benchmark reads, plus others)."""
    return {
        "model_stats": [
            {
                "name": "facenet128_crops_jpeg",
                "version": "1",
                "last_inference": 1764786000000,
                "inference_count": crops,
                "execution_count": executions,
                "inference_stats": {
                    "success": {"count": requests, "ns": 123},
                    "fail": {"count": 0, "ns": 0},
                    "queue": {"count": requests, "ns": 456},
                },
                "batch_stats": [],
            }
        ]
    }


def test_a_point_counts_the_window_and_the_servers_batches():
    before = ModelStats.from_json(_stats(requests=100, crops=200, executions=100))
    after = ModelStats.from_json(_stats(requests=180, crops=360, executions=120))
    lat = [float(x) for x in range(1, 101)]  # 100 requests in 10 s, 2 crops each
    row = summarize(4, 10.0, 2, lat, errors=1, before=before, after=after)
    assert (row["requests"], row["crops"], row["errors"]) == (100, 200, 1)
    assert row["crops_per_s"] == pytest.approx(20.0) and row["requests_per_s"] == pytest.approx(10.0)
    assert row["p50_ms"] == pytest.approx(50.5) and row["p99_ms"] == pytest.approx(99.01)
    # 160 crops of 80 requests in 20 model executions: the dynamic batcher merged 4 requests a run
    assert row["mean_batch_crops"] == pytest.approx(8.0) and row["requests_per_batch"] == pytest.approx(4.0)
    # no statistics (not Triton) or no execution in the window: unknown, not zero
    assert math.isnan(summarize(1, 1.0, 2, lat, 0)["mean_batch_crops"])
    assert math.isnan(summarize(1, 1.0, 2, lat, 0, before, before)["mean_batch_crops"])
    assert math.isnan(summarize(1, 1.0, 2, [], 3)["p50_ms"])


def test_ratios_are_against_the_one_client_point_of_the_same_format(tmp_path):
    rows = []
    for fmt, base in (("jpeg", 40.0), ("raw", 30.0)):
        for n, factor in ((1, 1.0), (2, 1.5), (8, 0.5)):
            rows.append({**summarize(n, 1.0, 1, [1.0] * int(base * factor), 0), "format": fmt})
    add_ratios(rows)
    assert [r["vs_1_client"] for r in rows] == pytest.approx([1.0, 1.5, 0.5] * 2)
    for r in rows:
        r.update(cpu_busy_pct=90.0, server_cpu=1.0, clients_cpu=0.1, crops_per_server_cpu_s=1.0, load1=2.0)
    write_csv(rows, tmp_path / "out.csv")
    with open(tmp_path / "out.csv") as f:
        back = list(csv.DictReader(f))
    assert list(back[0]) == CSV_FIELDS
    assert [(r["format"], r["clients"], r["vs_1_client"]) for r in back][:3] == [
        ("jpeg", "1", "1.00"),
        ("jpeg", "2", "1.50"),
        ("jpeg", "8", "0.50"),
    ]


def test_one_and_two_client_processes_against_a_real_triton(tmp_path):
    """The benchmark end to end, short: one tritonserver with FaceGate's repository, 1 then 2 client
    processes running the hybrid pipeline; every request answered by Triton, its counters read."""
    from benchmarks.bench_triton_scaling import Link, make_frames, run_point, start_triton
    from core.deploy.triton import pytriton_status, stop_tritonserver
    from core.errors import BackendUnavailable

    ok, why = pytriton_status()
    if not ok:
        pytest.skip(f"Triton cannot start here: {why}")
    frames = make_frames(1, 1)
    try:
        proc, url = start_triton(tmp_path, tmp_path / "tritonserver.log")
    except BackendUnavailable as err:
        pytest.skip(f"Triton cannot start here: {err}")
    try:
        rows = [run_point(Link(url, "jpeg"), n, frames, 2.0, 1.0, proc.pid) for n in (1, 2)]
    finally:
        stop_tritonserver(proc)
    for r in rows:
        assert r["errors"] == 0 and not r["reasons"], r
        assert r["requests"] > 0 and r["crops"] == r["requests"]
        # Triton's statistics saw the window's requests: at least one crop per model execution
        assert r["mean_batch_crops"] >= 1.0 and r["requests_per_batch"] >= 1.0, r
        assert r["server_cpu"] > 0 and r["p50_ms"] > 0
