"""Training: partial labels, targets, a short real run with resume, and config errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import torch

from conftest import SHARED_DATA, need, run_cli
from perception.model import MultiTaskNet, ModelConfig, load_checkpoint
from perception.training.losses import multitask_loss
from perception.training.targets import BACKGROUND, IGNORE, fcos_targets


def _batch(b=2, h=128, w=128, a=None, has_det=(True, False), has_seg=(False, True)):
    a = a or (16 * 16 + 8 * 8 + 4 * 4)
    return {"cls_target": torch.full((b, a), BACKGROUND), "box_target": torch.zeros(b, a, 4),
            "ctr_target": torch.zeros(b, a), "seg_mask": torch.full((b, h, w), 255, dtype=torch.long),
            "lane_mask": torch.zeros(b, 1, h // 4, w // 4), "has_det": torch.tensor(has_det),
            "has_seg": torch.tensor(has_seg), "has_lane": torch.tensor([False] * b)}


def test_tasks_without_labels_add_nothing_and_get_no_gradient():
    model = MultiTaskNet(ModelConfig(input_size_wh=(128, 128)))
    images = torch.randint(0, 256, (2, 3, 128, 128), dtype=torch.uint8)
    batch = _batch(has_det=(False, False), has_seg=(True, True))
    batch["seg_mask"][:, 64:] = 0  # half the pixels labelled road, the rest ignored
    out = model(images)
    losses = multitask_loss(out, batch)
    values = {k: float(v.detach()) for k, v in losses.items()}
    assert values["det_cls"] == 0 and values["lane"] == 0 and values["seg"] > 0
    losses["total"].backward()
    assert model.det_head.cls.weight.grad is None or float(model.det_head.cls.weight.grad.abs().sum()) == 0
    assert float(model.seg_head.out.weight.grad.abs().sum()) > 0


def test_fcos_targets_by_hand():
    # one 8x8 cell grid at stride 8 over a 32x32 image; one 20x20 box -> small: level range (0, 64)
    pts = torch.tensor([[x + 4.0, y + 4.0] for y in range(0, 32, 8) for x in range(0, 32, 8)])
    strides = torch.full((16,), 8.0)
    cls, box, ctr = fcos_targets(pts, strides, torch.tensor([[4.0, 4.0, 24.0, 24.0]]), torch.tensor([3]),
                                 torch.tensor([[24.0, 24.0, 32.0, 32.0]]))
    pos = (cls == 3).nonzero().squeeze(1).tolist()
    # centres within 1.5*8 = 12 px of (14, 14) and inside the box: (4,4)? no (on the edge) -> (12,12),(20,12),(12,20),(20,20)
    assert sorted(pos) == [5, 6, 9, 10]
    assert torch.allclose(box[5], torch.tensor([4.0, 4.0, 24.0, 24.0]))
    # location (12, 12): l=8, t=8, r=12, b=12 -> sqrt(8/12 * 8/12)
    assert float(ctr[5]) == float(torch.tensor(8 / 12))
    assert int(cls[15]) == IGNORE  # (28, 28) lies in the ignore region
    assert int(cls[0]) == BACKGROUND


def test_short_training_run_resumes_and_writes_loadable_weights(tmp_path):
    apollo = need(SHARED_DATA / "apollo_2d_obstacle_dotah88")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(f"train_data: ['apollo:{apollo}']\ntrain_repeats: [1]\nval_data: ['apollo:{apollo}']\n"
                   "epochs: 1\nbatch_size: 2\ncrop_wh: [128, 128]\nmax_steps_per_epoch: 2\nworkers: 0\n")
    out = tmp_path / "run"
    proc = run_cli("perception.train", "--config", str(cfg), "--output", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    loaded = load_checkpoint(out / "final.pt")
    assert loaded.metadata["epoch"] == 1 and "apollo" in loaded.metadata["metrics"]
    assert (out / "curves.png").stat().st_size > 0
    proc = run_cli("perception.train", "--resume", str(out / "last.pt"), "--epochs", "2", "--output", str(out),
                   "--no-progress")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert json.loads(proc.stderr.strip().splitlines()[-2])["epoch"] == 2
    # the resumed weights differ from the first epoch's
    second = load_checkpoint(out / "final.pt")
    a = np.concatenate([p.numpy().ravel() for p in loaded.model.state_dict().values() if p.dtype.is_floating_point])
    b = np.concatenate([p.numpy().ravel() for p in second.model.state_dict().values() if p.dtype.is_floating_point])
    assert not np.allclose(a, b)


def test_unknown_config_key_is_one_line_error(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("epochs: 1\nlearning_rate: 0.1\n")
    proc = run_cli("perception.train", "--config", str(cfg), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "learning_rate" in lines[0] and "Traceback" not in proc.stderr


def test_evaluate_bad_kind_is_one_line_error(tmp_path):
    proc = run_cli("perception.evaluate", "--weights", "x.pt", "--data", "pascal:/tmp", "--split", "val")
    assert proc.returncode == 2 and "unknown dataset kind" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_evaluate_runs_the_weights_at_another_input_size(tmp_path):
    data = need(SHARED_DATA / "kitti_object_65frames")
    out = tmp_path / "e.json"
    proc = run_cli("perception.evaluate", "--data", f"kitti:{data}", "--split", "val", "--limit", "2",
                   "--imgsz", "256x832", "--no-progress", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["input_size_wh"] == [832, 256] and result["detection"]["images"] == 2
    bad = run_cli("perception.evaluate", "--data", f"kitti:{data}", "--imgsz", "250x640")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "multiples of 32" in bad.stderr


def test_log_inverse_class_weights_by_hand():
    from perception.training.losses import log_inverse_class_weights

    # 3 classes over 8 labelled pixels: class 0 x6, class 1 x2, class 2 absent; 255 pixels do not count
    mask = np.array([[0, 0, 0, 0, 255], [0, 0, 1, 1, 255]])
    w = log_inverse_class_weights([mask], 3)
    raw = np.array([1 / np.log(1.02 + 0.75), 1 / np.log(1.02 + 0.25), 1 / np.log(1.02)])
    expected = raw / (raw[0] * 0.75 + raw[1] * 0.25)           # pixel-weighted mean of the weights = 1
    assert np.allclose(w, expected, atol=1e-4)
    assert w[2] > w[1] > w[0]                                   # rarer classes weigh more
    assert log_inverse_class_weights([np.full((2, 2), 255)], 2) == (1.0, 1.0)


def test_class_weights_change_the_segmentation_loss():
    model = MultiTaskNet(ModelConfig(input_size_wh=(128, 128)))
    out = model(torch.randint(0, 256, (2, 3, 128, 128), dtype=torch.uint8))
    batch = _batch(has_det=(False, False), has_seg=(True, True))
    batch["seg_mask"][:, :, :64] = 0
    batch["seg_mask"][:, :, 64:] = 1
    from perception.training.losses import LossWeights

    n = len(model.config.seg_classes)
    plain = float(multitask_loss(out, batch)["seg"].detach())
    uniform = float(multitask_loss(out, batch, LossWeights(seg_class=(1.0,) * n))["seg"].detach())
    skewed = float(multitask_loss(out, batch, LossWeights(seg_class=(1.0, 5.0) + (1.0,) * (n - 2)))["seg"].detach())
    assert abs(plain - uniform) < 1e-5 and abs(skewed - plain) > 1e-4


def test_init_weights_starts_from_a_checkpoint_and_bad_settings_are_one_line_errors(tmp_path):
    apollo = need(SHARED_DATA / "apollo_2d_obstacle_dotah88")
    base = (f"train_data: ['apollo:{apollo}']\ntrain_repeats: [1]\nval_data: ['apollo:{apollo}']\n"
            "epochs: 1\nbatch_size: 2\ncrop_wh: [128, 128]\nmax_steps_per_epoch: 1\nworkers: 0\nlr: 1.0e-9\n")
    first = tmp_path / "a"
    (tmp_path / "a.yaml").write_text(base)
    assert run_cli("perception.train", "--config", str(tmp_path / "a.yaml"), "--output", str(first),
                   "--no-progress").returncode == 0
    (tmp_path / "b.yaml").write_text(base + f"init_weights: {first / 'final.pt'}\nseed: 5\n")
    proc = run_cli("perception.train", "--config", str(tmp_path / "b.yaml"), "--output", str(tmp_path / "b"),
                   "--no-progress")
    assert proc.returncode == 0, proc.stderr
    a, b = load_checkpoint(first / "final.pt").model, load_checkpoint(tmp_path / "b" / "final.pt").model
    # with a learning rate of 1e-9 the fine-tuned weights stay those of the start point (a new seed would not)
    wa, wb = a.seg_head.out.weight.detach(), b.seg_head.out.weight.detach()
    assert torch.allclose(wa, wb, atol=1e-5)
    for extra, needle in [("init_weights: missing.pt\n", "missing.pt"),
                          ("seg_class_balance: median\n", "seg_class_balance"),
                          ("mask_boxes: [kitti]\n", "mask_boxes")]:
        (tmp_path / "c.yaml").write_text(base + extra)
        proc = run_cli("perception.train", "--config", str(tmp_path / "c.yaml"), "--output", str(tmp_path / "c"))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], proc.stderr
