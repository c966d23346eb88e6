"""Voices and elements relayed to a Kling-compatible upstream (a real kling-gateway process on
loopback speaking the wire format): made upstream, pinned to the channel that made them, ids
translated both ways — the client sees the front's ids, the upstream its own, also inside
another task's body (``element_voice_id``, ``element_list``). Two channels on one upstream, with
two upstream accounts: the one that made a voice is the only one that can use it, and the other
channel has the higher priority, so only pinning sends the follow-ups to the right one. The new
standard's ``contents[]`` voice and element items are translated and pinned the same way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from inprocess import App, in_process_app, running_gateway
from kling_gateway.media.probe import probe_av, probe_image
from support import Account, GatewayProcess, b64, png_bytes, wav_bytes

module_loop = pytest.mark.asyncio(loop_scope="module")
POLL = {"initial": 0.2, "factor": 0.2, "max_interval": 0.5}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, Account, Account]]:
    with GatewayProcess(tmp_path_factory.mktemp("upstream")) as server:
        yield server, server.create_account("maker"), server.create_account("other")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def front(
    upstream: tuple[GatewayProcess, Account, Account], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    server, maker, other = upstream
    channels = [
        {  # the only channel that makes voices; lowest priority for everything else
            "name": "maker",
            "type": "kling-compatible",
            "base_url": server.base_url,
            "api_key": maker.api_key,
            "callbacks": False,
            "poll": POLL,
            "new_standard": True,
        },
        {
            "name": "other",
            "type": "kling-compatible",
            "base_url": server.base_url,
            "api_key": other.api_key,
            "callbacks": False,
            "poll": POLL,
            "priority": 10,
            "families": ["videos/*", "images/*", "general/advanced-custom-elements", "v2/*"],
            "new_standard": True,
        },
    ]
    async with in_process_app(
        tmp_path_factory.mktemp("front"), accounts=2, channels=channels, fetch_allow_hosts=["127.0.0.1"]
    ) as app:
        yield app


def upstream_task(server: GatewayProcess, account: Account, family: str, task_id: str) -> dict[str, Any]:
    got = httpx.get(f"{server.base_url}/v1/{family}/kg-{task_id}", headers=account.bearer, timeout=30)
    assert got.status_code == 200, got.text
    data: dict[str, Any] = got.json()["data"]
    return data


def element_body(**extra: Any) -> dict[str, Any]:
    return {
        "element_name": "Speaker",
        "element_description": "a speaking character",
        "reference_type": "image_refer",
        "element_image_list": {
            "frontal_image": b64(png_bytes(500, 400)),
            "refer_images": [{"image_url": b64(png_bytes(400, 400))}],
        },
        **extra,
    }


@module_loop
async def test_voice_then_element_then_omni_pinned_and_translated(front: App, upstream) -> None:
    server, maker, other = upstream
    voice_task = await front.run(
        "/v1/general/custom-voices", {"voice_name": "Relayed", "voice_url": b64(wav_bytes(6))}
    )
    (voice,) = voice_task["task_result"]["voices"]
    assert voice["voice_id"] == voice_task["task_id"]  # the front's id
    assert voice["trial_url"].startswith(front.gateway.settings.base_url() + "/")  # mirrored
    assert abs(probe_av(await front.fetch(voice["trial_url"])).duration - 6.0) < 0.15
    theirs = upstream_task(server, maker, "general/custom-voices", voice_task["task_id"])
    upstream_voice = theirs["task_result"]["voices"][0]["voice_id"]
    assert upstream_voice != voice["voice_id"]
    assert (await front.gateway.tasks.get(voice_task["task_id"])).engine == "maker"  # type: ignore[union-attr]

    # the element names the voice: pinned to "maker" (priority says "other"), upstream id inside
    element_task = await front.run(
        "/v1/general/advanced-custom-elements", element_body(element_voice_id=voice["voice_id"])
    )
    (element,) = element_task["task_result"]["elements"]
    assert element["element_id"] == int(element_task["task_id"])
    assert element["element_voice_info"]["voice_id"] == voice["voice_id"]
    frontal = element["element_image_list"]["frontal_image"]
    assert frontal.startswith(front.gateway.settings.base_url() + "/")
    assert (
        probe_image(await front.fetch(frontal)).width,
        probe_image(await front.fetch(frontal)).height,
    ) == (500, 400)
    up_element = upstream_task(server, maker, "general/advanced-custom-elements", element_task["task_id"])
    up_record = up_element["task_result"]["elements"][0]
    assert up_record["element_voice_info"]["voice_id"] == upstream_voice
    assert up_record["element_id"] != element["element_id"]

    # omni-video with the element: pinned again, the upstream sees its own element id
    omni = await front.run(
        "/v1/videos/omni-video",
        {
            "prompt": "<<<element_1>>> talks",
            "element_list": [{"element_id": element["element_id"]}],
            "aspect_ratio": "16:9",
            "mode": "std",
            "duration": "3",
            "model_name": "kling-v3-omni",
        },
    )
    info = probe_av(await front.fetch(omni["task_result"]["videos"][0]["url"]))
    assert abs(info.duration - 3.0) <= 0.15
    up_omni = upstream_task(server, maker, "videos/omni-video", omni["task_id"])
    assert up_omni["task_status"] == "succeed"

    # an element without a voice goes by priority to the other channel
    plain = await front.run("/v1/general/advanced-custom-elements", element_body())
    assert (await front.gateway.tasks.get(plain["task_id"])).engine == "other"  # type: ignore[union-attr]
    assert (
        upstream_task(server, other, "general/advanced-custom-elements", plain["task_id"])["task_status"]
        == "succeed"
    )


@module_loop
async def test_presets_pass_unchanged_and_foreign_ids_are_refused_at_the_front(front: App) -> None:
    presets = await front.http.get("/v1/general/presets-voices", headers=front.auth())
    preset_id = presets.json()["data"][0]["task_result"]["voices"][0]["voice_id"]
    made = await front.run("/v1/general/advanced-custom-elements", element_body(element_voice_id=preset_id))
    assert made["task_result"]["elements"][0]["element_voice_info"]["voice_id"] == preset_id
    voice = await front.run(
        "/v1/general/custom-voices", {"voice_name": "Mine", "voice_url": b64(wav_bytes(5.5))}
    )
    refused = await front.create(
        "/v1/general/advanced-custom-elements", element_body(element_voice_id=voice["task_id"]), account=1
    )
    assert refused.status_code == 400 and refused.json()["code"] == 1201
    assert "element_voice_id" in refused.json()["message"]


@module_loop
async def test_a_pinned_task_fails_when_its_channel_does_not_serve_the_family(front: App, upstream) -> None:
    server, maker, other = upstream
    sound = {"prompt": "a singer", "model_name": "kling-v2-6", "mode": "pro", "sound": "on"}
    video_task = await front.run("/v1/videos/text2video", sound)
    assert (await front.gateway.tasks.get(video_task["task_id"])).engine == "other"  # type: ignore[union-attr]
    video_id = video_task["task_result"]["videos"][0]["id"]
    # the video lives on "other", whose families leave out general/custom-voices: no channel can
    # make the voice (only "other" knows the video), so the task fails saying so
    created = await front.create("/v1/general/custom-voices", {"voice_name": "Sung", "video_id": video_id})
    assert created.status_code == 200, created.text
    done = await front.wait("/v1/general/custom-voices", created.json()["data"]["task_id"])
    assert done["task_status"] == "failed"
    assert done["task_status_msg"] == (
        f"video_id: video '{video_id}' lives on channel 'other', which does not serve "
        "general/custom-voices (families: videos/*, images/*, general/advanced-custom-elements, v2/*); "
        "no other channel holds it"
    )
    for account in (maker, other):  # nothing went upstream
        got = httpx.get(
            f"{server.base_url}/v1/general/custom-voices/kg-{done['task_id']}",
            headers=account.bearer,
            timeout=30,
        )
        assert got.status_code == 404, got.text


@module_loop
async def test_delete_at_the_front_deletes_upstream_too(front: App, upstream) -> None:
    server, maker, _other = upstream
    voice_task = await front.run(
        "/v1/general/custom-voices", {"voice_name": "Gone", "voice_url": b64(wav_bytes(5.5))}
    )
    voice_id = voice_task["task_id"]
    up_voice = upstream_task(server, maker, "general/custom-voices", voice_id)["task_result"]["voices"][0][
        "voice_id"
    ]
    element_task = await front.run(
        "/v1/general/advanced-custom-elements", element_body(element_voice_id=voice_id)
    )
    element_id = element_task["task_result"]["elements"][0]["element_id"]

    deleted = await front.http.post(
        "/v1/general/delete-advanced-elements", json={"element_id": element_id}, headers=front.auth()
    )
    assert deleted.status_code == 200, deleted.text
    up_element = upstream_task(server, maker, "general/advanced-custom-elements", element_task["task_id"])
    assert up_element["task_result"]["elements"][0]["status"] == "deleted"

    deleted = await front.http.post(
        "/v1/general/delete-voices", json={"voice_id": voice_id}, headers=front.auth()
    )
    assert deleted.status_code == 200 and deleted.json()["data"]["task_id"] == voice_id
    listed = httpx.get(
        f"{server.base_url}/v1/general/custom-voices?pageSize=1000", headers=maker.bearer, timeout=30
    )
    assert listed.status_code == 200
    upstream_ids = [
        v["voice_id"] for t in listed.json()["data"] for v in t["task_result"].get("voices") or []
    ]
    assert up_voice not in upstream_ids
    again = await front.create(
        "/v1/general/advanced-custom-elements", element_body(element_voice_id=voice_id)
    )
    assert again.status_code == 400 and "element_voice_id" in again.json()["message"]


def upstream_voices(server: GatewayProcess, account: Account) -> list[str]:
    listed = httpx.get(
        f"{server.base_url}/v1/general/custom-voices?pageSize=1000", headers=account.bearer, timeout=30
    )
    assert listed.status_code == 200, listed.text
    return [v["voice_id"] for t in listed.json()["data"] for v in t["task_result"].get("voices") or []]


async def run_standard2(front: App, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a new-standard task on the front and wait for its record to finish."""
    created = await front.http.post(path, json=body, headers=front.auth())
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["id"]

    async def record() -> dict[str, Any]:
        found = await front.http.get("/tasks", params={"task_ids": task_id}, headers=front.auth())
        data: dict[str, Any] = found.json()["data"][0]
        return data

    for _ in range(600):
        got = await record()
        if got["status"] in ("succeeded", "failed"):
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"{task_id} did not finish")


def upstream_record(server: GatewayProcess, account: Account, task_id: str) -> list[dict[str, Any]]:
    found = httpx.get(
        f"{server.base_url}/tasks",
        params={"external_task_ids": f"kg-{task_id}"},
        headers=account.bearer,
        timeout=30,
    ).json()["data"]
    assert isinstance(found, list)
    return found


@module_loop
async def test_new_standard_contents_voice_and_element_pinned_and_translated(front: App, upstream) -> None:
    server, maker, other = upstream
    voice_task = await front.run(
        "/v1/general/custom-voices", {"voice_name": "Narrator", "voice_url": b64(wav_bytes(6))}
    )
    voice_id = voice_task["task_result"]["voices"][0]["voice_id"]
    element_task = await front.run(
        "/v1/general/advanced-custom-elements", element_body(element_voice_id=voice_id)
    )
    element_id = element_task["task_result"]["elements"][0]["element_id"]
    frame = {"type": "first_frame", "url": b64(png_bytes(640, 360))}
    bodies = {
        "/image-to-video/kling-3.0": {
            "contents": [frame, {"type": "element", "element_id": element_id, "id": "hero"}],
            "settings": {"duration": 3},
        },
        "/image-to-video/kling-2.6": {
            "contents": [frame, {"type": "voice", "voice_id": voice_id, "id": "narrator"}],
            "settings": {"duration": 5, "resolution": "1080p", "audio": "native"},
        },
    }
    for path, body in bodies.items():
        # the upstream checks references too: it accepts only ids its "maker" account holds
        record = await run_standard2(front, path, body)
        assert record["status"] == "succeeded", record
        row = await front.gateway.tasks.get(record["id"])
        assert row is not None and row.engine == "maker"  # pinned: priority says "other"
        (theirs,) = upstream_record(server, maker, record["id"])
        assert theirs["status"] == "succeeded"
        info = probe_av(await front.fetch(record["outputs"][0]["url"]))
        assert info.width > info.height
    # a preset passes unchanged and pins nothing: the priority channel takes it
    preset = {
        "contents": [frame, {"type": "element", "element_id": 900000000000000101, "id": "fox"}],
        "settings": {"duration": 3},
    }
    record = await run_standard2(front, "/image-to-video/kling-3.0", preset)
    assert record["status"] == "succeeded", record
    row = await front.gateway.tasks.get(record["id"])
    assert row is not None and row.engine == "other"
    assert len(upstream_record(server, other, record["id"])) == 1


def two_channels(server: GatewayProcess, legacy: Account, modern: Account) -> list[dict[str, Any]]:
    """ "legacy" speaks only the legacy standard and makes videos; "modern" has the higher
    priority for everything else and relays the new standard."""
    common = {"type": "kling-compatible", "base_url": server.base_url, "callbacks": False, "poll": POLL}
    return [
        {**common, "name": "legacy", "api_key": legacy.api_key, "priority": 10},
        {
            **common,
            "name": "modern",
            "api_key": modern.api_key,
            "priority": 20,
            "families": ["general/*", "v2/*"],
            "new_standard": True,
        },
    ]


@pytest.mark.asyncio
async def test_pinned_to_a_legacy_channel_or_a_removed_one(upstream, tmp_path) -> None:
    server, maker, other = upstream
    data = tmp_path / "front"
    async with in_process_app(
        data, accounts=1, channels=two_channels(server, maker, other), fetch_allow_hosts=["127.0.0.1"]
    ) as front:
        sound = {"prompt": "a singer", "model_name": "kling-v2-6", "mode": "pro", "sound": "on"}
        video_task = await front.run("/v1/videos/text2video", sound)
        video_id = video_task["task_result"]["videos"][0]["id"]
        # a voice from the relayed video follows the video to "legacy" (priority says "modern")
        voice_task = await front.run(
            "/v1/general/custom-voices", {"voice_name": "Sung", "video_id": video_id}
        )
        assert (await front.gateway.tasks.get(voice_task["task_id"])).engine == "legacy"  # type: ignore[union-attr]
        (voice,) = voice_task["task_result"]["voices"]
        assert abs(probe_av(await front.fetch(voice["trial_url"])).duration - 5.0) < 0.2
        theirs = upstream_task(server, maker, "general/custom-voices", voice_task["task_id"])
        assert theirs["task_status"] == "succeed"  # so it was sent the upstream's video id
        assert theirs["task_result"]["voices"][0]["voice_id"] != voice["voice_id"]

        # a new-standard task naming that voice: only "legacy" holds it, and it cannot relay v2
        body = {
            "contents": [
                {"type": "first_frame", "url": b64(png_bytes(640, 360))},
                {"type": "voice", "voice_id": voice["voice_id"], "id": "narrator"},
            ],
            "settings": {"duration": 5, "resolution": "1080p", "audio": "native"},
        }
        record = await run_standard2(front, "/image-to-video/kling-2.6", body)
        assert record["status"] == "failed"
        assert record["message"] == (
            f"contents[1].voice_id: voice '{voice['voice_id']}' lives on channel 'legacy', which "
            "does not relay the new standard (new_standard is off); no other channel holds it"
        )
        assert upstream_record(server, maker, record["id"]) == []  # nothing went upstream
        assert upstream_record(server, other, record["id"]) == []
        keys = front.keys

    # the operator removes "legacy": an element naming the voice fails naming the field
    channels = [c for c in two_channels(server, maker, other) if c["name"] != "legacy"]
    async with running_gateway(
        data, workers=1, channels=channels, fetch_allow_hosts=["127.0.0.1"]
    ) as running:
        again = App(running.client, running.gateway, keys)
        created = await again.create(
            "/v1/general/advanced-custom-elements", element_body(element_voice_id=voice["voice_id"])
        )
        assert created.status_code == 200, created.text
        done = await again.wait("/v1/general/advanced-custom-elements", created.json()["data"]["task_id"])
        assert done["task_status"] == "failed"
        assert done["task_status_msg"] == (
            f"element_voice_id: voice '{voice['voice_id']}' was made on channel 'legacy', "
            "which is no longer configured"
        )
        got = httpx.get(
            f"{server.base_url}/v1/general/advanced-custom-elements/kg-{done['task_id']}",
            headers=other.bearer,
            timeout=30,
        )
        assert got.status_code == 404, got.text
