"""Camera image messages, whatever log they come from, and their decoding to a BGR image.

Supported message types (``CAMERA_TYPES``):
- raw images: ``sensor_msgs/Image`` (ROS 1 and 2) and ``foxglove.RawImage`` with encodings
  ``bgr8``, ``rgb8``, ``mono8``, ``bgra8``, ``rgba8`` (and OpenCV aliases ``8UC3``, ``8UC1``, ``8UC4``);
  rows may be padded (``step`` bytes per row).
- compressed images: ``sensor_msgs/CompressedImage`` and ``foxglove.CompressedImage`` holding any
  format OpenCV decodes (JPEG, PNG, ...).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

RAW_TYPES = frozenset({"sensor_msgs/msg/Image", "sensor_msgs/Image", "foxglove.RawImage",
                       "foxglove_msgs/msg/RawImage"})
COMPRESSED_TYPES = frozenset({"sensor_msgs/msg/CompressedImage", "sensor_msgs/CompressedImage",
                              "foxglove.CompressedImage", "foxglove_msgs/msg/CompressedImage"})
CAMERA_TYPES = RAW_TYPES | COMPRESSED_TYPES

# encoding -> (channels, cv2 conversion to BGR or None when already BGR)
RAW_ENCODINGS: dict[str, tuple[int, int | None]] = {
    "bgr8": (3, None), "8UC3": (3, None), "rgb8": (3, cv2.COLOR_RGB2BGR), "mono8": (1, cv2.COLOR_GRAY2BGR),
    "8UC1": (1, cv2.COLOR_GRAY2BGR), "bgra8": (4, cv2.COLOR_BGRA2BGR), "8UC4": (4, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, cv2.COLOR_RGBA2BGR),
}
# A frame bigger than this (pixels) is refused rather than allocated: 16k x 16k.
MAX_PIXELS = 16384 * 16384


class ImageDecodeError(ValueError):
    """One message that cannot be turned into an image (the frame is counted as failed, not fatal)."""


@dataclass(frozen=True)
class RawImageMessage:
    """Uncompressed pixels: ``height`` rows of ``step`` bytes, ``encoding`` as in sensor_msgs/Image."""

    width: int
    height: int
    encoding: str
    step: int
    data: bytes | memoryview | np.ndarray


@dataclass(frozen=True)
class CompressedImageMessage:
    """An encoded image file in memory (``format``: "jpeg", "png", ... as the log says)."""

    format: str
    data: bytes | memoryview | np.ndarray


ImageMessage = RawImageMessage | CompressedImageMessage


def is_camera_type(type_name: str) -> bool:
    return type_name in CAMERA_TYPES


def message_field(msg: Any, name: str, default: Any = None) -> Any:
    """Field ``name`` of a decoded message: a dict (JSON), a protobuf or a rosbags message object."""
    if isinstance(msg, dict):
        return msg.get(name, default)
    return getattr(msg, name, default)


def _as_bytes(data: Any, *, json_base64: bool) -> bytes | memoryview | np.ndarray:
    if isinstance(data, str):
        if not json_base64:
            raise ImageDecodeError("image data is text, expected bytes")
        try:
            return base64.b64decode(data, validate=True)
        except ValueError as e:
            raise ImageDecodeError(f"image data is not valid base64: {e}") from None
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, list):  # JSON arrays of numbers
        try:
            return np.asarray(data, dtype=np.uint8)
        except (ValueError, TypeError, OverflowError):
            raise ImageDecodeError("image data list is not a list of bytes") from None
    raise ImageDecodeError(f"image data has unexpected type {type(data).__name__}")


def image_message_from(type_name: str, msg: Any, *, json_base64: bool = False) -> ImageMessage:
    """Normalise a decoded message of camera type ``type_name`` into an ImageMessage.

    ``json_base64``: bytes fields are base64 strings (the JSON encoding of Foxglove schemas).
    """
    data = _as_bytes(message_field(msg, "data", b""), json_base64=json_base64)
    if type_name in COMPRESSED_TYPES:
        fmt = message_field(msg, "format", "")
        return CompressedImageMessage(format=str(fmt), data=data)
    if type_name in RAW_TYPES:
        try:
            width, height, step = (int(message_field(msg, name, 0)) for name in ("width", "height", "step"))
        except (TypeError, ValueError):
            raise ImageDecodeError("image width/height/step are not integers") from None
        return RawImageMessage(width=width, height=height, encoding=str(message_field(msg, "encoding", "")),
                               step=step, data=data)
    raise ImageDecodeError(f"{type_name} is not a camera image type")


def decode_to_bgr(msg: ImageMessage) -> np.ndarray:
    """Decode to a uint8 BGR array (H, W, 3); raise ImageDecodeError when the message is not a usable image."""
    if isinstance(msg, CompressedImageMessage):
        buf = np.frombuffer(msg.data, dtype=np.uint8) if not isinstance(msg.data, np.ndarray) else msg.data
        if buf.size == 0:
            raise ImageDecodeError("empty compressed image")
        image = cv2.imdecode(buf.reshape(-1).astype(np.uint8, copy=False), cv2.IMREAD_COLOR)
        if image is None:
            raise ImageDecodeError(f"cannot decode compressed image (format {msg.format!r})")
        return image
    spec = RAW_ENCODINGS.get(msg.encoding)
    if spec is None:
        raise ImageDecodeError(f"unsupported raw image encoding {msg.encoding!r} "
                               f"(supported: {', '.join(sorted(RAW_ENCODINGS))})")
    channels, conversion = spec
    w, h = msg.width, msg.height
    if w <= 0 or h <= 0 or w * h > MAX_PIXELS:
        raise ImageDecodeError(f"bad image size {w}x{h}")
    step = msg.step or w * channels
    if step < w * channels:
        raise ImageDecodeError(f"row step {step} is shorter than {w} pixels x {channels} bytes")
    buf = np.frombuffer(msg.data, dtype=np.uint8) if not isinstance(msg.data, np.ndarray) else msg.data.reshape(-1)
    if buf.size < step * h:
        raise ImageDecodeError(f"image data has {buf.size} bytes, {step * h} needed for {w}x{h} {msg.encoding}")
    rows = buf[: step * h].reshape(h, step)[:, : w * channels]  # (H, W*C) without row padding
    image = rows.reshape(h, w, channels)
    if conversion is None:
        return np.ascontiguousarray(image)
    return cv2.cvtColor(np.ascontiguousarray(image), conversion)
