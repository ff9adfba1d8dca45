"""What an exported model carries about itself: classes, input size, weights hash, precision.

The same record travels in two places:

- ONNX ``metadata_props`` (string -> string; lists and dicts are JSON strings);
- the JSON sidecar next to a TensorRT engine (``model.engine.json``), plus engine-only facts
  (the engine's own SHA-256, source ONNX SHA-256, TensorRT version, builder flags).

``read_artifact(path)`` turns either file back into a ``DeployArtifact`` holding a ``ModelConfig``,
so ``perception.run --weights model.onnx|model.engine`` can build its pre/postprocessing without
the original checkpoint.

A TensorRT engine is native code to the runtime, so it is loaded only when its bytes match the SHA-256 its
sidecar records (``verify_engine``), unless the user says to trust it (``perception.run --trust-engine``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from perception import __version__
from perception.config import config_from_dict, config_to_dict
from perception.errors import ConfigError, UserInputError, first_line
from perception.integrity import check_sha256
from perception.model.config import ModelConfig
from perception.model.weights import sha256_of

DEFAULT_OPSET = 17  # ONNX opset of exported graphs (and part of a cached graph's name)

METADATA_FORMAT = "perception.deploy"   # value of the "format" key; absent means "not ours"
METADATA_VERSION = 1
SIDECAR_SUFFIX = ".json"                # model.engine -> model.engine.json
PRECISIONS = ("fp32", "fp16", "int8")
UNTRAINED_SHA256 = "untrained"          # weights_sha256 of the seeded untrained model
ENGINE_SHA256_KEY = "engine_sha256"     # sidecar key: SHA-256 of the engine file itself
_JSON_KEYS = ("det_classes", "seg_classes", "input_size_wh", "output_names", "model_config")


@dataclass(frozen=True)
class ExportFacts:
    """Facts about the source model that every exported file records."""

    config: ModelConfig          # network shape, classes and input size (as exported)
    weights_sha256: str          # SHA-256 of the checkpoint, or UNTRAINED_SHA256
    weights_name: str            # file name of the checkpoint, or "untrained (seed 0)"
    precision: str               # "fp32", "fp16" or "int8"
    batch: int | None            # fixed batch size, or None for a dynamic batch axis

    @property
    def untrained(self) -> bool:
        return self.weights_sha256 == UNTRAINED_SHA256


def build_metadata(facts: ExportFacts, *, input_name: str, output_names: tuple[str, ...],
                   opset: int | None = None) -> dict[str, Any]:
    """The metadata record as a plain dict (JSON types). Keys are stable; values checked on read."""
    if facts.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {facts.precision!r}")
    cfg = facts.config
    meta: dict[str, Any] = {
        "format": METADATA_FORMAT,
        "format_version": METADATA_VERSION,
        "package_version": __version__,
        "det_classes": list(cfg.det_classes),
        "seg_classes": list(cfg.seg_classes),
        "input_size_wh": list(cfg.input_size_wh),
        "input_name": input_name,
        "input_dtype": "uint8",
        "input_layout": "NCHW RGB",
        "output_names": list(output_names),
        "batch": "dynamic" if facts.batch is None else int(facts.batch),
        "precision": facts.precision,
        "weights_sha256": facts.weights_sha256,
        "weights_name": facts.weights_name,
        "untrained": facts.untrained,
        "model_config": config_to_dict(cfg),
    }
    if opset is not None:
        meta["opset"] = int(opset)
    return meta


def to_onnx_props(meta: dict[str, Any]) -> dict[str, str]:
    """Metadata dict -> ONNX ``metadata_props`` strings (lists/dicts/bools as JSON)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}


def from_onnx_props(props: dict[str, str]) -> dict[str, Any]:
    """Inverse of ``to_onnx_props``: JSON-decode every value that is valid JSON and not a plain string."""
    out: dict[str, Any] = {}
    for k, v in props.items():
        try:
            decoded = json.loads(v)
        except (json.JSONDecodeError, TypeError):
            decoded = v
        out[k] = v if isinstance(decoded, str) else decoded
    return out


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """Decoded ``metadata_props`` of an ONNX file (empty dict if it has none), read without the onnx package."""
    from perception.backends.onnx_props import OnnxFormatError, read_metadata_props

    try:
        props = read_metadata_props(path)
    except (OnnxFormatError, OSError, UnicodeDecodeError) as e:  # all mean "not a readable ONNX file"
        raise UserInputError(f"cannot read ONNX file {path}: {first_line(e)}") from None
    return from_onnx_props(props)


def config_from_metadata(meta: dict[str, Any], *, where: str) -> ModelConfig:
    """Rebuild the ``ModelConfig`` stored in ``meta``; UserInputError when it is not our metadata."""
    if meta.get("format") != METADATA_FORMAT:
        raise UserInputError(f"{where} was not exported by deploy.export (no '{METADATA_FORMAT}' metadata)")
    if meta.get("format_version") != METADATA_VERSION:
        raise UserInputError(f"{where} has deploy metadata version {meta.get('format_version')}, "
                             f"this code reads version {METADATA_VERSION}")
    try:
        cfg = config_from_dict(ModelConfig, meta.get("model_config"), where=where)
        return replace(cfg, input_size_wh=tuple(int(v) for v in meta["input_size_wh"]))
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        raise UserInputError(f"{where}: bad deploy metadata ({first_line(e)})") from None


# -- TensorRT engine sidecar ---------------------------------------------------------------------

def sidecar_path(engine_path: str | Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    p = Path(engine_path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def write_sidecar(engine_path: str | Path, meta: dict[str, Any]) -> Path:
    """Write the engine's metadata next to it (atomic rename). Returns the sidecar path."""
    path = sidecar_path(engine_path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def read_sidecar(engine_path: str | Path) -> dict[str, Any]:
    """Read the engine's JSON sidecar; one-line UserInputError when it is missing or broken."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise UserInputError(f"{engine_path} has no metadata sidecar {path.name} (build engines with python -m "
                             f"deploy.export --format engine; for a trtexec engine run python -m deploy.sidecar)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f"cannot read engine sidecar {path}: {first_line(e)}") from None
    if not isinstance(meta, dict):
        raise UserInputError(f"engine sidecar {path} is not a JSON object")
    return meta


class UntrustedEngine(UserInputError):
    """An engine whose bytes do not match the SHA-256 its sidecar records (or whose sidecar records none)."""


def verify_engine(engine_path: str | Path, meta: dict[str, Any], digest: str) -> None:
    """Raise UntrustedEngine unless ``digest`` (SHA-256 of the engine's bytes) is the one ``meta`` (its sidecar)
    records. Needs no TensorRT: call it before anything deserialises the engine."""
    sidecar = sidecar_path(engine_path).name
    recorded = meta.get(ENGINE_SHA256_KEY)
    how = ("a TensorRT engine is native code, so it is not loaded: rebuild it with python -m deploy.export "
           "--format engine, or pass --trust-engine if you know where it comes from")
    if not isinstance(recorded, str) or not recorded:
        raise UntrustedEngine(f"{engine_path}: its sidecar {sidecar} records no {ENGINE_SHA256_KEY} (write it again "
                              f"with python -m deploy.sidecar); {how}")
    if digest != recorded.lower():
        raise UntrustedEngine(f"{engine_path}: SHA-256 {digest[:12]}... does not match the {recorded[:12]}... "
                              f"recorded in {sidecar}; {how}")


def read_engine_bytes(engine_path: str | Path, meta: dict[str, Any], *, trust: bool = False) -> bytes:
    """The engine's bytes, read once and checked (``verify_engine``) unless ``trust``: what is checked is what
    gets deserialised."""
    path = Path(engine_path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserInputError(f"cannot read engine {path}: {e.strerror or e}") from None
    if not trust:
        verify_engine(path, meta, hashlib.sha256(data).hexdigest())
    return data


# -- reading any exported file back --------------------------------------------------------------

@dataclass(frozen=True)
class DeployArtifact:
    """An exported model file and what its metadata says. ``config`` feeds pre/postprocessing."""

    path: Path
    kind: str                  # "onnx" or "engine"
    config: ModelConfig
    sha256: str                # of the file itself
    metadata: dict[str, Any]

    @property
    def precision(self) -> str:
        return str(self.metadata.get("precision", "fp32"))

    @property
    def untrained(self) -> bool:
        return bool(self.metadata.get("untrained", False))


ARTIFACT_KINDS = {".onnx": "onnx", ".engine": "engine", ".plan": "engine"}


def is_artifact_path(path: str | Path) -> bool:
    """True for file names this package reads as exported models (.onnx, .engine, .plan)."""
    return Path(path).suffix.lower() in ARTIFACT_KINDS


def read_artifact(path: str | Path, *, expected_sha256: str | None = None) -> DeployArtifact:
    """Open an exported ``.onnx`` or ``.engine`` and rebuild its ModelConfig from its metadata.

    The file's SHA-256 is checked first, before anything parses it: against ``expected_sha256`` when given and
    against the hash prefix in a name like ``model-1a2b3c4d.onnx`` (WeightsError). An engine's sidecar hash is
    checked by ``verify_engine``, separately, so that a user can choose to trust an engine.
    """
    p = Path(path)
    kind = ARTIFACT_KINDS.get(p.suffix.lower())
    if kind is None:
        raise UserInputError(f"{p}: not an exported model (expected .onnx or .engine)")
    if not p.is_file():
        raise UserInputError(f"model file not found: {p}")
    digest = sha256_of(p)
    check_sha256(p, digest, expected_sha256, what="model")
    meta = read_onnx_metadata(p) if kind == "onnx" else read_sidecar(p)
    return DeployArtifact(path=p, kind=kind, config=config_from_metadata(meta, where=str(p)),
                          sha256=digest, metadata=meta)
