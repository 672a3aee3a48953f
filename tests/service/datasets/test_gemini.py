"""Vertex: chat lines become Gemini's contents/parts; what Gemini cannot take is named per line
by the validator (so a job is refused before anything is uploaded) and never silently lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.datasets.convert import convert_file, to_target
from service.datasets.records import record_from_dict
from service.datasets.validate import validate_file
from tests.service.datasets.helpers import chat, codes_by_line, write_jsonl

CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def _chat(messages: list[dict[str, Any]], **extra: Any) -> Any:
    return record_from_dict({"messages": messages, **extra}, "chat")


def test_a_tool_using_chat_becomes_gemini_contents() -> None:
    record = _chat(
        [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": "find 1"},
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "c1", "content": '{"hit": true}'},
            {"role": "assistant", "content": "found it"},
        ],
        tools=TOOLS,
    )

    line, problems = to_target(record, "vertex")

    assert line == {
        "systemInstruction": {"role": "system", "parts": [{"text": "be brief"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "find 1"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"q": 1}}}]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "lookup", "response": {"hit": True}}}],
            },
            {"role": "model", "parts": [{"text": "found it"}]},
        ],
        "tools": [{"functionDeclarations": [{"name": "lookup", "parameters": {"type": "object"}}]}],
    }
    assert {code for code, _ in problems} == {"role_mapped", "tool_call_id_dropped"}


def test_a_prompt_completion_pair_is_one_user_and_one_model_turn() -> None:
    record = record_from_dict({"prompt": "p", "completion": "c"}, "prompt_completion")
    line, problems = to_target(record, "vertex")
    assert line is not None and [c["role"] for c in line["contents"]] == ["user", "model"]
    assert [code for code, _ in problems] == ["format_mapped"]


def test_what_gemini_cannot_express_is_left_out_and_reported_per_line(tmp_path: Path) -> None:
    untrained = chat()
    untrained["messages"][2]["weight"] = 0
    late_system = {
        "messages": [
            {"role": "user", "content": "u"},
            {"role": "system", "content": "s"},
            {"role": "assistant", "content": "a"},
        ]
    }
    orphan = {
        "messages": [
            {"role": "user", "content": "u"},
            {"role": "tool", "tool_call_id": "nope", "content": "r"},
            {"role": "assistant", "content": "a"},
        ]
    }
    src = write_jsonl(tmp_path / "in.jsonl", [chat(), untrained, late_system, orphan])

    report = convert_file(src, tmp_path / "out.jsonl", "vertex")

    assert report.lines_written == 1
    problems = {(p["line"], p["code"]) for p in report.to_dict()["problems"]}
    assert problems == {
        (2, "weight_not_supported"),
        (3, "system_not_first"),
        (4, "tool_response_without_call"),
    }
    written = json.loads((tmp_path / "out.jsonl").read_text())
    assert written["systemInstruction"]["parts"] == [{"text": "be nice"}]


def test_the_validator_names_each_line_vertex_would_refuse(tmp_path: Path) -> None:
    untrained = chat()
    untrained["messages"][2]["weight"] = 0
    named = chat()
    named["messages"][1]["name"] = "ann"
    ends_with_user = {"messages": [{"role": "user", "content": "u"}]}
    refusal = chat()
    refusal["messages"][2]["refusal"] = "no"
    list_args = {
        "messages": [
            {"role": "user", "content": "u"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "[1]"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "r"},
            {"role": "assistant", "content": "a"},
        ]
    }
    text = {"text": "pretraining"}
    path = write_jsonl(
        tmp_path / "f.jsonl", [chat(), untrained, named, ends_with_user, refusal, list_args]
    )

    report = validate_file(path, provider="vertex").to_dict()

    assert not report["valid"]
    found = codes_by_line(report["errors"])
    assert {
        (2, "weight_not_supported"),
        (3, "name_not_supported"),
        (4, "last_message_not_assistant"),
        (5, "message_key_not_supported"),
        (6, "invalid_tool_call_arguments"),
    } <= found
    assert not any(line == 1 for line, _ in found)
    assert validate_file(path, provider="openai").to_dict()["valid"] is False  # line 4 only
    only_text = write_jsonl(tmp_path / "t.jsonl", [text])
    assert not validate_file(only_text, provider="vertex").to_dict()["valid"]
