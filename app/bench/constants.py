"""Settings and table columns of ``main.py bench``, shared by the parent and its worker processes."""

from __future__ import annotations

from pathlib import Path

from core.deploy import MODES as MODES  # the one list of deployment modes, re-exported

ROOT = (
    Path(__file__).resolve().parents[2]
)  # the repository: workers run ``main.py`` and ``-m app.bench`` here

RESOLUTIONS = (480, 720, 1080)  # frame heights; width follows the video's aspect (16:9 -> 854, 1280, 1920)
REFERENCE = ("mtcnn:tensorflow", "facenet128:tensorflow")
WARMUP_FRAMES = 3
QUICK_FRAMES = 24
QUICK_RESOLUTION = 720
QUICK_MODES = ("local", "hybrid")
#: the second recognizer runtime of --quick, first available that is not the default wins: the edge's
#: quantised model, else fp32 onnxruntime (beside the int8 default: what quantising costs)
QUICK_SECOND_RUNTIMES = ("tflite-int8", "onnxruntime", "tflite", "tensorflow")
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

# ------------------------------------------------------------------ several cameras (bench --cameras)
CAMERA_FPS_TARGET = 20.0  # each site video plays at its own 20 FPS
CAMERA_FPS_HOLD = 18.0  # a camera "keeps up" at >= this processed FPS ...
CAMERA_DROP_MAX = 0.10  # ... with at most this share of its frames dropped, everyone named right
CAMERA_WARMUP_FRAMES = 2  # frames of each video processed before playing (models warmed at 720p)
#: single-stream 720p numbers of this machine's study rerun (README "Speed" and "Benchmark",
#: docs/bench/summary.csv): drawn beside the several-cameras figure; label -> FPS
SINGLE_STREAM_720P: dict[str, float] = {
    "one stream, every face recognised (bench, default pair)": 47.0,
    "one stream, every face, the old onnxruntime pair (bench)": 24.5,
    "study's TF/TF, every face recognised (bench)": 4.4,
}
CAMERA_COLUMNS = [
    "cameras",
    "camera",
    "video",
    "detector",
    "recognizer",
    "played",
    "processed",
    "seconds",
    "fps",
    "dropped",
    "dropped_pct",
    "faces",
    "recognized",
    "events",
    "expected",
    "wrong_names",
    "missed",
    "extra",
    "named_right",
    "holds",
    "capture_ms_p50",
    "detect_ms_p50",
    "embed_ms_p50",
    "match_ms_p50",
    "total_ms_p50",
    "round_ms_p50",
    "detect_ms_mean",
    "embed_ms_mean",
    "match_ms_mean",
    "total_ms_mean",
    "round_ms_mean",
    "rounds",
    "busy_pct",
    "cpu_percent",
    "rss_mb",
    "load_before",
    "load_after",
    "decisions",
]
