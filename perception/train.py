"""Multi-task training on real driving data.

    python -m perception.train [--config train.yaml] [--output runs/train] [--epochs N] [--device cpu|cuda]
                               [--resume runs/train/last.pt]

Writes into the output folder: ``last.pt`` (full training state, for ``--resume``), ``final.pt`` and ``best.pt``
(model checkpoints of the last epoch and of the best validation score, in the format
``perception.run --weights`` reads, with the validation metrics in their metadata), ``history.csv`` and ``curves.png`` (losses and validation metrics per epoch), ``config.yaml``.
Exit codes: 0 done, 2 bad input, 130 interrupted (last.pt holds the last finished epoch).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from perception.cli import OneLineArgumentParser, exit_with
from perception.config import config_to_dict
from perception.errors import ConfigError, UserInputError
from perception.model import (MODEL_SIZES, MultiTaskNet, RowAnchorLayout, load_checkpoint, model_config,
                              save_checkpoint)
from perception.sinks.files import write_json_atomic
from perception.training.config import load_train_config
from perception.training.copy_paste import CopyPaste, person_instances
from perception.training.data import Collate, TrainSet, load_letterboxed, parse_data_spec
from perception.training.engine import headline, train_one_epoch, validate
from perception.training.ema import ModelEMA
from perception.training.freeze import freeze_all_but, load_init_state
from perception.training.grow import grow_state_dict
from perception.training.sampling import class_frame_fractions, epoch_indices, repeat_factors
from perception.training.losses import COARSE_LABEL_OFFSET, LossWeights, log_inverse_class_weights


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=None, help="YAML file with TrainConfig fields (unknown keys are an error)")
    p.add_argument("--output", default="runs/train", help="output folder")
    p.add_argument("--resume", default=None, metavar="LAST_PT", help="continue from a last.pt")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-steps-per-epoch", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--model", metavar="SIZE", default=None,
                   help="lite or base: widths and depths of the network (classes and input size stay the config's)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _plot_curves(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for key in ("total", "det_cls", "det_box", "det_ctr", "seg", "seg_coarse", "lane", "lane_row", "lane_row_loc"):
        if f"loss_{key}" in history[0]:
            axes[0].plot(epochs, [h[f"loss_{key}"] for h in history], label=key)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("training loss")
    axes[0].set_yscale("log")
    axes[0].legend()
    metric_keys = sorted({k for h in history for k in h if k.startswith("val_")})
    for key in metric_keys:
        pts = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
        if pts:
            axes[1].plot(*zip(*pts), marker="o", label=key[4:])
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("validation")
    axes[1].set_ylim(0, 1)
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _with_model_size(cfg: Any, size: str) -> Any:
    """``cfg`` with the widths and depths of a named model size (``--model``)."""
    if size not in MODEL_SIZES:
        raise UserInputError(f"--model must be one of {', '.join(MODEL_SIZES)}, not {size!r}")
    m = cfg.model
    return replace(cfg, model=model_config(size, det_classes=m.det_classes, seg_classes=m.seg_classes,
                                           input_size_wh=m.input_size_wh, mean_rgb=m.mean_rgb, std_rgb=m.std_rgb,
                                           lane_rows=m.lane_rows, lane_row_channels=m.lane_row_channels))


def _calibration_images(samples: list, count: int = 32) -> Any:
    """uint8 RGB (count, 3, H, W): training frames spread evenly over ``samples`` (all letterboxed alike)."""
    import numpy as np
    import torch

    picks = [samples[i] for i in np.linspace(0, len(samples) - 1, min(count, len(samples))).astype(int)]
    return torch.from_numpy(np.stack([s.image_bgr[:, :, ::-1] for s in picks])).permute(0, 3, 1, 2).contiguous()


def _coarse_groups(samples: list, seg_classes: tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
    """Fine class indices inside each IDD coarse class, when some training mask carries coarse labels."""
    import numpy as np

    if not any(s.seg_mask is not None and np.any((s.seg_mask >= COARSE_LABEL_OFFSET) & (s.seg_mask != 255))
               for s in samples):
        return ()
    from datasets.idd import FINE_TO_COARSE, IDD_COARSE_CLASSES

    groups = tuple(tuple(i for i, name in enumerate(seg_classes) if FINE_TO_COARSE.get(name) == coarse)
                   for coarse in IDD_COARSE_CLASSES)
    empty = [c for c, g in zip(IDD_COARSE_CLASSES, groups) if not g]
    if empty:
        raise ConfigError(f"coarse classes {empty} contain none of the segmentation classes {list(seg_classes)}")
    print("coarse labels: " + "; ".join(f"{c} = {'+'.join(seg_classes[i] for i in g)}"
                                        for c, g in zip(IDD_COARSE_CLASSES, groups)), file=sys.stderr)
    return groups


def main(args: argparse.Namespace) -> int:
    import torch
    import yaml

    out = Path(args.output)
    try:
        state = None
        if args.resume:
            if not Path(args.resume).is_file():
                raise UserInputError(f"--resume file not found: {args.resume}")
            try:
                state = torch.load(args.resume, map_location="cpu", weights_only=True)
            except Exception as e:
                raise UserInputError(f"cannot read --resume {args.resume}: {str(e).splitlines()[0][:160]}") from None
            base = state["config"]
            overrides = {"epochs": args.epochs}
            cfg = load_train_config(None, {**base, **{k: v for k, v in overrides.items() if v is not None}})
        else:
            cfg = load_train_config(args.config, {
                "epochs": args.epochs, "batch_size": args.batch_size, "device": args.device, "workers": args.workers,
                "threads": args.threads, "max_steps_per_epoch": args.max_steps_per_epoch, "seed": args.seed})
            if args.model is not None:
                cfg = _with_model_size(cfg, args.model)
        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            raise UserInputError(f"device {cfg.device} requested but CUDA is not available")
        # fine-tuning start point: read (hash-checked, weights_only) before the slow data loading
        init = load_checkpoint(cfg.init_weights) if cfg.init_weights and state is None else None
        teacher = load_checkpoint(cfg.teacher_weights).model if cfg.teacher_weights else None
        if teacher is not None and (teacher.config.det_classes, teacher.config.seg_classes) != (
                cfg.model.det_classes, cfg.model.seg_classes):
            raise ConfigError(f"teacher_weights {cfg.teacher_weights} have other classes than the model trained")
        _seed_everything(cfg.seed)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        print(f"loading data: {', '.join(cfg.train_data)}", file=sys.stderr)
        t0 = time.perf_counter()
        samples = []
        for spec, repeat in zip(cfg.train_data, cfg.train_repeats):
            part = load_letterboxed(spec, cfg.train_split, cfg.model.input_size_wh)
            if parse_data_spec(spec)[0] in cfg.mask_boxes:
                from datasets.mask_boxes import with_mask_boxes

                part = [with_mask_boxes(s) for s in part]
                print(f"  {spec}: {sum(len(s.boxes_xyxy) for s in part)} boxes from mask components",
                      file=sys.stderr)
            print(f"  {spec} [{cfg.train_split}]: {len(part)} frames x{repeat}", file=sys.stderr)
            samples.extend(part * repeat)
        from datasets import open_dataset

        val_readers = {}
        for spec in cfg.val_data:
            kind, path = parse_data_spec(spec)
            name = Path(path).name if kind == "packed" else kind  # a pack's folders are named by their kind
            if name in val_readers:
                raise UserInputError(f"val_data names {name} twice")
            try:
                val_readers[name] = open_dataset(kind, path, cfg.val_split)
            except (ValueError, FileNotFoundError, OSError) as e:
                raise UserInputError(f"cannot open validation data {spec}: {e}") from None
            print(f"  {spec} [{cfg.val_split}] for validation: {len(val_readers[name])} frames", file=sys.stderr)
        print(f"data ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    except (UserInputError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    torch.manual_seed(cfg.seed)
    model = MultiTaskNet(cfg.model)
    if init is not None and cfg.init_grow:
        try:
            model.load_state_dict(grow_state_dict(init.model, model, _calibration_images(samples)))
        except ValueError as e:
            print(f"error: cannot grow init_weights {cfg.init_weights} into the configured model: {e}", file=sys.stderr)
            return 2
        print(f"grown from {cfg.init_weights} (sha256 {init.sha256[:12]}): the same outputs at the start",
              file=sys.stderr)
    elif init is not None:
        try:
            new_parts = load_init_state(model, init.model.state_dict())
        except RuntimeError as e:
            print(f"error: init_weights {cfg.init_weights} do not fit the configured model: "
                  f"{str(e).splitlines()[0][:160]}", file=sys.stderr)
            return 2
        print(f"initialised from {cfg.init_weights} (sha256 {init.sha256[:12]})", file=sys.stderr)
        for part in new_parts:
            n = sum(t.numel() for t in getattr(model, part).state_dict().values())
            print(f"init_weights have no {part}: its {n} values start from random init; every other tensor was "
                  f"loaded", file=sys.stderr)
    if teacher is not None:
        teacher = teacher.to(cfg.device).eval().requires_grad_(False)
        print(f"distilling from {cfg.teacher_weights} ({sum(p.numel() for p in teacher.parameters())} parameters), "
              f"kd_weight {cfg.kd_weight}", file=sys.stderr)
    trainable = freeze_all_but(model, cfg.train_only)
    if cfg.train_only:
        frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        print(f"training only {', '.join(cfg.train_only)} ({sum(p.numel() for p in trainable)} parameters); "
              f"{frozen} parameters frozen, their modules in eval mode", file=sys.stderr)
    model = model.to(cfg.device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    paste = None
    if cfg.copy_paste.p > 0:
        instances = person_instances(samples, cfg.copy_paste)
        print(f"copy-paste: {len(instances)} people cut from mask-labelled frames, pasted with p "
              f"{cfg.copy_paste.p}", file=sys.stderr)
        paste = CopyPaste(instances, cfg.copy_paste)
    trainset = TrainSet(samples, cfg.crop_wh, cfg.augment, seed=cfg.seed, paste=paste, mosaic_p=cfg.mosaic_p)
    factors = None
    if cfg.det_class_balance == "repeat_factor":
        n_cls = len(cfg.model.det_classes)
        factors = repeat_factors(samples, n_cls, cfg.repeat_factor_threshold)
        fractions = class_frame_fractions(samples, n_cls)
        print("repeat-factor sampling (share of detection frames holding each class): " + ", ".join(
            f"{n} {f:.3f}" for n, f in zip(cfg.model.det_classes, fractions)) + f"; {int((factors > 1).sum())} of "
            f"{len(samples)} frames repeated, factors up to {factors.max():.2f}", file=sys.stderr)
    collate = Collate(model.det_head, row_layout=RowAnchorLayout.of(cfg.model) if cfg.model.lane_rows else None)
    steps_per_epoch = len(trainset) // cfg.batch_size
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                    pct_start=0.1)
    history: list[dict[str, Any]] = []
    start_epoch, best_score = 1, -1.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sched_state = dict(state["scheduler"])
        # --epochs on resume re-plans the one-cycle schedule for the new length from the current step
        sched_state.pop("_schedule_phases", None)
        sched_state["total_steps"] = scheduler.total_steps
        scheduler.load_state_dict(sched_state)
        history, start_epoch, best_score = state["history"], state["epoch"] + 1, state["best_score"]
        print(f"resumed from {args.resume} after epoch {state['epoch']}", file=sys.stderr)
    seg_class: tuple[float, ...] = ()
    if cfg.seg_class_balance == "log_inverse":
        seg_class = log_inverse_class_weights([s.seg_mask for s in samples if s.seg_mask is not None],
                                              len(cfg.model.seg_classes))
        print("segmentation class weights: " + ", ".join(
            f"{n} {w:.2f}" for n, w in zip(cfg.model.seg_classes, seg_class)), file=sys.stderr)
    weights = LossWeights(cfg.det_weight, cfg.seg_weight, cfg.lane_weight, seg_class,
                          _coarse_groups(samples, cfg.model.seg_classes), lane_rows=cfg.lane_row_weight)
    ema = None
    if cfg.ema_decay:
        ema = ModelEMA(model, cfg.ema_decay)
        if state is not None and "ema" in state:
            ema.module.load_state_dict(state["ema"])
            ema.updates = int(state["ema_updates"])
    command = "python -m perception.train " + " ".join(sys.argv[1:])
    step_model = torch.compile(model) if cfg.compile else model  # shares its parameters with ``model``
    t_train = time.perf_counter() - (history[-1]["wall_time_s"] if history else 0.0)
    try:
        for epoch in range(start_epoch, cfg.epochs + 1):
            trainset.epoch = epoch
            g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
            order = None if factors is None else epoch_indices(factors, cfg.seed, epoch)
            loader = torch.utils.data.DataLoader(trainset, batch_size=cfg.batch_size, shuffle=order is None,
                                                 sampler=order, generator=g,
                                                 drop_last=True, collate_fn=collate, num_workers=cfg.workers,
                                                 pin_memory=cfg.device.startswith("cuda"))
            losses = train_one_epoch(step_model, loader, optimizer, scheduler, cfg.device, weights, epoch=epoch,
                                     max_steps=steps_per_epoch, progress=not args.no_progress, ema=ema,
                                     amp=cfg.amp, channels_last=cfg.channels_last, train_only=cfg.train_only,
                                     teacher=teacher, kd_weight=cfg.kd_weight, kd_temperature=cfg.kd_temperature)
            shipped = ema.module if ema is not None else model  # the weights validated and saved
            row: dict[str, Any] = {"epoch": epoch, **{f"loss_{k}": round(v, 5) for k, v in losses.items()}}
            metrics = None
            if epoch % cfg.val_every == 0 or epoch == cfg.epochs:
                metrics = validate(shipped, val_readers, cfg.device)
                row.update({f"val_{k}": round(v, 4) for k, v in headline(metrics).items()})
                score = sum(headline(metrics).values())
                if score > best_score:
                    best_score = score
                    save_checkpoint(shipped.cpu(), out / "best.pt", metadata={
                        "epoch": epoch, "val_split": cfg.val_split, "val_data": list(cfg.val_data),
                        "train_data": list(cfg.train_data), "metrics": metrics, "command": command})
                    shipped.to(cfg.device)
                    write_json_atomic(out / "best_metrics.json", {"epoch": epoch, **metrics})
            row["wall_time_s"] = round(time.perf_counter() - t_train, 1)
            history.append(row)
            resume_state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "epoch": epoch, "history": history,
                            "best_score": best_score, "config": config_to_dict(cfg)}
            if ema is not None:
                resume_state.update(ema=ema.module.state_dict(), ema_updates=ema.updates)
            torch.save(resume_state, out / "last.pt.tmp")
            (out / "last.pt.tmp").replace(out / "last.pt")
            with open(out / "history.csv", "w", newline="") as f:
                keys = sorted({k for h in history for k in h}, key=lambda k: (k != "epoch", k))
                writer = csv.DictWriter(f, fieldnames=keys)
                writer.writeheader()
                writer.writerows(history)
            _plot_curves(history, out / "curves.png")
            print(json.dumps(row), file=sys.stderr)
            if epoch == cfg.epochs:
                save_checkpoint(shipped.cpu(), out / "final.pt", metadata={
                    "epoch": epoch, "val_split": cfg.val_split, "val_data": list(cfg.val_data),
                    "train_data": list(cfg.train_data), "metrics": metrics, "command": command,
                    "wall_time_s": row["wall_time_s"], "ema_decay": cfg.ema_decay})
                shipped.to(cfg.device)
    except KeyboardInterrupt:
        print(f"interrupted: {out / 'last.pt'} holds the last finished epoch; continue with --resume", file=sys.stderr)
        return 130
    print(f"done: final checkpoint {out / 'final.pt'}, best on validation {out / 'best.pt'} "
          f"(score {best_score:.4f}), curves {out / 'curves.png'}",
          file=sys.stderr)
    return 0


def cli() -> None:
    """Console-script entry point."""
    exit_with(main(get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
