"""The answer cache: least recently used entries go first, every entry expires."""

import pytest
from conftest import FakeClock

from organism.cache import TTLCache


def test_a_stored_value_reads_back_until_it_expires(clock: FakeClock) -> None:
    cache: TTLCache[int] = TTLCache(maxsize=4, ttl=10, clock=clock)
    cache.put("a", 1)
    clock.advance(9.9)
    assert cache.get("a") == 1
    clock.advance(0.1)
    assert cache.get("a") is None
    assert len(cache) == 0, "an expired entry is dropped when found"


def test_a_missing_key_reads_as_none(clock: FakeClock) -> None:
    assert TTLCache(clock=clock).get("nope") is None


def test_the_least_recently_used_entry_is_evicted_first(clock: FakeClock) -> None:
    cache: TTLCache[int] = TTLCache(maxsize=2, ttl=10, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert cache.get("c") == 3


def test_storing_again_refreshes_the_value_and_its_age(clock: FakeClock) -> None:
    cache: TTLCache[int] = TTLCache(maxsize=2, ttl=10, clock=clock)
    cache.put("a", 1)
    clock.advance(8)
    cache.put("a", 2)
    clock.advance(8)
    assert cache.get("a") == 2


def test_a_cache_needs_room_for_one_entry() -> None:
    with pytest.raises(ValueError):
        TTLCache(maxsize=0)
