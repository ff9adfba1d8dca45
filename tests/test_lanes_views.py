"""Stills seen in several views (resized, mirrored) and the consensus of their lines (perception/lanes/views.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from perception.lanes import detect_image_lanes
from perception.lanes.synthetic import fade
from perception.lanes.views import View, ViewsConfig, consensus, views_of
from perception.metrics.lanes import LaneEvaluator
from perception.results import LaneLine

from conftest import SHARED_DATA, need

LANENET = SHARED_DATA / "tusimple_lanenet_masks" / "data" / "training_data_example"


def test_views_map_their_pixels_back_to_the_original():
    image = np.zeros((288, 512, 3), np.uint8)
    image[200:204, 100:104] = 255  # a 4x4 blob centred at (101.5, 201.5)
    views = views_of(image, ViewsConfig(widths_px=(512, 1024), mirror=True))
    assert [(v.image_bgr.shape[1], v.mirrored) for v in views] == [(512, False), (512, True), (1024, False),
                                                                   (1024, True)]
    for view in views:
        gray = view.image_bgr[:, :, 0].astype(np.float64)
        vv, uu = np.mgrid[0:gray.shape[0], 0:gray.shape[1]]
        centre = np.array([[(uu * gray).sum(), (vv * gray).sum()]]) / gray.sum()  # where the view shows it
        np.testing.assert_allclose(view.to_original(centre), [[101.5, 201.5]], atol=0.05)
        hv, wv = view.image_bgr.shape[:2]
        border = view.to_original(np.array([[0.0, hv - 1.0], [wv - 1.0, 10.0]]))  # bottom-left, right edge
        expected = [[511.0, 287.0], [0.0, border[1, 1]]] if view.mirrored else [[0.0, 287.0], [511.0, border[1, 1]]]
        np.testing.assert_allclose(border, expected)
    assert views[1].side_in_original("ego_left") == "ego_right"
    assert views[1].side_in_original("right_right") == "left_left"
    assert views[0].side_in_original("ego_left") == "ego_left"


def _line(side: str, x_bottom: float, slope: float = -0.5, conf: float = 1.0) -> LaneLine:
    v = np.linspace(287.0, 150.0, 12)
    return LaneLine(id=0, side=side, points_xy=np.column_stack([x_bottom + slope * (287.0 - v), v]), confidence=conf)


def test_consensus_keeps_the_line_nearest_the_others_and_drops_sides_few_views_found(monkeypatch):
    import perception.lanes.views as views_module

    image = np.zeros((288, 512, 3), np.uint8)
    config = ViewsConfig(widths_px=(512, 512), mirror=True, min_agree=3)  # four views
    answers = iter([
        [_line("ego_left", 150.0, conf=0.1), _line("ego_right", 360.0)],
        [_line("ego_left", 152.0, conf=0.2), _line("right_right", 480.0)],
        [_line("ego_left", 200.0, conf=0.3), _line("ego_right", 362.0)],  # an outlier on the left
        [_line("ego_left", 149.0, conf=0.4)],
    ])
    identity = View(image, (1.0, 1.0), False, (512, 288))
    monkeypatch.setattr(views_module, "views_of", lambda img, cfg: [identity] * cfg.n_views)
    out = consensus(image, lambda view: next(answers), config)
    assert [ln.side for ln in out] == ["ego_left"]  # ego_right: 2 of 4 views, right_right: 1
    assert out[0].confidence == 0.1  # 150 px is nearest 152, 149 and 200 together: that view's own line
    assert out[0].id == 0


def test_views_config_rejects_bad_values():
    with pytest.raises(ValueError, match="min_agree"):
        ViewsConfig(widths_px=(512,), mirror=False, min_agree=2)
    with pytest.raises(ValueError, match="widths_px"):
        ViewsConfig(widths_px=())
    with pytest.raises(TypeError):
        ViewsConfig(width=512)  # unknown key


def _lanenet_scores(variant: str) -> dict[str, float]:
    from datasets import open_dataset

    reader = open_dataset("tusimple_lanenet", need(LANENET), "train")
    evaluators = {"one": LaneEvaluator(), "views": LaneEvaluator()}
    for i in range(len(reader)):
        sample = reader[i]
        image, scale = sample.image_bgr, 1.0
        if variant != "1280":
            image, scale = cv2.resize(image, (512, 288), interpolation=cv2.INTER_AREA), 0.4
        if variant == "512_faded":
            image = fade(image, 0.5, seed=i)
        gt = [np.asarray(g) * scale for g in sample.lanes]
        h_samples = np.asarray(sample.meta["h_samples"]) * scale  # TuSimple's row accounting, as the benchmark
        for name, views in (("one", None), ("views", ViewsConfig())):
            lanes = detect_image_lanes(image, views=views)
            evaluators[name].add([lane.points_xy for lane in lanes], gt, image.shape[1], h_samples)
    return {name: ev.summary()["tusimple_accuracy"] for name, ev in evaluators.items()}


@pytest.mark.parametrize("variant,gain", [("1280", 0.01), ("512", 0.02), ("512_faded", 0.03)])
def test_views_raise_tusimple_accuracy_on_the_lanenet_frames(variant, gain):
    """The frames the views were chosen on (not a held-out score). The default four views, measured with
    TuSimple's row accounting: one view -> 4 views 0.918 -> 0.931 at 1280x720, 0.897 -> 0.924 at 512x288,
    0.896 -> 0.929 at 512x288 faded to contrast 0.5. The views help most where the paint is faint."""
    score = _lanenet_scores(variant)
    assert score["views"] >= score["one"] + gain
    assert score["views"] >= 0.9
