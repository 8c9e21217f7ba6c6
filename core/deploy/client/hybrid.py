"""Hybrid mode: detect (and track) and align locally, embed the crops remotely in one batch, match locally.

With the engine's tracker, routine questions go in the background (:meth:`HybridPipeline.defer`): the
crops of a frame's new, undecided or re-checked faces leave in one request and the frame goes on; the
answer is recorded on a later frame, for the track it was asked for. Meanwhile that track is
*pending*: it is not asked again (its face shows as undecided, "checking..."). A face the tracker
doubts (it may be someone else now: a jump, a gap, another look, crowding, clear again) is answered
within its frame, as before, and any answer still on its way for that track is dropped when it
arrives: it was about the face before the doubt.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.config import defaults
from core.deploy.client.base import FALLBACK_SUFFIX, RemotePipeline
from core.deploy.client.errors import EndpointError, describe
from core.deploy.client.transport import EndpointLink, Reply
from core.deploy.protocol import CROPS_INPUT, CROPS_JPEG_INPUT, CROPS_OUTPUT, crops_model_name
from core.types import Face

if TYPE_CHECKING:
    from core.pipeline import Pipeline

log = logging.getLogger(__name__)

#: recognition reasons (``FaceTrack.recognition_reason``) asked in the background: nothing suggests the
#: face is someone else than the track's. Every other reason is a doubt, answered within its frame.
ROUTINE = frozenset({"new", "undecided", "weak", "reverify"})
BACKGROUND_WORKERS = 2  # requests in flight at once per pipeline (each track has at most one)
#: a new track's first clear crops travel together, in one request: the evidence a decision needs
#: (TrackerConfig.min_agree agreeing results) in one round trip instead of one round trip each
FIRST_CROPS = defaults().tracker.min_agree

Observe = Callable[[list[Face]], None]


@dataclass
class _Asked:
    """One face asked about: a copy of it as seen on its frame (the answer is recorded on it), its crop."""

    face: Face
    track: int  # its track id when asked
    crop: np.ndarray
    original: Face  # the frame's own face (used when its own frame embeds it locally)


@dataclass
class _Request:
    """Crops sent together in the background (one frame's questions, and new tracks' first crops)."""

    asked: list[_Asked]
    future: Future[tuple[np.ndarray, list[Reply]]]


@dataclass
class _Questions:
    """One engine's (one tracker's) questions: held back, and on their way."""

    requests: list[_Request] = field(default_factory=list)
    pending: dict[int, _Request] = field(default_factory=dict)  # track id -> its request in flight
    held: dict[int, list[_Asked]] = field(default_factory=dict)  # new track -> its first crops, not sent yet


class HybridPipeline(RemotePipeline):
    """Detect (and track) locally; align crops locally; embed them remotely in one batch; match locally."""

    mode = "hybrid"

    def __init__(
        self,
        local: Pipeline,
        link: EndpointLink,
        crop_format: str = "jpeg",
        crop_quality: int = 90,
        background: bool = True,
        first_crops: int = FIRST_CROPS,
    ) -> None:
        super().__init__(local, link)
        self.crop_format, self.crop_quality = crop_format, int(crop_quality)
        self.model_name = crops_model_name(self.recognizer.model, crop_format)
        self.background = bool(background)
        self.first_crops = max(1, int(first_crops))
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._questions: dict[Observe, _Questions] = {}

    def _check(self, meta: dict[str, Any]) -> int:
        return self._check_format(meta, self.crop_format, self.model_name)

    def _check_raw(self, meta: dict[str, Any]) -> int:
        return self._check_format(meta, "raw", crops_model_name(self.recognizer.model, "raw"))

    def _check_format(self, meta: dict[str, Any], crop_format: str, model_name: str) -> int:
        s = int(self.recognizer.input_size)
        ins = {i.get("name"): i for i in meta.get("inputs", [])}
        if crop_format == "jpeg":
            if ins.get(CROPS_JPEG_INPUT, {}).get("datatype") != "BYTES":
                raise EndpointError(f"{model_name} has no BYTES {CROPS_JPEG_INPUT} input")
            return self._check_embeddings(meta, model_name)
        crops = ins.get(CROPS_INPUT)
        if (
            crops is None
            or crops.get("datatype") != "UINT8"
            or list(crops.get("shape", []))[-3:] != [s, s, 3]
        ):
            raise EndpointError(
                f"{model_name} needs a UINT8 {CROPS_INPUT} input of [N, {s}, {s}, 3]; it has {crops}"
            )
        return self._check_embeddings(meta, model_name)

    def _model(self) -> Any:
        """The crops model's info; JPEG crops to an endpoint without a usable ``<model>_crops_jpeg`` (a plain
        Triton serving only ``<model>_crops``) switch to raw crops, with a warning, instead of failing."""
        try:
            return self.link.model(self.model_name, self._check)
        except Exception as err:  # no such model, or its metadata is not JPEG crops
            if self.crop_format != "jpeg" or not (isinstance(err, EndpointError) or _unknown_model(err)):
                raise
        raw = crops_model_name(self.recognizer.model, "raw")
        info = self.link.model(raw, self._check_raw)
        if self.crop_format == "jpeg":
            log.warning("%s", f"{self.link.endpoint} has no {self.model_name}: sending raw crops to {raw}")
            self.crop_format, self.model_name = "raw", raw
        return info

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        self._begin_frame()
        if not self.link.available():
            self._net.fallback = True  # the CSV shows the outage on every frame, not only on requests
        return self.local.detect(image_bgr)

    # ---------------------------------------------------------------- background questions
    def defer(self, image_bgr: np.ndarray, faces: list[Face], observe: Observe) -> list[Face]:
        """The engine's hook, after ``tracker.update``: ``faces`` are all the frame's tracked faces.

        Records the answers that came back since the last frame (``observe(faces)`` matches them and
        gives them to the tracker, one call per request, oldest first; an answer for a track doubted
        since it was asked is dropped), sends this frame's routine questions in one background request
        (none for a track whose request is still on its way: it is pending), and returns the faces to
        recognise within this frame (``embed`` + ``match`` as usual): the doubted ones, or all that
        need it while the endpoint is down (processed locally). ``observe`` identifies the caller: each
        engine (tracker) using this pipeline has its own pending tracks.
        """
        asked = [f for f in faces if f.tracking.needs_recognition]
        if not self.background:
            return asked
        with self._lock:
            q = self._questions.setdefault(observe, _Questions())
            now: list[Face] = []
            routine: list[Face] = []
            for f in faces:
                reason = f.tracking.recognition_reason
                doubted = f.tracking.doubt is not None or (
                    f.tracking.needs_recognition and reason not in ROUTINE
                )
                if doubted and f.track_id is not None:  # what is held or on its way shows the face before
                    q.pending.pop(f.track_id, None)
                    q.held.pop(f.track_id, None)
                if not f.tracking.needs_recognition:
                    continue
                (now if doubted or f.track_id is None else routine).append(f)
            answered = self._collect(q, observe, wait=False)
            send: list[_Asked] = []
            fresh = set()
            for f in routine:
                tid = int(f.track_id)  # type: ignore[arg-type]
                if tid in q.pending:
                    continue  # pending: its answer is on the way
                done = answered.get(tid)
                if done is not None and (done.track_id != tid or not done.tracking.pending):
                    continue  # just answered: decided now, or split off (the tracker asks again if needed)
                item = self._ask(image_bgr, f)
                if f.tracking.recognition_reason == "new" and self.first_crops > 1:
                    held = q.held.setdefault(tid, [])  # nothing known of it yet: gather its first crops
                    held.append(item)
                    fresh.add(tid)
                    if len(held) >= self.first_crops:
                        send += q.held.pop(tid)
                else:
                    send.append(item)
            for tid in [t for t in q.held if t not in fresh]:  # no longer asked (not clear, gone): send
                send += q.held.pop(tid)
            if not send:
                return now
            if self._net.fallback or not self.link.available():  # the endpoint is down: embed here
                current = {id(f) for f in routine}
                earlier = [a for a in send if id(a.original) not in current]
                if earlier:  # held from earlier frames: embedded and recorded here
                    self._record(
                        observe, earlier, self.recognizer.embed_crops(_stack(earlier)), FALLBACK_SUFFIX
                    )
                return now + [a.original for a in send if id(a.original) in current]
            self._send(q, send)
            return now

    def drain(self, observe: Observe) -> None:
        """Send what is held back, wait for the caller's questions on their way (up to the request
        timeout each) and record their answers."""
        with self._lock:
            q = self._questions.pop(observe, None)
            if q is None:
                return
            held = [a for items in q.held.values() for a in items]
            q.held.clear()
            if held:
                self._send(q, held)
            self._collect(q, observe, wait=True)

    def _ask(self, image_bgr: np.ndarray, face: Face) -> _Asked:
        kept = copy.copy(face)  # the answer is recorded on a copy: the frame's own result stays as it was
        kept.tracking = copy.copy(face.tracking)
        return _Asked(kept, int(face.track_id or 0), self.recognizer.align(image_bgr, face), face)

    def _send(self, q: _Questions, asked: list[_Asked]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(BACKGROUND_WORKERS, thread_name_prefix="hybrid-embed")
        request = _Request(asked, self._pool.submit(self._remote_embed, _stack(asked)))
        q.requests.append(request)
        for a in asked:
            q.pending[a.track] = request

    def _collect(self, q: _Questions, observe: Observe, wait: bool) -> dict[int, Face]:
        """Record the finished requests' answers (all of them with ``wait``); {track id asked: its face}.

        A failed request's crops are embedded here (the frame reads ``hybrid->local``); an answer for a
        track that was doubted since is dropped."""
        answered: dict[int, Face] = {}
        for request in list(q.requests):
            if not (wait or request.future.done()):
                continue
            q.requests.remove(request)
            try:
                emb, replies = request.future.result(timeout=self.link.timeout_s + 1.0 if wait else None)
                for reply in replies:
                    self._net.add(reply)
                suffix = ""
            except Exception as err:  # noqa: BLE001 - EndpointError, or what the metadata calls raise
                if not self._net.fallback:  # one failure a frame (requests in flight fail together)
                    self._fall_back(None, str(err) if isinstance(err, EndpointError) else describe(err))
                emb, suffix = self.recognizer.embed_crops(_stack(request.asked)), FALLBACK_SUFFIX
            valid, kept = [], []
            for a, e in zip(request.asked, emb, strict=True):
                # not pending on this request any more: doubted since, it shows the face before the doubt
                if q.pending.get(a.track) is request:
                    valid.append(a)
                    kept.append(e)
            for a in valid:
                q.pending.pop(a.track, None)
            if valid:
                answered.update(self._record(observe, valid, np.stack(kept), suffix))
        return answered

    def _record(self, observe: Observe, asked: list[_Asked], emb: np.ndarray, suffix: str) -> dict[int, Face]:
        """Give the answers to the tracker: one ``observe`` per frame they were asked on, oldest first."""
        frames: dict[int, list[Face]] = {}
        answered = {}
        for a, e in zip(asked, emb, strict=True):
            a.face.embedding, a.face.embedded_by = e, self.mode + suffix
            frames.setdefault(int(a.face.tracking.frame_index or 0), []).append(a.face)
            answered[a.track] = a.face
        for k in sorted(frames):
            observe(frames[k])
        return answered

    def embed(self, image_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Align ``faces`` here, embed the crops on the endpoint (locally if it fails); sets ``embedding``.

        Synchronous: the frame waits for the answer (what :meth:`process`, and the engine for the faces
        :meth:`defer` keeps, use)."""
        rec = self.recognizer
        if not faces:
            return np.zeros((0, rec.dim), np.float32)
        crops = np.stack([rec.align(image_bgr, f) for f in faces])
        emb = None
        if not self._net.fallback and self.link.available():
            t0 = time.perf_counter()
            try:
                emb, replies = self._remote_embed(crops)
                for reply in replies:
                    self._net.add(reply)
            except EndpointError as err:
                self._fall_back(t0, str(err))
            except Exception as err:  # noqa: BLE001 - metadata calls raise tritonclient/socket errors
                self._fall_back(t0, describe(err))
        else:
            self._net.fallback = True
        if emb is None:
            emb = rec.embed_crops(crops)
        for f, e in zip(faces, emb, strict=True):
            f.embedding = e
            f.embedded_by = self.mode + (FALLBACK_SUFFIX if self._net.fallback else "")
        return emb

    def _remote_embed(self, crops: np.ndarray) -> tuple[np.ndarray, list[Reply]]:
        """Embed ``crops`` on the endpoint: (unit embeddings, the replies); raises on any failure."""
        import tritonclient.http as httpclient

        info = self._model()
        name, jpeg = self.model_name, self.crop_format == "jpeg"
        out, replies = [], []
        for i in range(0, len(crops), info.max_batch):
            part = np.ascontiguousarray(crops[i : i + info.max_batch], np.uint8)
            if jpeg:
                import cv2

                params = [cv2.IMWRITE_JPEG_QUALITY, self.crop_quality]
                blobs = [
                    cv2.imencode(".jpg", cv2.cvtColor(c, cv2.COLOR_RGB2BGR), params)[1].tobytes()
                    for c in part
                ]
                inp = httpclient.InferInput(CROPS_JPEG_INPUT, [len(blobs), 1], "BYTES")
                inp.set_data_from_numpy(np.array(blobs, dtype=np.object_).reshape(-1, 1), binary_data=True)
                size = sum(4 + len(b) for b in blobs)
            else:
                inp = httpclient.InferInput(CROPS_INPUT, list(part.shape), "UINT8")
                inp.set_data_from_numpy(part, binary_data=True)
                size = part.nbytes
            reply = self.link.infer(name, [inp], [CROPS_OUTPUT], bytes_up=size)
            replies.append(reply)
            emb = np.asarray(reply.outputs[CROPS_OUTPUT], np.float32)
            if emb.shape != (len(part), self.recognizer.dim):
                raise EndpointError(
                    f"{self.model_name}: {list(emb.shape)} embeddings for {len(part)} crops, "
                    f"expected [{len(part)}, {self.recognizer.dim}]"
                )
            out.append(emb)
        emb = np.concatenate(out)
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        if not np.all(np.isfinite(emb)) or np.any(norms < 1e-6):
            raise EndpointError(f"{self.model_name}: answer holds non-finite or zero embeddings")
        return emb / norms, replies

    def close(self) -> None:
        """Forget the questions on their way (their answers are dropped), stop the workers, close the link."""
        with self._lock:
            self._questions.clear()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        super().close()


def _unknown_model(err: BaseException) -> bool:
    """The endpoint answered that it does not serve the model (``main.py serve``: 404; Triton: 400)."""
    status = getattr(err, "status", None)
    code = str(status() if callable(status) else "")
    text = str(err).lower()
    return code in ("400", "404") and ("unknown model" in text or "not found" in text)


def _stack(asked: list[_Asked]) -> np.ndarray:
    return np.stack([a.crop for a in asked])
