"""Render a short SYNTHETIC driving clip (flat road, dashed lanes, a lead vehicle) for demos and smoke tests.

    python -m perception.tools.synthetic_clip --output runs/synthetic_clip.mp4 [--frames 150] [--fps 25]

Used by ``make demo`` on machines without the shared dashcam clip. Every frame carries the word
SYNTHETIC so nobody mistakes it for camera footage. Geometry: pinhole camera 1.5 m above a flat
road, looking straight ahead; lane width 3.6 m; the car moves forward at 20 m/s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from perception.cli import OneLineArgumentParser

WIDTH_PX, HEIGHT_PX = 960, 540
FOCAL_PX = 800.0
CAMERA_HEIGHT_M = 1.5
LANE_WIDTH_M = 3.6
SPEED_MPS = 20.0


def _project(x_fwd_m: np.ndarray, y_left_m: np.ndarray) -> np.ndarray:
    """Road points (x forward, y left, on the ground) -> pixels (N, 2) of the demo camera."""
    u = WIDTH_PX / 2 - FOCAL_PX * y_left_m / x_fwd_m
    v = HEIGHT_PX * 0.45 + FOCAL_PX * CAMERA_HEIGHT_M / x_fwd_m
    return np.stack([u, v], axis=-1)


def render_frame(t_s: float) -> np.ndarray:
    horizon = int(HEIGHT_PX * 0.45)
    img = np.zeros((HEIGHT_PX, WIDTH_PX, 3), np.uint8)
    img[:horizon] = (235, 200, 150)     # sky (BGR)
    img[horizon:] = (90, 110, 100)      # verge
    road = _project(np.array([4.0, 4.0, 300.0, 300.0]), np.array([7.2, -7.2, -7.2, 7.2]))
    cv2.fillPoly(img, [road.astype(np.int32)], (80, 80, 80))
    travelled = SPEED_MPS * t_s
    for y_left in (-1.5 * LANE_WIDTH_M, -0.5 * LANE_WIDTH_M, 0.5 * LANE_WIDTH_M, 1.5 * LANE_WIDTH_M):
        solid = abs(y_left) > LANE_WIDTH_M
        start = 4.0 if solid else 4.0 + (-travelled % 12.0)
        step, dash = (300.0, 296.0) if solid else (12.0, 4.0)
        x = start
        while x < 300.0:
            seg = _project(np.array([x, x + dash, x + dash, x]),
                           np.array([y_left + 0.08, y_left + 0.08, y_left - 0.08, y_left - 0.08]))
            cv2.fillPoly(img, [seg.astype(np.int32)], (240, 240, 240), cv2.LINE_AA)
            x += step
    lead_x = 25.0 + 5.0 * np.sin(t_s)
    bottom = _project(np.array([lead_x, lead_x]), np.array([0.9, -0.9]))
    top_v = HEIGHT_PX * 0.45 + FOCAL_PX * (CAMERA_HEIGHT_M - 1.5) / lead_x
    x1, x2, y2 = int(bottom[0, 0]), int(bottom[1, 0]), int(bottom[0, 1])
    cv2.rectangle(img, (x1, int(top_v)), (x2, y2), (40, 40, 160), -1)
    cv2.putText(img, "SYNTHETIC", (WIDTH_PX - 190, HEIGHT_PX - 20), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                (0, 0, 255), 2, cv2.LINE_AA)
    return img


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.tools.synthetic_clip", description=__doc__.split("\n\n")[0])
    p.add_argument("--output", required=True, help="MP4 file to write")
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--fps", type=float, default=25.0)
    return p


def main(args: argparse.Namespace) -> int:
    if args.frames <= 0 or args.fps <= 0:
        print("error: --frames and --fps must be positive", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), args.fps, (WIDTH_PX, HEIGHT_PX))
    if not writer.isOpened():
        print(f"error: cannot write {out}", file=sys.stderr)
        return 2
    for i in range(args.frames):
        writer.write(render_frame(i / args.fps))
    writer.release()
    print(f"wrote {args.frames} SYNTHETIC frames to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))
