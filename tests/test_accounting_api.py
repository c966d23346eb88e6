"""Kling's account API, the admin API and the accounting CLI against a real gateway (SQLite and
PostgreSQL): packs granted from the CLI and the admin API are drawn by real tasks, failed tasks
cost nothing, the CSV export adds up to the ledger, and keys stay inside their account."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import Account, GatewayProcess, wait_for_task

ADMIN = "admin-" + "x" * 24
IMAGES = "/v1/images/generations"
AUDIO = "/v1/audio/text-to-audio"
DAY = 86_400_000


@pytest.fixture(scope="module")
def server(backend: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    env = {"KLING_GATEWAY_ADMIN_TOKEN": ADMIN}
    with GatewayProcess(tmp_path_factory.mktemp("acct"), database_url=backend, extra_env=env) as gw:
        yield gw


@pytest.fixture()
def http(server: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def admin(http: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    answer = http.request(method, "/admin/v1" + path, headers=ADMIN_HEADERS, **kwargs)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["code"] == 0
    return body["data"]


def new_account(http: httpx.Client, name: str, **limits: Any) -> Account:
    data = admin(http, "POST", "/accounts", json={"name": name, **limits})
    return Account(
        data["account_id"], data["api_key"], data["access_key"], data["secret_key"], data["webhook_secret"]
    )


def costs(http: httpx.Client, account: Account, prefix: str = "") -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    answer = http.get(
        f"{prefix}/account/costs",
        params={"start_time": now - DAY, "end_time": now + DAY},
        headers=account.bearer,
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["code"] == 0
    infos: list[dict[str, Any]] = data["resource_pack_subscribe_infos"]
    return infos


def test_pack_drawn_by_tasks_refunded_on_failure_and_refused_when_empty(
    server: GatewayProcess, http: httpx.Client
) -> None:
    account = new_account(http, "studio")
    pack = server.cli("packs", "grant", account.account_id, "--units", "17", "--package", "image")
    assert pack["remaining_quantity"] == 17.0 and pack["status"] == "online"
    ok = http.post(IMAGES, json={"prompt": "a red square"}, headers=account.bearer).json()["data"]
    # an input the worker fetches and finds is not an image: the task fails, and costs nothing
    bad_url = f"{server.base_url}/healthz"
    failing = http.post(IMAGES, json={"prompt": "p", "image": bad_url}, headers=account.bearer).json()["data"]
    done = wait_for_task(http, IMAGES, ok["task_id"], account.bearer)
    failed = wait_for_task(http, IMAGES, failing["task_id"], account.bearer)
    assert done["task_status"] == "succeed" and done["final_unit_deduction"] == "8"
    assert failed["task_status"] == "failed" and failed["final_unit_deduction"] == "0"
    for prefix in ("", "/kling"):  # both layouts
        (info,) = costs(http, account, prefix)
        assert info["resource_pack_id"] == pack["resource_pack_id"]
        assert (info["total_quantity"], info["remaining_quantity"]) == (17.0, 9.0)
        assert info["resource_pack_type"] == "decreasing_total" and info["status"] == "online"
    second = http.post(IMAGES, json={"prompt": "again"}, headers=account.bearer)
    assert second.status_code == 200
    refused = http.post(IMAGES, json={"prompt": "one too many"}, headers=account.bearer)
    assert refused.status_code == 429 and refused.json()["code"] == 1102
    assert "needs 8 image units, 1 left" in refused.json()["message"]
    assert costs(http, account)[0]["remaining_quantity"] == 1.0  # the refusal took nothing


def test_billing_package_lists_deductions_with_cursor_paging_and_filters(http: httpx.Client) -> None:
    account = new_account(http, "pager")
    grant = {"quantity": "2", "package_type": "audio", "name": "sfx"}
    pack = admin(http, "POST", f"/accounts/{account.account_id}/packs", json=grant)
    ids = [
        http.post(AUDIO, json={"prompt": f"rain {i}", "duration": 3}, headers=account.bearer).json()["data"][
            "task_id"
        ]
        for i in range(3)
    ]
    now = int(time.time() * 1000)
    window = {"start_time": now - DAY, "end_time": str(now + DAY)}  # numbers or numeric strings
    seen: list[dict[str, Any]] = []
    body: dict[str, Any] = {**window, "limit": 2}
    for _ in range(3):
        answer = http.post("/kling/account/billing/package", json=body, headers=account.bearer)
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        seen.extend(data["result"]["detail"])
        if not data["has_more"]:
            break
        body = {"cursor": data["next_cursor"], "limit": 2}
    assert [d["task_id"] for d in seen] == sorted(ids, key=ids.index)
    first = seen[0]
    assert first["deduction_amount"] == "0.25" and first["product_type"] == "audio"
    assert first["package_id"] == pack["resource_pack_id"] and first["api_key_name"] == "pager"
    assert (first["unit_before_deduction"], first["unit_after_deduction"]) == ("2", "1.75")
    assert first["product_function"] == "text-to-audio"
    none = http.post(
        "/account/billing/package",
        json={**window, "filters": [{"key": "product_type", "values": ["video"]}]},
        headers=account.bearer,
    ).json()["data"]
    assert none["result"] == {"detail": [], "count": 0} and none["has_more"] is False
    by_name = http.post(
        "/account/billing/package",
        json={**window, "filters": [{"key": "package_name", "values": ["sfx"]}]},
        headers=account.bearer,
    ).json()["data"]
    assert by_name["result"]["count"] == 3
    balance = http.post("/account/billing/balance", json=window, headers=account.bearer).json()["data"]
    assert balance["result"]["detail"] == []


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "says"),
    [
        ("GET", "/account/costs", {"params": {"end_time": 1}}, "start_time: is required"),
        (
            "GET",
            "/account/costs",
            {"params": {"start_time": "x", "end_time": 1}},
            "start_time: must be a time",
        ),
        ("POST", "/account/billing/package", {"json": {"limit": 2}}, "start_time: is required unless cursor"),
        (
            "POST",
            "/account/billing/package",
            {"json": {"start_time": 0, "end_time": 1, "limit": 501}},
            "limit: must be an integer between 1 and 500",
        ),
        (
            "POST",
            "/kling/account/billing/package",
            {
                "json": {
                    "start_time": 0,
                    "end_time": 1,
                    "filters": [
                        {"key": "package_name", "values": ["a"]},
                        {"key": "package_id", "values": ["b"]},
                    ],
                }
            },
            "package_name and package_id cannot be used together",
        ),
        ("POST", "/account/billing/package", {"json": {"cursor": "!!"}}, "cursor: not a cursor"),
    ],
)
def test_account_api_refuses_bad_input_with_1201(
    http: httpx.Client, method: str, path: str, kwargs: dict[str, Any], says: str
) -> None:
    account = new_account(http, "strict")
    answer = http.request(method, path, headers=account.bearer, **kwargs)
    assert answer.status_code == 400 and answer.json()["code"] == 1201
    assert says in answer.json()["message"]


def test_admin_api_is_for_the_admin_token_only(http: httpx.Client) -> None:
    account = new_account(http, "curious")
    for headers, status, code in (
        ({}, 401, 1001),
        (account.bearer, 401, 1000),
        ({"Authorization": f"Bearer {ADMIN}x"}, 401, 1000),
    ):
        answer = http.get("/admin/v1/accounts", headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (status, code)
    unchecked = http.post("/admin/v1/accounts", content=b"{broken", headers=account.bearer)
    assert unchecked.status_code == 401 and unchecked.json()["code"] == 1000  # auth before the body
    # an admin token is not an account key either
    assert http.get("/account/costs?start_time=0&end_time=1", headers=ADMIN_HEADERS).status_code == 401


def test_account_key_sees_only_its_own_packs_and_deductions(http: httpx.Client) -> None:
    mine, theirs = new_account(http, "mine"), new_account(http, "theirs")
    admin(http, "POST", f"/accounts/{theirs.account_id}/packs", json={"quantity": 5, "package_type": "audio"})
    http.post(AUDIO, json={"prompt": "theirs", "duration": 3}, headers=theirs.bearer)
    assert costs(http, mine) == []
    now = int(time.time() * 1000)
    page = http.post(
        "/account/billing/package", json={"start_time": 0, "end_time": now + DAY}, headers=mine.bearer
    ).json()["data"]
    assert page["result"]["count"] == 0


def test_limits_and_pack_revocation_through_the_admin_api(http: httpx.Client) -> None:
    account = new_account(http, "capped", max_concurrent_tasks=1, daily_unit_cap="0.5")
    listed = {a["account_id"]: a for a in admin(http, "GET", "/accounts")}
    assert listed[account.account_id]["daily_unit_cap"] == "0.5"
    assert listed[account.account_id]["max_concurrent_tasks"] == 1
    assert "api_key" not in listed[account.account_id]
    first = http.post(AUDIO, json={"prompt": "one", "duration": 3}, headers=account.bearer)
    assert first.status_code == 200
    busy = http.post(AUDIO, json={"prompt": "two", "duration": 3}, headers=account.bearer)
    assert busy.status_code == 429 and busy.json()["code"] == 1303
    wait_for_task(http, AUDIO, first.json()["data"]["task_id"], account.bearer)
    changed = admin(
        http, "PATCH", f"/accounts/{account.account_id}/limits", json={"clear": ["max_concurrent_tasks"]}
    )
    assert changed["max_concurrent_tasks"] is None and changed["daily_unit_cap"] == "0.5"
    second = http.post(AUDIO, json={"prompt": "two", "duration": 3}, headers=account.bearer)
    assert second.status_code == 200
    capped = http.post(AUDIO, json={"prompt": "three", "duration": 3}, headers=account.bearer)
    assert capped.status_code == 429 and capped.json()["code"] == 1101
    assert "daily spend cap reached: 0.5 of 0.5 units" in capped.json()["message"]
    pack = admin(http, "POST", f"/accounts/{account.account_id}/packs", json={"quantity": 1})
    revoked = admin(http, "POST", f"/packs/{pack['resource_pack_id']}/revoke")
    assert revoked["status"] == "expired" and revoked["revoked_at"] is not None
    bad = http.post(
        f"/admin/v1/accounts/{account.account_id}/packs", json={"quantity": "-1"}, headers=ADMIN_HEADERS
    )
    assert bad.status_code == 400 and "quantity: must be greater than 0" in bad.json()["message"]
    missing = http.get("/admin/v1/accounts/acc_nope/packs", headers=ADMIN_HEADERS)
    assert missing.status_code == 404 and missing.json()["code"] == 1203


def test_usage_export_adds_up_to_the_ledger(server: GatewayProcess, http: httpx.Client) -> None:
    account = new_account(http, "exporter")
    ids = [
        http.post(AUDIO, json={"prompt": f"p{i}", "duration": 3}, headers=account.bearer).json()["data"][
            "task_id"
        ]
        for i in range(3)
    ]
    for task_id in ids:
        wait_for_task(http, AUDIO, task_id, account.bearer)
    data = admin(http, "GET", "/usage", params={"account_id": account.account_id})
    assert sorted(e["task_id"] for e in data["entries"]) == sorted(ids)
    assert all(e["status"] == "settled" and e["units"] == "0.25" for e in data["entries"])
    (summary,) = data["summary"]
    assert summary["tasks"] == 3 and summary["units"] == "0.75" and summary["failed"] == 0
    answer = http.get(
        "/admin/v1/usage", params={"account_id": account.account_id, "format": "csv"}, headers=ADMIN_HEADERS
    )
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert sorted(r["task_id"] for r in rows) == sorted(ids)
    assert sum(Decimal(r["units"]) for r in rows) == Decimal(summary["units"])
    from_cli = server.cli("usage", "--account", account.account_id)
    assert sorted(e["task_id"] for e in from_cli["entries"]) == sorted(ids)


def test_cli_limits_and_packs(server: GatewayProcess, http: httpx.Client, tmp_path: Path) -> None:
    account = new_account(http, "shell")
    limited = server.cli(
        "keys", "limits", account.account_id, "--max-concurrent", "3", "--monthly-units", "40"
    )
    assert limited["max_concurrent_tasks"] == 3 and limited["monthly_unit_cap"] == "40"
    pack = server.cli(
        "packs", "grant", account.account_id, "--units", "2.5", "--days", "7", "--concurrency", "2"
    )
    listed = server.cli("packs", "list", account.account_id)
    assert [p["resource_pack_id"] for p in listed] == [pack["resource_pack_id"]]
    assert (
        listed[0]["concurrency"] == 2 and listed[0]["invalid_time"] - listed[0]["effective_time"] == 7 * DAY
    )
    assert server.cli("packs", "revoke", pack["resource_pack_id"])["status"] == "expired"
    with pytest.raises(RuntimeError, match="package_type: must be one of"):
        server.cli("packs", "grant", account.account_id, "--units", "1", "--package", "gold")


async def test_admin_api_is_off_without_an_admin_token(tmp_path: Path) -> None:
    from kling_gateway.api.app import create_app
    from kling_gateway.config import Settings
    from kling_gateway.gateway import Gateway

    app = create_app(gateway=Gateway(Settings(data_dir=tmp_path, workers=0)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            for headers in ({}, ADMIN_HEADERS):
                answer = await client.get("/admin/v1/accounts", headers=headers)
                assert answer.status_code == 403 and answer.json()["code"] == 1103
                assert "no admin_token is configured" in answer.json()["message"]
    paths = app.openapi()["paths"]  # the account API is documented in both layouts, with its errors
    for prefix in ("", "/kling"):
        assert "429" in paths[f"{prefix}/account/costs"]["get"]["responses"]
        assert {"post"} == set(paths[f"{prefix}/account/billing/package"])
        assert {"post"} == set(paths[f"{prefix}/account/billing/balance"])
    assert "/admin/v1/accounts/{account_id}/packs" in paths
