"""frames.jsonl: one JSON object per input frame, written and flushed as it goes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class JsonlSink:
    """Appends one line per frame and flushes it, so a killed run keeps every finished frame."""

    def __init__(self, path: str | Path, append: bool = False):
        self.path = Path(path)
        self._f = open(self.path, "a" if append else "w", encoding="utf-8")
        self.lines_written = 0

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
        self._f.flush()
        self.lines_written += 1

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()
