from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from service.webhooks.schedule import next_attempt_at, retry_delay_s

SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]


def test_each_retry_follows_the_schedule_within_jitter() -> None:
    rng = random.Random(1)
    for attempt, base in enumerate(SCHEDULE, start=1):
        delay = retry_delay_s(attempt, SCHEDULE, rng=rng)
        assert delay is not None
        assert base * 0.9 <= delay <= base * 1.1


def test_gives_up_after_the_schedule_is_exhausted() -> None:
    assert retry_delay_s(len(SCHEDULE) + 1, SCHEDULE) is None
    assert next_attempt_at(datetime.now(UTC), 3, [1, 2]) is None


def test_retry_after_wins_when_longer_and_is_capped() -> None:
    rng = random.Random(2)
    assert retry_delay_s(1, SCHEDULE, retry_after_s=120, rng=rng) == 120
    small = retry_delay_s(2, SCHEDULE, retry_after_s=1, rng=rng)
    assert small is not None and small >= 270
    assert retry_delay_s(1, SCHEDULE, retry_after_s=10**9) == 86400


def test_next_attempt_at_adds_the_delay() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    when = next_attempt_at(now, 1, [100], rng=random.Random(3))
    assert when is not None and timedelta(seconds=90) <= when - now <= timedelta(seconds=110)
