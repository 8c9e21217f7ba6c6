"""The window's session/switch state machine (gui.controller), tested without a window.

What is fake here, and why: building backends needs the model files and seconds of CPU per build, and
opening a session needs a video source and the engine; so ``build_session``/``build_switch`` are replaced
by functions that return a :class:`Built` of named stand-ins, and the inference worker by
:class:`FakeWorker`, which keeps its calls in a queue the test runs one by one. That is what makes every
interleaving (a stop or a close while a build is on its way) chosen by the test rather than by timing.
The settings are a real INI file, the signals real Qt signals, and one test runs the real builder thread.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("PySide6.QtCore", reason="the controller's signals need PySide6")

from PySide6.QtCore import QObject, Signal  # noqa: E402, TID253 - the fakes are QObjects with signals

import gui.controller as controller_module  # noqa: E402
from core.registry import DEFAULT_DETECTOR, DEFAULT_RECOGNIZER  # noqa: E402
from gui.backends import Built, Choice  # noqa: E402
from gui.controller import SessionController  # noqa: E402
from gui.settings import Settings  # noqa: E402
from gui.views import SessionInfo, SwitchMark  # noqa: E402

TFLITE = "facenet128:tflite"
MISSING = "facenet512:tensorrt"


class StepThread(QObject):
    """Stands in for a TaskThread: ``call`` queues; the test runs the tasks (``run_next``/``run_all``)
    on its own thread, each followed by its done/failed callback, as the real one delivers them."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.tasks: list[tuple[Any, tuple, dict, Any, Any]] = []
        self.stopped = False

    def call(self, fn, *args, done=None, failed=None, **kwargs) -> int:
        self.tasks.append((fn, args, kwargs, done, failed))
        return len(self.tasks)

    def run_next(self) -> None:
        fn, args, kwargs, done, failed = self.tasks.pop(0)
        try:
            result = fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - as TaskThread: the failure goes to ``failed``
            if failed is not None:
                failed(str(err))
            return
        if done is not None:
            done(result)

    def run_all(self) -> None:
        while self.tasks:
            self.run_next()

    def stop(self) -> bool:
        self.tasks.clear()  # as TaskThread.stop: queued work is dropped
        self.stopped = True
        return True

    def isRunning(self) -> bool:  # noqa: N802 - QThread API
        return not self.stopped


class FakeWorker(StepThread):
    """The inference worker's session bookkeeping without a source or an engine."""

    sessionStarted = Signal(object)
    sessionEnded = Signal(object)

    def __init__(self) -> None:
        super().__init__("facegate-inference")
        self.info: SessionInfo | None = None
        self.built: Built | None = None
        self.frames_processed = 0
        self.last_image = None
        self.opened: list[str] = []
        self.thresholds: list[tuple[str, float]] = []

    def open_session(self, built: Built, spec) -> SessionInfo:
        self.close_session("new session")
        if not spec.spec.startswith("demo") and not Path(spec.spec).exists():
            raise FileNotFoundError(f"no such video: {spec.spec}")
        self.built = built
        self.opened.append(spec.spec)
        self.info = SessionInfo(f"s{len(self.opened)}", spec.spec, spec.spec, built.store_path)
        self.sessionStarted.emit(self.info)
        return self.info

    def close_session(self, reason: str = "stopped") -> SessionInfo | None:
        info, self.info = self.info, None
        if info is None:
            return None
        ended = dataclasses.replace(info, frames=self.frames_processed, reason=reason)
        self.sessionEnded.emit(ended)
        return ended

    def apply(self, built: Built, requested_at_frame: int = 0) -> SwitchMark:
        self.built = built
        return SwitchMark(
            time.monotonic(),
            built.label,
            built.changed,
            built.build_ms,
            self.frames_processed - requested_at_frame,
        )

    def set_threshold(self, model: str, value: float) -> bool:
        self.thresholds.append((model, value))
        return True


def built_of(detector: str, recognizer: str, mode: str, store: Path, changed: str, label: str) -> Built:
    rec = SimpleNamespace(key=recognizer, model=recognizer.partition(":")[0], default_threshold=1.0)
    local = SimpleNamespace(
        detector=SimpleNamespace(key=detector), recognizer=rec, gallery=None, threshold=1.0
    )
    return Built(local, local, mode, 5.0, changed, label, Path(store))


class FakeBuilds:
    """``build_session``/``build_switch`` that build nothing: they say what they would have built.
    A key in ``broken`` fails to build, as a backend whose runtime cannot load."""

    def __init__(self) -> None:
        self.sessions: list[tuple[str, str, str]] = []
        self.switches: list[tuple[str, str]] = []
        self.broken: set[str] = set()

    def session(self, det, rec, store_path, demo, threshold, mode, remote, frame=None) -> Built:
        self.sessions.append((det, rec, mode))
        for key in (det, rec):
            if key in self.broken:
                raise RuntimeError(f"{key} cannot load")
        return built_of(det, rec, mode, store_path, "session", f"{det} + {rec}")

    def switch(self, kind, value, base, store_path, threshold, remote, frame=None) -> Built:
        self.switches.append((kind, value))
        if value in self.broken:
            raise RuntimeError(f"{value} cannot load")
        keys = {"detector": base.detector_key, "recognizer": base.recognizer_key, "mode": base.mode}
        keys[kind] = value
        return built_of(
            keys["detector"], keys["recognizer"], keys["mode"], base.store_path, kind, f"{kind} {value}"
        )


@pytest.fixture
def builds(monkeypatch) -> FakeBuilds:
    fake = FakeBuilds()
    monkeypatch.setattr(controller_module, "build_session", fake.session)
    monkeypatch.setattr(controller_module, "build_switch", fake.switch)
    return fake


@dataclasses.dataclass
class Rig:
    ctl: SessionController
    worker: FakeWorker
    builder: StepThread
    settings: Settings
    seen: list[tuple[str, Any]]

    def signals(self, name: str) -> list[Any]:
        return [args for n, args in self.seen if n == name]

    def notices(self) -> list[str]:
        return [args[0] for n, args in self.seen if n == "notice"]

    def settle(self) -> None:
        """Run everything queued on both threads until neither has work (as the real threads would)."""
        while self.worker.tasks or self.builder.tasks:
            self.worker.run_all()
            self.builder.run_all()


def make_rig(tmp_path: Path, builder: Any = None) -> Rig:
    settings = Settings(tmp_path / "facegate.ini")
    worker = FakeWorker()
    builder = builder if builder is not None else StepThread("facegate-builder")
    ctl = SessionController(worker, builder, settings, db=tmp_path / "gate.db")
    ctl.choices = {
        "detector": {DEFAULT_DETECTOR: Choice(DEFAULT_DETECTOR, "MTCNN", True)},
        "recognizer": {
            DEFAULT_RECOGNIZER: Choice(DEFAULT_RECOGNIZER, "FaceNet-128 (onnxruntime)", True),
            TFLITE: Choice(TFLITE, "FaceNet-128 (tflite)", True),
            MISSING: Choice(MISSING, "FaceNet-512 (tensorrt)", False, "tensorrt: module not found"),
        },
        "mode": {"local": Choice("local", "Local (edge)", True)},
    }
    seen: list[tuple[str, Any]] = []
    for name in (
        "notice",
        "choiceShown",
        "stateChanged",
        "startRequested",
        "startFailed",
        "sessionOpened",
        "sessionStarted",
        "sessionStopped",
        "sessionEnded",
        "switchApplied",
        "switchRefused",
    ):
        getattr(ctl, name).connect(lambda *args, name=name: seen.append((name, args)))
    return Rig(ctl, worker, builder, settings, seen)


@pytest.fixture
def rig(tmp_path, builds) -> Rig:
    return make_rig(tmp_path)


def running_rig(rig: Rig) -> Rig:
    rig.ctl.start("demo")
    rig.settle()
    assert rig.ctl.running
    return rig


# ---------------------------------------------------------------------------------------------- start
def test_start_builds_then_opens_and_runs_the_session(rig: Rig, builds: FakeBuilds, tmp_path) -> None:
    ctl = rig.ctl
    ctl.start("  demo ")
    assert ctl.starting and not ctl.running and ctl.source_spec == "demo"
    assert rig.signals("startRequested") == [("demo",)]
    rig.worker.run_all()  # any session before is closed first
    assert builds.sessions == [] and len(rig.builder.tasks) == 1  # then the builder builds
    rig.builder.run_all()
    assert builds.sessions == [(DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, "local")]
    assert ctl.built is None and not ctl.running  # built, not opened yet
    rig.worker.run_all()
    assert ctl.running and not ctl.starting
    assert ctl.session is not None and ctl.session.session_id == "s1"
    assert ctl.built is not None and ctl.built.store_path == tmp_path / "gate.db"
    assert ctl.applied == {"detector": DEFAULT_DETECTOR, "recognizer": DEFAULT_RECOGNIZER, "mode": "local"}
    assert [n for n, _ in rig.seen if n.startswith("session")] == ["sessionStarted", "sessionOpened"]
    # what runs is what the next launch starts with
    assert (rig.settings.detector, rig.settings.recognizer, rig.settings.mode, rig.settings.source) == (
        DEFAULT_DETECTOR,
        DEFAULT_RECOGNIZER,
        "local",
        "demo",
    )


def test_a_restart_on_the_same_backends_ends_the_old_session_first(rig: Rig, builds: FakeBuilds) -> None:
    running_rig(rig)
    rig.ctl.start("demo-2")  # another source; "demo-2" opens in the fake like the demo
    rig.worker.run_next()
    assert rig.signals("sessionEnded")[-1][0].reason == "restart" and not rig.ctl.running
    assert rig.signals("sessionStopped")[-1][0].session_id == "s1"
    rig.settle()
    assert rig.ctl.running and rig.ctl.session.session_id == "s2" and rig.worker.opened == ["demo", "demo-2"]


def test_the_start_button_toggles(rig: Rig) -> None:
    rig.ctl.toggle("demo")
    assert rig.ctl.starting
    rig.settle()
    assert rig.ctl.running
    rig.ctl.toggle("demo")
    rig.settle()
    assert not rig.ctl.running and not rig.ctl.starting
    assert rig.signals("sessionEnded")[-1][0].reason == "stopped by the operator"


# ---------------------------------------------------------------------------------------------- switch
def test_a_switch_while_running_builds_then_swaps(rig: Rig, builds: FakeBuilds) -> None:
    ctl = running_rig(rig).ctl
    assert ctl.switch("recognizer", TFLITE)
    assert ctl.want["recognizer"] == TFLITE and ctl.applied["recognizer"] == DEFAULT_RECOGNIZER
    assert "building facenet128:tflite… (the video keeps running)" in rig.notices()
    rig.worker.frames_processed = 12  # frames keep flowing while it builds
    rig.builder.run_all()
    assert builds.switches == [("recognizer", TFLITE)]
    assert ctl.applied["recognizer"] == DEFAULT_RECOGNIZER  # built, not yet swapped in
    rig.worker.frames_processed = 15
    rig.worker.run_all()  # the worker swaps it in between two frames
    assert ctl.applied["recognizer"] == TFLITE and ctl.built.recognizer_key == TFLITE
    ((kind, built, mark),) = rig.signals("switchApplied")
    assert kind == "recognizer" and mark.frames_during_build == 15 and built is rig.worker.built
    assert rig.notices()[-1].startswith(f"switched to recognizer {TFLITE}: built in 5 ms")
    assert rig.settings.recognizer == TFLITE and ctl.running
    assert ctl.session.session_id == "s1"  # the same session: a switch is not a restart


def test_a_newer_choice_makes_the_build_on_its_way_stale(rig: Rig, builds: FakeBuilds) -> None:
    ctl = running_rig(rig).ctl
    ctl.switch("recognizer", TFLITE)
    ctl.switch("recognizer", DEFAULT_RECOGNIZER)  # changed their mind before the build finished
    rig.settle()
    assert builds.switches == [("recognizer", TFLITE), ("recognizer", DEFAULT_RECOGNIZER)]
    assert [args[0] for args in rig.signals("switchApplied")] == ["recognizer"]  # only the newest
    assert (
        ctl.applied["recognizer"] == DEFAULT_RECOGNIZER
        and rig.worker.built.recognizer_key == DEFAULT_RECOGNIZER
    )


def test_an_unavailable_choice_is_refused_with_its_reason(rig: Rig, builds: FakeBuilds) -> None:
    ctl = running_rig(rig).ctl
    assert not ctl.switch("recognizer", MISSING)
    assert rig.signals("switchRefused") == [("recognizer", f"{MISSING}: tensorrt: module not found")]
    assert rig.signals("choiceShown")[-1] == ("recognizer", DEFAULT_RECOGNIZER)  # the dropdown goes back
    assert not rig.builder.tasks and ctl.want["recognizer"] == DEFAULT_RECOGNIZER


def test_a_failed_switch_build_keeps_what_runs(rig: Rig, builds: FakeBuilds) -> None:
    ctl = running_rig(rig).ctl
    builds.broken.add(TFLITE)
    ctl.switch("recognizer", TFLITE)
    rig.settle()
    assert rig.signals("switchRefused") == [("recognizer", f"{TFLITE}: {TFLITE} cannot load")]
    assert ctl.want["recognizer"] == ctl.applied["recognizer"] == DEFAULT_RECOGNIZER and ctl.running
    assert rig.settings.recognizer == DEFAULT_RECOGNIZER


def test_a_choice_before_any_session_is_what_the_next_start_builds(rig: Rig, builds: FakeBuilds) -> None:
    assert rig.ctl.switch("recognizer", TFLITE)
    assert not rig.builder.tasks and rig.settings.recognizer == TFLITE
    rig.ctl.start("demo")
    rig.settle()
    assert (
        builds.sessions == [(DEFAULT_DETECTOR, TFLITE, "local")] and rig.ctl.applied["recognizer"] == TFLITE
    )


# ---------------------------------------------------------------------------------------------- failures
def test_a_failed_start_leaves_no_running_session(rig: Rig, builds: FakeBuilds, tmp_path) -> None:
    running_rig(rig)
    rig.ctl.start(str(tmp_path / "missing.avi"))  # the source cannot open
    rig.settle()
    assert not rig.ctl.running and not rig.ctl.starting and rig.worker.info is None
    assert rig.signals("startFailed") == [(f"no such video: {tmp_path / 'missing.avi'}",)]
    assert rig.notices()[-1] == f"cannot start: no such video: {tmp_path / 'missing.avi'}"
    assert rig.signals("sessionEnded")[-1][0].reason == "restart"  # the old one was saved, not left running


def test_a_failed_build_of_the_defaults_leaves_no_running_session(rig: Rig, builds: FakeBuilds) -> None:
    builds.broken.add(DEFAULT_RECOGNIZER)
    rig.ctl.start("demo")
    rig.settle()
    assert not rig.ctl.running and not rig.ctl.starting and rig.ctl.built is None
    assert rig.worker.opened == [] and rig.signals("startFailed") == [(f"{DEFAULT_RECOGNIZER} cannot load",)]


def test_a_saved_backend_that_no_longer_loads_starts_with_the_defaults(rig: Rig, builds: FakeBuilds) -> None:
    rig.ctl.want["recognizer"] = TFLITE
    builds.broken.add(TFLITE)
    rig.ctl.start("demo")
    rig.settle()
    assert rig.ctl.running and rig.ctl.applied["recognizer"] == DEFAULT_RECOGNIZER
    assert any("started with the defaults" in n for n in rig.notices())


# ---------------------------------------------------------------------------------------------- stop, close
def test_stop_during_a_switch_build_ends_the_session_and_keeps_the_choice(
    rig: Rig, builds: FakeBuilds
) -> None:
    ctl = running_rig(rig).ctl
    ctl.switch("recognizer", TFLITE)
    ctl.stop()
    rig.worker.run_all()  # the session ends while the builder still builds
    assert not ctl.running and rig.signals("sessionStopped")[-1][0].reason == "stopped by the operator"
    rig.settle()
    assert not ctl.running and rig.worker.info is None  # the finished build opened nothing
    assert ctl.applied["recognizer"] == TFLITE  # and the next start runs it


def test_stop_during_a_start_build_leaves_no_running_session(rig: Rig, builds: FakeBuilds) -> None:
    rig.ctl.start("demo")
    rig.worker.run_all()  # closed what ran; the build is on its way
    rig.ctl.stop()
    rig.settle()
    assert not rig.ctl.running and rig.worker.info is None


def test_closing_during_a_start_build_opens_nothing(rig: Rig, builds: FakeBuilds) -> None:
    rig.ctl.start("demo")
    rig.worker.run_all()
    fn, args, kwargs, done, _ = rig.builder.tasks.pop(0)  # the build runs while the window closes
    rig.ctl.shutdown()
    assert rig.ctl.closing and rig.ctl.threads_running == []
    done(fn(*args, **kwargs))  # its result arrives after
    assert rig.worker.tasks == [] and rig.worker.opened == [] and not rig.ctl.running
    rig.ctl.start("demo")  # nothing starts any more
    assert rig.worker.tasks == [] and len(rig.signals("startRequested")) == 1


def test_closing_during_a_switch_build_swaps_nothing(rig: Rig, builds: FakeBuilds) -> None:
    ctl = running_rig(rig).ctl
    ctl.switch("recognizer", TFLITE)
    fn, args, kwargs, done, _ = rig.builder.tasks.pop(0)
    assert ctl.begin_shutdown() and not ctl.begin_shutdown()  # once
    done(fn(*args, **kwargs))
    assert rig.worker.tasks == [] and ctl.applied["recognizer"] == DEFAULT_RECOGNIZER
    rig.worker.close_session("window closed")  # the worker's own end, as its thread finishes
    assert not ctl.running and rig.signals("sessionStopped") == []  # no "Stopped… press F5" while closing
    assert rig.signals("sessionEnded")[-1][0].reason == "window closed"


# ---------------------------------------------------------------------------------------------- thresholds
def test_the_threshold_override_applies_to_the_wanted_model_until_the_slider_moves(rig: Rig) -> None:
    ctl = running_rig(rig).ctl
    ctl.threshold_override = 0.7
    assert ctl.threshold_for("facenet128") == 0.7 and ctl.threshold_for("facenet512") is None
    ctl.set_threshold("facenet128", 0.9)
    rig.worker.run_all()
    assert rig.worker.thresholds == [("facenet128", 0.9)] and rig.settings.threshold("facenet128") == 0.9
    assert ctl.threshold_for("facenet128") == 0.9


# ---------------------------------------------------------------------------------------------- real thread
def test_start_with_the_real_builder_thread(qtbot, tmp_path, builds: FakeBuilds) -> None:
    """The builder is a real TaskThread: the build runs in it, its result reaches the controller on
    this (the GUI) thread through Qt's queued signal."""
    from gui.tasks import TaskThread

    builder = TaskThread("facegate-builder")
    builder.start()
    try:
        rig = make_rig(tmp_path, builder)
        rig.ctl.start("demo")
        rig.worker.run_all()
        qtbot.waitUntil(lambda: bool(rig.worker.tasks), timeout=5_000)  # built: the open is queued
        rig.worker.run_all()
        assert rig.ctl.running and rig.ctl.applied["recognizer"] == DEFAULT_RECOGNIZER
        assert rig.ctl.threads_running == ["facegate-inference", "facegate-builder"]
    finally:
        builder.stop()
    assert not builder.isRunning()


def test_the_controller_imports_no_widget() -> None:
    """The state machine is testable without a window: importing it loads no QtWidgets nor QtGui."""
    import subprocess
    import sys

    code = "import sys, gui.controller; print(sorted(m for m in sys.modules if m.startswith('PySide6.')))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    assert "PySide6.QtCore" in out and "QtWidgets" not in out and "QtGui" not in out
