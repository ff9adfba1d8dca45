"""annotated.mp4, written so that a hard kill loses at most about a second of it.

The codec is H.264 (yuv420p, through PyAV's FFmpeg with libx264), which browsers, editors' previews and the run's
report play; where PyAV or its libx264 is missing, MPEG-4 Part 2 (mp4v, through OpenCV) with a warning and a note
in summary.json, never silently.

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
FOURCC = "mp4v"  # MPEG-4 Part 2: the fallback, in every OpenCV build, played by desktop players but not browsers
# x264: "ultrafast" costs about what OpenCV's mp4v does per frame (measured 6 vs 5 ms at 960x540, one thread);
# no B-frames, so the segments carry no composition offsets or edit lists and join by copying (mp4_join).
H264_OPTIONS = {"preset": "ultrafast", "bf": "0"}


def h264_missing() -> str | None:
    """Why H.264 cannot be written here (None when it can): PyAV absent, or built without libx264."""
    try:
        import av
    except ImportError:
        return "PyAV (the 'av' package) is not installed"
    if "libx264" not in av.codecs_available:
        return "this PyAV build has no libx264"
    return None


class _H264Segment:
    """One segment file written with PyAV/libx264 (an odd width or height gets one replicated pixel row/column:
    yuv420p needs even sizes). ``gop``: frames per segment, so that each segment is one group of pictures."""

    def __init__(self, path: Path, fps: float, size_wh: tuple[int, int], gop: int):
        from fractions import Fraction

        import av

        w, h = size_wh
        self._pad = (h % 2, w % 2)
        self._container = av.open(str(path), mode="w", format="mp4")
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self._stream.width, self._stream.height, self._stream.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
        self._stream.options = {**H264_OPTIONS, "g": str(gop)}
        self._stream.codec_context.thread_count = 1  # the pipeline's own threads keep the cores busy
        self._frames = 0
        self._av = av

    def write(self, image_bgr: np.ndarray) -> None:
        if any(self._pad):
            image_bgr = cv2.copyMakeBorder(image_bgr, 0, self._pad[0], 0, self._pad[1], cv2.BORDER_REPLICATE)
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image_bgr), format="bgr24")
        frame.pts = self._frames
        self._frames += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def release(self) -> bool:
        """Flush and close; False when no frame was written (then no file exists)."""
        if self._frames:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()
        return self._frames > 0


class _Mp4vSegment:
    """One segment file written with OpenCV's VideoWriter (codec mp4v)."""

    def __init__(self, path: Path, fps: float, size_wh: tuple[int, int]):
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC), fps, size_wh)
        if not self._writer.isOpened():
            raise OSError(f"OpenCV cannot write {path}")

    def write(self, image_bgr: np.ndarray) -> None:
        self._writer.write(image_bgr)

    def release(self) -> bool:
        self._writer.release()
        return True
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
    """Writes BGR frames of one size to an MP4: H.264 where PyAV has libx264, else mp4v (``codec`` says which,
    ``note`` why it is not H.264).

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
        missing = h264_missing()
        self.codec = "mp4v" if missing else "h264"
        self.note = (f"annotated video written as MPEG-4 Part 2 (mp4v), which browsers do not play: {missing}; "
                     f"install PyAV ('pip install av') for H.264") if missing else None
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
        try:
            if self.codec == "h264":
                self._writer = _H264Segment(self._writing, self.fps, self.size_wh, self.frames_per_segment)
            else:
                self._writer = _Mp4vSegment(self._writing, self.fps, self.size_wh)
        except (OSError, ValueError) as e:
            self._writer = None
            raise UserInputError(f"cannot open {self.path} for writing video ({e})") from None

    def _finish_segment(self) -> None:
        """Close the segment being written (its index is written now) and give it its finished name."""
        wrote = self._writer.release()
        self._writer = None
        if wrote:
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
            _Mp4vSegment(self.path, self.fps, self.size_wh).release()
            shutil.rmtree(self.segments, ignore_errors=True)
            return
        try:
            join_segments(self.path)
        except (OSError, Mp4Error) as e:
            print(f"warning: could not join the video segments in {self.segments} into {self.path} ({e}); they are "
                  f"kept: join them with python -m perception.tools.join_video {self.path.parent}", file=sys.stderr)
