"""``--mcap-out``: the run as one MCAP file that opens in Foxglove Studio with overlays.

Channels (all JSON-encoded, schema encoding ``jsonschema``), one message per input frame on each,
with log time = the frame's log time (driving logs) or its ``timestamp_s`` since 0 (videos, folders):

- ``/camera/image/compressed`` (foxglove.CompressedImage): the input frame as JPEG (a placeholder
  image for frames that failed to decode);
- ``/perception/annotations`` (foxglove.ImageAnnotations): boxes (outline + label text), lanes (line
  strips), one HUD text (frame, plan);
- ``/perception/frame`` (perception.FrameRecord): the frame's frames.jsonl record;
- ``/perception/plan`` (perception.Plan): frame, timestamp_s, action, reason and the whole plan (null
  until a planner runs).

The file is finalised (summary, index) by ``close()``, which the pipeline calls on every exit path. A process
killed before that (SIGKILL) leaves a file without its summary that indexed readers cannot open; its chunks,
written at least every ``FLUSH_S`` seconds, are intact, and ``python -m perception.tools.recover_mcap FILE``
rewrites them into a complete file (``perception.sinks.mcap_recover``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from perception.errors import UserInputError
from perception.results import FrameResult
from perception.sinks import foxglove_json as fj
from perception.sinks.annotations import image_annotations

IMAGE_TOPIC = "/camera/image/compressed"
ANNOTATIONS_TOPIC = "/perception/annotations"
FRAME_TOPIC = "/perception/frame"
PLAN_TOPIC = "/perception/plan"
JPEG_QUALITY = 90
# Chunk size (bytes): small chunks lose little when the file is cut short (a killed process).
CHUNK_BYTES = 256 * 1024
# Seconds between chunk flushes: at most about this much is lost to a hard kill (mcap versions whose Writer has
# no flush() write a chunk only when it is full, CHUNK_BYTES: a few frames of JPEG images).
FLUSH_S = 1.0

FRAME_RECORD_SCHEMA = {
    "title": "perception.FrameRecord", "description": "one line of frames.jsonl", "type": "object",
    "properties": {"frame": {"type": "integer"}, "timestamp_s": {"type": "number"}, "status": {"type": "string"},
                   "error": {"type": "string"}, "detections": {"type": "array"}, "lanes": {"type": "array"},
                   "segmentation": {"type": "object"}, "ego": {"type": ["object", "null"]},
                   "plan": {"type": ["object", "null"]}, "log_time_ns": {"type": "integer"}},
}
PLAN_SCHEMA = {
    "title": "perception.Plan", "description": "the planner's decision for one frame", "type": "object",
    "properties": {"frame": {"type": "integer"}, "timestamp_s": {"type": "number"},
                   "action": {"type": ["string", "null"]}, "reason": {"type": ["string", "null"]},
                   "plan": {"type": ["object", "null"]}},
}


class McapResultSink:
    """Writes the four channels above; ``frames_written`` counts frames (not messages)."""

    def __init__(self, path: str | Path, *, metadata: dict[str, str] | None = None):
        from perception.sources.logs.errors import require

        mcap_writer = require("mcap.writer", "--mcap-out")
        self.path = Path(path)
        try:
            self._file = open(self.path, "wb")
        except OSError as e:
            raise UserInputError(f"cannot open {self.path} for writing: {e.strerror or e}") from None
        self._writer = mcap_writer.Writer(self._file, chunk_size=CHUNK_BYTES)
        self._writer.start(profile="", library="perception")
        self._channels = {}
        for topic, schema in ((IMAGE_TOPIC, fj.COMPRESSED_IMAGE_SCHEMA),
                              (ANNOTATIONS_TOPIC, fj.IMAGE_ANNOTATIONS_SCHEMA),
                              (FRAME_TOPIC, FRAME_RECORD_SCHEMA), (PLAN_TOPIC, PLAN_SCHEMA)):
            schema_id = self._writer.register_schema(name=schema["title"], encoding="jsonschema",
                                                     data=fj.schema_bytes(schema))
            self._channels[topic] = self._writer.register_channel(topic=topic, message_encoding="json",
                                                                  schema_id=schema_id)
        if metadata:
            self._writer.add_metadata("perception", {k: str(v) for k, v in metadata.items()})
        self.frames_written = 0
        self._flushed_at = time.monotonic()

    def write(self, record: dict[str, Any], image_bgr: np.ndarray, result: FrameResult | None, t_ns: int,
              hud: str | None = None) -> None:
        """One frame: ``record`` is its frames.jsonl record, ``image_bgr`` the input frame (uint8 H x W x 3),
        ``result`` None for a failed frame, ``t_ns`` the log time (ns)."""
        ok, jpeg = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for frame {record.get('frame')}")
        plan = record.get("plan")
        messages = {
            IMAGE_TOPIC: fj.compressed_image(t_ns, jpeg.tobytes()),
            ANNOTATIONS_TOPIC: image_annotations(result, t_ns, hud=hud),
            FRAME_TOPIC: record,
            PLAN_TOPIC: {"frame": record.get("frame"), "timestamp_s": record.get("timestamp_s"),
                         "action": plan.get("action") if isinstance(plan, dict) else None,
                         "reason": plan.get("reason") if isinstance(plan, dict) else None, "plan": plan},
        }
        for topic, message in messages.items():
            self._writer.add_message(self._channels[topic], log_time=t_ns, publish_time=t_ns, data=fj.encode(message),
                                     sequence=self.frames_written)
        self.frames_written += 1
        if time.monotonic() - self._flushed_at >= FLUSH_S:
            self._flushed_at = time.monotonic()
            flush = getattr(self._writer, "flush", None)  # finishes the chunk in progress and writes it out
            if flush is not None:
                flush()
            else:
                self._file.flush()

    def close(self) -> None:
        if self._writer is not None:
            try:
                self._writer.finish()
            finally:
                self._file.close()
                self._writer = None
