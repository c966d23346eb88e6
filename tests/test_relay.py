"""The relay end to end: a front gateway relays to an upstream kling-gateway (reference engine)
over loopback, in both auth modes (official JWT from access/secret key; CometAPI bearer key under
``/kling/v1``). Every family goes out and comes back; results are mirrored into the front's
storage and decoded from the front's URLs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kling_gateway.media.probe import probe_av, probe_image
from support import Account, GatewayProcess, b64, png_bytes, wait_for_task, wav_bytes


def write_channels(path: Path, tables: list[str], gateway: str = "") -> Path:
    path.write_text("[gateway]\n" + gateway + "\n" + "\n".join(tables))
    return path


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(tmp_path_factory.mktemp("upstream")) as server:
        yield server


@pytest.fixture(scope="module")
def upstream_account(upstream: GatewayProcess) -> Account:
    return upstream.create_account("relay")


@pytest.fixture(scope="module", params=["kling-jwt", "cometapi"])
def front(
    request: pytest.FixtureRequest,
    upstream: GatewayProcess,
    upstream_account: Account,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[GatewayProcess, Account, str]]:
    data = tmp_path_factory.mktemp("front")
    if request.param == "kling-jwt":
        table = f"""
[[channels]]
name = "upstream"
type = "kling"
base_url = "{upstream.base_url}"
access_key = "{upstream_account.access_key}"
secret_key_env = "RELAY_TEST_SK"
poll = {{ initial = 0.2, factor = 0.2, max_interval = 1.0, callback_slowdown = 1.0 }}
timeout = 90
"""
    else:
        table = f"""
[[channels]]
name = "comet"
type = "cometapi"
base_url = "{upstream.base_url}"
api_key_env = "RELAY_TEST_KEY"
poll = {{ initial = 0.2, factor = 0.2, max_interval = 1.0, callback_slowdown = 1.0 }}
timeout = 90
"""
    config = write_channels(data / "relay.toml", [table])
    server = GatewayProcess(
        data,
        extra_args=["--config", str(config)],
        extra_env={"RELAY_TEST_SK": upstream_account.secret_key, "RELAY_TEST_KEY": upstream_account.api_key},
    ).start()
    try:
        yield server, server.create_account("client"), request.param
    finally:
        server.stop()


def _fetch(url: str) -> bytes:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, url
    return response.content


def _run(front: GatewayProcess, account: Account, path: str, body: dict) -> dict:
    with httpx.Client(base_url=front.base_url, timeout=30) as http:
        created = http.post(path, json=body, headers=account.bearer)
        assert created.status_code == 200, created.text
        task_id = created.json()["data"]["task_id"]
        return wait_for_task(http, path, task_id, account.bearer, timeout=60)


def test_every_family_relayed_and_mirrored(
    front: tuple[GatewayProcess, Account, str], upstream: GatewayProcess, upstream_account: Account
) -> None:
    server, account, mode = front
    prefix = "/v1" if mode == "kling-jwt" else "/kling/v1"

    video = _run(
        server,
        account,
        f"{prefix}/videos/text2video",
        {
            "prompt": "a red fox in snow",
            "duration": "5",
            "external_task_id": "client-ext-1",
            "callback_url": "https://example.invalid/hook",
        },
    )
    assert video["task_status"] == "succeed", video
    assert video["task_info"]["external_task_id"] == "client-ext-1"
    item = video["task_result"]["videos"][0]
    assert item["url"].startswith(server.base_url)  # mirrored: the front's own URL
    info = probe_av(_fetch(item["url"]))
    assert info.video_codec == "h264" and 4.5 < info.duration < 5.5

    # the upstream knows the task only by the gateway's external id, never by the client's
    with httpx.Client(base_url=upstream.base_url, timeout=30) as up:
        mine = up.get(f"/v1/videos/text2video/kg-{video['task_id']}", headers=upstream_account.bearer)
        assert mine.status_code == 200, mine.text
        upstream_task = mine.json()["data"]
        assert upstream_task["task_id"] != video["task_id"]
        upstream_video_id = upstream_task["task_result"]["videos"][0]["id"]
        assert (
            up.get("/v1/videos/text2video/client-ext-1", headers=upstream_account.bearer).status_code == 404
        )
    assert item["id"] != upstream_video_id  # the gateway issues its own video ids

    extended = _run(
        server, account, f"{prefix}/videos/video-extend", {"video_id": item["id"], "prompt": "more"}
    )
    assert extended["task_status"] == "succeed", extended
    assert extended["task_info"]["parent_video"]["id"] == item["id"]
    ext_info = probe_av(_fetch(extended["task_result"]["videos"][0]["url"]))
    assert ext_info.duration > info.duration + 3

    images = _run(
        server,
        account,
        f"{prefix}/images/generations",
        {"prompt": "a lighthouse", "n": 2, "aspect_ratio": "1:1"},
    )
    assert images["task_status"] == "succeed", images
    assert len(images["task_result"]["images"]) == 2
    for image in images["task_result"]["images"]:
        assert image["url"].startswith(server.base_url)
        assert probe_image(_fetch(image["url"])).width == 1024

    image_video = _run(
        server, account, f"{prefix}/videos/image2video", {"image": b64(png_bytes(640, 360)), "duration": "5"}
    )
    assert image_video["task_status"] == "succeed", image_video

    audio = _run(
        server, account, f"{prefix}/audio/text-to-audio", {"prompt": "rain on a roof", "duration": 3.0}
    )
    assert audio["task_status"] == "succeed", audio
    clip = audio["task_result"]["audios"][0]
    for key in ("url_mp3", "url_wav"):
        assert clip[key].startswith(server.base_url)
        assert 2.5 < probe_av(_fetch(clip[key])).duration < 3.6

    v2a = _run(
        server, account, f"{prefix}/audio/video-to-audio", {"video_id": item["id"], "bgm_prompt": "calm"}
    )
    assert v2a["task_status"] == "succeed", v2a
    assert probe_av(_fetch(v2a["task_result"]["audios"][0]["url_mp3"])).duration > 3

    lips = _run(
        server,
        account,
        f"{prefix}/videos/lip-sync",
        {
            "input": {
                "video_id": item["id"],
                "mode": "audio2video",
                "audio_type": "file",
                "audio_file": b64(wav_bytes(3.0)),
            }
        },
    )
    assert lips["task_status"] == "succeed", lips
    assert probe_av(_fetch(lips["task_result"]["videos"][0]["url"])).video_codec == "h264"

    metrics = httpx.get(server.base_url + "/metrics").text
    channel = "upstream" if mode == "kling-jwt" else "comet"
    assert re.search(rf'kling_relay_submits_total{{channel="{channel}",outcome="ok"}} 7\.0', metrics), metrics
    assert f'kling_relay_finished_total{{channel="{channel}",status="succeed"}} 7.0' in metrics
