"""Face tracking for access control: every person who appears gets exactly one decision, bound to their face.

Per frame the caller (:class:`core.engine.Engine`) does::

    faces = detector.detect(image)
    tracker.update(faces, frame.index, frame.timestamp, image)
    todo = [f for f in faces if f.tracking.needs_recognition]
    ...embed + match only ``todo`` (locally or remotely)...
    tracker.observe_many(todo, threshold)
    events = tracker.pop_events()

What makes the log trustworthy (each rule has a test in tests/test_tracking.py):

- **A track remembers the face it follows**: a running mean of its embeddings and a small grey patch of the
  face at its last recognition. A detection that may hold another face (a jump in place or size, a gap, the
  patch no longer looking like the remembered one, two boxes overlapping, a regular re-check) is recognised
  again.
- **A face that is not the track's person starts a new track** instead of being voted into the old one: its
  embedding is further than the recognizer's threshold from the track's own mean (or it strongly matches
  another enrolled person). Faces of the same frame are first re-paired with the tracks they look like, so two
  people crossing keep their names.
- **Evidence before a decision**: only clear faces (big enough, confidently detected, not cut by the frame
  edge) count. Granted/denied after ``min_agree`` results name the same person within the threshold, as a
  majority, with their median distance at least ``margin`` inside it; unknown after ``min_unknown`` clear
  results match nobody; unknown ("ambiguous") after ``max_undecided`` mixed results.
- **No silent tracks**: a clearly seen track that ends undecided is logged as unknown ("too-brief"). A
  decided track whose identity later moves (same face, now matching someone else) yields a second event of
  kind "change"; so does the first decision of a track split off a decided one without a gap (someone took
  the decided person's place in the box). Events come out of :meth:`Tracker.pop_events` the frame they are
  made.

Units: boxes in px ``[x1, y1, x2, y2]``; ``frame_index`` counts *captured* frames (``Frame.index``), so
frames the grabber dropped show up as gaps and motion prediction stays right; distances are L2 (0..2).
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from core.config import TrackerConfig
from core.crops import clip_crop
from core.geometry import assign, hungarian, iou_matrix
from core.types import Face

log = logging.getLogger(__name__)
_T = TypeVar("_T")

GRANTED, DENIED, UNKNOWN = "granted", "denied", "unknown"
KIND_DECISION, KIND_CHANGE = "decision", "change"  # AccessEvent.kind: a first decision, or a change
_PATCH = 16  # side of the grey appearance patch, px
_KEEP_DECIDED = 15  # results kept per decided track (to see a change of identity)
_KEEP_PATCHES = 8  # reference looks per track for the appearance check


@dataclass
class AccessEvent:
    """An access decision, bound to the track (face) it was made on.

    ``kind`` is "decision" (a track's one decision) or "change": a decided track whose identity moved
    later, or the first decision of a face that took a decided person's place without a gap (tailgating).
    ``reason``: "matched", "policy" (enrolled, denied by policy), "schedule" (outside their schedule),
    "no-match", "ambiguous" (mixed results), "too-brief" (left before enough evidence),
    "identity-changed".
    """

    timestamp: float  # time.time() of the frame the decision was made on
    track_id: int
    identity: str | None  # None for a stranger
    distance: float | None  # median L2 distance of the results backing the decision
    decision: str  # "granted" | "denied" | "unknown"
    frame_index: int = 0
    observations: int = 0  # recognition results of this face the decision rests on
    reason: str = ""
    kind: str = KIND_DECISION
    previous: str | None = None  # kind "change": the identity shown before
    camera: str = ""
    clear_timestamp: float | None = None  # time.time() of the face's first clear frame
    event_id: int | None = None  # the store's row id, once written

    @property
    def time_to_decision_ms(self) -> float | None:
        if self.clear_timestamp is None:
            return None
        return max(0.0, (self.timestamp - self.clear_timestamp) * 1e3)


@dataclass
class Observation:
    frame_index: int
    identity: str | None
    distance: float | None
    threshold: float

    def supports(self) -> bool:
        """Names someone within the threshold."""
        return self.identity is not None and self.distance is not None and self.distance <= self.threshold

    def no_match(self) -> bool:
        return self.identity is None


@dataclass
class Track:
    track_id: int
    box: np.ndarray  # (4,) float64 px, last matched detection
    first_frame: int
    last_frame: int
    last_timestamp: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # px per frame, per box coordinate
    hits: int = 1  # frames with a matched detection
    missed: int = 0  # consecutive updates without a match
    # --- what the track's person looks like and what was decided (moves with the person on a re-pairing)
    observations: list[Observation] = field(default_factory=list)  # since the track (or its decision)
    total_observations: int = 0
    last_observed_frame: int | None = None
    emb_sum: np.ndarray | None = None  # sum of the unit embeddings observed
    emb_n: int = 0
    patches: list[np.ndarray] = field(default_factory=list)  # grey patches at its recent recognitions
    clear_frames: int = 0
    clear_timestamp: float | None = None
    was_clear: bool = False
    identity: str | None = None  # shown identity (only once decided)
    distance: float | None = None
    decision: str | None = None  # "granted" | "denied" | "unknown" once decided
    event: AccessEvent | None = None  # the track's decision event
    previous: str | None = None  # identity of the decided track this one was split from (no gap)
    crowded_until: int = -1

    @property
    def decided(self) -> bool:
        return self.event is not None

    def mean_embedding(self) -> np.ndarray | None:
        if self.emb_sum is None or self.emb_n == 0:
            return None
        n = float(np.linalg.norm(self.emb_sum))
        return self.emb_sum / n if n > 0 else None

    def predict(self, frame_index: int) -> np.ndarray:
        """Constant-velocity box at ``frame_index``."""
        return self.box + self.velocity * max(0, frame_index - self.last_frame)


# the fields that belong to the person, not to the box: swapped when faces are re-paired with tracks
_PERSON_FIELDS = (
    "track_id first_frame observations total_observations last_observed_frame emb_sum emb_n patches "
    "clear_frames clear_timestamp identity distance decision event previous"
).split()


class Tracker:
    """Associates faces across frames, decides who needs recognition, decides access once per face.

    Args:
        config: the settings (core/config.py's :class:`TrackerConfig`, where each is described);
            ``overrides`` replace single ones, e.g. ``Tracker(min_agree=2)``. Out-of-bounds values raise
            :class:`core.config.ConfigError`.
        policy_of: name -> their policy ("allowed" | "denied" | None), or the ``(decision, reason)`` pair
            it yields now (resolve schedules inside it). "allowed" gives "granted", anything else "denied"
            (default deny). Without it every known identity is granted.
    """

    def __init__(
        self,
        config: TrackerConfig | None = None,
        policy_of: Callable[[str], Any] | None = None,
        **overrides: Any,
    ) -> None:
        self.config = dataclasses.replace(config or TrackerConfig(), **overrides)
        self.policy_of = policy_of
        self.reset()

    def reset(self) -> None:
        """Forget every track, event and counter (e.g. when the source changes)."""
        self._tracks: dict[int, Track] = {}
        self._next_id = 1
        self._events: list[AccessEvent] = []
        self._counts: Counter[str] = Counter()

    @property
    def tracks(self) -> list[Track]:
        """The active tracks (a copy of the list; the tracks themselves are live)."""
        return list(self._tracks.values())

    def model_changed(self) -> None:
        """The recognizer model changed: embeddings and distances are on another scale. Forget what each
        track's face looked like and recognise every track again (decisions stand)."""
        for t in self._tracks.values():
            t.emb_sum, t.emb_n = None, 0
            t.last_observed_frame = -(10**9)
            if not t.decided:
                t.observations.clear()

    # ------------------------------------------------------------------ association
    def _match(
        self, tracks: list[Track], boxes: np.ndarray, frame_index: int
    ) -> list[tuple[int, int, float]]:
        """(track, detection, IoU with the track's predicted box) for each match."""
        if not tracks or len(boxes) == 0:
            return []
        pred = np.stack([t.predict(frame_index) for t in tracks])
        iou = iou_matrix(pred, boxes)
        size_p = _side(pred)
        size_d = _side(boxes)
        cp = (pred[:, :2] + pred[:, 2:]) / 2
        cd = (boxes[:, :2] + boxes[:, 2:]) / 2
        shift = np.linalg.norm(cp[:, None, :] - cd[None, :, :], axis=2) / (
            (size_p[:, None] + size_d[None, :]) / 2
        )
        ratio = size_p[:, None] / size_d[None, :]
        by_iou = iou >= self.config.iou_threshold
        by_centre = (shift <= self.config.max_centre_shift) & (ratio <= 1.5) & (ratio >= 1 / 1.5)
        cost = np.where(by_iou, 1.0 - iou, 1.0 + shift)  # any IoU match beats any centre-only match
        return [(ti, fi, float(iou[ti, fi])) for ti, fi in assign(cost, by_iou | by_centre)]

    def _new_track(self, box: np.ndarray, frame_index: int, ts: float) -> Track:
        t = Track(self._next_id, np.asarray(box, np.float64).copy(), frame_index, frame_index, ts)
        self._next_id += 1
        self._tracks[t.track_id] = t
        self._counts["tracks_created"] += 1
        return t

    # ------------------------------------------------------------------ per frame
    def update(
        self,
        faces: list[Face],
        frame_index: int,
        timestamp: float | None = None,
        image: np.ndarray | None = None,
    ) -> list[Face]:
        """Assign ``track_id`` to every face, age/end tracks, and mark who needs recognition.

        ``image`` (BGR, the frame the faces were found in) lets the tracker see whether a face is cut by
        the frame edge and whether it still looks like the face it recognised (a grey patch); without it
        neither check runs. Sets ``face.tracking`` (:class:`core.types.FaceTrack`): ``needs_recognition``,
        ``clear``, ``patch``, ``frame_index``, ``timestamp`` and ``recognition_reason``: "new", "undecided", "reacquired" (found again after missed
        frames), "jump" (a weak or centre-only match, or a size change), "appearance" (the face no longer
        looks like at its last recognition), "crowded" (boxes overlap: people may swap), "clear" (clear
        again after being unclear), "weak", "reverify" or None. Copies the track's decided identity,
        distance and decision onto every face (nothing before a decision: ``face.tracking.pending``).
        Returns ``faces`` (modified in place).
        """
        ts = time.time() if timestamp is None else float(timestamp)
        boxes = np.array([np.asarray(f.box, dtype=np.float64)[:4] for f in faces]).reshape(-1, 4)
        owner, doubtful = self._associate(boxes, frame_index, ts)
        self._mark_crowded(owner, boxes, frame_index)
        shape = None if image is None else image.shape[:2]
        for fi, face in enumerate(faces):
            self._mark_face(face, owner[fi], boxes[fi], frame_index, ts, image, shape, doubtful.get(fi))
        return faces

    def _associate(
        self, boxes: np.ndarray, frame_index: int, ts: float
    ) -> tuple[dict[int, Track], dict[int, str]]:
        """Match detections to tracks (moving them), age unmatched tracks, start new ones. Returns each
        detection's track and, for matches that may hold another face now, why ("reacquired", "jump")."""
        tracks = list(self._tracks.values())
        pairs = self._match(tracks, boxes, frame_index)
        matched_tracks = {ti for ti, _, _ in pairs}
        owner: dict[int, Track] = {}
        doubtful: dict[int, str] = {}
        for ti, fi, iou in pairs:
            t = tracks[ti]
            ratio = _side(boxes[fi : fi + 1])[0] / max(_side(t.box[None])[0], 1e-6)
            if t.missed > 1:  # lost for 2+ updates; a 1-frame miss is left to the patch check
                doubtful[fi] = "reacquired"
            elif iou < self.config.recheck_iou or abs(ratio - 1.0) > self.config.recheck_size:
                doubtful[fi] = "jump"
            self._move(t, boxes[fi], frame_index, ts)
            owner[fi] = t
        for ti, t in enumerate(tracks):
            if ti not in matched_tracks:
                t.missed += 1
                if t.missed > self.config.max_missed:
                    self._end(t)
        for fi in range(len(boxes)):
            if fi not in owner:
                owner[fi] = self._new_track(boxes[fi], frame_index, ts)
        return owner, doubtful

    def _move(self, t: Track, box: np.ndarray, frame_index: int, ts: float) -> None:
        """The track's detection in this frame: box, smoothed velocity, counters."""
        gap = max(1, frame_index - t.last_frame)
        step = (box - t.box) / gap
        t.velocity = (
            step
            if t.hits == 1
            else self.config.velocity_alpha * step + (1 - self.config.velocity_alpha) * t.velocity
        )
        t.box = box.copy()
        t.hits += 1
        t.missed = 0
        t.last_frame = frame_index
        t.last_timestamp = ts

    def _mark_face(
        self,
        face: Face,
        t: Track,
        box: np.ndarray,
        frame_index: int,
        ts: float,
        image: np.ndarray | None,
        shape: tuple[int, int] | None,
        doubt: str | None,
    ) -> None:
        """Set the face's track, whether it is clear, whether (and why) it needs recognition, and what
        its track has decided."""
        clear = self._is_clear(face, shape)
        patch = _grey_patch(image, box) if image is not None else None
        face.tracking.patch = patch
        face.tracking.clear = clear
        if clear:
            t.clear_frames += 1
            if t.clear_timestamp is None:
                t.clear_timestamp = ts
        if doubt is None and clear and not t.was_clear and t.total_observations:
            doubt = "clear"
        t.was_clear = clear
        if doubt is None and patch is not None and t.patches:
            # unlike every look it was recognised with: another face, or a fade (detector jitter recurs,
            # so a few references stop it from asking again and again)
            if max(float(patch @ r) for r in t.patches) < self.config.min_patch_similarity:
                doubt = "appearance"
        if doubt is None and frame_index <= t.crowded_until:
            doubt = "crowded"
        face.tracking.doubt = doubt
        reason = self._recognition_reason(t, frame_index, doubt) if clear else None
        face.track_id = t.track_id
        face.tracking.frame_index = frame_index
        face.tracking.timestamp = ts
        face.tracking.needs_recognition = reason is not None
        face.tracking.recognition_reason = reason
        self._copy_to(t, face)
        self._counts["faces"] += 1
        self._counts["recognitions_requested" if reason else "recognitions_skipped"] += 1

    def _mark_crowded(self, owner: dict[int, Track], boxes: np.ndarray, frame_index: int) -> None:
        """Tracks whose boxes overlap are re-recognised while they do and for 3 frames after."""
        if len(boxes) < 2:
            return
        iou = iou_matrix(boxes, boxes)
        np.fill_diagonal(iou, 0.0)
        for fi in np.nonzero(iou.max(axis=1) > 0.0)[0]:
            owner[int(fi)].crowded_until = frame_index + 3

    def _is_clear(self, face: Face, shape: tuple[int, int] | None) -> bool:
        x1, y1, x2, y2 = (float(v) for v in face.box[:4])
        side = max(x2 - x1, 0.0) * max(y2 - y1, 0.0)  # MTCNN boxes are narrow: the geometric side
        if side < self.config.min_clear_px**2 or float(face.score) < self.config.min_clear_score:
            return False
        if shape is not None:
            h, w = shape
            if x1 < 1 or y1 < 1 or x2 > w - 1 or y2 > h - 1:
                return False  # cut by the frame edge: half a face is no evidence
        return True

    def _recognition_reason(self, t: Track, frame_index: int, doubt: str | None) -> str | None:
        if t.total_observations == 0:
            return "new"
        if not t.decided:
            return doubt or "undecided"
        if doubt is not None:
            return doubt
        last = t.observations[-1] if t.observations else None
        if (
            last is not None
            and last.distance is not None
            and abs(last.distance - last.threshold) <= self.config.margin
        ):
            return "weak"
        if (
            t.last_observed_frame is not None
            and frame_index - t.last_observed_frame >= self.config.reverify_every
        ):
            return "reverify"
        return None

    @staticmethod
    def _copy_to(t: Track, face: Face) -> None:
        face.tracking.pending = not t.decided
        if not t.decided:
            face.identity, face.distance, face.decision = None, None, None
            return
        face.identity = t.identity
        face.distance = t.distance
        face.decision = t.decision

    # ------------------------------------------------------------------ recognition results
    def observe(self, face: Face, identity: str | None, distance: float | None, threshold: float) -> None:
        """Record one recognition result (``face.embedding`` is used when set) and decide if it can."""
        face.identity, face.distance = identity, distance
        self.observe_many([face], threshold)

    def observe_many(self, faces: Sequence[Face], threshold: float) -> None:
        """Record the recognition results of one frame's faces (``face.identity``/``face.distance`` as the
        gallery matched them, ``face.embedding`` if any) and make the decisions they allow.

        ``identity`` None means not matched (stranger); ``distance`` is the L2 distance to the best gallery
        candidate (None if the gallery is empty). First re-pairs faces with the tracks whose faces they look
        like (people crossing), then splits off a new track for a face that is not its track's person.
        A result for a track that has already ended (a late remote answer) is ignored. Sets the decided
        identity/distance/decision on each face.
        """
        live = []
        for face in faces:
            if face.track_id is None:
                raise ValueError(
                    "observe() needs a face that went through Tracker.update() (track_id is None)"
                )
            face.tracking.observed = True
            face.tracking.raw_identity = face.identity
            face.tracking.raw_distance = face.distance
            if face.track_id not in self._tracks:
                log.debug("track %d already ended; recognition result ignored", face.track_id)
                continue
            live.append(face)
        self._repair(live)
        for face in live:
            self._observe_one(face, float(threshold))

    def _repair(self, faces: list[Face]) -> None:
        """Give each face the track whose remembered face it is closest to (two people crossing)."""
        cands = [f for f in faces if f.embedding is not None]
        tracks = [self._tracks[f.track_id] for f in cands]  # type: ignore[index]
        means = [t.mean_embedding() for t in tracks]
        if len(cands) < 2 or sum(m is not None for m in means) < 2:
            return
        emb = np.stack([np.asarray(f.embedding, np.float32) for f in cands])
        cost = np.full((len(cands), len(tracks)), 1.0)  # a track with no mean yet costs "undecided"
        for j, m in enumerate(means):
            if m is not None:
                cost[:, j] = np.linalg.norm(emb - m[None, :], axis=1)
        pairs = hungarian(cost.tolist())
        if all(i == j for i, j in pairs):
            return
        current = float(np.trace(cost))
        better = sum(cost[i, j] for i, j in pairs)
        if better > current - 0.2:  # a clear improvement only
            return
        payloads = [{k: getattr(t, k) for k in _PERSON_FIELDS} for t in tracks]
        for i, j in pairs:  # face i keeps its box's track object, which takes the person of track j
            t = tracks[i]
            for k, v in payloads[j].items():
                setattr(t, k, v)
        for t in tracks:
            self._tracks[t.track_id] = t
        for f, t in zip(cands, tracks):
            f.track_id = t.track_id
        self._counts["re_paired"] += 1
        log.info("re-paired %d crossing faces with their tracks", len(cands))

    def _observe_one(self, face: Face, threshold: float) -> None:
        t = self._tracks[face.track_id]  # type: ignore[index]
        frame_index = int(_or(face.tracking.frame_index, t.last_frame))
        identity, distance = face.identity, face.distance
        emb = None if face.embedding is None else np.asarray(face.embedding, np.float32)
        mean = t.mean_embedding()
        self_d = None if (emb is None or mean is None) else float(np.linalg.norm(emb - mean))
        obs = Observation(frame_index, identity, None if distance is None else float(distance), threshold)
        split_at = self.config.split_distance if self.config.split_distance is not None else threshold
        if self_d is not None and self_d > split_at:  # not the face this track follows
            t = self._split(t, face, frame_index)
        t.observations.append(obs)
        if t.decided and len(t.observations) > _KEEP_DECIDED:
            del t.observations[0]
        t.total_observations += 1
        t.last_observed_frame = (
            frame_index if t.last_observed_frame is None else max(t.last_observed_frame, frame_index)
        )
        if emb is not None:
            t.emb_sum = emb.astype(np.float64) if t.emb_sum is None else t.emb_sum + emb
            t.emb_n += 1
        patch = face.tracking.patch
        if patch is not None:
            t.patches = [*t.patches[-(_KEEP_PATCHES - 1) :], patch]
        self._counts["observations"] += 1
        self._decide_track(t, face)
        self._copy_to(t, face)

    def _split(self, old: Track, face: Face, frame_index: int) -> Track:
        """``face`` is not ``old``'s person: end ``old`` and follow ``face`` with a new track."""
        new = self._new_track(old.box, frame_index, old.last_timestamp)
        new.velocity = old.velocity.copy()
        new.hits, new.clear_frames, new.was_clear = 1, 1, True
        new.clear_timestamp = float(_or(face.tracking.timestamp, old.last_timestamp))
        reacquired = face.tracking.recognition_reason == "reacquired"
        if old.decided and not reacquired:
            new.previous = old.identity if old.identity is not None else UNKNOWN
        self._end(old)
        face.track_id = new.track_id
        self._counts["splits"] += 1
        log.info("track %d: another face in its box; following it as track %d", old.track_id, new.track_id)
        return new

    # ------------------------------------------------------------------ decisions
    def _decide_track(self, t: Track, face: Face) -> None:
        obs = t.observations
        ts = float(_or(face.tracking.timestamp, t.last_timestamp))
        frame_index = int(_or(face.tracking.frame_index, t.last_frame))
        supports = Counter(o.identity for o in obs if o.supports())
        best, n_best = supports.most_common(1)[0] if supports else (None, 0)
        no_match = sum(o.no_match() for o in obs)
        if not t.decided:
            if best is not None and n_best >= self.config.min_agree and 2 * n_best > len(obs):
                d = self._agreeing_median(obs, best)
                if d <= obs[-1].threshold - self.config.margin:
                    decision, reason = self._decide(best)
                    self._emit(t, best, d, decision, reason, n_best, ts, frame_index)
                    return
            if no_match >= self.config.min_unknown and 2 * no_match > len(obs):
                nearest = _median([o.distance for o in obs if o.no_match()])
                self._emit(t, None, nearest, UNKNOWN, "no-match", no_match, ts, frame_index)
                return
            if len(obs) >= self.config.max_undecided:
                self._emit(
                    t,
                    None,
                    _median([o.distance for o in obs]),
                    UNKNOWN,
                    "ambiguous",
                    len(obs),
                    ts,
                    frame_index,
                )
            return
        # decided: the same face now names someone else, consistently -> a second, flagged event
        if (
            best is not None
            and best != t.identity
            and n_best >= self.config.min_agree
            and 2 * n_best > len(obs)
        ):
            d = self._agreeing_median(obs, best)
            if d <= obs[-1].threshold - self.config.margin:
                decision, _ = self._decide(best)
                previous = t.identity if t.identity is not None else UNKNOWN
                self._emit(
                    t, best, d, decision, "identity-changed", n_best, ts, frame_index, KIND_CHANGE, previous
                )

    @staticmethod
    def _agreeing_median(obs: Sequence[Observation], identity: str) -> float:
        """Median distance of the results naming ``identity`` within the threshold."""
        return statistics.median(
            [o.distance for o in obs if o.identity == identity and o.supports() and o.distance is not None]
        )

    def _decide(self, identity: str) -> tuple[str, str]:
        """(decision, reason) for a matched ``identity``: their policy yields the decision."""
        if self.policy_of is None:
            return GRANTED, "matched"
        try:
            answer = self.policy_of(identity)  # their policy, or the decision it yields now
        except Exception as err:  # a store error must not stop the camera loop; deny and say why
            log.warning("policy lookup for %s failed (%s); access denied", identity, err)
            return DENIED, "policy-error"
        if isinstance(answer, tuple):
            return answer[0], answer[1]
        return (GRANTED, "matched") if answer == "allowed" else (DENIED, "policy")

    def _emit(
        self,
        t: Track,
        identity: str | None,
        distance: float | None,
        decision: str,
        reason: str,
        observations: int,
        ts: float,
        frame_index: int,
        kind: str = KIND_DECISION,
        previous: str | None = None,
    ) -> None:
        if kind == KIND_DECISION and t.previous is not None:  # took a decided person's place without a gap
            kind, previous, reason = KIND_CHANGE, t.previous, "identity-changed"
        event = AccessEvent(
            ts,
            t.track_id,
            identity,
            distance,
            decision,
            frame_index,
            observations,
            reason,
            kind,
            previous,
            clear_timestamp=t.clear_timestamp,
        )
        if t.event is None:
            t.event = event
        t.identity, t.distance, t.decision = identity, distance, decision
        t.observations = [o for o in t.observations if o.identity == identity][-self.config.min_agree :]
        self._events.append(event)
        self._counts["events"] += 1
        if kind == KIND_CHANGE:
            self._counts["identity_changes"] += 1
            log.info("track %d: %s -> %s (%s)", t.track_id, previous, identity or UNKNOWN, reason)

    def _end(self, t: Track) -> None:
        self._tracks.pop(t.track_id, None)
        self._counts["tracks_ended"] += 1
        if not t.decided and t.total_observations > 0 and t.clear_frames >= 2:
            obs = t.observations
            self._emit(
                t,
                None,
                _median([o.distance for o in obs]),
                UNKNOWN,
                "too-brief",
                len(obs),
                t.last_timestamp,
                t.last_frame,
            )

    def end_all(self) -> None:
        """End every active track now (end of video, source switch), emitting their pending events."""
        for t in list(self._tracks.values()):
            self._end(t)

    # ------------------------------------------------------------------ outputs
    def pop_events(self) -> list[AccessEvent]:
        """Access events (decisions and changes) since the last call, in the order they were made."""
        events, self._events = self._events, []
        return events

    def stats(self) -> dict[str, float]:
        """Counters: tracks created/active/ended, faces, recognitions requested vs skipped, events, ..."""
        c = self._counts
        faces = c["faces"]
        return {
            "tracks_created": c["tracks_created"],
            "tracks_active": len(self._tracks),
            "tracks_ended": c["tracks_ended"],
            "faces": faces,
            "recognitions_requested": c["recognitions_requested"],
            "recognitions_skipped": c["recognitions_skipped"],
            "skipped_fraction": c["recognitions_skipped"] / faces if faces else 0.0,
            "observations": c["observations"],
            "events": c["events"],
            "identity_changes": c["identity_changes"],
            "splits": c["splits"],
            "re_paired": c["re_paired"],
        }


def _or(value: _T | None, default: _T) -> _T:
    """``value`` unless it is None (a face that was not tracked this frame)."""
    return default if value is None else value


def _side(boxes: np.ndarray) -> np.ndarray:
    """Geometric-mean side of (N, 4) boxes, px."""
    return np.sqrt(
        np.clip(boxes[:, 2] - boxes[:, 0], 1e-6, None) * np.clip(boxes[:, 3] - boxes[:, 1], 1e-6, None)
    )


def _median(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _grey_patch(image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """The face as a zero-mean, unit-norm 16x16 grey vector (None when the box is off the image)."""
    import cv2

    crop = clip_crop(image, *(int(round(float(v))) for v in box[:4]))
    if min(crop.shape[:2]) < 4:
        return None
    if crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    v = cv2.resize(crop, (_PATCH, _PATCH), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    v -= v.mean()
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-3 else None
