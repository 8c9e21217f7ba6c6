"""What the endpoint's HTTP stack costs: the old server (``http.server`` threads, from git) against the
current one (uvicorn + h11), same machine, same run, requests interleaved, medians.

Both run ``main.py serve`` on a free 127.0.0.1 port with a token; one ``tritonclient.http`` client
each, one request at a time (latency, not throughput). Requests: model metadata (HTTP only), one
real aligned crop to ``facenet128_crops`` (hybrid mode), and a 720p JPEG with three real faces to
``facenet128_frame`` (cloud mode; note the old server detected faces down to 20 px there, the new one
to 40 px like the local pipeline, so that row also measures the detector setting). The new server is
also measured with the answer HMAC the FaceGate client asks for (``facegate_nonce``).

    python benchmarks/bench_serve_stack.py [--old-rev 93ed4b9] [--repeat 40]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.bench_endpoint import inputs  # noqa: E402
from benchmarks.common import machine  # noqa: E402

MAX_REPEAT = 500


def start(tree: Path, token: str) -> tuple[subprocess.Popen[str], str]:
    """``main.py serve`` of the source tree ``tree`` on a free loopback port; (process, host:port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, str(tree / "main.py"), "serve", "--port", str(port), "--token", token],
        cwd=tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    end = time.monotonic() + 300
    for line in proc.stdout:
        if re.search(r"serving .* on http://", line):
            return proc, f"127.0.0.1:{port}"
        if time.monotonic() > end:
            break
    proc.kill()
    raise SystemExit(f"{tree}: the server did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old-rev", default="93ed4b9", help="git revision of the old server (default 93ed4b9)")
    ap.add_argument("--repeat", type=int, default=40, help="requests per kind and server (default 40)")
    args = ap.parse_args()
    repeat = max(5, min(args.repeat, MAX_REPEAT))

    import tritonclient.http as httpclient

    token = secrets.token_urlsafe(16)
    old_tree = Path(tempfile.mkdtemp(prefix="facegate-old-"))
    archive = subprocess.run(["git", "archive", args.old_rev], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive.stdout, check=True)

    crop, _ = inputs("crops", 1)
    jpeg, _ = inputs("frame", 1)
    servers = {"old (http.server)": start(old_tree, token), "new (uvicorn+h11)": start(ROOT, token)}
    headers = {"Authorization": f"Bearer {token}"}
    try:
        clients = {name: httpclient.InferenceServerClient(url) for name, (_, url) in servers.items()}

        def crops_request(client: Any, nonce: bool) -> None:
            inp = httpclient.InferInput("CROPS", list(crop.shape), "UINT8")
            inp.set_data_from_numpy(np.ascontiguousarray(crop), binary_data=True)
            out = [httpclient.InferRequestedOutput("EMBEDDINGS", binary_data=True)]
            params = {"facegate_nonce": secrets.token_hex(16)} if nonce else None
            client.infer("facenet128_crops", [inp], outputs=out, headers=dict(headers), parameters=params)

        def frame_request(client: Any, nonce: bool) -> None:
            inp = httpclient.InferInput("IMAGE", [1, 1], "BYTES")
            inp.set_data_from_numpy(np.array([[jpeg]], dtype=np.object_), binary_data=True)
            names = ("NUM_FACES", "BOXES", "SCORES", "LANDMARKS", "EMBEDDINGS")
            out = [httpclient.InferRequestedOutput(n, binary_data=True) for n in names]
            params = {"facegate_nonce": secrets.token_hex(16)} if nonce else None
            client.infer("facenet128_frame", [inp], outputs=out, headers=dict(headers), parameters=params)

        kinds = {
            "metadata": lambda c, n: c.get_model_metadata("facenet128_crops", headers=dict(headers)),
            "crops x1": crops_request,
            "frame 720p": frame_request,
        }
        rows = []
        for kind, fn in kinds.items():
            runs: dict[str, list[float]] = {name: [] for name in servers}
            runs["new + HMAC"] = []
            for client in clients.values():  # warm-up: connections, first-inference costs
                for _ in range(3):
                    fn(client, False)
            for _ in range(repeat if kind != "frame 720p" else max(5, repeat // 2)):
                for label, client, nonce in (
                    ("old (http.server)", clients["old (http.server)"], False),
                    ("new (uvicorn+h11)", clients["new (uvicorn+h11)"], False),
                    ("new + HMAC", clients["new (uvicorn+h11)"], True),
                ):
                    t0 = time.perf_counter()
                    fn(client, nonce)
                    runs[label].append((time.perf_counter() - t0) * 1e3)
            for label, values in runs.items():
                if kind == "metadata" and label == "new + HMAC":
                    continue
                rows.append(
                    (kind, label, float(np.median(values)), float(np.percentile(values, 90)), len(values))
                )
        for c in clients.values():
            c.close()
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    print(f"# endpoint HTTP stack latency, one client, loopback; {machine()}")
    print(f"{'request':<12} {'server':<20} {'median ms':>10} {'p90 ms':>8} {'n':>4}")
    for kind, label, med, p90, n in rows:
        print(f"{kind:<12} {label:<20} {med:>10.2f} {p90:>8.2f} {n:>4}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
