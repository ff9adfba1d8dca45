"""Apollo-style 2D obstacle reader on the real train folder (shared/data/apollo_2d_obstacle_dotah88)."""

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from datasets import DET_CLASSES, ApolloDataset, DatasetFormatError, open_dataset, split_ids

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_dir(name: str) -> Path:
    p = DATA / name
    if not p.is_dir():
        pytest.skip(f"shared test data not found: {p} (the shared/ folder sits beside the repo folder)")
    return p


@pytest.fixture(scope="module")
def train_folder():
    root = data_dir("apollo_2d_obstacle_dotah88")
    with pytest.warns(UserWarning, match="2 frames .* missing, skipped: 000038, 000040"):
        ds = ApolloDataset(root, "train")
    return ds


def test_missing_ids_are_skipped_and_reported(train_folder):
    assert len(train_folder) == 98
    assert train_folder.missing_ids == ["000038", "000040"]


def test_box_counts_match_source_md(train_folder):
    # SOURCE.md, train: car 683, pedestrian 188, ignore 215, truck 121, bus 117, van 94, motorcyclist 48,
    # cyclist 43, tricyclelist 30, trafficcone 20, barrowlist 1 = 1560 boxes.
    counts = Counter()
    n_ignore = 0
    for s in train_folder:
        h, w = s.image_bgr.shape[:2]
        assert (w, h) == (1920, 1080)
        for b in (s.boxes_xyxy, s.ignore_boxes_xyxy):
            assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all() and (b[:, 2] <= w).all() and (b[:, 3] <= h).all()
            assert ((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])).all()
        counts.update(DET_CLASSES[k] for k in s.labels)
        n_ignore += len(s.ignore_boxes_xyxy)
    assert counts == {"car": 683 + 94, "pedestrian": 188, "truck": 121, "bus": 117, "motorcyclist": 48,
                      "cyclist": 43, "traffic_cone": 20}
    assert n_ignore == 215 + 30 + 1  # ignore + tricyclelist + barrowlist
    assert sum(counts.values()) + n_ignore == 1560


def test_first_frame_spot_check(train_folder):
    s = train_folder[train_folder.ids.index("000001")]
    # label line 1 is "    ignore 0 0 0 889.41 423.68 960.64 472.55 ..." (leading spaces), line 3 a car
    np.testing.assert_allclose(s.ignore_boxes_xyxy[0], [889.413808937, 423.681208584, 960.641912161, 472.547000331],
                               atol=1e-3)
    assert DET_CLASSES[s.labels[0]] == "car"
    np.testing.assert_allclose(s.boxes_xyxy[0], [527.472213977, 444.608949717, 553.975694246, 466.695183275], atol=1e-3)


def test_split_ids_deterministic_partition():
    ids = [f"{i:06d}" for i in range(98)]
    tr, va = split_ids(ids, val_fraction=0.2, seed=0)
    assert len(va) == 20 and len(tr) == 78 and not set(tr) & set(va) and set(tr) | set(va) == set(ids)
    assert (tr, va) == split_ids(list(reversed(ids)), 0.2, 0)  # input order does not matter
    assert va != split_ids(ids, 0.2, seed=1)[1]


def test_open_dataset_train_val():
    root = data_dir("apollo_2d_obstacle_dotah88")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr, va = open_dataset("apollo", root, "train"), open_dataset("apollo", root, "val")
    assert (len(tr), len(va)) == (78, 20)
    assert not set(tr.ids) & set(va.ids)
    assert va.missing_ids == ["000038", "000040"]


def test_box_past_the_edge_is_clipped(tmp_path):
    root = data_dir("apollo_2d_obstacle_dotah88")
    d = tmp_path / "train"
    (d / "images").mkdir(parents=True)
    (d / "labels").mkdir()
    (d / "images" / "000001.jpg").symlink_to(root / "train" / "images" / "000001.jpg")
    (d / "labels" / "000001.txt").write_text("motorcyclist 0 0 0 1800.5 500 1921.8 700 0 0 0 0 0 0 0\n")
    s = ApolloDataset(tmp_path)[0]
    np.testing.assert_allclose(s.boxes_xyxy, [[1800.5, 500, 1920, 700]])


def test_malformed_label_names_file_and_line(tmp_path):
    root = data_dir("apollo_2d_obstacle_dotah88")
    d = tmp_path / "train"
    (d / "images").mkdir(parents=True)
    (d / "labels").mkdir()
    (d / "images" / "000001.jpg").symlink_to(root / "train" / "images" / "000001.jpg")
    lines = (root / "train" / "labels" / "000001.txt").read_text().splitlines()
    lines[3] = lines[3].replace(" 0 0 0 0 0 0 0", " 0 0 0 0 0")  # 13 columns on line 4
    (d / "labels" / "000001.txt").write_text("\n".join(lines) + "\n")
    (d / "list.txt").write_text("000001\n")
    with pytest.raises(DatasetFormatError, match=r"labels/000001\.txt:4: expected 15 columns"):
        ApolloDataset(tmp_path)[0]
