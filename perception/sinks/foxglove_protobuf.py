"""``foxglove.CompressedImage`` as protobuf, built at run time (no generated code, no extra package).

MCAP stores a protobuf schema as a serialized ``FileDescriptorSet``; ``descriptor_set()`` returns one
holding ``google/protobuf/timestamp.proto`` and ``foxglove/CompressedImage.proto`` with the field
numbers of Foxglove's published schema (timestamp 1, data 2, format 3, frame_id 4).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

TYPE_NAME = "foxglove.CompressedImage"


@lru_cache(maxsize=1)
def _build() -> tuple[bytes, Any]:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

    timestamp_file = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(timestamp_file)
    image_file = descriptor_pb2.FileDescriptorProto(name="foxglove/CompressedImage.proto", package="foxglove",
                                                    syntax="proto3", dependency=[timestamp_file.name])
    msg = image_file.message_type.add(name="CompressedImage")
    F = descriptor_pb2.FieldDescriptorProto
    msg.field.add(name="timestamp", number=1, label=F.LABEL_OPTIONAL, type=F.TYPE_MESSAGE,
                  type_name=".google.protobuf.Timestamp")
    msg.field.add(name="frame_id", number=4, label=F.LABEL_OPTIONAL, type=F.TYPE_STRING)
    msg.field.add(name="data", number=2, label=F.LABEL_OPTIONAL, type=F.TYPE_BYTES)
    msg.field.add(name="format", number=3, label=F.LABEL_OPTIONAL, type=F.TYPE_STRING)
    fds = descriptor_pb2.FileDescriptorSet(file=[timestamp_file, image_file])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(timestamp_file)
    pool.Add(image_file)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(TYPE_NAME))
    return fds.SerializeToString(), cls


def descriptor_set() -> bytes:
    """Serialized FileDescriptorSet for the MCAP schema record (encoding ``protobuf``)."""
    return _build()[0]


def compressed_image(t_ns: int, data: bytes, fmt: str = "jpeg", frame_id: str = "camera") -> bytes:
    """One serialized foxglove.CompressedImage; ``t_ns``: capture time in nanoseconds."""
    cls = _build()[1]
    msg = cls(frame_id=frame_id, data=data, format=fmt)
    msg.timestamp.seconds, msg.timestamp.nanos = divmod(max(0, int(t_ns)), 1_000_000_000)
    return msg.SerializeToString()
