"""Listing jobs: the providers that list (OpenAI, Together, Fireworks) return many jobs'
snapshots in pages, newest first, the same ``ProviderJob`` a single read returns; the others
say they cannot. Each against its emulator on loopback through the official SDK."""

from __future__ import annotations

import pytest

from providers.base import ProviderJob
from providers.errors import ProviderPermanentError, ProviderRetryableError
from tests.providers.conftest import Harness
from tests.providers.test_contract import spec_for

LISTING = {"openai", "together", "fireworks"}


def _every_page(h: Harness, limit: int) -> tuple[list[ProviderJob], int]:
    jobs: list[ProviderJob] = []
    pages, after = 0, None
    while True:
        page = h.adapter.list_jobs(after=after, limit=limit)
        pages += 1
        jobs += page.jobs
        if not page.has_more:
            return jobs, pages
        assert page.next_after is not None
        after = page.next_after


def test_listing_providers_page_newest_first_with_the_snapshot_a_read_gives(
    harness: Harness,
) -> None:
    h = harness
    assert h.adapter.capabilities().lists_jobs is (h.provider in LISTING)
    if h.provider not in LISTING:
        with pytest.raises(ProviderPermanentError):
            h.adapter.list_jobs()
        return
    file_id = h.adapter.upload_dataset(h.dataset, "train.jsonl")
    created = [h.adapter.create_job(spec_for(h, file_id, tag=f"list-{n}")).id for n in range(5)]
    h.emulator.advance(created[0])  # ended: its snapshot no longer moves with the clock

    listed, pages = _every_page(h, limit=2)
    assert [j.id for j in listed] == list(reversed(created))  # newest first
    # Together answers every job at once; the others page.
    assert pages == (1 if h.provider == "together" else 3)
    one = h.adapter.get_job(created[0])
    found = next(j for j in listed if j.id == created[0])
    assert (found.status, found.provider_status) == (one.status, one.provider_status)
    assert found.trained_tokens == one.trained_tokens
    assert found.steps_completed == one.steps_completed


def test_a_rate_limited_list_is_a_retryable_error_with_its_retry_after(harness: Harness) -> None:
    h = harness
    if h.provider not in LISTING:
        return
    h.emulator.inject(kind="status", method="GET", path=r"(jobs|fine-tunes|Jobs)$", status=429,
                      retry_after=7)  # fmt: skip
    with pytest.raises(ProviderRetryableError) as caught:
        h.adapter_with(max_retries=0).list_jobs()
    assert caught.value.retry_after == 7
