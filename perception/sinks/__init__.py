"""Where results go: annotated video, per-frame JSONL, summary JSON; MCAP for Foxglove
(``mcap_results``), camera-only driving logs (``camera_log``), and what ``--resume`` reads (``resume``)."""

from perception.sinks.draw import draw_result
from perception.sinks.files import write_json_atomic
from perception.sinks.jsonl import JsonlSink
from perception.sinks.video import VideoSink

__all__ = ["JsonlSink", "VideoSink", "draw_result", "write_json_atomic"]
