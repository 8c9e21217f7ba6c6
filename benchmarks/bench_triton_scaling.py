"""N edge boxes against one Triton: sustained crops/s and latency for 1, 2, 4, 8 client processes.

Starts ONE real ``tritonserver`` (2.51, bundled by ``nvidia-pytriton``; CPU) on loopback with
FaceGate's model repository (``python -m core.deploy.triton repository``: Python backend, dynamic
batching as written there; the frame model is left out, only the crops models are served), then for
each client count runs that many client *processes* (separate OS processes, like separate edge
boxes). Each client is a FaceGate hybrid camera minus its detector: the hybrid pipeline of
``core.deploy.client`` (``remote_pipeline("hybrid", ...)``, ``tritonclient.http``) aligns the faces of
a 720p frame made of real celebrity photos (``~/.cache/facegate/photos``, faces found once by
FaceGate's default detector), encodes the crops (JPEG or raw UINT8) and embeds them on Triton,
back to back (closed loop), for ``--seconds`` after a ``--warmup``. A frame that fell back to local
embedding counts as an error.

Per point it prints clients, sustained crops/s and requests/s (all clients together), latency
p50/p90/p99 of ``HybridPipeline.embed`` (align + encode + request + answer), Triton's mean batch
(``/v2/models/<m>/stats``: crops per model execution, i.e. what the dynamic batcher merged),
errors, the ratio of crops/s to the 1-client point of the same run, and the machine's CPU busy share
and load during the window. Optionally writes a CSV and a PNG.

    python benchmarks/bench_triton_scaling.py [--clients 1,2,4,8] [--seconds 20] [--warmup 5]
        [--format jpeg|raw|both] [--crops 2] [--fallback-after 30] [--csv OUT.csv] [--png OUT.png]
        [--endpoint URL [--token T] [--ca-cert CA] [--insecure-http]]

Without ``--endpoint`` the server shares this machine's cores with the clients. Against a remote
Triton (or a gateway in front of it), one client machine stands in for many boxes: a client costs
~2 % of a core at these rates (the ``cli`` column).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import logging
import multiprocessing as mp
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MAX_CLIENTS = 64
MODELS = {"jpeg": "facenet128_crops_jpeg", "raw": "facenet128_crops"}
PEOPLE = ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling")
CSV_FIELDS = [
    "format",
    "clients",
    "crops_per_request",
    "seconds",
    "requests",
    "crops",
    "crops_per_s",
    "requests_per_s",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_batch_crops",
    "requests_per_batch",
    "errors",
    "vs_1_client",
    "cpu_busy_pct",
    "server_cpu",
    "clients_cpu",
    "crops_per_server_cpu_s",
    "load1",
]


# ------------------------------------------------------------------------------ analysis (pure)


def parse_clients(text: str) -> list[int]:
    """``"1,2,4,8"`` -> ``[1, 2, 4, 8]``; each 1..MAX_CLIENTS, no repeats."""
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"client counts must be integers, not {text!r}") from None
    if not counts or any(not 1 <= n <= MAX_CLIENTS for n in counts) or len(set(counts)) != len(counts):
        raise argparse.ArgumentTypeError(f"client counts: distinct integers 1..{MAX_CLIENTS}, not {text!r}")
    return counts


@dataclass
class ModelStats:
    """Triton's cumulative counters of one model (``/v2/models/<m>/stats``)."""

    requests: int = 0  # inference_stats.success.count
    crops: int = 0  # inference_count (batch items)
    executions: int = 0  # execution_count (model runs, i.e. batches after dynamic batching)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ModelStats:
        s = doc["model_stats"][0]
        return cls(
            requests=int(s["inference_stats"]["success"]["count"]),
            crops=int(s.get("inference_count", 0)),
            executions=int(s.get("execution_count", 0)),
        )


def summarize(
    clients: int,
    seconds: float,
    crops_per_request: int,
    latencies_ms: list[float],
    errors: int,
    before: ModelStats | None = None,
    after: ModelStats | None = None,
) -> dict[str, Any]:
    """One point of the table from the window's successful request latencies and the server counters."""
    lat = np.asarray(latencies_ms, float)
    p = np.percentile(lat, [50, 90, 99]) if len(lat) else [float("nan")] * 3
    row: dict[str, Any] = {
        "clients": clients,
        "crops_per_request": crops_per_request,
        "seconds": seconds,
        "requests": len(lat),
        "crops": len(lat) * crops_per_request,
        "crops_per_s": len(lat) * crops_per_request / seconds,
        "requests_per_s": len(lat) / seconds,
        "p50_ms": float(p[0]),
        "p90_ms": float(p[1]),
        "p99_ms": float(p[2]),
        "errors": errors,
        "mean_batch_crops": float("nan"),
        "requests_per_batch": float("nan"),
    }
    if before is not None and after is not None and after.executions > before.executions:
        runs = after.executions - before.executions
        row["mean_batch_crops"] = (after.crops - before.crops) / runs
        row["requests_per_batch"] = (after.requests - before.requests) / runs
    return row


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """``vs_1_client``: crops/s over the 1-client point of the same format and run (NaN without one)."""
    base = {r["format"]: r["crops_per_s"] for r in rows if r["clients"] == 1}
    for r in rows:
        b = base.get(r["format"])
        r["vs_1_client"] = r["crops_per_s"] / b if b else float("nan")


# ------------------------------------------------------------------------------ machine load


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat (Linux)."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals) - idle, sum(vals)


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its children (tritonserver and its backend
    stubs), from /proc; 0 where unreadable."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(d.name) == pid or int(fields[1]) == pid:  # fields[1]: ppid; [11], [12]: utime, stime
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


# ------------------------------------------------------------------------------ the frames


def make_frames(n: int, crops_per_request: int) -> list[tuple[np.ndarray, list[Any]]]:
    """``n`` 720p frames, each with ``crops_per_request`` real celebrity faces (val photos), and the faces
    FaceGate's default detector finds in them (largest first). Done once, in the parent."""
    import cv2

    from core import photos
    from core.imageio import load_image
    from core.registry import DEFAULT_DETECTOR, create_detector

    det = create_detector(DEFAULT_DETECTOR)
    val = photos.people("val")
    frames = []
    for k in range(n):
        frame = np.zeros((720, 1280, 3), np.uint8)
        frame[:] = np.linspace(50, 120, 1280, dtype=np.uint8)[None, :, None]
        width = 1280 // crops_per_request
        for j in range(crops_per_request):
            person = PEOPLE[(k + j) % len(PEOPLE)]
            img = load_image(val[person][(k // len(PEOPLE)) % len(val[person])])
            s = min(300 / img.shape[0], (width - 40) / img.shape[1])
            tile = cv2.resize(
                img, (int(img.shape[1] * s), int(img.shape[0] * s)), interpolation=cv2.INTER_AREA
            )
            x, y = 20 + j * width, 200
            frame[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        faces = sorted(det.detect(frame), key=lambda f: -f.area)[:crops_per_request]
        if len(faces) != crops_per_request:
            raise SystemExit(f"frame {k}: found {len(faces)} faces, expected {crops_per_request}")
        frames.append((frame, faces))
    return frames


# ------------------------------------------------------------------------------ one edge box


class _KnownFaces:
    """The camera's detector, replaced by the faces found once: detection is local work, not measured."""

    def __init__(self) -> None:
        self.faces: list[Any] = []

    def detect(self, image_bgr: np.ndarray) -> list[Any]:
        return self.faces


@dataclass
class Link:
    """How the clients reach Triton (``remote_pipeline``'s arguments)."""

    url: str
    crop_format: str = "jpeg"
    fallback_after_s: float = 30.0
    token: str | None = None
    ca_cert: str | None = None
    insecure_http: bool = False


def camera(
    index: int,
    link: Link,
    frames: list[tuple[np.ndarray, list[Any]]],
    ready: Any,
    go: Any,
    window: Any,
    results: Any,
) -> None:
    """One client process: FaceGate's hybrid pipeline embedding the frames' faces on ``url``, closed loop."""
    from core.deploy.client import remote_pipeline
    from core.pipeline import Pipeline
    from core.registry import DEFAULT_RECOGNIZER, create_recognizer

    known = _KnownFaces()
    rec = create_recognizer(DEFAULT_RECOGNIZER)  # alignment, and the local fallback (counted as errors)
    logging.getLogger("core.deploy.client").setLevel(logging.ERROR)
    with contextlib.redirect_stderr(io.StringIO()):  # the opt-in's warning, once per client: said by main()
        pipe = remote_pipeline(
            "hybrid",
            Pipeline(known, rec),  # type: ignore[arg-type]
            endpoint=link.url,
            token=link.token,  # a gateway's bearer token; Triton itself checks none
            ca_cert=link.ca_cert,
            fallback_after_s=link.fallback_after_s,
            crop_format=link.crop_format,
            allow_insecure_http=link.insecure_http,
            allow_unauthenticated=True,  # plain Triton does not sign answers
        )

    reasons: list[str] = []

    def one(k: int) -> tuple[float, bool]:
        frame, faces = frames[k % len(frames)]
        known.faces = faces
        t0 = time.perf_counter()
        found = pipe.detect(frame)  # starts the frame's stats; returns the known faces
        pipe.embed(frame, found)
        ms = (time.perf_counter() - t0) * 1e3
        stats = pipe.frame_stats()
        if stats["mode"] != "hybrid" and len(reasons) < 3 and stats["status"] not in reasons:
            reasons.append(str(stats["status"]))  # why the frame fell back to local embedding
        return ms, stats["mode"] == "hybrid"

    one(index)  # model metadata, connection
    ready.put(index)
    go.wait()
    start, end = window[0], window[1]
    latencies: list[float] = []
    errors = 0
    k = index
    cpu0 = None
    while time.time() < end:
        ms, ok = one(k)
        k += 1
        done = time.time()
        if done < start or done > end:
            continue  # warm-up, or finished after the window closed
        if cpu0 is None:
            cpu0 = _own_cpu_s()
        if ok:
            latencies.append(ms)
        else:
            errors += 1
    cpu_s = _own_cpu_s() - cpu0 if cpu0 is not None else 0.0
    pipe.close()
    results.put((index, latencies, errors, cpu_s, reasons))


# ------------------------------------------------------------------------------ the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_triton(work: Path, log: Path) -> tuple[Any, str]:
    """tritonserver on FaceGate's model repository (crops models only), ready; returns (process, url)."""
    from core.deploy.protocol import wait_until_ready
    from core.deploy.triton import start_tritonserver, write_model_repository

    repo = work / "model_repository"
    write_model_repository(repo)
    shutil.rmtree(repo / "facenet128_frame")  # cloud mode's model: not measured, MTCNN not loaded
    http = _free_port()
    proc = start_tritonserver(repo, http_port=http, grpc_port=_free_port(), log_path=log)
    url = f"http://127.0.0.1:{http}"
    try:
        wait_until_ready(url, 300, proc, what="tritonserver")
    except Exception:
        proc.terminate()
        print(log.read_text()[-3000:], file=sys.stderr)
        raise
    return proc, url


def model_stats(link: Link, model: str) -> ModelStats | None:
    """Triton's counters of ``model`` (through a gateway: with the clients' token and CA), None if unread."""
    import ssl

    headers = {"Authorization": f"Bearer {link.token}"} if link.token else {}
    context = ssl.create_default_context(cafile=link.ca_cert) if link.url.startswith("https://") else None
    request = urllib.request.Request(f"{link.url}/v2/models/{model}/stats", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as r:
            return ModelStats.from_json(json.load(r))
    except (OSError, KeyError, IndexError, ValueError):
        return None  # not Triton (main.py serve has no statistics extension), or the gateway hides it


# ------------------------------------------------------------------------------ one point


def run_point(
    link: Link,
    clients: int,
    frames: list[Any],
    seconds: float,
    warmup: float,
    server_pid: int | None = None,
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")  # fresh processes, like separate boxes (no forked onnxruntime/gevent state)
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    window = ctx.Array("d", 2)
    procs = [
        ctx.Process(target=camera, args=(i, link, frames, ready, go, window, results), daemon=True)
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    start = time.time() + warmup
    window[0], window[1] = start, start + seconds
    go.set()
    model = MODELS[link.crop_format]
    time.sleep(max(0.0, start - time.time()))
    before, cpu0 = model_stats(link, model), _cpu_times()
    srv0 = _tree_cpu_s(server_pid) if server_pid else 0.0
    time.sleep(max(0.0, start + seconds - time.time()))
    after, cpu1 = model_stats(link, model), _cpu_times()
    srv1 = _tree_cpu_s(server_pid) if server_pid else 0.0
    load1 = os.getloadavg()[0]
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    latencies = [x for _, lat, _, _, _ in got for x in lat]
    row = summarize(
        clients, seconds, len(frames[0][1]), latencies, sum(e for _, _, e, _, _ in got), before, after
    )
    busy, total = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    row.update(
        format=link.crop_format,
        cpu_busy_pct=100.0 * busy / total if total else float("nan"),
        load1=load1,
        # CPU seconds per second (2.0 = both cores of this machine): Triton with its stubs, all clients
        server_cpu=(srv1 - srv0) / seconds if server_pid else float("nan"),
        clients_cpu=sum(c for _, _, _, c, _ in got) / seconds,
        reasons=sorted({x for *_, why in got for x in why}),
    )
    # what the neighbours on a shared machine do not change: crops per CPU second Triton spent
    row["crops_per_server_cpu_s"] = (
        row["crops_per_s"] / row["server_cpu"] if row["server_cpu"] else float("nan")
    )
    return row


# ------------------------------------------------------------------------------ outputs


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{r[k]:.2f}" if isinstance(r[k], float) else r[k]) for k in CSV_FIELDS})


def read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows written by :func:`write_csv` (numbers back as numbers), e.g. to redraw the figure."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            if k != "format":
                r[k] = float(v) if "." in v or v == "nan" else int(v)
    return rows


def write_png(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Three panels against client processes: crops/s (labelled with Triton's CPU share), latency
    p50/p99, and crops per Triton CPU second (what a shared machine's neighbours do not change)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"jpeg": "#4C72B0", "raw": "#DD8452"}
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(12.5, 3.9))
    for fmt in dict.fromkeys(r["format"] for r in rows):
        pts = sorted((r for r in rows if r["format"] == fmt), key=lambda r: r["clients"])
        x = [r["clients"] for r in pts]
        col = colors.get(fmt, "#55A868")
        a.plot(x, [r["crops_per_s"] for r in pts], "o-", color=col, label=f"{fmt} crops")
        for r in pts:
            a.annotate(
                f"{r['server_cpu']:.2f}",
                (r["clients"], r["crops_per_s"]),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
                color=col,
            )
        b.plot(x, [r["p50_ms"] for r in pts], "o-", color=col, label=f"{fmt} p50")
        b.plot(x, [r["p99_ms"] for r in pts], "s--", color=col, label=f"{fmt} p99")
        c.plot(x, [r["crops_per_server_cpu_s"] for r in pts], "o-", color=col, label=f"{fmt} crops")
    for ax in (a, b, c):
        ax.set_xscale("log", base=2)
        ticks = sorted({r["clients"] for r in rows})
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
        ax.set_xlabel("client processes (edge boxes)")
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.12)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right" if ax is c else "best")
    a.set_ylabel("crops/s (all clients)")
    a.set_title("Throughput (labels: Triton's CPU, cores)", fontsize=10)
    b.set_ylabel("latency per request, ms")
    b.set_title("Latency (closed loop)", fontsize=10)
    c.set_ylabel("crops per Triton CPU second")
    c.set_title("Efficiency (dynamic batching)", fontsize=10)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=parse_clients, default=[1, 2, 4, 8], help="e.g. 1,2,4,8")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window per point")
    ap.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds before each window")
    ap.add_argument("--format", choices=["jpeg", "raw", "both"], default="jpeg", help="hybrid crop format")
    ap.add_argument("--crops", type=int, default=2, help="faces (crops) per request, 1-8")
    ap.add_argument("--frames", type=int, default=5, help="distinct frames each client cycles through")
    ap.add_argument("--endpoint", help="a Triton already running (default: start one here)")
    ap.add_argument("--token", help="bearer token for a gateway in front of --endpoint")
    ap.add_argument("--ca-cert", help="CA certificate of the gateway's TLS certificate")
    ap.add_argument("--insecure-http", action="store_true", help="plain http to a host other than this one")
    ap.add_argument(
        "--fallback-after",
        type=float,
        default=30.0,
        help="the clients' fallback_after_s (default 30: measure the server, not the cameras' patience; "
        "Triton still rejects a request queued past the repository's 2 s default timeout)",
    )
    ap.add_argument("--csv", type=Path)
    ap.add_argument("--png", type=Path)
    ap.add_argument(
        "--replot", type=Path, metavar="CSV", help="only redraw --png from a CSV of an earlier run"
    )
    args = ap.parse_args(argv)
    if args.replot:
        if not args.png:
            ap.error("--replot needs --png")
        from benchmarks.common import machine

        write_png(
            read_csv(args.replot),
            args.png,
            f"FaceGate hybrid clients vs one tritonserver (CPU) - {machine()}",
        )
        print(f"wrote {args.png}")
        return 0
    if not 0 < args.seconds <= 600 or not 0 <= args.warmup <= 120 or not 1 <= args.crops <= 8:
        ap.error("--seconds 0-600, --warmup 0-120, --crops 1-8")
    from benchmarks.common import machine

    formats = ["jpeg", "raw"] if args.format == "both" else [args.format]
    frames = make_frames(max(1, args.frames), args.crops)
    work = Path(tempfile.mkdtemp(prefix="facegate-triton-bench-"))
    proc = None
    try:
        if args.endpoint:
            url = args.endpoint.rstrip("/")
        else:
            t0 = time.perf_counter()
            proc, url = start_triton(work, work / "tritonserver.log")
            print(f"tritonserver ready on {url} in {time.perf_counter() - t0:.0f} s (log {work})", flush=True)
        where = "started here, sharing the cores with the clients" if proc else "given"
        print(f"machine: {machine()}; load {os.getloadavg()[0]:.2f}; Triton {url} ({where})")
        print(
            f"each client: a process running FaceGate's hybrid pipeline, {args.crops} crops per request, "
            f"closed loop; {args.warmup:g} s warm-up + {args.seconds:g} s measured per point; "
            "allow_unauthenticated (Triton does not sign answers)"
        )
        head = (
            f"{'format':>6} {'clients':>7} {'crops/s':>8} {'req/s':>6} {'p50':>7} {'p90':>7} {'p99':>7} "
            f"{'batch':>6} {'req/b':>5} {'err':>4} {'vs 1':>5} {'cpu%':>5} {'srv':>4} {'cli':>4} {'c/cpu':>5} {'load':>5}"
        )
        print(head, flush=True)
        rows = []
        for fmt in formats:
            for n in args.clients:
                link = Link(url, fmt, args.fallback_after, args.token, args.ca_cert, args.insecure_http)
                r = run_point(link, n, frames, args.seconds, args.warmup, proc.pid if proc else None)
                rows.append(r)
                add_ratios(rows)
                print(
                    f"{fmt:>6} {n:>7} {r['crops_per_s']:>8.1f} {r['requests_per_s']:>6.1f} {r['p50_ms']:>7.1f} "
                    f"{r['p90_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['mean_batch_crops']:>6.1f} "
                    f"{r['requests_per_batch']:>5.1f} {r['errors']:>4} {r['vs_1_client']:>5.2f} "
                    f"{r['cpu_busy_pct']:>5.0f} {r['server_cpu']:>4.2f} {r['clients_cpu']:>4.2f} {r['crops_per_server_cpu_s']:>5.1f} {r['load1']:>5.2f}",
                    flush=True,
                )
                for why in r["reasons"][:3]:
                    print(f"        error: {why}", flush=True)
        print(
            "latency: ms per request (align + encode + round trip); batch: crops per Triton model execution; "
            "req/b: requests merged per execution; cpu%: machine busy; srv, cli: CPU s/s of Triton (with "
            "its stubs) and of all clients; c/cpu: crops per Triton CPU second; load: 1-min load average at the end of the window"
        )
        if args.csv:
            write_csv(rows, args.csv)
            print(f"wrote {args.csv}")
        if args.png:
            write_png(rows, args.png, f"FaceGate hybrid clients vs one tritonserver (CPU) - {machine()}")
            print(f"wrote {args.png}")
        return 1 if any(r["errors"] for r in rows) else 0
    finally:
        if proc is not None:
            from core.deploy.triton import stop_tritonserver

            stop_tritonserver(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
