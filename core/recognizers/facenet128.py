"""FaceNet 128-d: Hiroki Taniai's Keras FaceNet (Sandberg's 2017 MS-Celeb-1M InceptionResNetV1),
the "Keras FaceNet" of the paper. Network files: :mod:`core.provision.facenet`; glue:
:mod:`core.recognizers.facenet`.
"""

from __future__ import annotations

from typing import Any

from core.recognizers.facenet import FaceNetRecognizer, make

MODEL = "facenet128"
DIM = 128

#: runtime variant -> artifact keys it runs (tflite-* run on the "tflite" runtime; TensorRT builds
#: its engine from the ONNX file)
RUNTIMES: dict[str, tuple[str, ...]] = {
    "tensorflow": ("facenet128/savedmodel",),
    "onnxruntime": ("facenet128/onnx",),
    "tflite": ("facenet128/tflite",),
    "tflite-fp16": ("facenet128/tflite-fp16",),
    "tflite-int8": ("facenet128/tflite-int8",),
    "tensorrt": ("facenet128/onnx",),
}

#: Chosen by ``benchmarks/facenet_accuracy.py`` on the 5-celebrity photos (reference ``mtcnn``
#: package: 117 faces, 25 val vs 92 train, 6786 pairs; onnxruntime). Balanced verification accuracy
#: at the equal-error threshold (val nearest-neighbour identification was 100% for every candidate):
#:   5-point + training stretch (landmarks) m=0.0/0.1/0.2/0.3: 98.75/98.57/98.66/98.27% (prewhiten),
#:     98.88/98.71/98.64/98.36% (fixed); Sandberg box crop m=0.1/0.2/0.3: 97.97/98.27/98.05%;
#:   square box crop 96.2-97.0%; 5-point without the stretch 97.3-97.9%.
#: prewhiten and fixed tie for this model; prewhiten is what it was trained with (Sandberg 2017,
#: Taniai). Margin 0.2 is near-best for landmarks and best for the box fallback.
#: Chosen crop, landmarks m=0.2 prewhiten: same-person L2 mean/min/max 0.825/0.220/1.440, different
#: 1.444/1.119/1.667 -> equal-error threshold 1.252, 98.66% (FAR = FRR = 1.3% of pairs); with
#: FaceGate's own MTCNN (core.detectors.mtcnn, 118 faces): 1.242, 98.82%.
DEFAULTS: dict[str, Any] = {"align": "landmarks", "margin": 0.2, "norm": "prewhiten"}
#: The THRESHOLD is a stated false-accept rate, not the equal-error point: an access-control door must
#: not let strangers in (issue 9: at the old 1.10 strangers matched enrolled people at 1.06-1.09).
#: ``benchmarks/calibrate_defaults.py`` (MTCNN + FaceNet on onnxruntime): ~8000 impostor pairs (5549
#: across the 5 celebrities + 118 celebrity photos x 20-21 strangers of core.calibration's impostor
#: set) and 1354 genuine pairs. Lowest impostor distance: 1.083 (MTCNN smallest face 20 px, the photo
#: commands), 1.076 (40 px, video), 1.059 (gallery at 40 px vs strangers at 20 px): the detector alone
#: moves it by ~0.03. 1.00 is one 0.05 step below the lowest under any setting: pair FAR 0 of ~8000
#: (95% upper bound 3/8000 = 0.04%) at a pair FRR of 17.2% (20 px) / 19.1% (40 px); a door with the
#: demo's 4 people enrolled from their train photos still identifies 20/20 val photos and accepts 0/30
#: strangers. (Pair FAR 0.1% would be 1.112 / FRR 6.5%, too thin a margin for a door.) An operator's
#: ``main.py calibrate --target-far F`` replaces it per database (stored, used when no --threshold).
#: One threshold for every runtime of the model: re-measured for the default pair (issue 12, MTCNN
#: on tflite + this model on tflite-int8) it is again pair FAR 0 of 8,027 / 7,909 at FRR 17.1% / 19.1%
#: (lowest impostor 1.090 / 1.078), and 0 with a gallery enrolled on onnxruntime and int8 queries.
DEFAULT_THRESHOLD = 1.00


def create(runtime: str, **options: Any) -> FaceNetRecognizer:
    """``options``: align ("landmarks" | "box"), margin, norm ("prewhiten" | "fixed"), threshold,
    max_batch, and runtime options (threads; fp16 for tensorrt)."""
    return make(MODEL, DIM, DEFAULT_THRESHOLD, DEFAULTS, RUNTIMES, runtime, **options)
