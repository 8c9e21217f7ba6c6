"""The endpoint under abuse, against real ``main.py serve`` processes on 127.0.0.1 with real photos.

Idle and slow sockets lock nobody out (plain and TLS); a missing secret refuses to start; a request
cannot take gigabytes (RSS of the real server process); malformed HTTP/JSON gets 4xx; 1000+ fuzzed
requests never get a 5xx or kill it; a rogue endpoint on 127.0.0.1 answering with an enrolled
person's embedding grants nobody; serve finds the same faces as the local video pipeline.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np
import pytest

from tests.test_deploy import (  # noqa: F401 - door is a fixture
    HLEN,
    ROOT,
    TOKEN,
    Endpoint,
    _crops_request,
    _frame_request,
    _http,
    _make_certs,
    _raw,
    door,
)

CROPS_URL = "/v2/models/facenet128_crops/infer"
FRAME_URL = "/v2/models/facenet128_frame/infer"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One endpoint with default limits but a 4 s head/body deadline; its token file has a padded token."""
    folder = tmp_path_factory.mktemp("hardened")
    token_file = folder / "token"
    token_file.write_text(f"  {TOKEN} \n\n")
    ep = Endpoint("--token-file", str(token_file), "--read-timeout-s", "4", token=None, log_dir=folder)
    yield ep
    err = ep.stop()
    assert "Traceback" not in err, err


@pytest.fixture(scope="module")
def photo(fr_images) -> np.ndarray:
    return cv2.imread(str(fr_images / "obama.jpg"))


def _jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


# ------------------------------------------------------------------------------ 1. lock-out


def _hold_sockets(port: int, n: int, stop: threading.Event, tls: bool = False) -> list[socket.socket]:
    """``n`` connections: half send nothing, half a partial request head, one header line every 0.5 s."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
    slow = socks[: n // 2] if not tls else []

    def trickle() -> None:
        for s in slow:
            s.sendall(f"POST {CROPS_URL} HTTP/1.1\r\nHost: x\r\n".encode())
        for i in range(40):  # bounded: 20 s at most
            if stop.wait(0.5):
                return
            for s in slow:
                try:
                    s.sendall(f"X-Slow-{i}: y\r\n".encode())
                except OSError:
                    pass

    threading.Thread(target=trickle, daemon=True).start()
    return socks


def _closed_by_server(s: socket.socket) -> bool:
    s.settimeout(0.2)
    try:
        return s.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_64_idle_and_slow_sockets_lock_nobody_out_and_are_closed_after_the_head_deadline(server):
    stop = threading.Event()
    socks = _hold_sockets(server.port, 64, stop)
    try:
        time.sleep(1.0)  # the server has accepted them all and the slow ones have started trickling
        t0 = time.monotonic()
        status, _, data = _http(server.port, "GET", "/v2/models/facenet128_crops")
        assert status == 200, data
        good, headers = _crops_request(np.full((1, 160, 160, 3), 127, np.uint8))
        assert _http(server.port, "POST", CROPS_URL, good, headers)[0] == 200
        assert time.monotonic() - t0 < 3.0
        assert not any(_closed_by_server(s) for s in socks[:8])  # they were still held while we were served
        # none of them delivered a request head within the 4 s deadline: all closed by now (or soon)
        end = time.monotonic() + 8.0
        while time.monotonic() < end and not all(_closed_by_server(s) for s in socks):
            time.sleep(0.2)
        assert all(_closed_by_server(s) for s in socks)
    finally:
        stop.set()
        for s in socks:
            s.close()


def test_64_silent_sockets_do_not_block_tls_clients(tmp_path):
    ca, cert, key = _make_certs(tmp_path)
    ep = Endpoint("--tls-cert", str(cert), "--tls-key", str(key), log_dir=tmp_path)
    stop = threading.Event()
    socks = _hold_sockets(ep.port, 64, stop, tls=True)
    try:
        time.sleep(0.5)
        context = ssl.create_default_context(cafile=str(ca))
        t0 = time.monotonic()
        conn = http.client.HTTPSConnection("127.0.0.1", ep.port, timeout=5, context=context)
        conn.request("GET", "/v2/models/facenet128_crops", headers={"Authorization": f"Bearer {TOKEN}"})
        assert conn.getresponse().status == 200
        conn.close()
        assert time.monotonic() - t0 < 3.0
    finally:
        stop.set()
        for s in socks:
            s.close()
        err = ep.stop()
    assert "Traceback" not in err, err


def test_small_answers_on_a_keep_alive_connection_do_not_wait_for_delayed_acks(server):
    """Header and body leave as two writes: without TCP_NODELAY each answer waits ~40 ms for an ACK."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    times = []
    for _ in range(21):
        t0 = time.perf_counter()
        conn.request("GET", "/v2/models/facenet128_crops", headers={"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        times.append((time.perf_counter() - t0) * 1e3)
    conn.close()
    assert float(np.median(times)) < 25.0, times


# ------------------------------------------------------------------------------ 2. missing secret


def _serve_exits(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "serve", "--port", "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("how", ["empty file", "blank file", "empty --token", "no token"])
def test_a_missing_secret_refuses_to_start_on_a_non_loopback_host(tmp_path, how):
    token_file = tmp_path / "token"
    token_file.write_text("" if how == "empty file" else " \n\t\n")
    args = {
        "empty file": ["--token-file", str(token_file)],
        "blank file": ["--token-file", str(token_file)],
        "empty --token": ["--token", ""],
        "no token": [],
    }[how]
    done = _serve_exits("--host", "0.0.0.0", *args)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: serve:"), done.stderr
    assert "Traceback" not in done.stderr and "serving" not in done.stdout
    if how == "no token":
        assert "--insecure-no-token" in lines[0]


def test_a_padded_token_in_the_file_authenticates_on_both_sides(server, tmp_path):
    """The server read '  TOKEN \\n\\n'; a client's token file with its own padding matches it."""
    from app.run import _token

    assert _http(server.port, "GET", "/v2/models/facenet128_crops", token=TOKEN)[0] == 200
    assert _http(server.port, "GET", "/v2/models/facenet128_crops", token=f"  {TOKEN}  ")[0] == 200
    assert _http(server.port, "GET", "/v2/models/facenet128_crops", token=TOKEN + "x")[0] == 401
    client_file = tmp_path / "client-token"
    client_file.write_text(f"\n{TOKEN}\r\n")

    class Args:
        token_file = str(client_file)
        token = None

    assert _token(Args()) == TOKEN


# ------------------------------------------------------------------------------ 3. work budget


class _PeakRSS:
    """The peak RSS (bytes) of a process, sampled every 20 ms while in the ``with`` block."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()

    def __enter__(self) -> _PeakRSS:
        def sample() -> None:
            while not self._stop.wait(0.02):
                self.peak = max(self.peak, self.proc.memory_info().rss)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def test_a_request_cannot_take_gigabytes(server, photo):
    big = _jpeg(cv2.resize(photo, (4096, 4096)), 70)
    # 8 frames of 4096x4096 (134 MP): refused from the image headers, nothing decoded
    body, headers = _frame_request([big] * 8)
    assert len(body) < 16 * 2**20
    with _PeakRSS(server.proc.pid) as rss:
        t0 = time.monotonic()
        status, _, data = _http(server.port, "POST", FRAME_URL, body, headers)
        refused_s = time.monotonic() - t0
    assert status == 413 and "per-request limit" in json.loads(data)["error"], data
    assert refused_s < 5 and rss.growth_mb < 200, (refused_s, rss.growth_mb)
    # four clients at once, each one 4096x4096 frame (within the per-request budget): at most two are
    # held at a time (the others get 429 busy), and the server grows by well under 800 MB
    one, one_headers = _frame_request([big])
    statuses: list[int] = []

    def client() -> None:
        statuses.append(_http(server.port, "POST", FRAME_URL, one, one_headers)[0])

    with _PeakRSS(server.proc.pid) as rss:
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    print(f"RSS {rss.base / 2**20:.0f} MB, peak growth {rss.growth_mb:.0f} MB; statuses {sorted(statuses)}")
    assert 200 in statuses and set(statuses) <= {200, 429}, statuses
    assert rss.growth_mb < 800, rss.growth_mb
    assert _http(server.port, "GET", "/v2/health/ready", token=None)[0] == 200


# ------------------------------------------------------------------------------ 5. HTTP/JSON edge cases


def test_deeply_nested_json_and_conflicting_content_lengths_get_400(server):
    nested = b"[" * 100_000 + b"]" * 100_000
    status, _, data = _http(server.port, "POST", CROPS_URL, nested)
    assert status == 400, data
    nested_obj = b'{"inputs": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001
    assert _http(server.port, "POST", CROPS_URL, nested_obj)[0] == 400
    head = f"POST {CROPS_URL} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
    reply = _raw(server.port, (head + "Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}").encode(), wait_s=5)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    reply = _raw(server.port, (head + "Content-Length: 2, 40\r\n\r\n{}").encode(), wait_s=5)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert _http(server.port, "GET", "/v2/health/ready", token=None)[0] == 200


# ------------------------------------------------------------------------------ 6. fuzz


def _fuzz_cases(rng: random.Random, n: int) -> list[bytes]:
    """``n`` raw HTTP requests, each wrong in some way (never a valid inference)."""
    auth = f"Authorization: Bearer {TOKEN}\r\n"
    good, good_headers = _crops_request(np.zeros((1, 160, 160, 3), np.uint8))
    hlen = int(good_headers[HLEN])

    def post(path: str, body: bytes, extra: str = "", length: int | None = None) -> bytes:
        size = len(body) if length is None else length
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {size}\r\n{extra}Connection: close\r\n\r\n"
        return head.encode() + body

    def junk_json() -> bytes:
        pieces = [
            b"{",
            b"[",
            b'"inputs"',
            b":",
            b"null",
            b"1e999999",
            b'{"inputs": [{"name": "CROPS"}]}',
            b'{"inputs": [{"name": "CROPS", "datatype": "FP32", "shape": [1], "data": [1]}]}',
            b'{"inputs": [{"name": "CROPS", "datatype": "UINT8", "shape": [-1, 160, 160, 3], "data": []}]}',
            b'{"inputs": [{"name": "CROPS", "datatype": "UINT8", "shape": [99999999999, 160, 160, 3]}]}',
            b'{"inputs": [{"name": "CROPS", "datatype": "UINT8", "shape": "x", "data": 1}]}',
            b'{"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [1], "data": ["x"]}]}',
            b'{"inputs": [], "outputs": 5}',
            b'{"inputs": [{"name": "CROPS", "datatype": "UINT8", "shape": [1, 160, 160, 3], '
            b'"parameters": {"binary_data_size": 76800}}]}',
            bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 64))),
        ]
        return b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 4)))

    def case() -> bytes:
        kind = rng.randrange(14)
        if kind == 0:  # random bytes instead of HTTP
            return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300))) + b"\r\n\r\n"
        if kind == 1:  # bad JSON / wrong shapes / dtypes, on either model
            return post(
                rng.choice([CROPS_URL, FRAME_URL, "/v2/models/facenet128_crops_jpeg/infer"]), junk_json()
            )
        if kind == 2:  # a good header with a binary part cut short or padded
            cut = rng.randrange(0, len(good) - 1)
            body = good[:cut] if rng.random() < 0.5 else good + b"\x00" * rng.randrange(1, 100)
            return post(CROPS_URL, body, f"{HLEN}: {hlen}\r\n")
        if kind == 3:  # a wrong Inference-Header-Content-Length
            value = rng.choice(
                ["-1", "abc", str(len(good) + 5), "99999999999999999999", "1.5", str(hlen - 3)]
            )
            return post(CROPS_URL, good, f"{HLEN}: {value}\r\n")
        if kind == 4:  # huge declared sizes
            return post(CROPS_URL, b"{}", length=rng.choice([10**12, 2**40, 17 * 2**20]))
        if kind == 5:  # bad routes, methods and versions
            method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW", "TRACE"])
            path = rng.choice(
                [
                    "/v2/models/nope/infer",
                    "/v2/models/facenet128_crops/versions/7/infer",
                    "/v2/models/facenet128_crops/bogus",
                    "/v3",
                    "/%00",
                    "/v2/models/" + "a" * 3000,
                    "/v2/models/facenet128_crops/infer/../../x",
                ]
            )
            return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
        if kind == 6:  # bad or missing tokens
            token = rng.choice(["", "Bearer", "Bearer wrong", "Basic abc", "Bearer " + "x" * 5000])
            return f"GET /v2/models/facenet128_crops HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n".encode()
        if kind == 7:  # malformed headers
            bad = rng.choice(
                [
                    "NoColonHere\r\n",
                    " leading-space: x\r\n",
                    "X: " + "y" * 70000 + "\r\n",
                    "Content-Length: -5\r\n",
                    "Content-Length: 1x\r\n",
                    "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                    "Transfer-Encoding: gzip\r\n",
                    "Content-Encoding: gzip\r\nContent-Length: 2\r\n",
                    f"{HLEN}: 1\r\n{HLEN}: 2\r\nContent-Length: 2\r\n",
                    "Host: y\r\n",
                    "X\x00Y: z\r\n",
                ]
            )
            return (
                f"POST {CROPS_URL} HTTP/1.1\r\nHost: x\r\n{auth}{bad}Connection: close\r\n\r\n{{}}".encode()
            )
        if kind == 8:  # JSON data that does not fit the shape, or wrong types
            shape = [rng.randrange(1, 3), 160, 160, 3]  # needs 76800+ values; at most 4 are given
            data = [rng.choice([1, -1, 300, 1.5, "a", None, True])] * rng.randrange(0, 5)
            body = json.dumps(
                {"inputs": [{"name": "CROPS", "datatype": "UINT8", "shape": shape, "data": data}]}
            )
            return post(CROPS_URL, body.encode())
        if kind == 9:  # images that are not images, or too many
            items = [
                bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 40)))
                for _ in range(rng.randrange(1, 12))
            ]
            body, headers = _frame_request(items)
            return post(FRAME_URL, body, f"{HLEN}: {headers[HLEN]}\r\n")
        if kind == 10:  # a JPEG cut short (a valid header, no image)
            jpeg = cv2.imencode(".jpg", np.zeros((64, 64, 3), np.uint8))[1].tobytes()
            body, headers = _frame_request([jpeg[: rng.randrange(4, 40)]])
            return post(FRAME_URL, body, f"{HLEN}: {headers[HLEN]}\r\n")
        if kind == 11:  # bit flips in the JSON header of a good request
            head = bytearray(good[:hlen])
            for _ in range(rng.randrange(1, 4)):
                head[rng.randrange(len(head))] = rng.choice(b'{}[]":,\x00\xff')
            body = bytes(head) + b"\x00" * 76799  # one byte short: invalid whatever the header says
            return post(CROPS_URL, body, f"{HLEN}: {hlen}\r\n")
        if kind == 12:  # the nonce parameter of the wrong kind
            nonce = rng.choice([1, "short", "x" * 300, None, [1]])
            head = json.loads(good[:hlen])
            head["parameters"] = {"facegate_nonce": nonce} if nonce is not None else 7
            text = json.dumps(head).encode()
            body = text + good[hlen:]
            if nonce is None:
                return post(CROPS_URL, body, f"{HLEN}: {len(text)}\r\n")
            return post(CROPS_URL, body, f"{HLEN}: {len(text)}\r\n")
        # bad request lines and versions
        return rng.choice(
            [
                b"GET\r\n\r\n",
                b"GET / HTTP/9.9\r\n\r\n",
                b"GET /v2 HTTP/1.1\r\n\r\n",  # no Host header
                b"GET " + b"/" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST /v2/models/facenet128_crops/infer HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}",
            ]
        )

    return [case() for _ in range(n)]


def _status(port: int, data: bytes) -> int | None:
    """Send one raw request; the status code of the answer (None when none came)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may answer (and close) before reading everything
        out = b""
        try:
            while b"\r\n" not in out and (chunk := s.recv(4096)):
                out += chunk
        except OSError:
            pass
    parts = out.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and out.startswith(b"HTTP/1.") and parts[1].isdigit() else None


def test_fuzz_1000_malformed_requests_get_4xx_and_the_server_keeps_serving(server):
    rng = random.Random(20261203)
    cases = _fuzz_cases(rng, 1200)
    t0 = time.monotonic()
    counts: dict[int | None, int] = {}
    bad: list[tuple[int | None, bytes]] = []
    for data in cases:
        status = _status(server.port, data)
        counts[status] = counts.get(status, 0) + 1
        if status is None or not 400 <= status < 500:
            bad.append((status, data[:300]))
    # a body that never arrives: answered 408 at the read deadline (a few at once, not one by one)
    late: list[int | None] = []
    head = f"POST {CROPS_URL} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n"
    threads = [
        threading.Thread(target=lambda: late.append(_status(server.port, head.encode() + b"{")))
        for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    elapsed = time.monotonic() - t0
    print(f"{len(cases) + len(late)} fuzzed requests in {elapsed:.1f} s: {sorted(counts.items(), key=str)}")
    assert not bad, bad[:5]
    assert late == [408] * 5, late
    assert elapsed < 60
    assert server.proc.poll() is None
    good, headers = _crops_request(np.full((1, 160, 160, 3), 100, np.uint8))
    assert _http(server.port, "POST", CROPS_URL, good, headers)[0] == 200
    assert "Traceback" not in server.stderr()


# ------------------------------------------------------------------------------ 7. one detector


def test_serve_finds_the_same_faces_as_the_local_video_pipeline(server, photo, detector):
    """A real photo with one large face and the same face shrunk to ~30 px: the photo detector (20 px)
    finds both, the video detector (40 px, what local and hybrid use) only the large one; serve must
    agree with the local pipeline."""
    scene = photo.copy()
    small = cv2.resize(photo, None, fx=0.12, fy=0.12, interpolation=cv2.INTER_AREA)
    scene[10 : 10 + small.shape[0], 10 : 10 + small.shape[1]] = small
    jpeg = _jpeg(scene, 95)
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    local = detector.detect(decoded)
    body, headers = _frame_request([jpeg])
    status, resp_headers, data = _http(server.port, "POST", FRAME_URL, body, headers)
    assert status == 200, data
    outputs = {
        o["name"]: np.asarray(o["data"], np.float32).reshape(o["shape"]) for o in json.loads(data)["outputs"]
    }
    count = int(outputs["NUM_FACES"][0, 0])
    assert count == len(local) >= 1
    remote_boxes = sorted(outputs["BOXES"][0, :count].tolist())
    local_boxes = sorted(np.asarray([f.box[:4] for f in local], np.float32).tolist())
    np.testing.assert_allclose(remote_boxes, local_boxes, atol=1.0)


# ------------------------------------------------------------------------------ 4. remote trust


class _Rogue(BaseHTTPRequestHandler):
    """A v2 endpoint that answers every crops request with one enrolled person's embedding."""

    protocol_version = "HTTP/1.1"
    embedding: np.ndarray = np.zeros(128, np.float32)
    fake_mac: str | None = None

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        if "health" in self.path or self.path.endswith("/ready"):
            self._send(b"")
        elif self.path.endswith("/config"):
            self._send(json.dumps({"max_batch_size": 8}).encode())
        else:
            meta = {
                "name": "facenet128_crops",
                "inputs": [{"name": "CROPS", "datatype": "UINT8", "shape": [-1, 160, 160, 3]}],
                "outputs": [{"name": "EMBEDDINGS", "datatype": "FP32", "shape": [-1, 128]}],
            }
            self._send(json.dumps(meta).encode())

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        n = int(self.headers.get(HLEN) or len(body))
        count = json.loads(body[:n])["inputs"][0]["shape"][0]
        blob = np.tile(self.embedding, (count, 1)).astype(np.float32).tobytes()
        head: dict[str, Any] = {
            "model_name": "facenet128_crops",
            "outputs": [
                {
                    "name": "EMBEDDINGS",
                    "datatype": "FP32",
                    "shape": [count, 128],
                    "parameters": {"binary_data_size": len(blob)},
                }
            ],
        }
        if self.fake_mac:
            head["parameters"] = {"facegate_hmac": self.fake_mac}
        text = json.dumps(head).encode()
        self._send(text + blob, {HLEN: str(len(text))})


@pytest.fixture(scope="module")
def door_pipeline(door, detector, recognizer):  # noqa: F811 - door is the imported fixture
    from core.pipeline import Pipeline
    from db.store import Store

    store = Store(door[0])
    return Pipeline(detector, recognizer, store.gallery(recognizer.model, recognizer.default_threshold))


@pytest.mark.parametrize("fake_mac", [None, "00" * 32])
def test_a_rogue_endpoint_with_an_enrolled_embedding_grants_no_stranger(door_pipeline, celeb_val, fake_mac):
    from core.deploy.client import remote_pipeline

    gallery = door_pipeline.gallery
    enrolled = {"ben_afflek", "elton_john"}
    gallery._consolidate()
    ben = gallery.names.index("ben_afflek")
    stored = gallery._matrix[gallery._labels == ben][0]  # one of ben_afflek's enrolled embeddings
    handler = type("Rogue", (_Rogue,), {"embedding": stored, "fake_mac": fake_mac})
    rogue = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=rogue.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{rogue.server_address[1]}"
    strangers = [p for name, paths in celeb_val.items() if name not in enrolled for p in paths[:2]][:4]
    assert strangers
    pipe = remote_pipeline("hybrid", door_pipeline, endpoint=url, token=TOKEN, fallback_after_s=10)
    try:
        faces = 0
        for path in strangers:
            result = pipe.process(cv2.imread(str(path)))
            faces += len(result.faces)
            assert result.mode == "hybrid->local", pipe.status
            assert "authentic" in pipe.status, pipe.status
            for face in result.faces:
                assert face.identity not in enrolled, (path, face.identity, face.distance)
        assert faces >= 2
    finally:
        pipe.close()
        rogue.shutdown()
        rogue.server_close()


def test_plain_http_to_another_host_and_unauthenticated_endpoints_need_an_opt_in(door_pipeline, capsys):
    from core.deploy.client import remote_pipeline
    from core.errors import FaceGateError

    with pytest.raises(FaceGateError, match="--insecure-http"):
        remote_pipeline("hybrid", door_pipeline, endpoint="http://192.0.2.10:8000", token=TOKEN)
    pipe = remote_pipeline(
        "hybrid", door_pipeline, endpoint="http://192.0.2.10:8000", token=TOKEN, allow_insecure_http=True
    )
    pipe.close()
    assert "WARNING" in capsys.readouterr().err
    with pytest.raises(FaceGateError, match="--allow-unauthenticated-endpoint"):
        remote_pipeline("cloud", door_pipeline, endpoint="http://127.0.0.1:9", token=None)
    with pytest.raises(FaceGateError, match="--allow-unauthenticated-endpoint"):
        remote_pipeline("cloud", door_pipeline, endpoint="https://127.0.0.1:9", token=" \n")
    pipe = remote_pipeline(
        "cloud", door_pipeline, endpoint="https://192.0.2.10:8000", allow_unauthenticated=True
    )
    pipe.close()
    assert "not authenticated" in capsys.readouterr().err


def test_answers_of_the_real_endpoint_authenticate(server, door_pipeline, celeb_val):
    """The same client against our server (which holds the token) is served remotely, not locally."""
    from core.deploy.client import remote_pipeline

    path = next(iter(celeb_val.values()))[0]
    image = cv2.imread(str(path))
    for mode in ("hybrid", "cloud"):
        pipe = remote_pipeline(mode, door_pipeline, endpoint=server.url, token=TOKEN, fallback_after_s=30)
        try:
            result = pipe.process(image)
            assert result.mode == mode, pipe.status
            assert len(result.faces) >= 1
        finally:
            pipe.close()
