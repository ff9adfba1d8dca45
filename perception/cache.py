"""The per-user cache folder (exported graphs, numpy copies of policies): never a run's output folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """``$PERCEPTION_CACHE_DIR``, else ``$XDG_CACHE_HOME/perception``, else ``~/.cache/perception`` (not created)."""
    if os.environ.get("PERCEPTION_CACHE_DIR"):
        return Path(os.environ["PERCEPTION_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "perception"


def write_file_atomic(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it onto ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
