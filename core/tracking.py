"""Face tracking for access control: stable track ids, recognition only when needed, one event per track.

The study's hybrid mode only sends crops of *new* tracks for recognition; the same idea saves embedding
time locally. Per frame the caller does::

    faces = detector.detect(image)
    tracker.update(faces, frame.index, frame.timestamp)
    todo = [f for f in faces if f.data["needs_recognition"]]
    ...embed + match only ``todo`` (locally or remotely)...
    for f in todo:
        tracker.observe(f, f.identity, f.distance, threshold)
    events = tracker.pop_events()

Faces that need no recognition get the track's voted identity, distance and decision copied onto them by
:meth:`Tracker.update`; :meth:`Tracker.observe` sets the voted (not the raw) result on the face and keeps
the raw one in ``face.data["raw_identity"]`` / ``face.data["raw_distance"]``.

Units: boxes in px ``[x1, y1, x2, y2]``; ``frame_index`` counts *captured* frames (``Frame.index``), so
frames the grabber dropped show up as gaps and motion prediction stays right; distances are L2 (0..2).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.types import Face

log = logging.getLogger(__name__)

GRANTED, DENIED, UNKNOWN = "granted", "denied", "unknown"
_NO_VOTE = object()  # a track's identity before any observation (None means "voted unknown")
_BIG = 1e6  # cost of a pair the gates forbid


@dataclass
class AccessEvent:
    """One per track: who passed, and the access decision made for them."""

    timestamp: (
        float  # time.time() of the track's frame where the decision was made (or last seen, for unknown)
    )
    track_id: int
    identity: str | None  # None for a stranger
    distance: float | None  # L2 distance of the latest observation backing the decision
    decision: str  # "granted" | "denied" | "unknown"
    frame_index: int = 0
    observations: int = 0  # recognition results the decision rests on


@dataclass
class IdentityChange:
    """A decided track whose vote later moved to another identity (no second event is emitted)."""

    timestamp: float
    track_id: int
    frame_index: int
    old: str | None
    new: str | None


@dataclass
class Observation:
    frame_index: int
    identity: str | None
    distance: float | None
    threshold: float
    weak: bool  # distance within weak_margin of the threshold (either side)


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
    observations: deque[Observation] = field(default_factory=deque)
    last_observed_frame: int | None = None
    identity: Any = _NO_VOTE  # str | None once voted
    distance: float | None = None
    confident: bool = False
    decision: str | None = None  # "granted" | "denied" | "unknown" once confident
    event: AccessEvent | None = None
    changes: list[IdentityChange] = field(default_factory=list)

    @property
    def voted_identity(self) -> str | None:
        return None if self.identity is _NO_VOTE else self.identity

    def predict(self, frame_index: int) -> np.ndarray:
        """Constant-velocity box at ``frame_index``."""
        return self.box + self.velocity * max(0, frame_index - self.last_frame)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4) -> (N, M)."""
    a = a[:, None, :]
    b = b[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = np.clip(a[..., 2] - a[..., 0], 0, None) * np.clip(a[..., 3] - a[..., 1], 0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def hungarian(cost: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Minimum-cost assignment of a rectangular cost matrix: ``[(row, col), ...]``, min(N, M) pairs.

    Shortest-augmenting-path Hungarian algorithm, O(N^2 M); the tracker only runs it on small connected
    groups of overlapping boxes, so pure Python is fast enough and no scipy is needed.
    """
    n = len(cost)
    m = len(cost[0]) if n else 0
    if n == 0 or m == 0:
        return []
    if n > m:
        transposed = [[cost[i][j] for i in range(n)] for j in range(m)]
        return [(i, j) for j, i in hungarian(transposed)]
    inf = float("inf")
    u = [0.0] * (n + 1)
    v = [0.0] * (m + 1)
    p = [0] * (m + 1)  # p[j] = row (1-based) assigned to column j
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = inf
            j1 = 0
            row = cost[i0 - 1]
            for j in range(1, m + 1):
                if not used[j]:
                    cur = row[j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    return [(p[j] - 1, j - 1) for j in range(1, m + 1) if p[j] != 0]


def _components(valid: np.ndarray) -> list[tuple[list[int], list[int]]]:
    """Connected groups of rows/cols linked by valid pairs (union-find), each as (rows, cols)."""
    n, m = valid.shape
    parent = list(range(n + m))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in zip(*np.nonzero(valid), strict=True):
        ra, rb = find(int(i)), find(n + int(j))
        if ra != rb:
            parent[ra] = rb
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for i in range(n):
        if valid[i].any():
            groups.setdefault(find(i), ([], []))[0].append(i)
    for j in range(m):
        if valid[:, j].any():
            groups.setdefault(find(n + j), ([], []))[1].append(j)
    return list(groups.values())


def assign(cost: np.ndarray, valid: np.ndarray) -> list[tuple[int, int]]:
    """Optimal assignment restricted to ``valid`` pairs: most valid pairs first, then least total cost."""
    pairs: list[tuple[int, int]] = []
    for rows, cols in _components(valid):
        if len(rows) == 1 and len(cols) == 1:
            pairs.append((rows[0], cols[0]))
            continue
        sub = np.where(valid[np.ix_(rows, cols)], cost[np.ix_(rows, cols)], _BIG)
        for r, c in hungarian(sub.tolist()):
            if valid[rows[r], cols[c]]:
                pairs.append((rows[r], cols[c]))
    return pairs


class Tracker:
    """Associates faces across frames, decides who needs recognition, votes identities, emits access events.

    Args:
        iou_threshold: minimum IoU between a track's predicted box and a detection to match them.
        max_missed: a track ends after this many consecutive ``update`` calls without a match.
        reverify_every: a tracked face is recognised again when this many frames (``frame_index`` units)
            have passed since its last recognition result.
        min_hits: observations agreeing on one identity (and a majority of the history) that make a track
            confident; also the frames a track must have been seen in to yield an "unknown" event at its end
            (so one-frame detector false positives do not log strangers).
        weak_margin: a result whose distance is within this of the threshold (either side) is weak and
            asks for another recognition on the next frame.
        policy_of: name -> "allowed" | "denied" | None (resolve schedules inside it). "allowed" gives
            "granted", anything else "denied" (default deny). Without it every known identity is granted.
        history: recognition results kept per track for the vote.
        max_centre_shift: fallback gate for fast motion, when IoU fails: centre shift at most this fraction
            of the face size (and sizes within 1.5x) still matches, ranked below every IoU match.
        velocity_alpha: smoothing of the constant-velocity estimate (1 = last displacement only).
        recheck_iou: a match weaker than this (IoU with the predicted box), a centre-only match, or a track
            found again after missed frames asks for recognition: that is where one person can take over
            another's track (occlusion, someone stepping into the spot another just left).
    """

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_missed: int = 10,
        reverify_every: int = 30,
        min_hits: int = 2,
        weak_margin: float = 0.1,
        policy_of: Callable[[str], str | None] | None = None,
        history: int = 9,
        max_centre_shift: float = 0.6,
        velocity_alpha: float = 0.5,
        recheck_iou: float = 0.5,
    ) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], not {iou_threshold}")
        if min_hits < 1 or history < min_hits:
            raise ValueError(f"need 1 <= min_hits <= history, got min_hits={min_hits}, history={history}")
        self.iou_threshold = float(iou_threshold)
        self.max_missed = int(max_missed)
        self.reverify_every = int(reverify_every)
        self.min_hits = int(min_hits)
        self.weak_margin = float(weak_margin)
        self.policy_of = policy_of
        self.history = int(history)
        self.max_centre_shift = float(max_centre_shift)
        self.velocity_alpha = float(velocity_alpha)
        self.recheck_iou = float(recheck_iou)
        self.reset()

    def reset(self) -> None:
        """Forget every track, event and counter (e.g. when the source changes)."""
        self._tracks: dict[int, Track] = {}
        self._next_id = 1
        self._events: list[AccessEvent] = []
        self._changes: list[IdentityChange] = []
        self._counts: Counter[str] = Counter()

    @property
    def tracks(self) -> list[Track]:
        """The active tracks (a copy of the list; the tracks themselves are live)."""
        return list(self._tracks.values())

    # ------------------------------------------------------------------ association
    def _match(
        self, tracks: list[Track], boxes: np.ndarray, frame_index: int
    ) -> list[tuple[int, int, float]]:
        """(track, detection, IoU with the track's predicted box) for each match."""
        if not tracks or len(boxes) == 0:
            return []
        pred = np.stack([t.predict(frame_index) for t in tracks])
        iou = iou_matrix(pred, boxes)
        size_p = np.sqrt(
            np.clip(pred[:, 2] - pred[:, 0], 1e-6, None) * np.clip(pred[:, 3] - pred[:, 1], 1e-6, None)
        )
        size_d = np.sqrt(
            np.clip(boxes[:, 2] - boxes[:, 0], 1e-6, None) * np.clip(boxes[:, 3] - boxes[:, 1], 1e-6, None)
        )
        cp = (pred[:, :2] + pred[:, 2:]) / 2
        cd = (boxes[:, :2] + boxes[:, 2:]) / 2
        shift = np.linalg.norm(cp[:, None, :] - cd[None, :, :], axis=2) / (
            (size_p[:, None] + size_d[None, :]) / 2
        )
        ratio = size_p[:, None] / size_d[None, :]
        by_iou = iou >= self.iou_threshold
        by_centre = (shift <= self.max_centre_shift) & (ratio <= 1.5) & (ratio >= 1 / 1.5)
        cost = np.where(by_iou, 1.0 - iou, 1.0 + shift)  # any IoU match beats any centre-only match
        return [(ti, fi, float(iou[ti, fi])) for ti, fi in assign(cost, by_iou | by_centre)]

    # ------------------------------------------------------------------ per frame
    def update(self, faces: list[Face], frame_index: int, timestamp: float | None = None) -> list[Face]:
        """Assign ``track_id`` to every face, age/end tracks, and mark who needs recognition.

        Sets ``face.data["needs_recognition"]`` (bool) and ``face.data["recognition_reason"]``: "new"
        (first frame of a track), "unconfirmed" (fewer than ``min_hits`` agreeing results), "reacquired"
        (matched again after missed frames) or "jump" (matched with IoU below ``recheck_iou``): the face may
        be someone else now, "disagree" (the last result differs from the vote), "weak", "reverify" or
        None. Copies the track's voted identity, distance and decision onto every face. Returns ``faces``
        (modified in place).
        """
        ts = time.time() if timestamp is None else float(timestamp)
        tracks = list(self._tracks.values())
        boxes = np.array([np.asarray(f.box, dtype=np.float64)[:4] for f in faces]).reshape(-1, 4)
        pairs = self._match(tracks, boxes, frame_index)
        matched_tracks = {ti for ti, _, _ in pairs}
        owner: dict[int, Track] = {}
        doubtful: dict[int, str] = {}  # associations that may have swapped people: recognise again
        for ti, fi, iou in pairs:
            t = tracks[ti]
            if t.missed > 0:
                doubtful[fi] = "reacquired"
            elif iou < self.recheck_iou:
                doubtful[fi] = "jump"
            gap = max(1, frame_index - t.last_frame)
            step = (boxes[fi] - t.box) / gap
            t.velocity = (
                step if t.hits == 1 else self.velocity_alpha * step + (1 - self.velocity_alpha) * t.velocity
            )
            t.box = boxes[fi].copy()
            t.hits += 1
            t.missed = 0
            t.last_frame = frame_index
            t.last_timestamp = ts
            owner[fi] = t
        for ti, t in enumerate(tracks):
            if ti not in matched_tracks:
                t.missed += 1
                if t.missed > self.max_missed:
                    self._end(t)
        for fi in range(len(faces)):
            if fi not in owner:
                t = Track(
                    self._next_id,
                    boxes[fi].copy(),
                    frame_index,
                    frame_index,
                    ts,
                    observations=deque(maxlen=self.history),
                )
                self._next_id += 1
                self._tracks[t.track_id] = t
                self._counts["tracks_created"] += 1
                owner[fi] = t
        for fi, face in enumerate(faces):
            t = owner[fi]
            reason = self._recognition_reason(t, frame_index, doubtful.get(fi))
            face.track_id = t.track_id
            face.data["frame_index"] = frame_index
            face.data["needs_recognition"] = reason is not None
            face.data["recognition_reason"] = reason
            self._copy_to(t, face)
            self._counts["faces"] += 1
            self._counts["recognitions_requested" if reason else "recognitions_skipped"] += 1
        return faces

    def _recognition_reason(self, t: Track, frame_index: int, doubt: str | None) -> str | None:
        if not t.observations:
            return "new"
        if not t.confident and len(t.observations) < self.history:
            return "unconfirmed"
        if doubt is not None:
            return doubt
        last = t.observations[-1]
        if last.identity != t.voted_identity:
            return "disagree"
        if last.weak:
            return "weak"
        if t.last_observed_frame is not None and frame_index - t.last_observed_frame >= self.reverify_every:
            return "reverify"
        return None

    @staticmethod
    def _copy_to(t: Track, face: Face) -> None:
        if t.identity is _NO_VOTE:
            return
        face.identity = t.identity
        face.distance = t.distance
        face.decision = t.decision

    # ------------------------------------------------------------------ recognition results
    def observe(self, face: Face, identity: str | None, distance: float | None, threshold: float) -> None:
        """Record a recognition result for ``face``'s track and re-vote its identity.

        ``identity`` None means not matched (stranger); ``distance`` is the L2 distance to the best gallery
        candidate (None if the gallery is empty). A result for a track that has already ended (a late
        remote answer) is ignored. Sets the voted identity/distance/decision on ``face``.
        """
        if face.track_id is None:
            raise ValueError("observe() needs a face that went through Tracker.update() (track_id is None)")
        face.data["raw_identity"] = identity
        face.data["raw_distance"] = distance
        t = self._tracks.get(face.track_id)
        if t is None:
            log.debug("track %d already ended; recognition result ignored", face.track_id)
            return
        frame_index = int(face.data.get("frame_index", t.last_frame))
        weak = distance is not None and abs(float(distance) - float(threshold)) <= self.weak_margin
        t.observations.append(Observation(frame_index, identity, distance, float(threshold), weak))
        t.last_observed_frame = (
            frame_index if t.last_observed_frame is None else max(t.last_observed_frame, frame_index)
        )
        self._counts["observations"] += 1
        self._vote(t)
        self._copy_to(t, face)

    def _vote(self, t: Track) -> None:
        obs = list(t.observations)
        counts = Counter(o.identity for o in obs)
        best = max(counts.values())
        leaders = {label for label, n in counts.items() if n == best}
        if t.identity is not _NO_VOTE and t.identity in leaders:
            winner = t.identity  # hysteresis: a tie never flips the current identity
        else:
            winner = next(o.identity for o in reversed(obs) if o.identity in leaders)
        previous = t.identity
        t.identity = winner
        t.distance = next((o.distance for o in reversed(obs) if o.identity == winner), None)
        t.confident = counts[winner] >= self.min_hits and 2 * counts[winner] > len(obs)
        if winner != previous or t.decision is None:
            t.decision = (self._decide(winner) if winner is not None else UNKNOWN) if t.confident else None
        if winner != previous and previous is not _NO_VOTE and t.event is not None:
            change = IdentityChange(t.last_timestamp, t.track_id, t.last_frame, previous, winner)
            t.changes.append(change)
            self._changes.append(change)
            self._counts["identity_changes"] += 1
            log.info(
                "track %d: identity changed from %s to %s after its access event",
                t.track_id,
                previous,
                winner,
            )
        if t.confident and winner is not None and t.event is None and t.decision is not None:
            self._emit(t, winner, t.decision)

    def _decide(self, identity: str) -> str:
        if self.policy_of is None:
            return GRANTED
        try:
            policy = self.policy_of(identity)
        except Exception as err:  # a store error must not stop the camera loop; deny and say why
            log.warning("policy lookup for %s failed (%s); access denied", identity, err)
            return DENIED
        return GRANTED if policy == "allowed" else DENIED

    def _emit(self, t: Track, identity: str | None, decision: str) -> None:
        distance = next((o.distance for o in reversed(t.observations) if o.identity == identity), None)
        if distance is None and t.observations:
            distance = t.observations[-1].distance
        t.event = AccessEvent(
            t.last_timestamp,
            t.track_id,
            identity,
            distance,
            decision,
            t.last_frame,
            sum(o.identity == identity for o in t.observations),
        )
        self._events.append(t.event)
        self._counts["events"] += 1

    def _end(self, t: Track) -> None:
        self._tracks.pop(t.track_id, None)
        self._counts["tracks_ended"] += 1
        if t.event is None and t.observations and t.hits >= self.min_hits:
            self._emit(t, None, UNKNOWN)

    def end_all(self) -> None:
        """End every active track now (end of video, source switch), emitting their pending events."""
        for t in list(self._tracks.values()):
            self._end(t)

    # ------------------------------------------------------------------ outputs
    def pop_events(self) -> list[AccessEvent]:
        """Access events since the last call, in the order they were decided."""
        events, self._events = self._events, []
        return events

    def pop_identity_changes(self) -> list[IdentityChange]:
        """Identity changes of already-decided tracks since the last call (for the log)."""
        changes, self._changes = self._changes, []
        return changes

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
        }
