"""The names of the network's outputs and heads, and the row-anchor layout (no torch: runners of exported graphs
and the post-processing read them too)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.model.config import LANE_SLOTS, ROW_ANCHOR_STRIDE, ModelConfig

# Outputs of every network, in this order (exported graphs too).
OUTPUT_NAMES = ("det_cls_logits", "det_ctr_logits", "det_boxes_xyxy", "seg_logits", "lane_logits")
LANE_ROW_OUTPUT = "lane_row_logits"  # appended when the row-anchor lane head is on (ModelConfig.lane_rows > 0)
# The heads by attribute name, in the order they run (``MultiTaskNet.forward(heads=...)`` selects among them).
HEAD_NAMES = ("det_head", "seg_head", "lane_head", "lane_row_head")


def output_names(config: ModelConfig) -> tuple[str, ...]:
    """The outputs of a network built from ``config``, in order: ``OUTPUT_NAMES`` (+ ``lane_row_logits``)."""
    return OUTPUT_NAMES + ((LANE_ROW_OUTPUT,) if config.lane_rows else ())


@dataclass(frozen=True)
class RowAnchorLayout:
    """Where the row-anchor lane head looks, in network pixels (pixel-centre coordinates, as lane labels).

    Anchor rows are the centres of the bottom ``rows`` rows of the stride-8 grid, top to bottom; each anchor row
    is split into G = W / 8 horizontal cells of 8 px. The head's output ``lane_row_logits`` is
    FloatTensor[B, S, R, G + 1]: for each lane slot (``slots``, left to right) and anchor row, logits over the G
    cells plus a last class, index ``absent``, for "this lane does not cross this row".
    """

    input_size_wh: tuple[int, int]
    rows: int
    stride: int = ROW_ANCHOR_STRIDE
    slots: tuple[str, ...] = LANE_SLOTS

    @classmethod
    def of(cls, config: ModelConfig) -> "RowAnchorLayout":
        return cls(tuple(config.input_size_wh), config.lane_rows)

    @property
    def num_cells(self) -> int:
        """G: horizontal cells per anchor row."""
        return self.input_size_wh[0] // self.stride

    @property
    def absent(self) -> int:
        """Class index of "no lane on this row" (the last of G + 1)."""
        return self.num_cells

    def anchor_ys_px(self) -> np.ndarray:
        """(R,) y of every anchor row in network pixels, top to bottom."""
        n = self.input_size_wh[1] // self.stride
        return (np.arange(n - self.rows, n, dtype=np.float64) + 0.5) * self.stride - 0.5

    def x_from_cell(self, cell: np.ndarray) -> np.ndarray:
        """Network-pixel x of a (fractional) cell coordinate; cell c's centre is at ``(c + 0.5) * 8 - 0.5``."""
        return (np.asarray(cell, np.float64) + 0.5) * self.stride - 0.5

    def cell_from_x(self, x_px: np.ndarray) -> np.ndarray:
        """Inverse of ``x_from_cell``."""
        return (np.asarray(x_px, np.float64) + 0.5) / self.stride - 0.5
