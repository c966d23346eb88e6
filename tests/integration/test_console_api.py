"""The console's API, in-process: task search (filters, keyset paging, own tasks only, both
layouts, errors), and the console's files (same-origin, small, under a CSP)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from inprocess import InProcessGateway, running_gateway
from kling_gateway.api.app import PREFIXES
from support import Account

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN = "operator-s3cret"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def console_gateway(
    backend: str | None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[InProcessGateway]:
    """The app on the module's backend with an operator token configured, API only."""
    async with running_gateway(tmp_path_factory.mktemp("console"), backend, admin_token=ADMIN) as running:
        yield running


@pytest.fixture(scope="module")
def client(console_gateway: InProcessGateway) -> httpx.AsyncClient:
    return console_gateway.client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create(
    client: httpx.AsyncClient, key: Account, family: str, body: dict[str, Any], prefix: str = "/v1"
) -> str:
    r = await client.post(f"{prefix}/{family}", json=body, headers=bearer(key.api_key))
    assert r.status_code == 200, r.text
    task_id: str = r.json()["data"]["task_id"]
    return task_id


async def search(client: httpx.AsyncClient, key: Account, prefix: str = "/v1", **params: Any) -> Any:
    r = await client.get(f"{prefix}/tasks/search", params=params, headers=bearer(key.api_key))
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def test_search_filters_pages_and_sees_only_own_tasks(
    client: httpx.AsyncClient, console_gateway: InProcessGateway
) -> None:
    me, other = await console_gateway.create_account("me"), await console_gateway.create_account("other")
    cat = await create(
        client, me, "videos/text2video", {"prompt": "A Cat on a 100% red_roof", "model_name": "kling-v1-6"}
    )
    dog = await create(client, me, "videos/text2video", {"prompt": "a dog", "external_task_id": "ext-dog"})
    img = await create(client, me, "images/generations", {"prompt": "a cat portrait"}, prefix="/kling/v1")
    await create(client, other, "videos/text2video", {"prompt": "a cat of someone else"})
    before_last = int(time.time() * 1000)
    sfx = await create(client, me, "audio/text-to-audio", {"prompt": "rain", "duration": 5})

    everything = await search(client, me)
    assert [t["task_id"] for t in everything["tasks"]] == [sfx, img, dog, cat]  # newest first, mine only
    assert everything["next_cursor"] is None
    assert {t["family"] for t in everything["tasks"]} == {
        "videos/text2video",
        "images/generations",
        "audio/text-to-audio",
    }
    assert everything["tasks"][3]["prompt"] == "A Cat on a 100% red_roof"
    assert [t["model_name"] for t in everything["tasks"]] == [None, None, None, "kling-v1-6"]

    cats = await search(client, me, q="CAT")
    assert [t["task_id"] for t in cats["tasks"]] == [img, cat]
    assert [t["task_id"] for t in (await search(client, me, q="100% red_"))["tasks"]] == [cat]
    assert (await search(client, me, q="100%x"))["tasks"] == []  # % is literal, not a wildcard
    both = await search(client, me, family="images/generations,audio/text-to-audio")
    assert [t["task_id"] for t in both["tasks"]] == [sfx, img]
    assert [t["task_id"] for t in (await search(client, me, external_task_id="ext-dog"))["tasks"]] == [dog]
    assert [t["task_id"] for t in (await search(client, me, model="kling-v1-6"))["tasks"]] == [cat]
    assert (await search(client, me, model="kling-v9"))["tasks"] == []
    recent = await search(client, me, created_from=before_last)
    assert [t["task_id"] for t in recent["tasks"]] == [sfx]
    older = await search(client, me, created_to=before_last)
    assert sfx not in [t["task_id"] for t in older["tasks"]]

    moved = await console_gateway.gateway.tasks.transition(
        dog, from_statuses=["submitted"], to_status="failed", now=int(time.time() * 1000), status_msg="x"
    )
    assert moved
    failed = await search(client, me, status="failed", prefix="/kling/v1")  # the CometAPI layout too
    assert [(t["task_id"], t["task_status"]) for t in failed["tasks"]] == [(dog, "failed")]

    seen: list[str] = []
    cursor = None
    for _ in range(3):
        page = await search(client, me, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [t["task_id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [sfx, img, dog, cat] and cursor is None


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"family": "videos/nope"}, "family"),
        ({"status": "done"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"cursor": "!!not-a-cursor"}, "cursor"),
        ({"q": "x" * 201}, "q"),
    ],
)
async def test_search_rejects_malformed_filters_with_1201(
    client: httpx.AsyncClient, console_gateway: InProcessGateway, params: dict[str, str], named: str
) -> None:
    me = await console_gateway.create_account("me")
    r = await client.get("/v1/tasks/search", params=params, headers=bearer(me.api_key))
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == 1201 and body["message"].startswith(f"{named}:") and body["request_id"]


async def test_search_needs_an_account_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/tasks/search")).json()["code"] == 1001
    r = await client.get("/v1/tasks/search", headers=bearer(ADMIN))  # the admin token is no account
    assert r.status_code == 401 and r.json()["code"] == 1000, r.text


async def test_console_is_served_same_origin(client: httpx.AsyncClient) -> None:
    r = await client.get("/console")
    assert r.status_code in (302, 307) and r.headers["location"].endswith("/console/")
    page = await client.get("/console/")
    assert page.status_code == 200 and '<script type="module" src="app.js">' in page.text
    assert "://" not in page.text  # every asset is same-origin
    assert "script-src 'self'" in page.headers["content-security-policy"]
    total = len(page.content)
    for asset in ("app.js", "api.js", "chart.js", "dom.js", "library.js", "schema_form.js", "console.css"):
        r = await client.get(f"/console/{asset}")
        assert r.status_code == 200 and len(r.content) > 100, asset
        assert "https://" not in r.text, asset
        total += len(r.content)
    assert total < 200_000  # the whole first page, uncompressed


async def test_openapi_describes_search_in_both_layouts(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    for prefix in PREFIXES:
        op = doc["paths"][f"{prefix}/tasks/search"]["get"]
        assert {p["name"] for p in op["parameters"]} >= {"family", "status", "q", "cursor", "limit"}
        assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "SearchEnvelope"
        )
    assert "next_cursor" in doc["components"]["schemas"]["SearchPage"]["properties"]
