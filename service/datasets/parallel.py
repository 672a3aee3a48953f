"""Checks a large file in line-aligned chunks on several processes, with the sequential
scan's exact result.

A file's format is that of its first valid line, and every later line is judged against it,
so the first chunks are checked here until the format is known; the remaining chunks then go
to forked children that all know it. Results are taken in file order: each chunk's line
numbers are shifted by the lines before it, issue lists merged (they keep the first issues by
line, whoever found them), and example hashes replayed through one ``Duplicates`` in order,
exactly as the sequential scan would have seen them. At most ``2 × processes`` chunks are in
flight, so memory stays bounded whatever the file size.

Children are forked: they start in milliseconds, share the parent's pages, and share its
``hash()`` seed, so the hashes they return match the ones computed here.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import BinaryIO

from service.datasets.lines import line_start_at_or_after
from service.datasets.report import IssueList
from service.datasets.scan import Duplicates, RangeResult, RangeScanner, ScanSettings

# Small, so that the format is usually known before the children start.
_FIRST_CHUNK_BYTES = 256 * 1024

# What every chunk needs: set in each child by the pool's initializer.
_job: tuple[Path, ScanSettings, str | None] | None = None


def parallel_processes(requested: int | None, min_bytes: int, size: int) -> int:
    """How many processes to check a file of ``size`` bytes with (1: sequentially)."""
    if size < min_bytes or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, requested or os.cpu_count() or 1)


def _chunks(handle: BinaryIO, size: int, chunk_bytes: int) -> Iterator[tuple[int, int]]:
    start, step = 0, min(_FIRST_CHUNK_BYTES, chunk_bytes)
    while start < size:
        end = line_start_at_or_after(handle, start + step, size)
        yield start, end
        start, step = end, chunk_bytes


def _set_job(path: Path, settings: ScanSettings, file_format: str | None) -> None:
    global _job
    _job = (path, settings, file_format)


def _scan_chunk(start: int, end: int) -> RangeResult:
    assert _job is not None, "a chunk child runs after _set_job"
    path, settings, file_format = _job
    scanner = RangeScanner(settings, file_format=file_format, at_file_start=start == 0)
    with path.open("rb") as handle:
        return scanner.scan(handle, start, end)


class _Merger:
    """Folds chunk results, in file order, into one result for the whole file."""

    def __init__(self, errors: IssueList, warnings: IssueList, duplicates: Duplicates) -> None:
        self.total = RangeResult(errors, warnings, None)
        self.duplicates = duplicates

    def add(self, part: RangeResult) -> None:
        total, offset = self.total, self.total.lines
        total.errors.merge(part.errors, offset)
        total.warnings.merge(part.warnings, offset)
        see = self.duplicates.see
        for line, key in zip(part.hashed_lines, part.hashes, strict=True):
            see(offset + line, key)
        total.lines += part.lines
        total.examples += part.examples
        total.messages += part.messages
        total.crlf_lines += part.crlf_lines
        if total.first_crlf is None and part.first_crlf is not None:
            total.first_crlf = offset + part.first_crlf
        if total.format is None:
            total.format = part.format


def scan_in_parallel(
    path: Path,
    size: int,
    settings: ScanSettings,
    *,
    processes: int,
    chunk_bytes: int,
    into: tuple[IssueList, IssueList, Duplicates],
    progress: Callable[[int], None] | None,
) -> RangeResult:
    """Scans the whole file; issues and duplicate warnings go to ``into``'s lists."""
    merger = _Merger(*into)
    with path.open("rb") as handle:
        chunks = _chunks(handle, size, chunk_bytes)
        for start, end in chunks:
            scanner = RangeScanner(
                settings, file_format=merger.total.format, at_file_start=start == 0
            )
            merger.add(scanner.scan(handle, start, end))
            if progress is not None:
                progress(end)
            if merger.total.format is not None:
                break
        following = next(chunks, None)
        if following is None:
            return merger.total
        with ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_set_job,
            initargs=(path, settings, merger.total.format),
        ) as pool:
            pending: deque[tuple[int, Future[RangeResult]]] = deque()
            for start, end in itertools.chain([following], chunks):
                pending.append((end, pool.submit(_scan_chunk, start, end)))
                if len(pending) >= 2 * processes:
                    _take(pending, merger, progress)
            while pending:
                _take(pending, merger, progress)
    return merger.total


def _take(
    pending: deque[tuple[int, Future[RangeResult]]],
    merger: _Merger,
    progress: Callable[[int], None] | None,
) -> None:
    end, future = pending.popleft()
    merger.add(future.result())
    if progress is not None:
        progress(end)
