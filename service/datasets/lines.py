"""Reads a JSONL file line by line in bounded memory, however long a line is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

_SKIP_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RawLine:
    number: int  # 1-based
    data: bytes  # without the line ending; empty when too_long
    crlf: bool
    too_long: bool
    length: int  # bytes on the line without its ending (counted even when too long)


def read_lines(handle: BinaryIO, max_line_bytes: int) -> Iterator[RawLine]:
    """Yields every physical line; a line over ``max_line_bytes`` is skipped chunk by chunk."""
    number = 0
    while True:
        data = handle.readline(max_line_bytes + 2)  # room for "\r\n"
        if not data:
            return
        number += 1
        if data.endswith(b"\n") or len(data) <= max_line_bytes:
            body = data[:-1] if data.endswith(b"\n") else data
            crlf = body.endswith(b"\r")
            if crlf:
                body = body[:-1]
            if len(body) > max_line_bytes:
                yield RawLine(number, b"", crlf, True, len(body))
            else:
                yield RawLine(number, body, crlf, False, len(body))
            continue
        length = len(data)
        while not data.endswith(b"\n"):
            data = handle.readline(_SKIP_CHUNK)
            if not data:
                break
            length += len(data)
        yield RawLine(number, b"", False, True, length - (1 if data.endswith(b"\n") else 0))
