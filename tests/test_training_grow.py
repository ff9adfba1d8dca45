"""Growing base from lite: the grown network starts as the smaller one's function, then its new parts learn."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from conftest import KITTI_IMAGES, REPO, need
from perception.errors import ConfigError
from perception.model import build_model, load_checkpoint
from perception.training.config import load_train_config
from perception.training.grow import grow_state_dict

SHIPPED_LITE = REPO / "perception" / "weights" / "multitask_lite_v3-6c30ad37.pt"


def _randomised_lite(seed: int = 1) -> torch.nn.Module:
    """A lite network whose BatchNorm statistics and affine parameters are not the identity."""
    model = build_model("lite", seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
    return model.eval()


def _assert_same_outputs(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        scale = float(a[k].abs().max()) + 1e-6
        assert torch.allclose(a[k], b[k], atol=1e-4 * scale), (k, float((a[k] - b[k]).abs().max()))


def test_grown_base_computes_the_lite_function():
    small = _randomised_lite()
    big = build_model("base", seed=3)
    images = torch.randint(0, 256, (4, 3, 128, 192), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = big(images)["seg_logits"].clone()
    big.load_state_dict(grow_state_dict(small, big, images))
    with torch.no_grad():
        _assert_same_outputs(small(images), big.eval()(images))
        assert not torch.allclose(before, big(images)["seg_logits"])  # it really changed the big network


def test_grown_base_keeps_what_the_shipped_lite_sees_on_real_frames():
    frames = sorted(need(KITTI_IMAGES).glob("*.png"))[:3]
    images = torch.from_numpy(np.stack([cv2.resize(cv2.imread(str(f)), (640, 384))[:, :, ::-1] for f in frames]))
    images = images.permute(0, 3, 1, 2).contiguous()
    small = load_checkpoint(SHIPPED_LITE).model.eval()
    big = build_model("base")
    big.load_state_dict(grow_state_dict(small, big, images))
    with torch.no_grad():
        _assert_same_outputs(small(images), big.eval()(images))


def test_the_new_parts_of_a_grown_network_learn():
    small = _randomised_lite()
    big = build_model("base")
    images = torch.randint(0, 256, (2, 3, 128, 192), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    big.load_state_dict(grow_state_dict(small, big, images))
    big.train()
    loss = sum(v.float().pow(2).mean() for v in big(images).values())
    loss.backward()
    new_block_pw_bn = big.backbone.stages[3][-1].pw[1]   # stage 4 has 2 blocks in lite, 4 in base
    assert float(new_block_pw_bn.weight.detach().abs().max()) == 0.0 and float(new_block_pw_bn.weight.grad.abs().max()) > 0
    head_in = big.det_head.cls.weight                   # (classes, 192, 1, 1): inputs 96.. are new, zero at start
    assert float(head_in[:, 96:].detach().abs().max()) == 0.0 and float(head_in.grad[:, 96:].abs().max()) > 0


def test_a_network_cannot_grow_into_a_smaller_one():
    with pytest.raises(ValueError, match="cannot grow"):
        grow_state_dict(build_model("base"), build_model("lite"), torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_init_grow_needs_init_weights():
    with pytest.raises(ConfigError, match="init_grow needs init_weights"):
        load_train_config(None, {"init_grow": True})
    cfg = load_train_config(REPO / "perception" / "training" / "base_grow_cpu.yaml")
    assert cfg.init_grow and load_checkpoint(cfg.init_weights).model.config.stage_channels == (32, 64, 128, 192)


def test_distillation_pulls_the_student_towards_the_teacher():
    from perception.training.distill import distillation_loss

    teacher = _randomised_lite(seed=5)
    student = build_model("lite", seed=6).train()
    images = torch.randint(0, 256, (2, 3, 128, 192), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        taught = teacher(images)
    same = distillation_loss(taught, taught)
    assert float(same["kd_seg"]) == pytest.approx(0.0, abs=1e-5)       # KL of a distribution with itself
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-3)
    first = None
    for _ in range(15):
        kd = distillation_loss(student(images), taught)
        first = first if first is not None else float(kd["kd_total"].detach())
        optimizer.zero_grad()
        kd["kd_total"].backward()
        optimizer.step()
    assert float(distillation_loss(student(images), taught)["kd_total"].detach()) < 0.8 * first


def test_a_teacher_with_other_classes_is_refused(tmp_path):
    from conftest import run_cli

    cfg = tmp_path / "kd.yaml"
    cfg.write_text(f"teacher_weights: {SHIPPED_LITE}\nmodel:\n  det_classes: [car]\n")
    proc = run_cli("perception.train", "--config", str(cfg), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2 and "other classes" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_training_with_a_teacher_logs_the_distillation_terms(tmp_path):
    import csv

    from conftest import SHARED_DATA, run_cli

    apollo = need(SHARED_DATA / "apollo_2d_obstacle_dotah88")
    cfg = tmp_path / "kd.yaml"
    cfg.write_text(f"train_data: ['apollo:{apollo}']\ntrain_repeats: [1]\nval_data: []\nepochs: 1\nbatch_size: 2\n"
                   f"crop_wh: [128, 128]\nmax_steps_per_epoch: 2\nworkers: 0\nteacher_weights: {SHIPPED_LITE}\n")
    proc = run_cli("perception.train", "--config", str(cfg), "--output", str(tmp_path / "r"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "distilling from" in proc.stderr
    row = next(csv.DictReader(open(tmp_path / "r" / "history.csv")))
    assert float(row["loss_kd_total"]) > 0 and float(row["loss_total"]) > float(row["loss_kd_total"])
