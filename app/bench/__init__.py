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
(``python -m app.bench SPEC.json``, :mod:`app.bench.worker`), one at a time. A runtime's memory figure is then its own (the
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

Modules: :mod:`~app.bench.plan` (options -> worker groups), :mod:`~app.bench.frames` (which frames,
scaled), :mod:`~app.bench.baselines`, :mod:`~app.bench.worker` (one group in its own process) and
:mod:`~app.bench.process` (its protocol and endpoint), :mod:`~app.bench.runner` (the parent's side),
:mod:`~app.bench.analysis` (Table-6 rows, accuracy), :mod:`~app.bench.figures`,
:mod:`~app.bench.report`, :mod:`~app.bench.machine`, :mod:`~app.bench.command` (``run_bench``).
"""

from __future__ import annotations

from app.bench.analysis import compare_frames, config_label, read_faces, summarise
from app.bench.command import prepare_store, run_bench
from app.bench.constants import (
    BASELINES,
    FACE_COLUMNS,
    IOU_MATCH,
    MODES,
    QUICK_FRAMES,
    QUICK_MODES,
    QUICK_RESOLUTION,
    REFERENCE,
    RESOLUTIONS,
    RUN_COLUMNS,
    SUMMARY_COLUMNS,
    WARMUP_FRAMES,
)
from app.bench.figures import write_figures
from app.bench.frames import iter_frames, scaled_size, select_frames, video_frame_count
from app.bench.machine import machine_info
from app.bench.plan import Group, Plan, UsageError, make_plan, parse_modes, parse_resolutions, select_keys
from app.bench.report import summary_markdown, write_report
from app.bench.worker import worker_main

__all__ = [
    "BASELINES",
    "FACE_COLUMNS",
    "IOU_MATCH",
    "MODES",
    "QUICK_FRAMES",
    "QUICK_MODES",
    "QUICK_RESOLUTION",
    "REFERENCE",
    "RESOLUTIONS",
    "RUN_COLUMNS",
    "SUMMARY_COLUMNS",
    "WARMUP_FRAMES",
    "Group",
    "Plan",
    "UsageError",
    "compare_frames",
    "config_label",
    "iter_frames",
    "machine_info",
    "make_plan",
    "parse_modes",
    "parse_resolutions",
    "prepare_store",
    "read_faces",
    "run_bench",
    "scaled_size",
    "select_frames",
    "select_keys",
    "summarise",
    "summary_markdown",
    "video_frame_count",
    "worker_main",
    "write_figures",
    "write_report",
]
