"""A per-user cache of exported ONNX graphs, so that ``perception.run`` exports a network once, not every run.

An entry is named by what determines the graph: the weights' SHA-256, the input size and the opset::

    CACHE/onnx/<weights sha256[:16]>-<W>x<H>-opset<N>.onnx
    CACHE/onnx/<same>.onnx.sha256        SHA-256 of the .onnx bytes, written after the graph
    CACHE/onnx/<weights sha256[:16]>.checkpoint.json   the checkpoint's own input size and metadata

With that record ``find_cached_onnx`` finds a checked graph from the weights' SHA-256 alone, without loading the
checkpoint (and so without importing torch): the usual start-up of ``perception.run``. The default weights' graph
also ships with the package in the same layout (``find_shipped_onnx``), so a first run starts the same way.

``CACHE`` is ``$PERCEPTION_CACHE_DIR``, else ``$XDG_CACHE_HOME/perception``, else ``~/.cache/perception``; it is
never a run's output folder. An entry whose bytes do not match its ``.sha256`` (cut short, edited, left
half-written by a killed process) or whose recorded weights or network configuration differ is rebuilt. Both files are written to temporary
names and renamed into place, so concurrent runs never read a half-written graph.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perception.backends.metadata import DEFAULT_OPSET, config_from_metadata, from_onnx_props, to_onnx_props
from perception.backends.onnx_props import read_metadata_props
from perception import cache as cache_module
from perception.cache import cache_dir, hash_record, write_file_atomic, write_hash_record
from perception.config import config_to_dict
from perception.errors import UserInputError
from perception.model.config import ModelConfig

WEIGHTS_SHA_KEY = "weights_sha256"  # metadata_props key the export writes (perception.backends.metadata)


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
    record = hash_record(onnx_path)
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


def _graph_path(root: Path, weights_sha256: str, size_wh: tuple[int, int], opset: int, fp16: bool = False) -> Path:
    return root / f"{weights_sha256[:16]}-{size_wh[0]}x{size_wh[1]}-opset{opset}{'-fp16' if fp16 else ''}.onnx"


def _checkpoint_record(root: Path, weights_sha256: str) -> Path:
    return root / f"{weights_sha256[:16]}.checkpoint.json"


def cached_onnx(model: Any, weights_sha256: str, weights_name: str, *, opset: int = DEFAULT_OPSET,
                folder: Path | None = None, native_size_wh: tuple[int, int] | None = None,
                checkpoint_metadata: dict[str, Any] | None = None, fp16: bool = False) -> CachedGraph:
    """The ONNX graph of ``model`` (a MultiTaskNet with those weights) from the cache, exporting it when needed.

    ``native_size_wh`` and ``checkpoint_metadata`` (the checkpoint's own input size and metadata), when given, are
    recorded so that ``find_cached_onnx`` can find this graph without the checkpoint next time. ``fp16``: a
    half-precision graph (for a GPU's execution provider), cached under its own name (``...-fp16.onnx``).
    Raises OSError when the cache folder cannot be created or written (the caller may fall back to torch).
    """
    root = (folder or cache_dir()) / "onnx"
    root.mkdir(parents=True, exist_ok=True)
    onnx_path = _graph_path(root, weights_sha256, model.config.input_size_wh, opset, fp16)
    model_config = to_onnx_props({"model_config": config_to_dict(model.config)})["model_config"]
    problem = _problem(onnx_path, weights_sha256, model_config)
    if problem is None:
        graph = CachedGraph(onnx_path, hash_record(onnx_path).read_text().strip(), "cache hit")
    else:
        graph = _export(model, onnx_path, weights_sha256, weights_name, opset, fp16, problem)
    # the checkpoint record goes in only beside a finished graph (a cut-short export leaves nothing behind)
    if native_size_wh is not None and checkpoint_metadata is not None:
        _write_checkpoint_record(root, weights_sha256, native_size_wh, checkpoint_metadata)
    return graph


def _export(model: Any, onnx_path: Path, weights_sha256: str, weights_name: str, opset: int, fp16: bool,
            problem: str) -> CachedGraph:
    """Export the graph into ``onnx_path``, then its hash record beside it (each renamed into place)."""
    from perception.backends import onnx_export  # torch: only when a graph must be made

    write_file_atomic(onnx_path, lambda tmp: onnx_export.export_onnx(  # looked up at call time (tests patch it)
        model, tmp, opset=opset, weights_sha256=weights_sha256, weights_name=weights_name, fp16=fp16))
    digest = _sha256(onnx_path)
    write_hash_record(onnx_path, digest)
    return CachedGraph(onnx_path, digest, "exported" if problem == "missing" else f"rebuilt ({problem})")


def _write_checkpoint_record(root: Path, weights_sha256: str, native_size_wh: tuple[int, int],
                             checkpoint_metadata: dict[str, Any]) -> None:
    record = {"weights_sha256": weights_sha256, "input_size_wh": [int(v) for v in native_size_wh],
              "metadata": checkpoint_metadata}
    text = json.dumps(record, sort_keys=True, default=str)
    path = _checkpoint_record(root, weights_sha256)
    if not path.exists() or path.read_text() != text:
        write_file_atomic(path, lambda tmp: tmp.write_text(text))


@dataclass(frozen=True)
class FoundGraph:
    """A cache entry found from the weights' hash: the graph, its network configuration (from the graph's own
    metadata) and the checkpoint's metadata recorded when it was exported."""

    graph: CachedGraph
    config: ModelConfig
    checkpoint_metadata: dict[str, Any]


def find_cached_onnx(weights_sha256: str, input_size_wh: tuple[int, int] | None = None, *,
                     opset: int = DEFAULT_OPSET, folder: Path | None = None, fp16: bool = False) -> FoundGraph | None:
    """The checked graph of the weights with this SHA-256 at ``input_size_wh`` (None: the checkpoint's own size),
    found without the checkpoint; None when there is no usable entry (the caller loads the checkpoint and calls
    ``cached_onnx``, which makes or repairs it). Never raises for a broken entry."""
    root = (folder or cache_dir()) / "onnx"
    try:
        record = json.loads(_checkpoint_record(root, weights_sha256).read_text())
        if record["weights_sha256"] != weights_sha256:
            return None
        size_wh = tuple(int(v) for v in (input_size_wh or record["input_size_wh"]))
        onnx_path = _graph_path(root, weights_sha256, size_wh, opset, fp16)
        if not onnx_path.exists():
            return None
        expected = hash_record(onnx_path).read_text().strip()
        if _sha256(onnx_path) != expected:
            return None
        meta = from_onnx_props(read_metadata_props(onnx_path))
        config = config_from_metadata(meta, where=str(onnx_path))
    except (OSError, ValueError, KeyError, TypeError, UserInputError):
        return None
    except Exception:  # noqa: BLE001 - an unreadable graph is simply not used (cached_onnx rebuilds it)
        return None
    if meta.get(WEIGHTS_SHA_KEY) != weights_sha256 or tuple(config.input_size_wh) != size_wh:
        return None
    return FoundGraph(CachedGraph(onnx_path, expected, "cache hit"), config, dict(record.get("metadata") or {}))


def find_shipped_onnx(weights_sha256: str, graph_sha256: str, input_size_wh: tuple[int, int] | None = None, *,
                      opset: int = DEFAULT_OPSET, fp16: bool = False) -> FoundGraph | None:
    """The graph shipped with the package for the published weights with this SHA-256
    (``perception.cache.SHIPPED_CACHE_DIR``, read when called; the user cache's layout), when its bytes have the
    published ``graph_sha256`` and it fits the input size; None otherwise (the caller then exports one into the
    user cache). Never raises for a broken entry."""
    if not graph_sha256 or fp16:
        return None
    found = find_cached_onnx(weights_sha256, input_size_wh, opset=opset, folder=cache_module.SHIPPED_CACHE_DIR)
    if found is None or found.graph.sha256 != graph_sha256:
        return None
    return FoundGraph(CachedGraph(found.graph.path, found.graph.sha256, "shipped"), found.config,
                      found.checkpoint_metadata)
