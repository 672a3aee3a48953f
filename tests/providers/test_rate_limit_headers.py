"""OpenAI's request rate-limit headers, as a sweep reads them to pace itself."""

from __future__ import annotations

from providers.base import RateLimit, parse_rate_limit


def test_remaining_requests_and_reset_durations_are_read() -> None:
    headers = {"X-RateLimit-Remaining-Requests": "59", "x-ratelimit-reset-requests": "1m0.5s"}
    assert parse_rate_limit(headers) == RateLimit(remaining=59, reset_s=60.5)
    assert parse_rate_limit({"x-ratelimit-reset-requests": "20ms"}) == RateLimit(None, 0.02)
    assert parse_rate_limit({"x-ratelimit-reset-requests": "2"}) == RateLimit(None, 2.0)


def test_absent_or_garbled_headers_say_nothing() -> None:
    assert parse_rate_limit({}) is None
    assert parse_rate_limit({"x-ratelimit-reset-requests": "soon"}) == RateLimit(None, None)
