"""KITTI object reader on genuine KITTI frames and on a KITTI-format Argoverse export."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from datasets import DET_CLASSES, DatasetFormatError, KittiDataset, open_dataset
from datasets.kitti import parse_kitti_calib_text, parse_kitti_label_text

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_dir(name: str) -> Path:
    p = DATA / name
    if not p.is_dir():
        pytest.skip(f"shared test data not found: {p} (the shared/ folder sits beside the repo folder)")
    return p


def test_six_frames_classes_and_dontcare():
    ds = KittiDataset(data_dir("kitti_object_6frames"))
    assert len(ds) == 6
    names = []
    n_ignore = 0
    for s in ds:
        h, w = s.image_bgr.shape[:2]
        assert (s.boxes_xyxy[:, 2] <= w).all() and (s.boxes_xyxy[:, 3] <= h).all()
        names += [DET_CLASSES[k] for k in s.labels]
        n_ignore += len(s.ignore_boxes_xyxy)
    # SOURCE.md: Car 5, Pedestrian 2, Cyclist 1, Truck 1, Misc 1 (dropped), DontCare 15 (ignore regions)
    assert sorted(names) == sorted(["car"] * 5 + ["pedestrian"] * 2 + ["cyclist", "truck"])
    assert n_ignore == 15
    s0 = ds[0]
    assert s0.image_bgr.shape == (370, 1224, 3)
    np.testing.assert_allclose(s0.boxes_xyxy[0], [712.40, 143.00, 810.73, 307.92], atol=1e-3)
    assert DET_CLASSES[s0.labels[0]] == "pedestrian"
    np.testing.assert_allclose(s0.meta["box_attrs"]["location_xyz_m"][0], [1.84, 1.47, 8.41], atol=1e-4)


def test_calibration_projects_3d_box_centre_into_2d_box():
    s = KittiDataset(data_dir("kitti_object_6frames"))[0]
    P2, R0 = s.meta["calib"]["P2"], s.meta["calib"]["R0_rect"]
    assert P2.shape == (3, 4) and R0.shape == (3, 3)
    x, y, z = s.meta["box_attrs"]["location_xyz_m"][0]
    h = s.meta["box_attrs"]["dimensions_hwl_m"][0][0]
    uvw = P2 @ np.array([x, y - h / 2, z, 1.0])  # centre of the 3D box (location is its bottom centre)
    u, v = uvw[:2] / uvw[2]
    x1, y1, x2, y2 = s.boxes_xyxy[0]
    assert x1 < u < x2 and y1 < v < y2


def test_argoverse_export_needs_non_strict_and_drops_out_of_view_boxes():
    root = data_dir("argoverse_kitti_format_3frames") / "data" / "object"
    with pytest.raises(DatasetFormatError, match=r"label_2/000000\.txt:\d+: unknown class 'ON_ROAD_OBSTACLE'"):
        KittiDataset(root)[0]
    ds = KittiDataset(root, strict=False)
    s = ds[0]
    assert s.meta["unknown_classes"] == ["ON_ROAD_OBSTACLE"]
    assert s.meta["num_dropped_degenerate"] > 0  # the x1 == x2 projected boxes
    assert len(s.labels) > 0 and set(s.labels.tolist()) <= {DET_CLASSES.index("car"), DET_CLASSES.index("pedestrian")}
    w = s.image_bgr.shape[1]
    assert ((s.boxes_xyxy[:, 2] - s.boxes_xyxy[:, 0]) > 0).all() and (s.boxes_xyxy[:, 2] <= w).all()


def test_train_val_split_is_a_partition():
    root = data_dir("kitti_object_6frames")
    tr, va = open_dataset("kitti", root, "train"), open_dataset("kitti", root, "val")
    assert len(tr) + len(va) == 6 and not set(tr.ids) & set(va.ids)


def _broken_copy(tmp_path: Path, line: str) -> Path:
    src = data_dir("kitti_object_6frames") / "training"
    dst = tmp_path / "training"
    for d in ("image_2", "label_2", "calib"):
        (dst / d).mkdir(parents=True)
    (dst / "image_2" / "000001.png").symlink_to(src / "image_2" / "000001.png")
    shutil.copy(src / "calib" / "000001.txt", dst / "calib")
    lines = (src / "label_2" / "000001.txt").read_text().splitlines()
    lines.insert(2, line)
    (dst / "label_2" / "000001.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


@pytest.mark.parametrize("line, message", [
    ("Car 0.00 0 1.85 387.63 181.54 423.81", "expected 15 columns"),
    ("Car 0.00 0 1.85 387.63 abc 423.81 203.12 1.67 1.87 3.69 -16.53 2.39 58.49 1.57",
     "column 6: 'abc' is not a number"),
    ("Car 0.00 0 1.85 387.63 181.54 423.81 nan 1.67 1.87 3.69 -16.53 2.39 58.49 1.57", "not finite"),
    ("Car 0.00 0 1.85 423.81 181.54 387.63 203.12 1.67 1.87 3.69 -16.53 2.39 58.49 1.57", "x2 < x1"),
    ("Spaceship 0.00 0 1.85 387.63 181.54 423.81 203.12 1.67 1.87 3.69 -16.53 2.39 58.49 1.57", "unknown class"),
])
def test_malformed_label_line_names_file_and_line(tmp_path, line, message):
    root = _broken_copy(tmp_path, line)
    with pytest.raises(DatasetFormatError, match=message) as e:
        KittiDataset(root)[0]
    assert str(e.value).startswith(f"{root / 'training' / 'label_2' / '000001.txt'}:3: ")
    assert e.value.line == 3


def test_score_column_and_blank_lines():
    objs = parse_kitti_label_text("\nCar 0 0 0 1 2 3 4 0 0 0 0 0 0 0 0.75\n\n")
    assert objs.names == ["Car"] and objs.lines == [2]
    assert objs.score[0] == pytest.approx(0.75)


def test_calib_errors():
    with pytest.raises(DatasetFormatError, match=r"calib\.txt:2: P2: expected 12 values"):
        parse_kitti_calib_text("P0: 1 0 0 0 0 1 0 0 0 0 1 0\nP2: 1 2 3\n", "calib.txt")
