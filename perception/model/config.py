"""Configuration of the multi-task network (one dataclass, every default commented)."""

from __future__ import annotations

from dataclasses import dataclass, replace

# Default class lists. Training targets (datasets/classes.py) use the same names in the same order.
DEFAULT_DET_CLASSES = ("car", "truck", "bus", "pedestrian", "cyclist", "motorcyclist", "traffic_cone")
DEFAULT_SEG_CLASSES = ("road", "sidewalk", "building", "vegetation", "sky", "pole", "sign", "fence",
                       "car", "pedestrian", "cyclist")
# Lane slots of the row-anchor head, left to right (datasets/classes.py LANE_SIDES: same names, same order).
LANE_SLOTS = ("left_left", "ego_left", "ego_right", "right_right")
ROW_ANCHOR_STRIDE = 8  # the row-anchor head reads the stride-8 neck feature: one anchor row / grid cell per 8 px


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network. Stored inside every checkpoint so weights rebuild their own model."""

    det_classes: tuple[str, ...] = DEFAULT_DET_CLASSES  # detection head classes, index order
    seg_classes: tuple[str, ...] = DEFAULT_SEG_CLASSES  # semantic head classes, index order
    input_size_wh: tuple[int, int] = (640, 384)         # network input (width, height) in pixels
    stem_channels: int = 16                             # channels after the stride-2 stem
    stage_channels: tuple[int, ...] = (32, 64, 128, 192)  # backbone stages at strides 4, 8, 16, 32
    stage_depths: tuple[int, ...] = (1, 2, 4, 2)          # residual blocks per stage (after its downsample)
    neck_channels: int = 96                             # FPN/PAN width at strides 8, 16, 32
    head_channels: int = 96                             # detection tower width
    head_depth: int = 2                                 # depthwise-separable layers in the detection tower
    dense_channels: int = 48                            # width of the stride-4 segmentation and lane heads
    mean_rgb: tuple[float, ...] = (0.485, 0.456, 0.406)  # input normalisation (applied inside the net)
    std_rgb: tuple[float, ...] = (0.229, 0.224, 0.225)
    lane_rows: int = 0                                  # row-anchor lane head: anchors on the bottom N rows of the
    #   stride-8 grid (N <= H/8); 0 = no such head (checkpoints from before the head load unchanged)
    lane_row_channels: int = 32                         # width of the row-anchor head

    def __post_init__(self) -> None:
        if len(self.stage_channels) != 4 or len(self.stage_depths) != 4:
            raise ValueError("stage_channels and stage_depths need 4 entries (strides 4, 8, 16, 32)")
        w, h = self.input_size_wh
        if w % 32 or h % 32:
            raise ValueError(f"input_size_wh must be multiples of 32, got {w}x{h}")
        if not self.det_classes or not self.seg_classes:
            raise ValueError("det_classes and seg_classes must not be empty")
        if not 0 <= self.lane_rows <= h // ROW_ANCHOR_STRIDE:
            raise ValueError(f"lane_rows must be in 0..{h // ROW_ANCHOR_STRIDE} (rows of the stride-8 grid), "
                             f"got {self.lane_rows}")
        if self.lane_row_channels < 1:
            raise ValueError(f"lane_row_channels must be positive, got {self.lane_row_channels}")

    @property
    def strides(self) -> tuple[int, int, int]:
        """Detection strides (P3, P4, P5) in network pixels."""
        return (8, 16, 32)


# Named sizes built from the same parts: only widths and depths differ (like Ultralytics' n/s).
#  lite: the CPU real-time default (0.35 M parameters);
#  base: 2-3x wider and twice as deep (3.3 M parameters, about 3x lite's time per frame on a CPU), for a GPU.
MODEL_SIZES: dict[str, dict] = {
    "lite": {},
    "base": {"stem_channels": 32, "stage_channels": (64, 128, 288, 576), "stage_depths": (2, 4, 8, 4),
             "neck_channels": 256, "head_channels": 192, "head_depth": 3, "dense_channels": 96},
}


def model_config(size: str = "lite", **fields) -> ModelConfig:
    """The ModelConfig of a named size (``MODEL_SIZES``), with any field overridden by ``fields``."""
    if size not in MODEL_SIZES:
        raise ValueError(f"unknown model size {size!r}; expected one of: {', '.join(MODEL_SIZES)}")
    return replace(ModelConfig(), **{**MODEL_SIZES[size], **fields})


def size_of(config: ModelConfig) -> str | None:
    """The name of the size whose widths and depths ``config`` has (classes and input size may differ)."""
    shape_fields = {k for fields in MODEL_SIZES.values() for k in fields}  # what the sizes set
    for name in MODEL_SIZES:
        ref = model_config(name)
        if all(getattr(config, k) == getattr(ref, k) for k in shape_fields):
            return name
    return None


def with_input_size(config: ModelConfig, size_wh: tuple[int, int] | None) -> ModelConfig:
    """``config`` at another network input size (``--imgsz``; None keeps its own). The network is fully
    convolutional, so the same weights run at any size that is a multiple of 32; ValueError (one line) when the
    row-anchor lane head's rows do not fit the new height."""
    if size_wh is None or tuple(size_wh) == tuple(config.input_size_wh):
        return config
    return replace(config, input_size_wh=(int(size_wh[0]), int(size_wh[1])))
