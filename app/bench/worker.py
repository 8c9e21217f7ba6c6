"""A bench worker process (``python -m app.bench SPEC.json``): builds one group's pipeline, runs each of
its runs on the same frames and reports progress and results to the parent as JSON lines on stdout."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from app.bench.analysis import max_of, mean_of
from app.bench.baselines import DlibDetector, DlibRecognizer, PackageMTCNN, RGBCache, dlib_gallery
from app.bench.constants import FACE_COLUMNS, FR_TOLERANCE, REMOTE_TIMEOUT_S, SAMPLER_HZ
from app.bench.frames import iter_frames
from app.bench.process import LocalEndpoint, emit, worker_protocol
from core.deploy.signals import sigterm_as_keyboard_interrupt

log = logging.getLogger(__name__)


class _Worker:
    """Runs one :class:`Group` (spec from the parent) and reports on ``proto``."""

    def __init__(self, spec: dict[str, Any], proto: Any) -> None:
        self.spec = spec
        self.proto = proto
        self.group = spec["group"]
        self.out = Path(spec["out"])
        self.endpoint: LocalEndpoint | None = None
        self.endpoint_error: str | None = None
        self.remotes: dict[str, Any] = {}

    def emit(self, **msg: Any) -> None:
        emit(self.proto, **msg)

    # ---------------------------------------------------------------- building
    def _store(self) -> Any:
        from db.store import Store

        return Store(self.spec["db"])

    def build(self) -> Any:
        """The local pipeline of this group, warmed up."""
        from app.session import local_pipeline, video_detector
        from core.pipeline import Pipeline

        g = self.group
        if g["kind"] == "baseline" and g["baseline"] == "face_recognition":
            rgb = RGBCache()
            dlib_det, dlib_rec = DlibDetector(rgb), DlibRecognizer(rgb)
            dlib_det.warmup()
            dlib = dlib_gallery(self._store(), dlib_det, dlib_rec)
            return Pipeline(dlib_det, dlib_rec, dlib, threshold=FR_TOLERANCE)  # type: ignore[arg-type]
        from core.registry import create_recognizer

        rec = create_recognizer(g["recognizer"])
        det: Any
        if g["kind"] == "baseline":
            det = PackageMTCNN(RGBCache())
        else:
            det = video_detector(g["detector"])
        det.warmup()
        rec.warmup()
        return local_pipeline(det, rec, self._store(), rec.default_threshold)

    def remote(self, mode: str, local: Any) -> Any:
        """The cloud/hybrid pipeline around ``local`` (one per mode, kept: its connection stays warm)."""
        if mode not in self.remotes:
            self.remotes[mode] = self._connect(mode, local)
        return self.remotes[mode]

    def _connect(self, mode: str, local: Any) -> Any:
        from core.deploy.client import remote_pipeline
        from core.errors import FaceGateError

        endpoint, token = self.spec.get("endpoint"), self.spec.get("token")
        if not endpoint:
            if self.endpoint_error:
                raise FaceGateError(self.endpoint_error)
            if self.endpoint is None:
                log_path = self.out / "logs" / f"{self.group['name']}.endpoint.log"
                self.endpoint = LocalEndpoint(self.group["detector"], self.group["recognizer"], log_path)
                try:
                    self.endpoint.wait_ready()
                except FaceGateError as err:
                    self.endpoint_error = str(err)
                    raise
            endpoint, token = self.endpoint.url, self.endpoint.token
        # a slow answer must not turn into a local frame: the bench measures the remote path
        # a slow answer must not turn into a local frame: the bench measures the remote path
        return remote_pipeline(mode, local, endpoint=endpoint, token=token, fallback_after_s=REMOTE_TIMEOUT_S)

    # ---------------------------------------------------------------- running
    def main(self) -> None:
        from core.errors import FaceGateError
        from core.recording import FRAME_COLUMNS, CSVSink
        from core.telemetry import Sampler

        t0 = time.perf_counter()
        try:
            local = self.build()
        except (FaceGateError, ImportError, OSError, RuntimeError, ValueError) as err:
            for run in self.group["runs"]:
                self.emit(
                    type="fail",
                    run=run["run"],
                    reason=f"{type(err).__name__}: {err}",
                    frames=len(self.spec["indices"]) + self.spec["warmup"],
                )
            return
        self.emit(type="built", seconds=round(time.perf_counter() - t0, 2))
        sampler = Sampler(rate_hz=SAMPLER_HZ).start()
        self.emit(type="telemetry", probes=[s.to_json() for s in sampler.status()])
        frames_sink = CSVSink(self.out / "frames.csv", ["run", *FRAME_COLUMNS], append=True).open()
        faces_sink = CSVSink(self.out / "faces.csv", FACE_COLUMNS, append=True).open()
        try:
            warmed: set[tuple[int, str]] = set()
            for run in self.group["runs"]:
                try:
                    pipe = local if run["mode"] == "local" else self.remote(run["mode"], local)
                    if (run["resolution"], run["mode"]) not in warmed:
                        self.warm(pipe, run)
                        warmed.add((run["resolution"], run["mode"]))
                    else:
                        self.emit(type="progress", n=self.spec["warmup"])
                    self.emit(type="run", **self.measure(pipe, run, sampler, frames_sink, faces_sink))
                except (FaceGateError, ImportError, OSError, RuntimeError, ValueError) as err:
                    log.exception("run %s failed", run["run"])
                    self.emit(type="fail", run=run["run"], reason=f"{type(err).__name__}: {err}", frames=0)
        finally:
            frames_sink.close()
            faces_sink.close()
            sampler.close()
            for pipe in self.remotes.values():
                if hasattr(pipe, "close"):
                    pipe.close()
            if self.endpoint is not None:
                self.endpoint.close()

    def warm(self, pipe: Any, run: dict[str, Any]) -> None:
        """Process the first warm-up frames at this resolution and mode; nothing is recorded."""
        from core.engine import Engine

        engine = Engine(pipe, store=None, mode=run["mode"], track=False, record=False)
        n = 0
        for _, _, img, _ in iter_frames(
            self.spec["videos"], self.spec["indices"][: self.spec["warmup"]], run["resolution"]
        ):
            engine.process(img)
            n += 1
            self.emit(type="progress", n=1)
        engine.close()
        if n < self.spec["warmup"]:
            self.emit(type="progress", n=self.spec["warmup"] - n)

    def measure(
        self,
        pipe: Any,
        run: dict[str, Any],
        sampler: Any,
        frames_sink: Any,
        faces_sink: Any,
    ) -> dict[str, Any]:
        from core.engine import Engine
        from core.recording import frame_row

        engine = Engine(pipe, store=None, source_name="", mode=run["mode"], track=False, record=False)
        rows: list[dict[str, Any]] = []
        proc_s = 0.0
        fallback = 0
        size = (0, 0)
        started = time.time()
        s0 = sampler.sample_once()
        for index, source, img, capture_ms in iter_frames(
            self.spec["videos"], self.spec["indices"], run["resolution"]
        ):
            t = time.perf_counter()
            result = engine.process(img, index=index, capture_ms=capture_ms)
            proc_s += time.perf_counter() - t
            size = (result.width, result.height)
            if result.mode != run["mode"]:
                fallback += 1
            row = frame_row(self.spec["session"], result, source, engine.fps.fps(), 0, sampler.latest())
            row["run"] = run["run"]
            if run["role"] == "baseline":  # name what really ran, not the registry's key
                row["detector"], row["recognizer"] = self.group["detector"], self.group["recognizer"]
            frames_sink.write(row)
            for k, f in enumerate(result.faces):
                faces_sink.write(_face_row(run["run"], index, k, f))
            rows.append(
                {
                    **result.timings_ms,
                    "faces": len(result.faces),
                    "frame": index,
                    "bytes_up": result.bytes_up,
                    "bytes_down": result.bytes_down,
                }
            )
            self.emit(type="progress", n=1)
        s1 = sampler.sample_once()
        engine.close()
        history = [s for s in sampler.history(since=s0.t) if s.t <= s1.t]
        n = len(rows)
        energy = sampler.energy_j(s0.t, s1.t) if n else None
        span = s1.t - s0.t
        return {
            **run,
            "width": size[0],
            "height": size[1],
            "frames": n,
            "time_s": proc_s,
            "fps": n / proc_s if proc_s > 0 else None,
            **_frame_means(rows),
            "rss_mb": max_of([s.rss_mb for s in history]),
            "endpoint_rss_mb": self.endpoint.rss_mb() if run["mode"] != "local" and self.endpoint else None,
            "gpu_mem_mb": max_of([s.gpu_mem_mb for s in history]),
            "cpu_percent": mean_of([s.cpu_percent for s in history]),
            "energy_j": energy,
            "power_w": energy / span if energy is not None and span > 0 else None,
            "energy_j_per_frame": energy / n if energy is not None and n else None,
            **_bytes_sent(rows),
            "fallback_frames": fallback,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "frame_indices": [r["frame"] for r in rows],
        }


def _face_row(run: str, index: int, k: int, face: Any) -> dict[str, Any]:
    """A ``faces.csv`` row: face ``k`` of frame ``index`` (box in px, rounded to 0.1)."""
    x1, y1, x2, y2 = (round(float(v), 1) for v in face.box[:4])
    return {
        "run": run,
        "frame": index,
        "face": k,
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
        "score": round(float(face.score), 4),
        "identity": face.identity or "",
        "distance": ""
        if face.distance is None or not math.isfinite(face.distance)
        else round(float(face.distance), 4),
    }


def _frame_means(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-frame stage times (ms) and face counts of one run, averaged over its frames."""
    embed = mean_of([r.get("embed_ms") for r in rows])
    match = mean_of([r.get("match_ms") for r in rows])
    return {
        "detect_ms": mean_of([r.get("detect_ms") for r in rows]),
        "embed_ms": embed,
        "match_ms": match,
        "recognize_ms": None if embed is None else embed + (match or 0.0),
        "network_ms": mean_of([r.get("network_ms") for r in rows]),
        "total_ms": mean_of([r.get("total_ms") for r in rows]),
        "capture_ms": mean_of([r.get("capture_ms") for r in rows]),
        "faces_total": sum(r["faces"] for r in rows),
        "faces": mean_of([r["faces"] for r in rows]),
    }


def _bytes_sent(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Bytes up and down over the run (None for local frames, which send nothing)."""
    up = [r["bytes_up"] for r in rows if r.get("bytes_up") is not None]
    down = [r["bytes_down"] for r in rows if r.get("bytes_down") is not None]
    return {"bytes_up": sum(up) if up else None, "bytes_down": sum(down) if down else None}


def worker_main(spec_path: str) -> int:
    """Entry of a worker process: ``python -m app.bench SPEC.json``."""
    # the protocol owns the real stdout; anything a library prints goes to stderr (the worker's log)
    proto = worker_protocol()
    spec = json.loads(Path(spec_path).read_text())
    try:
        with sigterm_as_keyboard_interrupt():  # the parent's terminate(): unwind, close the endpoint
            _Worker(spec, proto).main()
    except KeyboardInterrupt:
        log.info("worker stopped")
        return 130
    except Exception as err:  # noqa: BLE001 - report anything to the parent as the group's failure
        log.exception("worker failed")
        emit(proto, type="crash", reason=f"{type(err).__name__}: {err}")
        return 1
    return 0
