"""Checkpoint format, safe loading with a SHA-256 check, and the record of shipped weights.

A checkpoint is a ``torch.save`` of a plain dict (loadable with ``weights_only=True``)::

    {"format": "perception.multitask", "format_version": 1,
     "model_config": {...ModelConfig as a dict...},
     "state_dict": {...tensors...},
     "metadata": {"trained_by": ..., "metrics": {...}, ...}}

The model is rebuilt from ``model_config`` so a checkpoint carries its own classes and input size.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perception.config import config_from_dict, config_to_dict
from perception.errors import ConfigError, WeightsError
from perception.model.config import DEFAULT_DET_CLASSES, DEFAULT_SEG_CLASSES, MODEL_SIZES, ModelConfig

if TYPE_CHECKING:  # torch is imported where a checkpoint is read or written: records and hashes need none
    import torch

    from perception.model.network import MultiTaskNet

CHECKPOINT_FORMAT = "perception.multitask"
CHECKPOINT_VERSION = 1
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.pt$")


@dataclass(frozen=True)
class WeightsRecord:
    """A published set of weights (file, hash and what it was measured to do)."""

    name: str
    file_name: str            # inside perception/weights/
    sha256: str               # full hex digest of the file
    size: str = "lite"        # model size (perception.model.config.MODEL_SIZES)
    input_size_wh: tuple[int, int] = ModelConfig.input_size_wh  # the network's input (W, H) ...
    det_classes: tuple[str, ...] = DEFAULT_DET_CLASSES             # ... and classes (the defaults unless stated)
    seg_classes: tuple[str, ...] = DEFAULT_SEG_CLASSES
    metrics: dict[str, float] = field(default_factory=dict)  # validation metrics from the model card
    score_threshold: float = 0.3  # default detection threshold, chosen for best F1 on the validation split
    onnx_graph_sha256: str = ""  # SHA-256 of its ONNX graph at input_size_wh shipped in perception/weights/cache/
    #   ("" if none): a first run uses it instead of importing torch to export one (python -m
    #   perception.tools.ship_cache writes it)

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file_name


# Weights shipped with the package, by name (cards: docs/models/multitask_lite.md and multitask_base.md, with data,
# command and metrics).
# Superseded weights are not shipped; they live in perception/training/weights/ as the start points of the
# fine-tuning configs: multitask_lite_cpu60 (finetune_cpu.yaml), multitask_lite_cpu120 (generalise_cpu.yaml) and
# multitask_lite_v2 (generalise_v3_cpu.yaml).
PUBLISHED_WEIGHTS: dict[str, WeightsRecord] = {
    "multitask_lite_v3": WeightsRecord(
        name="multitask_lite_v3",
        file_name="multitask_lite_v3-6c30ad37.pt",
        sha256="6c30ad370d36e70b439a57370ff6057fc696f14cf4358a9cc859b0ee2ef1a746",
        onnx_graph_sha256="e71e6cf9a5f6366e9a26a24d40fcf94ceef6a3755ec4b27ebde7faae3c8b423f",
        size="lite",
        metrics={"camvid_val_miou": 0.5397, "cityscapes_val_miou": 0.5168, "idd_val_coarse_miou": 0.5232,
                 "apollo_val_ap50": 0.1224, "apollo_val_car_ap50": 0.3713, "kitti_val_ap50": 0.2304,
                 "kitti_val_car_ap50": 0.5770, "kitti_val_pedestrian_ap50": 0.2570, "kitti_yolo_val_ap50": 0.2146},
        score_threshold=0.45,
    ),
    "multitask_base_v1": WeightsRecord(
        name="multitask_base_v1",
        file_name="multitask_base_v1-f58bc6a6.pt",
        sha256="f58bc6a6f2bfbeadd3fe4bb746018e3abbfde844e87ea3b4963318c38c0c1a85",
        size="base",
        metrics={"camvid_val_miou": 0.5548, "cityscapes_val_miou": 0.5274, "idd_val_coarse_miou": 0.5395,
                 "apollo_val_ap50": 0.1214, "apollo_val_car_ap50": 0.3625, "kitti_val_ap50": 0.2334,
                 "kitti_val_car_ap50": 0.5322, "kitti_val_pedestrian_ap50": 0.2574, "kitti_yolo_val_ap50": 0.2662},
        score_threshold=0.45,
    ),
}
DEFAULT_WEIGHTS_NAME: str | None = "multitask_lite_v3"
# Published weights per model size (what --model SIZE loads); a size without an entry has no weights yet.
WEIGHTS_BY_SIZE: dict[str, str] = {"lite": "multitask_lite_v3", "base": "multitask_base_v1"}


@dataclass(frozen=True)
class LoadedWeights:
    """What ``load_checkpoint`` found: the model (eval mode) and facts for summary.json."""

    model: MultiTaskNet
    path: str
    sha256: str
    metadata: dict[str, Any]


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(model: MultiTaskNet, path: str | Path, *, metadata: dict[str, Any] | None = None,
                    hash_in_name: bool = False) -> Path:
    """Save ``model`` in the checkpoint format. With ``hash_in_name`` the file is renamed to
    ``<stem>-<first 8 hex of sha256>.pt`` (checked again on load). Returns the final path."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    blob = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
            "model_config": config_to_dict(model.config), "state_dict": state, "metadata": dict(metadata or {})}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(blob, tmp)
    if hash_in_name:
        path = path.with_name(f"{path.stem}-{sha256_of(tmp)[:8]}.pt")
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, *, expected_sha256: str | None = None,
                    map_location: str | torch.device = "cpu") -> LoadedWeights:
    """Load a checkpoint safely (``weights_only=True``) and verify its SHA-256.

    The hash is checked against ``expected_sha256`` when given, and against the hash prefix in
    the file name when the name ends in ``-<hex>.pt``. Every failure raises ``WeightsError``
    with one line naming the file.
    """
    import torch

    from perception.model.network import MultiTaskNet

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    digest = sha256_of(path)
    if expected_sha256 and digest != expected_sha256.lower():
        raise WeightsError(f"SHA-256 mismatch for {path}: expected {expected_sha256}, got {digest}")
    m = _HASH_IN_NAME.search(path.name)
    if m and not digest.startswith(m.group(1)):
        raise WeightsError(f"SHA-256 of {path} ({digest[:12]}...) does not match the hash in its name ({m.group(1)})")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle, zip and torch errors all mean "not a usable checkpoint"
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise WeightsError(f"cannot load weights {path}: not a safe torch checkpoint ({first_line})") from None
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        raise WeightsError(f"{path} is not a perception checkpoint (missing format '{CHECKPOINT_FORMAT}')")
    if blob.get("format_version") != CHECKPOINT_VERSION:
        raise WeightsError(f"{path} has checkpoint format version {blob.get('format_version')}, "
                           f"this code reads version {CHECKPOINT_VERSION}")
    try:
        config = config_from_dict(ModelConfig, blob.get("model_config"), where=str(path))
        model = MultiTaskNet(config)
        model.load_state_dict(blob["state_dict"], strict=True)
    except (ConfigError, ValueError, RuntimeError, KeyError, TypeError) as e:
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise WeightsError(f"weights {path} do not fit the model: {first_line}") from None
    return LoadedWeights(model=model.eval(), path=str(path), sha256=digest, metadata=dict(blob.get("metadata") or {}))


def default_weights() -> WeightsRecord | None:
    """The record of the weights ``perception.run`` uses when neither ``--weights`` nor ``--model`` is given."""
    if DEFAULT_WEIGHTS_NAME is None:
        return None
    return PUBLISHED_WEIGHTS[DEFAULT_WEIGHTS_NAME]


def published_weights(size: str) -> WeightsRecord:
    """The published weights of a model size (``--model SIZE``); ConfigError (one line) when there are none."""
    if size not in MODEL_SIZES:
        raise ConfigError(f"unknown model size {size!r}; expected one of: {', '.join(MODEL_SIZES)}")
    if size not in WEIGHTS_BY_SIZE:
        raise ConfigError(f"no published weights for model size {size} yet: train them with python -m "
                          f"perception.train --model {size} and pass the result with --weights")
    return PUBLISHED_WEIGHTS[WEIGHTS_BY_SIZE[size]]
