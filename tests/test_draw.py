"""The annotated picture: the road tint blends the frame with one colour, only where the road is."""

from __future__ import annotations

import cv2
import numpy as np

from conftest import SHARED_DATA, need
from perception.results import FrameResult
from perception.sinks.draw import ROAD_ALPHA, ROAD_TINT_BGR, draw_result


def test_road_tint_is_a_blend_inside_the_road_only_at_any_frame_size():
    frame = cv2.imread(str(need(SHARED_DATA / "udacity_lanelines_p1" / "test_images" / "solidWhiteRight.jpg")))
    for image in (frame, cv2.resize(frame, (1280, 720)), frame):  # sizes change between calls (stills)
        h, w = image.shape[:2]
        seg = np.full((h, w), 2, np.uint8)
        seg[h // 2:, w // 4: 3 * w // 4] = 0  # road class 0 in the lower middle
        out = draw_result(image, FrameResult(frame=0, timestamp_s=0.0, seg_labels=seg), road_class=0, hud_lines=[])
        inside = out[h // 2 + 5:, w // 4 + 5: 3 * w // 4 - 5].astype(np.float64)
        expected = (image[h // 2 + 5:, w // 4 + 5: 3 * w // 4 - 5] * (1 - ROAD_ALPHA) + ROAD_TINT_BGR * ROAD_ALPHA)
        assert np.abs(inside - expected).max() <= 1.0
        assert np.array_equal(out[20:, : w // 4 - 1], image[20:, : w // 4 - 1])  # off the road (below the HUD)
        assert not np.array_equal(out, image)
