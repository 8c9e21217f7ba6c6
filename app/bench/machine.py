"""What the bench's numbers were measured on: CPU, cores, RAM, GPU (NVML), OS, Python, runtime versions."""

from __future__ import annotations

import os
import platform
from typing import Any

#: the distributions whose versions the report names (those installed)
VERSIONED = (
    "onnxruntime",
    "tensorflow",
    "ai-edge-litert",
    "tensorrt",
    "mtcnn",
    "dlib-bin",
    "dlib",
    "face-recognition",
    "opencv-python-headless",
    "opencv-python",
    "numpy",
)


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, RAM, GPU (NVML), OS, Python, runtime versions."""
    info: dict[str, Any] = {}
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info["cpu"] = cpu
    info["cores"] = os.cpu_count()
    try:
        info["cores_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["cores_usable"] = os.cpu_count()
    try:
        import psutil

        info["ram_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        info["ram_gb"] = None
    info["gpu"] = _gpu_name()
    info["os"] = f"{platform.system()} {platform.release()}"
    info["python"] = platform.python_version()
    info["versions"] = _versions()
    try:
        info["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        info["load_avg"] = None
    info["platform"] = f"{cpu} ({info['cores_usable']} cores)" + (f" + {info['gpu']}" if info["gpu"] else "")
    return info


def _gpu_name() -> str | None:
    """The first NVIDIA GPU's name, None without pynvml, a driver or a GPU."""
    gpu = None
    try:
        import pynvml

        pynvml.nvmlInit()
        name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
        gpu = name.decode() if isinstance(name, bytes) else str(name)
        pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no pynvml, no driver, no GPU: all mean "no GPU"
        pass
    return gpu


def _versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for dist in VERSIONED:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions
