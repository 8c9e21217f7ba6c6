"""Memory back after a switch away from a heavy backend (FaceNet-512 on TensorFlow left the window at
2.9 GB): the replaced detector/recognizer is closed on the worker thread as the new one is swapped in,
then, once nothing refers to the old build, a collection, TensorFlow's global state cleared when no
TensorFlow network is left running, and glibc asked to hand freed heap back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
from typing import Any

log = logging.getLogger(__name__)


def close_replaced(old: Any, new: Any) -> list[str]:
    """Close ``old``'s (a gui.backends.Built) detector and recognizer that ``new`` does not use; their keys."""
    closed = []
    for attr in ("detector", "recognizer"):
        part = getattr(old.local, attr, None)
        if part is None or part is getattr(new.local, attr, None):
            continue
        close = getattr(part, "close", None)
        if callable(close):
            try:
                close()
                closed.append(str(getattr(part, "key", attr)))
            except Exception as err:  # noqa: BLE001 - freeing memory must never break the switch
                log.warning("closing the replaced %s failed: %s", attr, err)
    return closed


def uses_tensorflow(built: Any) -> bool:
    keys = (str(getattr(built, "detector_key", "")), str(getattr(built, "recognizer_key", "")))
    return any(k.partition(":")[2].startswith(("tensorflow", "savedmodel")) for k in keys)


def rss_mb() -> float:
    """This process's resident memory (MB; 0 where /proc is not there)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def release_memory(tensorflow_in_use: bool) -> float:
    """Collect, clear TensorFlow's global state (unless a TensorFlow network still runs), trim the heap;
    the RSS after (MB)."""
    gc.collect()
    tf = sys.modules.get("tensorflow")
    if tf is not None and not tensorflow_in_use:
        try:
            tf.keras.backend.clear_session()
        except Exception as err:  # noqa: BLE001 - a TensorFlow without Keras: the collection did the rest
            log.debug("tf.keras.backend.clear_session() failed: %s", err)
        gc.collect()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.malloc_trim(0)  # glibc only: hands freed arenas back to the system
        except (OSError, AttributeError) as err:
            log.debug("malloc_trim is not available: %s", err)
    return rss_mb()
