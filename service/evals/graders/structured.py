"""Our graders for structured output: ``json_schema`` (format compliance), ``json_fields``
(OpenPipe-style field comparison) and ``tool_call`` (names and arguments match)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from service.evals.graders.sample import parse_json
from service.json_depth import TOO_DEEP, too_deep


def _as_json(value: Any) -> Any | None:
    return parse_json(value) if isinstance(value, str) else value


def schema_compliance(output: Any, schema: dict[str, Any]) -> tuple[float, str | None]:
    """1.0 when ``output`` is (or parses as) JSON that validates; else 0.0 and why."""
    value = parse_json(output) if isinstance(output, str) else output
    if value is None and not (isinstance(output, str) and output.strip() == "null"):
        return 0.0, "output is not JSON"
    if too_deep(value):
        return 0.0, f"output {TOO_DEEP}"
    error = next(iter(Draft202012Validator(schema).iter_errors(value)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return 0.0, f"{where}: {error.message}"[:500]
    return 1.0, None


def field_share(output: Any, reference: Any, fields: list[str] | None) -> tuple[float, str | None]:
    """The share of ``fields`` (default: the reference's keys) whose values are equal."""
    expected = _as_json(reference)
    if not isinstance(expected, dict):
        return 0.0, "reference is not a JSON object"
    actual = _as_json(output)
    if not isinstance(actual, dict):
        return 0.0, "output is not a JSON object"
    keys = fields if fields is not None else list(expected)
    if not keys:
        return 1.0, None
    equal = sum(1 for key in keys if key in actual and actual[key] == expected.get(key))
    return equal / len(keys), None


def _calls(value: Any) -> list[tuple[str, dict[str, Any] | None]] | None:
    """``[(name, arguments)]`` from OpenAI tool calls (``{function:{name, arguments}}``) or
    plain ``{name, arguments}`` objects; arguments may be a JSON string."""
    value = _as_json(value)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return None
    calls: list[tuple[str, dict[str, Any] | None]] = []
    for raw in value:
        if not isinstance(raw, dict):
            return None
        body = raw.get("function", raw)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return None
        arguments = _as_json(body.get("arguments", {}))
        calls.append((body["name"], arguments if isinstance(arguments, dict) else None))
    return calls


def _argument_share(actual: dict[str, Any] | None, expected: dict[str, Any] | None) -> float:
    if expected is None or actual is None:
        return 1.0 if expected == actual else 0.0
    if not expected:
        return 1.0 if not actual else 0.0
    return sum(1 for k, v in expected.items() if k in actual and actual[k] == v) / len(expected)


def tool_call_match(output: Any, reference: Any) -> tuple[float, str | None]:
    """Per expected call: 0 when no call has its name, else the best share of its argument
    keys that are equal among same-name calls; averaged over expected calls."""
    expected = _calls(reference)
    if expected is None:
        return 0.0, "reference is not a tool call or a list of tool calls"
    actual = _calls(output if output not in ("", None) else [])
    if actual is None:
        return 0.0, "output is not a list of tool calls"
    if not expected:
        return (1.0, None) if not actual else (0.0, "no tool call was expected")
    total = 0.0
    for name, arguments in expected:
        shares = [_argument_share(a_args, arguments) for a_name, a_args in actual if a_name == name]
        total += max(shares, default=0.0)
    return total / len(expected), None
