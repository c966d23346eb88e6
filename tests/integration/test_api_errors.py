"""Every error code the gateway itself emits: Kling envelope, official HTTP status, a message that
names the problem, and nothing changed. In-process (the real app over ASGI), on SQLite and
PostgreSQL.

Codes the gateway never originates (1100–1102 billing, 1300–1301 content policy, 1304 IP
whitelist, 5002) are relayed from upstreams unchanged (see test_relay*). Its own 1302 (rate limit),
5001 (disk full) and the edge limits (413, 408, 431, NUL, depth) are in test_rate_limit,
test_disk_full, test_hardening_input and test_server_limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from inprocess import InProcessGateway
from support import Account, b64, png_bytes

pytestmark = pytest.mark.asyncio(loop_scope="module")

T2V = "/kling/v1/videos/text2video"


@dataclass
class Case:
    id: str
    method: str
    path: str
    headers: Callable[[Account], dict[str, str]]
    body: Any
    http: int
    code: int
    says: str
    raw: bytes | None = None


def key(a: Account) -> dict[str, str]:
    return a.bearer


def token(
    payload: dict[str, Any], secret: Callable[[Account], str], alg: str = "HS256"
) -> Callable[[Account], dict[str, str]]:
    def make(a: Account) -> dict[str, str]:
        claims = {k: (v(a) if callable(v) else v) for k, v in payload.items()}
        return {"Authorization": "Bearer " + jwt.encode(claims, secret(a), algorithm=alg)}

    return make


now = int(time.time())
ak = lambda a: a.access_key  # noqa: E731
sk = lambda a: a.secret_key  # noqa: E731

CASES = [
    # authentication
    Case("no-header", "GET", T2V + "/1", lambda a: {}, None, 401, 1001, "empty"),
    Case("blank-header", "GET", T2V + "/1", lambda a: {"Authorization": ""}, None, 401, 1001, "empty"),
    Case(
        "basic-scheme", "GET", T2V + "/1", lambda a: {"Authorization": "Basic abc"}, None, 401, 1002, "Bearer"
    ),
    Case("bearer-only", "GET", T2V + "/1", lambda a: {"Authorization": "Bearer"}, None, 401, 1002, "Bearer"),
    Case(
        "garbage-jwt", "GET", T2V + "/1", lambda a: {"Authorization": "Bearer a.b.c"}, None, 401, 1002, "JWT"
    ),
    Case(
        "unknown-api-key",
        "GET",
        T2V + "/1",
        lambda a: {"Authorization": "Bearer kg-nope"},
        None,
        401,
        1000,
        "API key",
    ),
    Case(
        "jwt-unknown-ak",
        "GET",
        T2V + "/1",
        token({"iss": "AKNOPE", "exp": now + 600}, sk),
        None,
        401,
        1000,
        "access key",
    ),
    Case(
        "jwt-bad-signature",
        "GET",
        T2V + "/1",
        token({"iss": ak, "exp": now + 600}, lambda a: "wrong-secret-0123456789abcdef0123"),
        None,
        401,
        1000,
        "signature",
    ),
    Case(
        "jwt-hs512",
        "GET",
        T2V + "/1",
        token({"iss": ak, "exp": now + 600}, lambda a: a.secret_key * 3, "HS512"),
        None,
        401,
        1000,
        "HS256",
    ),
    Case(
        "jwt-not-yet-valid",
        "GET",
        T2V + "/1",
        token({"iss": ak, "exp": now + 6 * 3600, "nbf": now + 3 * 3600}, sk),  # `now` is collection time
        None,
        401,
        1003,
        "not yet valid",
    ),
    Case(
        "jwt-expired",
        "GET",
        T2V + "/1",
        token({"iss": ak, "exp": now - 60, "nbf": now - 1800}, sk),
        None,
        401,
        1004,
        "expired",
    ),
    Case("jwt-no-exp", "GET", T2V + "/1", token({"iss": ak}, sk), None, 401, 1002, "exp"),
    # request shape
    Case("malformed-json", "POST", T2V, key, None, 400, 1200, "not valid JSON", raw=b'{"prompt": '),
    Case("json-array", "POST", T2V, key, ["prompt"], 400, 1201, "JSON object"),
    Case("missing-prompt", "POST", T2V, key, {"duration": "5"}, 400, 1201, "prompt"),
    Case("prompt-too-long", "POST", T2V, key, {"prompt": "x" * 2501}, 400, 1201, "prompt"),
    Case("bad-duration", "POST", T2V, key, {"prompt": "p", "duration": "7"}, 400, 1201, "duration"),
    Case("bad-aspect", "POST", T2V, key, {"prompt": "p", "aspect_ratio": "4:3"}, 400, 1201, "aspect_ratio"),
    Case("bad-model", "POST", T2V, key, {"prompt": "p", "model_name": "kling-v9"}, 400, 1201, "model_name"),
    Case("cfg-out-of-range", "POST", T2V, key, {"prompt": "p", "cfg_scale": 1.5}, 400, 1201, "cfg_scale"),
    Case("bad-mode", "POST", T2V, key, {"prompt": "p", "mode": "ultra"}, 400, 1201, "mode"),
    Case(
        "camera-two-axes",
        "POST",
        T2V,
        key,
        {"prompt": "p", "camera_control": {"type": "simple", "config": {"pan": 1, "zoom": 1}}},
        400,
        1201,
        "exactly one",
    ),
    Case(
        "camera-preset-with-config",
        "POST",
        T2V,
        key,
        {"prompt": "p", "camera_control": {"type": "down_back", "config": {"pan": 1}}},
        400,
        1201,
        "without config",
    ),
    Case(
        "camera-out-of-range",
        "POST",
        T2V,
        key,
        {"prompt": "p", "camera_control": {"type": "simple", "config": {"pan": 11}}},
        400,
        1201,
        "pan",
    ),
    Case("sound-old-model", "POST", T2V, key, {"prompt": "p", "sound": "on"}, 400, 1201, "sound"),
    Case(
        "bad-callback",
        "POST",
        T2V,
        key,
        {"prompt": "p", "callback_url": "ftp://x"},
        400,
        1201,
        "callback_url",
    ),
    Case("i2v-no-image", "POST", "/v1/videos/image2video", key, {"prompt": "p"}, 400, 1201, "image"),
    Case(
        "i2v-exclusive",
        "POST",
        "/v1/videos/image2video",
        key,
        {
            "image": "https://example.com/a.png",
            "image_tail": "https://example.com/b.png",
            "camera_control": {"type": "down_back"},
        },
        400,
        1201,
        "cannot be used together",
    ),
    Case(
        "i2v-tiny-base64",
        "POST",
        "/v1/videos/image2video",
        key,
        {"image": b64(png_bytes(200, 200))},
        400,
        1201,
        "image",
    ),
    Case(
        "i2v-ratio",
        "POST",
        "/v1/videos/image2video",
        key,
        {"image": b64(png_bytes(1500, 400))},
        400,
        1201,
        "aspect",
    ),
    Case(
        "i2v-not-base64",
        "POST",
        "/v1/videos/image2video",
        key,
        {"image": "%%%not-base64%%%"},
        400,
        1201,
        "image",
    ),
    Case("img-n-too-big", "POST", "/v1/images/generations", key, {"prompt": "p", "n": 10}, 400, 1201, "n"),
    Case(
        "img-2k-v1",
        "POST",
        "/v1/images/generations",
        key,
        {"prompt": "p", "resolution": "2k", "model_name": "kling-v1"},  # kling-v3 (default) has 2k
        400,
        1201,
        "2k",
    ),
    Case(
        "img-21-9-v1",
        "POST",
        "/v1/images/generations",
        key,
        {"prompt": "p", "aspect_ratio": "21:9", "model_name": "kling-v1"},
        400,
        1201,
        "21:9",
    ),
    Case(
        "tryon-missing-cloth",
        "POST",
        "/v1/images/kolors-virtual-try-on",
        key,
        {"human_image": "https://x/a.png"},
        400,
        1201,
        "cloth_image",
    ),
    Case(
        "effects-unknown-scene",
        "POST",
        "/v1/videos/effects",
        key,
        {"effect_scene": "teleport", "input": {"image": "u"}},
        400,
        1201,
        "effect_scene",
    ),
    Case(
        "effects-one-image-for-hug",
        "POST",
        "/v1/videos/effects",
        key,
        {"effect_scene": "hug", "input": {"images": ["https://x/a.png"]}},
        400,
        1201,
        "exactly 2",
    ),
    Case(
        "lipsync-two-sources",
        "POST",
        "/v1/videos/lip-sync",
        key,
        {
            "input": {
                "video_id": "1",
                "video_url": "https://x/v.mp4",
                "mode": "audio2video",
                "audio_type": "url",
                "audio_url": "https://x/a.mp3",
            }
        },
        400,
        1201,
        "exactly one",
    ),
    Case(
        "lipsync-text-too-long",
        "POST",
        "/v1/videos/lip-sync",
        key,
        {"input": {"video_url": "https://x/v.mp4", "mode": "text2video", "text": "x" * 121, "voice_id": "v"}},
        400,
        1201,
        "text",
    ),
    Case(
        "t2a-duration",
        "POST",
        "/v1/audio/text-to-audio",
        key,
        {"prompt": "p", "duration": 11},
        400,
        1201,
        "duration",
    ),
    Case(
        "t2a-decimals",
        "POST",
        "/v1/audio/text-to-audio",
        key,
        {"prompt": "p", "duration": 3.25},
        400,
        1201,
        "decimal",
    ),
    Case("v2a-none", "POST", "/v1/audio/video-to-audio", key, {"bgm_prompt": "x"}, 400, 1201, "video_id"),
    Case(
        "extend-unknown-video",
        "POST",
        "/v1/videos/video-extend",
        key,
        {"video_id": "123456789012345678"},
        400,
        1201,
        "does not exist",
    ),
    Case(
        "multi-elements-unknown-session",
        "POST",
        "/v1/videos/multi-elements",
        key,
        {"session_id": "nope", "edit_mode": "removal", "prompt": "p"},
        400,
        1201,
        "session",
    ),
    Case(
        "multi-elements-swap-count",
        "POST",
        "/v1/videos/multi-elements",
        key,
        {"session_id": "s", "edit_mode": "swap", "prompt": "p"},
        400,
        1201,
        "image_list",
    ),
    Case("page-size", "GET", T2V + "?pageSize=501", key, None, 400, 1201, "pageSize"),
    Case("page-num", "GET", T2V + "?pageNum=0", key, None, 400, 1201, "pageNum"),
    Case("page-num-text", "GET", T2V + "?pageNum=abc", key, None, 400, 1201, "pageNum"),
    Case(
        "selection-bad-point",
        "POST",
        "/v1/videos/multi-elements/add-selection",
        key,
        {"session_id": "s", "frame_index": 0, "points": [{"x": 2, "y": 0}]},
        400,
        1201,
        "points",
    ),
    # routes and resources
    Case("wrong-method", "DELETE", T2V, key, None, 404, 1202, "DELETE"),
    Case("put-on-task", "PUT", T2V + "/1", key, {}, 404, 1202, "PUT"),
    Case("unknown-route", "GET", "/kling/v1/videos/teleport", key, None, 404, 1203, "route"),
    Case("unknown-task", "GET", T2V + "/999999999999999999", key, None, 404, 1203, "not found"),
    Case("file-unsigned", "GET", "/files/x/a1/video.mp4", lambda a: {}, None, 403, 1103, "signature"),
    Case(
        "file-tampered",
        "GET",
        "/files/x/a1/video.mp4?expires=9999999999&signature=AAAA",
        lambda a: {},
        None,
        403,
        1103,
        "altered",
    ),
]


FAMILIES = (
    "videos/text2video",
    "videos/image2video",
    "images/generations",
    "audio/text-to-audio",
    "videos/video-extend",
    "videos/multi-elements",
    "videos/lip-sync",
    "videos/effects",
)


async def _count_tasks(client: httpx.AsyncClient, account: Account) -> int:
    total = 0
    for family in FAMILIES:
        listed = await client.get(f"/v1/{family}", params={"pageSize": 500}, headers=account.bearer)
        assert listed.status_code == 200, listed.text
        total += len(listed.json()["data"])
    return total


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_error_envelope(client: httpx.AsyncClient, account: Account, case: Case) -> None:
    before = await _count_tasks(client, account)
    kwargs: dict[str, Any] = {"headers": case.headers(account)}
    if case.raw is not None:
        kwargs["content"] = case.raw
        kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/json"}
    elif case.body is not None:
        kwargs["json"] = case.body
    response = await client.request(case.method, case.path, **kwargs)
    assert response.status_code == case.http, response.text
    body = response.json()
    assert set(body) == {"code", "message", "request_id"}
    assert body["code"] == case.code, body
    assert case.says.lower() in body["message"].lower(), body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert await _count_tasks(client, account) == before  # nothing was created


async def test_duplicate_external_id_is_refused_and_first_task_kept(
    client: httpx.AsyncClient, account: Account
) -> None:
    body = {"prompt": "once", "external_task_id": "dup-1"}
    first = await client.post(T2V, json=body, headers=account.bearer)
    assert first.status_code == 200
    second = await client.post(T2V, json={**body, "prompt": "twice"}, headers=account.bearer)
    assert second.status_code == 400
    assert second.json()["code"] == 1201 and "external_task_id" in second.json()["message"]
    found = (await client.get(T2V + "/dup-1", headers=account.bearer)).json()["data"]
    assert found["task_id"] == first.json()["data"]["task_id"]


async def test_concurrency_limit_gives_1303(app_gateway: InProcessGateway, client: httpx.AsyncClient) -> None:
    """The app runs without workers, so the first task stays in flight for certain."""
    limited = await app_gateway.create_account("pack", max_concurrent_tasks=1)
    first = await client.post(T2V, json={"prompt": "first"}, headers=limited.bearer)
    assert first.status_code == 200, first.text
    second = await client.post(T2V, json={"prompt": "second"}, headers=limited.bearer)
    assert second.status_code == 429
    assert second.json()["code"] == 1303 and "limit" in second.json()["message"]
    assert await _count_tasks(client, limited) == 1  # the refused one was not created
