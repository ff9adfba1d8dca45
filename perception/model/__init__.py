"""The multi-task network and its checkpoints."""

from perception.model.config import DEFAULT_DET_CLASSES, DEFAULT_SEG_CLASSES, ModelConfig
from perception.model.network import OUTPUT_NAMES, MultiTaskNet, build_multitask_lite
from perception.model.weights import (LoadedWeights, WeightsRecord, default_weights, load_checkpoint,
                                      save_checkpoint, sha256_of)

__all__ = ["ModelConfig", "MultiTaskNet", "build_multitask_lite", "OUTPUT_NAMES", "DEFAULT_DET_CLASSES",
           "DEFAULT_SEG_CLASSES", "LoadedWeights", "WeightsRecord", "default_weights", "load_checkpoint",
           "save_checkpoint", "sha256_of"]
