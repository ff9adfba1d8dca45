"""The preprocessing stage: BGR camera frame -> RGB uint8 network input, plus the inverse mapping."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from perception.preprocess.letterbox import PAD_VALUE, LetterboxParams


class Preprocessor:
    """Letterbox (and optionally undistort) frames to the network input size.

    Args:
        input_size_wh: network input (width, height) in pixels, default 640x384.
        camera: optional camera model with ``K`` (3x3), ``dist`` (OpenCV coefficients) and
            ``width_px``/``height_px``. When given, one ``cv2.remap`` does undistortion and
            resize together; its maps are computed once per input size and cached.

    ``__call__(image_bgr)`` returns ``(rgb_uint8 (H_net, W_net, 3), LetterboxParams)``.
    The network normalises internally, so no float conversion happens here.
    """

    def __init__(self, input_size_wh: tuple[int, int] = (640, 384), camera: Any | None = None):
        self.input_size_wh = (int(input_size_wh[0]), int(input_size_wh[1]))
        self.camera = camera
        self._cache_key: tuple[int, int] | None = None
        self._params: LetterboxParams | None = None
        self._maps: tuple[np.ndarray, np.ndarray] | None = None
        self._K_src: np.ndarray | None = None

    def params_for(self, src_size_wh: tuple[int, int]) -> LetterboxParams:
        if self._cache_key != src_size_wh:
            self._prepare(src_size_wh)
        assert self._params is not None
        return self._params

    def _prepare(self, src_size_wh: tuple[int, int]) -> None:
        params = LetterboxParams.fit(src_size_wh, self.input_size_wh)
        self._params, self._cache_key, self._maps = params, src_size_wh, None
        if self.camera is not None:
            cam = self.camera.scaled_to(*src_size_wh) if (
                (self.camera.width_px, self.camera.height_px) != tuple(src_size_wh)) else self.camera
            K = np.asarray(cam.K, dtype=np.float64)
            self._K_src, self._dist = K, np.asarray(cam.dist, dtype=np.float64)
            # New camera matrix: undistorted source pixels followed by the letterbox affine.
            P = np.array([[K[0, 0] * params.sx, 0.0, (K[0, 2] + 0.5) * params.sx - 0.5 + params.pad_left_px],
                          [0.0, K[1, 1] * params.sy, (K[1, 2] + 0.5) * params.sy - 0.5 + params.pad_top_px],
                          [0.0, 0.0, 1.0]])
            self._maps = cv2.initUndistortRectifyMap(K, self._dist, None, P, self.input_size_wh, cv2.CV_16SC2)

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, LetterboxParams]:
        h, w = image_bgr.shape[:2]
        params = self.params_for((w, h))
        if self._maps is not None:
            out = cv2.remap(image_bgr, self._maps[0], self._maps[1], cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3)
        else:
            out = params.apply(image_bgr)
        return cv2.cvtColor(out, cv2.COLOR_BGR2RGB), params

    # -- inverse mapping -------------------------------------------------------------------------

    def src_grid_in_net(self, params: LetterboxParams, downsample: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """For every raw source pixel, its coordinate in a network-space map ``downsample`` times smaller.

        Returns float32 maps (H_src, W_src) for ``cv2.remap``: sampling a (H_net/d, W_net/d) output
        (segmentation logits, lane mask) with them gives that output in original pixels, lens
        distortion included. Computed once per input size and cached.
        """
        key = (params.src_size_wh, downsample)
        cache = getattr(self, "_grid_cache", {})
        if key not in cache:
            w, h = params.src_size_wh
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
            pts = np.stack([xs.ravel(), ys.ravel()], axis=1)
            if self._maps is not None and self._K_src is not None and np.any(self._dist):
                pts = cv2.undistortPoints(pts.reshape(-1, 1, 2), self._K_src, self._dist,
                                          P=self._K_src).reshape(-1, 2)
            net = params.net_from_src(pts)
            small = (net + 0.5) / downsample - 0.5  # cv2.resize convention between net and small map
            cache = {key: (small[:, 0].reshape(h, w).astype(np.float32),
                           small[:, 1].reshape(h, w).astype(np.float32))}
            self._grid_cache = cache
        return cache[key]


    def undistorted_from_net(self, points_xy: np.ndarray, params: LetterboxParams) -> np.ndarray:
        """Network pixels (N, 2) -> undistorted source pixels (pinhole with the camera's K).

        Without a camera this is the plain letterbox inverse (source pixels)."""
        return params.src_from_net(points_xy)

    def src_from_net(self, points_xy: np.ndarray, params: LetterboxParams) -> np.ndarray:
        """Network pixels (N, 2) -> raw source pixels (re-applies lens distortion when a camera is set)."""
        und = params.src_from_net(points_xy)
        if self._maps is None or self._K_src is None or not np.any(self._dist):
            return und
        K = self._K_src
        norm = np.stack([(und[:, 0] - K[0, 2]) / K[0, 0], (und[:, 1] - K[1, 2]) / K[1, 1],
                         np.ones(len(und))], axis=1)
        raw, _ = cv2.projectPoints(norm.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, self._dist)
        return raw.reshape(-1, 2)

    def boxes_src_from_net(self, boxes_xyxy: np.ndarray, params: LetterboxParams) -> np.ndarray:
        """Boxes (N, 4) xyxy in network pixels -> boxes in raw source pixels, clipped to the image.

        Box corners are continuous edge coordinates; with lens distortion the box is the bounding
        box of its mapped corners and edge midpoints (edges are no longer straight lines).
        """
        b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        if len(b) == 0:
            return b.copy()
        w, h = params.src_size_wh
        if self._maps is None or self._K_src is None or not np.any(self._dist):
            # Edge coordinates scale without the half-pixel shift.
            out = np.empty_like(b)
            out[:, [0, 2]] = (b[:, [0, 2]] - params.pad_left_px) / params.sx
            out[:, [1, 3]] = (b[:, [1, 3]] - params.pad_top_px) / params.sy
        else:
            x0, y0, x1, y1 = b.T
            xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
            pts = np.stack([np.stack([x0, y0]), np.stack([x1, y0]), np.stack([x0, y1]), np.stack([x1, y1]),
                            np.stack([xm, y0]), np.stack([xm, y1]), np.stack([x0, ym]), np.stack([x1, ym])])
            # pts: (8, 2, N) -> (8*N, 2); edge coords -> centre coords (-0.5) and back (+0.5)
            flat = pts.transpose(0, 2, 1).reshape(-1, 2) - 0.5
            raw = (self.src_from_net(flat, params) + 0.5).reshape(8, -1, 2)
            out = np.stack([raw[..., 0].min(0), raw[..., 1].min(0), raw[..., 0].max(0), raw[..., 1].max(0)], 1)
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
        return out
