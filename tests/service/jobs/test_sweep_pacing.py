"""A sweep's cadence: from the number of active jobs, the page size and the provider's rate
limit; never faster than the floor nor slower than the ceiling."""

from __future__ import annotations

from providers.base import RateLimit
from providers.registry import default_list_page
from service.jobs.sweeps.pacing import pages_for, sweep_interval_s
from service.settings import Settings

SETTINGS = Settings(
    environment="test",
    job_poll_min_s=5,
    job_poll_max_s=300,
    sweep_min_interval_s=5,
    sweep_max_interval_s=30,
    sweep_list_calls_per_job_hour=1.0,
    _env_file=None,
)


def test_few_jobs_sweep_at_the_ceiling_and_many_as_the_call_budget_allows() -> None:
    assert sweep_interval_s(SETTINGS, pages=1, jobs=3) == 5  # one page is always cheap
    assert sweep_interval_s(SETTINGS, pages=5, jobs=500) == 25  # 720 calls/h at the floor
    # 10,000 jobs in pages of 1,000: ten calls a round, one per job-hour allows every 3.6 s.
    assert sweep_interval_s(SETTINGS, pages_for(10_000, 1000), 10_000) == 5
    # In pages of 100 the budget asks for 36 s: the ceiling (30 s) wins.
    assert sweep_interval_s(SETTINGS, pages_for(10_000, 100), 10_000) == 30
    looser = SETTINGS.model_copy(update={"sweep_list_calls_per_job_hour": 4.0})
    assert sweep_interval_s(looser, pages_for(10_000, 100), 10_000) == 9


def test_a_nearly_spent_rate_limit_waits_for_its_reset() -> None:
    plenty = RateLimit(remaining=500, reset_s=50)
    assert sweep_interval_s(SETTINGS, 10, 10_000, plenty) == 5
    spent = RateLimit(remaining=12, reset_s=50)
    assert sweep_interval_s(SETTINGS, 10, 10_000, spent) == 50


def test_fast_test_settings_bring_the_sweep_down_with_the_poll_bounds() -> None:
    fast = SETTINGS.model_copy(update={"job_poll_min_s": 0.3, "job_poll_max_s": 1.5})
    assert sweep_interval_s(fast, pages=1, jobs=1) == 0.3
    assert sweep_interval_s(fast, pages=50, jobs=50) == 1.5


def test_unset_page_size_asks_each_provider_its_own_default() -> None:
    # OpenAI documents no maximum: ask 1000 (a refusal or short pages are handled in the round);
    # Fireworks documents 200; a provider with no list keeps the safe 100.
    assert [default_list_page(p) for p in ("openai", "fireworks", "mistral")] == [1000, 200, 100]
