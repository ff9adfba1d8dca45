"""The multi-task network and its checkpoints."""

from perception.model.config import (DEFAULT_DET_CLASSES, DEFAULT_SEG_CLASSES, LANE_SLOTS, MODEL_SIZES, ModelConfig,
                                     model_config, size_of, with_input_size)
from perception.model.heads import RowAnchorHead, RowAnchorLayout
from perception.model.network import (HEAD_NAMES, LANE_ROW_OUTPUT, OUTPUT_NAMES, MultiTaskNet, build_model,
                                      build_multitask_lite, output_names)
from perception.model.weights import (LoadedWeights, WeightsRecord, default_weights, load_checkpoint,
                                      published_weights, save_checkpoint, sha256_of)

__all__ = ["ModelConfig", "MODEL_SIZES", "LANE_SLOTS", "RowAnchorHead", "RowAnchorLayout", "HEAD_NAMES",
           "LANE_ROW_OUTPUT", "output_names", "model_config", "size_of", "with_input_size", "MultiTaskNet", "build_model",
           "build_multitask_lite", "OUTPUT_NAMES", "DEFAULT_DET_CLASSES", "DEFAULT_SEG_CLASSES", "LoadedWeights",
           "WeightsRecord", "default_weights", "published_weights", "load_checkpoint", "save_checkpoint", "sha256_of"]
