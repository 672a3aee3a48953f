"""The in-process key cache forgets an entry once its TTL has passed (that is how soon a
revoked key stops working) and holds at most ``max_entries``."""

from __future__ import annotations

from service.api.key_cache import KeyCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_expires_after_its_ttl_and_is_not_renewed_by_reads() -> None:
    clock = Clock()
    cache = KeyCache[str](ttl_s=5, clock=clock)
    cache.put("digest", "tenant")
    clock.now += 4.9
    assert cache.get("digest") == "tenant"
    clock.now += 0.2
    assert cache.get("digest") is None


def test_the_oldest_entry_goes_first_when_full() -> None:
    cache = KeyCache[int](max_entries=2)
    for n in range(3):
        cache.put(f"d{n}", n)
    assert [cache.get(f"d{n}") for n in range(3)] == [None, 1, 2]
