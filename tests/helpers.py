"""Helpers shared by several test modules (kept out of the test modules themselves)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

CAMERA_SIZE = (160, 120)  # the MJPEG camera's frame size, px


# a flaky MJPEG camera
#: the environment of a child process whose stop a test waits for: SIGABRT then prints every thread's stack
DUMPABLE_ENV = {**os.environ, "PYTHONFAULTHANDLER": "1"}


def stop_and_wait(proc: subprocess.Popen, sig: int, timeout: float) -> tuple[str, str]:
    """Send ``sig`` and return (stdout, stderr); a child still running after ``timeout`` s fails the test
    with its threads' stacks (started with :data:`DUMPABLE_ENV`), so a hang says where it hung."""
    import pytest

    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"still running {timeout:.0f} s after signal {sig}; its threads:\n{err[-6000:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MjpegCamera:
    """An HTTP MJPEG camera on 127.0.0.1 that can be switched off and on (same port)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: ThreadingHTTPServer | None = None
        self.sent = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    def start(self) -> None:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not getattr(self.server, "stopping", False):
                        image = np.full(
                            (CAMERA_SIZE[1], CAMERA_SIZE[0], 3), 20 + 10 * (camera.sent % 20), np.uint8
                        )
                        data = cv2.imencode(".jpg", image)[1].tobytes()
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data)
                            + data
                            + b"\r\n"
                        )
                        camera.sent += 1
                        time.sleep(0.02)
                except OSError:  # the client went away
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="mjpeg-camera", daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stopping = True  # type: ignore[attr-defined]
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def embed_largest_faces(detector, recognizer, paths) -> np.ndarray:
    """(N, D) embeddings of the largest face of each photo (each photo must have one)."""
    from core.imageio import load_image
    from core.pipeline import largest_face

    out = []
    for p in paths:
        image = load_image(p)
        face = largest_face(detector.detect(image))
        assert face is not None, f"no face in {p}"
        out.append(recognizer.embed(image, [face])[0])
    return np.stack(out)
