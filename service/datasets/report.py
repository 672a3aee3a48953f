"""The validation report: bounded issue lists, token statistics, and its JSON shape."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Issue:
    line: int | None  # 1-based; None for a file-level issue
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "message": self.message}


# Issues found after a line's own checks; on one line they sort after its other issues, in
# this order, however the work was scheduled (token counts arrive late, chunks merge late).
_LATE_CODES = {"duplicate_example": 1, "example_too_long": 2, "crlf_line_endings": 3}


def _order(line: int | None, code: str, seq: int) -> tuple[int, int, int]:
    return (-1 if line is None else line, _LATE_CODES.get(code, 0), seq)


class IssueList:
    """Keeps the ``limit`` first issues by line and a count per code: bounded memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: Counter[str] = Counter()
        self._kept: list[tuple[tuple[int, int, int], Issue]] = []
        self._seq = 0

    def add(self, line: int | None, code: str, message: str) -> None:
        self.counts[code] += 1
        self._keep(Issue(line, code, message))

    def _keep(self, issue: Issue) -> None:
        if self.limit <= 0:
            return
        self._seq += 1
        self._kept.append((_order(issue.line, issue.code, self._seq), issue))
        if len(self._kept) >= 2 * self.limit:
            self._kept.sort(key=lambda pair: pair[0])
            del self._kept[self.limit :]

    def merge(self, other: IssueList, line_offset: int) -> None:
        """Adds ``other``'s issues (from a later part of the file) with lines shifted."""
        self.counts.update(other.counts)
        for issue in other.sorted():
            line = None if issue.line is None else issue.line + line_offset
            self._keep(Issue(line, issue.code, issue.message))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def sorted(self) -> list[Issue]:
        self._kept.sort(key=lambda pair: pair[0])
        del self._kept[self.limit :]
        return [issue for _, issue in self._kept]


def _percentile(sorted_values: array[int], fraction: float) -> int:
    """Nearest-rank percentile of an already sorted array."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(slots=True)
class TokenStats:
    tokenizer: str | None = None
    estimated: bool = False
    context_length: int | None = None
    total: int = 0
    assistant: int = 0
    trainable: int = 0
    clipped_total: int = 0  # Σ min(context_length, example tokens): OpenAI's billable base
    examples_over_context: int = 0
    per_example: array[int] = field(default_factory=lambda: array("q"))

    def add_example(self, tokens: int, assistant: int, trainable: int) -> None:
        self.total += tokens
        self.assistant += assistant
        self.trainable += trainable
        self.per_example.append(tokens)
        limit = self.context_length
        if limit is not None and tokens > limit:
            self.examples_over_context += 1
            self.clipped_total += limit
        else:
            self.clipped_total += tokens

    def to_dict(self) -> dict[str, Any]:
        ordered = array("q", sorted(self.per_example))
        spread: dict[str, int | None] = dict.fromkeys(("min", "p50", "p95", "max"))
        if ordered:
            spread = {
                "min": ordered[0],
                "p50": _percentile(ordered, 0.50),
                "p95": _percentile(ordered, 0.95),
                "max": ordered[-1],
            }
        return {
            "total": self.total,
            "assistant": self.assistant,
            "trainable": self.trainable,
            "estimated": self.estimated,
            "tokenizer": self.tokenizer,
            "context_length": self.context_length,
            "examples_over_context": self.examples_over_context,
            "billable_per_epoch": self.clipped_total,
            "per_example": spread,
        }


@dataclass(slots=True)
class ValidationReport:
    provider: str
    model: str | None
    format: str | None
    errors: IssueList
    warnings: IssueList
    tokens: TokenStats | None
    examples: int = 0
    messages: int = 0
    lines: int = 0
    bytes: int = 0
    billed_tokens: int | None = None
    epochs: int | float | None = None

    @property
    def valid(self) -> bool:
        return self.errors.total == 0

    def to_dict(self) -> dict[str, Any]:
        tokens: dict[str, Any] = (
            self.tokens.to_dict()
            if self.tokens is not None
            else {"total": 0, "trainable": 0, "estimated": True, "counted": False}
        )
        return {
            "valid": self.valid,
            "format": self.format,
            "provider": self.provider,
            "model": self.model,
            "examples": self.examples,
            "messages": self.messages,
            "lines": self.lines,
            "bytes": self.bytes,
            "errors": [i.to_dict() for i in self.errors.sorted()],
            "warnings": [i.to_dict() for i in self.warnings.sorted()],
            "error_count": self.errors.total,
            "warning_count": self.warnings.total,
            "error_counts": dict(self.errors.counts),
            "warning_counts": dict(self.warnings.counts),
            "tokens": tokens,
            "billed_tokens": self.billed_tokens,
            "epochs": self.epochs,
        }
