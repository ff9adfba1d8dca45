"""Payload decoders by (schema encoding, message encoding), as named in the MCAP format registry.

Supported:
- ``ros2msg`` / ``ros2idl`` schemas with ``cdr`` messages (ROS 2), ``ros1msg`` with ``ros1`` (ROS 1):
  deserialized with ``rosbags`` from the message definition stored in the log;
- ``jsonschema`` schemas with ``json`` messages (Foxglove JSON; bytes fields are base64 strings);
- ``protobuf`` schemas (a serialized FileDescriptorSet) with ``protobuf`` messages, when the
  ``protobuf`` package is installed.

Each factory returns ``payload bytes -> decoded message`` (a rosbags message object, a dict or a
protobuf message) and raises LogFormatError when the schema itself is unusable.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from perception.sources.logs.errors import LogFormatError, require
from perception.sources.logs.image_messages import ImageMessage, image_message_from

Decoder = Callable[[bytes | memoryview], Any]
IDL_SEPARATOR = "=" * 80 + "\n"


def ros_decoder(type_name: str, definition: str, *, schema_encoding: str) -> Decoder:
    """Deserializer for a ROS message type from its definition text (``ros1msg``, ``ros2msg`` or ``ros2idl``)."""
    typesys = require("rosbags.typesys", "decoding ROS messages")
    from rosbags.typesys.msg import normalize_msgtype

    try:
        if schema_encoding == "ros2idl":
            types: dict = {}
            # rosbag2 / MCAP store one IDL file per type, separated by a line of '=' and "IDL: name".
            parts = definition.split(IDL_SEPARATOR)[1:] if definition.startswith(IDL_SEPARATOR) else [definition]
            for part in parts:
                idl = part.split("\n", 1)[1] if part.startswith("IDL: ") else part
                types.update(typesys.get_types_from_idl(idl))
        else:
            types = typesys.get_types_from_msg(definition, type_name)
        store = typesys.get_typestore(typesys.Stores.EMPTY)
        store.register(types)
        name = normalize_msgtype(type_name)
        if name not in store.types:
            raise LogFormatError(f"message definition of {type_name} does not define {type_name}")
    except LogFormatError:
        raise
    except Exception as e:  # noqa: BLE001 - a definition text from the log that rosbags cannot parse
        raise LogFormatError(f"cannot parse the message definition of {type_name}: {type(e).__name__}") from None
    if schema_encoding == "ros1msg":
        return lambda payload: store.deserialize_ros1(bytes(payload), name)
    return lambda payload: store.deserialize_cdr(bytes(payload), name)


def json_decoder() -> Decoder:
    def decode(payload: bytes | memoryview) -> Any:
        obj = json.loads(bytes(payload))
        if not isinstance(obj, dict):
            raise ValueError("JSON message is not an object")
        return obj

    return decode


def protobuf_decoder(type_name: str, descriptor_set: bytes) -> Decoder:
    """Deserializer for ``type_name`` from a serialized FileDescriptorSet (how MCAP stores protobuf schemas)."""
    require("google.protobuf", "decoding protobuf MCAP messages")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    try:
        files = list(descriptor_pb2.FileDescriptorSet.FromString(bytes(descriptor_set)).file)
        pool = descriptor_pool.DescriptorPool()
        added: set[str] = set()
        while files:  # add each file after its dependencies
            ready = [f for f in files if all(d in added for d in f.dependency)]
            if not ready:
                raise ValueError("unresolved imports: " + ", ".join(sorted({d for f in files for d in f.dependency})))
            for f in ready:
                pool.Add(f)
                added.add(f.name)
                files.remove(f)
        cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(type_name))
    except Exception as e:  # noqa: BLE001 - a schema from the log that protobuf cannot load
        raise LogFormatError(f"cannot load the protobuf schema of {type_name}: {type(e).__name__}: "
                             f"{' '.join(str(e).split())[:120]}") from None
    return cls.FromString


def message_decoder(type_name: str, schema_encoding: str, schema_data: bytes, message_encoding: str) -> Decoder:
    """Pick the decoder for one channel; LogFormatError when the combination is not supported."""
    if message_encoding == "cdr" and schema_encoding in ("ros2msg", "ros2idl"):
        return ros_decoder(type_name, _text(schema_data, type_name), schema_encoding=schema_encoding)
    if message_encoding == "ros1" and schema_encoding == "ros1msg":
        return ros_decoder(type_name, _text(schema_data, type_name), schema_encoding=schema_encoding)
    if message_encoding == "json":
        return json_decoder()
    if message_encoding == "protobuf" and schema_encoding == "protobuf":
        return protobuf_decoder(type_name, schema_data)
    raise LogFormatError(f"messages of {type_name} are encoded as {message_encoding!r} with a "
                         f"{schema_encoding or 'no'} schema; supported: cdr (ros2msg/ros2idl), ros1 (ros1msg), "
                         f"json, protobuf")


def image_decoder(type_name: str, decode: Decoder, *, json_base64: bool) -> Callable[[bytes | memoryview],
                                                                                     ImageMessage]:
    """payload -> ImageMessage for a camera type."""
    return lambda payload: image_message_from(type_name, decode(payload), json_base64=json_base64)


def _text(data: bytes, type_name: str) -> str:
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise LogFormatError(f"message definition of {type_name} is not UTF-8 text") from None
