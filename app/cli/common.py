"""What every command shares: one-line output, safe printing of stored names, output-file checks."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from core.config import defaults
from core.errors import FaceGateError

log = logging.getLogger("facegate")

#: smallest face (px) the photo commands look for: MTCNN's classic 20 px, as the study's package used
PHOTO_MIN_FACE = defaults().detector.photo_min_face_px  # core/config.py holds the default


def print_error(msg: str) -> None:
    """``error: msg`` on stderr, one line, control characters escaped."""
    print(f"error: {printable(msg)}", file=sys.stderr, flush=True)


def print_line(line: str) -> None:
    """One line on stdout, flushed (a pipe reader sees each result as it comes)."""
    print(line, flush=True)


def printable(text: object) -> str:
    """``text`` with control and other non-printable characters escaped (``\\x1b``, ``\\n``, ``\\u202e``):
    a name from the store can never move the cursor, recolour or rewrite the operator's terminal."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in s)


def check_output_file(path: str | Path | None, option: str) -> None:
    """Refuse, before any work, an output file that names a folder or lies under a file."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise FaceGateError(f"{option} {p}: is a folder; name a file in it, e.g. {p / 'out.csv'}")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FaceGateError(f"{option} {p}: cannot create it, {parent} is a file, not a folder")
            break


# ---------------------------------------------------------------------------------- argparse types
def count_arg(text: str) -> int:
    """A whole number >= 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def seconds_arg(text: str) -> float:
    """A finite number of seconds > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, not {text!r}")
    return value


def port_arg(text: str) -> int:
    """A TCP port 0-65535 (0: any free port) (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, not {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, not {value}")
    return value
