"""Streams a multipart upload straight to disk: the file part is written as it arrives, hashed
and size-checked on the way, so an upload never sits in memory and an oversized one is cut
off at the limit instead of after it has all arrived."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import anyio
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.exceptions import HTTPException

from service.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from service.private_paths import open_private, private_dir


@dataclass
class StreamedUpload:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    bytes: int = 0
    sha256: str = ""


class _PartState:
    def __init__(self, destination: Path, max_bytes: int, max_field_bytes: int) -> None:
        self.destination = destination
        self.max_bytes = max_bytes
        self.max_field_bytes = max_field_bytes
        self.complete = False
        self.result = StreamedUpload()
        self.hasher = hashlib.sha256()
        self.handle: BinaryIO | None = None
        self.header_name = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.field_name: str | None = None
        self.field_value = bytearray()
        self.in_file = False
        self.saw_file = False

    # header callbacks
    def on_part_begin(self) -> None:
        self.headers = {}
        self.field_name = None
        self.field_value = bytearray()
        self.in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name = b""
        self.header_value = b""

    def on_headers_finished(self) -> None:
        disposition = self.headers.get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if name == "file" and filename is not None:
            if self.saw_file:
                raise InvalidRequest("Send exactly one 'file' part.", param="file")
            self.saw_file = True
            self.in_file = True
            self.result.filename = filename.decode("utf-8", "replace")
            private_dir(self.destination.parent)
            self.handle = os.fdopen(open_private(self.destination), "wb")
        else:
            self.field_name = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.in_file:
            assert self.handle is not None
            self.result.bytes += len(chunk)
            if self.result.bytes > self.max_bytes:
                raise PayloadTooLarge(
                    f"File is larger than the {self.max_bytes}-byte upload limit.", param="file"
                )
            self.hasher.update(chunk)
            self.handle.write(chunk)
        else:
            self.field_value += chunk
            if len(self.field_value) > self.max_field_bytes:
                raise PayloadTooLarge(
                    f"Form field '{self.field_name}' is longer than {self.max_field_bytes} bytes.",
                    param=self.field_name,
                    code="request_too_large",
                )

    def on_part_end(self) -> None:
        if self.in_file:
            assert self.handle is not None
            self.handle.close()
            self.handle = None
        elif self.field_name:
            self.result.fields[self.field_name] = self.field_value.decode("utf-8", "replace")

    def on_end(self) -> None:
        self.complete = True

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


async def stream_multipart_upload(
    content_type: str,
    body: AsyncIterator[bytes],
    destination: Path,
    max_bytes: int,
    *,
    max_field_bytes: int = 64 * 1024,
) -> StreamedUpload:
    """Parse ``body`` as multipart/form-data, writing the ``file`` part to ``destination``.
    On any error the partial file is removed."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(
            "Uploads must be multipart/form-data with a 'file' part and a 'purpose' field.",
            param="file",
            code="invalid_content_type",
        )
    state = _PartState(destination, max_bytes, max_field_bytes)
    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": state.on_part_begin,
            "on_part_data": state.on_part_data,
            "on_part_end": state.on_part_end,
            "on_header_field": state.on_header_field,
            "on_header_value": state.on_header_value,
            "on_header_end": state.on_header_end,
            "on_headers_finished": state.on_headers_finished,
            "on_end": state.on_end,
        },
    )
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
        if not state.complete:
            raise InvalidRequest(
                "The multipart body ended before its closing boundary (truncated upload).",
                param="file",
                code="invalid_multipart",
            )
    except (InvalidRequest, PayloadTooLarge, HTTPException):
        state.close()
        await anyio.Path(destination).unlink(missing_ok=True)
        raise
    except Exception as exc:
        state.close()
        await anyio.Path(destination).unlink(missing_ok=True)
        raise InvalidRequest(f"Malformed multipart body: {exc}", code="invalid_multipart") from exc
    state.close()
    if not state.saw_file:
        raise InvalidRequest("Missing required parameter: 'file'.", param="file")
    if state.result.bytes == 0:  # nothing to validate, store or train on
        await anyio.Path(destination).unlink(missing_ok=True)
        raise InvalidRequest(
            "The 'file' part is empty; upload a JSONL file with at least one line.",
            param="file",
            code="empty_file",
        )
    state.result.sha256 = state.hasher.hexdigest()
    return state.result
