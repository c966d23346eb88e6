"""Per-key rate limits (issue #13, beyond the list): a token bucket per key; over it, 429 / 1302
with ``Retry-After``, nothing stored, other keys unaffected."""

from __future__ import annotations

from pathlib import Path

from inprocess import in_process
from kling_gateway.ratelimit import RateLimiter

T2V = "/v1/videos/text2video"


def test_bucket_refills_at_the_rate_up_to_the_burst() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.take("k", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k", now=0.0) == 0.5  # one token back after 1 / rate seconds
    assert limiter.take("k", now=0.5) == 0.0
    assert limiter.take("k", now=100.0) == 0.0  # refilled, but never beyond the burst:
    assert [limiter.take("k", now=100.0) for _ in range(3)][-1] > 0
    assert RateLimiter(rate=0, burst=1).take("k") == 0.0  # 0 = unlimited


async def test_over_the_rate_is_1302_with_retry_after(tmp_path: Path) -> None:
    async with in_process(tmp_path, rate_limit_per_second=0.5, rate_limit_burst=3) as gw:
        noisy, quiet = await gw.account("noisy"), await gw.account("quiet")
        for _ in range(2):
            assert (await gw.http.get(T2V, headers=noisy.bearer)).status_code == 200
        assert (await gw.http.post(T2V, json={"prompt": "p"}, headers=noisy.bearer)).status_code == 200
        refused = await gw.http.post(T2V, json={"prompt": "p"}, headers=noisy.bearer)
        body = refused.json()
        assert refused.status_code == 429 and body["code"] == 1302, body
        assert "0.5 requests per second" in body["message"] and body["request_id"]
        assert int(refused.headers["retry-after"]) >= 1
        assert await gw.task_count(noisy) == 1  # the refused create stored nothing
        assert (await gw.http.get(T2V, headers=quiet.bearer)).status_code == 200  # its own bucket
        jwt_refused = await gw.http.get(T2V, headers=noisy.jwt_headers())  # same key, other scheme
        assert jwt_refused.status_code == 429
