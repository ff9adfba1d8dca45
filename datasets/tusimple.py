"""TuSimple lane data: the JSON-lines labels, and LaneNet-style instance masks rendered from them.

JSON lines (one object per line, as in ``label_data_0313.json`` / ``shared/data/tusimple_sample_512x288``)::

    {"lanes": [[x, x, -2, ...], ...], "h_samples": [y, y, ...], "raw_file": "clips/0313-1/6040/20.jpg"}

``lanes[k][j]`` is the x of lane k at row ``h_samples[j]``; a negative x (TuSimple writes -2) = no point.
``raw_file`` is relative to the folder of the label file.

LaneNet masks (``shared/data/tusimple_lanenet_masks/data/training_data_example``)::

    ROOT/image/<name>.png                 RGB frame
    ROOT/gt_instance_image/<name>.png     0 = background, each lane one grey value (20, 70, 120, ...)

Images and masks are paired by file name (the ``train.txt`` shipped with that sample mispairs one row).

TuSimple gives no lane sides; both readers assign them from the x position at the bottom row relative to
the image centre (``datasets.lanes.assign_lane_sides``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._common import check_index, decode_text, read_image_bgr, read_label_png, warn_missing
from .errors import DatasetFormatError
from .lanes import assign_lane_sides, inside_image, lanes_from_instance_mask, order_bottom_to_top
from .sample import Sample


@dataclass
class TuSimpleRecord:
    """One parsed label line (coordinates as in the file)."""

    raw_file: str
    h_samples: list[float]
    lanes: list[list[float]]  # one list of x per lane, aligned with h_samples; negative = no point
    line: int  # 1-based line in the label file

    def lane_points(self) -> list[np.ndarray]:
        """Lanes as ``float32[N, 2]`` (x, y) point arrays ordered bottom to top; lanes with < 2 points dropped."""
        ys = np.asarray(self.h_samples, np.float64)
        out = []
        for xs in self.lanes:
            xs_arr = np.asarray(xs, np.float64)
            keep = xs_arr >= 0
            if keep.sum() < 2:
                continue
            out.append(order_bottom_to_top(np.stack([xs_arr[keep], ys[keep]], axis=1)))
        return out


def _is_number(v) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # int too large for a float
        return False


def parse_tusimple_line(text: str, path: str | Path = "<string>", line: int | None = None) -> TuSimpleRecord:
    """Parse one TuSimple label line; DatasetFormatError (file, line) on any deviation from the format."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetFormatError(f"invalid JSON: {e.msg} (column {e.colno})", path, line) from None
    except ValueError as e:  # e.g. an integer literal longer than Python's int-parsing limit
        raise DatasetFormatError(f"invalid JSON: {e}", path, line) from None
    except RecursionError:
        raise DatasetFormatError("invalid JSON: nested too deeply", path, line) from None
    if not isinstance(obj, dict):
        raise DatasetFormatError(f"expected a JSON object, got {type(obj).__name__}", path, line)
    for key in ("lanes", "h_samples", "raw_file"):
        if key not in obj:
            raise DatasetFormatError(f"missing key {key!r}", path, line)
    raw_file, h_samples, lanes = obj["raw_file"], obj["h_samples"], obj["lanes"]
    if not isinstance(raw_file, str) or not raw_file:
        raise DatasetFormatError("'raw_file' must be a non-empty string", path, line)
    if not isinstance(h_samples, list) or not all(_is_number(y) and y >= 0 for y in h_samples):
        raise DatasetFormatError("'h_samples' must be a list of non-negative numbers", path, line)
    if not isinstance(lanes, list):
        raise DatasetFormatError("'lanes' must be a list of lists", path, line)
    for k, xs in enumerate(lanes):
        if not isinstance(xs, list) or not all(_is_number(x) for x in xs):
            raise DatasetFormatError(f"lane {k} must be a list of numbers", path, line)
        if len(xs) != len(h_samples):
            raise DatasetFormatError(f"lane {k} has {len(xs)} x values for {len(h_samples)} h_samples", path, line)
    return TuSimpleRecord(raw_file=raw_file, h_samples=[float(y) for y in h_samples],
                          lanes=[[float(x) for x in xs] for xs in lanes], line=line or 0)


def parse_tusimple_json_lines(data: bytes | str, path: str | Path = "<string>") -> list[TuSimpleRecord]:
    """Parse a whole TuSimple label file (JSON lines; blank lines skipped)."""
    text = decode_text(data, path)
    return [parse_tusimple_line(raw, path, lineno)
            for lineno, raw in enumerate(text.splitlines(), start=1) if raw.strip()]


def _points_inside(lanes: list[np.ndarray], w: int, h: int) -> list[np.ndarray]:
    out = []
    for lane in lanes:
        lane = lane[inside_image(lane, w, h)]
        if len(lane) >= 2:
            out.append(lane)
    return out


class TuSimpleDataset:
    """TuSimple frames (JSON-lines labels) as Samples with ``lanes`` and ``lane_sides``.

    Args:
        label_files: one or more TuSimple label files; ``raw_file`` is resolved against each file's folder.

    Points outside the image are dropped (a lane keeps its other points); lanes with < 2 points are dropped.
    Records whose image file is absent are skipped and listed in ``missing_ids`` (one warning).
    """

    def __init__(self, label_files: str | Path | list[str | Path]):
        files = [Path(label_files)] if isinstance(label_files, (str, Path)) else [Path(p) for p in label_files]
        if not files:
            raise ValueError("no TuSimple label files given")
        self.label_files = files
        self.records: list[tuple[Path, TuSimpleRecord]] = []
        self.missing_ids: list[str] = []
        for f in files:
            for rec in parse_tusimple_json_lines(f.read_bytes(), f):
                img = f.parent / rec.raw_file
                if img.is_file():
                    self.records.append((f, rec))
                else:
                    self.missing_ids.append(rec.raw_file)
        warn_missing("images", ", ".join(map(str, files)), self.missing_ids)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Sample:
        label_file, rec = self.records[check_index(i, len(self))]
        img_path = label_file.parent / rec.raw_file
        img = read_image_bgr(img_path)
        h, w = img.shape[:2]
        lanes = _points_inside(rec.lane_points(), w, h)
        return Sample(image_bgr=img, lanes=lanes, lane_sides=assign_lane_sides(lanes, w, h), source=str(img_path),
                      meta={"dataset": "tusimple", "frame_id": rec.raw_file, "label_file": str(label_file),
                            "line": rec.line, "h_samples": np.asarray(rec.h_samples, np.float32)}).validate()


class TuSimpleInstanceMaskDataset:
    """LaneNet-style TuSimple instance masks as Samples with ``lanes`` (per instance, per row mean x).

    Args:
        root: folder with ``image/`` and ``gt_instance_image/``.
        min_rows: instances spanning fewer rows are dropped (specks).
        row_step: keep one point every ``row_step`` rows (1 = every row).

    ``meta["h_samples"]`` is TuSimple's 56-row grid (rows 160, 170, ..., 710 of a 720-row frame) scaled to the
    mask's height, so the benchmark's accounting (:mod:`perception.metrics.lanes`) can score these frames too.
    The masks do not say which grid their labels used (TuSimple's 0313 labels start at row 240, its 0531 and
    0601 labels at 160), so on these frames that accounting is an approximation.
    """

    def __init__(self, root: str | Path, *, min_rows: int = 10, row_step: int = 1):
        self.root = Path(root)
        self.image_dir = self.root / "image"
        self.mask_dir = self.root / "gt_instance_image"
        if not self.mask_dir.is_dir():
            raise FileNotFoundError(f"instance mask folder not found: {self.mask_dir}")
        self.min_rows = min_rows
        self.row_step = row_step
        masks = sorted(self.mask_dir.glob("*.png"))
        self.missing_ids = [m.name for m in masks if not (self.image_dir / m.name).is_file()]
        warn_missing("images", self.image_dir, self.missing_ids)
        self.mask_files = [m for m in masks if (self.image_dir / m.name).is_file()]

    def __len__(self) -> int:
        return len(self.mask_files)

    def __getitem__(self, i: int) -> Sample:
        mask_path = self.mask_files[check_index(i, len(self))]
        img_path = self.image_dir / mask_path.name
        img = read_image_bgr(img_path)
        h, w = img.shape[:2]
        inst = read_label_png(mask_path, (h, w))
        lanes, values = lanes_from_instance_mask(inst, min_rows=self.min_rows, row_step=self.row_step)
        return Sample(image_bgr=img, lanes=lanes, lane_sides=assign_lane_sides(lanes, w, h), source=str(img_path),
                      meta={"dataset": "tusimple_lanenet", "frame_id": mask_path.stem, "mask_file": str(mask_path),
                            "instance_values": values, "h_samples": tusimple_rows(h)}).validate()


def tusimple_rows(height_px: int) -> np.ndarray:
    """TuSimple's 56-row label grid (rows 160..710 every 10 of a 720-row frame), float32, scaled to ``height_px``."""
    return (np.arange(160, 711, 10, dtype=np.float64) * height_px / 720.0).astype(np.float32)


def open_tusimple(path: str | Path, split: str) -> TuSimpleDataset:
    """TuSimple by split: ``train`` = every ``label_data*.json`` in ``path``, ``test`` = ``test_label.json``;
    ``path`` may also be a label file itself (``split`` is then ignored)."""
    path = Path(path)
    if path.is_file():
        return TuSimpleDataset(path)
    patterns = {"train": "label_data*.json", "test": "test_label*.json"}
    if split not in patterns:
        raise ValueError(f"unknown TuSimple split {split!r}; expected one of {sorted(patterns)}")
    files = sorted(path.glob(patterns[split]))
    if not files:
        hint = ""
        if (path / "gt_instance_image").is_dir():
            hint = " (this folder holds LaneNet instance masks: use kind='tusimple_lanenet')"
        raise FileNotFoundError(f"no {patterns[split]} in {path}{hint}")
    return TuSimpleDataset(files)


__all__ = ["TuSimpleDataset", "TuSimpleInstanceMaskDataset", "TuSimpleRecord", "open_tusimple", "tusimple_rows",
           "parse_tusimple_json_lines", "parse_tusimple_line"]
