"""Headless run: process a source, print a live one-line status and who was seen."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any


def run_headless(ctx: Any, args: argparse.Namespace) -> int:
    from core.pipeline import Pipeline
    from core.sources import open_source

    source = open_source(args.source)
    if args.source == "demo" and getattr(args, "db", None) is None:
        from core.demo import demo_store

        store = demo_store(ctx.detector, ctx.recognizer)
    else:
        store = ctx.store
    gallery = store.gallery(ctx.recognizer.model, ctx.threshold)
    pipe = Pipeline(ctx.detector, ctx.recognizer, gallery, threshold=ctx.threshold)
    seen: Counter[str] = Counter()
    unknown_frames = 0
    n = 0
    t_start = time.perf_counter()
    tty = sys.stdout.isatty()
    try:
        for frame, ts in source.frames():
            result = pipe.process(frame, frame_index=n, timestamp=ts)
            n += 1
            names = sorted({f.identity for f in result.faces if f.identity})
            seen.update(names)
            if any(f.identity is None for f in result.faces):
                unknown_frames += 1
            if not args.quiet:
                t = result.timings_ms
                who = ", ".join(names) or "-"
                unk = sum(f.identity is None for f in result.faces)
                line = (f"frame {n:5d}  faces {len(result.faces)}  known [{who}]  unknown {unk}  "
                        f"detect {t['detect_ms']:.0f} ms  embed {t['embed_ms']:.0f} ms  total {t['total_ms']:.0f} ms")
                print(("\r" + line.ljust(110)) if tty else line, end="" if tty else "\n", flush=True)
            if args.frames and n >= args.frames:
                break
    except KeyboardInterrupt:
        pass
    finally:
        source.close()
    elapsed = time.perf_counter() - t_start
    if tty and not args.quiet:
        print()
    fps = n / elapsed if elapsed > 0 else 0.0
    print(f"processed {n} frames from {source.name} in {elapsed:.1f} s ({fps:.1f} FPS) "
          f"with {pipe.detector.key} + {pipe.recognizer.key}")
    for name, frames in seen.most_common():
        print(f"saw {name} ({store.policy(name) or '?'}) in {frames} frames")
    print(f"unknown faces in {unknown_frames} frames")
    return 0
