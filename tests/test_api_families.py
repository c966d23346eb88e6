"""Every task family end to end through a real gateway: create → poll → succeed → fetch → decode.

Runs under both URL layouts and both auth schemes, on SQLite and PostgreSQL (conftest).
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from kling_gateway.media.probe import probe_av, probe_image
from support import Account, b64, png_bytes, wait_for_task, wav_bytes

PREFIXES = ("/v1", "/kling/v1")
_combo = itertools.cycle([("/v1", "key"), ("/kling/v1", "jwt"), ("/kling/v1", "key"), ("/v1", "jwt")])


def headers(account: Account, scheme: str) -> dict[str, str]:
    return account.bearer if scheme == "key" else account.jwt_headers()


def run_task(
    http: httpx.Client,
    account: Account,
    family: str,
    body: dict[str, Any],
    prefix: str | None = None,
    scheme: str | None = None,
) -> dict[str, Any]:
    if prefix is None or scheme is None:
        prefix, scheme = next(_combo)
    path = f"{prefix}/{family}"
    created = http.post(path, json=body, headers=headers(account, scheme))
    assert created.status_code == 200, created.text
    envelope = created.json()
    assert envelope["code"] == 0 and envelope["message"] == "SUCCEED"
    assert envelope["request_id"] == created.headers["x-request-id"]
    data = envelope["data"]
    assert data["task_status"] == "submitted" and data["created_at"] == data["updated_at"]
    assert len(data["task_id"]) == 18 and data["task_id"].isdigit()
    done = wait_for_task(http, path, data["task_id"], headers(account, scheme))
    assert done["task_status"] == "succeed", done
    assert done["task_status_msg"] == ""
    return done


def fetch(http: httpx.Client, url: str) -> bytes:
    response = http.get(url)
    assert response.status_code == 200, response.text
    assert int(response.headers["content-length"]) == len(response.content)
    return response.content


@pytest.fixture(scope="module")
def t2v(gateway, account) -> dict[str, Any]:
    with httpx.Client(base_url=gateway.base_url, timeout=30) as http:
        return run_task(
            http,
            account,
            "videos/text2video",
            {"prompt": "a red fox in snow", "duration": "5", "external_task_id": "fox-1"},
            "/v1",
            "key",
        )


def test_text2video_result_decodes(http, t2v):
    video = t2v["task_result"]["videos"][0]
    info = probe_av(fetch(http, video["url"]))
    assert info.video_codec == "h264"
    assert (info.width, info.height) == (1280, 720)
    assert abs(info.duration - 5.0) <= 0.15
    assert abs(info.duration - float(video["duration"])) <= 0.05
    assert info.audio_codec is None
    assert t2v["task_info"] == {"external_task_id": "fox-1"}


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("scheme", ["key", "jwt"])
def test_query_by_task_id_and_external_id_under_both_layouts(http, account, t2v, prefix, scheme):
    for ident in (t2v["task_id"], "fox-1"):
        response = http.get(f"{prefix}/videos/text2video/{ident}", headers=headers(account, scheme))
        assert response.status_code == 200
        data = response.json()["data"]
        assert data["task_id"] == t2v["task_id"]
        assert data["task_status"] == "succeed"


def test_pro_square_text2video(http, account):
    done = run_task(
        http,
        account,
        "videos/text2video",
        {"model_name": "kling-v2-1-master", "prompt": "city lights", "aspect_ratio": "1:1", "mode": "pro"},
    )
    info = probe_av(fetch(http, done["task_result"]["videos"][0]["url"]))
    assert (info.width, info.height) == (1080, 1080)
    assert info.fps == pytest.approx(24, abs=0.01)


def test_image2video_follows_image_aspect(http, account):
    done = run_task(
        http,
        account,
        "videos/image2video",
        {"image": b64(png_bytes(1000, 500)), "prompt": "wind", "duration": "5"},
    )
    info = probe_av(fetch(http, done["task_result"]["videos"][0]["url"]))
    assert info.width is not None and info.height is not None
    assert info.width / info.height == pytest.approx(2.0, rel=0.02)
    assert info.width % 2 == 0 and info.height % 2 == 0


def test_multi_image2video(http, account):
    images = [{"image": b64(png_bytes(640, 640, c))} for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    done = run_task(
        http,
        account,
        "videos/multi-image2video",
        {"image_list": images, "prompt": "three friends", "aspect_ratio": "9:16"},
    )
    info = probe_av(fetch(http, done["task_result"]["videos"][0]["url"]))
    assert (info.width, info.height) == (720, 1280)


def test_video_extend_adds_time_and_names_parent(http, account, t2v):
    parent = t2v["task_result"]["videos"][0]
    done = run_task(http, account, "videos/video-extend", {"video_id": parent["id"], "prompt": "keep going"})
    video = done["task_result"]["videos"][0]
    info = probe_av(fetch(http, video["url"]))
    assert 4.0 <= info.duration - float(parent["duration"]) <= 5.2
    assert done["task_info"]["parent_video"]["id"] == parent["id"]


def test_lip_sync_audio_file(http, account, t2v):
    parent = t2v["task_result"]["videos"][0]
    body = {
        "input": {
            "video_id": parent["id"],
            "mode": "audio2video",
            "audio_type": "file",
            "audio_file": b64(wav_bytes(3.0)),
        }
    }
    done = run_task(http, account, "videos/lip-sync", body)
    info = probe_av(fetch(http, done["task_result"]["videos"][0]["url"]))
    assert info.audio_codec is not None
    assert abs(info.duration - float(parent["duration"])) <= 0.15


def test_effects_two_person_scene(http, account):
    body = {
        "effect_scene": "hug",
        "input": {
            "model_name": "kling-v1-6",
            "mode": "std",
            "images": [b64(png_bytes(512, 768)), b64(png_bytes(512, 768, (9, 9, 9)))],
            "duration": "5",
        },
    }
    done = run_task(http, account, "videos/effects", body)
    info = probe_av(fetch(http, done["task_result"]["videos"][0]["url"]))
    assert info.video_codec == "h264" and abs(info.duration - 5.0) <= 0.15


def test_multi_elements_end_to_end(http, account, t2v):
    video_id = t2v["task_result"]["videos"][0]["id"]
    h = account.bearer
    init = http.post("/kling/v1/videos/multi-elements/init-selection", json={"video_id": video_id}, headers=h)
    assert init.status_code == 200, init.text
    session = init.json()["data"]
    assert session["status"] == 0 and session["width"] == 1280 and session["total_frame"] > 100
    added = http.post(
        "/kling/v1/videos/multi-elements/add-selection",
        headers=h,
        json={"session_id": session["session_id"], "frame_index": 0, "points": [{"x": 0.5, "y": 0.5}]},
    )
    assert added.status_code == 200, added.text
    masks = added.json()["data"]["res"]["rle_mask_list"]
    assert len(masks) == 1 and masks[0]["rle_mask"]["size"] == [720, 1280]
    preview = http.post(
        "/kling/v1/videos/multi-elements/preview-selection",
        headers=h,
        json={"session_id": session["session_id"]},
    )
    assert preview.status_code == 200, preview.text
    res = preview.json()["data"]["res"]
    assert probe_av(fetch(http, res["video"])).width == 1280
    assert probe_image(fetch(http, res["video_cover"])).width == 1280
    done = run_task(
        http,
        account,
        "videos/multi-elements",
        {"session_id": session["session_id"], "edit_mode": "removal", "prompt": "remove it"},
    )
    video = done["task_result"]["videos"][0]
    assert video["session_id"] == session["session_id"]
    assert probe_av(fetch(http, video["url"])).width == 1280


def test_image_generation_count_and_size(http, account):
    done = run_task(
        http,
        account,
        "images/generations",
        {
            "model_name": "kling-v2",
            "prompt": "a lighthouse",
            "n": 3,
            "aspect_ratio": "4:3",
            "resolution": "2k",
        },
    )
    images = done["task_result"]["images"]
    assert [i["index"] for i in images] == [0, 1, 2]
    sizes = {
        (probe_image(fetch(http, i["url"])).width, probe_image(fetch(http, i["url"])).height) for i in images
    }
    assert sizes == {(2336, 1760)}


def test_virtual_try_on_keeps_person_size(http, account):
    done = run_task(
        http,
        account,
        "images/kolors-virtual-try-on",
        {"human_image": b64(png_bytes(600, 900)), "cloth_image": b64(png_bytes(400, 400, (250, 250, 250)))},
    )
    image = probe_image(fetch(http, done["task_result"]["images"][0]["url"]))
    assert (image.width, image.height) == (600, 900)


def test_text_to_audio_mp3_and_wav(http, account):
    done = run_task(http, account, "audio/text-to-audio", {"prompt": "rain on a tin roof", "duration": 4.5})
    audio = done["task_result"]["audios"][0]
    assert audio["duration_mp3"] == "4.5" and audio["duration_wav"] == "4.5"
    for key in ("url_mp3", "url_wav"):
        info = probe_av(fetch(http, audio[key]))
        assert abs(info.duration - 4.5) <= 0.1


def test_video_to_audio(http, account, t2v):
    parent = t2v["task_result"]["videos"][0]
    done = run_task(
        http, account, "audio/video-to-audio", {"video_id": parent["id"], "bgm_prompt": "calm piano"}
    )
    video = probe_av(fetch(http, done["task_result"]["videos"][0]["url"]))
    assert video.audio_codec is not None
    wav = probe_av(fetch(http, done["task_result"]["audios"][0]["url_wav"]))
    assert abs(wav.duration - video.duration) <= 0.15
    assert done["task_info"]["parent_video"]["id"] == parent["id"]
