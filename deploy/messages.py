"""Turning exceptions from third-party libraries into one-line user messages."""

from __future__ import annotations


def first_line(error: BaseException, limit: int = 200) -> str:
    """First non-empty line of ``str(error)`` (or the exception type), cut to ``limit`` characters."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:limit]
