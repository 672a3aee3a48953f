"""``POST /v1/files/{id}/split``: a frozen, deterministic held-out split of a file into a train
part and a test part (two new files), with a leakage report between them.

Frozen: the same file, seed and fraction always return the split made the first time. The
test part's purpose is ``evals``: job creation refuses it, so no provider ever receives it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.datasets.leakage import leakage_report
from service.datasets.split import Example, parse_lines, split_examples
from service.db.ids import new_id
from service.db.models import File, FileSplit
from service.errors import InvalidRequest, PayloadTooLarge
from service.files.naming import storage_path
from service.files.objects import FileObject
from service.files.repository import FileRepository
from service.files.service import apply_validation, file_object, get_file
from service.settings import Settings

HELD_OUT_PURPOSE = "evals"
MAX_SPLIT_BYTES = 256 * 1024 * 1024


class SplitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    test_fraction: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = 0.1
    seed: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None


class SplitObject(BaseModel):
    object: Literal["file.split"] = "file.split"
    id: str
    source_file_id: str
    seed: str
    test_fraction: float
    train_file: FileObject
    test_file: FileObject
    report: dict[str, Any]


def split_file(
    session: Session, settings: Settings, tenant_id: str, file_id: str, body: SplitRequest
) -> tuple[FileSplit, File, File]:
    source = get_file(session, tenant_id, file_id)
    seed = body.seed or source.sha256
    fraction = f"{body.test_fraction:.6g}"
    existing = session.scalars(
        select(FileSplit).where(
            FileSplit.source_file_id == source.id,
            FileSplit.seed == seed,
            FileSplit.test_fraction == fraction,
        )
    ).first()
    if existing is not None:
        return (
            existing,
            _file(session, existing.train_file_id),
            _file(session, existing.test_file_id),
        )
    if source.bytes > MAX_SPLIT_BYTES:
        raise PayloadTooLarge(
            f"File {file_id} is over {MAX_SPLIT_BYTES // 2**20} MiB: split it before upload.",
            param="file_id",
        )
    try:
        examples = parse_lines(Path(source.storage_path).read_bytes())
    except ValueError as exc:
        raise InvalidRequest(f"File {file_id} cannot be split: {exc}.", param="file_id") from None
    split = split_examples(examples, seed, float(fraction))
    for name, part in (("test", split.test), ("train", split.train)):
        if not part:
            raise InvalidRequest(
                f"Splitting {len(examples)} example(s) at test_fraction {fraction} leaves the "
                f"{name} part empty: use more examples or another test_fraction.",
                param="test_fraction",
            )
    stem = source.filename.removesuffix(".jsonl")
    train = _store(session, settings, source, split.train, f"{stem}.train.jsonl", source.purpose)
    test = _store(session, settings, source, split.test, f"{stem}.test.jsonl", HELD_OUT_PURPOSE)
    report = {
        "examples": len(examples),
        "train_examples": len(split.train),
        "test_examples": len(split.test),
        "train_lines": [e.line for e in split.train][:10_000],
        "test_lines": [e.line for e in split.test][:10_000],
        "leakage": leakage_report(split.train, split.test),
    }
    row = FileSplit(
        tenant_id=tenant_id,
        source_file_id=source.id,
        seed=seed,
        test_fraction=fraction,
        train_file_id=train.id,
        test_file_id=test.id,
        report=report,
    )
    session.add(row)
    session.flush()
    return row, train, test


def _file(session: Session, file_id: str) -> File:
    found = session.get(File, file_id)
    assert found is not None  # a split's files are kept while the split exists
    return found


def _store(
    session: Session,
    settings: Settings,
    source: File,
    part: list[Example],
    filename: str,
    purpose: str,
) -> File:
    content = b"".join(example.raw.rstrip(b"\r\n") + b"\n" for example in part)
    file_id = new_id("file-")
    path = storage_path(settings.files_dir, source.tenant_id, file_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    file = FileRepository(session).add(
        File(
            id=file_id,
            tenant_id=source.tenant_id,
            filename=filename[:255],
            purpose=purpose,
            bytes=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            storage_path=str(path),
            status="uploaded",
            validation={
                "pending": True,
                "provider": (source.validation or {}).get("provider", "openai"),
                "model": (source.validation or {}).get("model"),
            },
        )
    )
    apply_validation(file, settings)
    return file


def split_object(row: FileSplit, train: File, test: File) -> SplitObject:
    return SplitObject(
        id=row.id,
        source_file_id=row.source_file_id,
        seed=row.seed,
        test_fraction=float(row.test_fraction),
        train_file=FileObject.model_validate(file_object(train)),
        test_file=FileObject.model_validate(file_object(test)),
        report=row.report,
    )
