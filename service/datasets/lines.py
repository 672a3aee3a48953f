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


_BLOCK = 1 << 20

# (data, crlf, too_long, length): the same facts as RawLine, cheaper to make per line.
LineFacts = tuple[bytes, bool, bool, int]


def _ended(full: bytes, max_line_bytes: int) -> LineFacts:
    """A line that ended with "\\n", judged exactly as ``read_lines`` judges it."""
    if len(full) > max_line_bytes + 1:
        return b"", False, True, len(full)
    crlf = full.endswith(b"\r")
    body = full[:-1] if crlf else full
    if len(body) > max_line_bytes:
        return b"", crlf, True, len(body)
    return body, crlf, False, len(body)


def _unended(full: bytes, max_line_bytes: int) -> LineFacts:
    """The file's last line when it has no final "\\n"."""
    if len(full) > max_line_bytes:
        return b"", False, True, len(full)
    crlf = full.endswith(b"\r")
    body = full[:-1] if crlf else full
    return body, crlf, False, len(body)


def read_range(
    handle: BinaryIO, start: int, end: int, max_line_bytes: int, block_bytes: int = _BLOCK
) -> Iterator[LineFacts]:
    """The lines of ``[start, end)`` (both at line starts), read in blocks: same results as
    ``read_lines`` on that part of the file, with at most one line of ``max_line_bytes`` held."""
    handle.seek(start)
    remaining = end - start
    pieces: list[bytes] = []  # the unfinished line so far
    held = 0
    skipped = -1  # ≥ 0 while inside a line already known to be too long: its bytes so far
    while remaining > 0:
        block = handle.read(min(block_bytes, remaining))
        if not block:
            break
        remaining -= len(block)
        parts = block.split(b"\n")
        last = parts.pop()
        if parts:
            first = parts[0]
            if skipped >= 0:
                yield b"", False, True, skipped + len(first)
                skipped = -1
            else:
                yield _ended(b"".join(pieces) + first if pieces else first, max_line_bytes)
            pieces, held = [], 0
            for i in range(1, len(parts)):
                yield _ended(parts[i], max_line_bytes)
        if skipped >= 0:
            skipped += len(last)
        elif last:
            pieces.append(last)
            held += len(last)
            if held > max_line_bytes + 1:
                skipped, pieces, held = held, [], 0
    if skipped >= 0:
        yield b"", False, True, skipped
    elif pieces:
        yield _unended(b"".join(pieces), max_line_bytes)


def line_start_at_or_after(handle: BinaryIO, offset: int, size: int) -> int:
    """The first line start ≥ ``offset`` (``size`` when none): where a chunk may begin."""
    if offset <= 0:
        return 0
    handle.seek(offset - 1)
    position = offset - 1
    while position < size:
        block = handle.read(_BLOCK)
        if not block:
            break
        found = block.find(b"\n")
        if found >= 0:
            return position + found + 1
        position += len(block)
    return size
