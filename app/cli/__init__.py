"""Command-line interface (headless). ``python main.py --help`` lists the commands.

Exit codes: 0 success, 1 some input failed (each failure printed as one line naming the file),
2 usage error. Global options (``--db``, ``--detector``, ``--recognizer``, ``--threshold``) are
accepted before or after the subcommand.

Modules: ``parser`` (the options, one step per sub-command), ``context`` (the models and store one
invocation uses), ``photos`` (enroll, identify, verify), ``manage`` (backends, models, identities,
sessions), ``calibrate``, ``jobs`` (run, serve, bench), ``common`` (one-line output, output-file checks).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from collections.abc import Sequence

from app.cli.common import PHOTO_MIN_FACE, check_output_file, print_error, printable
from app.cli.context import Context
from app.cli.parser import build_parser
from core.errors import FaceGateError

__all__ = ["PHOTO_MIN_FACE", "Context", "build_parser", "check_output_file", "main", "printable"]


def main(argv: Sequence[str] | None = None) -> int:
    # as main.py does, for the `facegate` console script: quiet TensorFlow's C++ start-up chatter
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        # no subcommand: the operator GUI where Qt and a display exist, else the headless demo run
        try:
            from gui.app import gui_available, run_gui
        except ImportError:
            pass
        else:
            ok, why = gui_available()
            if ok:
                return int(run_gui(args))
            print(f"note: no GUI ({why}); running the demo headless", file=sys.stderr)
        args = parser.parse_args([*argv, "run", "--source", "demo"])
    ctx = Context(args)
    try:
        return int(args.func(ctx, args))
    except FaceGateError as err:
        print_error(str(err))
        return 1
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    except BrokenPipeError:
        return _stdout_closed()
    except sqlite3.Error as err:  # locked past the timeout, read-only, disk full: the store's reason
        print_error(f"{ctx.db_path}: {err}")
        return 1
    except OSError as err:  # a file the command had to write or read: one line, not a traceback
        where = f"{err.filename}: " if err.filename else ""
        print_error(f"{where}{err.strerror or err}")
        return 1


def _stdout_closed() -> int:
    """The reader of our stdout went away (``main.py identities list | head``): stop quietly, as a Unix
    tool killed by SIGPIPE does, and keep Python from complaining when it flushes stdout at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 141
