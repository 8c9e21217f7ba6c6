"""Deployment modes: where a frame is processed.

- local: everything on this machine (:class:`core.pipeline.Pipeline`);
- cloud: whole frames (JPEG) to a recognition endpoint that detects and embeds; matching stays local;
- hybrid: detect and track here, send only the aligned crops of faces that need recognition, batched.

The endpoint speaks the KServe v2 / Open Inference Protocol (:mod:`core.deploy.protocol`), so it is
either FaceGate's own server (``main.py serve``, :mod:`core.deploy.server`) or a Triton Inference
Server holding the same models (:mod:`core.deploy.triton`, ``docs/triton.md``). The client
(:mod:`core.deploy.client`) uses ``tritonclient.http`` and falls back to local processing when the
endpoint is down, slow or erroring.
"""

from __future__ import annotations

MODES = ("local", "cloud", "hybrid")
