"""Testing criteria the evals and studies tests share: the capitals (``item.answer`` holds
``{"city": ...}`` as JSON) and the studies' labels (``item.ideal``, JSON with a ``label``)."""

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

IDEAL_EXACT: dict[str, Any] = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.ideal}}",
    "operation": "eq",
}
"""The studies tests' primary criterion: the answer is the item's ``ideal`` to the letter."""
LABEL_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "name": "format",
    "input": "{{sample.output_text}}",
    "schema": {"type": "object", "required": ["label"]},
}
