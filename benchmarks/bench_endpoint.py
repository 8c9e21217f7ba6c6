"""Load test of the recognition endpoint: N concurrent clients for T seconds on loopback, bounded.

Each client is a thread with its own ``tritonclient.http`` client (as each camera would have),
sending back-to-back requests to one model: ``crops`` (hybrid mode: a batch of real aligned face
crops, UINT8 binary) or ``frame`` (cloud mode: a 720p JPEG with real faces). Prints throughput,
latency percentiles, errors and the server's average batch. Without ``--endpoint`` it starts
``main.py serve`` on a free 127.0.0.1 port with a random token (the server then shares this
machine's cores with the clients).

    python benchmarks/bench_endpoint.py [--clients 8] [--seconds 30] [--model crops|frame] [--batch 2]
                                        [--endpoint URL --token T [--ca-cert CA]]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MAX_CLIENTS = 64
MAX_SECONDS = 300


def inputs(model: str, batch: int) -> tuple[bytes | np.ndarray, int]:
    """Real data: aligned crops of real faces, or a 720p JPEG frame holding three real faces."""
    import cv2

    from core import photos
    from core.imageio import load_image
    from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, create_detector, create_recognizer

    val = photos.people("val")
    faces = [load_image(val[name][0]) for name in ("ben_afflek", "elton_john", "jerry_seinfeld")]
    if model == "crops":
        det, rec = create_detector(DEFAULT_DETECTOR), create_recognizer(DEFAULT_RECOGNIZER)
        crops = []
        for img in faces:
            found = det.detect(img)
            crops.append(rec.align(img, max(found, key=lambda f: f.area)))
        arr = np.stack([crops[i % len(crops)] for i in range(batch)])
        return arr, arr.nbytes
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:] = np.linspace(50, 120, 1280, dtype=np.uint8)[None, :, None]
    for i, img in enumerate(faces):
        s = 260 / img.shape[0]
        tile = cv2.resize(img, (int(img.shape[1] * s), 260), interpolation=cv2.INTER_AREA)
        frame[200 : 200 + tile.shape[0], 60 + i * 410 : 60 + i * 410 + tile.shape[1]] = tile
    jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    return jpeg, len(jpeg)


class Server:
    """``main.py serve`` on a free loopback port; ``stop()`` returns its closing line (items, batches)."""

    def __init__(self, token: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "serve", "--port", str(port), "--token", token],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            m = re.search(r"on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                return
        raise SystemExit(f"the endpoint did not start (exit {self.proc.wait()})")

    def stop(self) -> str:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return out.strip().splitlines()[-1] if out.strip() else ""


def client_loop(
    url: str,
    token: str | None,
    ca_cert: str | None,
    model: str,
    data: bytes | np.ndarray,
    deadline: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    import tritonclient.http as httpclient

    from core.deploy.protocol import CROPS_INPUT, CROPS_OUTPUT, FRAME_INPUT, FRAME_OUTPUTS

    tls = url.startswith("https://")
    client = httpclient.InferenceServerClient(
        url.split("://", 1)[1],
        connection_timeout=30,
        network_timeout=60,
        ssl=tls,
        ssl_options={"ca_certs": ca_cert} if ca_cert else None,
    )
    name = "facenet128_crops" if model == "crops" else "facenet128_frame"
    if model == "crops":
        inp = httpclient.InferInput(CROPS_INPUT, list(data.shape), "UINT8")
        inp.set_data_from_numpy(data, binary_data=True)
        outs = [httpclient.InferRequestedOutput(CROPS_OUTPUT, binary_data=True)]
    else:
        inp = httpclient.InferInput(FRAME_INPUT, [1, 1], "BYTES")
        inp.set_data_from_numpy(np.array([[data]], dtype=np.object_), binary_data=True)
        outs = [httpclient.InferRequestedOutput(o, binary_data=True) for o in FRAME_OUTPUTS]
    while time.perf_counter() < deadline:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        t0 = time.perf_counter()
        try:
            client.infer(name, [inp], outputs=outs, headers=headers)
            latencies.append((time.perf_counter() - t0) * 1e3)
        except Exception as err:  # noqa: BLE001 - every failure is counted and reported
            errors.append(f"{type(err).__name__}: {err}")
    client.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--model", choices=["crops", "frame"], default="crops")
    ap.add_argument("--batch", type=int, default=2, help="crops per request (crops model)")
    ap.add_argument("--endpoint", help="an endpoint already running (default: start main.py serve)")
    ap.add_argument("--token")
    ap.add_argument("--ca-cert")
    args = ap.parse_args()
    if not 1 <= args.clients <= MAX_CLIENTS or not 0 < args.seconds <= MAX_SECONDS:
        ap.error(f"--clients 1..{MAX_CLIENTS}, --seconds up to {MAX_SECONDS}")
    data, payload = inputs(args.model, max(1, args.batch))
    server = None
    token = args.token
    if args.endpoint:
        url = args.endpoint
    else:
        token = secrets.token_urlsafe(16)
        server = Server(token)
        url = server.url
    latencies: list[list[float]] = [[] for _ in range(args.clients)]
    errors: list[str] = []
    deadline = time.perf_counter() + args.seconds
    threads = [
        threading.Thread(
            target=client_loop,
            args=(url, token, args.ca_cert, args.model, data, deadline, latencies[i], errors),
            daemon=True,
        )
        for i in range(args.clients)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.seconds + 120)
    elapsed = time.perf_counter() - t0
    closing = server.stop() if server else ""
    lat = np.array([x for per in latencies for x in per])
    items = len(lat) * (args.batch if args.model == "crops" else 1)
    cpu = platform.processor() or platform.machine()
    print(
        f"machine: {os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}; endpoint {url}"
        f"{' (started here, sharing the cores)' if server else ''}"
    )
    print(
        f"load: {args.clients} clients x {args.seconds:g} s, model {args.model}"
        f"{f' ({args.batch} crops per request)' if args.model == 'crops' else ''}, "
        f"{payload / 1e3:.1f} kB up per request"
    )
    if len(lat):
        print(
            f"requests: {len(lat)} ok, {len(errors)} errors; throughput {len(lat) / elapsed:.1f} req/s "
            f"({items / elapsed:.1f} {'crops' if args.model == 'crops' else 'frames'}/s)"
        )
        p = np.percentile(lat, [50, 90, 99])
        print(
            f"latency ms: p50 {p[0]:.1f}, p90 {p[1]:.1f}, p99 {p[2]:.1f}, max {lat.max():.1f}; per client "
            f"{min(len(x) for x in latencies)}-{max(len(x) for x in latencies)} requests"
        )
    else:
        print(f"requests: 0 ok, {len(errors)} errors")
    m = re.search(r"(\d+) items in (\d+) batches", closing)
    if m and int(m.group(2)):
        items_served, batches = int(m.group(1)), int(m.group(2))
        print(f"server: {items_served} items in {batches} batches (mean batch {items_served / batches:.1f})")
    for e in sorted(set(errors))[:5]:
        print(f"error: {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
