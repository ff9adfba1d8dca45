"""Foxglove message schemas as JSON Schema, and builders for their JSON messages.

MCAP channels written with these use schema encoding ``jsonschema`` and message encoding ``json``
(bytes fields are base64 strings), which Foxglove Studio reads natively. Field names follow the
Foxglove schemas (``foxglove.CompressedImage``, ``foxglove.ImageAnnotations``).

Image coordinates in ImageAnnotations are pixels with (0, 0) at the top-left corner of the top-left
pixel (edge coordinates, like our ``box_xyxy``); lane points, which are pixel centres, get +0.5.
"""

from __future__ import annotations

import base64
import json
from typing import Any

TIME = {"type": "object", "properties": {"sec": {"type": "integer", "minimum": 0},
                                         "nsec": {"type": "integer", "minimum": 0, "maximum": 999_999_999}}}
POINT2 = {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}}
COLOR = {"type": "object", "properties": {k: {"type": "number", "minimum": 0, "maximum": 1} for k in "rgba"}}

COMPRESSED_IMAGE_SCHEMA = {
    "title": "foxglove.CompressedImage", "description": "A compressed image", "type": "object",
    "properties": {"timestamp": TIME, "frame_id": {"type": "string"},
                   "data": {"type": "string", "contentEncoding": "base64"},
                   "format": {"type": "string", "description": "jpeg, png, webp or avif"}},
}

POINTS_ANNOTATION = {
    "type": "object",
    "properties": {"timestamp": TIME,
                   "type": {"type": "integer", "description": "0 UNKNOWN, 1 POINTS, 2 LINE_LOOP, 3 LINE_STRIP, "
                                                              "4 LINE_LIST"},
                   "points": {"type": "array", "items": POINT2}, "outline_color": COLOR,
                   "outline_colors": {"type": "array", "items": COLOR}, "fill_color": COLOR,
                   "thickness": {"type": "number"}},
}
TEXT_ANNOTATION = {
    "type": "object",
    "properties": {"timestamp": TIME, "position": POINT2, "text": {"type": "string"}, "font_size": {"type": "number"},
                   "text_color": COLOR, "background_color": COLOR},
}
CIRCLE_ANNOTATION = {
    "type": "object",
    "properties": {"timestamp": TIME, "position": POINT2, "diameter": {"type": "number"},
                   "thickness": {"type": "number"}, "fill_color": COLOR, "outline_color": COLOR},
}
IMAGE_ANNOTATIONS_SCHEMA = {
    "title": "foxglove.ImageAnnotations", "description": "Annotations drawn over an image", "type": "object",
    "properties": {"circles": {"type": "array", "items": CIRCLE_ANNOTATION},
                   "points": {"type": "array", "items": POINTS_ANNOTATION},
                   "texts": {"type": "array", "items": TEXT_ANNOTATION}},
}

POINTS = 1
LINE_LOOP = 2
LINE_STRIP = 3


def schema_bytes(schema: dict[str, Any]) -> bytes:
    return json.dumps(schema, separators=(",", ":")).encode("utf-8")


def time_of(t_ns: int) -> dict[str, int]:
    """{"sec", "nsec"} of a time in nanoseconds (>= 0)."""
    t_ns = max(0, int(t_ns))
    return {"sec": t_ns // 1_000_000_000, "nsec": t_ns % 1_000_000_000}


def color(r: float, g: float, b: float, a: float = 1.0) -> dict[str, float]:
    return {"r": r, "g": g, "b": b, "a": a}


def compressed_image(t_ns: int, data: bytes, fmt: str = "jpeg", frame_id: str = "camera") -> dict[str, Any]:
    return {"timestamp": time_of(t_ns), "frame_id": frame_id, "data": base64.b64encode(data).decode("ascii"),
            "format": fmt}


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")
