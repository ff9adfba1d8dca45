"""Mosaic: four training crops shrunk to half size and tiled 2x2 into one crop of the same size.

Every object appears at half its usual size (more small, far objects per step) next to content from three other
frames. The four tiles must carry the same kinds of labels (``label_kinds``): a tile without boxes beside tiles
with boxes would teach the detector that its objects are background. Lanes never enter a mosaic (a lane line
cut into a quarter loses the slots of the row-anchor head).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from datasets import Sample


def label_kinds(sample: Sample) -> tuple[bool, bool, bool]:
    """(has boxes, has a mask, has lanes): samples with equal kinds may share a mosaic."""
    return sample.boxes_xyxy is not None, sample.seg_mask is not None, sample.lanes is not None


def mosaic_2x2(tiles: Sequence[Sample], min_box_size_px: float = 2.0) -> Sample:
    """Tile four (H, W) samples, each resized to (H/2, W/2), into one (H, W) sample: top-left, top-right,
    bottom-left, bottom-right. Boxes thinner than ``min_box_size_px`` after shrinking become ignore regions."""
    if len(tiles) != 4 or len({(t.height, t.width) for t in tiles}) != 1 or len({label_kinds(t) for t in tiles}) != 1:
        raise ValueError("a mosaic needs four tiles of one size with the same kinds of labels")
    if tiles[0].lanes is not None:
        raise ValueError("lanes do not go into a mosaic")
    h, w = tiles[0].height, tiles[0].width
    hh, hw = h // 2, w // 2
    image = np.empty((hh * 2, hw * 2, 3), np.uint8)
    has_boxes, has_mask = tiles[0].boxes_xyxy is not None, tiles[0].seg_mask is not None
    mask = np.empty((hh * 2, hw * 2), np.uint8) if has_mask else None
    boxes, labels, ignore = [], [], []
    for k, t in enumerate(tiles):
        oy, ox = (k // 2) * hh, (k % 2) * hw
        image[oy:oy + hh, ox:ox + hw] = cv2.resize(t.image_bgr, (hw, hh), interpolation=cv2.INTER_AREA)
        if mask is not None:
            mask[oy:oy + hh, ox:ox + hw] = cv2.resize(t.seg_mask, (hw, hh), interpolation=cv2.INTER_NEAREST)
        if has_boxes:
            scale = np.array([hw / w, hh / h, hw / w, hh / h], np.float32)
            shift = np.array([ox, oy, ox, oy], np.float32)
            b = t.boxes_xyxy * scale + shift
            small = ((b[:, 2] - b[:, 0]) < min_box_size_px) | ((b[:, 3] - b[:, 1]) < min_box_size_px)
            boxes.append(b[~small])
            labels.append(t.labels[~small])
            ignore.append(b[small])
            if t.ignore_boxes_xyxy is not None:
                ignore.append(t.ignore_boxes_xyxy * scale + shift)
    if not has_boxes:
        return Sample(image_bgr=image, seg_mask=mask, source=tiles[0].source)
    return Sample(image_bgr=image, boxes_xyxy=np.concatenate(boxes).astype(np.float32),
                  labels=np.concatenate(labels).astype(np.int64),
                  ignore_boxes_xyxy=np.concatenate(ignore).astype(np.float32).reshape(-1, 4),
                  seg_mask=mask, source=tiles[0].source)
