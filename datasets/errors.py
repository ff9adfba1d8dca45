"""Errors raised by the dataset readers."""

from __future__ import annotations

from pathlib import Path


class DatasetFormatError(ValueError):
    """A dataset file does not follow its format.

    The message starts with ``<file>:<line>:`` (or ``<file>:`` when the line is unknown), like a compiler
    error, so a user can open the offending spot directly. ``path`` and ``line`` (1-based) are also kept as
    attributes.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.reason = message
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        elif line is not None:
            where = f"line {line}: "
        super().__init__(where + message)
