"""``GET /account/usage/daily`` (the console's usage charts), in-process on SQLite and PostgreSQL:
per day, family and model the key's tasks and units equal its per-task deductions listed by
``POST /account/billing/package``; days follow the caller's UTC offset; other accounts' tasks
never show; bad parameters are 1201 naming the parameter and change nothing."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio

from inprocess import InProcessGateway, running_gateway
from support import Account

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN = "usage-admin-token"
DAY = 86_400_000


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gw(
    backend: str | None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[InProcessGateway]:
    async with running_gateway(tmp_path_factory.mktemp("usage"), backend, admin_token=ADMIN) as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def daily(client: httpx.AsyncClient, key: Account, prefix: str = "", **params: Any) -> Any:
    r = await client.get(f"{prefix}/account/usage/daily", params=params, headers=bearer(key.api_key))
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def funded(gw: InProcessGateway, name: str) -> Account:
    """An account with image and audio packs, so every task's deduction is listed by the billing API."""
    key = await gw.create_account(name)
    for package in ("image", "audio"):
        r = await gw.client.post(
            f"/admin/v1/accounts/{key.account_id}/packs",
            json={"quantity": 1000, "package_type": package},
            headers=bearer(ADMIN),
        )
        assert r.status_code == 200, r.text
    return key


async def test_daily_totals_match_the_per_task_deductions(gw: InProcessGateway) -> None:
    client = gw.client
    me, other = await funded(gw, "charts"), await funded(gw, "someone-else")
    asked = [
        ("images/generations", {"prompt": "a", "model_name": "kling-v1"}),
        ("images/generations", {"prompt": "b", "model_name": "kling-v1"}),
        ("images/generations", {"prompt": "c", "model_name": "kling-v2-1", "n": 2}),
        ("audio/text-to-audio", {"prompt": "rain", "duration": 3}),
    ]
    t0 = int(time.time() * 1000)
    for family, body in asked:
        r = await client.post(f"/v1/{family}", json=body, headers=bearer(me.api_key))
        assert r.status_code == 200, r.text
    r = await client.post(
        "/v1/images/generations", json={"prompt": "not mine"}, headers=bearer(other.api_key)
    )
    assert r.status_code == 200
    window = {"start_time": t0 - DAY, "end_time": int(time.time() * 1000) + 1000}

    billed = await client.post(
        "/account/billing/package", json={**window, "limit": 500}, headers=bearer(me.api_key)
    )
    details = billed.json()["data"]["result"]["detail"]
    expected_units: dict[str, Decimal] = {}
    for d in details:
        expected_units[d["model_name"]] = expected_units.get(d["model_name"], Decimal(0)) + Decimal(
            d["deduction_amount"]
        )
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    for prefix in ("", "/kling"):
        data = await daily(client, me, prefix, **window)
        rows = data["days"]
        assert {r["day"] for r in rows} == {today}
        tasks = Counter({(r["family"], r["model_name"]): r["tasks"] for r in rows})
        assert tasks == Counter(
            {
                ("images/generations", "kling-v1"): 2,
                ("images/generations", "kling-v2-1"): 1,
                ("audio/text-to-audio", "kling-audio"): 1,
            }
        ), rows
        assert {r["model_name"]: Decimal(str(r["units"])) for r in rows} == expected_units
        assert all(r["failed"] == 0 for r in rows)  # none ran yet: charged, not refunded
    # the catalogue: kling-v1 8 units an image (two tasks), kling-v2-1 4 (one task of two), audio 0.25
    assert expected_units == {"kling-v1": 16, "kling-v2-1": 8, "kling-audio": Decimal("0.25")}

    # the same tasks on the day of a time zone where it is already (or still) another date
    for offset in (-14 * 60, 14 * 60):
        shifted = await daily(client, me, utc_offset_minutes=offset, **window)
        local = (datetime.fromtimestamp(t0 / 1000, UTC) + timedelta(minutes=offset)).strftime("%Y-%m-%d")
        assert {r["day"] for r in shifted["days"]} == {local} and shifted["utc_offset_minutes"] == offset
        assert sum(r["tasks"] for r in shifted["days"]) == 4
    empty = await daily(client, me, start_time=t0 - 3 * DAY, end_time=t0 - 2 * DAY)
    assert empty["days"] == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"end_time": "1"}, "start_time"),
        ({"start_time": "1"}, "end_time"),
        ({"start_time": "x", "end_time": "1"}, "start_time"),
        ({"start_time": "5", "end_time": "1"}, "start_time"),
        ({"start_time": "0", "end_time": str(401 * DAY)}, "end_time"),
        ({"start_time": "0", "end_time": "1", "utc_offset_minutes": "9000"}, "utc_offset_minutes"),
        ({"start_time": "0", "end_time": "1", "utc_offset_minutes": "east"}, "utc_offset_minutes"),
    ],
)
async def test_bad_parameters_are_1201_naming_the_parameter(
    gw: InProcessGateway, params: dict[str, str], named: str
) -> None:
    me = await gw.create_account("bad-params")
    r = await gw.client.get("/account/usage/daily", params=params, headers=bearer(me.api_key))
    body = r.json()
    assert r.status_code == 400 and body["code"] == 1201, body
    assert body["message"].startswith(f"{named}:") and body["request_id"]


async def test_needs_an_account_key_and_is_in_openapi(gw: InProcessGateway) -> None:
    window = {"start_time": 0, "end_time": 1}
    r = await gw.client.get("/account/usage/daily", params=window)
    assert r.status_code == 401 and r.json()["code"] == 1001
    r = await gw.client.get("/account/usage/daily", params=window, headers=bearer(ADMIN))
    assert r.status_code == 401 and r.json()["code"] == 1000  # the admin token is no account
    doc = (await gw.client.get("/openapi.json")).json()
    for prefix in ("", "/kling"):
        op = doc["paths"][f"{prefix}/account/usage/daily"]["get"]
        assert {p["name"] for p in op["parameters"]} == {"start_time", "end_time", "utc_offset_minutes"}
        assert {"200", "400", "401"} <= set(op["responses"])


async def test_the_operator_reads_every_account_or_one(gw: InProcessGateway) -> None:
    client = gw.client
    one, two = await funded(gw, "op-one"), await funded(gw, "op-two")
    t0 = int(time.time() * 1000)
    for key, n in ((one, 2), (two, 3)):
        for i in range(n):
            r = await client.post(
                "/v1/images/generations", json={"prompt": f"p{i}"}, headers=bearer(key.api_key)
            )
            assert r.status_code == 200, r.text
    window = {"start_time": t0, "end_time": int(time.time() * 1000) + 1000}

    async def images(**params: Any) -> int:
        r = await client.get("/admin/v1/usage/daily", params={**window, **params}, headers=bearer(ADMIN))
        assert r.status_code == 200, r.text
        rows = r.json()["data"]["days"]
        return sum(row["tasks"] for row in rows if row["family"] == "images/generations")

    assert await images(account_id=one.account_id) == 2
    assert await images(account_id=two.account_id) == 3
    assert await images() >= 5  # every account's (other tests' tasks may share the window)
    mine = await daily(client, one, **window)
    r = await client.get(
        "/admin/v1/usage/daily", params={**window, "account_id": one.account_id}, headers=bearer(ADMIN)
    )
    assert r.json()["data"]["days"] == mine["days"]  # one view of the same ledger
    for params, status, code in (
        ({**window, "account_id": "acc_nobody"}, 404, 1203),
        ({"start_time": 5, "end_time": 1}, 400, 1201),
        ({"start_time": 0}, 400, 1201),
    ):
        r = await client.get("/admin/v1/usage/daily", params=params, headers=bearer(ADMIN))
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    r = await client.get("/admin/v1/usage/daily", params=window, headers=bearer(one.api_key))
    assert r.status_code == 401 and r.json()["code"] == 1000  # an account key is no operator
