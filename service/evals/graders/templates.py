"""``{{ item.x }}`` / ``{{ sample.output_text }}`` templates (OpenAI's grader templating).

A path is dotted keys with optional ``[n]`` indexes (``{{sample.output_tools[0].function}}``).
A string value renders as itself; anything else renders as compact JSON (OpenAI does not say
how it renders objects: this is our documented choice). A path that names nothing raises
``TemplateError``: the grader that rendered it scores 0 with the reason recorded."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

NAMESPACES = ("item", "sample")
SAMPLE_FIELDS = ("output_text", "output_json", "output_tools", "choices", "output_audio")

_TAG = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_PATH = re.compile(r"^([A-Za-z_]\w*)((?:\.[^.\[\]\s]+|\[\d+\])*)$")
_STEP = re.compile(r"\.([^.\[\]\s]+)|\[(\d+)\]")


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Reference:
    """One ``{{ … }}`` in a template: its namespace and the keys/indexes after it."""

    text: str
    namespace: str
    steps: tuple[str | int, ...]


def references(template: str) -> list[Reference]:
    """Every reference in ``template``; a malformed tag or unknown namespace raises."""
    found: list[Reference] = []
    for match in _TAG.finditer(template):
        expression = match.group(1)
        parsed = _PATH.match(expression)
        if parsed is None:
            raise TemplateError(f"'{{{{{expression}}}}}' is not a template path like item.field")
        namespace = parsed.group(1)
        if namespace not in NAMESPACES:
            raise TemplateError(
                f"'{{{{{expression}}}}}' names '{namespace}': templates may only use "
                f"{' and '.join(NAMESPACES)}"
            )
        steps: list[str | int] = []
        for key, index in _STEP.findall(parsed.group(2)):
            steps.append(int(index) if index else key)
        found.append(Reference(expression, namespace, tuple(steps)))
    return found


def lookup(context: dict[str, Any], reference: Reference) -> Any:
    value: Any = context.get(reference.namespace)
    for step in reference.steps:
        in_list = isinstance(step, int) and isinstance(value, list) and 0 <= step < len(value)
        in_dict = isinstance(step, str) and isinstance(value, dict) and step in value
        if in_list or in_dict:
            value = value[step]
        else:
            raise TemplateError(
                f"'{{{{{reference.text}}}}}' names nothing in this {reference.namespace}"
            )
    return value


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def render(template: str, context: dict[str, Any]) -> str:
    parts: list[str] = []
    position = 0
    refs = iter(references(template))
    for match in _TAG.finditer(template):
        parts.append(template[position : match.start()])
        parts.append(as_text(lookup(context, next(refs))))
        position = match.end()
    parts.append(template[position:])
    return "".join(parts)


def resolve(template: str, context: dict[str, Any]) -> Any:
    """A template that is exactly one reference yields the value itself (an object stays an
    object); anything else renders to text."""
    refs = references(template)
    if len(refs) == 1 and _TAG.fullmatch(template.strip()):
        return lookup(context, refs[0])
    return render(template, context)
