"""CamVid reader on the real SegNet split (shared/data/camvid)."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets import SEG_CLASSES, SEG_IGNORE_INDEX, CamVidDataset, DatasetFormatError, open_dataset

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_dir(name: str) -> Path:
    p = DATA / name
    if not p.is_dir():
        pytest.skip(f"shared test data not found: {p} (the shared/ folder sits beside the repo folder)")
    return p


def test_split_counts():
    root = data_dir("camvid")
    assert len(CamVidDataset(root, "train")) == 367
    assert len(CamVidDataset(root, "val")) == 101
    assert len(open_dataset("camvid", root, "val")) == 101


def test_spot_check_sky_top_road_bottom():
    ds = CamVidDataset(data_dir("camvid"), "train")
    i = [p[0].stem for p in ds.pairs].index("0001TP_006690")
    s = ds[i]
    h, w = s.seg_mask.shape
    assert s.image_bgr.shape == (360, 480, 3)
    assert SEG_CLASSES[s.seg_mask[0, w // 2]] == "sky"
    # the last rows are the unlabelled car bonnet; the road starts just above it
    assert s.seg_mask[h - 1, w // 2] == SEG_IGNORE_INDEX
    assert SEG_CLASSES[s.seg_mask[int(0.9 * h), w // 2]] == "road"
    assert s.boxes_xyxy is None and s.lanes is None  # segmentation only


def test_masks_use_all_classes_and_ignore():
    ds = CamVidDataset(data_dir("camvid"), "val")
    seen = set()
    for i in range(0, len(ds), 10):
        seen |= set(np.unique(ds[i].seg_mask).tolist())
    assert {0, 2, 4, 8} <= seen  # road, building, sky, car
    assert seen <= set(range(len(SEG_CLASSES))) | {SEG_IGNORE_INDEX}


def test_bad_list_line_names_file_and_line(tmp_path):
    root = data_dir("camvid")
    lines = (root / "val.txt").read_text().splitlines()[:4] + ["val/a.jpg valannot/a.png extra"]
    (tmp_path / "val.txt").write_text("\n".join(lines) + "\n")
    for d in ("val", "valannot"):
        (tmp_path / d).symlink_to(root / d)
    with pytest.raises(DatasetFormatError, match=r"val\.txt:5: expected"):
        CamVidDataset(tmp_path, "val")


def test_mask_of_wrong_size_is_rejected(tmp_path):
    root = data_dir("camvid")
    first = (root / "val.txt").read_text().split()[:2]
    (tmp_path / "val").mkdir()
    (tmp_path / "valannot").mkdir()
    (tmp_path / first[0]).symlink_to(root / first[0])
    mask = cv2.imread(str(root / first[1]), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(tmp_path / first[1]), mask[:-10])
    (tmp_path / "val.txt").write_text(f"{first[0]} {first[1]}\n")
    with pytest.raises(DatasetFormatError, match="label image is 480x350 but its image is 480x360"):
        CamVidDataset(tmp_path, "val")[0]


def test_mask_with_unknown_value_is_rejected(tmp_path):
    root = data_dir("camvid")
    first = (root / "val.txt").read_text().split()[:2]
    (tmp_path / "val").mkdir()
    (tmp_path / "valannot").mkdir()
    (tmp_path / first[0]).symlink_to(root / first[0])
    mask = cv2.imread(str(root / first[1]), cv2.IMREAD_UNCHANGED)
    mask[0, 0] = 40
    cv2.imwrite(str(tmp_path / first[1]), mask)
    (tmp_path / "val.txt").write_text(f"{first[0]} {first[1]}\n")
    with pytest.raises(DatasetFormatError, match=r"\[40\]"):
        CamVidDataset(tmp_path, "val")[0]
    assert CamVidDataset(tmp_path, "val", strict=False)[0].seg_mask[0, 0] == SEG_IGNORE_INDEX
