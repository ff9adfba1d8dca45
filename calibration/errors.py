"""Exceptions for user errors in the calibration package.

Every error a user can cause (a bad camera file, an impossible camera model, asking for a distance
without mounting) raises a subclass of :class:`CalibrationError`. ``str(error)`` is one line that a CLI
can print as is before exiting with status 2; no traceback is needed to understand it.
"""

from __future__ import annotations

__all__ = ["CalibrationError", "CameraFileError", "MountingUnknownError"]


class CalibrationError(ValueError):
    """A user-facing calibration error; the message is one line."""


class CameraFileError(CalibrationError):
    """A camera file is missing, unreadable or malformed.

    The message always names the file, and the key or line when it is known, e.g.
    ``camera.yaml: key 'camera_matrix': expected a 3x3 matrix, got shape (2, 3)``.
    """

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # keep the two-argument constructor picklable (multiprocessing, pytest-xdist)
        return (type(self), (self.path, self.problem))


class MountingUnknownError(CalibrationError):
    """Road geometry was asked of a camera whose mounting height is unknown (``height_m is None``)."""
