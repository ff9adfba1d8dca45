"""Letterbox resize (and optional undistortion) from camera pixels to network pixels, and back.

Coordinates follow OpenCV: the centre of pixel ``i`` is at coordinate ``i``. A point ``(x, y)`` in
the original (undistorted) image maps to the network input as

    x_net = (x + 0.5) * sx - 0.5 + pad_left_px
    y_net = (y + 0.5) * sy - 0.5 + pad_top_px

which is exactly the sampling ``cv2.resize`` uses, so the inverse below is exact. With a camera
model, undistortion and this resize are fused into one ``cv2.remap`` whose maps are computed once
per input size; boxes and points map back to *raw* (distorted) camera pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # grey border, the common choice for letterboxed detectors
# One interpolation for training and inference, so the network sees in use the pixels it was trained on.
# Bilinear: INTER_AREA would alias less when shrinking, but costs 3-10 ms per frame at ratios that are not
# whole numbers (1920x1080, 1640x590, 1242x375 -> 640 wide, one core), a third of the real-time budget.
RESIZE_INTERPOLATION = cv2.INTER_LINEAR


@dataclass(frozen=True)
class LetterboxParams:
    """How an image of ``src_size_wh`` sits inside the network input of ``dst_size_wh``.

    sx, sy: scale from source to network pixels per axis (equal up to rounding of the resized size).
    pad_left_px, pad_top_px: offset of the resized image inside the network input.
    resized_wh: size of the resized image (without padding), in network pixels.
    """

    src_size_wh: tuple[int, int]
    dst_size_wh: tuple[int, int]
    sx: float
    sy: float
    pad_left_px: int
    pad_top_px: int
    resized_wh: tuple[int, int]

    @classmethod
    def fit(cls, src_size_wh: tuple[int, int], dst_size_wh: tuple[int, int]) -> "LetterboxParams":
        """Largest aspect-preserving fit of the source into the destination, centred."""
        sw, sh = src_size_wh
        dw, dh = dst_size_wh
        scale = min(dw / sw, dh / sh)
        rw, rh = min(dw, max(1, round(sw * scale))), min(dh, max(1, round(sh * scale)))
        return cls(src_size_wh=(sw, sh), dst_size_wh=(dw, dh), sx=rw / sw, sy=rh / sh,
                   pad_left_px=(dw - rw) // 2, pad_top_px=(dh - rh) // 2, resized_wh=(rw, rh))

    def net_from_src(self, points_xy: np.ndarray) -> np.ndarray:
        """Map points (N, 2) from source pixels to network pixels."""
        p = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        out = np.empty_like(p)
        out[:, 0] = (p[:, 0] + 0.5) * self.sx - 0.5 + self.pad_left_px
        out[:, 1] = (p[:, 1] + 0.5) * self.sy - 0.5 + self.pad_top_px
        return out

    def boxes_net_from_src(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Map boxes (N, 4) xyxy in edge coordinates from source to network pixels: float32 (N, 4)."""
        b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4).copy()
        b[:, 0::2] = b[:, 0::2] * self.sx + self.pad_left_px
        b[:, 1::2] = b[:, 1::2] * self.sy + self.pad_top_px
        return b

    def src_from_net(self, points_xy: np.ndarray) -> np.ndarray:
        """Map points (N, 2) from network pixels back to source pixels (exact inverse)."""
        p = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        out = np.empty_like(p)
        out[:, 0] = (p[:, 0] - self.pad_left_px + 0.5) / self.sx - 0.5
        out[:, 1] = (p[:, 1] - self.pad_top_px + 0.5) / self.sy - 0.5
        return out

    def apply(self, image: np.ndarray, pad_value: int = PAD_VALUE,
              interpolation: int = RESIZE_INTERPOLATION) -> np.ndarray:
        """Resize ``image`` (H, W[, C]) of ``src_size_wh`` into the network size and pad it with ``pad_value``.

        Masks pass ``interpolation=cv2.INTER_NEAREST`` and their ignore value as ``pad_value``.
        """
        h, w = image.shape[:2]
        if (w, h) != tuple(self.src_size_wh):
            raise ValueError(f"image is {w}x{h}, these letterbox parameters are for {self.src_size_wh}")
        rw, rh = self.resized_wh
        resized = image if (rw, rh) == (w, h) else cv2.resize(image, (rw, rh), interpolation=interpolation)
        dw, dh = self.dst_size_wh
        x0, y0 = self.pad_left_px, self.pad_top_px
        value = (pad_value,) * 3 if image.ndim == 3 else pad_value
        return cv2.copyMakeBorder(resized, y0, dh - rh - y0, x0, dw - rw - x0, cv2.BORDER_CONSTANT, value=value)

    def valid_region_net(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the non-padded image inside the network input, end-exclusive."""
        x0, y0 = self.pad_left_px, self.pad_top_px
        return x0, y0, x0 + self.resized_wh[0], y0 + self.resized_wh[1]
