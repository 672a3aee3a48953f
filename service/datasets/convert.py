"""Conversion between our canonical records and each target's upload format.

Input (the canonical JSONL, also the local trainer's input) is one JSON object per line in
one of four formats:

- ``chat``: OpenAI chat lines ``{"messages": [...], "tools"?, "parallel_tool_calls"?}``;
  an assistant message may carry ``"weight": 0|1`` (0 = not trained on);
- ``prompt_completion``: ``{"prompt": str, "completion": str}``;
- ``text``: ``{"text": str}`` for continued pre-training;
- ``preference``: OpenAI DPO ``{"input": {"messages": [...]}, "preferred_output": [msg],
  "non_preferred_output": [msg]}``.

Providers all speak dialects of this. Whatever a target cannot express is never silently
lost: either it is rewritten and the rewrite reported (a ``developer`` role sent as
``system``), or the line is left out and reported (a ``text`` line for OpenAI).
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from service.datasets import gemini
from service.datasets.lines import read_lines
from service.datasets.records import (
    ChatRecord,
    Message,
    PreferenceRecord,
    Record,
    RecordError,
    detect_format,
    format_of,
    record_from_dict,
    record_to_dict,
)
from service.datasets.report import IssueList
from service.datasets.rules import rules_for

TARGETS = ("openai", "together", "mistral", "fireworks", "vertex", "local")
_ALNUM = string.ascii_letters + string.digits
# Message keys beyond the canonical ones that a target understands.
_KNOWN_MESSAGE_EXTRAS = {"openai": frozenset({"function_call", "refusal"})}


class Unexpressible(Exception):
    """The record cannot be written for the target at all."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Problem = tuple[str, str]  # (code, message)


@dataclass(slots=True)
class ConversionReport:
    target: str
    format: str | None
    lines_read: int
    lines_written: int
    problems: IssueList

    @property
    def lossless(self) -> bool:
        return self.problems.total == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "format": self.format,
            "lossless": self.lossless,
            "lines_read": self.lines_read,
            "lines_written": self.lines_written,
            "problems": [p.to_dict() for p in self.problems.sorted()],
            "problem_count": self.problems.total,
            "problem_counts": dict(self.problems.counts),
        }


def mistral_tool_call_id(original: str) -> str:
    """A stable 9-character alphanumeric id, as mistral-common demands."""
    digest = int.from_bytes(hashlib.sha256(original.encode()).digest()[:8], "big")
    chars = []
    for _ in range(9):
        digest, index = divmod(digest, len(_ALNUM))
        chars.append(_ALNUM[index])
    return "".join(chars)


class _Converter:
    def __init__(self, target: str) -> None:
        self.target = target
        self.rules = rules_for(target)
        self.problems: list[Problem] = []
        self.id_map: dict[str, str] = {}

    def note(self, code: str, message: str) -> None:
        self.problems.append((code, message))

    def record(self, record: Record) -> dict[str, Any]:
        fmt = format_of(record)
        if fmt not in self.rules.formats:
            raise Unexpressible("format_not_supported", f"{self.target} has no {fmt} format")
        if self.target != "local" and record.extra:
            self.note("keys_dropped", f"{self.target} ignores keys {sorted(record.extra)}")
            record = replace(record, extra={})
        if isinstance(record, ChatRecord):
            record = self.chat(record)
        elif isinstance(record, PreferenceRecord):
            record = replace(
                record,
                input=self.chat(record.input),
                preferred_output=[self.message(m) for m in record.preferred_output],
                non_preferred_output=[self.message(m) for m in record.non_preferred_output],
            )
        return record_to_dict(record)

    def chat(self, record: ChatRecord) -> ChatRecord:
        self.id_map = {}
        parallel = record.parallel_tool_calls
        if parallel is not None and not self.rules.supports_parallel_tool_calls:
            self.note("parallel_tool_calls_dropped", f"{self.target} has no parallel_tool_calls")
            parallel = None
        extra = record.extra
        if self.target != "local" and extra:
            self.note("keys_dropped", f"{self.target} ignores keys {sorted(extra)}")
            extra = {}
        return ChatRecord(
            messages=[self.message(m) for m in record.messages],
            tools=record.tools,
            parallel_tool_calls=parallel,
            extra=extra,
        )

    def message(self, message: Message) -> Message:
        role = message.role
        if role not in self.rules.roles:
            if role == "developer" and "system" in self.rules.roles:
                self.note("role_mapped", f"{self.target} has no developer role; sent as system")
                role = "system"
            else:
                raise Unexpressible("role_not_supported", f"{self.target} has no {role} role")
        if not isinstance(message.content, str | None) and not self.rules.supports_multimodal:
            raise Unexpressible(
                "content_parts_not_supported", f"{self.target} needs string content"
            )
        if message.weight is not None and not self.rules.supports_weight:
            raise Unexpressible("weight_not_supported", f"{self.target} has no weight")
        name = message.name
        if name is not None and not self.rules.supports_message_name:
            self.note("name_dropped", f"{self.target} has no message name; dropped {name!r}")
            name = None
        known = _KNOWN_MESSAGE_EXTRAS.get(self.target, frozenset())
        extra = message.extra
        dropped = sorted(k for k in extra if k not in known)
        if dropped and self.target != "local":
            self.note("keys_dropped", f"{self.target} ignores message keys {dropped}")
            extra = {k: v for k, v in extra.items() if k in known}
        tool_calls, call_id = message.tool_calls, message.tool_call_id
        pattern = self.rules.tool_call_id_pattern
        if pattern is not None:
            tool_calls = [self._call_with_id(call, pattern.match) for call in tool_calls or []]
            tool_calls = tool_calls or None
            if call_id is not None and not pattern.match(call_id):
                call_id = self._new_id(call_id)
        return replace(
            message, role=role, name=name, extra=extra, tool_calls=tool_calls, tool_call_id=call_id
        )

    def _call_with_id(self, call: dict[str, Any], ok: Callable[[str], object]) -> dict[str, Any]:
        old = call.get("id")
        if isinstance(old, str) and not ok(old):
            return {**call, "id": self._new_id(old)}
        return call

    def _new_id(self, old: str) -> str:
        if old not in self.id_map:
            self.id_map[old] = mistral_tool_call_id(old)
            self.note(
                "tool_call_id_rewritten", f"tool call id {old!r} sent as {self.id_map[old]!r}"
            )
        return self.id_map[old]


def to_target(record: Record, target: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The target's line for ``record`` (None when it cannot be expressed) and every change."""
    converter = _Converter(target)
    try:
        line = converter.record(record)
        if target == "vertex":  # Gemini's own shape, from the record as Vertex's rules left it
            line, notes = gemini.to_gemini(record_from_dict(line, format_of(record)))
            converter.problems.extend(notes)
        return line, converter.problems
    except (Unexpressible, gemini.Unexpressible) as exc:
        return None, [*converter.problems, (exc.code, exc.message)]


def from_target(obj: dict[str, Any], target: str) -> Record:
    """Reads a target's line back into a canonical record."""
    if target == "mistral" and "interactions" in obj and "messages" not in obj:
        obj = {
            "messages": obj["interactions"],
            **{k: v for k, v in obj.items() if k != "interactions"},
        }
    if target == "vertex":
        return gemini.from_gemini(obj)
    formats = detect_format(obj)
    if len(formats) != 1:
        raise RecordError(f"cannot tell the format of a {target} line")
    return record_from_dict(obj, formats[0])


def convert_file(
    src: str | Path,
    dst: str | Path,
    target: str,
    *,
    max_line_bytes: int = 16 * 1024 * 1024,
    max_problems: int = 100,
) -> ConversionReport:
    """Streams ``src`` (canonical JSONL) into ``dst`` in ``target``'s format.

    Lines that cannot be parsed or expressed are left out and reported with their number.
    """
    rules_for(target)  # unknown targets fail before dst is created
    problems = IssueList(max_problems)
    report = ConversionReport(target, None, 0, 0, problems)
    with Path(src).open("rb") as source, Path(dst).open("w", encoding="utf-8") as sink:
        for raw in read_lines(source, max_line_bytes):
            report.lines_read = raw.number
            data = raw.data.removeprefix(b"\xef\xbb\xbf") if raw.number == 1 else raw.data
            if raw.too_long:
                problems.add(raw.number, "line_too_long", "line is over the size limit")
                continue
            if not data.strip():
                continue
            try:
                obj = json.loads(data.decode("utf-8"))
                formats = detect_format(obj) if isinstance(obj, dict) else []
                if len(formats) != 1:
                    raise RecordError("no single dataset format fits this line")
                record = record_from_dict(obj, formats[0])
            except (ValueError, RecordError) as exc:
                problems.add(raw.number, "invalid_line", str(exc))
                continue
            report.format = report.format or formats[0]
            line, changes = to_target(record, target)
            for code, message in changes:
                problems.add(raw.number, code, message)
            if line is not None:
                sink.write(json.dumps(line, ensure_ascii=False) + "\n")
                report.lines_written += 1
    return report
