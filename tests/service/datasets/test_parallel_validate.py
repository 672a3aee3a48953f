"""Chunked validation on several processes gives exactly the sequential report."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from service.datasets.validate import ValidationOptions, validate_file
from tests.service.datasets.helpers import chat, codes_by_line

LINE_BYTES = 160  # every line padded to this size, so chunk boundaries fall where we say


def _fixed(obj: dict[str, Any]) -> bytes:
    """``obj`` as one line of exactly LINE_BYTES bytes (newline included)."""
    raw = json.dumps(obj)
    padded = raw[:-1] + " " * (LINE_BYTES - 1 - len(raw)) + "}"
    assert len(padded) == LINE_BYTES - 1, raw
    return padded.encode() + b"\n"


def _row(i: int) -> dict[str, Any]:
    return chat(f"q{i}", f"a{i}")


def _both(path: Path, chunk_lines: int, **kwargs: Any) -> tuple[dict[str, Any], list[int]]:
    """The sequential and the chunked report; asserts they are equal and returns one."""
    common: dict[str, Any] = {"count_tokens": False, **kwargs.pop("options", {})}
    sequential = validate_file(
        path, options=ValidationOptions(processes=1, **common), **kwargs
    ).to_dict()
    calls: list[int] = []
    chunked = validate_file(
        path,
        options=ValidationOptions(
            processes=2, parallel_min_bytes=0, chunk_bytes=chunk_lines * LINE_BYTES, **common
        ),
        progress=calls.append,
        **kwargs,
    ).to_dict()
    assert chunked == sequential
    return chunked, calls


def test_chunked_scan_is_used_and_reports_progress_in_order(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(_fixed(_row(i)) for i in range(100)))
    report, calls = _both(path, chunk_lines=10)
    assert report["valid"] and report["examples"] == 100 and report["lines"] == 100
    # one call per chunk (the sequential scan of so small a file calls only at the end)
    assert calls == sorted(calls) and len(calls) >= 10 and calls[-1] == path.stat().st_size


def test_defects_on_and_around_chunk_boundaries_keep_their_lines(tmp_path: Path) -> None:
    lines = [_fixed(_row(i)) for i in range(60)]
    lines[9] = b"{oops" + b" " * (LINE_BYTES - 6) + b"\n"  # line 10: last of chunk 1
    lines[10] = _fixed(chat("q", ""))  # line 11: first of chunk 2
    lines[20] = b" " * (LINE_BYTES - 1) + b"\n"  # line 21: first of chunk 3, blank
    lines[29] = lines[29][:-1] + b"\r\n"  # line 30: CRLF, last of chunk 3
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(lines))

    report, _ = _both(path, chunk_lines=10, provider="openai")

    assert codes_by_line(report["errors"]) == {
        (10, "invalid_json"),
        (11, "empty_assistant_message"),
    }
    assert codes_by_line(report["warnings"]) == {(21, "blank_line"), (30, "crlf_line_endings")}


def test_duplicates_are_found_across_chunks(tmp_path: Path) -> None:
    lines = [_fixed(_row(i)) for i in range(50)]
    lines[34] = lines[1]  # line 35 repeats line 2, three chunks later
    lines[49] = lines[1]
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(lines))

    report, _ = _both(path, chunk_lines=10)

    assert codes_by_line(report["warnings"]) == {
        (35, "duplicate_example"),
        (50, "duplicate_example"),
    }


def test_the_first_valid_line_decides_the_format_for_every_chunk(tmp_path: Path) -> None:
    broken = b"[1, 2]" + b" " * (LINE_BYTES - 7) + b"\n"
    lines = [broken] * 25  # no format in the first chunks
    lines += [_fixed({"prompt": f"p{i}", "completion": "c"}) for i in range(15)]  # line 26 on
    lines += [_fixed(_row(i)) for i in range(20)]  # lines 41-60: chat in a prompt file
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(lines))

    report, _ = _both(path, chunk_lines=10, provider="together")

    assert report["format"] == "prompt_completion"
    assert report["error_counts"] == {"not_an_object": 25, "mixed_format": 20}
    mixed = {line for line, code in codes_by_line(report["errors"]) if code == "mixed_format"}
    assert mixed == set(range(41, 61))


def test_the_error_cap_keeps_the_first_errors_by_line(tmp_path: Path) -> None:
    rng = random.Random(3)
    lines = [_fixed(_row(i)) for i in range(200)]
    bad = sorted(rng.sample(range(200), 40))
    for index in bad:
        lines[index] = _fixed({"messages": [{"role": "robot", "content": "x"}]})
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(lines))

    report, _ = _both(path, chunk_lines=7, options={"max_errors": 5})

    assert [e["line"] for e in report["errors"]] == [i + 1 for i in bad[:5]]
    assert report["error_counts"] == {"unrecognized_role": 40}


def test_a_file_without_a_final_newline_or_with_a_bom(tmp_path: Path) -> None:
    lines = [_fixed(_row(i)) for i in range(30)]
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"".join(lines)[:-1])

    report, _ = _both(path, chunk_lines=4)

    assert codes_by_line(report["errors"]) == {(1, "utf8_bom")}
    assert report["lines"] == 30 and report["examples"] == 30


@pytest.mark.parametrize("provider", ["openai", "together", "mistral", "fireworks", "local"])
def test_a_file_of_mixed_defects_gives_the_same_report_either_way(
    tmp_path: Path, provider: str
) -> None:
    rng = random.Random(provider)
    variants: list[bytes] = [
        json.dumps(chat("same")).encode(),
        json.dumps(chat("x", "")).encode(),
        json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(),
        json.dumps({**chat("y"), "metadata": 1}).encode(),
        json.dumps({"prompt": "p", "completion": "c"}).encode(),
        json.dumps({"text": "t"}).encode(),
        b'{"text": NaN}',
        b'{"messages": "caf\xe9"}',
        b"",
        b"x" * 500,
        json.dumps(chat("crlf")).encode() + b"\r",
    ]
    lines = []
    for i in range(400):
        if rng.random() < 0.7:
            lines.append(json.dumps(chat(f"q{i}", "a " * rng.randint(1, 20))).encode())
        else:
            lines.append(rng.choice(variants))
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    report, calls = _both(path, chunk_lines=9, provider=provider, options={"max_line_bytes": 300})

    assert len(calls) > 10
    assert report["error_count"] > 0 and report["warning_count"] > 0
