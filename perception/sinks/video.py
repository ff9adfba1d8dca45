"""annotated.mp4 through OpenCV's VideoWriter, written so that a hard kill loses at most about a second of it.

An MP4 is only playable once its index is written, at the end; a process killed before that (SIGKILL, power
loss, out of memory) would lose the whole video. So the video is written as a series of short segment files, each
a finished MP4 of ``SEGMENT_S`` seconds, in a hidden folder beside it (``DIR/.annotated.mp4.segments/000000.mp4``,
``000001.mp4``, ...; the segment being written is ``NNNNNN.writing.mp4``). ``close()`` joins the segments into the
video without re-encoding (``perception.sinks.mp4_join``) and removes the folder. After a kill the finished
segments are still there: ``python -m perception.tools.join_video DIR`` (or ``perception.run --resume``) joins
them into the video.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from perception.errors import UserInputError
from perception.sinks.mp4_join import Mp4Error, join_mp4

# Seconds of video per segment file: at most this much (plus the frame being written) is lost to a hard kill.
SEGMENT_S = 1.0
FOURCC = "mp4v"  # MPEG-4 Part 2: in every OpenCV build, playable by common players
_SEGMENT_NAME = re.compile(r"^(\d{6,})\.mp4$")


def segments_dir(video: str | Path) -> Path:
    """The hidden folder that holds ``video``'s segment files while it is written."""
    video = Path(video)
    return video.with_name(f".{video.name}.segments")


def video_of(segments: Path) -> Path:
    """The video a segment folder belongs to (``DIR/.annotated.mp4.segments`` -> ``DIR/annotated.mp4``)."""
    return segments.with_name(segments.name[1:-len(".segments")])


def finished_segments(segments: Path) -> list[Path]:
    """The finished segment files in ``segments``, in order (the one being written when a run died is not)."""
    found = [(int(m.group(1)), p) for p in segments.iterdir() if (m := _SEGMENT_NAME.match(p.name)) and p.is_file()]
    return [p for _, p in sorted(found)]


def leftover_segment_dirs(out_dir: str | Path) -> list[Path]:
    """Segment folders in ``out_dir`` that a run left because it was killed before it could join them."""
    return sorted(p for p in Path(out_dir).glob(".*.mp4.segments") if p.is_dir())


def join_segments(video: str | Path) -> int:
    """Join the finished segments of ``video`` into ``video`` and remove its segment folder; returns the frames
    joined (0, and no video, when no segment was finished). When ``video`` already exists beside its segment
    folder, the join had finished before the run died: the folder is only removed. Raises ``Mp4Error``."""
    video = Path(video)
    segments = segments_dir(video)
    if video.exists():
        shutil.rmtree(segments, ignore_errors=True)
        return 0
    parts = finished_segments(segments)
    frames = join_mp4(parts, video) if parts else 0
    shutil.rmtree(segments, ignore_errors=True)
    return frames


def join_leftover_segments(out_dir: str | Path) -> dict[Path, int]:
    """Join every video a killed run left in segments in ``out_dir``: {video path: frames joined}."""
    return {video_of(d): join_segments(video_of(d)) for d in leftover_segment_dirs(out_dir)}


def remove_leftover_segments(out_dir: str | Path) -> None:
    """Remove the segment folders a killed run left in ``out_dir`` (a fresh run replaces its results)."""
    for d in leftover_segment_dirs(out_dir):
        shutil.rmtree(d, ignore_errors=True)


class VideoSink:
    """Writes BGR frames of one size to an MP4 (codec mp4v, playable by common players).

    ``path`` is created by ``close()``, which the pipeline calls on normal exit, on errors and on Ctrl-C/SIGTERM;
    until then the frames are in finished segment files of ``SEGMENT_S`` seconds (see the module docstring), so
    a hard kill loses at most the segment being written. A video or segment folder an earlier run left at
    ``path`` is replaced.
    """

    def __init__(self, path: str | Path, fps: float, size_wh: tuple[int, int]):
        self.path = Path(path)
        self.fps = float(fps)
        self.size_wh = (int(size_wh[0]), int(size_wh[1]))
        self.frames_per_segment = max(1, round(self.fps * SEGMENT_S))
        self.segments = segments_dir(self.path)
        shutil.rmtree(self.segments, ignore_errors=True)
        self.path.unlink(missing_ok=True)
        self.segments.mkdir()
        self.frames_written = 0
        self._index = 0  # number of the segment being written
        self._in_segment = 0  # frames in it so far
        self._writing: Path | None = None
        self._writer = None
        self._closed = False
        try:
            self._open_segment()  # fails here, before the first frame, when this build cannot write the video
        except BaseException:
            shutil.rmtree(self.segments, ignore_errors=True)
            raise

    def _open_segment(self) -> None:
        self._writing = self.segments / f"{self._index:06d}.writing.mp4"
        self._writer = cv2.VideoWriter(str(self._writing), cv2.VideoWriter_fourcc(*FOURCC), self.fps, self.size_wh)
        if not self._writer.isOpened():
            self._writer = None
            raise UserInputError(f"cannot open {self.path} for writing video")

    def _finish_segment(self) -> None:
        """Close the segment being written (OpenCV writes its index) and give it its finished name."""
        self._writer.release()
        self._writer = None
        self._writing.rename(self.segments / f"{self._index:06d}.mp4")
        self._index += 1
        self._in_segment = 0

    def write(self, image_bgr: np.ndarray) -> None:
        if (image_bgr.shape[1], image_bgr.shape[0]) != self.size_wh:
            # A source whose frame size changes (image folders) is fitted to the first frame's size.
            image_bgr = cv2.resize(image_bgr, self.size_wh, interpolation=cv2.INTER_AREA)
        if self._writer is None:
            self._open_segment()
        self._writer.write(image_bgr)
        self.frames_written += 1
        self._in_segment += 1
        if self._in_segment >= self.frames_per_segment:
            self._finish_segment()

    def close(self) -> None:
        """Finish the last segment and join all of them into ``path`` (a video with no frames when none was
        written). Should the join fail, the segments stay and a warning on stderr says how to join them."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._finish_segment()
        if self.frames_written == 0:  # OpenCV's file with no frames, as a run without frames always wrote
            finished_segments(self.segments)[0].replace(self.path)
            shutil.rmtree(self.segments, ignore_errors=True)
            return
        try:
            join_segments(self.path)
        except (OSError, Mp4Error) as e:
            print(f"warning: could not join the video segments in {self.segments} into {self.path} ({e}); they are "
                  f"kept: join them with python -m perception.tools.join_video {self.path.parent}", file=sys.stderr)
