"""Resource telemetry: process memory and CPU, GPU memory/utilisation/power, board or CPU power.

Each probe reports ``available`` and, when it cannot measure here, a one-line ``reason`` ("pynvml:
module not found", "permission denied: ... energy_uj is root-only"). A probe never invents a value:
anything it could not read is ``None``. The :class:`Sampler` runs the probes in a background daemon
thread (default 2 Hz), off the per-frame path, keeps a bounded history and integrates power over
time windows (:meth:`Sampler.energy_j`).

Units: memory in MiB (``*_mb``, 2**20 bytes, as nvidia-smi shows it), power in W, utilisation and
CPU in percent. ``cpu_percent`` is psutil's per-process figure where 100 % = one logical core fully
busy, so a process using 3 cores reads 300 %. Heavy or optional modules (psutil, pynvml, jtop) are
imported inside the probe that needs them.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MIB = 1024 * 1024
Clock = Callable[[], float]

# The snapshot fields a probe may fill; anything else a probe returns lands in ``extra``.
SNAPSHOT_FIELDS = (
    "rss_mb",
    "cpu_percent",
    "sys_mem_used_mb",
    "gpu_mem_mb",
    "gpu_mem_scope",
    "gpu_util",
    "gpu_power_w",
    "cpu_power_w",
    "board_power_w",
)


# --------------------------------------------------------------------------- probes


class Probe:
    """One source of measurements.

    Subclasses set ``available``/``reason`` in ``__init__`` (cheaply, without raising) and return a
    dict of the :data:`SNAPSHOT_FIELDS` they measure from :meth:`sample`, ``None`` for a field they
    could not read this time. ``sample`` may raise; the :class:`Sampler` records the error and goes on.
    """

    name: str = ""
    fields: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.available: bool = False
        self.reason: str | None = None

    def _unavailable(self, reason: str) -> None:
        self.available, self.reason = False, reason
        log.debug("telemetry probe %s unavailable: %s", self.name, reason)

    def sample(self) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the probe holds (NVML handle, jtop connection). Idempotent."""


class ProcessProbe(Probe):
    """psutil: this process's RSS (MiB) and CPU % (100 = one core), and system memory in use (MiB).

    System memory used is ``total - available`` (what htop/free call used, excluding reclaimable cache).
    """

    name = "process"
    fields = ("rss_mb", "cpu_percent", "sys_mem_used_mb")
    # psutil counts CPU time in clock ticks (10 ms); a shorter interval gives 0 % or a wild spike
    MIN_CPU_INTERVAL_S = 0.1

    def __init__(self, pid: int | None = None) -> None:
        super().__init__()
        self._proc: Any = None
        try:
            import psutil
        except ImportError:
            self._unavailable("psutil: module not found")
            return
        self._psutil = psutil
        try:
            self._proc = psutil.Process(pid)
            self._proc.cpu_percent(None)  # the first call only sets the baseline
        except (psutil.Error, OSError) as err:
            self._unavailable(f"psutil: cannot read process {pid or os.getpid()}: {err}")
            return
        self._cpu_t = time.monotonic()
        self.available = True

    def sample(self) -> dict[str, Any]:
        out: dict[str, Any] = dict.fromkeys(self.fields)
        out["rss_mb"] = self._proc.memory_info().rss / MIB
        now = time.monotonic()
        if now - self._cpu_t >= self.MIN_CPU_INTERVAL_S:
            out["cpu_percent"] = float(self._proc.cpu_percent(None))
            self._cpu_t = now
        vm = self._psutil.virtual_memory()
        out["sys_mem_used_mb"] = (vm.total - vm.available) / MIB
        return out


class NvmlProbe(Probe):
    """NVIDIA GPU through NVML (``pip install nvidia-ml-py``, module ``pynvml``).

    GPU memory is this process's when NVML lists it among the device's processes
    (``gpu_mem_scope="process"``), else the whole device's (``"device"``): a process without a CUDA
    context yet, or one in a container whose PID namespace NVML cannot see, reads the device total.
    Power is ``nvmlDeviceGetPowerUsage`` (mW) / 1000; ``None`` on boards that do not report it.
    """

    name = "nvml"
    fields = ("gpu_mem_mb", "gpu_mem_scope", "gpu_util", "gpu_power_w")

    def __init__(self, device_index: int = 0, pid: int | None = None) -> None:
        super().__init__()
        self.device_index = device_index
        self.pid = os.getpid() if pid is None else pid
        self.device_name: str | None = None
        self._nvml: Any = None
        self._handle: Any = None
        self._warned: set[str] = set()
        try:
            import pynvml
        except ImportError:
            self._unavailable("pynvml: module not found (pip install nvidia-ml-py)")
            return
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as err:
            self._unavailable(f"no NVIDIA GPU (NVML init failed: {err})")
            return
        try:
            count = pynvml.nvmlDeviceGetCount()
            if not 0 <= device_index < count:
                pynvml.nvmlShutdown()
                self._unavailable(f"no NVIDIA GPU at index {device_index} (NVML sees {count})")
                return
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
            name = pynvml.nvmlDeviceGetName(self._handle)
            self.device_name = name.decode() if isinstance(name, bytes) else str(name)
        except pynvml.NVMLError as err:
            pynvml.nvmlShutdown()
            self._unavailable(f"NVML cannot open GPU {device_index}: {err}")
            return
        self._nvml = pynvml
        self.available = True

    def _read(self, what: str, fn: Callable[[], Any]) -> Any:
        """One NVML query; ``None`` (logged once) when this GPU does not support it."""
        try:
            return fn()
        except self._nvml.NVMLError as err:
            if what not in self._warned:
                self._warned.add(what)
                log.info("NVML %s not readable on GPU %d: %s", what, self.device_index, err)
            return None

    def _process_mem_mb(self) -> float | None:
        nv, h = self._nvml, self._handle
        used, found = 0, False
        for fn in (nv.nvmlDeviceGetComputeRunningProcesses, nv.nvmlDeviceGetGraphicsRunningProcesses):
            procs = self._read("process list", functools.partial(fn, h)) or []
            for p in procs:
                # usedGpuMemory is None where NVML cannot attribute memory (e.g. Windows WDDM)
                if p.pid == self.pid and p.usedGpuMemory is not None:
                    used += p.usedGpuMemory
                    found = True
        return used / MIB if found else None

    def sample(self) -> dict[str, Any]:
        nv, h = self._nvml, self._handle
        out: dict[str, Any] = dict.fromkeys(self.fields)
        mem = self._process_mem_mb()
        if mem is not None:
            out["gpu_mem_mb"], out["gpu_mem_scope"] = mem, "process"
        else:
            info = self._read("memory info", lambda: nv.nvmlDeviceGetMemoryInfo(h))
            if info is not None:
                out["gpu_mem_mb"], out["gpu_mem_scope"] = info.used / MIB, "device"
        util = self._read("utilisation", lambda: nv.nvmlDeviceGetUtilizationRates(h))
        out["gpu_util"] = None if util is None else float(util.gpu)
        mw = self._read("power", lambda: nv.nvmlDeviceGetPowerUsage(h))
        out["gpu_power_w"] = None if mw is None else mw / 1000.0
        return out

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass
            self._nvml = None


def _looks_like_jetson() -> bool:
    if Path("/etc/nv_tegra_release").exists():
        return True
    try:
        return "jetson" in Path("/proc/device-tree/model").read_text(errors="ignore").lower()
    except OSError:
        return False


class JetsonProbe(Probe):
    """NVIDIA Jetson through jetson-stats' jtop service (jetson-stats >= 4, Jetson only).

    ``board_power_w`` is jtop's total: the board input rail (VDD_IN / POM_5V_IN) where the board has
    one, else the sum of its rails. RAM is unified on a Jetson, so ``sys_mem_used_mb`` is RAM used;
    GPU memory is this process's from jtop's process table when listed, else the shared (GPU) RAM.
    """

    name = "jetson"
    fields = ("board_power_w", "sys_mem_used_mb", "gpu_util", "gpu_mem_mb", "gpu_mem_scope")

    def __init__(self, interval_s: float = 0.5, pid: int | None = None) -> None:
        super().__init__()
        self.pid = os.getpid() if pid is None else pid
        self._jtop: Any = None
        try:
            from jtop import jtop
        except ImportError:
            self._unavailable("jtop: module not found (pip install jetson-stats; Jetson only)")
            return
        try:
            j = jtop(interval=interval_s)
            j.start()  # connects to the jetson_stats service; raises JtopException when it is not running
        except Exception as err:  # noqa: BLE001 - jtop raises several types; all mean "cannot measure"
            msg = " ".join(str(err).split())
            what = "jtop service not running" if _looks_like_jetson() else "not a Jetson (jtop cannot start)"
            self._unavailable(f"{what}: {msg}")
            return
        self._jtop = j
        self.available = True

    def sample(self) -> dict[str, Any]:
        j = self._jtop
        out: dict[str, Any] = dict.fromkeys(self.fields)
        # jtop's properties are the service's last update; reading them does not block
        power = j.power or {}
        tot = power.get("tot") or {}
        if tot.get("power") is not None:
            out["board_power_w"] = tot["power"] / 1000.0  # mW
        ram = (j.memory or {}).get("RAM") or {}
        if ram.get("used") is not None:
            out["sys_mem_used_mb"] = ram["used"] / 1024.0  # kB
        gpus = list((j.gpu or {}).values())
        if gpus:
            load = (gpus[0].get("status") or {}).get("load")
            out["gpu_util"] = None if load is None else float(load)
        for proc in getattr(j, "processes", None) or []:
            # [pid, user, gpu, type, priority, state, cpu %, mem kB, gpu mem kB, name]
            if len(proc) > 8 and int(proc[0]) == self.pid:
                out["gpu_mem_mb"], out["gpu_mem_scope"] = proc[8] / 1024.0, "process"
                break
        else:
            if ram.get("shared") is not None:
                out["gpu_mem_mb"], out["gpu_mem_scope"] = ram["shared"] / 1024.0, "device"
        return out

    def close(self) -> None:
        if self._jtop is not None:
            try:
                self._jtop.close()
            except Exception as err:  # noqa: BLE001 - closing a dead connection must not raise
                log.debug("jtop close: %s", err)
            self._jtop = None


@dataclass
class RaplZone:
    path: Path
    name: str  # "package-0", ...
    max_range_uj: int
    last_uj: int | None = None
    last_t: float | None = None


_RAPL_ZONE = re.compile(r"^[a-z0-9_-]*rapl[a-z0-9_-]*:\d+$")


class RaplProbe(Probe):
    """CPU package power from the Linux powercap tree (Intel RAPL, and AMD Zen via the same driver).

    Reads ``<root>/<type>:N/energy_uj`` of every top-level package zone (sub-zones such as core/dram
    are inside the package and would double count; ``intel-rapl-mmio`` repeats a package already seen
    by name and is skipped). Power = delta energy / delta time between two samples (the mean over
    the interval that ends at the sample), so the first sample reads ``None``; a counter that
    passed ``max_energy_range_uj`` is unwrapped. Since the PLATYPUS fix (2020) ``energy_uj`` is
    root-only on most distributions: then the probe is unavailable with that reason.
    """

    name = "rapl"
    fields = ("cpu_power_w",)
    DEFAULT_ROOT = Path("/sys/class/powercap")

    def __init__(self, root: str | Path = DEFAULT_ROOT, clock: Clock = time.monotonic) -> None:
        super().__init__()
        self.root = Path(root)
        self.clock = clock
        self.zones: list[RaplZone] = []
        if not self.root.is_dir():
            self._unavailable(f"RAPL not present: no {self.root}")
            return
        dirs = sorted(
            (d for d in self.root.iterdir() if _RAPL_ZONE.match(d.name)),
            key=lambda d: ("mmio" in d.name, d.name),  # MSR zones first: they win a duplicate name
        )
        seen: set[str] = set()
        for d in dirs:
            try:
                zone_name = (d / "name").read_text().strip()
            except OSError:
                continue
            if not zone_name.startswith("package") or zone_name in seen:
                continue
            energy = d / "energy_uj"
            if not energy.exists():
                continue
            try:
                max_range = int((d / "max_energy_range_uj").read_text())
                int(energy.read_text())
            except PermissionError:
                self._unavailable(
                    f"permission denied: {energy} is root-only on this host "
                    "(run as root or grant read access to energy_uj)"
                )
                return
            except (OSError, ValueError) as err:
                self._unavailable(f"RAPL unreadable: {energy}: {err}")
                return
            seen.add(zone_name)
            self.zones.append(RaplZone(energy, zone_name, max_range))
        if not self.zones:
            self._unavailable(f"RAPL not present: no package zone with energy_uj under {self.root}")
            return
        self.available = True

    def sample(self) -> dict[str, Any]:
        total_w: float | None = 0.0
        for z in self.zones:
            t = self.clock()
            uj = int(z.path.read_text())
            if z.last_uj is None or z.last_t is None or t <= z.last_t:
                total_w = None
            else:
                delta = uj - z.last_uj
                if delta < 0:  # the counter wrapped at max_energy_range_uj
                    delta += z.max_range_uj
                if total_w is not None:
                    total_w += delta / 1e6 / (t - z.last_t)
            z.last_uj, z.last_t = uj, t
        return {"cpu_power_w": total_w}


def default_probes() -> list[Probe]:
    """Every probe this program knows, available or not (unavailable ones keep their reason)."""
    return [ProcessProbe(), NvmlProbe(), JetsonProbe(), RaplProbe()]


# --------------------------------------------------------------------------- sampler


@dataclass(frozen=True)
class TelemetrySnapshot:
    """One sample of every probe. ``None`` = not measured here or not readable this time.

    ``t`` is the sampler's clock (``time.monotonic()`` by default, the clock :meth:`Sampler.energy_j`
    takes), ``wall_time`` is ``time.time()``. ``power_w`` is the best total the probes give: the
    Jetson board input, else GPU (NVML) + CPU package (RAPL) power, whichever of them were measured;
    ``power_source`` names what was summed ("jetson", "nvml+rapl", "rapl", ...). It is never wall
    power: fans, disks, RAM and PSU losses are outside every probe here.
    """

    t: float
    wall_time: float
    rss_mb: float | None = None
    cpu_percent: float | None = None  # this process, 100 = one logical core
    sys_mem_used_mb: float | None = None
    gpu_mem_mb: float | None = None
    gpu_mem_scope: str | None = None  # "process" | "device"
    gpu_util: float | None = None
    gpu_power_w: float | None = None
    cpu_power_w: float | None = None
    board_power_w: float | None = None
    power_w: float | None = None
    power_source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProbeStatus:
    name: str
    available: bool
    reason: str | None
    fields: tuple[str, ...]
    last_error: str | None = None  # the latest exception a sample raised, if any

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _combine(t: float, wall: float, readings: Iterable[tuple[str, dict[str, Any]]]) -> TelemetrySnapshot:
    """Merge per-probe readings; the first probe with a non-None value for a field wins."""
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    extra: dict[str, Any] = {}
    for probe_name, reading in readings:
        for key, value in reading.items():
            if value is None:
                continue
            if key in SNAPSHOT_FIELDS:
                if values.get(key) is None:
                    values[key], origin[key] = value, probe_name
            else:
                extra.setdefault(key, value)
    # the GPU memory scope belongs to whichever probe gave the memory figure
    if "gpu_mem_mb" in values and origin.get("gpu_mem_scope") != origin["gpu_mem_mb"]:
        values.pop("gpu_mem_scope", None)
    power: float | None = None
    source: str | None = None
    if values.get("board_power_w") is not None:
        power, source = float(values["board_power_w"]), origin["board_power_w"]
    else:
        parts = [k for k in ("gpu_power_w", "cpu_power_w") if values.get(k) is not None]
        if parts:
            power = float(sum(values[k] for k in parts))
            source = "+".join(origin[k] for k in parts)
    return TelemetrySnapshot(t=t, wall_time=wall, power_w=power, power_source=source, extra=extra, **values)


class Sampler:
    """Runs probes in a background daemon thread and keeps a bounded history of snapshots.

    >>> with Sampler(rate_hz=2.0) as s:
    ...     t0 = s.clock(); run_benchmark(); t1 = s.clock()
    ...     joules = s.energy_j(t0, t1)   # None where no probe measures power

    Args:
        probes: the probes to run; ``None`` = :func:`default_probes` (closed again by :meth:`close`).
        rate_hz: samples per second.
        history: how many snapshots to keep (the oldest drop out).
        clock: the time base of snapshot ``t`` and of :meth:`energy_j` windows, in seconds.
        on_sample: called in the sampler thread with each new snapshot (keep it short; the GUI turns
            it into a signal).
    """

    def __init__(
        self,
        probes: Sequence[Probe] | None = None,
        rate_hz: float = 2.0,
        history: int = 7200,
        clock: Clock = time.monotonic,
        on_sample: Callable[[TelemetrySnapshot], None] | None = None,
    ) -> None:
        if rate_hz <= 0 or not math.isfinite(rate_hz):
            raise ValueError(f"rate_hz must be a positive number, not {rate_hz!r}")
        if history < 2:
            raise ValueError(f"history must keep at least 2 snapshots, not {history}")
        self._owns_probes = probes is None
        self.probes: list[Probe] = default_probes() if probes is None else list(probes)
        self.rate_hz = float(rate_hz)
        self.clock = clock
        self.on_sample = on_sample
        self._history: deque[TelemetrySnapshot] = deque(maxlen=history)
        self._lock = threading.Lock()
        self._errors: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ---- lifecycle
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Sampler:
        """Start the sampling thread (no-op when it runs). The first sample is taken at once."""
        if self._closed:
            raise RuntimeError("this Sampler is closed; create a new one")
        if self.running:
            return self
        # a fresh event per thread: an old thread stuck in a probe still sees its own stop
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name="facegate-telemetry", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread and wait for it (idempotent). Probes stay open; :meth:`start` resumes."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("telemetry thread did not stop within %.1f s (a probe is blocking)", timeout)

    def close(self) -> None:
        """Stop, then close the probes this sampler created. Idempotent."""
        self.stop()
        if self._owns_probes and not self._closed:
            for p in self.probes:
                p.close()
        self._closed = True

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, stop: threading.Event) -> None:
        period = 1.0 / self.rate_hz
        due = time.monotonic()
        while not stop.is_set():
            self.sample_once()
            due += period
            delay = due - time.monotonic()
            if delay < 0:  # a slow probe: skip the missed ticks rather than burst to catch up
                due, delay = time.monotonic(), 0.0
            stop.wait(delay)

    # ---- sampling
    def sample_once(self) -> TelemetrySnapshot:
        """Sample every available probe now, store and return the snapshot (the thread calls this)."""
        readings: list[tuple[str, dict[str, Any]]] = []
        for p in self.probes:
            if not p.available:
                continue
            try:
                readings.append((p.name, p.sample()))
                self._errors.pop(p.name, None)
            except Exception as err:  # noqa: BLE001 - one failing probe must not stop the others
                msg = f"{type(err).__name__}: {err}"
                if self._errors.get(p.name) != msg:
                    log.warning("telemetry probe %s failed: %s", p.name, msg)
                self._errors[p.name] = msg
        snap = _combine(self.clock(), time.time(), readings)
        with self._lock:
            self._history.append(snap)
        if self.on_sample is not None:
            try:
                self.on_sample(snap)
            except Exception:  # noqa: BLE001 - a broken listener must not kill sampling
                log.exception("telemetry on_sample callback failed")
        return snap

    def latest(self) -> TelemetrySnapshot | None:
        with self._lock:
            return self._history[-1] if self._history else None

    def history(self, since: float | None = None) -> list[TelemetrySnapshot]:
        """Snapshots (oldest first), those with ``t >= since`` when given."""
        with self._lock:
            snaps = list(self._history)
        return snaps if since is None else [s for s in snaps if s.t >= since]

    def status(self) -> list[ProbeStatus]:
        return [
            ProbeStatus(p.name, p.available, p.reason, p.fields, self._errors.get(p.name))
            for p in self.probes
        ]

    # ---- energy
    def energy_j(self, t0: float, t1: float) -> float | None:
        """Energy in J over ``[t0, t1]`` (sampler clock, s): trapezoid over the sampled ``power_w``.

        Returns ``None`` unless samples cover the whole window and every sample that bounds a part of
        it has a power value: a gap is not filled in. Divide by the frames in the window for J/frame;
        at 2 Hz, choose windows of several seconds.
        """
        if t1 < t0:
            raise ValueError(f"energy window ends before it starts: {t0} > {t1}")
        return integrate_power([(s.t, s.power_w) for s in self.history()], t0, t1)

    def mean_power_w(self, t0: float, t1: float) -> float | None:
        """Average power in W over ``[t0, t1]``; ``None`` where :meth:`energy_j` is."""
        e = self.energy_j(t0, t1)
        return None if e is None or t1 <= t0 else e / (t1 - t0)


def integrate_power(series: Sequence[tuple[float, float | None]], t0: float, t1: float) -> float | None:
    """Trapezoid integral in J of ``(t_s, power_w)`` points (sorted by t) over ``[t0, t1]``.

    Power between samples is linear, so the result is exact for constant and linearly changing power.
    ``None`` when the points do not cover ``[t0, t1]`` or a point bounding part of it has no power.
    """
    if len(series) < 2 or t0 < series[0][0] or t1 > series[-1][0]:
        return None
    if t1 == t0:
        return 0.0
    energy = 0.0
    for (ta, pa), (tb, pb) in zip(series, series[1:], strict=False):
        if tb <= ta or tb <= t0 or ta >= t1:  # no overlap of positive length with the window
            continue
        if pa is None or pb is None:
            return None
        lo, hi = max(ta, t0), min(tb, t1)
        slope = (pb - pa) / (tb - ta)
        p_lo, p_hi = pa + slope * (lo - ta), pa + slope * (hi - ta)
        energy += 0.5 * (p_lo + p_hi) * (hi - lo)
    return energy
