"""audio/tts and avatar over HTTP (in process). TTS: the create call answers with the finished
mp3, decoded and measured; each broken rule is 400/1201 naming the field; no query or list
routes. Avatar: speaks a TTS audio_id (as long as it, audio muxed), a foreign audio_id reads as
a missing one, create/query/list on both layouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from inprocess import App, in_process_app
from kling_gateway.media.probe import probe_av
from kling_gateway.media.speech import espeak_path
from support import b64, png_bytes, require_service, wav_bytes

pytestmark = pytest.mark.asyncio(loop_scope="module")

SHORT = "Hello there."
LONG = "Hello there. This sentence is a good deal longer, so the speech that comes back lasts longer too."


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    require_service(espeak_path() is not None, "espeak-ng is not installed")
    async with in_process_app(tmp_path_factory.mktemp("tts")) as app:
        yield app


async def speak(app: App, prefix: str = "/v1", **body: Any) -> tuple[dict[str, Any], float]:
    response = await app.create(f"{prefix}/audio/tts", body)
    assert response.status_code == 200, response.text
    envelope = response.json()
    assert envelope["code"] == 0
    data = envelope["data"]
    assert data["task_status"] == "succeed" and data["task_status_msg"] == ""
    audio = data["task_result"]["audios"][0]
    assert audio["id"] == data["task_id"]  # the audio_id avatar and advanced lip-sync take
    info = probe_av(await app.fetch(audio["url"]))
    assert info.audio_codec in ("mp3", "mp3float") and info.video_codec is None
    assert abs(info.duration - float(audio["duration"])) <= 0.1
    return data, info.duration


async def test_speech_is_mp3_and_grows_with_text_on_both_layouts(app: App) -> None:
    _, short = await speak(app, text=SHORT, voice_id="oversea_male1", voice_language="en")
    _, long = await speak(app, "/kling/v1", text=LONG, voice_id="oversea_male1", voice_language="en")
    assert 0.3 < short < long and long > 2 * short


async def test_speed_shortens_and_chinese_voice_speaks(app: App) -> None:
    _, normal = await speak(app, text=LONG, voice_id="uk_man2", voice_language="en")
    _, fast = await speak(app, text=LONG, voice_id="uk_man2", voice_language="en", voice_speed=2.0)
    assert fast < 0.75 * normal
    _, zh = await speak(app, text="你好，欢迎使用。", voice_id="ai_shatang")  # voice_language defaults to zh
    assert zh > 0.5


async def test_out_of_range_speed_is_clamped_not_refused(app: App) -> None:
    _, clamped = await speak(app, text=LONG, voice_id="uk_man2", voice_language="en", voice_speed=5)
    _, fastest = await speak(app, text=LONG, voice_id="uk_man2", voice_language="en", voice_speed=2.0)
    assert abs(clamped - fastest) < 0.1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"voice_id": "oversea_male1", "voice_language": "en"}, "text"),
        ({"text": "x" * 1001, "voice_id": "oversea_male1", "voice_language": "en"}, "text"),
        ({"text": "   ", "voice_id": "oversea_male1", "voice_language": "en"}, "text"),
        ({"text": "hi", "voice_language": "en"}, "voice_id"),
        ({"text": "hi", "voice_id": "girlfriend_4_speech02", "voice_language": "en"}, "Voice id not found"),
        ({"text": "hi", "voice_id": "oversea_male1"}, "voice_language"),  # default zh ≠ the voice's en
        ({"text": "hi", "voice_id": "oversea_male1", "voice_language": "fr"}, "voice_language"),
        (
            {"text": "hi", "voice_id": "oversea_male1", "voice_language": "en", "voice_speed": "fast"},
            "voice_speed",
        ),
    ],
)
async def test_broken_rule_is_400_1201(app: App, body: dict[str, Any], field: str) -> None:
    response = await app.create("/v1/audio/tts", body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 1201 and field in response.json()["message"]


async def test_no_query_or_list(app: App) -> None:
    data, _ = await speak(app, text=SHORT, voice_id="oversea_male1", voice_language="en")
    assert (await app.http.get(f"/v1/audio/tts/{data['task_id']}", headers=app.auth())).status_code == 404
    assert (await app.http.get("/v1/audio/tts", headers=app.auth())).status_code != 200


AVATAR = "videos/avatar/image2video"


async def test_avatar_speaks_a_tts_audio_id(app: App) -> None:
    speech, seconds = await speak(app, text=LONG, voice_id="oversea_male1", voice_language="en")
    body = {"image": b64(png_bytes(600, 800)), "audio_id": speech["task_id"], "external_task_id": "av-1"}
    done = await app.run(f"/kling/v1/{AVATAR}", body)
    video = done["task_result"]["videos"][0]
    info = probe_av(await app.fetch(video["url"]))
    assert abs(info.duration - seconds) <= 0.1 and info.audio_codec == "aac"
    assert abs(float(video["duration"]) - seconds) <= 0.1
    for prefix in ("/v1", "/kling/v1"):
        for ident in (done["task_id"], "av-1"):
            got = await app.http.get(f"{prefix}/{AVATAR}/{ident}", headers=app.auth())
            assert got.status_code == 200 and got.json()["data"]["task_id"] == done["task_id"]
        listed = (await app.http.get(f"{prefix}/{AVATAR}", headers=app.auth())).json()["data"]
        assert done["task_id"] in [t["task_id"] for t in listed]


async def test_avatar_foreign_or_missing_audio_id_is_the_same_400(app: App) -> None:
    theirs, _ = await speak(app, text=SHORT, voice_id="oversea_male1", voice_language="en")
    before = (await app.http.get(f"/v1/{AVATAR}", headers=app.auth(1))).json()["data"]
    answers = []
    for audio_id in (theirs["task_id"], "123456789012345678"):
        response = await app.create(
            f"/v1/{AVATAR}", {"image": b64(png_bytes(600, 800)), "audio_id": audio_id}, 1
        )
        assert response.status_code == 400 and response.json()["code"] == 1201
        answers.append(response.json()["message"].replace(audio_id, "<id>"))
    assert answers[0] == answers[1] and answers[0].startswith("audio_id:")
    assert (await app.http.get(f"/v1/{AVATAR}", headers=app.auth(1))).json()["data"] == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"audio_id": None, "sound_file": None}, "audio_id/sound_file"),
        ({"audio_id": "1"}, "audio_id/sound_file"),  # both
        ({"image": None}, "image"),
        ({"mode": "4k"}, "mode"),
        ({"prompt": "x" * 2501}, "prompt"),
        ({"sound_file": "not audio !!"}, "sound_file"),
    ],
)
async def test_avatar_broken_rule_is_400_1201(app: App, change: dict[str, Any], field: str) -> None:
    body = {"image": b64(png_bytes(600, 800)), "sound_file": b64(wav_bytes(3.0)), **change}
    response = await app.create(f"/v1/{AVATAR}", {k: v for k, v in body.items() if v is not None})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 1201 and field in response.json()["message"]
