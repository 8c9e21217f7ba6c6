"""``python -m core.bench SPEC.json``: a bench worker process (see :func:`core.bench.worker.worker_main`)."""

import sys

from core.bench.worker import worker_main

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1]))
