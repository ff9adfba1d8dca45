"""Read an ONNX file's ``metadata_props`` without the ``onnx`` package (whose import takes about a second).

An ONNX file is a protobuf ``ModelProto``. Its top-level fields are read in wire format: each is a varint key
(field number << 3 | wire type) followed by its value; ``metadata_props`` is field 14, a repeated
``StringStringEntryProto`` (``key`` field 1, ``value`` field 2). Every other field, the graph with its weights
included, is stepped over by its length, so the cost is one pass over the field headers.
"""

from __future__ import annotations

from pathlib import Path

METADATA_PROPS_FIELD = 14


class OnnxFormatError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise OnnxFormatError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes | memoryview):
    """(field number, wire type, value) of a message: ints for varints and fixed widths, bytes for the rest."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1 or wire == 5:
            width = 8 if wire == 1 else 4
            if pos + width > len(data):
                raise OnnxFormatError("truncated fixed-width field")
            value, pos = int.from_bytes(data[pos:pos + width], "little"), pos + width
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise OnnxFormatError("a field runs past the end of the file")
            value, pos = data[pos:pos + length], pos + length
        else:
            raise OnnxFormatError(f"unsupported wire type {wire}")
        yield number, wire, value


def read_metadata_props(path: str | Path) -> dict[str, str]:
    """``metadata_props`` of the ONNX file at ``path`` as {key: value}. Raises OnnxFormatError or OSError."""
    data = memoryview(Path(path).read_bytes())
    props: dict[str, str] = {}
    for number, wire, value in _fields(data):
        if number != METADATA_PROPS_FIELD or wire != 2:
            continue
        entry = {n: bytes(v).decode("utf-8") for n, w, v in _fields(value) if w == 2}
        props[entry.get(1, "")] = entry.get(2, "")
    return props
