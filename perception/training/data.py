"""Training batches: readers -> letterboxed samples (cached in memory) -> copy-paste -> augmentation -> random crop
(-> 2x2 mosaic of four crops, optional) -> targets.

Every sample keeps only the labels its dataset has: ``has_det``, ``has_seg``, ``has_lane`` tell the loss
which tasks it may supervise (CamVid: semantic only; Apollo: boxes only; TuSimple: lanes only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from datasets import Sample, open_dataset
from datasets.transforms import Augment, AugmentConfig, letterbox
from perception.errors import UserInputError
from perception.model.heads import DetectionHead
from perception.model.outputs import RowAnchorLayout
from perception.training.losses import COARSE_LABEL_OFFSET
from perception.training.mosaic import label_kinds, mosaic_2x2
from perception.training.targets import fcos_targets, lane_row_targets

MIN_VISIBLE_FRACTION = 0.3  # a box cut by the crop keeping less of its area becomes an ignore region


def parse_data_spec(spec: str) -> tuple[str, str]:
    """'KIND:PATH' -> (kind, path)."""
    kind, sep, path = spec.partition(":")
    if not sep or not path:
        raise UserInputError(f"data source {spec!r} must look like KIND:PATH, e.g. camvid:../shared/data/camvid")
    return kind, path


def with_coarse_labels(sample: Sample) -> Sample:
    """A sample whose ``meta["coarse_mask"]`` (e.g. IDD-Lite) becomes its training ``seg_mask``.

    Coarse index k is stored as ``COARSE_LABEL_OFFSET + k`` (255 stays ignore), so letterbox, augmentation and
    crops move it like any mask and the loss scores it through ``LossWeights.coarse_groups``. Such masks
    exist only inside training; a sample that already has a fine mask is returned unchanged.
    """
    coarse = sample.meta.get("coarse_mask")
    if coarse is None or sample.seg_mask is not None:
        return sample
    mask = np.where(coarse == 255, 255, coarse.astype(np.int32) + COARSE_LABEL_OFFSET).astype(np.uint8)
    meta = {k: v for k, v in sample.meta.items() if k != "coarse_mask"}
    return sample.replace(seg_mask=mask, meta=meta)


def load_letterboxed(spec: str, split: str, input_size_wh: tuple[int, int]) -> list[Sample]:
    """Read every sample of one dataset split and letterbox it to the network size (kept in memory).

    Coarse masks (IDD-Lite) become training masks first (``with_coarse_labels``).
    """
    kind, path = parse_data_spec(spec)
    try:
        reader = open_dataset(kind, path, split)
    except (ValueError, FileNotFoundError, OSError) as e:
        raise UserInputError(f"cannot open {spec} split {split!r}: {e}") from None
    return [letterbox(with_coarse_labels(reader[i]), input_size_wh)[0] for i in range(len(reader))]


def _crop(sample: Sample, x0: int, y0: int, cw: int, ch: int) -> Sample:
    """Cut a (cw, ch) window at (x0, y0) out of a sample, moving boxes, masks and lanes with it."""
    img = sample.image_bgr[y0:y0 + ch, x0:x0 + cw]
    seg = None if sample.seg_mask is None else sample.seg_mask[y0:y0 + ch, x0:x0 + cw]
    boxes, labels, ignore = sample.boxes_xyxy, sample.labels, sample.ignore_boxes_xyxy
    if boxes is not None:
        shifted = boxes - np.array([x0, y0, x0, y0], np.float32)
        clipped = shifted.copy()
        clipped[:, 0::2] = clipped[:, 0::2].clip(0, cw)
        clipped[:, 1::2] = clipped[:, 1::2].clip(0, ch)
        area = lambda b: (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)  # noqa: E731
        visible = area(clipped) / np.maximum(area(shifted), 1e-6)
        big = ((clipped[:, 2] - clipped[:, 0]) >= 2) & ((clipped[:, 3] - clipped[:, 1]) >= 2)
        keep = big & (visible >= MIN_VISIBLE_FRACTION)
        to_ignore = big & ~keep
        extra_ignore = clipped[to_ignore]
        boxes, labels = clipped[keep], labels[keep]
        ign = np.zeros((0, 4), np.float32) if ignore is None else ignore - np.array([x0, y0, x0, y0], np.float32)
        ign = np.concatenate([ign, extra_ignore]).astype(np.float32)
        ign[:, 0::2], ign[:, 1::2] = ign[:, 0::2].clip(0, cw), ign[:, 1::2].clip(0, ch)
        ignore = ign[((ign[:, 2] - ign[:, 0]) > 1) & ((ign[:, 3] - ign[:, 1]) > 1)]
    lanes = sides = None
    if sample.lanes is not None:
        lanes, sides = [], []
        for k, lane in enumerate(sample.lanes):
            p = lane - np.array([x0, y0], np.float32)
            p = p[(p[:, 0] >= 0) & (p[:, 0] < cw) & (p[:, 1] >= 0) & (p[:, 1] < ch)]
            if len(p) >= 2:
                lanes.append(p)
                sides.append(sample.lane_sides[k] if sample.lane_sides is not None else None)
        if sample.lane_sides is None:
            sides = None
    return Sample(image_bgr=img, boxes_xyxy=boxes, labels=labels, ignore_boxes_xyxy=ignore, seg_mask=seg,
                  lanes=lanes, lane_sides=sides, source=sample.source, meta=sample.meta)


def lane_mask(lanes: list[np.ndarray], size_wh: tuple[int, int], downsample: int = 4) -> np.ndarray:
    """Rasterise lane polylines (pixel-centre points) onto the stride-``downsample`` grid: (h, w) float32 0/1."""
    w, h = size_wh[0] // downsample, size_wh[1] // downsample
    mask = np.zeros((h, w), np.uint8)
    for lane in lanes:
        pts = ((lane + 0.5) / downsample - 0.5)
        cv2.polylines(mask, [np.round(pts).astype(np.int32).reshape(-1, 1, 2)], False, 1, thickness=1)
    return mask.astype(np.float32)


@dataclass
class TrainSet(torch.utils.data.Dataset):
    """Augmented random crops of in-memory letterboxed samples; ``__getitem__`` returns one training item."""

    samples: list[Sample]
    crop_wh: tuple[int, int]
    augment: AugmentConfig
    seed: int = 0
    epoch: int = 0
    paste: Callable[[Sample, np.random.Generator], Sample] | None = None  # e.g. copy_paste.CopyPaste
    mosaic_p: float = 0.0  # probability that an item without lanes is a 2x2 mosaic (perception/training/mosaic.py)

    def __post_init__(self) -> None:
        self._augment = Augment(self.augment)
        self._partners: dict[tuple[bool, bool, bool], list[int]] = {}
        if self.mosaic_p > 0:
            for k, s in enumerate(self.samples):
                self._partners.setdefault(label_kinds(s), []).append(k)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Sample:
        """Item ``i`` is frame ``i % len(self)``; larger indices are further copies with their own augmentation."""
        rng = np.random.default_rng((self.seed, self.epoch, i))
        frame = self.samples[i % len(self.samples)]
        if self.mosaic_p > 0 and frame.lanes is None and rng.random() < self.mosaic_p:
            group = self._partners[label_kinds(frame)]
            tiles = [frame] + [self.samples[group[j]] for j in rng.integers(len(group), size=3)]
            return mosaic_2x2([self._crop_of(t, rng) for t in tiles], self.augment.min_box_size_px)
        return self._crop_of(frame, rng)

    def _crop_of(self, frame: Sample, rng: np.random.Generator) -> Sample:
        """Copy-paste (if set), augmentation and a random ``crop_wh`` window of one frame."""
        s = frame if self.paste is None else self.paste(frame, rng)
        s = self._augment(s, seed=int(rng.integers(2**31)))
        cw, ch = self.crop_wh
        x0 = int(rng.integers(0, s.width - cw + 1))
        y0 = int(rng.integers(0, s.height - ch + 1))
        return _crop(s, x0, y0, cw, ch)


class Collate:
    """Stack samples into a batch dict with FCOS targets, masks and per-task label flags.

    With ``row_layout`` (a network with the row-anchor lane head) the batch also holds ``lane_row_cls`` (B, S, R)
    and ``lane_row_cell`` (B, S, R) from ``lane_row_targets``, and ``has_lane_rows`` (B,) (lanes with sides). Row
    anchors are defined on the full network input, so the samples must have its size (``crop_wh`` = input size).
    """

    def __init__(self, det_head: DetectionHead, downsample: int = 4, row_layout: RowAnchorLayout | None = None):
        self.det_head = det_head
        self.downsample = downsample
        self.row_layout = row_layout
        self._locations: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, samples: list[Sample]) -> dict[str, torch.Tensor]:
        h, w = samples[0].height, samples[0].width
        if (h, w) not in self._locations:
            self._locations[(h, w)] = self.det_head.locations((h, w))
        points, strides = self._locations[(h, w)]
        layout = self.row_layout
        if layout is not None and (w, h) != tuple(layout.input_size_wh):
            raise ValueError(f"row-anchor targets need full {layout.input_size_wh[0]}x{layout.input_size_wh[1]} "
                             f"frames, got {w}x{h} crops (set crop_wh to the input size)")
        images, cls_t, box_t, ctr_t, seg, lanes, row_cls, row_cell, has_rows = [], [], [], [], [], [], [], [], []
        has_det, has_seg, has_lane = [], [], []
        for s in samples:
            rgb = cv2.cvtColor(s.image_bgr, cv2.COLOR_BGR2RGB)
            images.append(torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))))
            has_det.append(s.boxes_xyxy is not None)
            boxes = torch.from_numpy(s.boxes_xyxy if s.boxes_xyxy is not None else np.zeros((0, 4), np.float32))
            labels = torch.from_numpy(s.labels if s.labels is not None else np.zeros((0,), np.int64))
            ign = torch.from_numpy(s.ignore_boxes_xyxy if s.ignore_boxes_xyxy is not None
                                   else np.zeros((0, 4), np.float32))
            c, b, t = fcos_targets(points, strides, boxes.float(), labels.long(), ign.float())
            cls_t.append(c)
            box_t.append(b)
            ctr_t.append(t)
            has_seg.append(s.seg_mask is not None)
            seg.append(torch.from_numpy(s.seg_mask.astype(np.int64)) if s.seg_mask is not None
                       else torch.full((h, w), 255, dtype=torch.long))
            has_lane.append(s.lanes is not None)
            lanes.append(torch.from_numpy(lane_mask(s.lanes or [], (w, h), self.downsample))[None])
            if layout is not None:
                rc, rx = lane_row_targets(s.lanes or [], s.lane_sides, layout, w)
                row_cls.append(rc)
                row_cell.append(rx)
                has_rows.append(s.lanes is not None and s.lane_sides is not None)  # slots need sides
        batch = {"images": torch.stack(images), "cls_target": torch.stack(cls_t), "box_target": torch.stack(box_t),
                "ctr_target": torch.stack(ctr_t), "seg_mask": torch.stack(seg), "lane_mask": torch.stack(lanes),
                "has_det": torch.tensor(has_det), "has_seg": torch.tensor(has_seg), "has_lane": torch.tensor(has_lane)}
        if layout is not None:
            batch["lane_row_cls"], batch["lane_row_cell"] = torch.stack(row_cls), torch.stack(row_cell)
            batch["has_lane_rows"] = torch.tensor(has_rows)
        return batch
