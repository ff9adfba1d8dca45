"""TuSimple JSON-lines reader and LaneNet instance-mask reader on the shared samples."""

import json
from pathlib import Path

import numpy as np
import pytest

from datasets import DatasetFormatError, TuSimpleDataset, TuSimpleInstanceMaskDataset, open_dataset
from datasets.lanes import assign_lane_sides
from datasets.tusimple import parse_tusimple_json_lines

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_dir(name: str) -> Path:
    p = DATA / name
    if not p.is_dir():
        pytest.skip(f"shared test data not found: {p} (the shared/ folder sits beside the repo folder)")
    return p


def test_json_lines_lanes_match_file():
    root = data_dir("tusimple_sample_512x288")
    ds = open_dataset("tusimple", root, "train")
    assert len(ds) == 10
    first = json.loads((root / "label_data.json").read_text().splitlines()[0])
    s = ds[0]
    assert s.source.endswith(first["raw_file"])
    assert s.image_bgr.shape == (288, 512, 3)
    # lane 0 of the file, as (x, y) points bottom to top, without the -2 entries
    expected = [(x, y) for x, y in zip(first["lanes"][0], first["h_samples"]) if x >= 0][::-1]
    np.testing.assert_allclose(s.lanes[0], np.asarray(expected, np.float32))
    for s in ds:
        assert s.boxes_xyxy is None and s.seg_mask is None
        for lane in s.lanes:
            assert lane.dtype == np.float32 and lane.shape[1] == 2
            assert (np.diff(lane[:, 1]) < 0).all()  # bottom to top
            assert (lane[:, 0] >= 0).all() and (lane[:, 0] < 512).all()


def test_sides_every_frame_has_one_ego_pair_left_of_right():
    ds = TuSimpleDataset(data_dir("tusimple_sample_512x288") / "label_data.json")
    for s in ds:
        assert s.lane_sides.count("ego_left") == 1 and s.lane_sides.count("ego_right") == 1
        left = s.lanes[s.lane_sides.index("ego_left")]
        right = s.lanes[s.lane_sides.index("ego_right")]
        assert left[0, 0] < 256 < right[0, 0]  # bottom points either side of the image centre


def test_instance_masks_to_lanes():
    ds = TuSimpleInstanceMaskDataset(data_dir("tusimple_lanenet_masks") / "data" / "training_data_example")
    assert len(ds) == 6
    s = ds[0]
    assert s.image_bgr.shape == (720, 1280, 3)
    assert s.meta["instance_values"] == [20, 70, 120, 170]
    assert s.lane_sides == ["left_left", "ego_left", "ego_right", "right_right"]
    ego_left = s.lanes[1]
    assert ego_left[0, 1] == 713 and ego_left[0, 0] == pytest.approx(87, abs=1)  # bottom row, per-row mean x
    assert (np.diff(ego_left[:, 1]) < 0).all()
    frame3 = ds[3]  # five lanes: the fifth, outermost right one gets no side
    assert len(frame3.lanes) == 5 and frame3.lane_sides.count(None) == 1


def test_lanenet_folder_given_to_json_kind_gets_a_hint():
    with pytest.raises(FileNotFoundError, match="tusimple_lanenet"):
        open_dataset("tusimple", data_dir("tusimple_lanenet_masks") / "data" / "training_data_example", "train")


def test_truncated_json_names_file_and_line(tmp_path):
    root = data_dir("tusimple_sample_512x288")
    lines = (root / "label_data.json").read_text().splitlines()
    lines[1] = lines[1][: len(lines[1]) // 2]
    bad = tmp_path / "label_data.json"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"label_data\.json:2: invalid JSON"):
        TuSimpleDataset(bad)


@pytest.mark.parametrize("line, message", [
    ('{"lanes": [[1, 2]], "h_samples": [10, 20, 30], "raw_file": "a.jpg"}', "lane 0 has 2 x values for 3 h_samples"),
    ('{"lanes": [[1, "x"]], "h_samples": [10, 20], "raw_file": "a.jpg"}', "lane 0 must be a list of numbers"),
    ('{"lanes": [], "h_samples": [10, 20]}', "missing key 'raw_file'"),
    ('[1, 2]', "expected a JSON object"),
    ('{"lanes": [[true, 1]], "h_samples": [10, 20], "raw_file": "a.jpg"}', "lane 0 must be a list of numbers"),
])
def test_bad_records(line, message):
    with pytest.raises(DatasetFormatError, match=r"f\.json:3: " + message):
        parse_tusimple_json_lines('{"lanes": [], "h_samples": [], "raw_file": "x.jpg"}\n\n' + line, "f.json")


def test_missing_images_are_skipped_with_one_warning(tmp_path):
    (tmp_path / "label_data.json").write_text('{"lanes": [], "h_samples": [], "raw_file": "nope/1.jpg"}\n'
                                              '{"lanes": [], "h_samples": [], "raw_file": "nope/2.jpg"}\n')
    with pytest.warns(UserWarning, match="2 images listed but missing"):
        ds = TuSimpleDataset(tmp_path / "label_data.json")
    assert len(ds) == 0 and ds.missing_ids == ["nope/1.jpg", "nope/2.jpg"]


def test_assign_lane_sides_extrapolates_lanes_that_leave_through_the_side():
    w, h = 1280, 720
    near_left = np.array([[300, 719], [600, 400]], np.float32)
    # far-left lane whose lowest point is at the left edge, high up: extrapolated further left at the bottom
    far_left = np.array([[0, 450], [500, 380]], np.float32)
    right = np.array([[1000, 719], [700, 400]], np.float32)
    assert assign_lane_sides([far_left, right, near_left], w, h) == ["left_left", "ego_right", "ego_left"]
