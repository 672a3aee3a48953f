"""A run's rows, checked against the eval's item_schema before anything is spent: inline
``file_content`` rows name their index, file rows their line. A file line is either
``{"item": {...}, "sample"?: {...}}`` or the item itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from service.errors import InvalidRequest
from service.evals.runs.requests import MAX_INLINE_ROWS, Row
from service.json_depth import TOO_DEEP, too_deep

MAX_FILE_ROWS = 50_000
IndexedRow = tuple[int, dict[str, Any]]


def _problem(validator: Draft202012Validator, item: Any) -> str | None:
    if too_deep(item):
        return f"item {TOO_DEEP}"
    error = next(iter(validator.iter_errors(item)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{'item.' + where.replace('/', '.') if where else 'item'}: {error.message}"[:500]


def rows_from_content(rows: list[Row], item_schema: dict[str, Any]) -> list[IndexedRow]:
    validator = Draft202012Validator(item_schema)
    indexed: list[IndexedRow] = []
    for index, row in enumerate(rows[:MAX_INLINE_ROWS]):
        problem = _problem(validator, row.item)
        if problem:
            param = f"data_source.source.content[{index}].item"
            raise InvalidRequest(
                f"data_source.source.content[{index}] does not match the eval's item_schema: "
                f"{problem}",
                param=param,
                code="invalid_item",
            )
        indexed.append((index, row.model_dump(exclude_none=True)))
    return indexed


def rows_from_file(path: Path, item_schema: dict[str, Any], file_id: str) -> list[IndexedRow]:
    validator = Draft202012Validator(item_schema)
    indexed: list[IndexedRow] = []
    param = "data_source.source.id"
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            if len(indexed) >= MAX_FILE_ROWS:
                raise InvalidRequest(
                    f"File {file_id} has more than {MAX_FILE_ROWS} rows; split it into runs.",
                    param=param,
                )
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):  # json nests too deep to parse at ~1,000
                raise InvalidRequest(
                    f"File {file_id}, line {number}: not JSON (or nested too deep).",
                    param=param,
                    code="invalid_item",
                ) from None
            if isinstance(record, dict) and isinstance(record.get("item"), dict):
                row = {k: v for k, v in record.items() if k in ("item", "sample")}
            else:
                row = {"item": record}
            problem = _problem(validator, row["item"])
            if problem:
                raise InvalidRequest(
                    f"File {file_id}, line {number} does not match the eval's item_schema: "
                    f"{problem}",
                    param=param,
                    code="invalid_item",
                    extra={"line": number},
                )
            indexed.append((len(indexed), row))
    if not indexed:
        raise InvalidRequest(f"File {file_id} has no rows.", param=param)
    return indexed
