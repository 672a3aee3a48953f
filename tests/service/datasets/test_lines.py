"""The block reader of byte ranges agrees with the line-by-line reader, chunk by chunk."""

from __future__ import annotations

import io
import itertools
import random

from service.datasets.lines import line_start_at_or_after, read_lines, read_range


def test_ranges_read_in_blocks_match_read_lines() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        parts = [
            bytes(rng.choice(b"ab\r") for _ in range(rng.randint(0, 14)))
            for _ in range(rng.randint(0, 12))
        ]
        data = b"\n".join(parts) + (b"\n" if parts and rng.random() < 0.5 else b"")
        limit = rng.randint(1, 8)
        expected = [
            (r.data, r.crlf, r.too_long, r.length) for r in read_lines(io.BytesIO(data), limit)
        ]
        handle = io.BytesIO(data)
        bounds = [0]
        while bounds[-1] < len(data):
            step = rng.randint(1, 10)
            bounds.append(line_start_at_or_after(handle, bounds[-1] + step, len(data)))
        got = [
            facts
            for start, end in itertools.pairwise(bounds)
            # tiny blocks, so lines and "\r\n" straddle them
            for facts in read_range(handle, start, end, limit, block_bytes=7)
        ]
        assert got == expected, (data, limit, bounds)


def test_a_chunk_starts_after_a_newline() -> None:
    data = b"abc\ndef\n\nxyz"
    handle = io.BytesIO(data)
    assert line_start_at_or_after(handle, 0, len(data)) == 0
    assert line_start_at_or_after(handle, 4, len(data)) == 4  # already a line start
    assert line_start_at_or_after(handle, 5, len(data)) == 8
    assert line_start_at_or_after(handle, 9, len(data)) == 9
    assert line_start_at_or_after(handle, 10, len(data)) == len(data)
