"""Helpers shared by the readers (file reading, box clipping, class mapping, splits)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from .classes import DET_INDEX, IGNORE_REGION
from .errors import DatasetFormatError


def read_image_bgr(path: str | Path) -> np.ndarray:
    """Read an image as ``uint8[H, W, 3]`` BGR. FileNotFoundError if absent, DatasetFormatError if undecodable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetFormatError("cannot decode image", path)
    return img


def read_label_png(path: str | Path, expected_hw: tuple[int, int] | None = None, dtype=np.uint8) -> np.ndarray:
    """Read a single-channel label image unchanged (no colour conversion, no rescaling of values).

    Raises DatasetFormatError when the file is not a single-channel image of ``dtype`` or its size differs
    from ``expected_hw`` (the size of the image it annotates).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label image not found: {path}")
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise DatasetFormatError("cannot decode label image", path)
    if m.ndim != 2:
        raise DatasetFormatError(f"label image must have one channel, got shape {m.shape}", path)
    if m.dtype != dtype:
        raise DatasetFormatError(f"label image must be {np.dtype(dtype).name}, got {m.dtype}", path)
    if expected_hw is not None and m.shape != tuple(expected_hw):
        raise DatasetFormatError(
            f"label image is {m.shape[1]}x{m.shape[0]} but its image is {expected_hw[1]}x{expected_hw[0]}", path
        )
    return m


def decode_text(data: bytes | str, path: str | Path) -> str:
    """Bytes -> str (UTF-8, BOM tolerated); DatasetFormatError naming the line of a bad byte."""
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DatasetFormatError(f"not UTF-8 text (byte {e.start})", path, line) from None


def clip_boxes_xyxy(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip ``float[N, 4]`` xyxy boxes to the image ``[0, W] x [0, H]`` (returns float32)."""
    out = np.asarray(boxes, np.float32).reshape(-1, 4).copy()
    np.clip(out[:, 0::2], 0, width, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, height, out=out[:, 1::2])
    return out


def nonempty_box_mask(boxes: np.ndarray, min_size_px: float = 0.0) -> np.ndarray:
    """``bool[N]``: boxes whose width and height are both > ``min_size_px``."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    return ((boxes[:, 2] - boxes[:, 0]) > min_size_px) & ((boxes[:, 3] - boxes[:, 1]) > min_size_px)


@dataclass
class MappedBoxes:
    """Result of mapping a dataset's named boxes into our classes (see ``map_named_boxes``)."""

    boxes_xyxy: np.ndarray  # float32[N, 4], clipped to the image, non-degenerate
    labels: np.ndarray  # int64[N], indices into DET_CLASSES
    ignore_boxes_xyxy: np.ndarray  # float32[M, 4]
    kept: np.ndarray  # int64[N]: row of each kept box in the input
    num_dropped_class: int  # objects of a class mapped to None (or unknown, non-strict)
    num_dropped_degenerate: int  # zero-area after clipping
    unknown_names: list[str]  # class names not in the map (non-strict mode)


def map_named_boxes(
    names: Sequence[str],
    boxes_xyxy: np.ndarray,
    class_map: dict[str, str | None],
    width: int,
    height: int,
    *,
    strict: bool,
    path: str | Path,
    lines: Sequence[int | None] | None = None,
    case_insensitive: bool = True,
) -> MappedBoxes:
    """Map dataset class names to DET_CLASSES indices, clip boxes to the image, split off ignore regions.

    Mapping targets: a DET_CLASSES name, ``IGNORE_REGION`` (box goes to the ignore list), or ``None``
    (dropped). A name missing from ``class_map`` raises DatasetFormatError (naming ``path`` and the line
    from ``lines``) when ``strict``; otherwise it is dropped and reported in ``unknown_names``.
    Boxes with zero width or height after clipping are dropped (e.g. projected boxes fully outside view).
    """
    lookup = {(k.lower() if case_insensitive else k): v for k, v in class_map.items()}
    boxes = clip_boxes_xyxy(boxes_xyxy, width, height)
    ok = nonempty_box_mask(boxes)
    labels: list[int] = []
    kept: list[int] = []
    ignore: list[int] = []
    unknown: list[str] = []
    dropped_class = 0
    dropped_degenerate = 0
    for i, name in enumerate(names):
        key = name.lower() if case_insensitive else name
        if key not in lookup:
            if strict:
                line = lines[i] if lines is not None else None
                raise DatasetFormatError(
                    f"unknown class {name!r} (known: {sorted(class_map)}; pass strict=False to drop unknown "
                    f"classes)", path, line
                )
            unknown.append(name)
            dropped_class += 1
            continue
        target = lookup[key]
        if target is None:
            dropped_class += 1
            continue
        if not ok[i]:
            dropped_degenerate += 1
            continue
        if target == IGNORE_REGION:
            ignore.append(i)
        else:
            labels.append(DET_INDEX[target])
            kept.append(i)
    kept_arr = np.asarray(kept, np.int64)
    return MappedBoxes(
        boxes_xyxy=boxes[kept_arr].reshape(-1, 4),
        labels=np.asarray(labels, np.int64),
        ignore_boxes_xyxy=boxes[np.asarray(ignore, np.int64)].reshape(-1, 4),
        kept=kept_arr,
        num_dropped_class=dropped_class,
        num_dropped_degenerate=dropped_degenerate,
        unknown_names=sorted(set(unknown)),
    )


def split_ids(ids: Iterable[str], val_fraction: float = 0.2, seed: int = 0) -> tuple[list[str], list[str]]:
    """Deterministic train/val split of frame ids: ``(train_ids, val_ids)``, both sorted.

    The ids are sorted first, so the result does not depend on the order they are given in; then a
    permutation from ``numpy.random.default_rng(seed)`` picks ``round(len(ids) * val_fraction)`` of them for
    validation. Same ids + same seed -> same split on every machine.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    unique = sorted(set(ids))
    n_val = int(round(len(unique) * val_fraction))
    order = np.random.default_rng(seed).permutation(len(unique))
    val_idx = set(order[:n_val].tolist())
    train = [x for i, x in enumerate(unique) if i not in val_idx]
    val = [x for i, x in enumerate(unique) if i in val_idx]
    return train, val


def warn_missing(kind: str, where: str | Path, missing: Sequence[str]) -> None:
    """One warning listing every listed-but-absent item (instead of one per item)."""
    if missing:
        shown = ", ".join(missing[:10]) + (f", ... ({len(missing)} in all)" if len(missing) > 10 else "")
        warnings.warn(f"{where}: {len(missing)} {kind} listed but missing, skipped: {shown}", stacklevel=3)


def check_index(i: int, n: int) -> int:
    """Normalise a possibly negative index; IndexError when out of range (so ``for s in ds`` works)."""
    if not isinstance(i, (int, np.integer)):
        raise TypeError(f"index must be an int, got {type(i).__name__}")
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise IndexError(f"index {i} out of range for {n} samples")
    return int(i)
