"""Evaluate weights on a labelled dataset: prints a table and writes JSON.

    python -m perception.evaluate --weights W --data KIND:PATH --split val|test [--output metrics.json]

KIND: camvid, apollo, kitti, yolo, tusimple, tusimple_lanenet, bdd100k, coco, cityscapes, culane, idd.
Detection: mAP@0.5 and mAP@0.5:0.95 (pycocotools), per-class AP50, and precision / recall at the weights'
score threshold, each for the raw boxes and for the boxes that pass the plausibility filter (as
``perception.run`` reports them); "large unmatched" counts boxes over 15 % of the frame that match no label.
Segmentation: mIoU, per-class IoU, road (drivable) IoU; ignore label 255 is skipped (IDD-Lite: coarse mIoU
over its 7 level-1 classes). Lanes: TuSimple accuracy / FP / FN and CULane precision / recall / F1, of the lane source
``--lanes``: ``classical`` (default, ``perception.lanes.DEFAULT_LANE_SOURCE``, as in ``perception.run``: the classical
finder on each still), ``auto`` = the row-anchor head when the weights have one, else the lane-mask head; ``rows``,
``mask``.
For ``culane:DIR`` without ``DIR/list/val.txt`` (the shared 2-clip sample) ``train`` / ``val`` are fixed frame-index
blocks of ``list/train.txt`` (datasets/culane.py); ``night`` is ``list/night.txt``.
For ``camvid:DIR`` the split list is ``DIR/<split>.txt``; for ``apollo:DIR`` frames are under
``DIR/<split>/images`` and ``DIR/<split>/labels`` (``val`` is the 20% split off ``train/``).
Without ``--weights`` the shipped default weights are used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from perception.cli import OneLineArgumentParser, parse_imgsz
from perception.errors import ConfigError, UserInputError
from perception.lanes import DEFAULT_LANE_SOURCE

LANE_SOURCES = ("auto", "rows", "mask", "classical")  # = perception.evaluation.LANE_SOURCES (imported lazily there)

DEFAULT_SCORE_THRESHOLD = 0.3  # perception.run's threshold for weights without a record
KINDS = ("camvid", "apollo", "kitti", "yolo", "tusimple", "tusimple_lanenet", "bdd100k", "coco", "cityscapes", "culane",
         "idd")


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="checkpoint .pt (default: the shipped weights)")
    p.add_argument("--model", metavar="SIZE", default=None,
                   help="lite or base: the published weights of this model size (instead of --weights)")
    p.add_argument("--data", required=True, metavar="KIND:PATH")
    p.add_argument("--split", default="val")
    p.add_argument("--output", default=None, help="JSON file (default: runs/eval/<kind>_<split>.json)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N frames")
    p.add_argument("--conf", type=float, default=None,
                   help="score threshold for precision/recall (default: the shipped weights' threshold, else "
                        f"{DEFAULT_SCORE_THRESHOLD})")
    p.add_argument("--lanes", choices=LANE_SOURCES, default=DEFAULT_LANE_SOURCE,
                   help=f"lane source to score (default {DEFAULT_LANE_SOURCE}, as perception.run): classical, auto "
                        "(the network's row-anchor head when present, else its lane-mask head), rows, mask")
    p.add_argument("--imgsz", type=parse_imgsz, default=None, metavar="HxW",
                   help="network input size, multiples of 32 (default: the weights' own, 384x640 for lite); the "
                        "network is fully convolutional, so a larger input shows small objects larger")
    p.add_argument("--no-progress", action="store_true")
    return p


def format_table(results: dict[str, Any]) -> str:
    lines = []
    if "segmentation" in results:
        s = results["segmentation"]
        lines.append(f"segmentation ({s['images']} images): mIoU {s['miou']:.4f}  road IoU "
                     f"{s['road_iou'] if s['road_iou'] is not None else float('nan'):.4f}  "
                     f"pixel acc {s['pixel_accuracy']:.4f}")
        lines.append(f"  {'class':<14}{'IoU':>8}")
        for name, v in s["per_class_iou"].items():
            lines.append(f"  {name:<14}{'-' if v is None else f'{v:.4f}':>8}")
    if "coarse_segmentation" in results:
        s = results["coarse_segmentation"]
        lines.append(f"coarse segmentation ({s['images']} images, IDD level 1): mIoU {s['miou']:.4f}  "
                     f"pixel acc {s['pixel_accuracy']:.4f}")
        for name, v in s["per_class_iou"].items():
            lines.append(f"  {name:<18}{'-' if v is None else f'{v:.4f}':>8}")
    for key, title in (("detection", "detection, raw boxes"), ("detection_filtered", "detection, plausible boxes")):
        if key not in results:
            continue
        d = results[key]
        op = d["at_threshold"]

        def pct(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"

        lines.append(f"{title} ({d['images']} images, {d['detections']} detections): mAP@0.5 {d['map_50']:.4f}  "
                     f"mAP@0.5:0.95 {d['map_50_95']:.4f}  | at score >= {op['score_threshold']:.2f}: precision "
                     f"{pct(op['overall']['precision'])} recall {pct(op['overall']['recall'])}  large unmatched "
                     f"{op['large_unmatched']}")
        if "suppressed" in d:
            lines.append("  suppressed (all scores): " + ", ".join(f"{k} {v}" for k, v in d["suppressed"].items()))
        lines.append(f"  {'class':<14}{'AP50':>8}{'GT boxes':>10}{'precision':>11}{'recall':>8}")
        for name, v in d["per_class_ap50"].items():
            pc = op["per_class"][name]
            lines.append(f"  {name:<14}{'-' if v is None else f'{v:.4f}':>8}{d['per_class_gt'][name]:>10}"
                         f"{pct(pc['precision']):>11}{pct(pc['recall']):>8}")
    if "lanes" in results:
        la = results["lanes"]
        lines.append(f"lanes ({la['images']} images, source {la.get('source', '?')}): TuSimple accuracy "
                     f"{la['tusimple_accuracy']:.4f}  FP {la['tusimple_fp']:.4f}  FN {la['tusimple_fn']:.4f}")
        lines.append(f"  CULane precision {la['culane_precision']:.4f}  recall {la['culane_recall']:.4f}  "
                     f"F1 {la['culane_f1']:.4f}  ({la['pred_lanes']} predicted, {la['gt_lanes']} labelled lanes)")
    return "\n".join(lines) if lines else "no labelled samples for any task"


def main(args: argparse.Namespace) -> int:
    from datasets import open_dataset
    from perception.backends.torch_runner import TorchRunner
    from perception.evaluation import evaluate_reader
    from perception.model import default_weights, load_checkpoint, published_weights, with_input_size
    from perception.sinks.files import write_json_atomic
    from perception.training.data import parse_data_spec

    try:
        kind, path = parse_data_spec(args.data)
        if kind not in KINDS:
            raise UserInputError(f"unknown dataset kind {kind!r}; expected one of: {', '.join(KINDS)}")
        if not Path(path).exists():
            raise UserInputError(f"data path not found: {path}")
        if args.weights and args.model:
            raise UserInputError("give --weights or --model, not both")
        if args.weights:
            loaded = load_checkpoint(args.weights)
            threshold = args.conf if args.conf is not None else DEFAULT_SCORE_THRESHOLD
        else:
            try:
                record = published_weights(args.model) if args.model else default_weights()
            except ConfigError as e:
                raise UserInputError(f"--model: {e}") from None
            if record is None:
                raise UserInputError("no --weights given and no trained weights ship with this version")
            loaded = load_checkpoint(record.path, expected_sha256=record.sha256)
            threshold = args.conf if args.conf is not None else record.score_threshold
        if not 0.0 <= threshold <= 1.0:
            raise UserInputError(f"--conf must be in [0, 1], got {threshold}")
        try:
            reader = open_dataset(kind, path, args.split)
        except (ValueError, FileNotFoundError, OSError) as e:
            raise UserInputError(f"cannot open {args.data} split {args.split!r}: {e}") from None
        if args.lanes == "rows" and not loaded.model.config.lane_rows:
            raise UserInputError(f"--lanes rows: the weights {loaded.path} have no row-anchor lane head")
        try:
            config = with_input_size(loaded.model.config, args.imgsz)
        except ValueError as e:
            raise UserInputError(f"--imgsz: {e}") from None
        runner = TorchRunner(loaded.model, device=args.device)
        tasks = ("det", "seg", "lane")
        results = evaluate_reader(runner, config, reader, tasks=tasks, progress=not args.no_progress,
                                  limit=args.limit, score_threshold=threshold, lane_source=args.lanes)
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = {"weights": loaded.path, "weights_sha256": loaded.sha256, "input_size_wh": list(config.input_size_wh),
               "data": args.data, "split": args.split,
               "frames": len(reader) if args.limit is None else min(args.limit, len(reader)), **results}
    print(format_table(results))
    out = Path(args.output) if args.output else Path("runs") / "eval" / f"{kind}_{args.split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, results)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def cli() -> None:
    """Console-script entry point."""
    raise SystemExit(main(get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
