"""FaceGate entry point: ``python main.py --help``."""

from __future__ import annotations

import os
import sys

# Quiet TensorFlow's C++ start-up chatter before anything can import it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if __name__ == "__main__":
    from app.cli import main

    sys.exit(main())
