"""The bench's processes: the JSON-lines protocol of a worker, its environment, the endpoint it starts for
cloud/hybrid runs. Both sides take SIGTERM as KeyboardInterrupt (core.deploy.signals) so they unwind and close
what they started."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.bench.constants import ENDPOINT_START_S, ROOT


def emit(stream: Any, **msg: Any) -> None:
    """Write one protocol message (a JSON line) and flush it."""
    stream.write(json.dumps(msg, default=json_default) + "\n")
    stream.flush()


def json_default(o: Any) -> Any:
    try:
        return float(o)
    except (TypeError, ValueError):
        return str(o)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalEndpoint:
    """``main.py serve`` on a free 127.0.0.1 port with a random token, for one worker's remote runs.

    Its backends are the worker's pair, so cloud mode measures the same detector/recognizer remotely.
    It shares this machine's CPU with the client: on loopback the network is free but the cores are not.
    """

    def __init__(self, detector: str, recognizer: str, log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_urlsafe(24)
        self._dir = tempfile.TemporaryDirectory(prefix="facegate-bench-")
        token_file = Path(self._dir.name) / "token"
        token_file.write_text(self.token)
        token_file.chmod(0o600)
        cmd = [sys.executable, str(ROOT / "main.py"), "--detector", detector, "--recognizer", recognizer]
        cmd += ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--token-file", str(token_file)]
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=child_env(),
            preexec_fn=_die_with_parent,
        )

    def wait_ready(self, timeout_s: float = ENDPOINT_START_S) -> None:
        from core.deploy.protocol import wait_until_ready

        wait_until_ready(self.url, timeout_s, self.proc, what=f"the endpoint (log: {self._log.name})")

    def rss_mb(self) -> float | None:
        try:
            import psutil

            return psutil.Process(self.proc.pid).memory_info().rss / 2**20
        except Exception:  # noqa: BLE001 - psutil missing, or the process is gone
            return None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        self._dir.cleanup()


def _die_with_parent() -> None:
    """In a child before exec (Linux): SIGTERM it when its parent dies, so a killed worker leaves no
    endpoint behind. Elsewhere a no-op (the worker's own shutdown closes the endpoint)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def child_env() -> dict[str, str]:
    """This environment for a child: the repository on PYTHONPATH, TensorFlow quiet, output unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_worker(
    module: str, spec_path: Path, log_path: Path, on_message: Callable[[dict[str, Any]], None]
) -> int:
    """Run ``python -m MODULE SPEC`` (a bench worker), stderr into ``log_path``, handing each JSON line
    of its protocol (stdout) to ``on_message``; returns its exit code. Interrupted, it stops the child
    (terminate, then kill after 20 s) and re-raises."""
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, str(spec_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=logf,
            env=child_env(),
            text=True,
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    msg = json.loads(line)
                except json.JSONDecodeError:
                    continue
                on_message(msg)
            return proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise


def worker_protocol() -> Any:
    """In a worker process: the real stdout as the protocol stream (line-buffered); anything a library
    prints goes to stderr (the worker's log). Also sets up logging there."""
    import logging

    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return proto
