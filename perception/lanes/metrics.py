"""Measuring the lane stage: TuSimple accuracy on stills, stability on a video, errors on synthetic drives.

Used by ``benchmarks/lanes.py`` and the tests. Definitions:

* TuSimple accuracy / FP / FN: :class:`perception.metrics.lanes.LaneEvaluator` on the labelled lines a
  detector reports (ego_left, ego_right, left_left, right_right).
* Video (no labels): ``both_ego_share`` = share of frames with both ego lines; ``offset_jitter_m`` = standard
  deviation of the frame-to-frame change of ``lane_offset_m`` over consecutive frames that both have both
  ego lines and no lane-change event; ``id_flips`` = times an ego side (ego_left / ego_right) present in two
  consecutive frames changes its track id without a lane-change event.
* Synthetic (truth known): absolute errors of ``lane_offset_m`` and ``curvature_1pm``, over frames after a
  warm-up and outside the window in which a lane change is being recognised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.metrics.lanes import LaneEvaluator, tusimple_image
from perception.results import FrameResult, LaneLine

__all__ = ["FrameRecord", "run_stage", "video_stats", "tusimple_accuracy", "synthetic_errors"]


@dataclass(frozen=True)
class FrameRecord:
    """What the stage said about one frame (lanes by side -> track id, and the ego dict)."""

    frame: int
    ids_by_side: dict[str, int]
    ego: dict[str, Any]


def run_stage(stage: Callable[[FrameResult, np.ndarray], None], frames: Iterable[tuple[float, np.ndarray]],
              network_lanes: Callable[[np.ndarray], list[LaneLine]] | None = None) -> list[FrameRecord]:
    """Run a lane stage over ``(timestamp_s, frame_bgr)`` pairs; ``network_lanes`` fills ``result.lanes`` first
    (for the network source)."""
    records = []
    for index, (t_s, image) in enumerate(frames):
        result = FrameResult(frame=index, timestamp_s=t_s)
        if network_lanes is not None:
            result.lanes = network_lanes(image)
        stage(result, image)
        records.append(FrameRecord(index, {lane.side: lane.id for lane in result.lanes}, dict(result.ego or {})))
    return records


def video_stats(records: list[FrameRecord]) -> dict[str, Any]:
    """Stability numbers of a run without labels (see the module docstring)."""
    both = [r.ego.get("lines") == "both" for r in records]
    offsets = [r.ego.get("lane_offset_m") for r in records]
    steps, flips = [], 0
    for a, b, both_a, both_b in zip(records, records[1:], both, both[1:]):
        if b.ego.get("lane_change"):
            continue
        if both_a and both_b:
            steps.append(b.ego["lane_offset_m"] - a.ego["lane_offset_m"])
        for side in ("ego_left", "ego_right"):
            if side in a.ids_by_side and side in b.ids_by_side and a.ids_by_side[side] != b.ids_by_side[side]:
                flips += 1
    valid = [o for o, ok in zip(offsets, both) if ok]
    widths = [r.ego["lane_width_m"] for r, ok in zip(records, both) if ok]
    return {"frames": len(records), "both_ego_share": float(np.mean(both)) if records else 0.0,
            "offset_jitter_m": float(np.std(steps)) if steps else None,
            "offset_mean_m": float(np.mean(valid)) if valid else None,
            "offset_range_m": [float(np.min(valid)), float(np.max(valid))] if valid else None,
            "lane_width_median_m": float(np.median(widths)) if widths else None,
            "id_flips": flips,
            "lane_changes": [{"frame": r.frame, "direction": r.ego["lane_change"]}
                             for r in records if r.ego.get("lane_change")]}


def tusimple_accuracy(samples: Iterable[Any], detect: Callable[[np.ndarray], list[LaneLine]]) -> dict[str, Any]:
    """LaneEvaluator summary of ``detect`` (BGR image -> labelled LaneLines) on samples with ``lanes``.

    Samples whose ``meta`` has ``h_samples`` (the label's row grid) are scored with the benchmark's accounting
    (:mod:`perception.metrics.lanes`); ``labelled_points`` holds the same run scored on the labelled points
    only (this project's numbers before 2026-12-02), for comparison.
    """
    evaluator = LaneEvaluator()
    per_image, on_points, grids = [], [], 0  # on_points: (accuracy, fp, fn) per image, labelled points only
    for sample in samples:
        preds = [lane.points_xy for lane in detect(sample.image_bgr)]
        h_samples = sample.meta.get("h_samples")
        grids += h_samples is not None
        evaluator.add(preds, list(sample.lanes), sample.width, h_samples)
        on_points.append(tusimple_image(preds, list(sample.lanes), sample.width))
        per_image.append(round(float(evaluator.acc[-1]), 4))
    points = np.mean(on_points, axis=0) if on_points else np.zeros(3)
    return {**evaluator.summary(), "accounting": "h_samples" if grids == len(per_image) else
            ("labelled_points" if grids == 0 else "mixed"), "per_image_accuracy": per_image,
            "labelled_points": dict(zip(("tusimple_accuracy", "tusimple_fp", "tusimple_fn"), map(float, points)))}


def synthetic_errors(records: list[FrameRecord], truth: list[dict[str, Any]], *, warmup_frames: int = 10,
                     lane_change_window: int = 10) -> dict[str, Any]:
    """Errors against truth dicts (``lane_offset_m``, ``curvature_1pm``, ``lane_change`` per frame)."""
    events = [i for i, t in enumerate(truth) if t.get("lane_change")]
    off_err, curv_err = [], []
    for i, (rec, tru) in enumerate(zip(records, truth)):
        if i < warmup_frames or any(e - 2 <= i <= e + lane_change_window for e in events):
            continue
        if rec.ego.get("lane_offset_m") is None:
            continue
        off_err.append(abs(rec.ego["lane_offset_m"] - tru["lane_offset_m"]))
        curv_err.append(abs(rec.ego["curvature_1pm"] - tru["curvature_1pm"]))
    detected = [(r.frame, r.ego["lane_change"]) for r in records if r.ego.get("lane_change")]
    expected = [(i, truth[i]["lane_change"]) for i in events]
    stats = video_stats(records)

    def summary(err):
        return {"mean": float(np.mean(err)), "p95": float(np.percentile(err, 95)), "max": float(np.max(err))} \
            if err else None

    return {"frames_scored": len(off_err), "offset_abs_err_m": summary(off_err),
            "curvature_abs_err_1pm": summary(curv_err), "lane_changes_expected": expected,
            "lane_changes_detected": detected, "id_flips": stats["id_flips"],
            "both_ego_share": stats["both_ego_share"]}
