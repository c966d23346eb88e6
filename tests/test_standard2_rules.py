"""The new standard's rules, in-process: every per-model rule of spec kling-api-more.md §3–4
broken once gets HTTP 400 / 1201 naming it and stores nothing; auth as Kling does it; the
``/tasks`` limits and cursor paging; one row visible through both standards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kling_gateway.api import create_app
from kling_gateway.auth import mint_jwt
from kling_gateway.config import Settings
from kling_gateway.gateway import Gateway
from kling_gateway.keys import IssuedKey, create_account
from support import PostgresDatabase, b64, png_bytes, postgres_available, require_service

IMG = b64(png_bytes(640, 360))


def img(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "url": IMG, **extra}


def vid(kind: str) -> dict[str, Any]:
    return {"type": kind, "url": "https://example.com/v.mp4"}


TEXT = {"type": "prompt", "text": "a fox runs"}


@pytest.fixture()
def gateway(tmp_path: Path) -> Gateway:
    return Gateway(Settings(data_dir=tmp_path, workers=0))


@pytest.fixture(params=["sqlite", "postgres"])
def any_gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gateway]:
    """The store-reading tests run on both databases."""
    if request.param == "sqlite":
        yield Gateway(Settings(data_dir=tmp_path, workers=0))
        return
    require_service(postgres_available(), "PostgreSQL is not reachable on 127.0.0.1:5432")
    database = PostgresDatabase()
    try:
        yield Gateway(Settings(data_dir=tmp_path, workers=0, database_url=database.url))
    finally:
        database.drop()


@pytest.fixture()
async def store_client(any_gateway: Gateway) -> AsyncIterator[tuple[httpx.AsyncClient, IssuedKey]]:
    app = create_app(gateway=any_gateway)
    async with app.router.lifespan_context(app):
        key = await create_account(any_gateway.accounts, any_gateway.box, "standard2-db")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
            yield http, key


@pytest.fixture()
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway=gateway)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
            yield http


@pytest.fixture()
async def key(gateway: Gateway) -> IssuedKey:
    return await create_account(gateway.accounts, gateway.box, "standard2")


def auth(key: IssuedKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.api_key}"}


# (path, body, words the message must contain) — one broken rule each
BROKEN: list[tuple[str, dict[str, Any], str]] = [
    # §3.1 anatomy
    ("/image-to-video/kling-3.0", {"model_name": "kling-v3", "image": IMG}, "contents cannot be empty"),
    ("/text-to-video/kling-3.0", {"model_name": "kling-v3", "mode": "pro"}, "prompt cannot be empty"),
    ("/text-to-video/kling-3.0", {"prompt": "x", "contents": [TEXT]}, "send prompt"),
    ("/omni-video/kling-o1", {"prompt": "x", "contents": [TEXT]}, "contents item of type prompt"),
    (
        "/text-to-video/kling-3.0",
        {"prompt": "x", "negative_prompt": "y"},
        "negative_prompt belongs to the legacy",
    ),
    ("/text-to-video/kling-3.0", {"prompt": "x" * 3073}, "at most 3072"),
    ("/text-to-video/kling-2.6", {"prompt": "x" * 2501}, "at most 2500"),
    # §3.2 contents
    ("/image-to-video/kling-3.0", {"contents": [TEXT]}, "a first_frame is required"),
    (
        "/image-to-video/kling-3.0-turbo",
        {"contents": [img("first_frame"), img("last_frame")]},
        "type 'last_frame' is not accepted",
    ),
    (
        "/image-to-video/kling-3.0",
        {"contents": [img("first_frame"), img("first_frame")]},
        "at most 1 of type first_frame",
    ),
    (
        "/image-to-video/kling-3.0",
        {
            "contents": [
                img("first_frame"),
                *({"type": "element", "element_id": n, "id": f"e{n}"} for n in range(4)),
            ]
        },
        "at most 3 of type element",
    ),
    (
        "/image-to-video/kling-3.0",
        {"contents": [img("first_frame"), {"type": "element", "element_id": 1}]},
        "id is required for a element",
    ),
    (
        "/image-to-video/kling-3.0",
        {
            "contents": [
                img("first_frame"),
                {"type": "element", "element_id": 1, "id": "a"},
                {"type": "element", "element_id": 2, "id": "a"},
            ]
        },
        "used twice",
    ),
    (
        "/image-to-video/kling-2.5-turbo",
        {"contents": [img("first_frame"), {"type": "voice", "voice_id": "v", "id": "v1"}]},
        "type 'voice' is not accepted",
    ),
    ("/image-to-video/kling-3.0", {"contents": [{"type": "first_frame"}]}, "url cannot be empty"),
    ("/omni-video/kling-3.0-omni", {"contents": [TEXT, img("last_frame")]}, "needs a first_frame"),
    # §3.3 settings
    ("/text-to-video/kling-3.0", {"prompt": "x", "settings": {"duration": "6"}}, "JSON integer"),
    ("/text-to-video/kling-3.0", {"prompt": "x", "settings": {"duration": 16}}, "3–15 seconds"),
    ("/text-to-video/kling-2.6", {"prompt": "x", "settings": {"duration": 7}}, "5, 10 seconds"),
    ("/text-to-video/kling-2.5-turbo", {"prompt": "x", "settings": {"resolution": "4k"}}, "720p, 1080p"),
    (
        "/text-to-video/kling-3.0-turbo",
        {"prompt": "x", "settings": {"audio": "native"}},
        "audio is not accepted",
    ),
    ("/text-to-video/kling-3.0", {"prompt": "x", "settings": {"audio": "original"}}, "native, off"),
    (
        "/text-to-video/kling-2.6",
        {"prompt": "x", "settings": {"audio": "native", "resolution": "720p"}},
        "native needs resolution 1080p",
    ),
    (
        "/text-to-video/kling-2.6",
        {"prompt": "x", "settings": {"multi_shot": True}},
        "multi_shot is not accepted",
    ),
    ("/text-to-video/kling-3.0", {"prompt": "x", "settings": {"aspect_ratio": "4:3"}}, "16:9, 9:16, 1:1"),
    (
        "/image-to-video/kling-3.0",
        {"contents": [img("first_frame")], "settings": {"aspect_ratio": "16:9"}},
        "follows the inputs",
    ),
    (
        "/text-to-video/kling-3.0",
        {"prompt": "x", "settings": {"character_orientation": "image"}},
        "motion-control only",
    ),
    # multi-shot prompt syntax
    (
        "/text-to-video/kling-3.0",
        {"prompt": "shot 1, 2, a; shot 2, 2, b;", "settings": {"duration": 5}},
        "add up to 4 s",
    ),
    ("/text-to-video/kling-3.0", {"prompt": "shot 1, 2, a; shot 3, 3, b;"}, "numbered 1, 2"),
    ("/text-to-video/kling-3.0", {"prompt": "shot 1, 0.5, a; shot 2, 4.5, b;"}, "at least 1 s"),
    # §4.2 per-model image-to-video
    (
        "/image-to-video/kling-2.5-turbo",
        {"contents": [img("first_frame"), img("last_frame")]},
        "last_frame needs resolution 1080p",
    ),
    (
        "/image-to-video/kling-2.6",
        {
            "contents": [img("first_frame"), img("last_frame")],
            "settings": {"resolution": "1080p", "audio": "native"},
        },
        "silent-only",
    ),
    (
        "/image-to-video/kling-2.6",
        {
            "contents": [img("first_frame"), {"type": "voice", "voice_id": "v", "id": "v1"}],
            "settings": {"resolution": "1080p"},
        },
        "voice needs settings.audio native",
    ),
    # §4.3 omni
    ("/omni-video/kling-3.0-omni", {"contents": [TEXT]}, "aspect_ratio is required"),
    (
        "/omni-video/kling-3.0-omni",
        {"contents": [TEXT, vid("feature_video"), vid("base_video")]},
        "at most one reference video",
    ),
    (
        "/omni-video/kling-3.0-omni",
        {"contents": [TEXT, vid("feature_video")], "settings": {"audio": "native"}},
        "audio must be off with a feature_video",
    ),
    (
        "/omni-video/kling-3.0-omni",
        {"contents": [TEXT, vid("feature_video")], "settings": {"multi_shot": False}},
        "multi_shot must be true",
    ),
    (
        "/omni-video/kling-o1",
        {"contents": [img("first_frame"), img("last_frame"), vid("feature_video")]},
        "first_frame only",
    ),
    (
        "/omni-video/kling-3.0-omni",
        {"contents": [vid("base_video"), img("first_frame")]},
        "takes no first_frame",
    ),
    (
        "/omni-video/kling-3.0-omni",
        {"contents": [vid("base_video")], "settings": {"multi_shot": True}},
        "multi_shot cannot be true",
    ),
    (
        "/omni-video/kling-3.0-omni",
        {"contents": [vid("base_video")], "settings": {"audio": "native"}},
        "cannot be native",
    ),
    (
        "/omni-video/kling-o1",
        {"contents": [img("first_frame"), img("last_frame"), img("refer_image")]},
        "no elements or refer_image",
    ),
    (
        "/omni-video/kling-3.0-omni",
        {"contents": [vid("feature_video"), *(img("refer_image") for _ in range(5))]},
        "at most 4 images and elements with",
    ),
    (
        "/omni-video/kling-3.0-omni",
        {
            "contents": [
                *(img("refer_image") for _ in range(7)),
                {"type": "element", "element_id": 1, "id": "e"},
            ],
            "settings": {"aspect_ratio": "1:1"},
        },
        "at most 7",
    ),
    (
        "/omni-video/kling-3.0-omni",
        {
            "contents": [
                img("first_frame"),
                *({"type": "element", "element_id": n, "id": f"e{n}"} for n in range(4)),
            ]
        },
        "at most 3 elements",
    ),
    ("/omni-video/kling-o1", {"contents": [img("first_frame")], "settings": {"duration": 7}}, "5 or 10"),
    (
        "/omni-video/kling-o1",
        {"contents": [TEXT], "settings": {"aspect_ratio": "1:1", "duration": 11}},
        "3–10 seconds",
    ),
    # §4.4 motion control
    (
        "/motion-control/kling-3.0",
        {"contents": [img("image"), vid("video")]},
        "character_orientation is required",
    ),
    (
        "/motion-control/kling-2.6",
        {"contents": [img("image")], "settings": {"character_orientation": "image"}},
        "a video is required",
    ),
    (
        "/motion-control/kling-2.6",
        {
            "contents": [img("image"), vid("video"), {"type": "element", "element_id": 1, "id": "e"}],
            "settings": {"character_orientation": "video"},
        },
        "type 'element' is not accepted",
    ),
    (
        "/motion-control/kling-3.0",
        {
            "contents": [img("image"), vid("video")],
            "settings": {"character_orientation": "video", "duration": 5},
        },
        "follows the input video",
    ),
    (
        "/motion-control/kling-3.0",
        {
            "contents": [img("image"), vid("video")],
            "settings": {"character_orientation": "video", "resolution": "4k"},
        },
        "720p, 1080p",
    ),
    # §3.4 options
    (
        "/text-to-video/kling-3.0",
        {"prompt": "x", "options": {"watermark_info": {"enabled": "yes"}}},
        "watermark_info",
    ),
    # inline inputs are checked on arrival
    (
        "/image-to-video/kling-3.0",
        {"contents": [{"type": "first_frame", "url": b64(png_bytes(200, 200))}]},
        "300",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "says"), BROKEN, ids=[f"{i}-{c[2][:30]}" for i, c in enumerate(BROKEN)]
)
async def test_a_broken_rule_is_400_1201_naming_it_and_stores_nothing(
    client: httpx.AsyncClient, key: IssuedKey, path: str, body: dict[str, Any], says: str
) -> None:
    for prefix in ("", "/kling"):
        response = await client.post(prefix + path, json=body, headers=auth(key))
        assert response.status_code == 400, response.text
        error = response.json()
        assert set(error) == {"code", "message", "request_id"} and error["code"] == 1201
        assert says in error["message"], error["message"]
    listed = await client.post("/tasks", json={}, headers=auth(key))
    assert listed.json()["data"]["count"] == 0


async def test_valid_requests_of_every_product_are_accepted_with_defaults_filled(
    client: httpx.AsyncClient, key: IssuedKey, gateway: Gateway
) -> None:
    bodies = {
        "/text-to-video/kling-3.0-turbo": {"prompt": "a fox"},
        "/kling/image-to-video/kling-2.6": {
            "contents": [img("first_frame"), TEXT],
            "settings": {"resolution": "1080p", "audio": "native"},
        },
        "/omni-video/kling-3.0-omni": {
            "contents": [TEXT, img("refer_image")],
            "settings": {"aspect_ratio": "9:16", "audio": "native"},
        },
        "/omni-video/kling-v3-omni": {"contents": [vid("base_video")]},
        "/motion-control/kling-3.0": {
            "contents": [
                img("image"),
                vid("video"),
                {"type": "element", "element_id": 900000000000000101, "id": "z"},
            ],
            "settings": {"character_orientation": "image"},
        },
    }
    for path, body in bodies.items():
        response = await client.post(path, json=body, headers=auth(key))
        assert response.status_code == 200, (path, response.text)
        data = response.json()["data"]
        assert set(data) == {"id", "status", "create_time", "update_time"} and data["status"] == "submitted"
        assert len(data["id"]) == 18 and data["id"].isdigit()
    rows = (await client.post("/tasks", json={}, headers=auth(key))).json()["data"]["result"]
    assert len(rows) == len(bodies)
    stored = {r.family: r.request_body for r in [await gateway.tasks.get(row["id"]) for row in rows] if r}
    assert stored["v2/text-to-video"]["settings"] == {"resolution": "720p", "duration": 5}
    assert stored["v2/omni-video"]["model"] == "kling-3.0-omni"
    motion = stored["v2/motion-control"]["settings"]
    assert motion["audio"] == "original" and "duration" not in motion


async def test_unknown_model_on_a_product_is_404_1203(client: httpx.AsyncClient, key: IssuedKey) -> None:
    response = await client.post("/text-to-video/kling-v3", json={"prompt": "x"}, headers=auth(key))
    assert response.status_code == 404 and response.json()["code"] == 1203
    assert "kling-3.0" in response.json()["message"]  # names what is served


async def test_a_kling_jwt_is_refused_on_new_standard_paths_only(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    jwt = {"Authorization": f"Bearer {mint_jwt(key.access_key, key.secret_key)}"}
    for method, path in (
        ("POST", "/text-to-video/kling-3.0"),
        ("GET", "/tasks?task_ids=1"),
        ("POST", "/kling/tasks"),
    ):
        response = await client.request(method, path, json={"prompt": "x"}, headers=jwt)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == 1002
        assert response.json()["message"] == "The current API does not support AK/SK"
    legacy = await client.post("/v1/videos/text2video", json={"prompt": "x"}, headers=jwt)
    assert legacy.status_code == 200
    anonymous = await client.get("/tasks", params={"task_ids": "1"})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == 1001


async def test_get_tasks_limits(store_client: tuple[httpx.AsyncClient, IssuedKey]) -> None:
    client, key = store_client
    created = await client.post(
        "/text-to-video/kling-3.0",
        json={"prompt": "x", "options": {"external_task_id": "job-1"}},
        headers=auth(key),
    )
    task_id = created.json()["data"]["id"]
    ids = ",".join([task_id, *(str(10**17 + n) for n in range(19))])
    batch = await client.get("/tasks", params={"task_ids": ids}, headers=auth(key))
    assert [r["id"] for r in batch.json()["data"]] == [task_id]  # unknown ids: left out
    too_many = await client.get("/tasks", params={"task_ids": ids + ",1"}, headers=auth(key))
    assert too_many.status_code == 400 and "cannot exceed 20 in total" in too_many.json()["message"]
    both = await client.get(
        "/tasks", params={"task_ids": task_id, "external_task_ids": "job-1"}, headers=auth(key)
    )
    assert both.status_code == 400 and "together" in both.json()["message"]
    neither = await client.get("/tasks", headers=auth(key))
    assert neither.status_code == 400 and neither.json()["code"] == 1201
    by_external = await client.get(
        "/kling/tasks", params={"external_task_ids": "job-1,nope"}, headers=auth(key)
    )
    record = by_external.json()["data"][0]
    assert record["id"] == task_id and record["external_id"] == "job-1" and record["status"] == "submitted"
    assert record["outputs"] == [] and record["billing"] == [] and record["message"] == ""
    unknown = await client.get("/tasks", params={"task_ids": "1"}, headers=auth(key))
    assert unknown.status_code == 200 and unknown.json()["data"] == []
    again = await client.post(
        "/text-to-video/kling-3.0",
        json={"prompt": "x", "options": {"external_task_id": "job-1"}},
        headers=auth(key),
    )
    assert again.status_code == 400 and "already exists" in again.json()["message"]


async def test_one_row_through_both_standards(
    client: httpx.AsyncClient, key: IssuedKey, gateway: Gateway
) -> None:
    legacy = await client.post("/v1/videos/text2video", json={"prompt": "a hen"}, headers=auth(key))
    legacy_id = legacy.json()["data"]["task_id"]
    seen = await client.get("/tasks", params={"task_ids": legacy_id}, headers=auth(key))
    assert seen.json()["data"][0]["id"] == legacy_id
    other = await create_account(gateway.accounts, gateway.box, "other")
    foreign = await client.get("/tasks", params={"task_ids": legacy_id}, headers=auth(other))
    assert foreign.json()["data"] == []  # another account's task is unknown


async def test_cursor_listing_is_stable_under_concurrent_creates(
    store_client: tuple[httpx.AsyncClient, IssuedKey],
) -> None:
    client, key = store_client
    first = [
        (await client.post("/text-to-video/kling-3.0", json={"prompt": f"t{n}"}, headers=auth(key))).json()[
            "data"
        ]["id"]
        for n in range(7)
    ]
    page = (await client.post("/tasks", json={"limit": 3}, headers=auth(key))).json()["data"]
    assert page["count"] == 3 and page["has_more"] is True
    seen = [r["id"] for r in page["result"]]

    async def create(n: int) -> None:
        await client.post("/text-to-video/kling-3.0", json={"prompt": f"late {n}"}, headers=auth(key))

    cursor = page["next_cursor"]
    while True:
        racing = asyncio.gather(*(create(n) for n in range(3)))
        body = {"limit": 3, "cursor": cursor, "start_time": 0, "end_time": 1}  # times ignored with a cursor
        page, _ = await asyncio.gather(client.post("/kling/tasks", json=body, headers=auth(key)), racing)
        data = page.json()["data"]
        seen += [r["id"] for r in data["result"]]
        cursor = data["next_cursor"]
        if not data["has_more"]:
            break
    assert seen == list(reversed(first))  # every original row once, newest first, none of the late ones


async def test_listing_filters_and_bounds(store_client: tuple[httpx.AsyncClient, IssuedKey]) -> None:
    client, key = store_client
    await client.post("/text-to-video/kling-3.0", json={"prompt": "v"}, headers=auth(key))
    await client.post("/v1/images/generations", json={"prompt": "i"}, headers=auth(key))
    images = await client.post(
        "/tasks", json={"filters": [{"key": "product_type", "values": ["image"]}]}, headers=auth(key)
    )
    assert images.json()["data"]["count"] == 1
    done = await client.post(
        "/tasks", json={"filters": [{"key": "status", "values": ["succeeded"]}]}, headers=auth(key)
    )
    assert done.json()["data"]["count"] == 0
    submitted = await client.post(
        "/tasks",
        json={"filters": [{"key": "status", "values": ["submitted"]}], "start_time": "0"},
        headers=auth(key),
    )
    assert submitted.json()["data"]["count"] == 2
    past = await client.post("/tasks", json={"end_time": 1000}, headers=auth(key))
    assert past.json()["data"]["count"] == 0
    for body, says in (
        ({"limit": 501}, "limit"),
        ({"filters": [{"key": "model", "values": ["x"]}]}, "status or product_type"),
        ({"filters": [{"key": "status", "values": ["succeed"]}]}, "status 'succeed'"),
        ({"cursor": "!!"}, "cursor"),
        ({"start_time": "yesterday"}, "start_time"),
    ):
        response = await client.post("/tasks", json=body, headers=auth(key))
        assert response.status_code == 400 and says in response.json()["message"], (body, response.text)
