"""Camera-only driving logs written from frames: what ``perception.tools.video_to_log`` produces.

One topic, one message per frame, log time = capture time (ns). Writers:

- ``McapCameraLog`` (``.mcap``): message ``ros`` = sensor_msgs/msg/CompressedImage in CDR (profile ros2;
  sensor_msgs/msg/Image bgr8 with ``raw``), ``foxglove-json`` / ``foxglove-protobuf`` =
  foxglove.CompressedImage with a JSON Schema / protobuf schema;
- ``Ros2BagCameraLog`` (ROS 2 bag folder, sqlite3 or mcap storage): sensor_msgs/msg/CompressedImage
  (Image bgr8 with ``raw``);
- ``Ros1BagCameraLog`` (``.bag``, format 2.0, uncompressed chunks): sensor_msgs/CompressedImage (Image
  bgr8 with ``raw``).

Needs the ``logs`` extra (``mcap``, ``rosbags``); ``foxglove-protobuf`` also needs ``protobuf``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from perception.errors import UserInputError
from perception.sources.logs.errors import require

JPEG_QUALITY = 90
# Chunk size (bytes): small chunks lose little when the file is cut short (a killed process).
CHUNK_BYTES = 256 * 1024
MESSAGE_KINDS = ("ros", "foxglove-json", "foxglove-protobuf")


def _jpeg(image_bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


class _RosImages:
    """sensor_msgs CompressedImage (JPEG) or Image (bgr8) messages serialized for ROS 1 or ROS 2."""

    def __init__(self, *, ros_version: int, raw: bool, frame_id: str = "camera"):
        typesys = require("rosbags.typesys", "writing ROS messages")
        self.store = typesys.get_typestore(typesys.Stores.ROS1_NOETIC if ros_version == 1
                                           else typesys.Stores.ROS2_HUMBLE)
        self.ros_version, self.raw, self.frame_id = ros_version, raw, frame_id
        self.msgtype = "sensor_msgs/msg/Image" if raw else "sensor_msgs/msg/CompressedImage"
        self._seq = 0

    def definition(self) -> tuple[str, str]:
        """(message definition text, type hash) as the log's schema / connection record wants them."""
        return self.store.generate_msgdef(self.msgtype, ros_version=self.ros_version)

    def serialize(self, image_bgr: np.ndarray, t_ns: int) -> bytes:
        types = self.store.types
        sec, nsec = divmod(int(t_ns), 1_000_000_000)
        if self.ros_version == 1:
            header = types["std_msgs/msg/Header"](seq=self._seq, stamp=types["builtin_interfaces/msg/Time"](
                sec=sec, nanosec=nsec), frame_id=self.frame_id)
        else:
            header = types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec),
                                                  frame_id=self.frame_id)
        self._seq += 1
        if self.raw:
            h, w = image_bgr.shape[:2]
            msg = types[self.msgtype](header=header, height=h, width=w, encoding="bgr8", is_bigendian=0, step=w * 3,
                                      data=np.ascontiguousarray(image_bgr).reshape(-1))
        else:
            msg = types[self.msgtype](header=header, format="jpeg",
                                      data=np.frombuffer(_jpeg(image_bgr), dtype=np.uint8))
        if self.ros_version == 1:
            return bytes(self.store.serialize_ros1(msg, self.msgtype))
        return bytes(self.store.serialize_cdr(msg, self.msgtype))


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise UserInputError(f"{path} exists already; choose another --output (logs are never overwritten)")


class McapCameraLog:
    """An MCAP file with one camera topic (see the module table)."""

    def __init__(self, path: str | Path, topic: str, *, message: str = "ros", raw: bool = False):
        mcap_writer = require("mcap.writer", "writing MCAP files")
        self.path = Path(path)
        _refuse_existing(self.path)
        if message not in MESSAGE_KINDS:
            raise UserInputError(f"--message must be one of {', '.join(MESSAGE_KINDS)}, got {message!r}")
        if raw and message != "ros":
            raise UserInputError("raw images are written as sensor_msgs/msg/Image: use --message ros with --raw")
        self.message = message
        self._file = open(self.path, "wb")
        self._writer = mcap_writer.Writer(self._file, chunk_size=CHUNK_BYTES)
        if message == "ros":
            self._ros = _RosImages(ros_version=2, raw=raw)
            definition, _ = self._ros.definition()
            self._writer.start(profile="ros2", library="perception")
            schema = self._writer.register_schema(self._ros.msgtype, "ros2msg", definition.encode("utf-8"))
            encoding = "cdr"
        elif message == "foxglove-json":
            from perception.sinks import foxglove_json as fj

            self._writer.start(profile="", library="perception")
            schema = self._writer.register_schema("foxglove.CompressedImage", "jsonschema",
                                                  fj.schema_bytes(fj.COMPRESSED_IMAGE_SCHEMA))
            encoding = "json"
        else:
            require("google.protobuf", "--message foxglove-protobuf")
            from perception.sinks import foxglove_protobuf as fp

            self._writer.start(profile="", library="perception")
            schema = self._writer.register_schema(fp.TYPE_NAME, "protobuf", fp.descriptor_set())
            encoding = "protobuf"
        self._channel = self._writer.register_channel(topic, encoding, schema)
        self.frames_written = 0

    def write(self, image_bgr: np.ndarray, t_ns: int) -> None:
        """Append one frame (uint8 BGR, H x W x 3) captured at ``t_ns`` (ns)."""
        if self.message == "ros":
            data = self._ros.serialize(image_bgr, t_ns)
        elif self.message == "foxglove-json":
            from perception.sinks import foxglove_json as fj

            data = fj.encode(fj.compressed_image(t_ns, _jpeg(image_bgr)))
        else:
            from perception.sinks import foxglove_protobuf as fp

            data = fp.compressed_image(t_ns, _jpeg(image_bgr))
        self._writer.add_message(self._channel, log_time=t_ns, publish_time=t_ns, data=data,
                                 sequence=self.frames_written)
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            try:
                self._writer.finish()
            finally:
                self._file.close()
                self._writer = None


class Ros2BagCameraLog:
    """A ROS 2 bag folder (``storage``: "sqlite3" or "mcap") with one camera topic."""

    def __init__(self, path: str | Path, topic: str, *, raw: bool = False, storage: str = "sqlite3"):
        require("rosbags.rosbag2", "writing ROS 2 bags")
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        _refuse_existing(self.path)
        plugins = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
        if storage not in plugins:
            raise UserInputError(f"--storage must be sqlite3 or mcap, got {storage!r}")
        self._ros = _RosImages(ros_version=2, raw=raw)
        self._writer = Writer(self.path, version=9, storage_plugin=plugins[storage])
        self._writer.open()
        self._conn = self._writer.add_connection(topic, self._ros.msgtype, typestore=self._ros.store)
        self.frames_written = 0

    def write(self, image_bgr: np.ndarray, t_ns: int) -> None:
        self._writer.write(self._conn, int(t_ns), self._ros.serialize(image_bgr, t_ns))
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class Ros1BagCameraLog:
    """A ROS 1 ``.bag`` file (format 2.0, uncompressed chunks) with one camera topic."""

    def __init__(self, path: str | Path, topic: str, *, raw: bool = False):
        require("rosbags.rosbag1", "writing ROS 1 bags")
        from rosbags.rosbag1 import Writer

        self.path = Path(path)
        _refuse_existing(self.path)
        self._ros = _RosImages(ros_version=1, raw=raw)
        self._writer = Writer(self.path)
        self._writer.open()
        self._conn = self._writer.add_connection(topic, self._ros.msgtype, typestore=self._ros.store)
        self.frames_written = 0

    def write(self, image_bgr: np.ndarray, t_ns: int) -> None:
        self._writer.write(self._conn, int(t_ns), self._ros.serialize(image_bgr, t_ns))
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
