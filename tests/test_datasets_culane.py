"""CULane reader on a small fixture written in the CULane layout."""

import cv2
import numpy as np
import pytest

from datasets import CULaneDataset, DatasetFormatError, open_dataset
from datasets.culane import parse_culane_lines_text

W, H = 400, 160


@pytest.fixture
def culane_root(tmp_path):
    clip = tmp_path / "driver_23_30frame" / "05151649_0422.MP4"
    clip.mkdir(parents=True)
    for k in range(2):
        cv2.imwrite(str(clip / f"{k:05d}.jpg"), np.zeros((H, W, 3), np.uint8))
    # CULane writes lanes from the bottom up and extrapolates past the image edges
    (clip / "00000.lines.txt").write_text(
        "-12.5 159 20.0 140 60.0 120 100.0 100 \n"
        "150 159 170 140 190 120 210 100 \n"
        "300 159 280 140 260 120 240 100 \n")
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "train_gt.txt").write_text(
        "/driver_23_30frame/05151649_0422.MP4/00000.jpg /laneseg_label_w16/x/00000.png 0 1 1 1\n"
        "/driver_23_30frame/05151649_0422.MP4/00001.jpg /laneseg_label_w16/x/00001.png 0 0 0 0\n")
    # the official layout has a validation list (without one, train / val are frame-index blocks: test below)
    (tmp_path / "list" / "val_gt.txt").write_text("")
    return tmp_path


def test_lanes_sides_and_flags(culane_root):
    ds = open_dataset("culane", culane_root, "train")
    assert len(ds) == 2
    s = ds[0]
    assert s.meta["exist_flags"] == [0, 1, 1, 1]
    assert len(s.lanes) == 3
    assert s.lanes[0][0].tolist() == [20, 140]  # the point at x = -12.5 is outside the image: dropped
    assert s.lane_sides == ["left_left", "ego_left", "ego_right"]
    assert ds[1].lanes is None  # no .lines.txt: not annotated


def test_odd_value_count_names_file_and_line(culane_root):
    p = culane_root / "driver_23_30frame" / "05151649_0422.MP4" / "00000.lines.txt"
    p.write_text(p.read_text() + "10 159 20\n")
    with pytest.raises(DatasetFormatError, match=r"00000\.lines\.txt:4: expected x y pairs"):
        CULaneDataset(culane_root, "train")[0]


def test_bad_list_line(culane_root):
    (culane_root / "list" / "train_gt.txt").write_text("/a.jpg /b.png 1 1 1\n")
    with pytest.raises(DatasetFormatError, match=r"train_gt\.txt:1:"):
        CULaneDataset(culane_root, "train")


def test_parser_orders_bottom_to_top():
    (lane,) = parse_culane_lines_text("10 100 20 150 30 200\n")
    assert lane[:, 1].tolist() == [200, 150, 100]


def test_without_a_validation_list_train_and_val_are_frame_index_blocks(tmp_path):
    for clip in ("driver_1/a.MP4", "driver_2/b.MP4"):
        (tmp_path / clip).mkdir(parents=True)
        for k in range(8):
            cv2.imwrite(str(tmp_path / clip / f"{30 * k:05d}.jpg"), np.zeros((H, W, 3), np.uint8))
    (tmp_path / "list").mkdir()
    clips = ("driver_1/a.MP4", "driver_2/b.MP4")
    listed = [f"/{clip}/{30 * k:05d}.jpg" for k in (3, 0, 7, 1, 2, 6, 4, 5) for clip in clips]
    (tmp_path / "list" / "train.txt").write_text("\n".join(listed) + "\n")
    names = {split: [str(p.relative_to(tmp_path)) for p, _ in CULaneDataset(tmp_path, split).entries]
             for split in ("train", "val", "trainval")}
    # per clip: 8 frames -> the last 2 (by frame number) are val, the one before is in neither split
    for clip in ("driver_1/a.MP4", "driver_2/b.MP4"):
        assert sorted(n for n in names["val"] if n.startswith(clip)) == [f"{clip}/00180.jpg", f"{clip}/00210.jpg"]
        assert sorted(n for n in names["train"] if n.startswith(clip)) == [f"{clip}/{30 * k:05d}.jpg" for k in range(5)]
    assert len(names["trainval"]) == 16 and not set(names["train"]) & set(names["val"])
