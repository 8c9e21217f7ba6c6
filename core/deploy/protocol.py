"""The offload protocol: KServe v2 / Open Inference Protocol over HTTP, with the binary tensor extension.

Shared by the bundled endpoint (:mod:`core.deploy.server`) and the client (:mod:`core.deploy.client`,
which speaks it through ``tritonclient.http``), so both sides agree on model and tensor names by
construction. A Triton server that serves the same model names and tensors is a drop-in replacement.

Two stateless models per embedding model (``facenet128`` or ``facenet512``; the name carries the
embedding model so a client never compares embeddings of two different networks):

``<model>_frame`` - whole frames in, faces out (the study's *cloud* mode)
    - input ``IMAGE`` BYTES ``[N, 1]`` (or ``[N]``): encoded images (JPEG; PNG/BMP also decode)
    - output ``NUM_FACES`` INT32 ``[N, 1]``: faces found per image
    - output ``BOXES`` FP32 ``[N, F, 4]``: x1, y1, x2, y2 in px of each image, F = the most faces
      in any image of the request (rows past ``NUM_FACES`` are zero padding)
    - output ``SCORES`` FP32 ``[N, F]``: detector confidence 0..1
    - output ``LANDMARKS`` FP32 ``[N, F, 5, 2]``: (x, y) px; left eye, right eye, nose, mouth
      corners (NaN when the detector has none)
    - output ``EMBEDDINGS`` FP32 ``[N, F, D]``: L2-normalised

``<model>_crops`` - aligned face crops in, embeddings out (the study's *hybrid* mode)
    - input ``CROPS`` UINT8 ``[N, S, S, 3]``: RGB crops aligned by the recognizer's ``align``
      (S = 160 for FaceNet)
    - output ``EMBEDDINGS`` FP32 ``[N, D]``: L2-normalised

``<model>_crops_jpeg`` - the same crops JPEG-encoded (opt-in, ~10x fewer bytes, lossy)
    - input ``CROPS_JPEG`` BYTES ``[N, 1]``: each an S x S JPEG (or PNG) of the crop
    - output ``EMBEDDINGS`` FP32 ``[N, D]``

Wire format (what ``tritonclient.http`` sends and reads): a JSON header, then the binary tensors in
input order; the header's byte length is in the ``Inference-Header-Content-Length`` HTTP header
(absent: the whole body is JSON). A binary input carries ``parameters.binary_data_size``; a BYTES
element is a 4-byte little-endian length then its bytes. Errors are ``{"error": "message"}``.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import FaceGateError
from core.token_file import read_token as read_token  # re-exported: serve, run and the GUI read it

HEADER_LENGTH = "Inference-Header-Content-Length"

FRAME_INPUT = "IMAGE"
FRAME_OUTPUTS = ("NUM_FACES", "BOXES", "SCORES", "LANDMARKS", "EMBEDDINGS")
CROPS_INPUT = "CROPS"
CROPS_OUTPUT = "EMBEDDINGS"
CROPS_JPEG_INPUT = "CROPS_JPEG"
#: request parameter: a random string from the client; the answer carries MAC_PARAMETER over it
NONCE_PARAMETER = "facegate_nonce"
#: response parameter: hex HMAC-SHA256 keyed by the shared token (:func:`answer_mac`)
MAC_PARAMETER = "facegate_hmac"

#: v2 datatype -> numpy dtype (BYTES is a list of ``bytes``, not an array)
DTYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": object,
}


def frame_model_name(recognizer_model: str) -> str:
    """``facenet128`` -> ``facenet128_frame``."""
    return f"{recognizer_model}_frame"


def crops_model_name(recognizer_model: str, crop_format: str = "raw") -> str:
    """``facenet128`` -> ``facenet128_crops`` (``facenet128_crops_jpeg`` for JPEG crops)."""
    return f"{recognizer_model}_crops" + ("_jpeg" if crop_format == "jpeg" else "")


class ProtocolError(FaceGateError):
    """A request the endpoint refuses: ``status`` is the HTTP code (4xx: the caller's fault)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = int(status)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model: v2 name, datatype and shape (-1 = any size; first is the batch)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass
class Tensor:
    """A decoded request input: ``data`` is an ndarray, or a list of ``bytes`` for BYTES."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: Any


@dataclass
class InferRequest:
    """A decoded v2 inference request."""

    id: str = ""
    inputs: dict[str, Tensor] = field(default_factory=dict)
    outputs: list[tuple[str, bool | None]] | None = None  # requested (name, binary or None = default)
    binary_output: bool = False  # request-level ``parameters.binary_data_output``
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def timeout_s(self) -> float | None:
        """The request's ``parameters.timeout`` (microseconds, as tritonclient sends it) in seconds."""
        us = self.parameters.get("timeout")
        if isinstance(us, (int, float)) and not isinstance(us, bool) and us > 0:
            return float(us) / 1e6
        return None


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise ProtocolError(f"{where}: 'shape' must be a list of integers")
    if any(d < 0 for d in value):
        raise ProtocolError(f"{where}: 'shape' must not hold negative sizes, got {value}")
    return tuple(value)


def _flatten(data: Any, out: list[Any], depth: int = 0) -> None:
    """Row-major flatten of (possibly nested) JSON lists; v2 allows both forms."""
    if depth > 8:
        raise ProtocolError("'data' is nested too deeply")
    for item in data:
        if isinstance(item, list):
            _flatten(item, out, depth + 1)
        else:
            out.append(item)


def split_bytes_elements(buf: memoryview | bytes, count: int, where: str) -> list[bytes]:
    """Parse ``count`` BYTES elements (4-byte little-endian length + bytes) that fill ``buf`` exactly."""
    view = memoryview(buf)
    items: list[bytes] = []
    pos = 0
    for i in range(count):
        if pos + 4 > len(view):
            raise ProtocolError(f"{where}: binary data truncated in the length of element {i}")
        (n,) = struct.unpack_from("<I", view, pos)
        pos += 4
        if pos + n > len(view):
            raise ProtocolError(
                f"{where}: binary data truncated: element {i} says {n} bytes, {len(view) - pos} remain"
            )
        items.append(bytes(view[pos : pos + n]))
        pos += n
    if pos != len(view):
        raise ProtocolError(f"{where}: {len(view) - pos} bytes left over after {count} elements")
    return items


def join_bytes_elements(items: Iterable[bytes]) -> bytes:
    """BYTES elements -> the binary tensor form (4-byte little-endian length + bytes, each)."""
    return b"".join(struct.pack("<I", len(b)) + bytes(b) for b in items)


def decode_request(
    body: bytes,
    header_length: int | None,
    specs: Sequence[TensorSpec],
    max_elements: int,
    max_batch: int | None = None,
) -> InferRequest:
    """Parse and validate a v2 infer request body against a model's input ``specs``.

    Args:
        body: the whole HTTP body.
        header_length: the ``Inference-Header-Content-Length`` value (None: the body is all JSON).
        specs: the model's inputs; every one is required, others are refused.
        max_elements: refuse an input with more elements than this before allocating anything (413).
        max_batch: refuse an input whose first (batch) dimension is larger (400).

    Raises:
        ProtocolError: 400 with a one-line reason for anything malformed.
    """
    if header_length is None:
        header_length = len(body)
    head = _parse_head(body, header_length)
    req = _new_request(head)
    raw_inputs = head.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ProtocolError("'inputs' must be a non-empty list")
    by_name = {s.name: s for s in specs}
    binary = memoryview(body)[header_length:]
    pos = 0
    for k, item in enumerate(raw_inputs):
        name, datatype, shape = _input_header(item, k, by_name, req.inputs, max_batch)
        count = math.prod(shape)
        if count > max_elements:
            raise ProtocolError(f"input {name!r}: {count} elements, limit {max_elements}", 413)
        size = _binary_size(name, item)
        if size is not None:
            if pos + size > len(binary):
                raise ProtocolError(
                    f"input {name!r}: binary data truncated: needs {size} bytes, {len(binary) - pos} remain"
                )
            data = _binary_data(name, datatype, shape, count, binary[pos : pos + size])
            pos += size
        else:
            data = _json_data(name, datatype, shape, count, item)
        req.inputs[name] = Tensor(name, datatype, shape, data)
    if pos != len(binary):
        raise ProtocolError(f"{len(binary) - pos} bytes of binary data after the last input")
    missing = [s.name for s in specs if s.name not in req.inputs]
    if missing:
        raise ProtocolError(f"missing input(s) {missing}")
    req.outputs = _requested_outputs(head.get("outputs"))
    return req


def _parse_head(body: bytes, header_length: int) -> dict[str, Any]:
    """The request's JSON header: the first ``header_length`` bytes of ``body``, a JSON object."""
    if header_length < 0 or header_length > len(body):
        raise ProtocolError(f"{HEADER_LENGTH} is {header_length} but the body has only {len(body)} bytes")
    try:
        head = json.loads(bytes(body[:header_length]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ProtocolError(f"request header is not valid JSON ({err})") from None
    except RecursionError:
        raise ProtocolError("request header is nested too deeply") from None
    if not isinstance(head, dict):
        raise ProtocolError("request header must be a JSON object")
    return head


def _new_request(head: dict[str, Any]) -> InferRequest:
    """An :class:`InferRequest` with the header's id and parameters, no inputs yet."""
    params = head.get("parameters") or {}
    if not isinstance(params, dict):
        raise ProtocolError("'parameters' must be an object")
    return InferRequest(
        id=str(head.get("id", "")),
        parameters=params,
        binary_output=bool(params.get("binary_data_output", False)),
    )


def _input_header(
    item: Any, k: int, by_name: dict[str, TensorSpec], seen: dict[str, Tensor], max_batch: int | None
) -> tuple[str, str, tuple[int, ...]]:
    """(name, datatype, shape) of ``inputs[k]``: a known input, given once, of the model's datatype,
    with a batch within ``max_batch``."""
    if not isinstance(item, dict):
        raise ProtocolError(f"inputs[{k}] must be an object")
    name = item.get("name")
    if not isinstance(name, str) or name not in by_name:
        raise ProtocolError(f"inputs[{k}]: unknown input {name!r}; this model takes {sorted(by_name)}")
    if name in seen:
        raise ProtocolError(f"input {name!r} given twice")
    spec = by_name[name]
    datatype = item.get("datatype")
    if datatype != spec.datatype:
        raise ProtocolError(f"input {name!r}: datatype must be {spec.datatype}, got {datatype!r}")
    shape = _shape(item.get("shape"), f"input {name!r}")
    if max_batch is not None and shape and shape[0] > max_batch:
        raise ProtocolError(f"input {name!r}: batch of {shape[0]}, limit {max_batch}")
    return name, datatype, shape


def _binary_size(name: str, item: dict[str, Any]) -> int | None:
    """The input's ``parameters.binary_data_size`` (None: its data is in the JSON ``data``)."""
    iparams = item.get("parameters") or {}
    if not isinstance(iparams, dict):
        raise ProtocolError(f"input {name!r}: 'parameters' must be an object")
    size = iparams.get("binary_data_size")
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ProtocolError(f"input {name!r}: binary_data_size must be a non-negative integer")
    if "data" in item:
        raise ProtocolError(f"input {name!r}: both 'data' and binary_data_size given")
    return size


def _binary_data(name: str, datatype: str, shape: tuple[int, ...], count: int, chunk: memoryview) -> Any:
    """A binary input's data: BYTES elements, or an array of ``shape`` that ``chunk`` fills exactly."""
    if datatype == "BYTES":
        return split_bytes_elements(chunk, count, f"input {name!r}")
    dtype = np.dtype(DTYPES[datatype])
    if len(chunk) != count * dtype.itemsize:
        raise ProtocolError(
            f"input {name!r}: shape {list(shape)} of {datatype} needs {count * dtype.itemsize} "
            f"bytes, binary_data_size is {len(chunk)}"
        )
    return np.frombuffer(chunk, dtype=dtype).reshape(shape)


def _json_data(name: str, datatype: str, shape: tuple[int, ...], count: int, item: dict[str, Any]) -> Any:
    """A JSON input's data (nested or flat ``data``): BYTES from strings, else an array of ``shape``."""
    if "data" not in item:
        raise ProtocolError(f"input {name!r}: no 'data' and no binary_data_size")
    raw = item["data"]
    flat: list[Any] = []
    _flatten(raw if isinstance(raw, list) else [raw], flat)
    if len(flat) != count:
        raise ProtocolError(f"input {name!r}: shape {list(shape)} needs {count} values, got {len(flat)}")
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in flat):
            raise ProtocolError(f"input {name!r}: BYTES data in JSON must be strings")
        return [v.encode("utf-8") for v in flat]
    return _json_numbers(name, datatype, shape, flat)


def _json_numbers(name: str, datatype: str, shape: tuple[int, ...], flat: list[Any]) -> np.ndarray:
    """JSON numbers (booleans for BOOL) as an array of ``datatype``, each within the type's range."""
    want = bool if datatype == "BOOL" else (int, float)
    if not all(isinstance(v, want) and (datatype == "BOOL" or not isinstance(v, bool)) for v in flat):
        raise ProtocolError(
            f"input {name!r}: {datatype} data must be {'booleans' if want is bool else 'numbers'}"
        )
    try:
        arr = np.array(flat, dtype=np.float64 if datatype.startswith("FP") else np.int64)
        if datatype in ("UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32"):
            info = np.iinfo(DTYPES[datatype])
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                raise ProtocolError(f"input {name!r}: values out of range for {datatype}")
        return arr.astype(DTYPES[datatype]).reshape(shape)
    except (TypeError, ValueError, OverflowError) as err:
        raise ProtocolError(f"input {name!r}: bad {datatype} data ({err})") from None


def _requested_outputs(raw_outputs: Any) -> list[tuple[str, bool | None]] | None:
    """The header's ``outputs``: (name, binary flag or None for the request's default); None when absent."""
    if raw_outputs is None:
        return None
    if not isinstance(raw_outputs, list):
        raise ProtocolError("'outputs' must be a list")
    outputs: list[tuple[str, bool | None]] = []
    for k, item in enumerate(raw_outputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ProtocolError(f"outputs[{k}] must be an object with a 'name'")
        oparams = item.get("parameters") or {}
        if not isinstance(oparams, dict):
            raise ProtocolError(f"outputs[{k}]: 'parameters' must be an object")
        flag = oparams.get("binary_data")
        outputs.append((item["name"], None if flag is None else bool(flag)))
    return outputs


def encode_response(
    model_name: str,
    model_version: str,
    request: InferRequest,
    outputs: Sequence[tuple[TensorSpec, np.ndarray]],
    parameters: dict[str, Any] | None = None,
    key: bytes | None = None,
) -> tuple[bytes, int | None]:
    """A v2 infer response: (body, JSON header length or None when the body is all JSON).

    Only the requested outputs are returned (all when the request names none), each in binary when
    the request asks for it (per output, or ``binary_data_output`` for the rest). With ``key`` (the
    shared token) and a request that carries ``parameters.facegate_nonce``, the response parameters
    hold ``facegate_hmac`` (:func:`answer_mac` over the returned outputs).

    Raises:
        ProtocolError: 400 when the request names an output the model does not have.
    """
    produced = {spec.name: (spec, arr) for spec, arr in outputs}
    wanted: list[tuple[str, bool]]
    if request.outputs is None:
        wanted = [(spec.name, request.binary_output) for spec, _ in outputs]
    else:
        wanted = [(n, request.binary_output if b is None else b) for n, b in request.outputs]
    head_outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    signed: list[tuple[str, str, np.ndarray]] = []
    for name, binary in wanted:
        if name not in produced:
            raise ProtocolError(f"unknown output {name!r}; this model has {sorted(produced)}")
        spec, arr = produced[name]
        arr = np.ascontiguousarray(arr, dtype=DTYPES[spec.datatype])
        entry: dict[str, Any] = {"name": name, "datatype": spec.datatype, "shape": list(arr.shape)}
        signed.append((name, spec.datatype, arr))
        if binary:
            blob = arr.tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            # JSON has no NaN: padding/absent values become null
            flat = arr.reshape(-1).tolist()
            if arr.dtype.kind == "f":
                flat = [v if math.isfinite(v) else None for v in flat]
            entry["data"] = flat
        head_outputs.append(entry)
    head: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": head_outputs}
    if request.id:
        head["id"] = request.id
    parameters = dict(parameters or {})
    nonce = request.parameters.get(NONCE_PARAMETER)
    if key and isinstance(nonce, str):
        parameters[MAC_PARAMETER] = answer_mac(key, nonce, model_name, signed)
    if parameters:
        head["parameters"] = parameters
    text = json.dumps(head, separators=(",", ":")).encode("utf-8")
    if not blobs:
        return text, None
    return text + b"".join(blobs), len(text)


def answer_mac(
    key: bytes, nonce: str, model_name: str, outputs: Iterable[tuple[str, str, np.ndarray]]
) -> str:
    """Hex HMAC-SHA256 keyed by the shared token over the client's nonce, the model name and each
    output (name, datatype, shape, little-endian row-major bytes) in the answer's order.

    The endpoint adds it to every answer whose request carried a nonce; the client recomputes it
    from the tensors it received, so an answer from anyone without the token (a rogue or spoofed
    endpoint, a replay of an older answer) is refused.
    """
    import hashlib
    import hmac

    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in (b"facegate-answer-v1", nonce.encode("utf-8"), model_name.encode("utf-8")):
        mac.update(struct.pack("<I", len(part)) + part)
    for name, datatype, arr in outputs:
        if datatype == "BYTES":
            data = join_bytes_elements(bytes(v) for v in np.asarray(arr, dtype=object).reshape(-1))
        else:
            data = np.ascontiguousarray(arr, dtype=np.dtype(DTYPES[datatype]).newbyteorder("<")).tobytes()
        head = json.dumps([name, datatype, [int(d) for d in np.shape(arr)]]).encode("utf-8")
        mac.update(struct.pack("<I", len(head)) + head + struct.pack("<Q", len(data)))
        mac.update(data)
    return mac.hexdigest()


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback interface."""
    import ipaddress

    if not host:
        return False
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def error_body(message: str) -> bytes:
    """The v2 error object ``{"error": message}`` as bytes."""
    return json.dumps({"error": message}).encode("utf-8")


def wait_until_ready(url: str, timeout_s: float, proc: Any = None, what: str = "the endpoint") -> None:
    """Poll ``GET {url}/v2/health/ready`` until it answers 200.

    Raises :class:`core.errors.FaceGateError` when ``proc`` (a ``subprocess.Popen``) exits first or
    ``timeout_s`` passes; the message names ``what``.
    """
    import time
    import urllib.error
    import urllib.request

    from core.errors import FaceGateError

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise FaceGateError(f"{what} exited with code {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise FaceGateError(f"{what} on {url} was not ready after {timeout_s:.0f} s")
