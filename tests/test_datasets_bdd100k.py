"""BDD100K reader on small fixtures written in the official formats (no BDD100K labels in shared/data)."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets import DET_CLASSES, SEG_CLASSES, SEG_IGNORE_INDEX, BDD100KDataset, DatasetFormatError, open_dataset
from datasets.bdd100k import poly2d_points

W, H = 320, 180
pytestmark = pytest.mark.filterwarnings("ignore:.*listed but missing")


def _box(cat, x1, y1, x2, y2, **extra):
    return {"id": str(extra.pop("id", 0)), "category": cat, "attributes": {"occluded": False},
            "box2d": {"x1": x1, "y1": y1, "x2": x2, "y2": y2}, **extra}


@pytest.fixture
def bdd_root(tmp_path):
    """ROOT/images/100k/val, labels/det_20/det_val.json, labels/lane/polygons/lane_val.json, drivable masks."""
    img_dir = tmp_path / "images" / "100k" / "val"
    img_dir.mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(img_dir / name), np.full((H, W, 3), 90, np.uint8))
    det = [
        {"name": "a.jpg", "attributes": {"weather": "clear"}, "timestamp": 10000, "labels": [
            _box("car", 10, 20, 60, 50),
            _box("rider", 100, 40, 120, 90),  # rides the bicycle below -> one cyclist box
            _box("bicycle", 98, 65, 125, 100),
            _box("motorcycle", 200, 80, 230, 110),  # nobody on it -> ignore region
            _box("traffic light", 5, 5, 10, 15),  # dropped
            _box("truck", 250, 30, 330, 90),  # past the right edge -> clipped to 320
        ]},
        {"name": "b.jpg", "labels": None},  # annotated, nothing there
        {"name": "missing.jpg", "labels": []},
    ]
    lanes = [
        {"name": "a.jpg", "labels": [
            {"id": "1", "category": "single white", "attributes": {"laneDirection": "parallel"},
             "poly2d": [{"vertices": [[100, 179], [150, 100]], "types": "LL", "closed": False}]},
            {"id": "2", "category": "crosswalk", "attributes": {"laneDirection": "vertical"},
             "poly2d": [{"vertices": [[0, 150], [300, 150]], "types": "LL", "closed": False}]},
            {"id": "3", "category": "double yellow", "attributes": {"laneDirection": "parallel"},
             "poly2d": [{"vertices": [[200, 100], [220, 130], [250, 160], [260, 179]], "types": "LCCL",
                         "closed": False}]},
        ]},
    ]
    labels = tmp_path / "labels"
    (labels / "det_20").mkdir(parents=True)
    (labels / "lane" / "polygons").mkdir(parents=True)
    (labels / "drivable" / "masks" / "val").mkdir(parents=True)
    (labels / "det_20" / "det_val.json").write_text(json.dumps(det, indent=1))
    (labels / "lane" / "polygons" / "lane_val.json").write_text(json.dumps(lanes))
    drivable = np.full((H, W), 2, np.uint8)
    drivable[120:, 100:220] = 0
    drivable[120:, 220:] = 1
    cv2.imwrite(str(labels / "drivable" / "masks" / "val" / "a.png"), drivable)
    return tmp_path


def test_reads_boxes_lanes_and_drivable(bdd_root):
    with pytest.warns(UserWarning, match="missing.jpg"):
        ds = open_dataset("bdd100k", bdd_root, "val")
    assert len(ds) == 2 and ds.missing_ids == ["missing.jpg"]
    a = ds[0]
    assert [DET_CLASSES[k] for k in a.labels] == ["car", "cyclist", "truck"]
    np.testing.assert_allclose(a.boxes_xyxy[1], [98, 40, 125, 100])  # rider and bicycle merged
    np.testing.assert_allclose(a.boxes_xyxy[2], [250, 30, 320, 90])
    np.testing.assert_allclose(a.ignore_boxes_xyxy, [[200, 80, 230, 110]])  # the riderless motorcycle
    assert len(a.lanes) == 2 and a.lane_sides is None  # crosswalk dropped
    assert a.lanes[0][0].tolist() == [100, 179]  # bottom first
    assert len(a.lanes[1]) > 4 and a.lanes[1][0].tolist() == [260, 179]  # Bezier sampled, then reversed
    road = SEG_CLASSES.index("road")
    assert (a.seg_mask[120:, 100:] == road).all() and (a.seg_mask[:120] == SEG_IGNORE_INDEX).all()
    b = ds[1]
    assert b.boxes_xyxy.shape == (0, 4) and b.labels.shape == (0,)  # annotated, empty
    assert b.lanes is None and b.seg_mask is None  # not in the lane file, no drivable map


def test_without_rider_merging(bdd_root):
    ds = BDD100KDataset(bdd_root / "images" / "100k" / "val",
                        det_json=bdd_root / "labels" / "det_20" / "det_val.json", merge_riders=False)
    a = ds[ds.names.index("a.jpg")]
    assert [DET_CLASSES[k] for k in a.labels] == ["car", "cyclist", "motorcyclist", "truck"]
    assert len(a.ignore_boxes_xyxy) == 1  # the rider


def test_unknown_category_is_an_error_in_strict_mode(bdd_root):
    det_path = bdd_root / "labels" / "det_20" / "det_val.json"
    det = json.loads(det_path.read_text())
    det[0]["labels"].append(_box("hovercraft", 1, 1, 9, 9))
    det_path.write_text(json.dumps(det))
    img_dir = bdd_root / "images" / "100k" / "val"
    with pytest.raises(DatasetFormatError, match="unknown class 'hovercraft'"):
        BDD100KDataset(img_dir, det_json=det_path)[0]
    assert len(BDD100KDataset(img_dir, det_json=det_path, strict=False)[0].labels) == 3


def test_truncated_json_names_file_and_line(bdd_root):
    det_path = bdd_root / "labels" / "det_20" / "det_val.json"
    text = det_path.read_text()
    det_path.write_text(text[: len(text) // 2])
    with pytest.raises(DatasetFormatError, match=r"det_val\.json:\d+: invalid JSON"):
        BDD100KDataset(bdd_root / "images" / "100k" / "val", det_json=det_path)


def test_bad_box_and_bad_drivable(bdd_root):
    det_path = bdd_root / "labels" / "det_20" / "det_val.json"
    det_path.write_text(json.dumps([{"name": "a.jpg", "labels": [{"category": "car", "box2d": {"x1": 1}}]}]))
    with pytest.raises(DatasetFormatError, match="numeric x1, y1, x2, y2"):
        BDD100KDataset(bdd_root / "images" / "100k" / "val", det_json=det_path)[0]
    png = bdd_root / "labels" / "drivable" / "masks" / "val" / "a.png"
    cv2.imwrite(str(png), np.zeros((H // 2, W), np.uint8))
    with pytest.raises(DatasetFormatError, match="label image is 320x90"):
        BDD100KDataset(bdd_root / "images" / "100k" / "val", drivable_dir=png.parent)[0]


def test_poly2d_bezier_passes_through_end_points():
    pts = poly2d_points({"vertices": [[0, 0], [10, 0], [20, 10], [20, 20]], "types": "LCCL"}, "x", Path("f"))
    assert pts[0].tolist() == [0, 0] and pts[-1].tolist() == [20, 20] and len(pts) == 11
