"""A training file's validation report for a provider/model other than the one it was
validated for at upload.

The stored file is validated again with that provider's rules, the model's context length
and its methods. Reports are cached in memory by (file sha256, provider, model, context),
bounded in entries; files larger than ``REVALIDATE_MAX_BYTES`` are not re-read during a
request (a quote must answer in seconds): their upload-time report stands in, marked so."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from providers.catalog import ModelInfo
from service.datasets.tokens import model_tokenizer_dir
from service.datasets.validate import ValidationOptions, validate_file
from service.db.models import File
from service.settings import Settings

REVALIDATE_MAX_BYTES = 8 * 1024 * 1024
CACHE_ENTRIES = 256

_CacheKey = tuple[str, str, str, int]
_cache: OrderedDict[_CacheKey, dict[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class ProviderReport:
    report: dict[str, Any]
    specific: bool  # False: the upload-time report for another provider stood in


def _cached(key: _CacheKey) -> dict[str, Any] | None:
    with _cache_lock:
        report = _cache.get(key)
        if report is not None:
            _cache.move_to_end(key)
        return report


def _remember(key: _CacheKey, report: dict[str, Any]) -> None:
    with _cache_lock:
        _cache[key] = report
        _cache.move_to_end(key)
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)


def report_for(
    file: File,
    info: ModelInfo,
    settings: Settings,
    *,
    max_bytes: int | None = REVALIDATE_MAX_BYTES,
) -> ProviderReport:
    """The report under ``info``'s rules. Above ``max_bytes`` (None: no limit, e.g. when a
    job is about to be created and correctness beats latency) the stored report stands in
    with ``specific=False``."""
    stored = file.validation or {}
    if stored.get("provider") == info.provider and stored.get("model") == info.model:
        tokens = stored.get("tokens") or {}
        if tokens.get("context_length") == info.context_length:
            return ProviderReport(stored, True)
    if max_bytes is not None and file.bytes > max_bytes:
        return ProviderReport(stored, False)
    key = (file.sha256, info.provider, info.model, info.context_length)
    report = _cached(key)
    if report is None:
        options = ValidationOptions(
            max_line_bytes=settings.max_line_bytes,
            tokenizer_dir=model_tokenizer_dir(settings.tokenizers_dir, info.model),
            methods=info.methods,
            workers=1,
        )
        report = validate_file(
            Path(file.storage_path),
            provider=info.provider,
            model=info.model,
            context_length=info.context_length,
            options=options,
        ).to_dict()
        _remember(key, report)
    return ProviderReport(report, True)
