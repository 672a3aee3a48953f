"""Testing criteria the evals tests share, for items that ask a country's capital and expect
``{"city": ...}`` as JSON in ``item.answer``."""

from __future__ import annotations

from typing import Any

EXACT: dict[str, Any] = {
    "id": "exact-1",
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
FORMAT: dict[str, Any] = {
    "id": "format-2",
    "type": "json_schema",
    "name": "format",
    "schema": {"type": "object", "required": ["city"]},
}
CLOSE: dict[str, Any] = {
    "id": "close-3",
    "type": "text_similarity",
    "name": "close",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "evaluation_metric": "fuzzy_match",
    "pass_threshold": 0.9,
}
