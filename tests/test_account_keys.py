"""Operator key management (#16, second round): key rotation, per-account rate limits enforced by
the token-bucket limiter (overriding the global setting), and ``keys create`` with spend caps and
rate limits — through the admin API of the real app in process, and through the CLI."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from inprocess import in_process
from kling_gateway.auth import CACHE_SECONDS
from kling_gateway.cli import app as cli_app
from support import Account

ADMIN = "admin-" + "y" * 24
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
COSTS = "/account/costs?start_time=0&end_time=1"  # any authenticated read


async def admin(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    answer = await http.request(method, "/admin/v1" + path, headers=ADMIN_HEADERS, **kwargs)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def account_of(data: dict[str, Any]) -> Account:
    return Account(
        data["account_id"], data["api_key"], data["access_key"], data["secret_key"], data["webhook_secret"]
    )


async def status_of(http: httpx.AsyncClient, headers: dict[str, str]) -> tuple[int, int]:
    answer = await http.get(COSTS, headers=headers)
    return answer.status_code, answer.json()["code"]


async def refused_within(http: httpx.AsyncClient, headers: dict[str, str], bound: float) -> float:
    """Seconds until ``headers`` are refused (401/1000), failing past ``bound``."""
    start = time.monotonic()
    while await status_of(http, headers) != (401, 1000):
        assert time.monotonic() - start < bound, "the old key is still accepted"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_rotate_issues_new_keys_and_the_old_ones_are_refused(tmp_path: Path) -> None:
    async with in_process(tmp_path, admin_token=ADMIN) as gw:
        old = account_of(await admin(gw.http, "POST", "/accounts", json={"name": "rotating"}))
        assert await status_of(gw.http, old.bearer) == (200, 0)
        assert await status_of(gw.http, old.jwt_headers()) == (200, 0)  # caches the old lookups
        data = await admin(gw.http, "POST", f"/accounts/{old.account_id}/rotate")
        new = account_of(data)
        assert new.account_id == old.account_id and data["name"] == "rotating"
        assert new.api_key != old.api_key and new.secret_key != old.secret_key
        assert new.access_key != old.access_key
        assert new.webhook_secret == old.webhook_secret  # callback receivers keep verifying
        assert await status_of(gw.http, new.bearer) == (200, 0)
        assert await status_of(gw.http, new.jwt_headers()) == (200, 0)
        # the auth cache may keep the old lookups for CACHE_SECONDS at most (margin: a loaded box)
        await refused_within(gw.http, old.bearer, CACHE_SECONDS + 2)
        await refused_within(gw.http, old.jwt_headers(), CACHE_SECONDS + 2)
        listed = {a["account_id"]: a for a in await admin(gw.http, "GET", "/accounts")}
        assert listed[old.account_id]["api_key_prefix"] == new.api_key[:10] + "…"
        # a disabled account's keys cannot be brought back by rotating them
        await admin(gw.http, "POST", f"/accounts/{old.account_id}/disable")
        refused = await gw.http.post(f"/admin/v1/accounts/{old.account_id}/rotate", headers=ADMIN_HEADERS)
        assert refused.status_code == 400 and refused.json()["code"] == 1201
        assert "is disabled" in refused.json()["message"]
        missing = await gw.http.post("/admin/v1/accounts/acc_nope/rotate", headers=ADMIN_HEADERS)
        assert missing.status_code == 404 and missing.json()["code"] == 1203


async def test_an_account_rate_limit_overrides_the_global_one(tmp_path: Path) -> None:
    async with in_process(tmp_path, admin_token=ADMIN, rate_limit_per_second=100, rate_limit_burst=100) as gw:
        body = {"name": "slow", "rate_limit_per_second": 0.5, "rate_limit_burst": 2}
        created = await admin(gw.http, "POST", "/accounts", json=body)
        assert (created["rate_limit_per_second"], created["rate_limit_burst"]) == (0.5, 2)
        slow = account_of(created)
        fast = account_of(await admin(gw.http, "POST", "/accounts", json={"name": "fast"}))
        assert [await status_of(gw.http, slow.bearer) for _ in range(2)] == [(200, 0)] * 2
        refused = await gw.http.get(COSTS, headers=slow.bearer)
        assert refused.status_code == 429 and refused.json()["code"] == 1302
        assert "0.5 requests per second (bursts of 2)" in refused.json()["message"]
        assert int(refused.headers["retry-after"]) >= 1
        # the other key runs at the global rate: far more than 2 in a row
        assert [await status_of(gw.http, fast.bearer) for _ in range(10)] == [(200, 0)] * 10
        # a lower global rate than the account's own: the account's wins
        patched = await admin(
            gw.http, "PATCH", f"/accounts/{fast.account_id}/limits", json={"rate_limit_burst": 1}
        )
        assert patched["rate_limit_burst"] == 1 and patched["rate_limit_per_second"] is None
        deadline = time.monotonic() + CACHE_SECONDS + 2  # the change is seen once the auth cache lets go
        while await status_of(gw.http, fast.bearer) != (429, 1302):
            assert time.monotonic() < deadline, "the account's burst of 1 is not enforced"
        cleared = await admin(
            gw.http, "PATCH", f"/accounts/{slow.account_id}/limits", json={"clear": ["rate_limit_per_second"]}
        )
        assert cleared["rate_limit_per_second"] is None and cleared["rate_limit_burst"] == 2
        bad = await gw.http.patch(
            f"/admin/v1/accounts/{slow.account_id}/limits",
            json={"rate_limit_per_second": 0},
            headers=ADMIN_HEADERS,
        )
        assert bad.status_code == 400 and bad.json()["code"] == 1201
        assert "rate_limit_per_second" in bad.json()["message"]


def cli(data_dir: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli_app, [*args, "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_creates_keys_with_caps_and_rate_limits_and_rotates_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = cli(
        data, "keys", "create", "--name", "cli", "--daily-units", "3", "--rate", "0.5", "--burst", "1"
    )
    assert created["daily_unit_cap"] == "3" and created["monthly_unit_cap"] is None
    assert (created["rate_limit_per_second"], created["rate_limit_burst"]) == (0.5, 1)
    rotated = cli(data, "keys", "rotate", created["account_id"])
    assert rotated["api_key"] != created["api_key"] and rotated["secret_key"] != created["secret_key"]
    limited = cli(data, "keys", "limits", created["account_id"], "--monthly-units", "50", "--rate", "2")
    assert (limited["monthly_unit_cap"], limited["rate_limit_per_second"]) == ("50", 2.0)
    (listed,) = cli(data, "keys", "list")
    assert listed["rate_limit_burst"] == 1 and "secret_key" not in listed
    refused = CliRunner().invoke(cli_app, ["keys", "create", "--burst", "0", "--data-dir", str(data)])
    assert refused.exit_code == 2 and "rate_limit_burst: must be at least 1" in refused.output

    async def served() -> None:
        # no global rate limit (the default): the account's own (2/s, burst 1) is enforced alone
        async with in_process(data) as gw:
            old, new = Account(created["account_id"], created["api_key"], "", "", ""), account_of(rotated)
            assert await status_of(gw.http, old.bearer) == (401, 1000)
            assert await status_of(gw.http, new.bearer) == (200, 0)
            assert await status_of(gw.http, new.bearer) == (429, 1302)

    asyncio.run(served())
