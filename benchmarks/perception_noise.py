"""Measure the detector's errors in the planner's terms on KITTI frames with 3D labels, next to the noise model.

    python benchmarks/perception_noise.py [--data kitti:DIR:SPLIT ...] [--model lite] [--conf 0.45]
                                          [--output benchmarks/out/perception_noise.json]

The planner's perception noise model (``perception/planning/sim/noise.py``) describes what the camera pipeline
does to a vehicle the simulator would observe: it is missed, or its road position is off. Here the shipped
detector runs as ``perception.run`` runs it (score threshold, plausibility filter, KITTI's documented mounting:
P2 and a level camera 1.65 m above the road), and each labelled vehicle the simulator could observe (KITTI Car,
Van, Truck; occlusion 0-1, truncation <= 0.5, within ``--max-lateral-m``, 10 m, of the camera: two 4 m
lanes either side and 2 m more, not the cars parked along the kerb of a city street) is matched to the kept
vehicle box (car, truck, bus) with the highest IoU >= ``--iou``:

* miss rate within and beyond ``far_m`` (50 m, the model's split), by the label's range;
* longitudinal error: road x of the box's bottom centre (as the pipeline ranges it) minus the label's range.
  KITTI's location is the 3D box's bottom centre, the simulator's x a vehicle's centre, while a box bottom
  sees the nearest face: the median (bias) is reported apart from the spread, and the spread is fitted as
  sigma = a x range + b (least squares on the absolute deviations x sqrt(pi/2), which estimates sigma of a
  Gaussian);
* lateral error: road y minus the label's (KITTI x to the right, ours y to the left), its spread.

Velocities cannot be measured on single frames, so the model's velocity noise stays assumed.
Default data: the frames the shipped weights never trained on, KITTI 65-frame ``val`` and the 6 KITTI frames.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_DATA = ("kitti:../shared/data/kitti_object_65frames:val", "kitti:../shared/data/kitti_object_6frames:trainval")
VEHICLES = ("car", "truck", "bus")


def measure(runner, config, readers, *, conf: float, iou: float, max_lateral_m: float) -> list[dict]:
    """One record per labelled vehicle: range, lateral, matched, predicted road x / y (None when missed)."""
    from perception.evaluation import MAP_DECODE, camera_for_sample, seg_labels_full
    from perception.geometry import road_xy_from_boxes
    from perception.postprocess.detection import decode_detections
    from perception.postprocess.plausibility import PlausibilityFilter
    from perception.preprocess import Preprocessor
    from perception.tracking.bytetrack import iou_matrix

    pre = Preprocessor(config.input_size_wh)
    vehicle_ids = [config.det_classes.index(c) for c in VEHICLES if c in config.det_classes]
    records = []
    for reader in readers:
        for i in range(len(reader)):
            sample = reader[i]
            camera = camera_for_sample(sample)
            attrs = sample.meta["box_attrs"]
            rgb, params = pre(sample.image_bgr)
            out = runner(rgb.transpose(2, 0, 1)[None])
            boxes, scores, labels = decode_detections(out["det_cls_logits"][0], out["det_ctr_logits"][0],
                                                      out["det_boxes_xyxy"][0], MAP_DECODE)
            boxes = pre.boxes_src_from_net(boxes, params)
            keep = (scores >= conf) & np.isin(labels, vehicle_ids)
            boxes, labels = boxes[keep], labels[keep]
            seg = seg_labels_full(out["seg_logits"][0], params)
            reasons = PlausibilityFilter(config.seg_classes, camera).reasons(
                [config.det_classes[k] for k in labels], boxes, (sample.width, sample.height), seg)
            boxes = boxes[[r is None for r in reasons]] if len(boxes) else boxes
            pred_xy = road_xy_from_boxes(camera, boxes) if len(boxes) else np.zeros((0, 2))
            names = attrs["class_name"]
            gt = [k for k in range(len(sample.boxes_xyxy)) if names[k] in ("Car", "Van", "Truck")
                  and attrs["occluded"][k] <= 1 and attrs["truncated"][k] <= 0.5
                  and abs(attrs["location_xyz_m"][k][0]) <= max_lateral_m]
            overlaps = iou_matrix(sample.boxes_xyxy[gt].astype(np.float64), boxes) if gt and len(boxes) else None
            taken: set[int] = set()
            for row, k in sorted(enumerate(gt), key=lambda rk: attrs["location_xyz_m"][rk[1]][2]):  # nearest first
                loc = attrs["location_xyz_m"][k]
                rec = {"frame": sample.meta["frame_id"], "class": str(names[k]), "range_m": float(loc[2]),
                       "lateral_m": float(-loc[0]), "matched": False, "pred_x_m": None, "pred_y_m": None}
                if overlaps is not None:
                    order = [j for j in np.argsort(-overlaps[row]) if j not in taken and overlaps[row, j] >= iou]
                    if order and np.isfinite(pred_xy[order[0]]).all():
                        j = int(order[0])
                        taken.add(j)
                        rec.update(matched=True, pred_x_m=float(pred_xy[j, 0]), pred_y_m=float(pred_xy[j, 1]))
                records.append(rec)
    return records


def fit(records: list[dict], far_m: float) -> dict:
    """Miss rates, bias and spreads (see the module docstring) from ``measure``'s records."""
    rng = np.array([r["range_m"] for r in records])
    hit = np.array([r["matched"] for r in records])
    near = rng <= far_m
    m = [r for r in records if r["matched"]]
    out = {"vehicles": len(records), "vehicles_near": int(near.sum()), "vehicles_far": int((~near).sum()),
           "miss_near": float(1 - hit[near].mean()) if near.any() else None,
           "miss_far": float(1 - hit[~near].mean()) if (~near).any() else None, "matched": len(m)}
    if len(m) < 3:
        return out
    x = np.array([r["range_m"] for r in m])
    dx = np.array([r["pred_x_m"] - r["range_m"] for r in m])
    dy = np.array([r["pred_y_m"] - r["lateral_m"] for r in m])
    bias = float(np.median(dx))
    dev = np.abs(dx - bias) * math.sqrt(math.pi / 2)  # E|N(0, s)| = s sqrt(2/pi)
    a, b = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), dev, rcond=None)[0]
    if b < 0:  # no floor: the spread through the origin
        a, b = float((x @ dev) / (x @ x)), 0.0
    if a < 0:  # no growth with range: a constant spread
        a, b = 0.0, float(dev.mean())
    out.update(x_bias_m=bias, x_sigma_fraction=float(a), x_sigma_m=float(b),
               x_error_median_abs_m=float(np.median(np.abs(dx - bias))),
               x_error_relative_median=float(np.median(np.abs(dx - bias) / x)),
               y_bias_m=float(np.median(dy)), y_sigma_m=float(np.std(dy)),
               range_m_min=float(x.min()), range_m_max=float(x.max()))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", action="append", default=None, help="kitti:DIR:SPLIT (repeatable)")
    p.add_argument("--model", default=None, help="published weights name (default: the shipped default)")
    p.add_argument("--conf", type=float, default=None, help="score threshold (default: the weights' own)")
    p.add_argument("--iou", type=float, default=0.5)
    p.add_argument("--far-m", type=float, default=50.0)
    p.add_argument("--max-lateral-m", type=float, default=10.0,
                   help="labelled vehicles at most this far sideways (m; default: two 4 m lanes either side + 2 m)")
    p.add_argument("--output", default=str(REPO / "benchmarks" / "out" / "perception_noise.json"))
    args = p.parse_args()

    from datasets import open_dataset
    from perception.backends.torch_runner import TorchRunner
    from perception.model import default_weights, load_checkpoint, published_weights
    from perception.planning.sim.noise import PerceptionNoise

    record = published_weights(args.model) if args.model else default_weights()
    loaded = load_checkpoint(record.path, expected_sha256=record.sha256)
    conf = args.conf if args.conf is not None else record.score_threshold
    readers = []
    for spec in args.data or DEFAULT_DATA:
        if spec.count(":") < 2:
            print(f"error: --data {spec!r} is not kitti:DIR:SPLIT", file=sys.stderr)
            return 2
        kind, rest = spec.split(":", 1)
        path, split = rest.rsplit(":", 1)
        if not Path(path).exists():
            print(f"error: data path not found: {path}", file=sys.stderr)
            return 2
        readers.append(open_dataset(kind, path, split))
    records = measure(TorchRunner(loaded.model, device="cpu"), loaded.model.config, readers, conf=conf, iou=args.iou,
                      max_lateral_m=args.max_lateral_m)
    result = fit(records, args.far_m)
    model = PerceptionNoise()
    rows = [("miss rate <= 50 m", model.miss_near, result.get("miss_near")),
            ("miss rate > 50 m", model.miss_far, result.get("miss_far")),
            ("longitudinal bias (m)", 0.0, result.get("x_bias_m")),
            ("longitudinal sigma per m of range", model.x_sigma_fraction, result.get("x_sigma_fraction")),
            ("longitudinal sigma floor (m)", model.x_sigma_m, result.get("x_sigma_m")),
            ("lateral bias (m)", 0.0, result.get("y_bias_m")),
            ("lateral sigma (m)", model.y_sigma_m, result.get("y_sigma_m"))]
    print(f"weights {Path(loaded.path).name}, score >= {conf}, IoU >= {args.iou}; {result['vehicles']} labelled "
          f"vehicles ({result['vehicles_near']} within {args.far_m:g} m), {result['matched']} matched")
    print("| quantity | noise model (assumed) | measured |\n|---|---|---|")
    for name, assumed, measured in rows:
        print(f"| {name} | {assumed:.3f} | {'-' if measured is None else f'{measured:.3f}'} |")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"weights": Path(loaded.path).name, "weights_sha256": loaded.sha256, "conf": conf,
                               "iou": args.iou, "far_m": args.far_m, "max_lateral_m": args.max_lateral_m,
                               "data": args.data or list(DEFAULT_DATA),
                               "assumed": {k: getattr(model, k) for k in model.__dataclass_fields__},
                               "measured": result, "vehicles": records}, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
