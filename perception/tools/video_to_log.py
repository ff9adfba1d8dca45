"""Turn a video (or image folder) into a camera-only driving log, e.g. to test log replay.

    python -m perception.tools.video_to_log --video drive.mp4 --output drive.mcap
        [--format mcap|ros2|ros1] [--topic /camera/image/compressed] [--max-frames N]
        [--message ros|foxglove-json|foxglove-protobuf] [--raw] [--storage sqlite3|mcap]
        [--start-time-s 1700000000]

Each frame becomes one message on ``--topic``; its log time is ``--start-time-s`` plus the frame's
``timestamp_s`` (the video's own clock), in nanoseconds. Formats and message types: see
``perception.sinks.camera_log``. Frames the video cannot decode are left out (and counted). The
output is never overwritten. Exit codes: 0 done, 2 bad input (one line on stderr), 130 interrupted
(the log written so far is closed and valid).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from perception.cli import OneLineArgumentParser, exit_with
from perception.errors import UserInputError
from perception.sinks.camera_log import McapCameraLog, Ros1BagCameraLog, Ros2BagCameraLog
from perception.sources import FailedFrame, open_source

FORMATS = ("mcap", "ros2", "ros1")
# Fixed default start so that logs made from the same video are identical (2023-11-14T22:13:20Z).
DEFAULT_START_TIME_S = 1_700_000_000.0


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.tools.video_to_log", description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--video", required=True, metavar="PATH", help="video file or image folder")
    p.add_argument("--output", required=True, metavar="OUT", help=".mcap / .bag file, or ROS 2 bag folder")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="log format (default: from the --output suffix: .mcap, .bag, else ros2)")
    p.add_argument("--topic", default="/camera/image/compressed", help="camera topic name")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N frames")
    p.add_argument("--message", choices=("ros", "foxglove-json", "foxglove-protobuf"), default="ros",
                   help="message type in MCAP (ROS bags always use ros)")
    p.add_argument("--raw", action="store_true", help="uncompressed sensor_msgs/Image bgr8 instead of JPEG")
    p.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3", help="ROS 2 bag storage")
    p.add_argument("--start-time-s", type=float, default=DEFAULT_START_TIME_S,
                   help="log time of the first frame, seconds since the Unix epoch")
    p.add_argument("--fps", type=float, default=10.0, help="frame rate assumed for image folders")
    return p


def _format_of(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    suffix = Path(args.output).suffix.lower()
    return {".mcap": "mcap", ".bag": "ros1"}.get(suffix, "ros2")


def open_writer(fmt: str, output: Path, topic: str, *, message: str, raw: bool, storage: str):
    """The camera-log writer for ``fmt`` (see perception.sinks.camera_log)."""
    if fmt != "mcap" and message != "ros":
        raise UserInputError(f"--message {message} is for --format mcap; ROS bags hold ROS messages")
    if fmt == "mcap":
        return McapCameraLog(output, topic, message=message, raw=raw)
    if fmt == "ros2":
        return Ros2BagCameraLog(output, topic, raw=raw, storage=storage)
    return Ros1BagCameraLog(output, topic, raw=raw)


def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    writer = None
    try:
        if args.max_frames is not None and args.max_frames <= 0:
            raise UserInputError(f"--max-frames must be positive, got {args.max_frames}")
        if not args.topic.startswith("/"):
            raise UserInputError(f"--topic must start with '/', got {args.topic!r}")
        if args.start_time_s < 0:
            raise UserInputError(f"--start-time-s must be >= 0, got {args.start_time_s}")
        source = open_source(args.video, fps=args.fps)
        fmt = _format_of(args)
        writer = open_writer(fmt, Path(args.output), args.topic, message=args.message, raw=args.raw,
                             storage=args.storage)
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    start_ns = int(round(args.start_time_s * 1e9))
    failed = 0
    interrupted = False
    try:
        for n, item in enumerate(source.iter_frames()):
            if args.max_frames is not None and n >= args.max_frames:
                break
            if isinstance(item, FailedFrame):
                failed += 1
                continue
            writer.write(item.image_bgr, start_ns + int(round(item.timestamp_s * 1e9)))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        writer.close()
        source.close()
    print(f"wrote {writer.frames_written} frames ({fmt}, topic {args.topic}) to {args.output}"
          + (f"; {failed} undecodable frames left out" if failed else "") + (" (interrupted)" if interrupted else ""),
          file=sys.stderr)
    return 130 if interrupted else 0


def cli() -> None:
    exit_with(main(get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
