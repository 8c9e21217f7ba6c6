"""Deployment modes against real endpoint processes on 127.0.0.1 (``main.py serve``), with real faces.

Cloud and hybrid agree with local on a real-face video; hybrid uploads far fewer bytes than cloud;
the bearer token, TLS with a self-signed certificate, malformed and oversized requests, a hung and a
killed server (fallback to local and back, every frame recorded), and switching mode mid-video.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "test-token-0123456789"
HLEN = "Inference-Header-Content-Length"


# ------------------------------------------------------------------------------ endpoint processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Endpoint:
    """``main.py serve`` in a subprocess; ``url`` once it printed its ``serving ... on URL`` line."""

    def __init__(
        self,
        *args: str,
        port: int = 0,
        token: str | None = TOKEN,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
        command: list[str] | None = None,
        ready: str = r"serving .* on (https?://\S+)",
    ) -> None:
        cmd = command or [sys.executable, str(ROOT / "main.py"), "serve", "--port", str(port)]
        if token and command is None:
            cmd += ["--token", token]
        cmd += list(args)
        self.token = token
        self.log = (log_dir or Path("/tmp")) / f"endpoint-{os.getpid()}-{time.monotonic_ns()}.log"
        self._err = open(self.log, "w")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.url = self._wait(re.compile(ready))
        self.port = int(self.url.rsplit(":", 1)[1])

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _wait(self, pattern: re.Pattern[str], timeout: float = 180.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"endpoint exited with {self.proc.returncode}: {self.stderr()[-2000:]}"
                    ) from None
                continue
            m = pattern.search(line)
            if m:
                return m.group(1)
        raise AssertionError(f"endpoint not ready in {timeout:.0f} s: {self.stderr()[-2000:]}")

    def stderr(self) -> str:
        self._err.flush()
        return self.log.read_text()

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._err.close()
        return self.log.read_text()


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def door(tmp_path_factory, celeb_train, celeb_val):
    """The door scene (tests/conftest.py:make_door): two enrolled people (one denied) and a 720p video."""
    from tests.conftest import make_door

    db, video, _ = make_door(tmp_path_factory.mktemp("deploy"), celeb_train, celeb_val)
    return db, video


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """One plain-HTTP endpoint with a token and small limits, shared by the module's tests."""
    env = {
        "FACEGATE_SERVE_MAX_BODY_MB": "1",
        "FACEGATE_SERVE_MAX_PIXELS": "1000000",
        "FACEGATE_SERVE_MAX_CROPS": "4",
        "FACEGATE_SERVE_READ_TIMEOUT_S": "1.5",
    }
    ep = Endpoint(env=env, log_dir=tmp_path_factory.mktemp("endpoint"))
    yield ep
    err = ep.stop()
    assert "Traceback" not in err, err


@pytest.fixture(scope="module")
def store(door):
    from db.store import Store

    return Store(door[0])


@pytest.fixture(scope="module")
def local_pipeline(store, detector, recognizer):
    from core.pipeline import Pipeline

    return Pipeline(detector, recognizer, store.gallery(recognizer.model, recognizer.default_threshold))


@pytest.fixture(scope="module")
def frames(door) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(door[1]))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    assert len(out) == 105
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _run(run_cli, db: Path, video: Path, out: Path, mode: str, *extra: str) -> dict[str, Any]:
    frames_csv, events_csv = out / f"{mode}.csv", out / f"{mode}-events.csv"
    t0 = time.perf_counter()
    code, stdout, err = run_cli(
        "run",
        "--source",
        video,
        "--db",
        db,
        "--export",
        frames_csv,
        "--events",
        events_csv,
        "--quiet",
        "--mode",
        mode,
        *extra,
    )
    wall = time.perf_counter() - t0
    assert code == 0, err
    fps = float(re.search(r"\(([\d.]+) FPS\)", stdout).group(1))
    events = sorted((e["identity"], e["decision"]) for e in _rows(events_csv))
    seen = sorted(re.findall(r"^saw (\S+) ", stdout, re.M))
    return {
        "rows": _rows(frames_csv),
        "events": events,
        "seen": seen,
        "fps": fps,
        "wall_s": wall,
        "out": stdout,
    }


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


# ------------------------------------------------------------------------------ modes


def test_cloud_and_hybrid_identify_like_local_and_hybrid_uploads_far_less(door, endpoint, run_cli, tmp_path):
    db, video = door
    remote = ("--endpoint", endpoint.url, "--token", TOKEN, "--fallback-after", "20")
    runs = {"local": _run(run_cli, db, video, tmp_path, "local")}
    runs["cloud"] = _run(run_cli, db, video, tmp_path, "cloud", *remote)
    runs["hybrid"] = _run(run_cli, db, video, tmp_path, "hybrid", *remote)
    expected = [("", "unknown"), ("ben_afflek", "granted"), ("elton_john", "denied")]
    for mode, r in runs.items():
        assert [int(x["frame"]) for x in r["rows"]] == list(range(105)), mode
        assert {x["mode"] for x in r["rows"]} == {mode}, (mode, {x["mode"] for x in r["rows"]})
        assert r["seen"] == ["ben_afflek", "elton_john"], (mode, r["out"])
        # the same people with the same decisions, one event each
        assert [e for e in r["events"] if e[0]] == expected[1:], (mode, r["events"])
    # hybrid detects locally and embeds the same crops (as JPEG) with the same network: the same events
    # and faces; its answers come back on later frames, so a name shows up a few frames after local's
    assert runs["hybrid"]["events"] == runs["local"]["events"] == expected
    assert [x["faces"] for x in runs["hybrid"]["rows"]] == [x["faces"] for x in runs["local"]["rows"]]
    later = [
        k
        for k, (h, lo) in enumerate(zip(runs["hybrid"]["rows"], runs["local"]["rows"], strict=True))
        if h["known"] != lo["known"]
    ]
    # never a name local does not show; a few frames late: the first crops leave together on a track's
    # third clear frame and come back some frames later (frames run back to back here, ~30 ms each,
    # while the endpoint embeds on the same 2 cores)
    assert all(
        int(runs["hybrid"]["rows"][k]["known"]) < int(runs["local"]["rows"][k]["known"]) for k in later
    )
    assert len(later) <= 35, later
    # cloud detects on the JPEG: MTCNN's boxes and scores move a little and it may add a weak, short-lived
    # false positive (a two-frame stranger track: an extra "unknown" event), the study's "face counts change"
    same = sum(
        a["faces"] == b["faces"] and a["known"] == b["known"]
        for a, b in zip(runs["local"]["rows"], runs["cloud"]["rows"], strict=True)
    )
    assert same >= 75, same
    assert runs["cloud"]["events"].count(("", "unknown")) in (1, 2), runs["cloud"]["events"]
    up = {m: sum(int(x["bytes_up"]) for x in runs[m]["rows"]) for m in ("cloud", "hybrid")}
    down = {m: sum(int(x["bytes_down"]) for x in runs[m]["rows"]) for m in ("cloud", "hybrid")}
    assert all(int(x["bytes_up"]) > 10_000 for x in runs["cloud"]["rows"])  # every frame goes up as JPEG
    assert runs["local"]["rows"][0]["bytes_up"] == "" and runs["local"]["rows"][0]["network_ms"] == ""
    ratio = up["cloud"] / up["hybrid"]
    assert ratio >= 20, (up, ratio)
    net = {
        m: _mean([float(x["network_ms"]) for x in runs[m]["rows"] if x["network_ms"]])
        for m in ("cloud", "hybrid")
    }
    sent = sum(1 for x in runs["hybrid"]["rows"] if int(x["bytes_up"]) > 0)
    print(f"\nhybrid shows a name later than local on {len(later)} of 105 frames")
    print(f"\ncloud agrees with local on faces/known in {same} of 105 frames")
    print(
        f"bytes per frame up/down: cloud {up['cloud'] / 105:.0f}/{down['cloud'] / 105:.0f}, hybrid "
        f"{up['hybrid'] / 105:.0f}/{down['hybrid'] / 105:.0f} (crops sent on {sent} of 105 frames); "
        f"cloud/hybrid upload ratio {ratio:.1f}x"
    )
    print(
        f"network_ms per request: cloud {net['cloud']:.1f}, hybrid {net['hybrid']:.1f}; FPS: "
        + ", ".join(f"{m} {r['fps']:.1f}" for m, r in runs.items())
    )


def test_hybrid_jpeg_crops_upload_a_tenth_of_raw_and_identify_alike(
    door, endpoint, store, local_pipeline, frames, tmp_path
):
    """JPEG crops (the default, ``<model>_crops_jpeg``) against raw ones (``crop_format="raw"``, still an
    option): the same people and decisions, embeddings within cosine 0.99, ~10x fewer bytes."""
    from core.deploy.client import remote_pipeline
    from core.engine import Engine

    results = {}
    for fmt in ("raw", "jpeg"):
        pipe = remote_pipeline(
            "hybrid", local_pipeline, endpoint=endpoint.url, token=TOKEN, fallback_after_s=20, crop_format=fmt
        )
        engine = Engine(pipe, store=store, record=False, frames_csv=tmp_path / f"{fmt}.csv")
        for i, frame in enumerate(frames):
            engine.process(frame, i)
        stats = engine.close()
        pipe.close()
        rows = _rows(tmp_path / f"{fmt}.csv")
        assert {r["mode"] for r in rows} == {"hybrid"}
        events = sorted((e.identity or "", e.decision) for e in stats.events)
        results[fmt] = (events, sum(int(r["bytes_up"]) for r in rows))
    assert (
        results["jpeg"][0]
        == results["raw"][0]
        == [("", "unknown"), ("ben_afflek", "granted"), ("elton_john", "denied")]
    )
    ratio = results["raw"][1] / results["jpeg"][1]
    assert ratio >= 5, results
    # the same crops embedded on the endpoint from raw and from JPEG (quality 90) tensors
    frame = frames[40]
    faces = local_pipeline.detect(frame)
    assert len(faces) == 2
    emb = {}
    for fmt in ("raw", "jpeg"):
        pipe = remote_pipeline(
            "hybrid", local_pipeline, endpoint=endpoint.url, token=TOKEN, fallback_after_s=20, crop_format=fmt
        )
        pipe.detect(frame)  # starts the frame's stats
        emb[fmt] = pipe.embed(frame, faces).copy()
        assert pipe.frame_stats()["mode"] == "hybrid"
        pipe.close()
    cosine = np.sum(emb["raw"] * emb["jpeg"], axis=1)
    assert np.all(cosine >= 0.99), cosine
    print(
        f"\nhybrid upload: raw crops {results['raw'][1] / 105:.0f} B/frame, JPEG crops "
        f"{results['jpeg'][1] / 105:.0f} B/frame ({ratio:.1f}x fewer); embedding cosine raw/JPEG "
        f"{', '.join(f'{c:.4f}' for c in cosine)}"
    )


def test_switching_mode_between_frames(door, endpoint, store, local_pipeline, frames, tmp_path):
    """local -> cloud -> hybrid -> local while the video runs: one engine, one CSV, one event per person."""
    from core.deploy.client import remote_pipeline
    from core.engine import Engine

    def build(mode: str) -> Any:
        return remote_pipeline(mode, local_pipeline, endpoint=endpoint.url, token=TOKEN, fallback_after_s=20)

    plan = {0: "local", 25: "cloud", 50: "hybrid", 80: "local"}
    csv_path = tmp_path / "switch.csv"
    engine = Engine(local_pipeline, store=store, record=False, frames_csv=csv_path)
    for i, frame in enumerate(frames):
        if i in plan and i:
            engine.swap(build(plan[i]))
        engine.process(frame, i)
    stats = engine.close()
    modes = [r["mode"] for r in _rows(csv_path)]
    assert modes == ["local"] * 25 + ["cloud"] * 25 + ["hybrid"] * 30 + ["local"] * 25
    got = sorted((e.identity or "", e.decision) for e in stats.events)
    assert got == [("", "unknown"), ("ben_afflek", "granted"), ("elton_john", "denied")], got


# ------------------------------------------------------------------------------ the uplink: JPEG crops, pending tracks


@pytest.fixture(scope="module")
def lobby(tmp_path_factory, celeb_train, celeb_val):
    """ben_afflek, jerry_seinfeld (allowed) and elton_john (denied) enrolled from their train photos; the
    480p lobby scene (people coming and going in front of a textured wall) and the 720p door scene
    (hand-overs, a face entering half out of frame, two people crossing), both from val photos."""
    from app.cli import main
    from db.store import Store
    from tests.scenes import door_scene, lobby_scene

    db = tmp_path_factory.mktemp("lobby") / "lobby.db"
    for name, policy in (("ben_afflek", "allowed"), ("jerry_seinfeld", "allowed"), ("elton_john", "denied")):
        assert main(["--db", str(db), "enroll", name, "--policy", policy, *map(str, celeb_train[name])]) == 0
    return Store(db), lobby_scene(celeb_val), door_scene(celeb_val)


def _session(pipe: Any, store: Any, frames: list[np.ndarray]) -> dict[str, Any]:
    """Run ``frames`` through an engine on ``pipe``: events, bytes, modes, names shown per frame."""
    from core.engine import Engine

    engine = Engine(pipe, store=store, record=False)
    up, modes, shown, at = 0, set(), [], []
    for k, frame in enumerate(frames):
        result = engine.process(frame, k, 1_000_000.0 + k / 15)
        at += [k] * len(result.events)  # the frame each decision is made on (its evidence may be older)
        modes.add(result.mode)
        shown.append({f.identity for f in result.faces} - {None})
        if hasattr(pipe, "frame_stats"):
            up += pipe.frame_stats()["bytes_up"] or 0
    stats = engine.close()
    events = [(e.identity or "", e.decision, e.reason, e.kind) for e in stats.events]
    return {
        "events": events,
        "up": up,
        "modes": modes,
        "shown": shown,
        "at": at,
    }


def test_hybrid_defaults_upload_20x_less_than_cloud_with_local_decisions(
    endpoint, lobby, detector, recognizer
):
    """Issue 12's scene: 480p, a textured wall, four people coming and going (real photos). Hybrid with its
    defaults (JPEG crops, routine questions in the background, pending tracks not asked again) uploads
    at least 20x fewer bytes than cloud and makes local's decisions, each a few frames after local's."""
    from core.deploy.client import remote_pipeline
    from core.pipeline import Pipeline

    store, scene, _ = lobby
    local = Pipeline(detector, recognizer, store.gallery(recognizer.model, recognizer.default_threshold))
    runs = {"local": _session(local, store, scene.frames)}
    for mode in ("cloud", "hybrid"):
        pipe = remote_pipeline(mode, local, endpoint=endpoint.url, token=TOKEN, fallback_after_s=20)
        runs[mode] = _session(pipe, store, scene.frames)
        pipe.close()
        assert runs[mode]["modes"] == {mode}, runs[mode]["modes"]
    expected = [
        ("ben_afflek", "granted", "matched", "decision"),
        ("elton_john", "denied", "policy", "decision"),
        ("", "unknown", "no-match", "decision"),
        ("jerry_seinfeld", "granted", "matched", "decision"),
    ]
    assert runs["local"]["events"] == expected, runs["local"]["events"]
    assert runs["hybrid"]["events"] == expected, runs["hybrid"]["events"]
    assert [e for e in runs["cloud"]["events"] if e[0]] == [e for e in expected if e[0]], runs["cloud"][
        "events"
    ]
    # each decision waits for its answers: some frames after local's (frames run back to back here), never
    # before, and never long after (at most 15 frames, 1 s at 15 FPS)
    lags = [h - lo for h, lo in zip(runs["hybrid"]["at"], runs["local"]["at"], strict=True)]
    assert all(0 <= d <= 15 for d in lags), lags
    # nobody is shown as someone who is not in view
    for k, names in enumerate(runs["hybrid"]["shown"]):
        present = {n for _, n, a, b in scene.appearances if a <= k <= b}
        assert names <= present, (k, names, present)
    ratio = runs["cloud"]["up"] / runs["hybrid"]["up"]
    assert ratio >= 20, (runs["cloud"]["up"], runs["hybrid"]["up"], ratio)
    n = len(scene.frames)
    print(
        f"\nlobby 480p: bytes up per frame cloud {runs['cloud']['up'] / n:.0f}, hybrid "
        f"{runs['hybrid']['up'] / n:.0f} ({ratio:.0f}x fewer); decisions {lags} frames after local's"
    )


def test_hybrid_defaults_decide_like_local_on_the_door_scenes(endpoint, lobby, detector, recognizer):
    """Hand-overs at one spot (with and without a gap), a face entering half out of frame, two people
    crossing: hybrid's defaults (JPEG crops, answers on later frames) give local's very events."""
    from core.deploy.client import remote_pipeline
    from core.pipeline import Pipeline

    store, _, scene = lobby
    local = Pipeline(detector, recognizer, store.gallery(recognizer.model, recognizer.default_threshold))
    want = _session(local, store, scene.frames)
    pipe = remote_pipeline("hybrid", local, endpoint=endpoint.url, token=TOKEN, fallback_after_s=20)
    got = _session(pipe, store, scene.frames)
    pipe.close()
    assert got["modes"] == {"hybrid"}
    assert got["events"] == want["events"], (got["events"], want["events"])
    for k, names in enumerate(got["shown"]):
        present = {n for _, n, a, b in scene.appearances if a <= k <= b}
        assert names <= present, (k, names, present)


def _gated(pipe: Any) -> tuple[threading.Event, list[str]]:
    """Hold the pipeline's background requests until the returned event is set; list every request's thread."""
    gate, calls = threading.Event(), []
    infer = pipe.link.infer

    def held(*args: Any, **kwargs: Any) -> Any:
        background = threading.current_thread().name.startswith("hybrid-embed")
        calls.append("background" if background else "in-frame")
        if background:
            gate.wait(30)
        return infer(*args, **kwargs)

    pipe.link.infer = held
    return gate, calls


def _settle(pipe: Any, seconds: float = 10.0) -> None:
    """Wait until the pipeline's background requests have finished (their answers are recorded on the
    next frame)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(r.future.done() for q in pipe._questions.values() for r in q.requests):
            return
        time.sleep(0.02)
    raise AssertionError("background requests still running")


def test_a_pending_track_is_not_asked_again_and_its_answers_land_on_a_later_frame(
    endpoint, lobby, detector, recognizer, celeb_val, monkeypatch
):
    """A new track's first 3 clear crops leave together in one background request; while it is on its
    way the track is pending (shown undecided, not asked again, nothing sent); the answers are recorded
    on a later frame and decide it."""
    from core.deploy.client import remote_pipeline
    from core.engine import Engine
    from core.pipeline import Pipeline
    from tests.scenes import paste, portrait, textured_background

    store = lobby[0]
    local = Pipeline(detector, recognizer, store.gallery(recognizer.model, recognizer.default_threshold))
    pipe = remote_pipeline("hybrid", local, endpoint=endpoint.url, token=TOKEN, fallback_after_s=20)
    gate, calls = _gated(pipe)
    ben = portrait(celeb_val["ben_afflek"][0], 190)
    bg = textured_background()
    frames = []
    for k in range(10):
        f = bg.copy()
        paste(f, ben, 200 + k % 2, 140)
        frames.append(f)
    thumbnails = []
    add_event = store.add_event

    def spy(*args: Any, **kwargs: Any) -> Any:
        thumbnails.append(kwargs.get("thumbnail"))
        return add_event(*args, **kwargs)

    monkeypatch.setattr(store, "add_event", spy)
    engine = Engine(pipe, store=store)  # a recorded session: the event is stored with its face's thumbnail
    try:
        tid = None
        for k in range(3):  # its first clear crops are gathered, then sent together
            r = engine.process(frames[k], k)
            assert [f.tracking.recognition_reason for f in r.faces] == ["new"]
            tid = tid or r.faces[0].track_id
            assert r.faces[0].track_id == tid and r.recognized == 0
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert calls == ["background"], calls
        for k in range(3, 7):  # its answers are held up: the track is pending and nothing is sent again
            r = engine.process(frames[k], k)
            face = r.faces[0]
            assert face.track_id == tid and face.tracking.pending and face.identity is None
            assert face.tracking.needs_recognition and r.recognized == 0 and not r.events
            assert pipe.frame_stats()["bytes_up"] == 0 and pipe.frame_stats()["requests"] == 0
        assert calls == ["background"], calls
        track = next(t for t in engine.tracker.tracks if t.track_id == tid)
        assert track.total_observations == 0
        gate.set()
        _settle(pipe)
        r = engine.process(frames[7], 7)  # the three answers are recorded: decided on this frame
        assert (
            r.recognized == 3 and pipe.frame_stats()["requests"] == 1 and pipe.frame_stats()["bytes_up"] > 0
        )
        assert [(e.track_id, e.identity, e.decision) for e in r.events] == [(tid, "ben_afflek", "granted")]
        assert len(thumbnails) == 1 and thumbnails[0] and thumbnails[0][:2] == b"\xff\xd8"  # a JPEG
        r = engine.process(frames[8], 8)
        assert r.faces[0].identity == "ben_afflek" and not r.faces[0].tracking.needs_recognition
        assert calls == ["background"], calls
    finally:
        gate.set()
        engine.close()
        pipe.close()


def test_an_answer_for_a_track_doubted_meanwhile_is_dropped(endpoint, lobby, detector, recognizer, celeb_val):
    """ben's crop is on its way when mindy (a stranger) takes his place in the box: the tracker doubts the
    box, mindy is recognised within her frame, and ben's late answer is not recorded on her track."""
    from core.deploy.client import remote_pipeline
    from core.engine import Engine
    from core.pipeline import Pipeline
    from tests.scenes import paste, portrait, textured_background

    store = lobby[0]
    local = Pipeline(detector, recognizer, store.gallery(recognizer.model, recognizer.default_threshold))
    pipe = remote_pipeline("hybrid", local, endpoint=endpoint.url, token=TOKEN, fallback_after_s=20)
    gate, calls = _gated(pipe)
    ben = portrait(celeb_val["ben_afflek"][0], 190)
    mindy = portrait(celeb_val["mindy_kaling"][0], 190)
    bg = textured_background()
    frames = []
    for tile, x in ((ben, 200), (ben, 201), (ben, 200), (mindy, 200), (mindy, 201), (mindy, 200)):
        f = bg.copy()
        paste(f, tile, x, 140)
        frames.append(f)
    engine = Engine(pipe, store=store, record=False)
    try:
        for k in range(3):  # ben's first crops leave together; their answer is held up
            r = engine.process(frames[k], k)
        tid = r.faces[0].track_id
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert calls == ["background"], calls
        r = engine.process(frames[3], 3)  # mindy in ben's box: the tracker doubts it; asked within the frame
        assert len(r.faces) == 1 and r.faces[0].track_id == tid and r.faces[0].tracking.doubt, r.faces[
            0
        ].tracking
        assert r.recognized == 1 and calls == ["background", "in-frame"], calls
        gate.set()
        _settle(pipe)
        for k in (4, 5):
            r = engine.process(frames[k], k)
            assert r.recognized <= 1  # mindy's own questions, not ben's late answers
        # ben's answers came back and were dropped: no observation of ben on the track that follows mindy
        tracks = engine.tracker.tracks
        assert len(tracks) == 1 and tracks[0].total_observations >= 1
        assert all(o.identity != "ben_afflek" for o in tracks[0].observations), tracks[0].observations
        assert tracks[0].identity is None
    finally:
        gate.set()
        stats = engine.close()
        pipe.close()
    assert all(e.identity != "ben_afflek" for e in stats.events), stats.events


def test_hybrid_background_questions_fall_back_locally_when_the_endpoint_is_down(
    store, local_pipeline, frames
):
    """The engine's hybrid questions to an endpoint that refuses connections: the failed background
    request's crops are embedded locally when it fails, every later frame runs locally at once, and the
    session is local's."""
    from core.deploy.client import remote_pipeline
    from core.engine import Engine

    engine = Engine(local_pipeline, store=store, record=False)
    for i, frame in enumerate(frames):
        engine.process(frame, i)
    want = sorted((e.identity or "", e.decision, e.reason) for e in engine.close().events)
    url = f"http://127.0.0.1:{free_port()}"
    pipe = remote_pipeline(
        "hybrid", local_pipeline, endpoint=url, token=TOKEN, fallback_after_s=1.0, probe_every_s=30
    )
    engine = Engine(pipe, store=store, record=False)
    modes = []
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        modes.append(engine.process(frame, i).mode)
        assert time.perf_counter() - t0 < 2.0  # never a wait on the network
    got = sorted((e.identity or "", e.decision, e.reason) for e in engine.close().events)
    pipe.close()
    down = modes.index("hybrid->local")
    assert set(modes[:down]) <= {"hybrid"} and set(modes[down:]) == {"hybrid->local"}, modes
    assert got == want, (got, want)
    assert "connection refused" in pipe.status, pipe.status


@pytest.fixture
def counting_endpoint(detector, recognizer):
    """A real endpoint in this process (EndpointApp on uvicorn, 127.0.0.1, a free port) that counts the
    infer requests reaching it: (app, url); ``app.infers`` lists each infer request's path."""
    from core.deploy.server import EndpointApp, Limits, build_models, listen, run_app

    class CountingApp(EndpointApp):
        infers: list[str]

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"].rstrip("/").endswith("/infer"):
                self.infers.append(scope["path"])
            await super().__call__(scope, receive, send)

    limits = Limits()
    app = CountingApp(build_models(detector, recognizer, limits), TOKEN, limits)
    app.infers = []
    sock = listen("127.0.0.1", 0)
    ready = threading.Event()
    thread = threading.Thread(target=run_app, args=(app, sock, None, ready.set), daemon=True)
    thread.start()
    try:
        assert ready.wait(30), "the in-process endpoint did not start"
        yield app, f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        if app.server is not None:
            app.server.should_exit = True
        thread.join(timeout=10)
        app.close()
        sock.close()


def _three_faces(celeb_val) -> np.ndarray:
    """One 640x240 frame holding three people's faces side by side (real photos, BGR)."""
    images = []
    for name in ("ben_afflek", "elton_john", "jerry_seinfeld"):
        image = cv2.imread(str(celeb_val[name][0]))
        images.append(cv2.resize(image, (image.shape[1] * 240 // image.shape[0], 240)))
    return cv2.hconcat(images)


def test_hybrid_embeds_a_frames_crops_in_one_request(counting_endpoint, detector, recognizer, celeb_val):
    """Hybrid batches the crops of one frame into one request (the study's point of hybrid: one round trip
    a frame, not one per face): JPEG crops to ``<model>_crops_jpeg`` by default, within cosine 0.99 of the
    local recognizer's embeddings; raw crops to ``<model>_crops``, exactly the local embeddings."""
    from core.deploy.client import remote_pipeline
    from core.gallery import Gallery
    from core.pipeline import Pipeline

    app, url = counting_endpoint
    local = Pipeline(detector, recognizer, Gallery(recognizer.model, recognizer.default_threshold))
    frame = _three_faces(celeb_val)
    for fmt, path in (("jpeg", "facenet128_crops_jpeg"), ("raw", "facenet128_crops")):
        app.infers.clear()
        kwargs = {} if fmt == "jpeg" else {"crop_format": "raw"}  # JPEG is the default
        pipe = remote_pipeline("hybrid", local, endpoint=url, token=TOKEN, fallback_after_s=20, **kwargs)
        try:
            faces = pipe.detect(frame)
            assert len(faces) == 3
            emb = pipe.embed(frame, faces)
            assert app.infers == [f"/v2/models/{path}/infer"], app.infers
            stats = pipe.frame_stats()
            assert stats["mode"] == "hybrid" and stats["requests"] == 1, stats
            assert [f.embedded_by for f in faces] == ["hybrid"] * 3
            crops = np.stack([recognizer.align(frame, f) for f in faces])
            want = recognizer.embed_crops(crops)
            if fmt == "raw":
                assert np.allclose(emb, want, atol=1e-4)
            else:
                assert np.all(np.sum(emb * want, axis=1) >= 0.99), np.sum(emb * want, axis=1)
        finally:
            pipe.close()


# ------------------------------------------------------------------------------ auth, protocol, limits


def _http(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    token: str | None = TOKEN,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def _error(data: bytes) -> str:
    return json.loads(data)["error"]


def _crops_request(
    arr: np.ndarray,
    datatype: str = "UINT8",
    shape: list[int] | None = None,
    size: int | None = None,
    blob: bytes | None = None,
) -> tuple[bytes, dict[str, str]]:
    blob = arr.tobytes() if blob is None else blob
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "CROPS",
                    "datatype": datatype,
                    "shape": shape or list(arr.shape),
                    "parameters": {"binary_data_size": len(arr.tobytes()) if size is None else size},
                }
            ],
            "outputs": [{"name": "EMBEDDINGS", "parameters": {"binary_data": True}}],
        }
    ).encode()
    return head + blob, {HLEN: str(len(head))}


def _frame_request(items: list[bytes], name: str = "IMAGE") -> tuple[bytes, dict[str, str]]:
    from core.deploy.protocol import join_bytes_elements

    blob = join_bytes_elements(items)
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "datatype": "BYTES",
                    "shape": [len(items), 1],
                    "parameters": {"binary_data_size": len(blob)},
                }
            ]
        }
    ).encode()
    return head + blob, {HLEN: str(len(head))}


def test_every_route_but_health_needs_the_token(endpoint):
    port = endpoint.port
    for path in ("/v2/health/live", "/v2/health/ready"):
        assert _http(port, "GET", path, token=None)[0] == 200
    for path in (
        "/v2",
        "/v2/models/facenet128_crops",
        "/v2/models/facenet128_crops/ready",
        "/v2/models/facenet128_frame/config",
    ):
        status, headers, data = _http(port, "GET", path, token=None)
        assert status == 401 and "missing bearer token" in _error(data), (path, status)
        assert headers["www-authenticate"].startswith("Bearer")
        status, _, data = _http(port, "GET", path, token="wrong-token")
        assert status == 401 and _error(data) == "invalid bearer token"
        assert _http(port, "GET", path)[0] == 200
    body, headers = _crops_request(np.zeros((1, 160, 160, 3), np.uint8))
    status, _, data = _http(port, "POST", "/v2/models/facenet128_crops/infer", body, headers, token=None)
    assert status == 401
    status, _, data = _http(port, "POST", "/v2/models/facenet128_crops/infer", body, headers, token="nope")
    assert status == 401
    # through tritonclient too: the error reaches the caller with its status
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
    assert client.is_server_live() and client.is_server_ready()
    with pytest.raises(InferenceServerException) as err:
        client.get_model_metadata("facenet128_crops", headers={"Authorization": "Bearer wrong"})
    assert err.value.status() == "401"
    meta = client.get_model_metadata("facenet128_crops", headers={"Authorization": f"Bearer {TOKEN}"})
    assert meta["inputs"] == [{"name": "CROPS", "datatype": "UINT8", "shape": [-1, 160, 160, 3]}]
    assert meta["outputs"] == [{"name": "EMBEDDINGS", "datatype": "FP32", "shape": [-1, 128]}]
    client.close()


def _raw(port: int, data: bytes, wait_s: float = 10.0, then: bytes = b"") -> bytes:
    """Send raw bytes, optionally more later, and read what comes back until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as s:
        s.sendall(data)
        if then:
            s.sendall(then)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return out


def test_malformed_and_oversized_requests_get_4xx_and_the_server_keeps_serving(endpoint, recognizer):
    port = endpoint.port
    crops_url, frame_url = "/v2/models/facenet128_crops/infer", "/v2/models/facenet128_frame/infer"
    jpeg_crops_url = "/v2/models/facenet128_crops_jpeg/infer"
    one = np.full((1, 160, 160, 3), 127, np.uint8)
    good, good_headers = _crops_request(one)

    def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
        status, _, data = _http(port, "POST", url, body, headers)
        return status, _error(data) if status != 200 else ""

    jpeg = cv2.imencode(".jpg", np.full((100, 100, 3), 90, np.uint8))[1].tobytes()
    huge = cv2.imencode(".jpg", np.zeros((1001, 1000, 3), np.uint8))[1].tobytes()  # 1.001 MP > 1 MP limit
    unknown_output = (
        json.dumps(
            {
                "inputs": [
                    {
                        "name": "CROPS",
                        "datatype": "UINT8",
                        "shape": [1, 160, 160, 3],
                        "parameters": {"binary_data_size": one.nbytes},
                    }
                ],
                "outputs": [{"name": "NOPE"}],
            }
        ).encode()
        + one.tobytes()
    )
    cases: list[tuple[str, str, bytes, dict[str, str] | None, int, str]] = [
        ("bad JSON", crops_url, b"{not json", None, 400, "not valid JSON"),
        ("JSON array", crops_url, b"[1, 2]", None, 400, "must be a JSON object"),
        ("no inputs", crops_url, b'{"inputs": []}', None, 400, "non-empty list"),
        (
            "unknown input",
            crops_url,
            b'{"inputs": [{"name": "X", "datatype": "UINT8", "shape": [1], "data": [1]}]}',
            None,
            400,
            "unknown input",
        ),
        (
            "wrong dtype",
            crops_url,
            *_crops_request(one.astype(np.float32), "FP32"),
            400,
            "datatype must be UINT8",
        ),
        (
            "wrong shape",
            crops_url,
            *_crops_request(np.zeros((1, 100, 100, 3), np.uint8)),
            400,
            "[N, 160, 160, 3]",
        ),
        (
            "shape vs bytes",
            crops_url,
            *_crops_request(one, shape=[2, 160, 160, 3]),
            400,
            "needs 153600 bytes",
        ),
        ("truncated binary", crops_url, *_crops_request(one, blob=one.tobytes()[:100]), 400, "truncated"),
        ("header length past body", crops_url, good, {HLEN: str(len(good) + 10)}, 400, "body has only"),
        ("header length not a number", crops_url, good, {HLEN: "abc"}, 400, "must be an integer"),
        (
            "JSON data count",
            crops_url,
            b'{"inputs": [{"name": "CROPS", "datatype": "UINT8", "shape": [1, 160, 160, 3], '
            b'"data": [1, 2, 3]}]}',
            None,
            400,
            "needs 76800 values",
        ),
        (
            "JSON data out of range",
            crops_url,
            json.dumps(
                {
                    "inputs": [
                        {
                            "name": "CROPS",
                            "datatype": "UINT8",
                            "shape": [1, 160, 160, 3],
                            "data": [300] * 76800,
                        }
                    ]
                }
            ).encode(),
            None,
            400,
            "out of range",
        ),
        ("batch too big", crops_url, *_crops_request(np.zeros((5, 160, 160, 3), np.uint8)), 400, "limit 4"),
        (
            "unknown output",
            crops_url,
            unknown_output,
            {HLEN: str(len(unknown_output) - one.nbytes)},
            400,
            "unknown output",
        ),
        ("not an image", frame_url, *_frame_request([b"hello, not a JPEG"]), 400, "not a JPEG or PNG"),
        ("truncated JPEG", frame_url, *_frame_request([jpeg[: len(jpeg) // 2]]), 400, "truncated JPEG"),
        ("huge image", frame_url, *_frame_request([huge]), 413, "image too large"),
        (
            "JPEG crop of the wrong size",
            jpeg_crops_url,
            *_frame_request([jpeg], "CROPS_JPEG"),
            400,
            "160x160",
        ),
        ("JPEG crops sent as IMAGE", jpeg_crops_url, *_frame_request([jpeg]), 400, "unknown input"),
        ("unknown model", "/v2/models/facenet512_crops/infer", good, good_headers, 404, "unknown model"),
        ("unknown route", "/v2/models/facenet128_crops/explode", good, good_headers, 404, "no POST route"),
    ]
    for name, url, body, headers, status, message in cases:
        got, text = post(url, body, headers)
        assert (got, message in text) == (status, True), (name, got, text)
    # the body limit is checked from Content-Length, before reading anything
    reply = _raw(
        port,
        f"POST {crops_url} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Length: {3 * 2**20}\r\n\r\n".encode(),
    )
    assert reply.startswith(b"HTTP/1.1 413") and b"over the limit" in reply, reply[:200]
    # a body that does not arrive in time (1.5 s here)
    t0 = time.monotonic()
    reply = _raw(
        port,
        f"POST {crops_url} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Length: 1000\r\n\r\n".encode()
        + b"x" * 10,
    )
    assert reply.startswith(b"HTTP/1.1 408") and 1.0 < time.monotonic() - t0 < 8, reply[:200]
    # chunked bodies, unknown methods, garbage request lines, a plain TLS hello
    reply = _raw(
        port,
        f"POST {crops_url} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".encode(),
    )
    assert reply.startswith(b"HTTP/1.1 411"), reply[:200]
    assert _http(port, "PUT", crops_url, b"{}")[0] == 405
    # an unknown method is the caller's error too (4xx, never 5xx)
    assert _raw(port, b"BREW /v2 HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 405")
    assert _raw(port, b"\x00\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    _raw(port, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(64), wait_s=3)
    # after all that: still alive, still right
    assert endpoint.proc.poll() is None
    assert _http(port, "GET", "/v2/health/ready", token=None)[0] == 200
    status, headers, data = _http(port, "POST", crops_url, good, good_headers)
    assert status == 200
    n = int(headers[HLEN.lower()])
    head = json.loads(data[:n])
    assert head["outputs"][0]["shape"] == [1, 128]
    emb = np.frombuffer(data[n:], np.float32).reshape(1, 128)
    np.testing.assert_allclose(emb, recognizer.embed_crops(one), atol=1e-4)
    # the JSON (non-binary) form works too, both ways
    body = json.dumps(
        {
            "inputs": [
                {
                    "name": "CROPS",
                    "datatype": "UINT8",
                    "shape": [1, 160, 160, 3],
                    "data": one.reshape(-1).tolist(),
                }
            ]
        }
    ).encode()
    status, headers, data = _http(port, "POST", crops_url, body, {"Content-Type": "application/json"})
    assert status == 200 and HLEN.lower() not in headers
    np.testing.assert_allclose(
        np.array(json.loads(data)["outputs"][0]["data"], np.float32).reshape(1, 128), emb, atol=1e-5
    )


# ------------------------------------------------------------------------------ TLS


def _make_certs(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed (needed to make the test certificates)")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=FaceGate test CA",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (folder / "ext.cnf").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nauthorityKeyIdentifier=keyid\n"
    )
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    )
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


def test_tls_with_a_self_signed_certificate(tmp_path, local_pipeline, frames):
    import ssl
    import urllib.request

    from core.deploy.client import remote_pipeline

    ca, cert, key = _make_certs(tmp_path)
    ep = Endpoint("--tls-cert", str(cert), "--tls-key", str(key), log_dir=tmp_path)
    try:
        assert ep.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(f"{ep.url}/v2/health/ready", context=context, timeout=10) as r:
            assert r.status == 200
        frame = frames[40]  # both people in view
        want = local_pipeline.process(frame)
        pipe = remote_pipeline(
            "hybrid", local_pipeline, endpoint=ep.url, token=TOKEN, ca_cert=str(ca), fallback_after_s=20
        )
        got = pipe.process(frame)
        assert got.mode == "hybrid", pipe.status
        assert sorted(f.identity or "" for f in got.faces) == sorted(f.identity or "" for f in want.faces)
        assert pipe.frame_stats()["bytes_up"] > 2 * 2000  # two JPEG crops
        pipe.close()
        cloud = remote_pipeline(
            "cloud", local_pipeline, endpoint=ep.url, token=TOKEN, ca_cert=str(ca), fallback_after_s=20
        )
        assert cloud.process(frame).mode == "cloud", cloud.status
        cloud.close()
        # not trusting our CA (system CAs only): the certificate is refused and the frame runs locally
        untrusted = remote_pipeline(
            "hybrid", local_pipeline, endpoint=ep.url, token=TOKEN, fallback_after_s=5
        )
        result = untrusted.process(frame)
        assert result.mode == "hybrid->local" and len(result.faces) == len(want.faces)
        assert "certificate" in untrusted.status.lower() or "ssl" in untrusted.status.lower(), (
            untrusted.status
        )
        untrusted.close()
        # plain HTTP to the TLS port gets nothing usable; the server carries on
        with pytest.raises((http.client.HTTPException, OSError)):
            _http(ep.port, "GET", "/v2/health/ready")
        with urllib.request.urlopen(f"{ep.url}/v2/health/live", context=context, timeout=10) as r:
            assert r.status == 200
    finally:
        err = ep.stop()
    assert "Traceback" not in err, err


# ------------------------------------------------------------------------------ faults


def test_an_erroring_or_absent_endpoint_means_local_processing(endpoint, local_pipeline, frames):
    """Errors (here 401) and refused connections: the frame runs locally at once, with the same answer."""
    from core.deploy.client import remote_pipeline

    frame = frames[40]
    want = sorted(f.identity or "" for f in local_pipeline.process(frame).faces)
    cases = [
        ("hybrid", endpoint.url, "wrong-token", "HTTP 401: invalid bearer token"),
        ("cloud", f"http://127.0.0.1:{free_port()}", TOKEN, "connection refused"),
    ]
    for mode, url, token, reason in cases:
        pipe = remote_pipeline(mode, local_pipeline, endpoint=url, token=token, fallback_after_s=1.0)
        t0 = time.perf_counter()
        got = pipe.process(frame)
        assert time.perf_counter() - t0 < 1.0 + 2.0  # the local work, not a wait
        assert got.mode == f"{mode}->local" and reason in pipe.status, (got.mode, pipe.status)
        assert sorted(f.identity or "" for f in got.faces) == want
        stats = pipe.frame_stats()
        assert stats["mode"] == f"{mode}->local" and stats["bytes_up"] is None and stats["network_ms"] < 1000
        again = pipe.process(frame)  # known to be failing: no second attempt until a probe succeeds
        assert again.mode == f"{mode}->local" and pipe.frame_stats()["network_ms"] is None
        pipe.close()


def test_a_hung_then_killed_server_falls_back_and_recovers_and_every_frame_is_recorded(
    local_pipeline, frames, tmp_path
):
    """Cloud mode at 15 FPS: SIGSTOP the endpoint (slow: each frame waits at most fallback_after_s), SIGCONT,
    SIGKILL (down: immediate), restart on the same port; the CSV has one row per frame with the mode used."""
    from core.deploy.client import remote_pipeline
    from core.engine import Engine

    ep = Endpoint(log_dir=tmp_path)
    port = ep.port
    pipe = remote_pipeline(
        "cloud", local_pipeline, endpoint=ep.url, token=TOKEN, fallback_after_s=1.0, probe_every_s=0.5
    )
    csv_path = tmp_path / "faults.csv"
    engine = Engine(pipe, store=None, frames_csv=csv_path)
    modes: list[str] = []
    totals: list[float] = []
    marks: dict[str, int] = {}
    restarted: list[Endpoint] = []
    starter: threading.Thread | None = None
    end = time.monotonic() + 150
    i = 0
    try:
        while time.monotonic() < end:
            t0 = time.monotonic()
            r = engine.process(frames[i % len(frames)], i)
            modes.append(r.mode)
            totals.append(r.timings_ms["total_ms"])
            streak = len(modes) - max((k for k, m in enumerate(modes) if m != "cloud"), default=-1) - 1
            if "stop" not in marks and i >= 15:
                ep.proc.send_signal(signal.SIGSTOP)
                marks["stop"] = i + 1
            elif "stop" in marks and "cont" not in marks and i >= marks["stop"] + 15:
                ep.proc.send_signal(signal.SIGCONT)
                marks["cont"] = i + 1
            elif "cont" in marks and "kill" not in marks and i > marks["cont"] and streak >= 10:
                ep.proc.kill()
                ep.proc.wait(timeout=10)
                marks["kill"] = i + 1
                starter = threading.Thread(
                    target=lambda: restarted.append(Endpoint("--port", str(port), log_dir=tmp_path)),
                    daemon=True,
                )
                starter.start()
            elif "kill" in marks and restarted and i > marks["kill"] and streak >= 10:
                break
            i += 1
            time.sleep(max(0.0, 1 / 15 - (time.monotonic() - t0)))
    finally:
        if ep.proc.poll() is None:
            ep.proc.send_signal(signal.SIGCONT)
        ep.stop()
        if starter is not None:
            starter.join(timeout=180)
        for e in restarted:
            e.stop()
        stats = engine.close()
    assert set(marks) == {"stop", "cont", "kill"} and restarted, (marks, modes[-20:])
    s, c, k = marks["stop"], marks["cont"], marks["kill"]
    assert modes[:s] == ["cloud"] * s
    # hung: the first frame after SIGSTOP waits ~fallback_after_s, then runs locally; so do the frames after
    assert modes[s] == "cloud->local" and 900 < totals[s] < 4000, (modes[s], totals[s])
    assert all(m == "cloud->local" for m in modes[s:c])
    assert max(totals[s + 1 : c]) < 1500  # known to be down: no frame waits again
    back = next(j for j in range(c, k) if modes[j] == "cloud")
    # killed: refused at once
    assert modes[k] == "cloud->local" and totals[k] < 1500, (modes[k], totals[k])
    after = next(j for j in range(k, len(modes)) if modes[j] == "cloud")
    assert all(m == "cloud" for m in modes[after:])
    rows = _rows(csv_path)
    assert [int(r["frame"]) for r in rows] == list(range(len(modes)))
    assert [r["mode"] for r in rows] == modes
    assert all(r["bytes_up"] for r in rows[:s]) and rows[s]["bytes_up"] == ""
    print(
        f"\nfaults: hung at frame {s} (that frame {totals[s]:.0f} ms), back at {back}; killed at {k} "
        f"(that frame {totals[k]:.0f} ms), back at {after} after the restart; {len(rows)} rows, "
        f"{len(stats.events)} events"
    )
