"""Plain builders for dataset test files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def chat(user: str = "hi", answer: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": user},
            {"role": "assistant", "content": answer},
        ],
        **extra,
    }


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def codes_by_line(issues: list[dict[str, Any]]) -> set[tuple[int | None, str]]:
    return {(i["line"], i["code"]) for i in issues}
