"""Drawing results on frames (pure: ``annotate(image, result) -> image``; style set once)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.types import FrameResult

# BGR colours per decision
COLOURS = {
    "granted": (80, 200, 60),
    "denied": (40, 40, 230),
    "unknown": (0, 170, 255),
    None: (200, 200, 200),  # not decided yet
}


@dataclass(frozen=True)
class Annotator:
    thickness: int = 2
    font_scale: float = 0.6
    landmarks: bool = True
    track_ids: bool = True

    def annotate(self, image: np.ndarray, result: FrameResult, copy: bool = True) -> np.ndarray:
        import cv2

        out = image.copy() if copy else image
        scale = max(0.5, min(2.0, out.shape[0] / 720))
        fs = self.font_scale * scale
        th = max(1, int(round(self.thickness * scale)))
        for f in result.faces:
            pending = f.tracking.pending  # tracked, not decided yet: nothing to claim
            decision = (
                f.decision
                if f.decision in COLOURS
                else ("unknown" if f.identity is None and f.embedding is not None and not pending else None)
            )
            colour = COLOURS.get(decision, COLOURS[None])
            x1, y1, x2, y2 = (int(round(v)) for v in f.box)
            cv2.rectangle(out, (x1, y1), (x2, y2), colour, th)
            name = f.identity or ("unknown" if decision == "unknown" else "checking...")
            label = name
            if f.distance is not None and not pending:
                label += f" {f.distance:.2f}"
            if self.track_ids and f.track_id is not None:
                label = f"#{f.track_id} " + label
            (tw, tht), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, fs, 1)
            ty = y1 - 4 if y1 - tht - 8 > 0 else y2 + tht + 8
            cv2.rectangle(out, (x1, ty - tht - 4), (x1 + tw + 6, ty + base - 2), colour, -1)
            cv2.putText(out, label, (x1 + 3, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), 1, cv2.LINE_AA)
            if self.landmarks and f.landmarks is not None:
                for x, y in np.asarray(f.landmarks):
                    cv2.circle(out, (int(x), int(y)), max(1, th), colour, -1)
        return out
