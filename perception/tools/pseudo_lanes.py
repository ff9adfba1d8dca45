"""Turn a run's tracked lanes into TuSimple-format training labels (pseudo-labels for the row-anchor lane head).

    python -m perception.tools.pseudo_lanes --run runs/demo --output runs/pseudo_demo [--every 5]
                                            [--min-confidence 0.5]

Reads ``RUN/frames.jsonl`` and ``RUN/summary.json`` of a finished ``perception.run`` and the run's input (the path
its summary records). Every ``--every``-th frame whose lanes include both ego lines at ``--min-confidence`` or more
becomes a training frame: the picture as ``OUTPUT/clips/<input stem>/<frame>.jpg`` and one line of
``OUTPUT/label_data.json`` (TuSimple's format: each lane's x at rows every 10 px, from the lowest to the highest
10-px row its polyline spans, -2 elsewhere), readable with ``--data tusimple:OUTPUT``. ``OUTPUT/pseudo_labels.json``
records where the labels came from (run, lane source, thresholds, frames). The labels are only as right as the
lane finder on that clip: use clips where it is strong, and keep them out of anything reported as validation.
Exit codes: 0 done, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from perception.cli import OneLineArgumentParser, run_main
from perception.errors import UserInputError

ROW_STEP_PX = 10  # TuSimple's h_samples spacing
EGO_SIDES = ("ego_left", "ego_right")


def lane_row_xs(points_xy: list[list[float]], rows: np.ndarray) -> list[float]:
    """x of a polyline (points bottom to top, original pixels) at each of ``rows``; -2 where it does not reach."""
    pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
    order = np.argsort(pts[:, 1])
    ys, xs = pts[order, 1], pts[order, 0]
    out = np.interp(rows, ys, xs)
    return [round(float(x), 1) if ys[0] <= y <= ys[-1] else -2.0 for x, y in zip(out, rows)]


def select(records: list[dict], every: int, min_confidence: float) -> list[dict]:
    """The frames to label: every ``every``-th ok frame holding both ego lines at ``min_confidence`` or more."""
    chosen = []
    for rec in records:
        if rec.get("status") not in ("ok", "damaged") or rec["frame"] % every:
            continue
        lanes = [lane for lane in rec.get("lanes") or [] if lane["confidence"] >= min_confidence
                 and len(lane["points_xy"]) >= 2]
        if {lane["side"] for lane in lanes} >= set(EGO_SIDES):
            chosen.append({"frame": rec["frame"], "lanes": lanes})
    return chosen


def main(args: argparse.Namespace) -> int:
    import cv2

    from perception.sources import FailedFrame, open_source

    run = Path(args.run)
    if args.every < 1:
        raise UserInputError(f"--every must be >= 1, got {args.every}")
    if not 0.0 <= args.min_confidence <= 1.0:
        raise UserInputError(f"--min-confidence must be in [0, 1], got {args.min_confidence}")
    try:
        summary = json.loads((run / "summary.json").read_text())
        records = [json.loads(line) for line in (run / "frames.jsonl").read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as e:
        raise UserInputError(f"{run} is not a finished perception.run folder (summary.json, frames.jsonl): "
                             f"{getattr(e, 'strerror', None) or e}") from None
    info = summary.get("input") or {}
    video = (info.get("identity") or {}).get("path") or info.get("path")
    if not video or not Path(video).exists():
        raise UserInputError(f"the run's input {video!r} is not there any more")
    chosen = {c["frame"]: c for c in select(records, args.every, args.min_confidence)}
    if not chosen:
        raise UserInputError(f"no frame of {run} has both ego lines at confidence >= {args.min_confidence}")
    out = Path(args.output)
    if out.exists() and any(out.iterdir()):
        raise UserInputError(f"{out} exists and is not empty; choose another --output")
    source = open_source(video, fps=float(info.get("fps") or 10.0), topic=info.get("topic"), ego_speed=False)
    clip_dir = out / "clips" / Path(video).stem  # made once the input opens: a bad input leaves no folder
    clip_dir.mkdir(parents=True, exist_ok=True)
    lines, written, last = [], [], max(chosen)
    try:
        for item in source.iter_frames():
            if item.index > last:
                break
            if isinstance(item, FailedFrame) or item.index not in chosen:
                continue
            h = item.image_bgr.shape[0]
            name = clip_dir / f"{item.index:06d}.jpg"
            cv2.imwrite(str(name), item.image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
            lanes = chosen[item.index]["lanes"]
            top_y = min(min(p[1] for p in lane["points_xy"]) for lane in lanes)  # the highest point of any lane
            first = int(np.ceil(top_y / ROW_STEP_PX)) * ROW_STEP_PX
            rows = np.arange(first, h, ROW_STEP_PX, dtype=np.float64)
            lines.append({"lanes": [lane_row_xs(lane["points_xy"], rows) for lane in lanes],
                          "h_samples": [int(r) for r in rows], "raw_file": str(name.relative_to(out))})
            written.append(item.index)
    finally:
        source.close()
    (out / "label_data.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (out / "pseudo_labels.json").write_text(json.dumps({
        "made_by": "python -m perception.tools.pseudo_lanes", "run": str(run), "input": video,
        "lane_source": (summary.get("lanes") or {}).get("source"), "every": args.every,
        "min_confidence": args.min_confidence, "frames": written}, indent=1) + "\n")
    print(f"wrote {len(lines)} pseudo-labelled frames ({sum(len(x['lanes']) for x in lines)} lanes) to {out}",
          file=sys.stderr)
    return 0


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.tools.pseudo_lanes", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a finished perception.run output folder")
    p.add_argument("--output", required=True, help="new folder for the TuSimple-format labels and frames")
    p.add_argument("--every", type=int, default=5, help="label every N-th frame (consecutive ones are alike)")
    p.add_argument("--min-confidence", type=float, default=0.5, help="lanes below this confidence are left out")
    return p


def cli(argv: list[str] | None = None) -> int:
    return run_main(main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
