"""Tracker: ids across motion, crossing, leaving and re-entering; recognition schedule; votes; events."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np
import pytest

from core.tracking import Tracker, hungarian
from core.types import Face

THRESHOLD = 1.0
POLICIES = {"alice": "allowed", "bob": "denied"}


def face(x: float, y: float, size: float = 80.0, who: str | None = None) -> Face:
    f = Face(box=np.array([x, y, x + size, y + size], np.float32), score=0.99)
    f.data["who"] = who
    return f


def step(tracker: Tracker, faces: list[Face], frame: int, results: dict | None = None) -> list[Face]:
    """One frame: update, then observe the faces that need it with ``results[who] = (identity, distance)``."""
    tracker.update(faces, frame, timestamp=1000.0 + frame / 15)
    for f in faces:
        if f.data["needs_recognition"] and results is not None:
            identity, distance = results[f.data["who"]]
            tracker.observe(f, identity, distance, THRESHOLD)
    return faces


def test_moving_face_keeps_one_id() -> None:
    tracker = Tracker()
    rng = np.random.default_rng(0)
    ids = set()
    for k in range(60):
        size = 80 + k  # walking towards the camera
        ids |= {
            f.track_id for f in step(tracker, [face(20 + 12 * k + rng.normal(0, 2), 100 + 3 * k, size)], k)
        }
    assert len(ids) == 1
    assert tracker.stats()["tracks_created"] == 1


def test_fast_face_keeps_id_through_centre_gate_and_prediction() -> None:
    # 45 px/frame on an 80 px face: consecutive boxes overlap with IoU 0.28 < 0.3
    tracker = Tracker()
    ids = [step(tracker, [face(10 + 45 * k, 200)], k)[0].track_id for k in range(25)]
    assert len(set(ids)) == 1


def test_dropped_frames_gaps_keep_id() -> None:
    # the grabber drops frames: the tracker sees irregular frame indices of a face moving 12 px per captured
    # frame; after a 6-frame gap it is 72 px away, found only because prediction scales with the gap
    tracker = Tracker()
    frames = np.cumsum([0, 1, 6, 2, 5, 1, 6, 3, 6, 4, 6, 1, 6])
    ids = [step(tracker, [face(10 + 12 * int(k), 50)], int(k))[0].track_id for k in frames]
    assert len(set(ids)) == 1


@pytest.mark.parametrize("occluded", [False, True])
def test_crossing_faces_keep_distinct_ids(occluded: bool) -> None:
    tracker = Tracker()
    paths: dict[int, list[float]] = defaultdict(list)
    for k in range(50):
        xa, xb = 10 + 12 * k, 610 - 12 * k
        faces = [face(xa, 200, who="a"), face(xb, 206, who="b")]
        if occluded and abs(xa - xb) < 40:
            faces = faces[:1]  # b hidden behind a: the detector sees one face
        for f in step(tracker, faces, k):
            paths[f.track_id].append(float(f.box[0]))
    assert len(paths) == 2
    a, b = sorted(paths.values(), key=lambda p: p[0])
    assert all(np.diff(a) > 0), "track a must only move right"
    assert all(np.diff(b) < 0), "track b must only move left"


def test_leaving_longer_than_max_missed_gives_new_id() -> None:
    tracker = Tracker(max_missed=10)
    first = step(tracker, [face(100, 100)], 0)[0].track_id
    for k in range(1, 10):
        step(tracker, [face(100, 100)], k)
    for k in range(10, 15):  # 5 frames away (<= max_missed): same track
        step(tracker, [], k)
    assert step(tracker, [face(100, 100)], 15)[0].track_id == first
    for k in range(16, 27):  # 11 frames away (> max_missed): the track ends
        step(tracker, [], k)
    assert tracker.stats()["tracks_active"] == 0
    again = step(tracker, [face(100, 100)], 27)[0].track_id
    assert again != first
    assert tracker.stats()["tracks_created"] == 2


@pytest.mark.parametrize(("min_hits", "expected"), [(1, [0, 30, 60, 90]), (2, [0, 1, 31, 61, 91])])
def test_recognition_requested_on_new_tracks_and_every_reverify_only(
    min_hits: int, expected: list[int]
) -> None:
    tracker = Tracker(reverify_every=30, min_hits=min_hits, policy_of=POLICIES.get)
    requested = []
    for k in range(100):
        f = step(tracker, [face(200 + (k % 3), 100, who="alice")], k, {"alice": ("alice", 0.5)})[0]
        if f.data["needs_recognition"]:
            requested.append(k)
        elif k > min_hits:
            assert (f.identity, f.distance, f.decision) == ("alice", 0.5, "granted")  # copied from the track
    assert requested == expected
    stats = tracker.stats()
    assert stats["recognitions_requested"] == len(expected)
    assert stats["recognitions_skipped"] == 100 - len(expected)
    assert stats["skipped_fraction"] > 0.9


def test_weak_match_is_rechecked_every_frame() -> None:
    tracker = Tracker(min_hits=1, weak_margin=0.1)
    reasons = [
        step(tracker, [face(50, 50, who="alice")], k, {"alice": ("alice", 0.95)})[0].data[
            "recognition_reason"
        ]
        for k in range(5)
    ]
    assert reasons == ["new", "weak", "weak", "weak", "weak"]


def test_one_event_per_track_with_policy_decisions() -> None:
    tracker = Tracker(policy_of=POLICIES.get)
    results = {"alice": ("alice", 0.4), "bob": ("bob", 0.5), "stranger": (None, 1.4)}
    for k in range(40):
        step(
            tracker,
            [face(20, 50, who="alice"), face(300, 50, who="bob"), face(600, 50, who="stranger")],
            k,
            results,
        )
    events = tracker.pop_events()
    assert sorted((e.identity, e.decision) for e in events) == [("alice", "granted"), ("bob", "denied")]
    assert all(e.observations >= 2 for e in events)
    for k in range(40, 52):  # everyone leaves; the stranger's track ends still unknown
        step(tracker, [], k, results)
    [stranger] = tracker.pop_events()
    assert (stranger.identity, stranger.decision) == (None, "unknown")
    assert stranger.timestamp == pytest.approx(1000.0 + 39 / 15)  # when last seen
    assert len({e.track_id for e in [*events, stranger]}) == 3
    tracker.end_all()
    assert tracker.pop_events() == []
    assert tracker.stats()["events"] == 3


def test_end_all_emits_pending_unknown_and_one_frame_false_positive_emits_nothing() -> None:
    tracker = Tracker()
    step(
        tracker, [face(500, 300, who="ghost")], 0, {"ghost": (None, 1.3)}
    )  # a one-frame detector false positive
    for k in range(1, 13):
        step(tracker, [face(20, 20, who="stranger")], k, {"stranger": (None, 1.2)})
    assert tracker.pop_events() == []
    tracker.end_all()
    [event] = tracker.pop_events()
    assert event.decision == "unknown" and tracker.stats()["tracks_active"] == 0


def test_single_wrong_observation_does_not_flip_identity() -> None:
    tracker = Tracker(reverify_every=10, policy_of=POLICIES.get)
    shown = []
    for k in range(60):
        # the re-verification at frame 11 returns a wrong identity once
        result = ("bob", 0.6) if k == 11 else ("alice", 0.5)
        f = step(tracker, [face(100, 100, who="x")], k, {"x": result})[0]
        shown.append(f.identity)
        if k == 11:
            assert f.data["raw_identity"] == "bob"
            assert f.data["recognition_reason"] == "reverify"
    assert set(shown) == {"alice"}
    assert [(e.identity, e.decision) for e in tracker.pop_events()] == [("alice", "granted")]
    assert tracker.pop_identity_changes() == []


def test_sustained_change_after_decision_is_recorded_not_re_emitted() -> None:
    tracker = Tracker(policy_of=POLICIES.get)
    for k in range(3):
        step(tracker, [face(100, 100, who="x")], k, {"x": ("alice", 0.5)})
    [event] = tracker.pop_events()
    assert event.identity == "alice"
    for k in range(3, 40):
        f = step(tracker, [face(100, 100, who="x")], k, {"x": ("bob", 0.5)})[0]
    assert f.identity == "bob" and f.decision == "denied"
    assert tracker.pop_events() == []
    [change] = tracker.pop_identity_changes()
    assert (change.old, change.new, change.track_id) == ("alice", "bob", event.track_id)
    assert tracker.tracks[0].changes == [change]


def test_someone_else_taking_over_a_track_is_rechecked_and_recorded() -> None:
    # alice stands at the door; she is hidden for 3 frames and a stranger appears in her spot
    tracker = Tracker(policy_of=POLICIES.get)
    results = {"alice": ("alice", 0.4), "stranger": (None, 1.3)}
    for k in range(20):
        step(tracker, [face(100, 100, who="alice")], k, results)
    for k in range(20, 23):
        step(tracker, [], k, results)
    reasons, shown = [], []
    for k in range(23, 40):
        f = step(tracker, [face(102, 101, who="stranger")], k, results)[0]
        reasons.append(f.data["recognition_reason"])
        shown.append(f.identity)
    assert reasons[:2] == ["reacquired", "disagree"]  # asked again at once, then until the vote settles
    assert shown[-1] is None and f.decision == "unknown"
    assert [(e.identity, e.decision) for e in tracker.pop_events()] == [("alice", "granted")]
    [change] = tracker.pop_identity_changes()
    assert (change.old, change.new) == ("alice", None)


def test_low_iou_jump_asks_for_recognition() -> None:
    tracker = Tracker(min_hits=1)
    for k in range(5):
        step(tracker, [face(100, 100, who="a")], k, {"a": ("alice", 0.4)})
    f = step(tracker, [face(140, 100, who="a")], 5, {"a": ("alice", 0.4)})[0]  # half a face: IoU 0.33
    assert f.data["recognition_reason"] == "jump" and f.track_id == 1


def test_late_result_for_ended_track_is_ignored() -> None:
    tracker = Tracker(max_missed=1)
    f = step(tracker, [face(0, 0)], 0)[0]
    step(tracker, [], 1)
    step(tracker, [], 2)
    tracker.observe(f, "alice", 0.3, THRESHOLD)  # a remote answer arriving after the track ended
    assert tracker.pop_events() == []
    with pytest.raises(ValueError):
        tracker.observe(face(0, 0), "alice", 0.3, THRESHOLD)


def test_hungarian_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    for n, m in [(1, 1), (2, 3), (3, 3), (4, 2), (5, 5), (3, 6)]:
        for _ in range(20):
            cost = rng.random((n, m)).round(2)
            pairs = hungarian(cost.tolist())
            assert len(pairs) == min(n, m)
            assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == min(n, m)
            if n <= m:
                best = min(sum(cost[i, p[i]] for i in range(n)) for p in itertools.permutations(range(m), n))
            else:
                best = min(sum(cost[p[j], j] for j in range(m)) for p in itertools.permutations(range(n), m))
            assert sum(cost[r, c] for r, c in pairs) == pytest.approx(best)
