"""Where FaceGate keeps its cache (models, photos) and its data (database).

``FACEGATE_CACHE`` and ``FACEGATE_DATA`` override the platform defaults.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Root of the model/photo cache (created on demand)."""
    env = os.environ.get("FACEGATE_CACHE")
    if env:
        root = Path(env).expanduser()
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("facegate"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def data_dir() -> Path:
    """Root of user data (the default identity database)."""
    env = os.environ.get("FACEGATE_DATA")
    if env:
        root = Path(env).expanduser()
    else:
        import platformdirs

        root = Path(platformdirs.user_data_dir("facegate"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def default_db_path() -> Path:
    return data_dir() / "facegate.db"
