"""The pack tool: a training config's data in one portable folder that reads back as the same samples."""

from __future__ import annotations

import numpy as np

from conftest import SHARED_DATA, need, run_cli
from datasets import open_dataset
from datasets.transforms import letterbox


def test_pack_reads_back_as_the_letterboxed_originals(tmp_path):
    kitti = need(SHARED_DATA / "kitti_object_65frames")
    camvid = need(SHARED_DATA / "camvid")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"train_data: ['kitti:{kitti}', 'camvid:{camvid}']\ntrain_repeats: [1, 1]\n"
                   f"mask_boxes: [camvid]\nval_data: ['kitti:{kitti}']\n")
    out = tmp_path / "pack"
    proc = run_cli("perception.training.pack", "--config", str(cfg), "--output", str(out), "--every", "camvid=40",
                   "--jpeg-quality", "95")
    assert proc.returncode == 0, proc.stderr
    original = open_dataset("kitti", str(kitti), "val")
    packed = open_dataset("packed", str(out / "kitti"), "val")
    assert len(packed) == len(original)
    a, b = letterbox(original[0])[0], letterbox(packed[0])[0]
    assert a.image_bgr.shape == b.image_bgr.shape == (384, 640, 3)
    assert np.abs(a.image_bgr.astype(int) - b.image_bgr.astype(int)).mean() < 3      # JPEG re-encoding only
    np.testing.assert_allclose(a.boxes_xyxy, b.boxes_xyxy, atol=0.02)
    assert a.labels.tolist() == b.labels.tolist()
    cam = open_dataset("packed", str(out / "camvid"), "train")
    assert len(cam) == 10 and cam[0].seg_mask is not None
    assert sum(len(cam[i].boxes_xyxy) for i in range(len(cam))) > 0                 # boxes from mask components
    train_cfg = tmp_path / "on_pack.yaml"
    train_cfg.write_text(f"train_data: ['packed:{out}/kitti', 'packed:{out}/camvid']\ntrain_repeats: [1, 1]\n"
                         f"val_data: ['packed:{out}/kitti']\nepochs: 1\nbatch_size: 2\ncrop_wh: [128, 128]\n"
                         "max_steps_per_epoch: 1\nworkers: 0\n")
    trained = run_cli("perception.train", "--config", str(train_cfg), "--output", str(tmp_path / "t"), "--no-progress")
    assert trained.returncode == 0, trained.stderr
    assert '"val_kitti_map50"' in trained.stderr                                    # validation named by its kind
    again = run_cli("perception.training.pack", "--config", str(cfg), "--output", str(out))
    assert again.returncode == 2 and "already holds a pack" in again.stderr
    tight = run_cli("perception.training.pack", "--config", str(cfg), "--output", str(tmp_path / "p2"),
                    "--every", "camvid=40", "--max-mib", "0.01")
    assert tight.returncode == 2 and "over --max-mib" in tight.stderr
