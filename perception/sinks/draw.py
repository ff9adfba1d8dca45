"""Draw a FrameResult on the original frame: drivable area, lanes, boxes, and a HUD."""

from __future__ import annotations

import cv2
import numpy as np

from perception.results import FrameResult

# BGR colours
CLASS_COLOURS = [(0, 200, 255), (0, 140, 255), (0, 80, 255), (255, 80, 80), (255, 160, 0), (200, 0, 200),
                 (0, 255, 255), (120, 255, 120), (255, 255, 0), (160, 160, 255)]
LANE_COLOURS = {"ego_left": (0, 255, 255), "ego_right": (0, 255, 255), "left_left": (255, 200, 0),
                "right_right": (255, 200, 0), "other": (180, 180, 180)}
ROAD_TINT_BGR = np.array([60, 200, 60], dtype=np.float32)
ROAD_ALPHA = 0.35
FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_result(image_bgr: np.ndarray, result: FrameResult, *, road_class: int | None,
                hud_lines: list[str], warning: str | None = None, mask_cell_px: float = 0.0) -> np.ndarray:
    """Return a copy of ``image_bgr`` with the result drawn on it (the input is not modified).

    ``mask_cell_px``: the width, in image pixels, of one cell of the mask ``result.seg_labels`` was scaled up from
    (0: not known). The road tint's edges are smoothed over about that width so they do not show its blocks."""
    out = image_bgr.copy()
    if road_class is not None and result.seg_labels is not None:
        road = (result.seg_labels == road_class).view(np.uint8)
        if road.any():
            if mask_cell_px >= 2:  # a box blur one cell wide, thresholded at half: the cells' staircase becomes
                k = int(round(mask_cell_px)) | 1  # a smooth edge (about 1 ms at 720p)
                road = (cv2.blur(road * 255, (k, k)) > 127).view(np.uint8)
            blended = cv2.addWeighted(out, 1 - ROAD_ALPHA, _tint_image(out.shape), ROAD_ALPHA, 0.0)
            cv2.copyTo(blended, road, out)
    for lane in result.lanes:
        pts = np.round(lane.points_xy).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], False, LANE_COLOURS.get(lane.side, (180, 180, 180)), 3, cv2.LINE_AA)
    scale = max(0.4, min(1.0, image_bgr.shape[0] / 900))
    for det in result.detections:
        colour = CLASS_COLOURS[det.class_id % len(CLASS_COLOURS)]
        x1, y1, x2, y2 = (int(round(v)) for v in det.box_xyxy)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        text = f"{det.label} {det.score:.2f}"
        if det.track_id is not None:
            text = f"#{det.track_id} " + text
        if det.distance_m is not None:
            text += f" {det.distance_m:.1f}m"
        (tw, th), base = cv2.getTextSize(text, FONT, 0.5 * scale, 1)
        ty = max(y1, th + base + 2)
        cv2.rectangle(out, (x1, ty - th - base - 2), (x1 + tw + 2, ty), colour, -1)
        cv2.putText(out, text, (x1 + 1, ty - base), FONT, 0.5 * scale, (0, 0, 0), 1, cv2.LINE_AA)
    _draw_hud(out, hud_lines, warning, scale)
    return out


_TINTS: dict[tuple[int, ...], np.ndarray] = {}  # one road-tint picture per frame shape (filling one costs ~6 ms at 720p)


def _tint_image(shape: tuple[int, ...]) -> np.ndarray:
    """A (H, W, 3) uint8 picture of the road tint colour, made once per shape (read-only; never drawn on)."""
    tint = _TINTS.get(shape)
    if tint is None:
        tint = np.empty(shape, np.uint8)
        tint[:] = ROAD_TINT_BGR.astype(np.uint8)
        tint.flags.writeable = False
        _TINTS.clear()  # a stream has one frame size; stills of many sizes keep only the last
        _TINTS[shape] = tint
    return tint


def _draw_hud(img: np.ndarray, lines: list[str], warning: str | None, scale: float) -> None:
    fs = 0.55 * scale
    line_h = int(24 * scale) + 2
    rows = lines + ([warning] if warning else [])
    width = max((cv2.getTextSize(t, FONT, fs, 1)[0][0] for t in rows), default=0) + 12
    height = line_h * len(rows) + 8
    roi = img[0:height, 0:width]
    roi[:] = (roi * 0.4).astype(np.uint8)
    for i, text in enumerate(rows):
        colour = (60, 60, 255) if (warning and text == warning) else (255, 255, 255)
        cv2.putText(img, text, (6, line_h * (i + 1)), FONT, fs, colour, 1, cv2.LINE_AA)
