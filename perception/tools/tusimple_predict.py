"""Lane lines of labelled TuSimple frames, written in TuSimple's submission format for its own evaluation script.

    python -m perception.tools.tusimple_predict --labels ../shared/data/tusimple_sample_512x288/label_data.json
                                                [--output runs/tusimple/pred.json] [--single-view]

One JSON line per frame of the label file: ``{"raw_file": ..., "lanes": [[x per h_samples row, -2 where the line
has no point], ...], "run_time": ms}``, the lines of :func:`perception.lanes.detect_image_lanes` (the classical
finder on the still; ``--single-view`` without the four-view consensus) sampled on that frame's ``h_samples``.
``run_time`` is the measured wall time of the detection, in milliseconds; the first frame is run once untimed
before (imports and caches that a process pays once are start-up, not time per frame). TuSimple's script scores a
frame 0 when it exceeds 200 ms; the four views took 102-180 ms per still on a quiet 2-core machine
(docs/models/lanes_classical.md), so run it on a quiet machine.

The tool also prints the same predictions' score by this project's metric (:mod:`perception.metrics.lanes`,
TuSimple's row accounting, which does not apply the run-time rule), read back from the file it wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from datasets import open_dataset
from datasets.errors import DatasetFormatError
from perception.cli import OneLineArgumentParser, run_main
from perception.errors import UserInputError
from perception.lanes import detect_image_lanes
from perception.metrics.lanes import LaneEvaluator, x_at_rows

TUSIMPLE_NO_POINT = -2  # what TuSimple's files hold where a lane has no point on a row


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.tools.tusimple_predict",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--labels", required=True, help="a TuSimple label file (JSON lines; raw_file relative to it)")
    p.add_argument("--output", default="runs/tusimple/pred.json", help="where to write the predictions")
    p.add_argument("--single-view", action="store_true", help="one view per still instead of the four-view "
                                                              "consensus (faster, less accurate)")
    return p


def lanes_on_rows(polylines: list[np.ndarray], h_samples: np.ndarray, width_px: int) -> list[list[int]]:
    """Polylines (N, 2) in pixels -> TuSimple rows: per line, x rounded to a pixel at each row of ``h_samples``,
    ``TUSIMPLE_NO_POINT`` outside its row span or the image; lines without any point are left out."""
    out = []
    for line in polylines:
        x = x_at_rows(np.asarray(line, np.float64), np.asarray(h_samples, np.float64))
        ok = np.isfinite(x) & (x >= 0) & (x <= width_px - 1)
        if ok.any():
            out.append([int(round(v)) if k else TUSIMPLE_NO_POINT for v, k in zip(x, ok)])
    return out


def main(args: argparse.Namespace) -> int:
    try:
        return _predict(args)
    except DatasetFormatError as e:  # a bad label line or an undecodable image: the file and line are in it
        raise UserInputError(str(e)) from None


def _predict(args: argparse.Namespace) -> int:
    labels = Path(args.labels)
    if not labels.is_file():
        raise UserInputError(f"--labels {labels}: no such file")
    reader = open_dataset("tusimple", labels, "train")
    if len(reader) == 0:
        raise UserInputError(f"--labels {labels}: no labelled frame whose image exists")
    out_path = Path(args.output)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    samples, times_ms = [], []

    def detect(image_bgr):
        return detect_image_lanes(image_bgr, views=None) if args.single_view else detect_image_lanes(image_bgr)

    detect(reader[0].image_bgr)  # untimed: the process's one-time start-up (module docstring)
    with out_path.open("w") as f:  # one line per frame as it is done: an error later keeps the lines before
        for i in range(len(reader)):
            sample = reader[i]
            t0 = time.perf_counter()
            found = detect(sample.image_bgr)
            times_ms.append(1000.0 * (time.perf_counter() - t0))
            rows = lanes_on_rows([ln.points_xy for ln in found], sample.meta["h_samples"], sample.width)
            f.write(json.dumps({"raw_file": sample.meta["frame_id"], "lanes": rows,
                                "run_time": round(times_ms[-1], 1)}) + "\n")
            samples.append(sample)
    evaluator = LaneEvaluator()  # scores the file as written (x rounded to whole pixels)
    for sample, line in zip(samples, out_path.read_text().splitlines()):
        grid = np.asarray(sample.meta["h_samples"], np.float64)
        lanes = [np.asarray(x, np.float64) for x in json.loads(line)["lanes"]]
        evaluator.add([np.column_stack([x[x >= 0], grid[x >= 0]]) for x in lanes], list(sample.lanes),
                      sample.width, grid)
    s = evaluator.summary()
    over = sum(t > 200.0 for t in times_ms)
    print(f"{len(samples)} frames -> {out_path}\nTuSimple accuracy {s['tusimple_accuracy']:.4f}  FP {s['tusimple_fp']:.4f}"
          f"  FN {s['tusimple_fn']:.4f}  (row accounting, run-time rule not applied)\n"
          f"run_time median {np.median(times_ms):.0f} ms; {over} of {len(samples)} frames over TuSimple's 200 ms")
    return 0


def cli(argv: list[str] | None = None) -> int:
    return run_main(main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
