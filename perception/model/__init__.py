"""The multi-task network and its checkpoints.

The network's names (``MultiTaskNet``, heads, builders) load torch when first used; configs, output names and the
records and hashes of published weights do not, so a run from a cached exported graph starts without torch.
"""

from importlib import import_module
from typing import Any

from perception.model.config import (DEFAULT_DET_CLASSES, DEFAULT_SEG_CLASSES, LANE_SLOTS, MODEL_SIZES, ModelConfig,
                                     model_config, size_of, with_input_size)
from perception.model.outputs import HEAD_NAMES, LANE_ROW_OUTPUT, OUTPUT_NAMES, RowAnchorLayout, output_names
from perception.model.weights import (LoadedWeights, WeightsRecord, default_weights, load_checkpoint,
                                      published_weights, save_checkpoint, sha256_of)

_TORCH_NAMES = {"RowAnchorHead": "perception.model.heads",
                "MultiTaskNet": "perception.model.network", "build_model": "perception.model.network",
                "build_multitask_lite": "perception.model.network"}

__all__ = ["ModelConfig", "MODEL_SIZES", "LANE_SLOTS", "RowAnchorHead", "RowAnchorLayout", "HEAD_NAMES",
           "LANE_ROW_OUTPUT", "output_names", "model_config", "size_of", "with_input_size", "MultiTaskNet", "build_model",
           "build_multitask_lite", "OUTPUT_NAMES", "DEFAULT_DET_CLASSES", "DEFAULT_SEG_CLASSES", "LoadedWeights",
           "WeightsRecord", "default_weights", "published_weights", "load_checkpoint", "save_checkpoint", "sha256_of"]


def __getattr__(name: str) -> Any:
    """The torch-backed names, imported on first use (PEP 562)."""
    if name in _TORCH_NAMES:
        value = getattr(import_module(_TORCH_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'perception.model' has no attribute {name!r}")
