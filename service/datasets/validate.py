"""Streaming validation of a JSONL training file: bounded memory, both cores for counting.

The main thread reads, parses and checks lines; batches of texts go to a small thread pool
whose tokenizers release the GIL, so counting overlaps with parsing. At most
``2 × workers`` batches are in flight, which bounds memory whatever the file size.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from service.datasets.billing import Epochs, billed_tokens, resolve_epochs
from service.datasets.checks import PROMPT, TRAINABLE, Example, LineChecker
from service.datasets.lines import read_lines
from service.datasets.report import IssueList, TokenStats, ValidationReport
from service.datasets.rules import ALL_ROLES, default_context_length, rules_for
from service.datasets.tokens import TokenCounter, counter_for

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class ValidationOptions:
    max_line_bytes: int = 16 * 1024 * 1024
    max_errors: int = 100
    max_warnings: int = 100
    count_tokens: bool = True
    tokenizer_dir: Path | None = None
    workers: int | None = None  # threads counting tokens; None = every core
    methods: frozenset[str] | None = None  # training methods the model supports
    epochs: Epochs | None = None  # None: the provider default ("auto" on OpenAI)
    n_evals: int = 0
    validation_tokens: int = 0
    max_duplicate_hashes: int = 500_000  # beyond this, duplicates are no longer looked for
    batch_chars: int = 1 << 20  # characters of text per counting batch


@dataclass(slots=True)
class _Batch:
    texts: list[str] = field(default_factory=list)
    kinds: list[int] = field(default_factory=list)
    examples: list[tuple[int, int, int]] = field(default_factory=list)  # line, overhead, n
    chars: int = 0

    def add(self, line: int, example: Example) -> None:
        self.texts.extend(example.texts)
        self.kinds.extend(example.kinds)
        self.examples.append((line, example.overhead, len(example.texts)))
        self.chars += sum(map(len, example.texts))


class _Run:
    def __init__(
        self,
        path: Path,
        provider: str,
        model: str | None,
        context_length: int | None,
        options: ValidationOptions,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.path = path
        self.options = options
        self.progress = progress
        self.rules = rules_for(provider).with_methods(options.methods)
        self.errors = IssueList(options.max_errors)
        self.warnings = IssueList(options.max_warnings)
        self.counter: TokenCounter | None = None
        self.stats: TokenStats | None = None
        role_tokens = dict.fromkeys(ALL_ROLES, 1)
        if options.count_tokens:
            self.counter = counter_for(provider, model, options.tokenizer_dir)
            roles = sorted(ALL_ROLES)
            role_tokens = dict(zip(roles, self.counter.count_batch(roles), strict=True))
            self.stats = TokenStats(
                tokenizer=self.counter.name,
                estimated=self.counter.estimated,
                context_length=context_length or default_context_length(provider, model),
            )
        self.checker = LineChecker(self.rules, self.errors.add, self.warnings.add, role_tokens)
        self.report = ValidationReport(
            provider, model, None, self.errors, self.warnings, self.stats
        )
        self.seen: set[int] = set()
        self.crlf_lines = 0
        self.first_crlf: int | None = None

    def run(self) -> ValidationReport:
        size = self.path.stat().st_size
        self.report.bytes = size
        if size == 0:
            self.errors.add(None, "empty_file", "the file is empty")
            return self.report
        limit = self.rules.max_file_bytes
        if limit is not None and size > limit:
            self.errors.add(
                None, "file_too_large", f"{size} bytes; {self.rules.name} accepts at most {limit}"
            )
        workers = self.options.workers or os.cpu_count() or 1
        with ThreadPoolExecutor(workers) as pool, self.path.open("rb") as handle:
            self._stream(handle, pool, workers)
        self._finish()
        return self.report

    def _stream(self, handle: object, pool: ThreadPoolExecutor, workers: int) -> None:
        pending: deque[tuple[_Batch, Future[list[int]]]] = deque()
        batch = _Batch()
        done_bytes = 0
        for raw in read_lines(handle, self.options.max_line_bytes):  # type: ignore[arg-type]
            self.report.lines = raw.number
            done_bytes += raw.length + 1 + raw.crlf
            example = self._line(raw.number, raw.data, raw.crlf, raw.too_long, raw.length)
            if example is None or self.counter is None:
                continue
            batch.add(raw.number, example)
            if batch.chars >= self.options.batch_chars:
                pending.append((batch, pool.submit(self.counter.count_batch, batch.texts)))
                batch = _Batch()
                while len(pending) > 2 * workers:
                    self._merge(*pending.popleft())
                if self.progress is not None:
                    self.progress(done_bytes)
        if batch.examples and self.counter is not None:
            pending.append((batch, pool.submit(self.counter.count_batch, batch.texts)))
        while pending:
            self._merge(*pending.popleft())
        if self.progress is not None:
            self.progress(done_bytes)

    def _line(
        self, number: int, data: bytes, crlf: bool, too_long: bool, length: int
    ) -> Example | None:
        if crlf:
            self.crlf_lines += 1
            self.first_crlf = self.first_crlf or number
        if too_long:
            self.errors.add(
                number,
                "line_too_long",
                f"line is {length} bytes; the limit is {self.options.max_line_bytes}",
            )
            return None
        if number == 1 and data.startswith(_BOM):
            self.errors.add(1, "utf8_bom", "the file starts with a UTF-8 byte order mark")
            data = data[len(_BOM) :]
        if not data.strip():
            report = self.errors if self.rules.blank_lines_are_errors else self.warnings
            report.add(number, "blank_line", "blank line")
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.errors.add(number, "invalid_utf8", f"not UTF-8 at byte {exc.start + 1}")
            return None
        try:
            obj = json.loads(text)
        except ValueError as exc:
            self.errors.add(number, "invalid_json", f"invalid JSON: {exc}")
            return None
        if isinstance(obj, dict):
            self.report.examples += 1
        example = self.checker.check(number, obj, self.report.format)
        if example is None:
            return None
        if self.report.format is None:
            self.report.format = example.format
            problem = self.checker.check_format_support(example.format)
            if problem is not None:
                self.errors.add(number, "unsupported_format", problem)
        self.report.messages += example.messages
        self._duplicate(number, data)
        return example

    def _duplicate(self, number: int, data: bytes) -> None:
        key = hash(data)
        if key in self.seen:
            self.warnings.add(number, "duplicate_example", "same example as an earlier line")
        elif len(self.seen) < self.options.max_duplicate_hashes:
            self.seen.add(key)

    def _merge(self, batch: _Batch, future: Future[list[int]]) -> None:
        assert self.stats is not None
        counts = future.result()
        kinds = batch.kinds
        limit = self.stats.context_length
        over_is_error = self.rules.over_context_is_error
        start = 0
        for line, overhead, n in batch.examples:
            total = overhead
            assistant = trainable = 0
            for i in range(start, start + n):
                tokens = counts[i]
                total += tokens
                kind = kinds[i]
                if kind != PROMPT:
                    assistant += tokens
                    if kind == TRAINABLE:
                        trainable += tokens
            start += n
            self.stats.add_example(total, assistant, trainable)
            if limit is not None and total > limit:
                report = self.errors if over_is_error else self.warnings
                report.add(
                    line,
                    "example_too_long",
                    f"{total} tokens exceed the {limit}-token context"
                    + ("" if over_is_error else "; it will be truncated"),
                )

    def _finish(self) -> None:
        report, rules = self.report, self.rules
        if self.crlf_lines:
            self.warnings.add(
                self.first_crlf,
                "crlf_line_endings",
                f"{self.crlf_lines} lines end with CRLF instead of LF",
            )
        if report.examples < rules.min_examples:
            self.errors.add(
                None,
                "too_few_examples",
                f"{report.examples} examples; {rules.name} needs at least {rules.min_examples}",
            )
        if rules.max_examples is not None and report.examples > rules.max_examples:
            self.errors.add(
                None,
                "too_many_examples",
                f"{report.examples} examples; {rules.name} accepts at most {rules.max_examples}",
            )
        if self.stats is not None:
            options = self.options
            report.epochs = resolve_epochs(rules.name, options.epochs, report.examples)
            report.billed_tokens = billed_tokens(
                rules.name,
                self.stats,
                report.examples,
                epochs=options.epochs,
                n_evals=options.n_evals,
                validation_tokens=options.validation_tokens,
            )


def validate_file(
    path: str | Path,
    *,
    provider: str = "openai",
    model: str | None = None,
    context_length: int | None = None,
    options: ValidationOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> ValidationReport:
    """Validates ``path`` against ``provider``'s rules; ``progress`` gets bytes read so far.

    Raises ValueError for an unknown provider and OSError when the file cannot be read.
    """
    run = _Run(
        Path(path), provider, model, context_length, options or ValidationOptions(), progress
    )
    return run.run()


__all__ = ["ValidationOptions", "validate_file"]
