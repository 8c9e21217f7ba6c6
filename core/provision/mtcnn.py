"""MTCNN (P-Net, R-Net, O-Net) network files, built from the weights inside the ``mtcnn`` 1.0.0 wheel.

Those weights are the TF/Keras MTCNN the study used: joblib (lz4) pickles of Keras weight lists, in
the layer order of ``mtcnn/network/{pnet,rnet,onet}.py``. The architectures are re-declared here as
functional Keras models (same layers, same order), so the ``mtcnn`` package is never imported.

Layout: NHWC float32, RGB, normalised ``(x - 127.5) / 128``, images in their natural (height, width)
orientation (mtcnn 1.0.0 feeds ``(batch, rows, cols, 3)``; the ``Permute((2, 1, 3))`` before each
``Flatten`` of R/O-Net is what keeps the original Caffe weights' column-major flattening valid).

Canonical outputs (``Network.run`` order on every runtime):

- P-Net ``input [1, H, W, 3]`` -> ``bbox_reg [1, H', W', 4]``, ``prob [1, H', W', 2]``
  (``H' = ceil((H - 2) / 2) - 4``: stride 2, 12 px cell)
- R-Net ``input [N, 24, 24, 3]`` -> ``bbox_reg [N, 4]``, ``prob [N, 2]``
- O-Net ``input [N, 48, 48, 3]`` -> ``bbox_reg [N, 4]``, ``landmarks [N, 10]`` (x1..x5, y1..y5),
  ``prob [N, 2]``

Per net: a TF SavedModel (``tensorflow``), an fp32 ``.tflite`` (``tflite``; weights frozen, a valid
default input shape) and an ``.onnx`` (tf2onnx, opset 13, PReLU expansion slimmed; ``onnxruntime`` and
``tensorrt``, with optimisation-profile shapes in its sidecar). Each builder checks its file against
the Keras model on a test input and records the file's real output names in canonical order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ModelProvisionError
from core.models import Artifact, SourceFile

PACKAGE = "mtcnn==1.0.0"
OPSET = 13
TRT_MAX_BATCH = 256  # R/O-Net optimisation-profile maximum; the detector chunks batches to this

SOURCES = [
    SourceFile(
        "mtcnn/pnet.lz4",
        PACKAGE,
        "mtcnn/assets/weights/pnet.lz4",
        "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5",
    ),
    SourceFile(
        "mtcnn/rnet.lz4",
        PACKAGE,
        "mtcnn/assets/weights/rnet.lz4",
        "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee",
    ),
    SourceFile(
        "mtcnn/onet.lz4",
        PACKAGE,
        "mtcnn/assets/weights/onet.lz4",
        "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3",
    ),
]

#: net -> canonical output names
OUTPUTS: dict[str, list[str]] = {
    "pnet": ["bbox_reg", "prob"],
    "rnet": ["bbox_reg", "prob"],
    "onet": ["bbox_reg", "landmarks", "prob"],
}
INPUT = "input"

#: net -> (symbolic input shape for the signature, a test input shape)
_SHAPES: dict[str, tuple[list[int | None], list[int]]] = {
    "pnet": ([1, None, None, 3], [1, 53, 71, 3]),
    "rnet": ([None, 24, 24, 3], [5, 24, 24, 3]),
    "onet": ([None, 48, 48, 3], [5, 48, 48, 3]),
}

#: TensorRT optimisation profiles for the ONNX files (P-Net: any frame up to 1080p either way round)
TRT_SHAPES: dict[str, dict[str, list[int]]] = {
    "pnet": {"min": [1, 12, 12, 3], "opt": [1, 360, 640, 3], "max": [1, 1920, 1920, 3]},
    "rnet": {"min": [1, 24, 24, 3], "opt": [64, 24, 24, 3], "max": [TRT_MAX_BATCH, 24, 24, 3]},
    "onet": {"min": [1, 48, 48, 3], "opt": [16, 48, 48, 3], "max": [TRT_MAX_BATCH, 48, 48, 3]},
}

ARTIFACTS: list[Artifact] = []
for _net, _title in (("pnet", "P-Net"), ("rnet", "R-Net"), ("onet", "O-Net")):
    _src = (f"mtcnn/{_net}.lz4",)
    ARTIFACTS += [
        Artifact(
            f"mtcnn/{_net}-onnx",
            f"mtcnn/{_net}.onnx",
            _src,
            f"core.provision.mtcnn:build_onnx:{_net}",
            f"MTCNN {_title}, ONNX opset {OPSET} (onnxruntime, tensorrt)",
            ("tensorflow", "tf2onnx"),
        ),
        Artifact(
            f"mtcnn/{_net}-savedmodel",
            f"mtcnn/{_net}_savedmodel",
            _src,
            f"core.provision.mtcnn:build_savedmodel:{_net}",
            f"MTCNN {_title}, TF SavedModel (tensorflow)",
            ("tensorflow",),
        ),
        Artifact(
            f"mtcnn/{_net}-tflite",
            f"mtcnn/{_net}.tflite",
            _src,
            f"core.provision.mtcnn:build_tflite:{_net}",
            f"MTCNN {_title}, TFLite fp32 (tflite)",
            ("tensorflow",),
        ),
    ]

#: runtime -> artifact keys in (pnet, rnet, onet) order
RUNTIME_KEYS: dict[str, tuple[str, str, str]] = {
    "onnxruntime": ("mtcnn/pnet-onnx", "mtcnn/rnet-onnx", "mtcnn/onet-onnx"),
    "tensorflow": ("mtcnn/pnet-savedmodel", "mtcnn/rnet-savedmodel", "mtcnn/onet-savedmodel"),
    "tflite": ("mtcnn/pnet-tflite", "mtcnn/rnet-tflite", "mtcnn/onet-tflite"),
    "tensorrt": ("mtcnn/pnet-onnx", "mtcnn/rnet-onnx", "mtcnn/onet-onnx"),
}


# ------------------------------------------------------------------------------------ architectures


def keras_model(net: str) -> Any:
    """The functional Keras P/R/O-Net with the package's weights loaded (imports tensorflow)."""
    import joblib
    import tensorflow as tf

    from core.models import fetch_source

    L = tf.keras.layers
    if net == "pnet":
        inp = L.Input(shape=(None, None, 3), name=INPUT)
        x = L.Conv2D(10, 3, padding="valid", name="conv1")(inp)
        x = L.PReLU(shared_axes=[1, 2], name="prelu1")(x)
        x = L.MaxPooling2D(2, 2, padding="same", name="maxpooling1")(x)
        x = L.Conv2D(16, 3, padding="valid", name="conv2")(x)
        x = L.PReLU(shared_axes=[1, 2], name="prelu2")(x)
        x = L.Conv2D(32, 3, padding="valid", name="conv3")(x)
        x = L.PReLU(shared_axes=[1, 2], name="prelu3")(x)
        outs = [
            L.Conv2D(4, 1, name="conv4_1")(x),
            L.Conv2D(2, 1, activation="softmax", name="conv4_2")(x),
        ]
    elif net == "rnet":
        inp = L.Input(shape=(24, 24, 3), name=INPUT)
        x = L.Conv2D(28, 3, padding="valid", name="conv1")(inp)
        x = L.PReLU(shared_axes=[1, 2], name="prelu1")(x)
        x = L.MaxPooling2D(3, 2, padding="same", name="maxpooling1")(x)
        x = L.Conv2D(48, 3, padding="valid", name="conv2")(x)
        x = L.PReLU(shared_axes=[1, 2], name="prelu2")(x)
        x = L.MaxPooling2D(3, 2, padding="valid", name="maxpooling2")(x)
        x = L.Conv2D(64, 2, padding="valid", name="conv3")(x)
        x = L.PReLU(shared_axes=[1, 2], name="prelu3")(x)
        x = L.Permute((2, 1, 3), name="permute")(x)
        x = L.Flatten(name="flatten3")(x)
        x = L.Dense(128, name="fc4")(x)
        x = L.PReLU(name="prelu4")(x)
        outs = [L.Dense(4, name="fc5_1")(x), L.Dense(2, activation="softmax", name="fc5_2")(x)]
    elif net == "onet":
        inp = L.Input(shape=(48, 48, 3), name=INPUT)
        x = L.Conv2D(32, 3, padding="valid", name="conv1")(inp)
        x = L.PReLU(shared_axes=[1, 2], name="prelu1")(x)
        x = L.MaxPooling2D(3, 2, padding="same", name="maxpooling1")(x)
        x = L.Conv2D(64, 3, padding="valid", name="conv2")(x)
        x = L.PReLU(shared_axes=[1, 2], name="prelu2")(x)
        x = L.MaxPooling2D(3, 2, padding="valid", name="maxpooling2")(x)
        x = L.Conv2D(64, 3, padding="valid", name="conv3")(x)
        x = L.PReLU(shared_axes=[1, 2], name="prelu3")(x)
        x = L.MaxPooling2D(2, 2, padding="same", name="maxpooling3")(x)
        x = L.Conv2D(128, 2, padding="valid", name="conv4")(x)
        x = L.PReLU(shared_axes=[1, 2], name="prelu4")(x)
        x = L.Permute((2, 1, 3), name="permute")(x)
        x = L.Flatten(name="flatten4")(x)
        x = L.Dense(256, name="fc5")(x)
        x = L.PReLU(name="prelu5")(x)
        outs = [
            L.Dense(4, name="fc6_1")(x),
            L.Dense(10, name="fc6_2")(x),
            L.Dense(2, activation="softmax", name="fc6_3")(x),
        ]
    else:
        raise ValueError(f"unknown MTCNN net {net!r}")
    model = tf.keras.Model(inp, outs, name=net)
    src = next(s for s in SOURCES if s.name == f"mtcnn/{net}.lz4")
    weights = joblib.load(fetch_source(src))
    try:
        model.set_weights(weights)
    except ValueError as err:
        raise ModelProvisionError(f"mtcnn {net}: weights do not fit the architecture ({err})") from err
    return model


def _test_input(net: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(-1.0, 1.0, _SHAPES[net][1]).astype(np.float32)


def _reference(net: str, model: Any) -> list[np.ndarray]:
    return [np.asarray(o) for o in model(_test_input(net), training=False)]


def _match_outputs(net: str, named: dict[str, np.ndarray], reference: list[np.ndarray]) -> dict[str, str]:
    """Map canonical output name -> the file's tensor name by comparing values on the test input."""
    mapping: dict[str, str] = {}
    for canon, ref in zip(OUTPUTS[net], reference, strict=True):
        hits = [
            name
            for name, arr in named.items()
            if name not in mapping.values() and arr.shape == ref.shape and np.allclose(arr, ref, atol=1e-4)
        ]
        if len(hits) != 1:
            raise ModelProvisionError(
                f"mtcnn {net}: cannot identify output {canon!r} among {sorted(named)} ({len(hits)} matches)"
            )
        mapping[canon] = hits[0]
    return mapping


def _signature_fn(net: str, model: Any) -> Any:
    import tensorflow as tf

    spec = tf.TensorSpec(_SHAPES[net][0], tf.float32, name=INPUT)

    @tf.function(input_signature=[spec])
    def serve(input: Any) -> dict[str, Any]:  # noqa: A002  (the signature's input name)
        return dict(zip(OUTPUTS[net], model(input, training=False), strict=True))

    return serve


def _save(net: str, out: Path, model: Any) -> None:
    import tensorflow as tf

    module = tf.Module()
    module.model = model
    module.serve = _signature_fn(net, model)
    tf.saved_model.save(module, str(out), signatures={"serving_default": module.serve})


# ------------------------------------------------------------------------------------------ builders


def build_savedmodel(net: str, out: Path) -> None:
    import tensorflow as tf

    model = keras_model(net)
    _save(net, out, model)
    fn = tf.saved_model.load(str(out)).signatures["serving_default"]
    got = {k: v.numpy() for k, v in fn(**{INPUT: tf.constant(_test_input(net))}).items()}
    mapping = _match_outputs(net, got, _reference(net, model))
    from core.runtimes import write_meta

    write_meta(out, inputs=[INPUT], outputs=[mapping[c] for c in OUTPUTS[net]])


def _with_default_shape(tflite: bytes, shape: list[int]) -> bytes:
    """Give the dynamic input a valid default shape (the converter stores 1 for each unknown dim,
    and a 1x1 image cannot pass P-Net's valid convolutions, so ``allocate_tensors`` would fail
    before the first resize). ``shape_signature`` keeps the dims dynamic."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    graph = model.subgraphs[0]
    tensor = graph.tensors[graph.inputs[0]]
    tensor.shape = np.asarray(shape, np.int32)
    builder = flatbuffers.Builder(len(tflite) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def build_tflite(net: str, out: Path) -> None:
    import tensorflow as tf

    from core.runtimes import write_meta

    model = keras_model(net)
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # freeze the weights into constants first: otherwise the file reads them through resource
    # variables (READ_VARIABLE), which LiteRT returns as garbage (NaN) under its XNNPACK delegate
    frozen = convert_variables_to_constants_v2(_signature_fn(net, model).get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    out.write_bytes(_with_default_shape(converter.convert(), TRT_SHAPES[net]["min"]))
    # name the outputs by running the file itself (the converter renames and may reorder them)
    try:
        from core.runtimes.tflite import _interpreter_class

        cls, _ = _interpreter_class()
    except ImportError:
        cls = tf.lite.Interpreter
    x = _test_input(net)
    it = cls(model_path=str(out))
    (inp,) = it.get_input_details()
    it.resize_tensor_input(inp["index"], list(x.shape), strict=False)
    it.allocate_tensors()
    it.set_tensor(inp["index"], x)
    it.invoke()
    got = {d["name"]: it.get_tensor(d["index"]).copy() for d in it.get_output_details()}
    mapping = _match_outputs(net, got, _reference(net, model))
    write_meta(out, inputs=[inp["name"]], outputs=[mapping[c] for c in OUTPUTS[net]])


def _run_onnx(model: bytes, in_name: str, names: list[str], x: np.ndarray) -> list[np.ndarray]:
    """Run an ONNX model on the CPU (onnxruntime, else onnx's reference evaluator)."""
    try:
        import onnxruntime as ort
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        return [np.asarray(o) for o in ReferenceEvaluator(model).run(names, {in_name: x})]
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in sess.run(names, {in_name: x})]


def _fuse_prelu(proto: Any) -> int:
    """Rewrite tf2onnx's PReLU expansion ``Relu(x) + c * Relu(Neg(x))`` (``c = -alpha``, folded)
    as ``x + (alpha - 1) * Min(x, 0)``: three element-wise passes instead of five. (Not the ``PRelu``
    op: ONNX Runtime's CPU PRelu with a per-channel slope is ~4x slower than these three ops, and
    TensorRT fuses point-wise chains anyway.) Returns the number of rewritten activations."""
    import onnx
    from onnx import numpy_helper

    graph = proto.graph
    producer = {o: n for n in graph.node for o in n.output}
    inits = {i.name: i for i in graph.initializer}
    consumers: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            consumers[i] = consumers.get(i, 0) + 1
    drop: set[int] = set()
    new_nodes: dict[int, list[Any]] = {}
    fused = 0
    for add in graph.node:
        if add.op_type != "Add" or len(add.input) != 2:
            continue
        a, b = (producer.get(i) for i in add.input)
        if a is None or b is None:
            continue
        relu, mul = (a, b) if a.op_type == "Relu" else (b, a)
        if relu.op_type != "Relu" or mul.op_type != "Mul":
            continue
        relu_n = producer.get(mul.input[0])
        const = mul.input[1]
        if relu_n is None or relu_n.op_type != "Relu":
            relu_n, const = producer.get(mul.input[1]), mul.input[0]
        if relu_n is None or relu_n.op_type != "Relu" or const not in inits:
            continue
        neg = producer.get(relu_n.input[0])
        if neg is None or neg.op_type != "Neg" or neg.input[0] != relu.input[0]:
            continue
        inner = [relu.output[0], mul.output[0], relu_n.output[0], neg.output[0]]
        if any(consumers.get(t, 0) != 1 for t in inner):
            continue
        x, base = relu.input[0], add.name or add.output[0]
        alpha = -numpy_helper.to_array(inits[const])
        graph.initializer.extend(
            [
                numpy_helper.from_array((alpha - 1).astype(np.float32), base + "/prelu_alpha_minus_1"),
                numpy_helper.from_array(np.zeros(1, np.float32), base + "/prelu_zero"),
            ]
        )
        drop |= {id(n) for n in (relu, mul, relu_n, neg)}
        new_nodes[id(add)] = [
            onnx.helper.make_node("Min", [x, base + "/prelu_zero"], [base + "/prelu_neg"]),
            onnx.helper.make_node(
                "Mul", [base + "/prelu_neg", base + "/prelu_alpha_minus_1"], [base + "/prelu_scaled"]
            ),
            onnx.helper.make_node("Add", [x, base + "/prelu_scaled"], [add.output[0]], name=add.name),
        ]
        fused += 1
    nodes = []
    for n in graph.node:
        if id(n) in drop:
            continue
        nodes.extend(new_nodes.get(id(n), [n]))
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return fused


def build_onnx(net: str, out: Path) -> None:
    import onnx
    import tensorflow as tf  # noqa: F401
    import tf2onnx

    from core.runtimes import write_meta

    model = keras_model(net)
    fn = _signature_fn(net, model)
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=OPSET)
    # identify outputs on a test input, then give them their canonical names
    in_name = proto.graph.input[0].name
    names = [o.name for o in proto.graph.output]
    outs = _run_onnx(proto.SerializeToString(), in_name, names, _test_input(net))
    got = dict(zip(names, outs, strict=True))
    mapping = _match_outputs(net, got, _reference(net, model))
    rename = {old: canon for canon, old in mapping.items()}
    for node in proto.graph.node:
        node.output[:] = [rename.get(o, o) for o in node.output]
        node.input[:] = [rename.get(i, i) for i in node.input]
    for o in proto.graph.output:
        o.name = rename.get(o.name, o.name)
    # re-order graph outputs canonically, and name the input "input"
    by_name = {o.name: o for o in proto.graph.output}
    ordered = [by_name[c] for c in OUTPUTS[net]]
    copies = [type(o)() for o in ordered]
    for c, o in zip(copies, ordered, strict=True):
        c.CopyFrom(o)
    del proto.graph.output[:]
    proto.graph.output.extend(copies)
    if in_name != INPUT:
        for node in proto.graph.node:
            node.input[:] = [INPUT if i == in_name else i for i in node.input]
        proto.graph.input[0].name = INPUT
    _fuse_prelu(proto)
    proto.producer_name = "facegate (tf2onnx) from mtcnn==1.0.0 weights"
    onnx.checker.check_model(proto)
    out.write_bytes(proto.SerializeToString())
    # final check on the written file
    outs = _run_onnx(out.read_bytes(), INPUT, OUTPUTS[net], _test_input(net))
    got = dict(zip(OUTPUTS[net], outs, strict=True))
    _match_outputs(net, got, _reference(net, model))
    write_meta(out, inputs=[INPUT], outputs=list(OUTPUTS[net]), input_shapes={INPUT: TRT_SHAPES[net]})
