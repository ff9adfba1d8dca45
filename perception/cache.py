"""The per-user cache folder (exported graphs, numpy copies of policies): never a run's output folder.

An entry ``NAME`` is checked by ``NAME.sha256`` beside it (the SHA-256 of its bytes, written after them), so an
entry cut short, edited or left half-written is never used."""

from __future__ import annotations

import hashlib
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


# Entries shipped with the package for its published weights and policy (the ONNX graph of the default network,
# the numpy copy of the default policy), in the same layout as the user cache, so that even a first run needs
# neither torch nor an export. Read-only; each entry is also checked against a SHA-256 in its record in code.
SHIPPED_CACHE_DIR = Path(__file__).resolve().parent / "weights" / "cache"


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


def hash_record(path: Path) -> Path:
    """``NAME.sha256`` beside the cache entry ``NAME``."""
    return path.with_name(path.name + ".sha256")


def write_hash_record(path: Path, digest: str) -> None:
    """Record ``digest`` (the SHA-256 of ``path``'s bytes) beside it, after the entry itself is in place."""
    write_file_atomic(hash_record(path), lambda tmp: tmp.write_text(digest + "\n"))


def read_checked(path: Path) -> bytes | None:
    """The bytes of a cache entry when they match its hash record; None when either is missing or they differ."""
    try:
        blob = path.read_bytes()
        expected = hash_record(path).read_text().strip()
    except OSError:
        return None
    return blob if hashlib.sha256(blob).hexdigest() == expected else None
