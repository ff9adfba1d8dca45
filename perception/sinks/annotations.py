"""A FrameResult as a ``foxglove.ImageAnnotations`` message: boxes as closed outlines with a label
text, lanes as line strips, and a one-line HUD text (frame, plan)."""

from __future__ import annotations

from typing import Any

from perception.results import FrameResult
from perception.sinks.draw import CLASS_COLOURS, LANE_COLOURS
from perception.sinks.foxglove_json import LINE_LOOP, LINE_STRIP, color, time_of

LABEL_FONT_PX = 14.0
HUD_FONT_PX = 18.0


def _rgba_from_bgr(bgr: tuple[int, int, int], a: float = 1.0) -> dict[str, float]:
    return color(bgr[2] / 255, bgr[1] / 255, bgr[0] / 255, a)


def image_annotations(result: FrameResult | None, t_ns: int, *, hud: str | None = None) -> dict[str, Any]:
    """The annotations of one frame (``result`` None: a failed frame, only the HUD text).

    Coordinates: original image pixels, (0, 0) = top-left corner of the top-left pixel.
    """
    stamp = time_of(t_ns)
    points: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    if result is not None:
        for det in result.detections:
            x1, y1, x2, y2 = (float(v) for v in det.box_xyxy)
            rgba = _rgba_from_bgr(CLASS_COLOURS[det.class_id % len(CLASS_COLOURS)])
            points.append({"timestamp": stamp, "type": LINE_LOOP, "thickness": 2.0, "outline_color": rgba,
                           "outline_colors": [], "fill_color": color(0, 0, 0, 0),
                           "points": [{"x": x1, "y": y1}, {"x": x2, "y": y1}, {"x": x2, "y": y2}, {"x": x1, "y": y2}]})
            label = f"{det.label} {det.score:.2f}"
            if det.track_id is not None:
                label = f"#{det.track_id} {label}"
            if det.distance_m is not None:
                label += f" {det.distance_m:.1f}m"
            texts.append({"timestamp": stamp, "position": {"x": x1, "y": max(0.0, y1 - 2.0)}, "text": label,
                          "font_size": LABEL_FONT_PX, "text_color": color(0, 0, 0), "background_color": rgba})
        for lane in result.lanes:
            rgba = _rgba_from_bgr(LANE_COLOURS.get(lane.side, (180, 180, 180)))
            points.append({"timestamp": stamp, "type": LINE_STRIP, "thickness": 3.0, "outline_color": rgba,
                           "outline_colors": [], "fill_color": color(0, 0, 0, 0),
                           "points": [{"x": float(x) + 0.5, "y": float(y) + 0.5} for x, y in lane.points_xy]})
    if hud:
        texts.append({"timestamp": stamp, "position": {"x": 8.0, "y": 24.0}, "text": hud, "font_size": HUD_FONT_PX,
                      "text_color": color(1, 1, 1), "background_color": color(0, 0, 0, 0.6)})
    return {"circles": [], "points": points, "texts": texts}
