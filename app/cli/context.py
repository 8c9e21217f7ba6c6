"""The detector, recognizer and store one CLI invocation uses, each built on first use."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.cli.common import log
from core.config import Config
from core.errors import FaceGateError


class Context:
    """Lazily built detector / recognizer / store for one CLI invocation."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._detector: Any = None
        self._video_detector: Any = None
        self._recognizer: Any = None
        self._store: Any = None
        self._config: Any = None

    @property
    def detector_key(self) -> str:
        return self.config.models.detector

    @property
    def recognizer_key(self) -> str:
        return self.config.models.recognizer

    @property
    def config(self) -> Config:
        """The shipped defaults, then ``FACEGATE_*`` environment variables, then this command's arguments."""
        if self._config is None:
            a = self.args
            self._config = Config.from_env().replace(
                models={
                    "detector": getattr(a, "detector", None),
                    "recognizer": getattr(a, "recognizer", None),
                    "threshold": getattr(a, "threshold", None),
                },
                remote={
                    "jpeg_quality": getattr(a, "jpeg_quality", None),
                    "crop_format": getattr(a, "crop_format", None),
                    "fallback_after_s": getattr(a, "fallback_after", None),
                },
                enroll={"min_face_px": getattr(a, "min_face", None)},
            )
        return self._config

    @property
    def db_path(self) -> Path:
        from core.paths import default_db_path

        return Path(getattr(self.args, "db", None) or default_db_path())

    @property
    def detector(self) -> Any:
        """The detector for still photos: finds faces down to ``config.detector.photo_min_face_px`` (20 px)."""
        if self._detector is None:
            from core.registry import create_detector

            self._detector = create_detector(
                self.detector_key, min_face_size=self.config.detector.photo_min_face_px
            )
        return self._detector

    @property
    def video_detector(self) -> Any:
        """The detector for video (and ``serve``): MTCNN finds faces down to
        ``config.detector.video_min_face_px`` (40 px, for speed); other detectors keep their own settings."""
        if self._video_detector is None:
            from app.session import video_detector

            self._video_detector = video_detector(self.detector_key, self.config.detector)
        return self._video_detector

    @property
    def recognizer(self) -> Any:
        if self._recognizer is None:
            from core.registry import create_recognizer

            self._recognizer = create_recognizer(self.recognizer_key)
        return self._recognizer

    @property
    def threshold(self) -> float:
        thr = self.config.models.threshold  # --threshold, or FACEGATE_MODELS_THRESHOLD
        if thr is not None:
            return float(thr)
        calibrated = self.calibrated_threshold()
        return calibrated if calibrated is not None else float(self.recognizer.default_threshold)

    def calibrated_threshold(self) -> float | None:
        """The threshold ``main.py calibrate`` stored in the database for this recognizer model, if any."""
        if not hasattr(self, "_calibrated"):
            cal = None
            if self.db_path.exists():
                try:
                    cal = self.store.calibration(self.recognizer.model)
                except FaceGateError as err:  # verify needs no database: fall back to the model default
                    log.warning("no calibrated threshold: %s", err)
            self._calibrated = float(cal["threshold"]) if cal else None
        return self._calibrated

    @property
    def store(self) -> Any:
        if self._store is None:
            from db.store import Store

            self._store = Store(self.db_path)
        return self._store

    def pipeline(self) -> Any:
        """The local pipeline for still photos: the store's gallery for the recognizer, at ``threshold``."""
        from app.session import local_pipeline

        # the store opens (a bad --db fails) before the detector loads, as it always did
        store, recognizer, threshold = self.store, self.recognizer, self.threshold
        return local_pipeline(self.detector, recognizer, store, threshold)
