"""One typed configuration (core/config.py): the defaults every entry point builds from, the environment
and the command line on top, one-line errors for bad values."""

from __future__ import annotations

import inspect

import pytest

from core.config import Config, ConfigError, TrackerConfig, defaults


def test_the_modules_take_their_defaults_from_the_configuration() -> None:
    from core.deploy.client import remote_pipeline
    from core.tracking import Tracker
    from enroll.quality import MIN_FACE_PX

    cfg = Config()
    assert Tracker().config == cfg.tracker
    params = inspect.signature(remote_pipeline).parameters
    for name in ("jpeg_quality", "fallback_after_s", "crop_format", "crop_quality"):
        assert params[name].default == getattr(cfg.remote, name), name
    assert MIN_FACE_PX == cfg.enroll.min_face_px
    assert cfg.detector.video_min_face_px == 40 and cfg.detector.photo_min_face_px == 20


def test_environment_overrides_with_types_and_bounds() -> None:
    cfg = Config.from_env(
        {
            "FACEGATE_REMOTE_JPEG_QUALITY": "70",
            "FACEGATE_TRACKER_MIN_AGREE": "4",
            "FACEGATE_TRACKER_SPLIT_DISTANCE": "1.1",
        }
    )
    assert (cfg.remote.jpeg_quality, cfg.tracker.min_agree, cfg.tracker.split_distance) == (70, 4, 1.1)
    assert cfg.enroll == defaults().enroll  # untouched sections keep the defaults
    with pytest.raises(ConfigError, match="FACEGATE_REMOTE_JPEG_QUALITY='high' is not a whole number"):
        Config.from_env({"FACEGATE_REMOTE_JPEG_QUALITY": "high"})
    with pytest.raises(ConfigError, match="tracker.max_undecided must be >= min_agree"):
        Config.from_env({"FACEGATE_TRACKER_MIN_AGREE": "20"})


def test_replace_ignores_arguments_not_given_and_refuses_unknown_settings() -> None:
    cfg = Config().replace(remote={"jpeg_quality": None, "crop_format": "jpeg"})
    assert (cfg.remote.jpeg_quality, cfg.remote.crop_format) == (85, "jpeg")
    with pytest.raises(ConfigError, match="remote has no setting 'quality'"):
        Config().replace(remote={"quality": 3})
    with pytest.raises(ConfigError, match="remote.fallback_after_s must be"):
        Config().replace(remote={"fallback_after_s": float("nan")})


def test_a_tracker_is_built_from_its_section() -> None:
    from core.tracking import Tracker

    t = Tracker(TrackerConfig(min_agree=2, min_unknown=2), policy_of=None, reverify_every=5)
    assert (t.config.min_agree, t.config.min_unknown, t.config.max_undecided, t.config.reverify_every) == (
        2,
        2,
        12,
        5,
    )
    with pytest.raises(ConfigError, match="tracker.min_agree must be >= 1"):
        Tracker(min_agree=0)


def test_the_command_line_layers_its_arguments_over_environment_and_defaults(monkeypatch, run_cli) -> None:
    import argparse

    from app.cli import Context

    monkeypatch.setenv("FACEGATE_REMOTE_JPEG_QUALITY", "60")
    ctx = Context(argparse.Namespace(jpeg_quality=None, crop_format="jpeg", fallback_after=None, min_face=80))
    assert (ctx.config.remote.jpeg_quality, ctx.config.remote.crop_format, ctx.config.enroll.min_face_px) == (
        60,
        "jpeg",
        80,
    )
    code, out, err = run_cli(
        "run",
        "--source",
        "demo",
        "--mode",
        "cloud",
        "--endpoint",
        "http://127.0.0.1:9",
        "--jpeg-quality",
        "500",
    )
    assert code != 0 and "jpeg_quality must be between 1 and 100" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_the_endpoint_limits_and_the_models_are_sections_too() -> None:
    from core.deploy.server import Limits
    from core.registry import DEFAULT_DETECTOR

    cfg = Config.from_env(
        {"FACEGATE_SERVE_MAX_CROPS": "32", "FACEGATE_MODELS_RECOGNIZER": "facenet512:tflite"}
    )
    assert isinstance(cfg.serve, Limits) and cfg.serve.max_crops == 32
    assert Limits.from_args(None).max_crops == Config().serve.max_crops  # one set of endpoint defaults
    assert (cfg.models.detector, cfg.models.recognizer, cfg.models.threshold) == (
        DEFAULT_DETECTOR,
        "facenet512:tflite",
        None,
    )
    with pytest.raises(ConfigError, match="models.threshold must be in"):
        Config().replace(models={"threshold": 3.0})


def test_the_command_line_takes_models_and_threshold_from_the_environment(monkeypatch) -> None:
    import argparse

    from app.cli import Context

    monkeypatch.setenv("FACEGATE_MODELS_THRESHOLD", "0.9")
    monkeypatch.setenv("FACEGATE_MODELS_DETECTOR", "mtcnn:tflite")
    ctx = Context(argparse.Namespace(detector=None, recognizer=None, threshold=None))
    assert (ctx.detector_key, ctx.threshold) == ("mtcnn:tflite", 0.9)
    ctx = Context(argparse.Namespace(detector="blazeface:tflite", recognizer=None, threshold=0.8))
    assert (ctx.detector_key, ctx.threshold) == ("blazeface:tflite", 0.8)  # arguments win


def test_every_entry_point_gets_its_video_detector_from_the_detector_section() -> None:
    from app.session import video_detector
    from core.config import DetectorConfig

    assert video_detector("mtcnn:onnxruntime").min_face_size == Config().detector.video_min_face_px
    assert video_detector("mtcnn:onnxruntime", DetectorConfig(video_min_face_px=60)).min_face_size == 60
