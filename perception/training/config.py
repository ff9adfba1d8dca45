"""Training configuration: one dataclass (YAML file + CLI overrides), unknown keys rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from datasets.transforms import AugmentConfig
from perception.config import load_config_file
from perception.errors import ConfigError
from perception.model.config import ModelConfig
from perception.training.copy_paste import CopyPasteConfig
from perception.training.freeze import check_parts

SHARED = "../shared/data"
SEG_CLASS_BALANCE = ("none", "log_inverse")
DET_CLASS_BALANCE = ("none", "repeat_factor")
AMP_MODES = ("none", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Every field can be set in the YAML file given with ``--config``."""

    # KIND:PATH sources read with their train split; a sample may carry only some labels.
    train_data: tuple[str, ...] = (f"camvid:{SHARED}/camvid",
                                   f"apollo:{SHARED}/apollo_2d_obstacle_dotah88",
                                   f"tusimple_lanenet:{SHARED}/tusimple_lanenet_masks/data/training_data_example")
    train_repeats: tuple[int, ...] = (1, 3, 6)   # times each source is repeated per epoch (balances tiny sets)
    train_split: str = "train"                   # split name passed to every train reader
    mask_boxes: tuple[str, ...] = ()             # dataset kinds (e.g. camvid) whose semantic masks also give
    #   detection boxes: one-object-looking car components; the rest ignore regions (datasets/mask_boxes.py)
    val_data: tuple[str, ...] = (f"camvid:{SHARED}/camvid", f"apollo:{SHARED}/apollo_2d_obstacle_dotah88")
    val_split: str = "val"                       # CamVid val list; Apollo: 20% split off its train folder
    epochs: int = 40                             # passes over the (repeated) training set
    batch_size: int = 8                          # images per step
    crop_wh: tuple[int, int] = (384, 256)        # random training crop of the letterboxed image (multiples of 32)
    lr: float = 3e-3                             # peak AdamW learning rate (one-cycle schedule)
    weight_decay: float = 1e-4                   # AdamW weight decay
    det_weight: float = 1.0                      # loss weight of the detection head
    seg_weight: float = 1.0                      # loss weight of the segmentation head
    seg_class_balance: str = "none"              # none | log_inverse: per-class CE weights 1/ln(1.02 + p_class)
    det_class_balance: str = "none"              # none | repeat_factor: draw detection frames holding rare classes
    #   more often, same steps per epoch (perception/training/sampling.py)
    mosaic_p: float = 0.0                        # share of training items tiled 2x2 from four half-size crops
    #   (perception/training/mosaic.py); 0 = off
    repeat_factor_threshold: float = 0.1         # classes in fewer than this fraction of detection frames get repeated
    lane_weight: float = 1.0                     # loss weight of the lane head
    lane_row_weight: float = 1.0                 # loss weight of the row-anchor lane head (model.lane_rows > 0)
    train_only: tuple[str, ...] = ()             # parts that learn (of TRAINABLE_PARTS: backbone, neck, det_head,
    #   seg_head, lane_head, lane_row_head); the rest stay frozen, in eval mode (perception/training/freeze.py);
    #   empty = the whole network
    teacher_weights: str = ""                    # distil from this checkpoint (a larger network with the same
    #   classes): its outputs on each batch are extra targets (perception/training/distill.py); "" = off
    kd_weight: float = 1.0                       # weight of the distillation terms in the total loss
    kd_temperature: float = 2.0                  # softmax temperature of the segmentation distillation
    ema_decay: float = 0.0                       # EMA of weights (e.g. 0.999), validated and shipped; 0 = off
    seed: int = 0                                # seeds model init, shuffling and augmentation
    init_weights: str = ""                       # start from this checkpoint's weights (fine-tuning); "" = random
    init_grow: bool = False                      # init_weights are a smaller size of the same parts (e.g. lite for
    #   base): widen and deepen them so the network starts as that function (perception/training/grow.py)
    device: str = "cpu"                          # cpu, cuda, cuda:N
    workers: int = 1                             # DataLoader worker processes (0 = in the main process)
    amp: str = "none"                            # none | bf16: bfloat16 autocast of the forward pass (GPU)
    channels_last: bool = False                  # NHWC memory layout (faster convolutions on a GPU)
    compile: bool = False                        # torch.compile the training model
    threads: int = 0                             # torch intra-op threads (0 = torch's default)
    val_every: int = 1                           # validate every N epochs (and after the last)
    max_steps_per_epoch: int = 0                 # cap steps per epoch (0 = no cap; for smoke tests)
    model: ModelConfig = field(default_factory=ModelConfig)        # network shape and classes
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # albumentations parameters
    copy_paste: CopyPasteConfig = field(default_factory=CopyPasteConfig)  # pasted pedestrians/cyclists (p 0 = off)

    def __post_init__(self) -> None:
        if len(self.train_repeats) != len(self.train_data):
            raise ConfigError(f"train_repeats has {len(self.train_repeats)} entries for "
                              f"{len(self.train_data)} train_data sources")
        cw, ch = self.crop_wh
        mw, mh = self.model.input_size_wh
        if cw % 32 or ch % 32 or cw > mw or ch > mh:
            raise ConfigError(f"crop_wh {self.crop_wh} must be multiples of 32 within the input size {mw}x{mh}")
        if self.model.lane_rows and self.lane_row_weight > 0 and tuple(self.crop_wh) != tuple(self.model.input_size_wh):
            raise ConfigError(f"the row-anchor lane head's anchors are defined on the full input: crop_wh must be the "
                              f"input size {mw}x{mh} (got {cw}x{ch}), or set lane_row_weight to 0")
        check_parts(self.train_only, bool(self.model.lane_rows))
        kinds = {spec.partition(":")[0] for spec in self.train_data}
        if set(self.mask_boxes) - kinds:
            raise ConfigError(f"mask_boxes names {sorted(set(self.mask_boxes) - kinds)}, which are not among the "
                              f"train_data kinds {sorted(kinds)}")
        if self.seg_class_balance not in SEG_CLASS_BALANCE:
            raise ConfigError(f"seg_class_balance must be one of {', '.join(SEG_CLASS_BALANCE)}, "
                              f"not {self.seg_class_balance!r}")
        if self.det_class_balance not in DET_CLASS_BALANCE:
            raise ConfigError(f"det_class_balance must be one of {', '.join(DET_CLASS_BALANCE)}, "
                              f"not {self.det_class_balance!r}")
        if not 0.0 < self.repeat_factor_threshold <= 1.0:
            raise ConfigError(f"repeat_factor_threshold must be in (0, 1], not {self.repeat_factor_threshold}")
        if not 0.0 <= self.mosaic_p <= 1.0:
            raise ConfigError(f"mosaic_p must be in [0, 1], not {self.mosaic_p}")
        if self.amp not in AMP_MODES:
            raise ConfigError(f"amp must be one of {', '.join(AMP_MODES)}, not {self.amp!r}")
        if not (self.ema_decay == 0.0 or 0.0 < self.ema_decay < 1.0):
            raise ConfigError(f"ema_decay must be 0 (off) or in (0, 1), not {self.ema_decay}")
        cp = self.copy_paste
        if not 0.0 <= cp.p <= 1.0 or cp.max_instances < 1 or cp.max_upscale <= 0:
            raise ConfigError("copy_paste needs 0 <= p <= 1, max_instances >= 1 and max_upscale > 0")
        if self.kd_weight < 0 or self.kd_temperature <= 0:
            raise ConfigError("kd_weight must be >= 0 and kd_temperature > 0")
        if self.init_grow and not self.init_weights:
            raise ConfigError("init_grow needs init_weights (the smaller network to grow from)")
        if self.epochs <= 0 or self.batch_size <= 0:
            raise ConfigError("epochs and batch_size must be positive")


def load_train_config(path: str | Path | None, overrides: dict | None = None) -> TrainConfig:
    """Read a YAML config (or the defaults), apply ``overrides``; unknown keys raise ConfigError."""
    return load_config_file(TrainConfig, path, overrides)
