"""The emulator counts the provider API requests it serves (benchmarks divide it by jobs and
hours); control routes are not counted, and reset starts the count again."""

from __future__ import annotations

import httpx

from emulators.testing import running_emulator


def test_provider_requests_are_counted_and_control_routes_are_not() -> None:
    with running_emulator("openai") as emulator:
        for _ in range(3):
            httpx.get(f"{emulator.sdk_base_url}/fine_tuning/jobs", timeout=10)
        emulator.jobs()
        assert emulator.request_count() == 3
        emulator.reset()
        assert emulator.request_count() == 0


def test_requests_are_counted_per_endpoint_as_declared_not_per_job() -> None:
    with running_emulator("openai") as emulator:
        for job_id in ("ftjob-a", "ftjob-b"):
            httpx.get(f"{emulator.sdk_base_url}/fine_tuning/jobs/{job_id}/events", timeout=10)
        httpx.get(f"{emulator.sdk_base_url}/fine_tuning/jobs", timeout=10)
        assert emulator.requests_by_endpoint() == {
            "GET /v1/fine_tuning/jobs/{job_id}/events": 2,
            "GET /v1/fine_tuning/jobs": 1,
        }
        emulator.reset()
        assert emulator.requests_by_endpoint() == {}
