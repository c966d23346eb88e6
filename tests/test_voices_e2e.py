"""Custom and preset voices over HTTP (spec more §7.6) against the real app with its workers: a
voice from a clip or from a video the gateway made, queried by id and external id on both
layouts, listed (own only, deleted ones gone), presets with real trial audio, delete; every
broken rule is 400/1201 naming the field with nothing stored; voice ids are checked for the
caller wherever they are named (image2video ``voice_list``, element ``element_voice_id``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from inprocess import App, in_process_app
from kling_gateway.media.probe import probe_av
from kling_gateway.voice_refs import PRESETS
from support import b64, png_bytes, wav_bytes
from test_omni_motion_engine import video_file

pytestmark = pytest.mark.asyncio(loop_scope="module")

PATH = "/general/custom-voices"
PREFIXES = ("/v1", "/kling/v1")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    async with in_process_app(tmp_path_factory.mktemp("voices"), accounts=3) as app:
        yield app


def clip_body(seconds: float = 7.0, **extra: Any) -> dict[str, Any]:
    return {"voice_name": "My voice", "voice_url": b64(wav_bytes(seconds)), **extra}


async def make_voice(app: App, account: int = 0, **extra: Any) -> dict[str, Any]:
    done = await app.run(f"/v1{PATH}", clip_body(**extra), account)
    (voice,) = done["task_result"]["voices"]
    return dict(voice)


async def own_list(app: App, account: int, prefix: str = "/v1", size: int = 1000) -> list[str]:
    listed = await app.http.get(f"{prefix}{PATH}?pageSize={size}", headers=app.auth(account))
    assert listed.status_code == 200, listed.text
    return [t["task_id"] for t in listed.json()["data"]]


async def trial_seconds(app: App, url: str) -> float:
    info = probe_av(await app.fetch(url))
    assert info.format_name == "mp3" and info.audio_codec in ("mp3", "mp3float") and info.video_codec is None
    return info.duration


async def test_voice_from_clip_queried_by_both_ids_on_both_layouts(app: App) -> None:
    done = await app.run(f"/kling/v1{PATH}", clip_body(7.0, external_task_id="voice-1"))
    (voice,) = done["task_result"]["voices"]
    assert voice["voice_id"] == done["task_id"]
    assert (voice["voice_name"], voice["owned_by"]) == ("My voice", "user")
    assert abs(await trial_seconds(app, voice["trial_url"]) - 7.0) < 0.15  # the clip's own sound
    assert float(done["final_unit_deduction"]) == pytest.approx(0.05)
    for prefix in PREFIXES:
        for ident in (done["task_id"], "voice-1"):
            got = await app.http.get(f"{prefix}{PATH}/{ident}", headers=app.auth())
            assert got.status_code == 200, got.text
            assert got.json()["data"]["task_result"]["voices"][0]["voice_id"] == voice["voice_id"]
        assert done["task_id"] in await own_list(app, 0, prefix)
    foreign = await app.http.get(f"/v1{PATH}/{done['task_id']}", headers=app.auth(1))
    missing = await app.http.get(f"/v1{PATH}/404404404", headers=app.auth(1))
    assert foreign.status_code == missing.status_code != 200
    assert foreign.json()["code"] == missing.json()["code"]
    assert done["task_id"] not in await own_list(app, 1)


async def test_trial_is_an_excerpt_and_video_clips_count_their_sound(app: App) -> None:
    long_voice = await make_voice(app, voice_url=b64(wav_bytes(20.0)))
    assert abs(await trial_seconds(app, long_voice["trial_url"]) - 10.0) < 0.15
    movie = video_file(320, 240, 24, (0, 144), 144, audio=True)  # 6 s with a soundtrack
    from_movie = await make_voice(app, voice_url=b64(movie))
    assert abs(await trial_seconds(app, from_movie["trial_url"]) - 6.0) < 0.2


@pytest.mark.parametrize(
    ("clip", "why"),
    [
        (wav_bytes(3.0), "duration 3.0 s is outside 5–30 s"),
        (wav_bytes(31.0), "duration 31.0 s is outside 5–30 s"),
        (png_bytes(400, 400), "voice_url"),
        (video_file(320, 240, 24, (0, 144), 144), "has no audio track"),
    ],
    ids=["short", "long", "image", "silent-video"],
)
async def test_unusable_clip_fails_the_task_naming_voice_url(app: App, clip: bytes, why: str) -> None:
    created = await app.create(f"/v1{PATH}", {"voice_name": "bad", "voice_url": b64(clip)}, account=2)
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    done = await app.wait(f"/v1{PATH}", task_id, account=2)
    assert done["task_status"] == "failed"
    assert "voice_url" in done["task_status_msg"] and why in done["task_status_msg"], done
    use = await app.create(
        "/v1/general/advanced-custom-elements", element_body(element_voice_id=task_id), account=2
    )
    assert use.status_code == 400 and "element_voice_id" in use.json()["message"]


def element_body(**extra: Any) -> dict[str, Any]:
    return {
        "element_name": "Speaker",
        "element_description": "someone",
        "reference_type": "image_refer",
        "element_image_list": {
            "frontal_image": b64(png_bytes(400, 400)),
            "refer_images": [{"image_url": b64(png_bytes(400, 400))}],
        },
        **extra,
    }


SOUND_VIDEO: dict[str, Any] = {"prompt": "a singer", "model_name": "kling-v2-6", "mode": "pro", "sound": "on"}


async def test_voice_from_a_gateway_video_with_sound(app: App) -> None:
    video = (await app.run("/v1/videos/text2video", SOUND_VIDEO))["task_result"]["videos"][0]
    done = await app.run(f"/v1{PATH}", {"voice_name": "Singer", "video_id": video["id"]})
    (voice,) = done["task_result"]["voices"]
    assert abs(await trial_seconds(app, voice["trial_url"]) - 5.0) < 0.2
    foreign = await app.create(f"/v1{PATH}", {"voice_name": "x", "video_id": video["id"]}, account=1)
    missing = await app.create(f"/v1{PATH}", {"voice_name": "x", "video_id": "123"}, account=1)
    assert foreign.status_code == missing.status_code == 400
    assert foreign.json()["message"].replace(video["id"], "123") == missing.json()["message"]


async def test_silent_video_is_refused_at_create(app: App) -> None:
    body = {"prompt": "a quiet lake", "duration": "5"}
    video = (await app.run("/v1/videos/text2video", body, account=2))["task_result"]["videos"][0]
    before = await own_list(app, 2)
    refused = await app.create(f"/v1{PATH}", {"voice_name": "x", "video_id": video["id"]}, account=2)
    assert refused.status_code == 400 and refused.json()["code"] == 1201
    assert "video_id" in refused.json()["message"] and "no audio track" in refused.json()["message"]
    assert await own_list(app, 2) == before


BAD: list[tuple[dict[str, Any], str]] = [
    ({"voice_name": None}, "voice_name"),
    ({"voice_name": ""}, "voice_name"),
    ({"voice_name": "x" * 21}, "voice_name"),
    ({"voice_url": None}, "voice_url, video_id"),
    ({"video_id": "123"}, "voice_url, video_id"),
    ({"voice_url": None, "video_id": "404404"}, "video_id"),
    ({"callback_url": "ftp://x"}, "callback_url"),
    ({"external_task_id": " "}, "external_task_id"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
async def test_broken_rules_are_1201_naming_the_field_and_store_nothing(
    app: App, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**clip_body(), **change}.items() if v is not None}
    before = await own_list(app, 2)
    response = await app.create(f"/v1{PATH}", body, account=2)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == 1201 and field in error["message"], error
    assert await own_list(app, 2) == before


async def test_list_paging_bounds(app: App) -> None:
    assert len(await own_list(app, 0, size=1)) == 1
    for query in ("pageSize=0", "pageSize=1001", "pageNum=0", "pageNum=1001", "pageSize=x"):
        bad = await app.http.get(f"/v1{PATH}?{query}", headers=app.auth())
        assert bad.status_code == 400 and bad.json()["code"] == 1201
        assert query.split("=")[0] in bad.json()["message"]


async def test_presets_with_real_trial_audio_and_paging(app: App) -> None:
    for prefix in PREFIXES:
        got = await app.http.get(f"{prefix}/general/presets-voices", headers=app.auth(1))
        assert got.status_code == 200, got.text
        voices = [t["task_result"]["voices"][0] for t in got.json()["data"]]
        assert [v["voice_id"] for v in voices] == [p.voice_id for p in PRESETS]
        assert all(v["owned_by"] == "kling" for v in voices)
        assert all(t["task_status"] == "succeed" for t in got.json()["data"])
    for voice in voices:
        assert 0.5 < await trial_seconds(app, voice["trial_url"]) < 10
    page = await app.http.get("/v1/general/presets-voices?pageNum=2&pageSize=2", headers=app.auth())
    assert [t["task_id"] for t in page.json()["data"]] == [p.voice_id for p in PRESETS[2:4]]
    bad = await app.http.get("/v1/general/presets-voices?pageSize=1001", headers=app.auth())
    assert bad.status_code == 400 and "pageSize" in bad.json()["message"]


I2V_SOUND: dict[str, Any] = {
    "image": b64(png_bytes(640, 360)),
    "model_name": "kling-v2-6",
    "mode": "pro",
    "sound": "on",
}


async def test_voice_ids_checked_where_named_and_delete_then_use_is_1201(app: App) -> None:
    voice_id = (await make_voice(app))["voice_id"]
    preset_id = PRESETS[0].voice_id
    # a foreign voice reads like a missing one, in every place a voice id goes
    for body, field in (
        ({**I2V_SOUND, "voice_list": [{"voice_id": voice_id}]}, "voice_list[0].voice_id"),
        (element_body(element_voice_id=voice_id), "element_voice_id"),
    ):
        path = "/v1/videos/image2video" if "image" in body else "/v1/general/advanced-custom-elements"
        foreign, missing = (
            await app.create(path, body, account=1),
            await app.create(path, {**body, **_swap(body, voice_id, "777")}, account=1),
        )
        assert foreign.status_code == missing.status_code == 400
        assert field in foreign.json()["message"]
        assert foreign.json()["message"].replace(voice_id, "777") == missing.json()["message"]
    element = await app.run("/v1/general/advanced-custom-elements", element_body(element_voice_id=voice_id))
    assert element["task_result"]["elements"][0]["element_voice_info"]["voice_id"] == voice_id
    preset_use = await app.create(
        "/v1/general/advanced-custom-elements", element_body(element_voice_id=preset_id)
    )
    assert preset_use.status_code == 200, preset_use.text

    for who, target in ((1, voice_id), (0, preset_id), (0, "123")):
        refused = await app.http.post(
            "/v1/general/delete-voices", json={"voice_id": target}, headers=app.auth(who)
        )
        assert refused.status_code == 400 and refused.json()["code"] == 1201
        assert "voice_id" in refused.json()["message"]
    deleted = await app.http.post(
        "/kling/v1/general/delete-voices", json={"voice_id": voice_id}, headers=app.auth()
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["data"] == {"task_id": voice_id, "task_status": "succeed"}
    assert voice_id not in await own_list(app, 0)
    got = await app.http.get(f"/v1{PATH}/{voice_id}", headers=app.auth())
    assert got.json()["data"]["task_result"]["voices"] == []
    again = await app.http.post("/v1/general/delete-voices", json={"voice_id": voice_id}, headers=app.auth())
    assert again.status_code == 400
    after = await app.create("/v1/general/advanced-custom-elements", element_body(element_voice_id=voice_id))
    assert after.status_code == 400 and after.json()["code"] == 1201
    assert "element_voice_id" in after.json()["message"]
    i2v = await app.create("/v1/videos/image2video", {**I2V_SOUND, "voice_list": [{"voice_id": voice_id}]})
    assert i2v.status_code == 400 and "voice_list[0].voice_id" in i2v.json()["message"]


def _swap(body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    if "voice_list" in body:
        return {"voice_list": [{"voice_id": new}]}
    return {"element_voice_id": new}


async def test_async_sdk_creates_lists_presets_and_deletes_voices(app: App, tmp_path: Path) -> None:
    from kling_gateway.client import AsyncKlingClient, PollPolicy

    poll = PollPolicy(long_poll=5, interval=0.1, max_interval=0.5)
    async with AsyncKlingClient(
        str(app.http.base_url), api_key=app.keys[1], poll=poll, http_client=app.http
    ) as kling:
        clip = tmp_path / "mine.wav"
        clip.write_bytes(wav_bytes(5.5))
        created = await kling.create_voice(voice_name="SDK voice", voice_url=str(clip))  # a local file
        task = await kling.wait(created)
        assert task.task_result is not None and task.task_result.voices is not None
        (voice,) = task.task_result.voices
        assert voice.voice_id == created.task_id and voice.voice_name == "SDK voice"
        assert abs(await trial_seconds(app, voice.trial_url) - 5.5) < 0.15
        page = await kling.list_page("general/custom-voices", page_size=1000)
        assert created.task_id in [t.task_id for t in page]
        presets = await kling.preset_voices(page_size=2)
        assert [p.task_id for p in presets] == [p.voice_id for p in PRESETS[:2]]
        assert await kling.delete_voice(voice.voice_id) == {
            "task_id": voice.voice_id,
            "task_status": "succeed",
        }
        assert created.task_id not in [t.task_id for t in await kling.list_page("general/custom-voices")]
