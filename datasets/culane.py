"""CULane lane reader.

Layout (official)::

    ROOT/list/<split>.txt          lines ``/driver_xx/clip.MP4/00000.jpg`` (paths relative to ROOT)
    ROOT/list/<split>_gt.txt       lines ``<image> <seg label png> e1 e2 e3 e4`` (e* = lane-slot existence flags)
    ROOT/driver_xx/clip.MP4/00000.jpg
    ROOT/driver_xx/clip.MP4/00000.lines.txt     one lane per line: ``x1 y1 x2 y2 ...`` (pixels)

``<split>_gt.txt`` is used when present (its flags are kept in ``meta["exist_flags"]``), otherwise
``<split>.txt``.

Block split of a folder without a validation list (such as ``shared/data/culane_2clips_day_night``, whose
``list/train.txt`` is one 60-frame daytime clip): when neither ``list/val.txt`` nor ``list/val_gt.txt`` exists,
``train`` and ``val`` are fixed blocks of the train list by frame index, not random frames (consecutive frames of a
clip are near duplicates): per clip folder, frames sorted by their number, the last ``VAL_BLOCK_FRACTION`` (25 %,
rounded up) are ``val``, the ``BLOCK_GAP_FRAMES`` frame(s) just before that block belong to neither split, the rest
is ``train``; ``trainval`` is the whole list. For the shared sample: train = frames 00000-03870 (44), val =
04050-05310 (15), 03960 unused. A folder with an official validation list reads every split from its list file.

Lane points outside the image (CULane extrapolates lanes past the left/right edges) are
dropped; lanes left with < 2 points are dropped. Sides are assigned geometrically
(``datasets.lanes.assign_lane_sides``), as for TuSimple.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._common import check_index, decode_text, read_image_bgr, warn_missing
from .errors import DatasetFormatError
from .lanes import assign_lane_sides, inside_image, order_bottom_to_top
from .sample import Sample


def parse_culane_lines_text(data: bytes | str, path: str | Path = "<string>") -> list[np.ndarray]:
    """Parse a ``.lines.txt``: one lane per non-blank line, ``x y`` pairs -> ``float32[N, 2]`` bottom to top.

    DatasetFormatError (file, line) for an odd number of values, a non-numeric / non-finite value, or a
    lane with fewer than 2 points.
    """
    text = decode_text(data, path)
    lanes = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) % 2:
            raise DatasetFormatError(f"expected x y pairs, got an odd number of values ({len(fields)})", path, lineno)
        if len(fields) < 4:
            raise DatasetFormatError("a lane needs at least 2 points", path, lineno)
        vals = []
        for col, tok in enumerate(fields, start=1):
            try:
                v = float(tok)
            except ValueError:
                raise DatasetFormatError(f"value {col}: {tok[:40]!r} is not a number", path, lineno) from None
            if not math.isfinite(v):
                raise DatasetFormatError(f"value {col}: {tok[:40]!r} is not finite", path, lineno)
            vals.append(v)
        lanes.append(order_bottom_to_top(np.asarray(vals, np.float64).reshape(-1, 2)))  # (N, 2)
    return lanes


VAL_BLOCK_FRACTION = 0.25  # share of each clip's frames (the last ones) in the block split's ``val``
BLOCK_GAP_FRAMES = 1       # frames between the block split's train and val blocks, in neither split
BLOCK_SPLITS = ("train", "val", "trainval")


def _resolve(root: Path, token: str) -> Path:
    return root / token.lstrip("/")


def _frame_number(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        raise DatasetFormatError(f"block split needs numbered frames (00090.jpg), got {path.name!r}", path) from None


def block_split(paths: list[Path], split: str) -> list[Path]:
    """The ``train`` / ``val`` / ``trainval`` block of ``paths`` (module docstring), in list order."""
    if split == "trainval":
        return list(paths)
    chosen: set[Path] = set()
    clips: dict[Path, list[Path]] = {}
    for p in paths:
        clips.setdefault(p.parent, []).append(p)
    for frames in clips.values():
        frames = sorted(frames, key=_frame_number)
        n_val = math.ceil(VAL_BLOCK_FRACTION * len(frames))
        start_val = len(frames) - n_val
        block = frames[start_val:] if split == "val" else frames[:max(start_val - BLOCK_GAP_FRAMES, 0)]
        chosen.update(block)
    return [p for p in paths if p in chosen]


class CULaneDataset:
    """CULane frames as Samples with ``lanes`` and ``lane_sides`` (boxes, seg None).

    Args:
        root: CULane root folder (with ``list/``).
        split: list name: ``train``, ``val``, ``test`` (or any ``list/<name>.txt``, e.g. ``night``); without a
            validation list, ``train`` / ``val`` / ``trainval`` are the block split of the train list (module
            docstring).

    Listed images that do not exist are skipped and kept in ``missing_ids`` (one warning). Images without a
    ``.lines.txt`` have ``lanes = None``.
    """

    def __init__(self, root: str | Path, split: str = "train"):
        self.root = Path(root)
        lists = self.root / "list"
        self.block_split = (split in BLOCK_SPLITS and not (lists / "val.txt").is_file()
                            and not (lists / "val_gt.txt").is_file())
        self.split = split
        list_name = "train" if self.block_split else split
        gt_list = self.root / "list" / f"{list_name}_gt.txt"
        plain_list = self.root / "list" / f"{list_name}.txt"
        self.list_path = gt_list if gt_list.is_file() else plain_list
        if not self.list_path.is_file():
            raise FileNotFoundError(f"CULane list not found: {plain_list} (nor {gt_list.name})")
        entries: list[tuple[Path, list[int] | None]] = []
        text = decode_text(self.list_path.read_bytes(), self.list_path)
        for lineno, raw in enumerate(text.splitlines(), start=1):
            fields = raw.split()
            if not fields:
                continue
            flags = None
            if self.list_path is gt_list:
                if len(fields) != 6 or any(f not in ("0", "1") for f in fields[2:]):
                    raise DatasetFormatError("expected '<image> <label png> e1 e2 e3 e4' with 0/1 flags",
                                             self.list_path, lineno)
                flags = [int(f) for f in fields[2:]]
            elif len(fields) != 1:
                raise DatasetFormatError(f"expected one image path per line, got {len(fields)} fields",
                                         self.list_path, lineno)
            entries.append((_resolve(self.root, fields[0]), flags))
        if self.block_split:
            keep = set(block_split([p for p, _ in entries], split))
            entries = [(p, f) for p, f in entries if p in keep]
        self.missing_ids = [str(p) for p, _ in entries if not p.is_file()]
        warn_missing("images", self.list_path, self.missing_ids)
        self.entries = [(p, f) for p, f in entries if p.is_file()]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> Sample:
        img_path, flags = self.entries[check_index(i, len(self))]
        img = read_image_bgr(img_path)
        h, w = img.shape[:2]
        lines_path = img_path.with_suffix(".lines.txt")
        lanes = sides = None
        meta: dict = {"dataset": "culane", "frame_id": str(img_path.relative_to(self.root))}
        if flags is not None:
            meta["exist_flags"] = flags
        if lines_path.is_file():
            lanes = []
            for lane in parse_culane_lines_text(lines_path.read_bytes(), lines_path):
                lane = lane[inside_image(lane, w, h)]
                if len(lane) >= 2:
                    lanes.append(lane)
            sides = assign_lane_sides(lanes, w, h)
            meta["lines_file"] = str(lines_path)
        return Sample(image_bgr=img, lanes=lanes, lane_sides=sides, source=str(img_path), meta=meta).validate()


__all__ = ["BLOCK_GAP_FRAMES", "CULaneDataset", "VAL_BLOCK_FRACTION", "block_split", "parse_culane_lines_text"]
