"""A per-user cache of exported ONNX graphs, so that ``perception.run`` exports a network once, not every run.

An entry is named by what determines the graph: the weights' SHA-256, the input size and the opset::

    CACHE/onnx/<weights sha256[:16]>-<W>x<H>-opset<N>.onnx
    CACHE/onnx/<same>.onnx.sha256        SHA-256 of the .onnx bytes, written after the graph

``CACHE`` is ``$PERCEPTION_CACHE_DIR``, else ``$XDG_CACHE_HOME/perception``, else ``~/.cache/perception``; it is
never a run's output folder. An entry whose bytes do not match its ``.sha256`` (cut short, edited, left
half-written by a killed process) or whose recorded weights or network configuration differ is rebuilt. Both files are written to temporary
names and renamed into place, so concurrent runs never read a half-written graph.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perception.backends.metadata import to_onnx_props
from perception.backends.onnx_props import read_metadata_props
from perception.backends import onnx_export
from perception.backends.onnx_export import DEFAULT_OPSET
from perception.config import config_to_dict

WEIGHTS_SHA_KEY = "weights_sha256"  # metadata_props key the export writes (perception.backends.metadata)


def cache_dir() -> Path:
    """The user cache folder of this project (not created here)."""
    if os.environ.get("PERCEPTION_CACHE_DIR"):
        return Path(os.environ["PERCEPTION_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "perception"


@dataclass(frozen=True)
class CachedGraph:
    """``path`` of a checked graph, its bytes' ``sha256``, and ``how``: "cache hit", "exported" or
    "rebuilt (<reason>)"."""

    path: Path
    sha256: str
    how: str


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _problem(onnx_path: Path, weights_sha256: str, model_config: str) -> str | None:
    """Why a cache entry cannot be used, or None when it can."""
    if not onnx_path.exists():
        return "missing"
    record = onnx_path.with_name(onnx_path.name + ".sha256")
    if not record.exists():
        return "no hash record"
    if _sha256(onnx_path) != record.read_text().strip():
        return "bytes differ from their hash record"
    try:
        props = read_metadata_props(onnx_path)
    except Exception as e:  # noqa: BLE001 - any unreadable graph is simply rebuilt
        return f"unreadable ({type(e).__name__})"
    if props.get(WEIGHTS_SHA_KEY) != weights_sha256:
        return "made from other weights"
    if props.get("model_config") != model_config:
        return "made for another network configuration"
    return None


def _write_atomic(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it onto ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cached_onnx(model: Any, weights_sha256: str, weights_name: str, *, opset: int = DEFAULT_OPSET,
                folder: Path | None = None) -> CachedGraph:
    """The ONNX graph of ``model`` (a MultiTaskNet with those weights) from the cache, exporting it when needed.

    Raises OSError when the cache folder cannot be created or written (the caller may fall back to torch).
    """
    w, h = model.config.input_size_wh
    root = (folder or cache_dir()) / "onnx"
    root.mkdir(parents=True, exist_ok=True)
    onnx_path = root / f"{weights_sha256[:16]}-{w}x{h}-opset{opset}.onnx"
    model_config = to_onnx_props({"model_config": config_to_dict(model.config)})["model_config"]
    problem = _problem(onnx_path, weights_sha256, model_config)
    if problem is None:
        return CachedGraph(onnx_path, onnx_path.with_name(onnx_path.name + ".sha256").read_text().strip(),
                           "cache hit")
    _write_atomic(onnx_path, lambda tmp: onnx_export.export_onnx(  # looked up at call time (tests patch it)
        model, tmp, opset=opset, weights_sha256=weights_sha256, weights_name=weights_name))
    digest = _sha256(onnx_path)
    _write_atomic(onnx_path.with_name(onnx_path.name + ".sha256"), lambda tmp: tmp.write_text(digest + "\n"))
    return CachedGraph(onnx_path, digest, "exported" if problem == "missing" else f"rebuilt ({problem})")
