"""Coarse-label segmentation loss (IDD-Lite) and the EMA of weights."""

from __future__ import annotations

import numpy as np
import torch

from conftest import SHARED_DATA, need
from perception.model import MultiTaskNet, ModelConfig
from perception.training.ema import ModelEMA
from perception.training.losses import COARSE_LABEL_OFFSET, LossWeights, coarse_log_likelihood, multitask_loss


def test_coarse_loss_is_minus_log_of_the_group_probability():
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    groups = ((0,), (1, 2), (3,))
    p = torch.softmax(logits, 1)
    expected = -(torch.log(p[0, 1] + p[0, 2]) + torch.log(p[1, 3])) / 2
    got = coarse_log_likelihood(logits, torch.tensor([1, 2]), groups)
    assert torch.allclose(got, expected, atol=1e-6)
    # moving probability between members of the labelled group changes nothing
    swapped = logits[:, [0, 2, 1, 3]]
    assert torch.allclose(coarse_log_likelihood(swapped, torch.tensor([1, 2]), groups), got, atol=1e-6)


def test_coarse_pixels_do_not_enter_the_fine_cross_entropy():
    model = MultiTaskNet(ModelConfig(input_size_wh=(128, 128)))
    out = model(torch.randint(0, 256, (2, 3, 128, 128), dtype=torch.uint8))
    n = len(model.config.seg_classes)
    batch = {"cls_target": torch.zeros(2, 1), "box_target": torch.zeros(2, 1, 4), "ctr_target": torch.zeros(2, 1),
             "seg_mask": torch.full((2, 128, 128), 255, dtype=torch.long), "lane_mask": torch.zeros(2, 1, 32, 32),
             "has_det": torch.tensor([False, False]), "has_seg": torch.tensor([True, True]),
             "has_lane": torch.tensor([False, False])}
    batch["seg_mask"][0, :64] = 0                          # fine label: road
    fine_only = {k: float(v.detach()) for k, v in multitask_loss(out, batch).items()}
    batch["seg_mask"][1, :64] = COARSE_LABEL_OFFSET + 1    # coarse label: group 1
    groups = ((0,), tuple(range(1, n)))
    without_groups = {k: float(v.detach()) for k, v in multitask_loss(out, batch).items()}
    losses = multitask_loss(out, batch, LossWeights(coarse_groups=groups))
    with_groups = {k: float(v.detach()) for k, v in losses.items()}
    assert abs(without_groups["seg"] - fine_only["seg"]) < 1e-6 and without_groups["seg_coarse"] == 0
    assert abs(with_groups["seg"] - fine_only["seg"]) < 1e-6 and with_groups["seg_coarse"] > 0
    assert abs(with_groups["total"] - fine_only["total"] - with_groups["seg_coarse"]) < 1e-4


def test_idd_coarse_masks_become_training_masks_that_survive_the_letterbox():
    from datasets import open_dataset
    from datasets.transforms import letterbox
    from perception.training.data import with_coarse_labels

    root = need(SHARED_DATA / "idd20k_lite")
    sample = open_dataset("idd", str(root), "val")[0]
    coarse = sample.meta["coarse_mask"]
    converted = with_coarse_labels(sample)
    m = converted.seg_mask
    assert m.shape == coarse.shape and "coarse_mask" not in converted.meta
    assert np.array_equal(m[coarse == 255], coarse[coarse == 255])
    assert np.array_equal(m[coarse != 255], coarse[coarse != 255] + COARSE_LABEL_OFFSET)
    boxed = letterbox(converted, (640, 384))[0].seg_mask
    values = set(np.unique(boxed).tolist())
    assert values <= {255, *range(COARSE_LABEL_OFFSET, COARSE_LABEL_OFFSET + 7)} and len(values) > 3


def test_ema_starts_at_the_model_and_lags_behind_it():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = ModelEMA(model, decay=0.9, ramp_steps=1)
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].num_batches_tracked.fill_(7)
    ema.update(model)
    d = 0.9 * (1 - np.exp(-1.0))
    assert torch.allclose(ema.module[0].weight, d * start + (1 - d) * model[0].weight, atol=1e-6)
    assert int(ema.module[1].num_batches_tracked) == 7      # integer buffers are copied, not averaged
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_gpu_settings_train_on_the_cpu_too(tmp_path):
    """bf16 autocast, channels_last and the EMA are the GPU recipe's settings; they must also run here."""
    from conftest import run_cli
    from perception.model import load_checkpoint

    apollo = need(SHARED_DATA / "apollo_2d_obstacle_dotah88")
    cfg = tmp_path / "gpu_like.yaml"
    cfg.write_text(f"train_data: ['apollo:{apollo}']\ntrain_repeats: [1]\nval_data: []\nepochs: 1\nbatch_size: 2\n"
                   "crop_wh: [128, 128]\nmax_steps_per_epoch: 2\nworkers: 0\namp: bf16\nchannels_last: true\n"
                   "ema_decay: 0.9\n")
    proc = run_cli("perception.train", "--config", str(cfg), "--output", str(tmp_path / "r"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    loaded = load_checkpoint(tmp_path / "r" / "final.pt")
    assert loaded.metadata["ema_decay"] == 0.9
    assert all(torch.isfinite(p).all() for p in loaded.model.parameters())
    bad = tmp_path / "bad.yaml"
    bad.write_text(cfg.read_text().replace("amp: bf16", "amp: fp8"))
    proc = run_cli("perception.train", "--config", str(bad), "--output", str(tmp_path / "b"))
    assert proc.returncode == 2 and "amp" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
