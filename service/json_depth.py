"""How deeply a parsed JSON value nests, counted without recursion. jsonschema validates by
recursion, a few Python frames per level: a schema, row or tool definition nested a few hundred
levels deep (still valid JSON, well inside the body limit) raised RecursionError, a 500. Values
that reach it are bounded first."""

from __future__ import annotations

from typing import Any

MAX_JSON_DEPTH = 64
"""Levels of objects and arrays (a schema's ``{"properties": {"a": {...}}}`` is two per field)."""


def nesting_depth(value: Any, stop_after: int = MAX_JSON_DEPTH) -> int:
    """The deepest level of objects and arrays in ``value`` (a scalar is 0); counting stops at
    the first level past ``stop_after``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > stop_after:
            return depth
        stack.extend((child, depth + 1) for child in children)
    return deepest


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    return nesting_depth(value, limit) > limit


TOO_DEEP = f"nests objects and arrays more than {MAX_JSON_DEPTH} levels deep"
