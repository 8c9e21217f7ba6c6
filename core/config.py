"""One typed configuration: every default an operator or integrator can change, in one place.

The CLI, the window, ``serve`` and ``bench`` build their settings from :class:`Config`; the modules they
drive take these values as arguments and hold no defaults of their own (the measured defaults of a model
family stay next to the model, e.g. MTCNN's smallest face in ``core/detectors/mtcnn.py``, and this file
refers to them). Each section is a frozen dataclass with bounds checked on construction; a bad value is
one :class:`ConfigError` line naming the setting.

Sources, later ones winning: the defaults here, the environment (``FACEGATE_<SECTION>_<FIELD>``, e.g.
``FACEGATE_REMOTE_JPEG_QUALITY=75``, ``FACEGATE_TRACKER_MIN_AGREE=4``), then the caller's own layer
(command-line arguments, or the window's QSettings) through :meth:`Config.replace`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from core.detectors.mtcnn import DEFAULTS as MTCNN_DEFAULTS
from core.errors import FaceGateError
from core.integrations.config import IntegrationsConfig
from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER


class ConfigError(FaceGateError, ValueError):
    """A setting is out of its bounds or of the wrong type (one line, naming it)."""


def _check(section: str, name: str, ok: bool, bound: str) -> None:
    if not ok:
        raise ConfigError(f"{section}.{name} must be {bound}")


@dataclass(frozen=True)
class DetectorConfig:
    """Face detection settings shared by local, hybrid, ``serve`` and ``bench`` (one detector configuration)."""

    #: smallest face searched in video, px: MTCNN's measured default (a door camera at 720p sees a face at
    #: 40-50 px; halving it costs ~4x P-Net work)
    video_min_face_px: float = float(MTCNN_DEFAULTS["min_face_size"])
    #: smallest face searched in still photos (enroll, identify, verify, calibrate): speed matters less
    photo_min_face_px: float = 20.0
    #: video: skip detection on frames where nothing moved while a camera has no track (core/motion.py;
    #: pays off on a door empty for long); 0 turns it off. Grey levels of the largest 4x4-block change
    still_threshold: float = 8.0

    def __post_init__(self) -> None:
        _check(
            "detector", "video_min_face_px", 12 <= self.video_min_face_px <= 1000, "between 12 and 1000 px"
        )
        _check(
            "detector", "photo_min_face_px", 12 <= self.photo_min_face_px <= 1000, "between 12 and 1000 px"
        )
        _check("detector", "still_threshold", 0 <= self.still_threshold <= 255, "between 0 and 255")


@dataclass(frozen=True)
class TrackerConfig:
    """Tracking and the evidence rules of a decision (see core/tracking.py, measured in
    benchmarks/bench_decisions.py and the README's "How a decision is made")."""

    iou_threshold: float = 0.3  # least IoU of a predicted box and a detection to match them
    max_missed: int = 10  # updates without the face before its track ends
    reverify_every: int = 30  # frames between re-checks of a decided face
    min_agree: int = 3  # agreeing results before granted/denied (133 ms at 15 FPS)
    min_unknown: int = 3  # no-match results before unknown
    max_undecided: int = 12  # mixed results before unknown ("ambiguous")
    margin: float = 0.05  # the agreeing results' median distance must be this far inside the threshold
    max_centre_shift: float = 0.6  # fast motion: a centre shift up to this x face size still matches
    velocity_alpha: float = 0.5  # smoothing of the constant-velocity estimate (1 = last step only)
    recheck_iou: float = 0.5  # a weaker match may hold another face: recognise it again
    recheck_size: float = 0.25  # so does a box side changing by more than this fraction
    min_patch_similarity: float = 0.6  # a grey patch unlike every recent look: recognise again
    min_clear_px: float = 32.0  # sqrt(box area) a face needs for its results to count
    min_clear_score: float = 0.85  # detector confidence a face needs for its results to count
    split_distance: float | None = None  # L2 from a track's own face that is someone else; None: threshold

    def __post_init__(self) -> None:
        s = "tracker"
        _check(s, "iou_threshold", 0.0 < self.iou_threshold <= 1.0, "in (0, 1]")
        _check(s, "max_missed", self.max_missed >= 0, ">= 0")
        _check(s, "reverify_every", self.reverify_every >= 1, ">= 1")
        _check(s, "min_agree", self.min_agree >= 1, ">= 1")
        _check(s, "min_unknown", self.min_unknown >= 1, ">= 1")
        _check(
            s,
            "max_undecided",
            self.max_undecided >= max(self.min_agree, self.min_unknown),
            ">= min_agree and min_unknown",
        )
        _check(s, "margin", 0.0 <= self.margin < 2.0, "in [0, 2)")
        _check(s, "min_patch_similarity", -1.0 <= self.min_patch_similarity <= 1.0, "in [-1, 1]")
        _check(s, "min_clear_px", self.min_clear_px >= 0, ">= 0")
        _check(s, "min_clear_score", 0.0 <= self.min_clear_score <= 1.0, "in [0, 1]")


@dataclass(frozen=True)
class EnrollConfig:
    """Enrollment quality gates."""

    #: smaller faces give unstable embeddings (FaceNet crops are 160 px)
    min_face_px: int = 60

    def __post_init__(self) -> None:
        _check("enroll", "min_face_px", 12 <= self.min_face_px <= 4000, "between 12 and 4000 px")


CROP_FORMATS = ("raw", "jpeg")


@dataclass(frozen=True)
class RemoteConfig:
    """Cloud and hybrid modes: what is sent and when a frame falls back to local processing."""

    jpeg_quality: int = 85  # cloud: JPEG quality of sent frames
    crop_format: str = "jpeg"  # hybrid: "jpeg" (~11x fewer bytes than raw, same decisions) or "raw" (exact)
    crop_quality: int = 90  # hybrid: JPEG quality of "jpeg" crops
    fallback_after_s: float = 1.0  # a request slower than this runs the frame locally

    def __post_init__(self) -> None:
        _check("remote", "jpeg_quality", 1 <= self.jpeg_quality <= 100, "between 1 and 100")
        _check("remote", "crop_quality", 1 <= self.crop_quality <= 100, "between 1 and 100")
        _check("remote", "crop_format", self.crop_format in CROP_FORMATS, f"one of {', '.join(CROP_FORMATS)}")
        _check(
            "remote",
            "fallback_after_s",
            self.fallback_after_s == self.fallback_after_s and 0 < self.fallback_after_s <= 86400,
            "a number of seconds in (0, 86400]",
        )


@dataclass
class ServeLimits:
    """``main.py serve``: what one request may ask of the endpoint, and how long it may take. Sizes in
    bytes/px, times in s. Not frozen: the Triton interop lifts two limits on its own copy."""

    max_body_mb: float = 16.0  # whole HTTP body (413 past it)
    max_pixels: int = 4096 * 4096  # per decoded image, read from the header before decoding (413)
    max_request_pixels: int = 4096 * 4096  # all images of one request together (413)
    max_pixels_in_flight: int = 2 * 4096 * 4096  # decoded pixels held by all requests at once (429)
    max_bytes_in_flight_mb: float = 64.0  # request bodies held by all requests at once (429)
    max_frames: int = 8  # images per frame-model request (400)
    max_crops: int = 64  # crops per crops-model request (400)
    read_timeout_s: float = 10.0  # to receive a request's head, and then its body (408 / closed)
    idle_timeout_s: float = 120.0  # a keep-alive connection idle this long is closed
    infer_timeout_s: float = 30.0  # longest a request waits for its batch to run (503)
    max_connections: int = 4096  # open connections (idle ones cost a descriptor); past it requests get 503
    max_queue: int = 64  # requests waiting per model; more are answered 429
    instances: int = 1  # worker threads per model (Triton's instance_group count)
    decode_workers: int = 2  # threads parsing bodies and decoding images (all models together)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 2**20)

    @property
    def max_bytes_in_flight(self) -> int:
        return int(self.max_bytes_in_flight_mb * 2**20)

    @classmethod
    def from_args(cls, args: Any = None) -> ServeLimits:
        """Each limit from ``args.<name>`` if set, else ``FACEGATE_SERVE_<NAME>``, else the default."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = getattr(args, f.name, None) if args is not None else None
            if value is None:
                value = os.environ.get(f"FACEGATE_SERVE_{f.name.upper()}")
            if value is None:
                continue
            kind = int if f.type in ("int", int) else float
            try:
                number = kind(value)
            except (TypeError, ValueError):
                raise FaceGateError(f"serve: {f.name} must be a number, not {value!r}") from None
            if number <= 0:
                raise FaceGateError(f"serve: {f.name} must be positive, not {value!r}")
            values[f.name] = number
        return cls(**values)


@dataclass(frozen=True)
class ModelsConfig:
    """Which detector and recognizer run, and the match threshold.

    ``threshold`` None means: the store's calibration for the recognizer model (``main.py calibrate``),
    else the model's own measured default (``default_threshold`` next to each model)."""

    detector: str = DEFAULT_DETECTOR
    recognizer: str = DEFAULT_RECOGNIZER
    threshold: float | None = None

    def __post_init__(self) -> None:
        _check("models", "threshold", self.threshold is None or 0.0 < self.threshold <= 2.0, "in (0, 2]")


@dataclass(frozen=True)
class RetentionConfig:
    """How long recordings are kept (days; 0 keeps them forever) and whether unknown faces are blurred.
    Applied when a run or the window starts and by ``main.py retention apply`` (db/retention.py)."""

    frames_days: float = 0.0  # per-frame measurement rows of sessions that ended this long ago
    events_days: float = 0.0  # access events (their corrections and pending deliveries go with them)
    snapshots_days: float = 0.0  # the face snapshot (JPEG) of events; the event itself stays
    blur_unknown: bool = False  # store an unknown person's face snapshot blurred beyond recognition

    def __post_init__(self) -> None:
        for name in ("frames_days", "events_days", "snapshots_days"):
            value = getattr(self, name)
            _check("retention", name, value == value and 0 <= value <= 36500, "between 0 and 36500 days")


@dataclass(frozen=True)
class Config:
    """Every section; ``Config()`` is the shipped defaults."""

    models: ModelsConfig = field(default_factory=ModelsConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    enroll: EnrollConfig = field(default_factory=EnrollConfig)
    remote: RemoteConfig = field(default_factory=RemoteConfig)
    serve: ServeLimits = field(default_factory=ServeLimits)
    integrations: IntegrationsConfig = field(default_factory=IntegrationsConfig)  # webhooks, MQTT
    retention: RetentionConfig = field(default_factory=RetentionConfig)  # retention and privacy

    def replace(self, **sections: Mapping[str, Any]) -> Config:
        """A copy with fields of sections replaced, e.g. ``cfg.replace(remote={"jpeg_quality": 70})``;
        None values are ignored (an argument the user did not give)."""
        out = self
        for name, values in sections.items():
            if name not in {f.name for f in fields(self)}:
                raise ConfigError(f"no configuration section {name!r}")
            current = getattr(out, name)
            known = {f.name for f in fields(current)}
            unknown = sorted(set(values) - known)
            if unknown:
                raise ConfigError(f"{name} has no setting {unknown[0]!r}")
            given = {k: v for k, v in values.items() if v is not None}
            out = dataclasses.replace(out, **{name: dataclasses.replace(current, **given)})
        return out

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """The defaults overridden by ``FACEGATE_<SECTION>_<FIELD>`` variables."""
        env = os.environ if env is None else env
        cfg = cls()
        for section in fields(cls):
            current = getattr(cfg, section.name)
            values: dict[str, Any] = {}
            for f in fields(current):
                key = f"FACEGATE_{section.name}_{f.name}".upper()
                if key in env:
                    values[f.name] = _parse(key, env[key], getattr(current, f.name))
            if values:
                cfg = cfg.replace(**{section.name: values})
        return cfg


def _parse(key: str, text: str, default: Any) -> Any:
    """``text`` as the type of ``default`` (None defaults take a float or "none")."""
    text = text.strip()
    try:
        if isinstance(default, bool):
            if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if default is None:
            return None if text.lower() in ("", "none") else float(text)
        return text
    except ValueError:
        kind = {bool: "yes/no value", int: "whole number", float: "number"}.get(type(default), "number")
        raise ConfigError(f"{key}={text!r} is not a {kind}") from None


_DEFAULT = Config()


def defaults() -> Config:
    """The shipped defaults (for default arguments: one object, never mutated)."""
    return _DEFAULT
