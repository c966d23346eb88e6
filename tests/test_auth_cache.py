"""The authenticated-key cache's loads: concurrent misses of one key share one store lookup (an
entry expiring under a thousand polls is one read, not a thousand), an unknown key is never
kept, and an expired entry is read again (so a revocation is seen within the bound)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from kling_gateway import auth


class Lookups:
    """A stand-in for the store's lookup: counts calls, answers once released."""

    def __init__(self, value: str | None) -> None:
        self.value = value
        self.calls = 0
        self.release = asyncio.Event()

    async def fetch(self) -> str | None:
        self.calls += 1
        await self.release.wait()
        return self.value


async def test_concurrent_misses_share_one_lookup() -> None:
    cache: auth._TTLCache[str] = auth._TTLCache(1.0)
    lookups = Lookups("account-1")
    waiting = [asyncio.ensure_future(cache.load("key", lookups.fetch)) for _ in range(32)]
    await asyncio.sleep(0)
    lookups.release.set()
    assert await asyncio.gather(*waiting) == ["account-1"] * 32
    assert lookups.calls == 1
    assert await cache.load("key", lookups.fetch) == "account-1"  # kept: no second lookup
    assert lookups.calls == 1


async def test_unknown_key_is_not_kept() -> None:
    cache: auth._TTLCache[str] = auth._TTLCache(1.0)
    lookups = Lookups(None)
    lookups.release.set()
    assert await cache.load("key", lookups.fetch) is None
    assert await cache.load("key", lookups.fetch) is None
    assert lookups.calls == 2


async def test_expired_entry_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    offset = [0.0]
    monkeypatch.setattr(auth, "time", SimpleNamespace(monotonic=lambda: time.monotonic() + offset[0]))
    cache: auth._TTLCache[str] = auth._TTLCache(auth.CACHE_SECONDS)
    lookups = Lookups("active")
    lookups.release.set()
    assert await cache.load("key", lookups.fetch) == "active"
    lookups.value = "revoked"
    assert await cache.load("key", lookups.fetch) == "active"  # within the bound
    offset[0] = auth.CACHE_SECONDS + 0.01
    assert await cache.load("key", lookups.fetch) == "revoked"
    assert lookups.calls == 2


async def test_a_failed_lookup_is_not_kept_and_is_retried() -> None:
    cache: auth._TTLCache[str] = auth._TTLCache(1.0)
    calls = 0

    async def failing() -> str | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("store down")
        return "account-1"

    with pytest.raises(ConnectionError):
        await cache.load("key", failing)
    assert await cache.load("key", failing) == "account-1"
