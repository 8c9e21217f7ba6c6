"""Decision correctness and time to decision for several evidence rules, on real door scenes.

Two scenes (720p, 15 FPS, every frame processed):
- the door scene of tests/scenes.py: hand-overs at one spot, a face entering half out of frame, two people
  crossing (3 enrolled people, 2 strangers);
- a strangers' queue: each face of the calibration's stranger photos (core/calibration.py: package-archive
  photos the demo and the tests never enroll) stands at the door for a second, one after another.

The rule is how many agreeing results a grant needs (``min_agree``) and how many no-match results an
"unknown" needs (``min_unknown``). It is measured at the shipped threshold and at the old 1.10, to show what
the rule protects against when single results err. Video time is what a person at the door waits; compute
is the wall time of the frames up to the decision on this machine.

    python benchmarks/bench_decisions.py [--rules 1:1,2:2,3:3,4:4] [--thresholds default,1.10]
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

EXPECTED = {"ben_afflek": "granted", "jerry_seinfeld": "granted", "elton_john": "denied", None: "unknown"}


def strangers_scene(detector):
    import cv2

    from core.calibration import stranger_faces, stranger_photos
    from core.imageio import load_image
    from tests.scenes import Scene

    s = Scene()
    for path in stranger_photos():
        image = load_image(path)
        for i, f in enumerate(stranger_faces(detector, image)):
            x1, y1, x2, y2 = (float(v) for v in f.box)
            side = max(x2 - x1, y2 - y1) * 2.2
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
            crop = image[y0 : int(cy + side / 2), x0 : int(cx + side / 2)]
            tile = cv2.resize(crop, (260, int(260 * crop.shape[0] / max(crop.shape[1], 1))))
            s.stand(f"{path.name}#{i}", None, tile[:400], 15)
            s.blank(12)
    return s


def evaluate(engine_factory, scene, rule):
    engine = engine_factory(*rule)
    compute, results, wrong_results = [], 0, 0
    for k, frame in enumerate(scene.frames):
        r = engine.process(frame, k, 1_000_000.0 + k / 15)
        compute.append(r.timings_ms["total_ms"])
        present = {n for _, n, a, b in scene.appearances if a <= k <= b}
        for f in r.faces:
            if f.tracking.observed:
                results += 1
                wrong_results += f.tracking.raw_identity not in present | {None}
    events = engine.close().events
    right, used = 0, set()
    for _label, name, first, last in scene.appearances:
        mine = [
            e
            for e in events
            if first <= e.frame_index <= last
            and e.identity == name
            and e.decision == EXPECTED[name]
            and id(e) not in used
        ]
        if mine:
            right += 1
            used.add(id(mine[0]))
    wrong_grants = sum(
        e.decision == "granted" and e.identity not in {n for _, n, *_ in scene.appearances} for e in events
    )
    waits = [e.time_to_decision_ms for e in events if e.time_to_decision_ms is not None]
    work = []
    for e in events:
        if e.clear_timestamp is not None:
            first = int(round((e.clear_timestamp - 1_000_000.0) * 15))
            work.append(sum(compute[first : e.frame_index + 1]))
    return {
        "right": right,
        "appearances": len(scene.appearances),
        "other": len(events) - right,
        "wrong_grants": wrong_grants,
        "wrong_results": wrong_results,
        "results": results,
        "wait": statistics.median(waits) if waits else float("nan"),
        "wait_max": max(waits) if waits else float("nan"),
        "work": statistics.median(work) if work else float("nan"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default="1:1,2:2,3:3,4:4", help="min_agree:min_unknown pairs")
    ap.add_argument("--thresholds", default="default,1.10", help="'default' = the recognizer model's")
    args = ap.parse_args()

    from app.session import load_gallery
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
    scenes = {"door": door_scene(val), "strangers": strangers_scene(detector)}
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
        print("# Access decisions by evidence rule")
        print(f"machine: {machine()}; {detector.key} + {recognizer.key}")
        for name, scene in scenes.items():
            print(f"- scene `{name}`: {len(scene.frames)} frames, {len(scene.appearances)} appearances")
        print()
        print(
            "| threshold | min_agree:min_unknown | scene | right decisions | other events | strangers granted "
            "| single results naming someone absent | median wait, ms | max wait, ms | median compute to decide, ms |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for t in args.thresholds.split(","):
            threshold = recognizer.default_threshold if t == "default" else float(t)
            gallery = load_gallery(store, recognizer.model, threshold)

            def factory(agree: int, unknown: int, threshold: float = threshold, gallery=gallery) -> Engine:
                engine = Engine(
                    Pipeline(detector, recognizer, gallery, threshold=threshold), None, tracker=None
                )
                engine.store = store
                engine.tracker = Tracker(
                    min_agree=agree,
                    min_unknown=unknown,
                    max_undecided=max(12, agree, unknown),
                    policy_of=engine._decision_and_reason,
                )
                return engine

            for rule in args.rules.split(","):
                agree, unknown = (int(v) for v in rule.split(":"))
                for name, scene in scenes.items():
                    m = evaluate(factory, scene, (agree, unknown))
                    print(
                        f"| {threshold:.2f} | {agree}:{unknown} | {name} | {m['right']}/{m['appearances']} | "
                        f"{m['other']} | {m['wrong_grants']} | {m['wrong_results']}/{m['results']} | "
                        f"{m['wait']:.0f} | {m['wait_max']:.0f} | {m['work']:.0f} |",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
