"""Checks the lines of one byte range of a JSONL file.

The sequential path scans the whole file as one range; the parallel path scans chunks in
child processes. Either way a range's line numbers count from 1 at its first line, and what
it found is a ``RangeResult`` that the caller shifts into place.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import msgspec

from service.datasets.checks import NOT_PLAIN, Example, LineChecker, PlainChat
from service.datasets.lines import read_range
from service.datasets.report import IssueList
from service.datasets.rules import ProviderRules

_BOM = b"\xef\xbb\xbf"
_PROGRESS_EVERY = 8 * 1024 * 1024
# msgspec is several times faster than json; whatever it refuses goes through json, so every
# message of a parse error (and every lenient case json accepts, like NaN) stays json's.
_fast_decode = msgspec.json.Decoder().decode
# Faster still for the common chat line: no dicts built, its shape checked while decoding.
_decode_plain_chat = msgspec.json.Decoder(PlainChat).decode
_TYPED_TRIES = 64  # stop trying typed decoding when it misses this much more than it hits

ExampleSink = Callable[[int, Example], None]
HashSink = Callable[[int, int], None]


@dataclass(slots=True)
class RangeResult:
    errors: IssueList
    warnings: IssueList
    format: str | None
    lines: int = 0
    examples: int = 0
    messages: int = 0
    crlf_lines: int = 0
    first_crlf: int | None = None
    # line and hash of every checked example, in order, when the caller dedupes later
    hashed_lines: array[int] = field(default_factory=lambda: array("q"))
    hashes: array[int] = field(default_factory=lambda: array("q"))

    def record_hash(self, line: int, key: int) -> None:
        self.hashed_lines.append(line)
        self.hashes.append(key)


class Duplicates:
    """Hashes of the first ``limit`` distinct examples; a later equal one gets a warning."""

    def __init__(self, limit: int, warnings: IssueList) -> None:
        self.limit = limit
        self.warnings = warnings
        self.seen: set[int] = set()

    def see(self, line: int, key: int) -> None:
        if key in self.seen:
            self.warnings.add(line, "duplicate_example", "same example as an earlier line")
        elif len(self.seen) < self.limit:
            self.seen.add(key)


@dataclass(frozen=True, slots=True)
class ScanSettings:
    rules: ProviderRules
    max_line_bytes: int
    max_errors: int
    max_warnings: int
    role_tokens: dict[str, int]
    collect_texts: bool


class RangeScanner:
    def __init__(
        self,
        settings: ScanSettings,
        *,
        file_format: str | None,
        at_file_start: bool,
        errors: IssueList | None = None,
        warnings: IssueList | None = None,
    ) -> None:
        """``errors``/``warnings``: lists to report into directly (default: fresh ones)."""
        self.settings = settings
        self.at_file_start = at_file_start
        self.result = RangeResult(
            IssueList(settings.max_errors) if errors is None else errors,
            IssueList(settings.max_warnings) if warnings is None else warnings,
            file_format,
        )
        self._typed_credit = _TYPED_TRIES
        self.checker = LineChecker(
            settings.rules,
            self.result.errors.add,
            self.result.warnings.add,
            settings.role_tokens,
            collect_texts=settings.collect_texts,
        )

    def scan(
        self,
        handle: BinaryIO,
        start: int,
        end: int,
        *,
        on_hash: HashSink | None = None,
        on_example: ExampleSink | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> RangeResult:
        """Checks ``[start, end)``; hashes go to ``on_hash`` (default: kept in the result)."""
        result = self.result
        hash_sink = on_hash or result.record_hash
        limit = self.settings.max_line_bytes
        number = 0
        done = start
        next_progress = start + _PROGRESS_EVERY
        for data, crlf, too_long, length in read_range(handle, start, end, limit):
            number += 1
            if crlf:
                result.crlf_lines += 1
                result.first_crlf = result.first_crlf or number
            if too_long:
                result.errors.add(
                    number, "line_too_long", f"line is {length} bytes; the limit is {limit}"
                )
            else:
                self._line(number, data, hash_sink, on_example)
            if progress is not None:
                done += length + 1 + crlf
                if done >= next_progress:
                    progress(done)
                    next_progress = done + _PROGRESS_EVERY
        result.lines = number
        return result

    def _line(
        self, number: int, data: bytes, on_hash: HashSink, on_example: ExampleSink | None
    ) -> None:
        result = self.result
        if number == 1 and self.at_file_start and data.startswith(_BOM):
            result.errors.add(1, "utf8_bom", "the file starts with a UTF-8 byte order mark")
            data = data[len(_BOM) :]
        if not data.strip():
            issues = (
                result.errors if self.settings.rules.blank_lines_are_errors else result.warnings
            )
            issues.add(number, "blank_line", "blank line")
            return
        example = self._typed(number, data) if self._typed_credit > 0 else NOT_PLAIN
        if example is NOT_PLAIN:
            try:
                obj = _fast_decode(data)
            except (msgspec.MsgspecError, ValueError, RecursionError):
                obj = self._parse_slowly(number, data)
                if obj is _UNPARSED:
                    return
            if isinstance(obj, dict):
                result.examples += 1
            example = self.checker.check(number, obj, result.format)
        if example is None:
            return
        if result.format is None:
            result.format = example.format
            problem = self.checker.check_format_support(example.format)
            if problem is not None:
                result.errors.add(number, "unsupported_format", problem)
        result.messages += example.messages
        on_hash(number, hash(data))
        if on_example is not None:
            on_example(number, example)

    def _typed(self, number: int, data: bytes) -> Example | None:
        """The line checked from a typed decode, or NOT_PLAIN when that does not apply."""
        if self.result.format not in (None, "chat"):
            return NOT_PLAIN
        try:
            line = _decode_plain_chat(data)
        except (msgspec.MsgspecError, ValueError, RecursionError):
            self._typed_credit -= 1
            return NOT_PLAIN
        example = self.checker.check_plain_chat(number, line.messages)
        if example is not NOT_PLAIN:
            self._typed_credit = min(self._typed_credit + 1, _TYPED_TRIES)
            self.result.examples += 1
        return example

    def _parse_slowly(self, number: int, data: bytes) -> Any:
        errors = self.result.errors
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.add(number, "invalid_utf8", f"not UTF-8 at byte {exc.start + 1}")
            return _UNPARSED
        try:
            obj = json.loads(text)
        except ValueError as exc:
            errors.add(number, "invalid_json", f"invalid JSON: {exc}")
            return _UNPARSED
        except RecursionError:
            errors.add(number, "invalid_json", "invalid JSON: nested too deeply")
            return _UNPARSED
        # json.loads takes an escape of half a surrogate pair ("\ud800") as a character;
        # no provider can be sent it (it has no UTF-8), so the line is refused here, not at
        # launch. (The fast decoders refuse such lines, which is how only they get here.)
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end]
            errors.add(
                number,
                "invalid_unicode",
                f"a string holds an unpaired surrogate escape (\\u{ord(bad[0]):04x}), "
                "which is not a character",
            )
            return _UNPARSED
        return obj


_UNPARSED = object()
