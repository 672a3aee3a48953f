"""One file with every kind of defect: each is reported on its own line with its code."""

from __future__ import annotations

import json
from pathlib import Path

from service.datasets.validate import ValidationOptions, validate_file
from tests.service.datasets.helpers import chat, codes_by_line


def _line(obj: object) -> bytes:
    return json.dumps(obj).encode()


def _every_defect() -> tuple[list[bytes], set[tuple[int | None, str]], set[tuple[int, str]]]:
    bad_schema = {"type": "function", "function": {"name": "f", "parameters": {"type": 7}}}
    bad_args = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{x"}}
    lines = [
        b"\xef\xbb\xbf" + _line(chat("bom")),  # 1
        _line(chat("crlf")) + b"\r",  # 2
        b"",  # 3
        b'{"messages": "caf\xe9"}',  # 4
        b'{"messages": [',  # 5
        b"[1, 2]",  # 6
        _line({"foo": 1}),  # 7
        _line({"prompt": "a", "completion": "b"}),  # 8
        _line(chat("empty", "")),  # 9
        _line(
            {
                "messages": [
                    {"role": "user", "content": "w"},
                    {"role": "assistant", "content": "x", "weight": 2},
                ]
            }
        ),  # 10
        _line(
            {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}
        ),  # 11
        _line({"messages": [{"role": "user", "content": "no answer"}]}),  # 12
        _line({**chat("schema"), "tools": [bad_schema]}),  # 13
        _line(
            {
                "messages": [
                    {"role": "user", "content": "call"},
                    {"role": "assistant", "tool_calls": [bad_args]},
                ]
            }
        ),  # 14
        _line(chat("crlf")),  # 15: same example as line 2
        _line(chat("x" * 5000)),  # 16: over max_line_bytes
        _line({"messages": [{"role": "user"}, {"role": "assistant", "content": "y"}]}),  # 17
        _line(chat("long " * 80)),  # 18: over the 60-token context
    ]
    errors: set[tuple[int | None, str]] = {
        (1, "utf8_bom"),
        (4, "invalid_utf8"),
        (5, "invalid_json"),
        (6, "not_an_object"),
        (7, "unknown_format"),
        (8, "mixed_format"),
        (9, "empty_assistant_message"),
        (10, "invalid_weight"),
        (11, "unrecognized_role"),
        (12, "missing_assistant_message"),
        (13, "invalid_tool_schema"),
        (14, "invalid_tool_call_arguments"),
        (16, "line_too_long"),
        (17, "missing_content"),
    }
    warnings = {
        (2, "crlf_line_endings"),
        (3, "blank_line"),
        (15, "duplicate_example"),
        (18, "example_too_long"),
    }
    return lines, errors, warnings


def test_every_defect_is_reported_on_its_line(tmp_path: Path) -> None:
    lines, errors, warnings = _every_defect()
    path = tmp_path / "defects.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    report = validate_file(
        path, context_length=60, options=ValidationOptions(max_line_bytes=2000)
    ).to_dict()

    assert codes_by_line(report["errors"]) == errors
    assert codes_by_line(report["warnings"]) == warnings
    assert report["valid"] is False
    assert report["format"] == "chat"
    assert report["lines"] == 18


def test_empty_file_is_a_file_level_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    report = validate_file(path).to_dict()
    assert codes_by_line(report["errors"]) == {(None, "empty_file")}


def test_a_huge_line_is_skipped_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as handle:
        handle.write(b'{"text": "' + b"a" * (8 * 1024 * 1024) + b'"}\n')
        handle.write(json.dumps({"text": "fine"}).encode() + b"\n")
    report = validate_file(
        path, provider="local", options=ValidationOptions(max_line_bytes=1024)
    ).to_dict()
    assert codes_by_line(report["errors"]) == {(1, "line_too_long")}
    assert report["examples"] == 1


def test_error_list_is_bounded_but_counts_are_complete(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b"not json\n" * 500)
    report = validate_file(path, options=ValidationOptions(max_errors=10)).to_dict()
    assert len(report["errors"]) == 10
    assert report["error_counts"]["invalid_json"] == 500
    assert report["error_count"] == 501  # plus too_few_examples
