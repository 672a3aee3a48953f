"""Lines the fast parser refuses are judged by json, exactly as before: same leniency, same
messages."""

from __future__ import annotations

import json
from pathlib import Path

from service.datasets.validate import ValidationOptions, validate_file
from tests.service.datasets.helpers import codes_by_line


def test_json_leniency_and_messages_are_kept(tmp_path: Path) -> None:
    lines = [
        b'{"prompt": "a", "completion": "b", "n": NaN}',  # 1: json takes NaN
        b'{"prompt": "a", "completion": "c", "n": 123456789012345678901234567890}',  # 2
        b'{"prompt": "a", "completion": "d", "n": 1e400}',  # 3: json takes it as inf
        b'{"prompt": "\\ud800", "completion": "e"}',  # 4: a lone surrogate: no character
        b'{"prompt": "a", "completion": [',  # 5
        b'{"prompt": "a", "completion": "caf\xe9"}',  # 6
        b"[" * 100_000 + b"]" * 100_000,  # 7: nested past any recursion limit
    ]
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    report = validate_file(
        path, provider="local", options=ValidationOptions(count_tokens=False)
    ).to_dict()

    assert codes_by_line(report["errors"]) == {
        (4, "invalid_unicode"),
        (5, "invalid_json"),
        (6, "invalid_utf8"),
        (7, "invalid_json"),
    }
    assert report["examples"] == 3
    try:
        json.loads(lines[4])
    except ValueError as exc:
        expected = f"invalid JSON: {exc}"
    assert "unpaired surrogate escape (\\ud800)" in report["errors"][0]["message"]
    assert report["errors"][1]["message"] == expected
    assert report["errors"][2]["message"] == "not UTF-8 at byte 35"
