"""Scale-out proof: hybrid mode against a real Triton Inference Server, unchanged.

Triton 2.51 comes from ``nvidia-pytriton`` (runs on CPU) and serves ``facenet128_crops`` backed by
FaceGate's recognizer with Triton's dynamic batcher (``python -m core.deploy.triton serve``). The
client is the same ``main.py run --mode hybrid`` as against ``main.py serve``.
"""

from __future__ import annotations

import sys

import pytest

from tests.test_deploy import ROOT, Endpoint, _run, door, free_port  # noqa: F401 - door is a fixture


@pytest.fixture(scope="module")
def triton(tmp_path_factory):
    from core.deploy.triton import pytriton_status

    ok, why = pytriton_status()
    if not ok:
        pytest.skip(f"Triton cannot start here: {why}")
    http, grpc, metrics = free_port(), free_port(), free_port()
    cmd = [
        sys.executable,
        "-m",
        "core.deploy.triton",
        "serve",
        "--http-port",
        str(http),
        "--grpc-port",
        str(grpc),
        "--metrics-port",
        str(metrics),
    ]
    log_dir = tmp_path_factory.mktemp("triton")
    try:
        ep = Endpoint(command=cmd, token=None, log_dir=log_dir, ready=r"triton serving .* on (http://\S+)")
    except AssertionError as err:
        text = str(err)
        if "exited with 3" in text:  # serve_crops raised BackendUnavailable: Triton cannot run here
            reason = [line for line in text.splitlines() if line.startswith("error:")] or [text[-300:]]
            pytest.skip(f"Triton cannot start here: {reason[-1]}")
        raise
    yield ep
    ep.stop()


def test_hybrid_mode_runs_unchanged_against_triton(door, triton, run_cli, tmp_path):  # noqa: F811
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(triton.url.split("://", 1)[1])
    assert client.is_server_ready()
    meta = client.get_model_metadata("facenet128_crops")
    assert meta["platform"] == "python"  # Triton's Python backend, i.e. really Triton answering
    assert meta["inputs"] == [{"name": "CROPS", "datatype": "UINT8", "shape": [-1, 160, 160, 3]}]
    assert meta["outputs"] == [{"name": "EMBEDDINGS", "datatype": "FP32", "shape": [-1, 128]}]
    assert client.get_model_config("facenet128_crops")["dynamic_batching"]
    client.close()

    db, video = door
    local = _run(run_cli, db, video, tmp_path, "local")
    # a plain Triton does not hold FaceGate's token, so its answers carry no HMAC: an explicit opt-in
    unsigned = "--allow-unauthenticated-endpoint"
    hybrid = _run(
        run_cli, db, video, tmp_path, "hybrid", "--endpoint", triton.url, "--fallback-after", "20", unsigned
    )
    expected = [("", "unknown"), ("ben_afflek", "granted"), ("elton_john", "denied")]
    assert local["events"] == hybrid["events"] == expected
    assert {r["mode"] for r in hybrid["rows"]} == {"hybrid"}
    # answers come back on later frames: the same faces, a name a few frames after local's
    assert [r["faces"] for r in hybrid["rows"]] == [r["faces"] for r in local["rows"]]
    assert sum(a["known"] != b["known"] for a, b in zip(hybrid["rows"], local["rows"], strict=True)) <= 35
    # a plain Triton serves no facenet128_crops_jpeg: the client sends raw crops instead
    sent = [r for r in hybrid["rows"] if int(r["bytes_up"]) > 0]
    assert sent and all(int(r["bytes_up"]) >= 160 * 160 * 3 for r in sent)
    net = [float(r["network_ms"]) for r in sent]
    print(
        f"\ntriton: hybrid sent crops on {len(sent)} of 105 frames, {sum(int(r['bytes_up']) for r in sent)} "
        f"bytes up, network_ms per request {sum(net) / len(net):.1f}; {hybrid['fps']:.1f} FPS "
        f"(local {local['fps']:.1f})"
    )


def test_the_cluster_model_repository_serves_every_mode_on_triton(door, run_cli, tmp_path):  # noqa: F811
    """docs/triton.md's repository (python backend, dynamic batching) loads in the real tritonserver;
    cloud and hybrid (raw and JPEG crops) run against it unchanged; a bad request fails alone."""
    import urllib.error
    import urllib.request

    from core.deploy.client import remote_pipeline
    from core.deploy.triton import (
        pytriton_status,
        start_tritonserver,
        stop_tritonserver,
        write_model_repository,
    )
    from core.errors import BackendUnavailable

    ok, why = pytriton_status()
    if not ok:
        pytest.skip(f"Triton cannot start here: {why}")
    repo = tmp_path / "repo"
    write_model_repository(repo)
    http = free_port()
    log = tmp_path / "tritonserver.log"
    try:
        proc = start_tritonserver(repo, http_port=http, grpc_port=free_port(), log_path=log)
    except BackendUnavailable as err:
        pytest.skip(f"Triton cannot start here: {err}")
    url = f"http://127.0.0.1:{http}"
    try:
        from core.deploy.protocol import wait_until_ready
        from core.errors import FaceGateError

        try:
            wait_until_ready(url, 180, proc, what="tritonserver")
        except FaceGateError as err:
            pytest.fail(f"{err}: {log.read_text()[-3000:]}")
        db, video = door
        expected = [("ben_afflek", "granted"), ("elton_john", "denied")]
        for mode in ("cloud", "hybrid"):
            r = _run(
                run_cli,
                *(db, video, tmp_path, mode),
                *("--endpoint", url, "--fallback-after", "30", "--allow-unauthenticated-endpoint"),
            )
            assert {x["mode"] for x in r["rows"]} == {mode}, mode
            assert [e for e in r["events"] if e[0]] == expected, (mode, r["events"])
        # JPEG crops, through the engine (the CLI has no flag for them)
        from core.engine import Engine
        from core.pipeline import Pipeline
        from core.registry import create_detector, create_recognizer
        from db.store import Store

        store = Store(db)
        det, rec = create_detector(), create_recognizer()
        local = Pipeline(det, rec, store.gallery(rec.model, rec.default_threshold))
        pipe = remote_pipeline(
            "hybrid", local, endpoint=url, fallback_after_s=30, crop_format="jpeg", allow_unauthenticated=True
        )
        engine = Engine(pipe, store=store, record=False)
        import cv2

        cap = cv2.VideoCapture(str(video))
        modes = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            modes.append(engine.process(frame).mode)
        stats = engine.close()
        pipe.close()
        assert set(modes) == {"hybrid"}
        assert sorted((e.identity, e.decision) for e in stats.events if e.identity) == expected
        # a bad request (a JPEG crop of the wrong size) fails alone, with FaceGate's message
        import numpy as np
        import tritonclient.http as httpclient
        from tritonclient.utils import InferenceServerException

        client = httpclient.InferenceServerClient(url.split("://", 1)[1])
        jpeg = cv2.imencode(".jpg", np.zeros((100, 100, 3), np.uint8))[1].tobytes()
        inp = httpclient.InferInput("CROPS_JPEG", [1, 1], "BYTES")
        inp.set_data_from_numpy(np.array([[jpeg]], dtype=np.object_))
        with pytest.raises(InferenceServerException) as err:
            client.infer("facenet128_crops_jpeg", [inp])
        assert "must be 160x160 px" in str(err.value)
        client.close()
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=5) as r:
            assert r.status == 200
    finally:
        stop_tritonserver(proc)


def test_the_repository_sets_onnxruntime_threads_per_instance(tmp_path):
    """``--threads`` reaches each model's config and its model.py (a pod's CPU limit, not the node's cores)."""
    from core.deploy.triton import main

    assert main(["repository", str(tmp_path), "--instances", "2", "--threads", "3"]) == 0
    for name in ("facenet128_crops", "facenet128_crops_jpeg", "facenet128_frame"):
        config = (tmp_path / name / "config.pbtxt").read_text()
        assert 'parameters { key: "threads" value: { string_value: "3" } }' in config
        assert "instance_group [ { count: 2 kind: KIND_CPU } ]" in config
        source = (tmp_path / name / "1" / "model.py").read_text()
        compile(source, name, "exec")  # the template formats into valid Python
        assert 'options = {"threads": threads} if threads > 0 else {}' in source
