"""The loops: ``train_one_epoch`` and ``validate`` (plain functions, torchvision-references style)."""

from __future__ import annotations

import math
import sys
from typing import Any

import torch

from perception.backends.torch_runner import TorchRunner
from perception.evaluation import evaluate_reader
from perception.training.distill import distillation_loss
from perception.training.freeze import heads_to_run, set_train_mode
from perception.training.losses import LossWeights, multitask_loss


def train_one_epoch(model: torch.nn.Module, loader: Any, optimizer: torch.optim.Optimizer, scheduler: Any,
                    device: str, weights: LossWeights, *, epoch: int, max_steps: int = 0,
                    progress: bool = True, ema: Any = None, amp: str = "none",
                    channels_last: bool = False, train_only: tuple[str, ...] = (),
                    teacher: torch.nn.Module | None = None, kd_weight: float = 1.0,
                    kd_temperature: float = 2.0) -> dict[str, float]:
    """One pass over ``loader``; returns the mean of each loss term.

    ``teacher`` (eval mode, no gradients): its outputs on the same batch add ``kd_weight`` x the distillation
    terms (``perception.training.distill``) to the total.

    ``ema`` (ModelEMA) follows every step. ``amp="bf16"`` runs the forward pass under bfloat16 autocast (the
    losses are computed in float32); ``channels_last`` feeds NHWC images. ``train_only``: the parts that learn
    (``perception.training.freeze``); the others stay in eval mode, and when only heads learn only they run.
    """
    from tqdm import tqdm

    set_train_mode(model, train_only)
    heads = heads_to_run(train_only)
    sums: dict[str, float] = {}
    steps = 0
    total = len(loader) if not max_steps else min(max_steps, len(loader))
    bar = tqdm(loader, total=total, desc=f"epoch {epoch}", unit="batch", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    for batch in bar:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        images = batch["images"].contiguous(memory_format=torch.channels_last) if channels_last else batch["images"]
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=amp == "bf16"):
            out = model(images) if heads is None else model(images, heads=heads)
        out = {k: v.float() for k, v in out.items()}
        losses = multitask_loss(out, batch, weights)
        if teacher is not None:
            with torch.no_grad(), torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16,
                                                 enabled=amp == "bf16"):
                taught = {k: v.float() for k, v in teacher(images).items()}
            kd = distillation_loss(out, taught, kd_temperature)
            losses.update(kd)
            losses["total"] = losses["total"] + kd_weight * kd["kd_total"]
        loss = losses["total"]
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(f"loss became {float(loss.detach())} at epoch {epoch} step {steps}: "
                                     f"{ {k: float(v.detach()) for k, v in losses.items()} }")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(model)
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        steps += 1
        bar.set_postfix(loss=f"{sums['total'] / steps:.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
        if max_steps and steps >= max_steps:
            break
    bar.close()
    return {k: v / max(steps, 1) for k, v in sums.items()}


@torch.no_grad()
def validate(model: torch.nn.Module, readers: dict[str, Any], device: str) -> dict[str, Any]:
    """Metrics per validation source: {"camvid": {"segmentation": ...}, "apollo": {"detection": ...}}."""
    model.eval()
    runner = TorchRunner(model, device=device)
    return {name: evaluate_reader(runner, model.config, reader) for name, reader in readers.items()}


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers we select checkpoints by: mean IoU, AP50 and CULane lane F1 over whatever the validation had."""
    out: dict[str, float] = {}
    for name, m in metrics.items():
        if "segmentation" in m:
            out[f"{name}_miou"] = m["segmentation"]["miou"]
        if "detection" in m:
            out[f"{name}_map50"] = m["detection"]["map_50"]
        if "lanes" in m:
            out[f"{name}_lane_f1"] = m["lanes"]["culane_f1"]
    return out
