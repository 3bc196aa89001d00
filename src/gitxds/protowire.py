"""Protobuf wire format for bytes assembled by hand: a length-delimited field is its tag, a varint
length and the bytes. Deterministic serialization writes fields in field-number order, so a message
whose parts are already serialized can be put together by joining bytes."""

from __future__ import annotations

__all__ = ["field_header", "string_field", "varint"]

_LENGTH_DELIMITED = 2


def varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative integer."""
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def field_header(field_number: int, length: int) -> bytes:
    """Tag and length of a length-delimited protobuf field."""
    return varint((field_number << 3) | _LENGTH_DELIMITED) + varint(length)


def string_field(field_number: int, value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return field_header(field_number, len(raw)) + raw
