"""CLI: camera pitch and yaw from the lane lines of a driving video (vanishing point, flat straight road).

    python -m calibration.extrinsics --video V --camera C [--height-m H] [--output camera.yaml]
                                     [--max-frames N] [--stride S]

``--camera`` is a camera file (any format :func:`calibration.io.load_camera` reads) or the word ``default``
for :func:`calibration.camera.default_camera` (60 degree horizontal FOV; the angles are then only as good as
that guess). A camera file for a different resolution with the same aspect ratio is scaled to the video
(and a note says so). Prints the convergence report (:mod:`calibration.pitch_yaw`); with ``--output`` writes
the camera with the estimated pitch and yaw (and ``--height-m``) as OpenCV YAML.
Exit status: 0 when an estimate was made (converged or not: see the report), 2 on bad input or when no
frame gave an estimate.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from calibration.camera import CameraModel, default_camera
from calibration.errors import CalibrationError
from calibration.io import load_camera, save_camera_opencv
from calibration.pitch_yaw import estimate_pitch_yaw, format_pitch_yaw_report

__all__ = ["iter_video_frames", "camera_for_video", "get_args_parser", "main"]


def iter_video_frames(path: Path, max_frames: int | None = None, stride: int = 1) -> Iterator[np.ndarray]:
    """BGR frames (H, W, 3) of a video file: every ``stride``-th, at most ``max_frames`` of them."""
    capture = cv2.VideoCapture(str(path))
    try:
        index = yielded = 0
        while max_frames is None or yielded < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if index % stride == 0:
                yielded += 1
                yield frame
            index += 1
    finally:
        capture.release()


def _video_size_wh(path: Path) -> tuple[int, int]:
    if not path.is_file():
        raise CalibrationError(f"--video: no such file: {path}")
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read() if capture.isOpened() else (False, None)
    capture.release()
    if not ok:
        raise CalibrationError(f"--video: cannot read frames from {path}")
    return frame.shape[1], frame.shape[0]


def camera_for_video(camera_arg: str, size_wh: tuple[int, int]) -> tuple[CameraModel, str]:
    """The camera for ``--camera`` at the video's size, and a note for the user ('' if nothing to say)."""
    if camera_arg == "default":
        camera = default_camera(*size_wh)
        return camera, f"note: using the default camera ({camera.name}); angles depend on that guess"
    camera = load_camera(camera_arg)
    if camera.image_size_wh == size_wh:
        return camera, ""
    try:
        scaled = camera.scaled_to_image(*size_wh)
    except CalibrationError as e:
        raise CalibrationError(f"{camera_arg}: {str(e).replace('the image', 'the video')}") from None
    note = f"note: camera file is {camera.width_px}x{camera.height_px}, video {size_wh[0]}x{size_wh[1]}: K scaled"
    return scaled, note


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m calibration.extrinsics",
        description="Estimate camera pitch and yaw from the lane-line vanishing point in a driving video.",
    )
    parser.add_argument("--video", required=True, type=Path, help="driving video (straight road, lane lines)")
    parser.add_argument("--camera", required=True, help="camera file, or 'default' (60 deg HFOV guess)")
    parser.add_argument("--height-m", type=float, default=None, help="camera height above the road to record")
    parser.add_argument("--output", type=Path, default=None, help="write the camera with pitch/yaw (OpenCV YAML)")
    parser.add_argument("--max-frames", type=int, default=None, help="use at most this many frames")
    parser.add_argument("--stride", type=int, default=1, help="use every N-th frame")
    return parser


def main(args: argparse.Namespace) -> int:
    try:
        if args.stride < 1 or (args.max_frames is not None and args.max_frames < 1):
            raise CalibrationError("--stride and --max-frames must be >= 1")
        if args.height_m is not None and not (args.height_m > 0 and math.isfinite(args.height_m)):
            raise CalibrationError(f"--height-m must be > 0, got {args.height_m}")
        if args.output is not None and not args.output.parent.is_dir():
            raise CalibrationError(f"--output: folder {args.output.parent} does not exist")
        camera, note = camera_for_video(args.camera, _video_size_wh(args.video))
        if note:
            print(note)
        estimate = estimate_pitch_yaw(iter_video_frames(args.video, args.max_frames, args.stride), camera)
        print(format_pitch_yaw_report(estimate))
        if estimate.frames_used == 0:
            raise CalibrationError(f"no frame of {args.video} gave a lane-line vanishing point")
        if args.output is not None:
            mounted = camera.with_mounting(
                height_m=args.height_m, pitch_rad=estimate.pitch_rad, yaw_rad=estimate.yaw_rad
            )
            save_camera_opencv(
                mounted,
                args.output,
                extra={"pitch_yaw_frames_used": estimate.frames_used, "pitch_yaw_converged": int(estimate.converged)},
            )
            print(f"wrote {args.output}")
    except CalibrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cli() -> None:
    """Console-script entry point."""
    raise SystemExit(main(get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
