"""A run's data source, parsed once at create and again by the worker from the stored echo:
its rows (checked against the item_schema) and how it samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from service.errors import InvalidRequest
from service.evals.runs.requests import (
    CompletionsDataSource,
    DataSource,
    FileContentSource,
    FileIdSource,
    JsonlDataSource,
    ResponsesDataSource,
)
from service.evals.runs.rows import IndexedRow, rows_from_content, rows_from_file

AnySource = JsonlDataSource | CompletionsDataSource | ResponsesDataSource
_sources: TypeAdapter[AnySource] = TypeAdapter(DataSource)


def parse_stored(data_source: dict[str, Any]) -> AnySource:
    return _sources.validate_python(data_source)


def file_id_of(source: AnySource) -> str | None:
    if isinstance(source, ResponsesDataSource):
        return None
    return source.source.id if isinstance(source.source, FileIdSource) else None


def load_rows(
    source: AnySource, item_schema: dict[str, Any], file_path: Path | None
) -> list[IndexedRow]:
    """The indexed rows; 400 naming the row (inline) or the line (file) that does not match."""
    if isinstance(source, ResponsesDataSource):
        raise InvalidRequest("unsupported data source", param="data_source.type")
    inner = source.source
    if isinstance(inner, FileContentSource):
        return rows_from_content(inner.content, item_schema)
    if isinstance(inner, FileIdSource):
        if file_path is None:
            raise InvalidRequest(f"No file with id '{inner.id}'.", param="data_source.source.id")
        return rows_from_file(file_path, item_schema, inner.id)
    raise InvalidRequest("unsupported data source", param="data_source.source.type")


def item_schema_of(stored_config: dict[str, Any]) -> dict[str, Any]:
    """The item_schema inside an eval's stored config (``schema.properties.item``)."""
    schema = stored_config.get("schema", {})
    item = schema.get("properties", {}).get("item") if isinstance(schema, dict) else None
    return item if isinstance(item, dict) else {"type": "object"}
