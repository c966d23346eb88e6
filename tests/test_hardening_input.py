"""Hostile input at the edge (issue #13 items 2, 4, 5, 8): oversized bodies, deep JSON, NUL
bytes, bloated unknown fields, unbounded JWT lifetimes. Each answer is the Kling envelope with
the official code, names the problem, and stores nothing; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from inprocess import InProcess, in_process
from support import Account, b64, png_header_only

T2V = "/v1/videos/text2video"


@pytest.fixture(params=["sqlite", "postgres"])
async def gw(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(
        tmp_path, request.param, max_create_body_bytes=64 * 1024, max_body_bytes=4096, max_json_depth=32
    ) as running:
        yield running


def assert_error(resp: httpx.Response, status: int, code: int, says: str) -> None:
    body = resp.json()
    assert resp.status_code == status, body
    assert body["code"] == code, body
    assert says in body["message"], body
    assert body["request_id"] and resp.headers["x-request-id"] == body["request_id"]


async def test_declared_body_over_the_cap_is_refused_unread(gw: InProcess) -> None:
    account = await gw.account()
    body = b'{"prompt": "' + b"a" * (70 * 1024) + b'"}'
    resp = await gw.http.post(T2V, content=body, headers=account.bearer)
    assert_error(resp, 413, 1200, "65536-byte limit")
    assert await gw.task_count(account) == 0


async def test_streamed_body_over_the_cap_is_refused(gw: InProcess) -> None:
    account = await gw.account()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while it streams
        yield b'{"prompt": "'
        for _ in range(20):
            yield b"a" * 8192
        yield b'"}'

    resp = await gw.http.post(T2V, content=chunks(), headers=account.bearer)
    assert_error(resp, 413, 1200, "65536-byte limit")
    assert await gw.task_count(account) == 0


async def test_non_create_routes_have_the_small_cap(gw: InProcess) -> None:
    account = await gw.account()
    body = {"session_id": "s" * 5000}
    resp = await gw.http.post("/v1/videos/multi-elements/clear-selection", json=body, headers=account.bearer)
    assert_error(resp, 413, 1200, "4096-byte limit")


async def test_a_body_under_the_cap_is_accepted(gw: InProcess) -> None:
    account = await gw.account()
    resp = await gw.http.post(T2V, json={"prompt": "a" * 2000}, headers=account.bearer)
    assert resp.status_code == 200 and resp.json()["code"] == 0
    assert await gw.task_count(account) == 1


@pytest.mark.parametrize("depth", [33, 300, 100_000])
async def test_deep_json_is_a_400(gw: InProcess, depth: int) -> None:
    account = await gw.account()
    body = ('{"prompt": "p", "x": ' + "[" * depth + "]" * depth + "}").encode()
    resp = await gw.http.post(T2V, content=body, headers=account.bearer)
    if len(body) > 64 * 1024:
        assert_error(resp, 413, 1200, "limit")
    else:
        assert_error(resp, 400, 1200, "deeper than 32 levels")
    assert await gw.task_count(account) == 0


async def test_json_at_the_depth_limit_passes_the_guard(gw: InProcess) -> None:
    account = await gw.account()
    nested: Any = "leaf"
    for _ in range(30):
        nested = {"n": nested}
    resp = await gw.http.post(T2V, json={"prompt": "p", "x": nested}, headers=account.bearer)
    assert resp.status_code == 200, resp.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "a\u0000b"}, "prompt"),
        ({"prompt": "p", "external_task_id": "e\u0000"}, "external_task_id"),
        ({"prompt": "p", "extra": {"deep": ["x\u0000"]}}, "extra.deep[0]"),
    ],
)
async def test_nul_in_a_body_string_is_a_1201(gw: InProcess, body: dict[str, Any], field: str) -> None:
    account = await gw.account()
    resp = await gw.http.post(T2V, json=body, headers=account.bearer)
    assert_error(resp, 400, 1201, f"{field}: must not contain NUL")
    assert await gw.task_count(account) == 0


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
async def test_nul_in_a_body_in_utf16_or_utf32_is_a_1201(gw: InProcess, encoding: str) -> None:
    """JSON may come in UTF-16 or UTF-32 (json.loads reads them); the guard's shortcut for bodies
    that cannot hold a NUL (``check_json``'s ``raw``) must not let these through."""
    account = await gw.account()
    body = json.dumps({"prompt": "a\u0000b"}).encode(encoding)
    resp = await gw.http.post(T2V, content=body, headers=account.bearer)
    assert_error(resp, 400, 1201, "prompt: must not contain NUL")
    assert await gw.task_count(account) == 0


@pytest.mark.parametrize("path", [T2V + "/abc%00def", T2V + "?pageNum=1%00", T2V + "/1?x=%00"])
async def test_nul_in_path_or_query_is_refused_before_auth(gw: InProcess, path: str) -> None:
    resp = await gw.http.get(path)  # no credentials: the guard answers first
    assert_error(resp, 400, 1200, "NUL byte")


async def test_nul_in_jwt_issuer_is_a_401(gw: InProcess) -> None:
    claims = {"iss": "AK\u0000x", "exp": int(time.time()) + 600}
    token = jwt.encode(claims, "s" * 32, algorithm="HS256")
    resp = await gw.http.get(T2V + "/1", headers={"Authorization": f"Bearer {token}"})
    assert_error(resp, 401, 1002, "NUL")


async def test_unknown_fields_are_relayed_but_bounded(gw: InProcess) -> None:
    account = await gw.account()
    ok = await gw.http.post(T2V, json={"prompt": "p", "new_upstream_flag": True}, headers=account.bearer)
    assert ok.status_code == 200
    row = await gw.gateway.tasks.get(ok.json()["data"]["task_id"])
    assert row is not None and row.request_body["new_upstream_flag"] is True  # kept for the upstream
    bloated = {"prompt": "p", "junk": "x" * 20_000}
    resp = await gw.http.post(T2V, json=bloated, headers=account.bearer)
    assert_error(resp, 400, 1201, "undocumented fields (junk)")
    assert await gw.task_count(account) == 1


def _jwt(account: Account, exp: float) -> dict[str, str]:
    now = time.time()
    claims = {"iss": account.access_key, "exp": exp, "nbf": int(now) - 5}
    return {"Authorization": "Bearer " + jwt.encode(claims, account.secret_key, algorithm="HS256")}


async def test_jwt_lifetime_is_capped(gw: InProcess) -> None:
    account = await gw.account()
    for exp in (1e30, time.time() + 2 * 24 * 3600):
        resp = await gw.http.get(T2V, headers=_jwt(account, exp))
        assert_error(resp, 401, 1002, "tokens may live at most 86400 s")
    resp = await gw.http.get(T2V, headers=_jwt(account, int(time.time()) + 1800))
    assert resp.status_code == 200, resp.json()


async def test_an_inline_image_bomb_is_a_400_at_create(gw: InProcess) -> None:
    account = await gw.account()
    body = {"image": b64(png_header_only(13000, 13000))}
    resp = await gw.http.post("/v1/videos/image2video", json=body, headers=account.bearer)
    assert_error(resp, 400, 1201, "image: 13000x13000 is more than the 40 megapixel limit")
    assert await gw.task_count(account, "videos/image2video") == 0
