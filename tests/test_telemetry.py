"""Telemetry probes and the sampler.

This test machine has no NVIDIA GPU, is not a Jetson and exposes no /sys/class/powercap, so:
RAPL is tested on a fake powercap tree (the probe takes its root as an argument); NVML and jtop are
tested for reporting *unavailable with a reason* here (on a machine that has them, the same tests
check real readings instead); the sampler runs the real psutil ProcessProbe, and energy
integration runs on fake power series.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from core.telemetry import (
    JetsonProbe,
    NvmlProbe,
    Probe,
    ProcessProbe,
    RaplProbe,
    Sampler,
    integrate_power,
)


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeProbe(Probe):
    """Returns the next reading of a fixed list (or raises it, when it is an exception)."""

    def __init__(self, name: str, readings: list[dict[str, Any] | Exception]) -> None:
        super().__init__()
        self.name = name
        self.fields = tuple(k for r in readings if isinstance(r, dict) for k in r)
        self._readings: Iterator[dict[str, Any] | Exception] = iter(readings)
        self.available = True
        self.closed = False

    def sample(self) -> dict[str, Any]:
        r = next(self._readings)
        if isinstance(r, Exception):
            raise r
        return r

    def close(self) -> None:
        self.closed = True


def make_zone(root: Path, dirname: str, name: str, energy_uj: int, max_uj: int = 262_143_328_850) -> Path:
    d = root / dirname
    d.mkdir(parents=True)
    (d / "name").write_text(name + "\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d / "energy_uj"


# --------------------------------------------------------------------------- RAPL (fake tree)


def test_rapl_power_is_energy_delta_over_time(tmp_path: Path) -> None:
    energy = make_zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    clock = FakeClock()
    probe = RaplProbe(root=tmp_path, clock=clock)
    assert probe.available and probe.reason is None
    assert [z.name for z in probe.zones] == ["package-0"]

    assert probe.sample() == {"cpu_power_w": None}  # one reading is no power yet
    energy.write_text(f"{1_000_000 + 12_500_000}\n")  # 12.5 J ...
    clock.t += 0.5  # ... in 0.5 s
    assert probe.sample()["cpu_power_w"] == pytest.approx(25.0)


def test_rapl_unwraps_the_energy_counter(tmp_path: Path) -> None:
    max_uj = 65_532_610_987
    energy = make_zone(tmp_path, "intel-rapl:0", "package-0", max_uj - 1_000_000, max_uj)
    clock = FakeClock()
    probe = RaplProbe(root=tmp_path, clock=clock)
    probe.sample()
    energy.write_text("2000000\n")  # passed max_energy_range_uj: 1 J before the wrap + 2 J after
    clock.t += 1.0
    assert probe.sample()["cpu_power_w"] == pytest.approx(3.0)


def test_rapl_sums_packages_and_skips_subzones_and_mmio_duplicates(tmp_path: Path) -> None:
    e0 = make_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    e1 = make_zone(tmp_path, "intel-rapl:1", "package-1", 0)
    sub = make_zone(tmp_path, "intel-rapl:0:0", "core", 0)  # inside package-0: would double count
    mmio = make_zone(tmp_path, "intel-rapl-mmio:0", "package-0", 0)  # the same package via MMIO
    dram = make_zone(tmp_path, "intel-rapl:0:1", "dram", 0)
    (tmp_path / "intel-rapl").mkdir()  # the control-type folder has no zone files
    clock = FakeClock()
    probe = RaplProbe(root=tmp_path, clock=clock)
    assert sorted(z.name for z in probe.zones) == ["package-0", "package-1"]
    assert all("mmio" not in str(z.path) for z in probe.zones)

    probe.sample()
    e0.write_text("10000000\n")
    e1.write_text("30000000\n")
    for f in (sub, mmio, dram):
        f.write_text("999000000000\n")
    clock.t += 2.0
    assert probe.sample()["cpu_power_w"] == pytest.approx(20.0)  # (10 J + 30 J) / 2 s


def test_rapl_absent_or_without_package_zone_is_unavailable(tmp_path: Path) -> None:
    missing = RaplProbe(root=tmp_path / "no-such-powercap")
    assert not missing.available and "not present" in missing.reason

    make_zone(tmp_path, "intel-rapl:0:0", "core", 0)
    no_package = RaplProbe(root=tmp_path)
    assert not no_package.available and "no package zone" in no_package.reason


def test_rapl_root_only_energy_is_unavailable_with_permission_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    energy = make_zone(tmp_path, "intel-rapl:0", "package-0", 5)
    energy.chmod(0o000)  # what the PLATYPUS fix does to energy_uj for non-root users
    if os.access(energy, os.R_OK):
        # root ignores file modes, so make the read fail the way the kernel does for other users
        real_read_text = Path.read_text

        def read_text(self: Path, *a: Any, **kw: Any) -> str:
            if self == energy:
                raise PermissionError(13, "Permission denied", str(self))
            return real_read_text(self, *a, **kw)

        monkeypatch.setattr(Path, "read_text", read_text)
    probe = RaplProbe(root=tmp_path)
    assert not probe.available
    assert "permission denied" in probe.reason and "energy_uj" in probe.reason


def test_rapl_on_this_host_reports_a_reason_or_reads_power() -> None:
    probe = RaplProbe()
    if not probe.available:
        assert probe.reason  # this test machine: no /sys/class/powercap, or energy_uj root-only
        return
    probe.sample()
    time.sleep(0.2)
    power = probe.sample()["cpu_power_w"]
    assert power is not None and 0 < power < 2000


# --------------------------------------------------------------------------- NVML and jtop


def test_nvml_without_a_gpu_is_unavailable_with_the_reason() -> None:
    """No NVIDIA GPU on the test machine: expect the reason; on a GPU host, check real readings."""
    probe = NvmlProbe()
    try:
        if importlib.util.find_spec("pynvml") is None:
            assert not probe.available
            assert probe.reason.startswith("pynvml: module not found")
        elif not probe.available:
            assert "NVML" in probe.reason  # e.g. "no NVIDIA GPU (NVML init failed: ... Not Found)"
        else:
            reading = probe.sample()
            assert reading["gpu_mem_mb"] is not None and reading["gpu_mem_mb"] >= 0
            assert reading["gpu_mem_scope"] in {"process", "device"}
            assert reading["gpu_util"] is None or 0 <= reading["gpu_util"] <= 100
            assert reading["gpu_power_w"] is None or 0 < reading["gpu_power_w"] < 2000
    finally:
        probe.close()
        probe.close()  # idempotent


def test_nvml_bad_device_index_is_unavailable() -> None:
    probe = NvmlProbe(device_index=999)
    assert not probe.available and probe.reason
    probe.close()


def test_jetson_probe_off_a_jetson_is_unavailable_with_the_reason() -> None:
    """The test machine is not a Jetson; on a Jetson with the jtop service, check real readings."""
    probe = JetsonProbe()
    try:
        if importlib.util.find_spec("jtop") is None:
            assert not probe.available
            assert probe.reason.startswith("jtop: module not found")
        elif not probe.available:
            assert "jtop" in probe.reason or "Jetson" in probe.reason
        else:
            time.sleep(1.0)
            reading = probe.sample()
            assert reading["board_power_w"] is None or reading["board_power_w"] > 0
            assert reading["sys_mem_used_mb"] is None or reading["sys_mem_used_mb"] > 0
    finally:
        probe.close()


# --------------------------------------------------------------------------- process probe + sampler


def test_process_probe_reads_rss_cpu_and_system_memory() -> None:
    probe = ProcessProbe()
    assert probe.available, probe.reason
    time.sleep(ProcessProbe.MIN_CPU_INTERVAL_S)
    reading = probe.sample()
    assert reading["rss_mb"] > 1
    assert reading["cpu_percent"] is not None and reading["cpu_percent"] >= 0
    # RSS counts mapped model and library files, which the system counts as reclaimable cache, so a
    # process with big mapped files can hold more RSS than the system calls "used" (a CI run saw
    # RSS 10051 MB beside 9978 MB used). Only bounds that always hold are checked here.
    total_mb = psutil.virtual_memory().total / 2**20
    assert 0 < reading["sys_mem_used_mb"] <= total_mb
    assert reading["rss_mb"] <= total_mb
    # asked again at once, the CPU interval is too short to mean anything: not measured, not 0
    assert probe.sample()["cpu_percent"] is None


def wait_for(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_sampler_with_the_real_process_probe_samples_in_background_and_stops() -> None:
    sampler = Sampler([ProcessProbe()], rate_hz=20.0)
    assert sampler.latest() is None
    sampler.start()
    sampler.start()  # idempotent
    try:
        wait_for(lambda: len(sampler.history()) >= 3)
        snap = sampler.latest()
        assert snap is not None and snap.rss_mb > 0
        assert snap.gpu_mem_mb is None and snap.power_w is None and snap.power_source is None
        thread = sampler._thread
        assert thread is not None and thread.daemon and thread.is_alive()
    finally:
        sampler.stop()
    assert not thread.is_alive() and not sampler.running
    sampler.stop()  # idempotent
    count = len(sampler.history())
    time.sleep(0.15)
    assert len(sampler.history()) == count  # nothing samples after stop


def test_sampler_context_manager_closes_the_probes_it_created(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeProbe("process", [{"rss_mb": 10.0}] * 1000)
    monkeypatch.setattr("core.telemetry.default_probes", lambda: [fake])
    with Sampler(rate_hz=50.0) as sampler:
        wait_for(lambda: sampler.latest() is not None)
        assert sampler.running
    assert not sampler.running and fake.closed
    with pytest.raises(RuntimeError):
        sampler.start()


def test_sampler_status_lists_every_default_probe_with_a_reason_when_unavailable() -> None:
    sampler = Sampler()
    try:
        status = {s.name: s for s in sampler.status()}
        assert set(status) == {"process", "nvml", "jetson", "rapl"}
        assert status["process"].available
        for s in status.values():
            assert s.available or s.reason, s
    finally:
        sampler.close()


def test_sampler_history_is_bounded() -> None:
    clock = FakeClock()
    sampler = Sampler([FakeProbe("p", [{"rss_mb": float(i)} for i in range(10)])], history=4, clock=clock)
    for _ in range(10):
        sampler.sample_once()
        clock.t += 1
    assert [s.rss_mb for s in sampler.history()] == [6.0, 7.0, 8.0, 9.0]


def test_a_failing_probe_is_recorded_and_does_not_stop_the_others() -> None:
    bad = FakeProbe("nvml", [RuntimeError("GPU fell off the bus"), {"gpu_util": 50.0}])
    good = FakeProbe("process", [{"rss_mb": 1.0}, {"rss_mb": 2.0}])
    sampler = Sampler([good, bad])
    snap = sampler.sample_once()
    assert snap.rss_mb == 1.0 and snap.gpu_util is None
    assert {s.name: s.last_error for s in sampler.status()}["nvml"] == "RuntimeError: GPU fell off the bus"
    snap = sampler.sample_once()
    assert snap.gpu_util == 50.0 and {s.name: s.last_error for s in sampler.status()}["nvml"] is None


def test_power_total_prefers_the_board_rail_else_sums_gpu_and_cpu() -> None:
    nvml = FakeProbe("nvml", [{"gpu_power_w": 70.0, "gpu_mem_mb": 512.0, "gpu_mem_scope": "process"}] * 2)
    rapl = FakeProbe("rapl", [{"cpu_power_w": None}, {"cpu_power_w": 30.0}])
    sampler = Sampler([nvml, rapl])
    first = sampler.sample_once()
    assert (first.power_w, first.power_source) == (70.0, "nvml")  # RAPL has no delta yet
    second = sampler.sample_once()
    assert (second.power_w, second.power_source) == (100.0, "nvml+rapl")
    assert (second.gpu_mem_mb, second.gpu_mem_scope) == (512.0, "process")

    jetson = FakeProbe("jetson", [{"board_power_w": 9.5, "gpu_util": 40.0}])
    snap = Sampler([jetson]).sample_once()
    assert (snap.power_w, snap.power_source, snap.gpu_util) == (9.5, "jetson", 40.0)


# --------------------------------------------------------------------------- energy


def test_energy_of_a_constant_power_is_exact() -> None:
    clock = FakeClock(1000.0)
    sampler = Sampler([FakeProbe("rapl", [{"cpu_power_w": 12.5}] * 11)], clock=clock)
    for _ in range(11):  # samples at 1000.0, 1000.5, ..., 1005.0
        sampler.sample_once()
        clock.t += 0.5
    assert sampler.energy_j(1000.0, 1005.0) == pytest.approx(62.5, rel=1e-12)
    assert sampler.energy_j(1001.2, 1003.7) == pytest.approx(12.5 * 2.5, rel=1e-12)  # inside segments
    assert sampler.mean_power_w(1000.3, 1004.1) == pytest.approx(12.5, rel=1e-12)
    assert sampler.energy_j(1002.0, 1002.0) == 0.0
    # not covered by samples: unknown, not extrapolated
    assert sampler.energy_j(999.0, 1002.0) is None
    assert sampler.energy_j(1004.0, 1006.0) is None
    with pytest.raises(ValueError):
        sampler.energy_j(1003.0, 1002.0)


def test_energy_is_exact_for_a_linear_ramp_and_none_across_a_gap() -> None:
    ramp = [(float(t), 10.0 + 2.0 * t) for t in range(0, 11)]  # P(t) = 10 + 2t W
    # integral of 10 + 2t from 1.5 to 7.25 = 10*5.75 + (7.25^2 - 1.5^2)
    assert integrate_power(ramp, 1.5, 7.25) == pytest.approx(57.5 + 52.5625 - 2.25, rel=1e-12)

    gap = [(0.0, 5.0), (1.0, 5.0), (2.0, None), (3.0, 5.0), (4.0, 5.0)]
    assert integrate_power(gap, 0.0, 1.0) == pytest.approx(5.0)
    assert integrate_power(gap, 0.5, 2.5) is None  # a sample with no power bounds part of it
    assert integrate_power(gap, 3.0, 4.0) == pytest.approx(5.0)
    assert integrate_power([(0.0, 5.0)], 0.0, 0.0) is None


def test_energy_is_none_where_nothing_measures_power() -> None:
    clock = FakeClock()
    sampler = Sampler([FakeProbe("process", [{"rss_mb": 5.0}] * 3)], clock=clock)
    for _ in range(3):
        sampler.sample_once()
        clock.t += 1.0
    assert sampler.energy_j(100.0, 102.0) is None


@pytest.mark.parametrize(
    ("module", "make", "reason"),
    [
        ("pynvml", NvmlProbe, "pynvml: module not found"),
        ("jtop", JetsonProbe, "jtop: module not found"),
    ],
)
def test_a_missing_module_gives_module_not_found(
    monkeypatch: pytest.MonkeyPatch, module: str, make: type[Probe], reason: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    probe = make()
    assert not probe.available and probe.reason.startswith(reason)
    assert Sampler([probe]).sample_once().gpu_util is None  # an unavailable probe is not sampled


def test_sampler_restarts_after_stop_and_keeps_its_history() -> None:
    sampler = Sampler([ProcessProbe()], rate_hz=50.0)
    sampler.start()
    wait_for(lambda: len(sampler.history()) >= 2)
    sampler.stop()
    before = len(sampler.history())
    sampler.start()
    try:
        wait_for(lambda: len(sampler.history()) > before)
        assert sampler.running
    finally:
        sampler.close()
    assert not sampler.running
