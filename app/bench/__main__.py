"""``python -m app.bench SPEC.json``: a bench worker process (see :func:`app.bench.worker.worker_main`)."""

import sys

from app.bench.worker import worker_main

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1]))
