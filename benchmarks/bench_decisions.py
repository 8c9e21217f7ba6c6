"""Time to decision and decision correctness on the real door scene (tests/scenes.py), for several
evidence rules: how many agreeing results a grant needs (``min_agree``) and how many no-match results an
"unknown" needs (``min_unknown``). Video time is what a person at the door waits (15 FPS video, every frame
processed); compute is the wall time of the frames up to the decision on this machine.

    python benchmarks/bench_decisions.py [--rules 1:1,2:2,3:3,4:4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default="1:1,2:2,3:3,4:4", help="min_agree:min_unknown pairs")
    args = ap.parse_args()

    from benchmarks.common import machine
    from core import photos
    from core.engine import Engine
    from core.imageio import load_image
    from core.pipeline import Pipeline
    from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, create_detector, create_recognizer
    from core.tracking import Tracker
    from db.store import Store
    from enroll.service import Enrollment
    from tests.scenes import door_scene

    detector, recognizer = create_detector(DEFAULT_DETECTOR), create_recognizer(DEFAULT_RECOGNIZER)
    train, val = photos.people("train"), photos.people("val")
    scene = door_scene(val)
    expected = {"ben_afflek": "granted", "jerry_seinfeld": "granted", "elton_john": "denied", None: "unknown"}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "door.db")
        for name, policy in (
            ("ben_afflek", "allowed"),
            ("jerry_seinfeld", "allowed"),
            ("elton_john", "denied"),
        ):
            job = Enrollment(name, detector, recognizer, store)
            for p in train[name]:
                job.add_image(load_image(p), str(p))
            job.save(policy=policy)
        gallery = store.gallery(recognizer.model, recognizer.default_threshold)
        print(
            f"# Time to decision on the door scene ({len(scene.frames)} frames 720p, 15 FPS, "
            f"{len(scene.appearances)} appearances)"
        )
        print(
            f"machine: {machine()}; {detector.key} + {recognizer.key}, threshold {recognizer.default_threshold}\n"
        )
        print(
            "| min_agree:min_unknown | right decisions | wrong or extra | single results naming someone absent | median wait, ms (video) | max wait, ms | median compute to decide, ms |"
        )
        print("|---|---|---|---|---|---|---|")
        for rule in args.rules.split(","):
            agree, unknown = (int(v) for v in rule.split(":"))
            engine = Engine(
                Pipeline(detector, recognizer, gallery), store=None, source_name="door", tracker=None
            )
            engine.tracker = Tracker(
                min_agree=agree,
                min_unknown=unknown,
                max_undecided=max(12, agree, unknown),
                policy_of=engine._policy_of,
            )
            engine.store = store
            compute: list[float] = []
            results = wrong_results = 0
            for k, frame in enumerate(scene.frames):
                r = engine.process(frame, k, 1_000_000.0 + k / 15)
                compute.append(r.timings_ms["total_ms"])
                present = {n for _, n, a, b in scene.appearances if a <= k <= b}
                for f in r.faces:
                    if "raw_identity" in f.data:
                        results += 1
                        wrong_results += f.data["raw_identity"] not in present | {None}
            events = engine.close().events
            right, used = 0, set()
            for _label, name, first, last in scene.appearances:
                mine = [
                    e
                    for e in events
                    if first <= e.frame_index <= last
                    and e.identity == name
                    and e.decision == expected[name]
                    and id(e) not in used
                ]
                if mine:
                    right += 1
                    used.add(id(mine[0]))
            waits = [e.time_to_decision_ms for e in events if e.time_to_decision_ms is not None]
            work = []
            for e in events:
                if e.clear_timestamp is None:
                    continue
                first = int(round((e.clear_timestamp - 1_000_000.0) * 15))
                work.append(sum(compute[first : e.frame_index + 1]))
            print(
                f"| {agree}:{unknown} | {right}/{len(scene.appearances)} | {len(events) - right} | "
                f"{statistics.median(waits):.0f} | {max(waits):.0f} | {statistics.median(work):.0f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
