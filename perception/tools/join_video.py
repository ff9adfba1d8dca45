"""Join the annotated video that a killed run left in segment files.

    python -m perception.tools.join_video DIR

``perception.run`` writes ``annotated.mp4`` (and a resumed run's ``annotated.partN.mp4``) as one-second segment
files in ``DIR/.annotated.mp4.segments/`` and joins them when it ends. A run killed with SIGKILL (or by a power
loss, or the out-of-memory killer) cannot do that: this command joins the finished segments, without re-encoding,
into the video they belong to, and removes the segment folder. The segment being written when the run died (at
most about a second of video) is lost; frames.jsonl still lists those frames. ``perception.run --resume`` does
the same join by itself before it continues. Exit codes: 0 joined, 2 bad input (one line on stderr: no such
folder, nothing to join, a run still writing into DIR, a damaged segment).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from perception.cli import OneLineArgumentParser
from perception.errors import UserInputError, clean_message
from perception.sinks.lock import OutputLock
from perception.sinks.resume import record_joined_video
from perception.sinks.video import join_segments, leftover_segment_dirs, video_of


def get_args_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m perception.tools.join_video", description=__doc__.split("\n\n")[0])
    p.add_argument("dir", metavar="DIR", help="the output folder of the killed run (perception.run --output)")
    return p


def main(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    lock = None
    try:
        if not out_dir.is_dir():
            raise UserInputError(f"{out_dir}: no such folder")
        folders = leftover_segment_dirs(out_dir)
        if not folders:
            raise UserInputError(f"{out_dir} holds no video segments: nothing to join (the run ended normally, or "
                                 f"wrote no video)")
        lock = OutputLock(out_dir).acquire()  # a run that is still writing keeps its segments to itself
        for folder in folders:
            video = video_of(folder)
            frames = join_segments(video)
            if frames:
                print(f"joined {frames} frames into {video}", file=sys.stderr)
                note = record_joined_video(out_dir, video, frames)
                if note:
                    print(f"note (also in summary.json): {note}", file=sys.stderr)
            elif video.exists():
                print(f"{video} was already joined; removed its leftover segment folder", file=sys.stderr)
            else:
                print(f"{video}: no finished segment (the run was killed in its first second); removed {folder}",
                      file=sys.stderr)
    except UserInputError as e:
        print(f"error: {clean_message(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {clean_message(f'{e.strerror or e}: {e.filename or out_dir}')}", file=sys.stderr)
        return 2
    finally:
        if lock is not None:
            lock.release()
    return 0


def cli() -> None:
    raise SystemExit(main(get_args_parser().parse_args()))


if __name__ == "__main__":
    cli()
