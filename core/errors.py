"""Typed errors. Each carries a one-line message a user can act on."""

from __future__ import annotations


class FaceGateError(Exception):
    """Base class: the CLI prints ``str(err)`` on one line and exits non-zero."""


class BackendUnavailable(FaceGateError):
    """A detector/recognizer/runtime cannot be used here (module missing, no GPU, ...)."""


class ModelProvisionError(FaceGateError):
    """A model file could not be fetched or converted."""


class ImageError(FaceGateError):
    """An input image is missing, unreadable, corrupt, empty or too large."""


class NoFaceError(FaceGateError):
    """An image holds no face where one was required."""


class StoreError(FaceGateError):
    """The identity store rejected an operation (unknown name, duplicate, ...)."""
