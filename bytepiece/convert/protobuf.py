"""The protobuf wire format, by hand: just enough to write and read a few messages.

SentencePiece models are serialized ``ModelProto`` messages. Writing and
reading them needs only varints, 32-bit floats and length-delimited fields, so
this small codec stands in for the protobuf package, which is not a dependency.

>>> data = field_varint(1, 300) + field_bytes(2, b"hi") + field_float(3, 0.5)
>>> data.hex()
'08ac02120268691d0000003f'
>>> [(number, value) for number, _, value in iter_fields(data)]
[(1, 300), (2, b'hi'), (3, b'\\x00\\x00\\x00?')]
"""

from __future__ import annotations

import struct
from typing import Iterator

#: Wire types: how a field's value is laid out.
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
_MASK64 = (1 << 64) - 1


class ProtobufError(ValueError):
    """The bytes are not a well-formed protobuf message."""


# -- writing -------------------------------------------------------------------

def varint(value: int) -> bytes:
    """Base-128 varint; negative values as their 64-bit two's complement (10 bytes),
    as protobuf writes int32 and int64 fields.

    >>> varint(1).hex(), varint(300).hex(), len(varint(-1))
    ('01', 'ac02', 10)
    """
    value &= _MASK64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return varint((number << 3) | wire_type)


def field_varint(number: int, value: int) -> bytes:
    """An int32/int64/uint64/bool/enum field."""
    return _key(number, VARINT) + varint(int(value))


def field_bytes(number: int, data: bytes | str) -> bytes:
    """A string, bytes or embedded-message field (strings as UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _key(number, LENGTH_DELIMITED) + varint(len(data)) + data


def field_float(number: int, value: float) -> bytes:
    """A 32-bit float field."""
    return _key(number, FIXED32) + struct.pack("<f", value)


# -- reading -------------------------------------------------------------------

def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``data[pos:]`` and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint longer than 10 bytes")


def iter_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field number, wire type, value)`` for each field of a message.

    Varints come as unsigned ints (see ``signed32``), length-delimited fields as
    bytes, fixed32/fixed64 fields as their 4/8 raw little-endian bytes.
    """
    pos, end = 0, len(data)
    while pos < end:
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        if wire_type == VARINT:
            value, pos = read_varint(data, pos)
            yield number, wire_type, value
        elif wire_type == LENGTH_DELIMITED:
            size, pos = read_varint(data, pos)
            if pos + size > end:
                raise ProtobufError(f"field {number} runs past the end of the message")
            yield number, wire_type, data[pos:pos + size]
            pos += size
        elif wire_type in (FIXED32, FIXED64):
            size = 4 if wire_type == FIXED32 else 8
            if pos + size > end:
                raise ProtobufError(f"field {number} runs past the end of the message")
            yield number, wire_type, data[pos:pos + size]
            pos += size
        else:  # groups (3, 4) are deprecated and never used by the messages read here
            raise ProtobufError(f"field {number} has unsupported wire type {wire_type}")


def signed32(value: int) -> int:
    """An int32 field's varint (read as unsigned 64-bit) as a Python int."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def as_float(raw: bytes) -> float:
    """A fixed32 field's bytes as a float."""
    return struct.unpack("<f", raw)[0]
