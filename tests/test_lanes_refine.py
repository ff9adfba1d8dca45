"""Image-space refinement of still-image lane polylines (perception/lanes/refine.py)."""

from __future__ import annotations

import numpy as np
import pytest

from perception.lanes import detect_image_lanes
from perception.lanes.refine import RefineConfig, refine_lines
from perception.metrics.lanes import LaneEvaluator
from perception.results import LaneLine

from conftest import SHARED_DATA, need

LANENET = SHARED_DATA / "tusimple_lanenet_masks" / "data" / "training_data_example"


def _road_with_line(w: int = 512, h: int = 288) -> tuple[np.ndarray, np.ndarray]:
    """A grey road with one painted line from (300, h-1) to (262, 110), 5 px wide at the bottom, 1 px at the
    top; returns the image and the line's true column per row (rows 110..h-1)."""
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(90, 3, (h, w, 3)), 0, 255).astype(np.uint8)
    rows = np.arange(110, h)
    true_u = 300.0 + (262.0 - 300.0) * (h - 1 - rows) / (h - 1 - 110)
    for v, u in zip(rows, true_u):
        half = 0.5 + 2.0 * (v - 110) / (h - 1 - 110)
        cols = np.arange(int(u - half - 1), int(u + half + 2))
        cover = np.clip(half + 0.5 - np.abs(cols - u), 0, 1)  # anti-aliased
        image[v, cols] = np.clip(image[v, cols] + (cover * 120)[:, None], 0, 255).astype(np.uint8)
    return image, np.column_stack([true_u, rows])


def _line(points: np.ndarray) -> LaneLine:
    return LaneLine(id=0, side="ego_right", points_xy=points[::-1].copy(), confidence=1.0)  # bottom to top


def test_refinement_moves_a_misplaced_polyline_onto_the_painted_line():
    image, truth = _road_with_line()
    off = truth.copy()
    off[:, 0] += 7.0 + 0.03 * (truth[:, 1] - 110)  # 7 px off at the top, 12 px at the bottom (a yaw/pitch error)
    (refined,) = refine_lines(image, [_line(off)])
    err = np.abs(refined.points_xy[::-1, 0] - truth[:, 0])
    assert np.abs(off[:, 0] - truth[:, 0]).min() >= 7.0
    assert err.max() < 1.0


def test_refinement_leaves_a_line_alone_without_paint_near_it():
    image, truth = _road_with_line()
    far = truth.copy()
    far[:, 0] -= 60.0  # well outside the search window: nothing to snap to
    (same,) = refine_lines(image, [_line(far)])
    np.testing.assert_array_equal(same.points_xy, _line(far).points_xy)
    blank = np.full_like(image, 90)
    (same,) = refine_lines(blank, [_line(truth)])
    np.testing.assert_array_equal(same.points_xy, _line(truth).points_xy)


def test_refinement_never_moves_a_line_further_than_its_limit():
    image, truth = _road_with_line()
    off = truth.copy()
    off[:, 0] += 12.0
    tight = RefineConfig(search_frac=0.03, max_shift_frac=0.01)  # the ridge is 12 px away: > 1 % of 512 px
    (same,) = refine_lines(image, [_line(off)], tight)
    np.testing.assert_array_equal(same.points_xy, _line(off).points_xy)


def test_refinement_raises_tusimple_accuracy_on_the_lanenet_frames():
    """Measured when it was chosen (on these 6 frames only): 0.865 -> 0.887 at 1280x720; with polylines that
    end on the frame border (perception.lanes.sides.polyline_px) 0.876 -> 0.898."""
    from datasets import open_dataset

    reader = open_dataset("tusimple_lanenet", need(LANENET), "train")
    score = {}
    for name, refine in (("without", None), ("with", RefineConfig())):
        evaluator = LaneEvaluator()
        for i in range(len(reader)):
            sample = reader[i]
            lanes = detect_image_lanes(sample.image_bgr, refine=refine, views=None)  # one look: the refinement alone
            evaluator.add([lane.points_xy for lane in lanes], list(sample.lanes), sample.width)
        score[name] = evaluator.summary()["tusimple_accuracy"]
    assert score["with"] >= score["without"] + 0.015
    assert score["with"] == pytest.approx(0.898, abs=0.01)


def test_refinement_handles_lines_that_leave_the_frame():
    image, truth = _road_with_line()
    beyond = np.column_stack([truth[:, 0] + 300.0, truth[:, 1]])  # right of the image
    (same,) = refine_lines(image, [_line(beyond)])
    np.testing.assert_array_equal(same.points_xy, _line(beyond).points_xy)
    assert refine_lines(image, []) == []
