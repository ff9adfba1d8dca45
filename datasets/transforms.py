"""Training augmentation and letterboxing that keep image, boxes, segmentation mask and lanes consistent.

How the targets travel through albumentations:

* the image (converted BGR -> RGB for the colour transforms, and back) and ``seg_mask`` (nearest-neighbour,
  border filled with 255 = ignore) as image and mask;
* every box (detections and ignore regions) as its 4 corners, and every lane point, as keypoints that are
  never dropped by albumentations. A box comes back as the enclosing box of its moved corners, clipped to
  the image; a detection box that keeps less than ``min_box_visibility`` of its area becomes an ignore
  region (a sliver of a car is neither a good positive nor background); lane points outside the image are
  dropped and lanes are regrouped (lanes left with < 2 points are dropped, with their side label);
* a horizontal flip swaps lane side labels (ego_left <-> ego_right, left_left <-> right_right).

Geometric: random scale/translation (= random zoom-in crop / zoom-out with padding, output keeps the
input size), optional small rotation and perspective, horizontal flip. Photometric: brightness/contrast,
hue/saturation/value, Gaussian blur, Gaussian noise, and night simulation (``datasets.night``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from perception.preprocess.letterbox import PAD_VALUE, LetterboxParams

from .classes import LANE_SIDE_AFTER_HFLIP, SEG_IGNORE_INDEX
from .lanes import inside_image, order_bottom_to_top
from .night import simulate_night
from .sample import Sample


@dataclass(frozen=True)
class AugmentConfig:
    """Parameters of ``Augment``; every probability is per sample."""

    hflip_p: float = 0.5  # horizontal flip (also swaps lane side labels)
    geometric_p: float = 0.8  # probability of the scale/translate/rotate affine
    scale_range: tuple[float, float] = (0.75, 1.35)  # zoom factor; > 1 crops in, < 1 shrinks with padding
    translate_frac: float = 0.1  # max shift, fraction of image width/height
    rotate_deg: float = 0.0  # max |rotation| in degrees (0 = off; road scenes rarely roll much)
    perspective_p: float = 0.0  # probability of a random perspective warp (0 = off)
    perspective_scale: float = 0.05  # max corner jitter of that warp, fraction of the image size
    color_p: float = 0.5  # brightness/contrast and hue/saturation/value (each)
    brightness_limit: float = 0.25  # +- fraction of the max value
    contrast_limit: float = 0.25  # +- fraction
    hue_shift_deg: int = 8  # +- hue shift, OpenCV hue units (0..180)
    sat_shift: int = 25  # +- saturation shift (0..255)
    val_shift: int = 15  # +- value shift (0..255)
    blur_p: float = 0.1  # Gaussian blur, kernel 3 or 5
    noise_p: float = 0.1  # Gaussian noise
    noise_std_range: tuple[float, float] = (0.01, 0.04)  # noise std, fraction of 255
    night_p: float = 0.0  # the frame made to look like night (datasets.night.simulate_night), after the rest
    min_box_visibility: float = 0.3  # detection boxes keeping less of their area become ignore regions
    min_box_size_px: float = 2.0  # boxes thinner than this after the transform are dropped
    fill_value: int = 114  # image border fill (mask borders are filled with 255 = ignore)


class Augment:
    """Random training augmentation of a ``Sample`` (see module docstring).

    ``Augment(config, seed=0)`` gives the same sequence of random draws on every run;
    ``augment(sample, seed=k)`` reseeds first, so a sample's augmentation can be reproduced on its own
    (e.g. seed from epoch and index in a DataLoader worker).
    """

    def __init__(self, config: AugmentConfig = AugmentConfig(), seed: int | None = None):
        import albumentations as A

        c = config
        self.config = config
        geometric = [
            A.Affine(scale=c.scale_range, keep_ratio=True, translate_percent=(-c.translate_frac, c.translate_frac),
                     rotate=(-c.rotate_deg, c.rotate_deg), border_mode=cv2.BORDER_CONSTANT, fill=c.fill_value,
                     fill_mask=SEG_IGNORE_INDEX, p=c.geometric_p),
        ]
        if c.perspective_p > 0:
            geometric.append(A.Perspective(scale=(0.0, c.perspective_scale), keep_size=True,
                                           border_mode=cv2.BORDER_CONSTANT, fill=c.fill_value,
                                           fill_mask=SEG_IGNORE_INDEX, p=c.perspective_p))
        geometric.append(A.HorizontalFlip(p=c.hflip_p))
        photometric = [
            A.RandomBrightnessContrast(brightness_limit=c.brightness_limit, contrast_limit=c.contrast_limit,
                                       p=c.color_p),
            A.HueSaturationValue(hue_shift_limit=c.hue_shift_deg, sat_shift_limit=c.sat_shift,
                                 val_shift_limit=c.val_shift, p=c.color_p),
            A.GaussianBlur(blur_limit=(3, 5), p=c.blur_p),
            A.GaussNoise(std_range=c.noise_std_range, p=c.noise_p),
        ]
        self._compose = A.Compose(
            geometric + photometric,
            keypoint_params=A.KeypointParams(format="xy", remove_invisible=False),
            seed=seed,
            save_applied_params=True,
        )
        self._rng = np.random.default_rng(seed)

    def __call__(self, sample: Sample, seed: int | None = None) -> Sample:
        if seed is not None:
            self._compose.set_random_seed(seed)
            self._rng = np.random.default_rng(seed)
        c = self.config
        pos = sample.boxes_xyxy if sample.boxes_xyxy is not None else np.zeros((0, 4), np.float32)
        ign = sample.ignore_boxes_xyxy if sample.ignore_boxes_xyxy is not None else np.zeros((0, 4), np.float32)
        all_boxes = np.concatenate([pos, ign]).astype(np.float64)  # (B, 4)
        n_pos, n_box = len(pos), len(pos) + len(ign)
        # box corners (edge coordinates) -> pixel-centre keypoints: (B, 4, 2) -> (4B, 2)
        corners = all_boxes[:, [[0, 1], [2, 1], [2, 3], [0, 3]]].reshape(-1, 2) - 0.5
        lanes = sample.lanes or []
        lane_pts = np.concatenate(lanes).astype(np.float64) if lanes else np.zeros((0, 2))
        keypoints = np.concatenate([corners, lane_pts]).astype(np.float32)  # (4B + P, 2)

        data = {"image": cv2.cvtColor(sample.image_bgr, cv2.COLOR_BGR2RGB), "keypoints": keypoints}
        if sample.seg_mask is not None:
            data["mask"] = sample.seg_mask
        out = self._compose(**data)
        img = cv2.cvtColor(np.ascontiguousarray(out["image"]), cv2.COLOR_RGB2BGR)
        h, w = img.shape[:2]
        kp = np.asarray(out["keypoints"], np.float64).reshape(-1, 2)
        assert len(kp) == len(keypoints), "albumentations dropped keypoints"
        flipped = any(name == "HorizontalFlip" for name, _ in out["applied_transforms"])
        night = c.night_p > 0 and self._rng.random() < c.night_p
        if night:
            img = simulate_night(img, self._rng)

        # boxes: enclosing box of moved corners, clipped; visibility = clipped area / unclipped area
        moved = kp[: 4 * n_box].reshape(n_box, 4, 2) + 0.5  # (B, 4, 2) edge coordinates
        full = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)  # (B, 4) xyxy
        clipped = full.copy()
        np.clip(clipped[:, 0::2], 0, w, out=clipped[:, 0::2])
        np.clip(clipped[:, 1::2], 0, h, out=clipped[:, 1::2])
        cw, ch = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
        area_full = np.maximum((full[:, 2] - full[:, 0]) * (full[:, 3] - full[:, 1]), 1e-9)
        visibility = cw * ch / area_full
        big_enough = (cw >= c.min_box_size_px) & (ch >= c.min_box_size_px)
        is_pos = np.arange(n_box) < n_pos
        keep_pos = is_pos & big_enough & (visibility >= c.min_box_visibility)
        to_ignore = (~is_pos | (visibility < c.min_box_visibility)) & big_enough
        kept_idx = np.nonzero(keep_pos)[0]

        new_meta = dict(sample.meta)
        new_meta["augment"] = {"hflip": flipped, "night": night}
        boxes = labels = ignore = None
        if sample.boxes_xyxy is not None:
            boxes = clipped[keep_pos].astype(np.float32).reshape(-1, 4)
            labels = sample.labels[kept_idx].astype(np.int64)
            attrs = sample.meta.get("box_attrs")
            if attrs is not None:
                new_meta["box_attrs"] = {k: np.asarray(v)[kept_idx] for k, v in attrs.items()}
        if sample.boxes_xyxy is not None or sample.ignore_boxes_xyxy is not None:
            ignore = clipped[to_ignore].astype(np.float32).reshape(-1, 4)

        new_lanes = sides = None
        if sample.lanes is not None:
            new_lanes, sides = [], []
            start = 4 * n_box
            for k, lane in enumerate(lanes):
                pts = kp[start: start + len(lane)]
                start += len(lane)
                pts = pts[inside_image(pts, w, h)]
                if len(pts) < 2:
                    continue
                new_lanes.append(order_bottom_to_top(pts))
                if sample.lane_sides is not None:
                    side = sample.lane_sides[k]
                    sides.append(LANE_SIDE_AFTER_HFLIP.get(side, side) if flipped and side else side)
            if sample.lane_sides is None:
                sides = None

        return Sample(image_bgr=img, boxes_xyxy=boxes, labels=labels, ignore_boxes_xyxy=ignore,
                      seg_mask=None if sample.seg_mask is None else np.ascontiguousarray(out["mask"], np.uint8),
                      lanes=new_lanes, lane_sides=sides, source=sample.source, meta=new_meta)


def letterbox(sample: Sample, input_size_wh: tuple[int, int] = (640, 384),
              pad_value: int = PAD_VALUE) -> tuple[Sample, LetterboxParams]:
    """Resize ``sample`` into ``input_size_wh`` (W, H) keeping its aspect ratio, pad with ``pad_value`` (mask: 255).

    The same resize as at inference (``perception.preprocess.letterbox``). Returns the new sample and the
    ``LetterboxParams`` that map coordinates both ways.
    """
    lb = LetterboxParams.fit((sample.width, sample.height), input_size_wh)
    nw, nh = lb.dst_size_wh
    img = lb.apply(sample.image_bgr, pad_value)
    mask = None
    if sample.seg_mask is not None:
        mask = lb.apply(sample.seg_mask, SEG_IGNORE_INDEX, cv2.INTER_NEAREST)
    boxes = None if sample.boxes_xyxy is None else lb.boxes_net_from_src(sample.boxes_xyxy)
    ignore = None if sample.ignore_boxes_xyxy is None else lb.boxes_net_from_src(sample.ignore_boxes_xyxy)
    lanes = None
    if sample.lanes is not None:
        lanes = []
        for lane in sample.lanes:
            p = lb.net_from_src(lane).astype(np.float32)
            # pixel-centre 0 of a downscaled image lands at -0.5 * (1 - scale): keep it on the first pixel
            p[:, 0] = np.clip(p[:, 0], 0, nw - 1)
            p[:, 1] = np.clip(p[:, 1], 0, nh - 1)
            lanes.append(p)
    meta = dict(sample.meta)
    meta["letterbox"] = lb
    out = sample.replace(image_bgr=img, boxes_xyxy=boxes, ignore_boxes_xyxy=ignore, seg_mask=mask, lanes=lanes,
                         lane_sides=None if sample.lane_sides is None else list(sample.lane_sides), meta=meta)
    return out, lb


__all__ = ["Augment", "AugmentConfig", "letterbox"]
