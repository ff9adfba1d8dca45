"""Sweep the detection score threshold on a labelled split: precision, recall and F1 per threshold.

    python -m perception.tools.score_threshold [--weights W.pt] [--data apollo:../shared/data/apollo_2d_obstacle_dotah88]
                                               [--split val] [--thresholds 0.30:0.60:0.05]

A prediction is a true positive when it overlaps a not yet matched ground-truth box of the same class with
IoU >= 0.5 (greedy, highest score first); ignore regions are not used. The threshold with the best F1 on the
validation split is what the weights record stores as its default (``WeightsRecord.score_threshold``).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from datasets import open_dataset
from perception.backends.runner import make_runner
from perception.cli import OneLineArgumentParser, run_main
from perception.errors import UserInputError
from perception.model import default_weights, load_checkpoint
from perception.postprocess import DetectionDecodeConfig
from perception.postprocess.detection import decode_detections
from perception.preprocess import Preprocessor
from perception.tracking import iou_matrix


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.tools.score_threshold", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="checkpoint .pt (default: the shipped weights)")
    p.add_argument("--data", default="apollo:../shared/data/apollo_2d_obstacle_dotah88", metavar="KIND:PATH")
    p.add_argument("--split", default="val")
    p.add_argument("--thresholds", default="0.30:0.60:0.05", metavar="START:STOP:STEP", help="inclusive range")
    return p


def counts_at(dets: list, threshold: float) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) over frames of (boxes, scores, labels, gt_boxes, gt_labels)."""
    tp = fp = fn = 0
    for boxes, scores, labels, gt_boxes, gt_labels in dets:
        keep = scores >= threshold
        order = np.argsort(-scores[keep])
        boxes, labels = boxes[keep][order], labels[keep][order]
        used = np.zeros(len(gt_boxes), dtype=bool)
        iou = iou_matrix(boxes, gt_boxes)  # (predictions, ground truth)
        for j in range(len(boxes)):
            ok = (~used) & (gt_labels == labels[j]) & (iou[j] >= 0.5) if len(gt_boxes) else np.zeros(0, bool)
            if ok.any():
                used[np.flatnonzero(ok)[np.argmax(iou[j][ok])]] = True
                tp += 1
            else:
                fp += 1
        fn += int((~used).sum())
    return tp, fp, fn


def main(args: argparse.Namespace) -> int:
    try:
        start, stop, step = (float(v) for v in args.thresholds.split(":"))
    except ValueError:
        raise UserInputError(f"--thresholds {args.thresholds!r}: expected START:STOP:STEP") from None
    kind, _, path = args.data.partition(":")
    record = default_weights()
    if args.weights is None and record is None:
        raise UserInputError("no shipped weights: pass --weights")
    model = (load_checkpoint(args.weights) if args.weights else
             load_checkpoint(record.path, expected_sha256=record.sha256)).model
    runner = make_runner("torch", model=model, device="cpu")
    reader = open_dataset(kind, path, args.split)
    pre = Preprocessor(model.config.input_size_wh)
    decode = DetectionDecodeConfig(conf_threshold=min(start, 0.05), max_detections=100)
    dets = []
    for i in range(len(reader)):
        sample = reader[i]
        if sample.boxes_xyxy is None:
            continue
        rgb, params = pre(sample.image_bgr)
        out = runner(rgb.transpose(2, 0, 1)[None])
        boxes, scores, labels = decode_detections(out["det_cls_logits"][0], out["det_ctr_logits"][0],
                                                  out["det_boxes_xyxy"][0], decode)
        dets.append((np.asarray(pre.boxes_src_from_net(boxes, params)).reshape(-1, 4), np.asarray(scores),
                     np.asarray(labels), np.asarray(sample.boxes_xyxy).reshape(-1, 4), np.asarray(sample.labels)))
    if not dets:
        raise UserInputError(f"{args.data} split {args.split}: no frames with boxes")
    print(f"{len(dets)} frames\nthreshold  precision  recall     F1")
    for th in np.arange(start, stop + step / 2, step):
        tp, fp, fn = counts_at(dets, th)
        p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        print(f"{th:9.2f}  {p:9.3f}  {r:6.3f}  {2 * p * r / max(p + r, 1e-9):5.3f}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    return run_main(main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
