"""The new legacy families end to end against a real kling-gateway process over loopback (the one
subprocess of this group): the SDK (sync and async) calls it directly, and an in-process front
gateway relays to it through one channel. Bodies pass through, results come back mirrored and
decode; audio/tts is relayed synchronously."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from inprocess import App, relay_front
from kling_gateway.client import AsyncKlingClient, KlingClient, PollPolicy
from kling_gateway.media.probe import probe_av, probe_image
from kling_gateway.media.speech import espeak_path
from support import Account, GatewayProcess, b64, png_bytes, require_service
from test_omni_motion_engine import video_file

module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, Account]]:
    with GatewayProcess(tmp_path_factory.mktemp("upstream")) as server:
        yield server, server.create_account("relay")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def front(
    upstream: tuple[GatewayProcess, Account], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    server, account = upstream
    async with relay_front(tmp_path_factory.mktemp("front"), server.base_url, account.api_key) as app:
        yield app


def upstream_task(upstream: tuple[GatewayProcess, Account], family: str, task_id: str) -> dict:
    server, account = upstream
    got = httpx.get(f"{server.base_url}/v1/{family}/kg-{task_id}", headers=account.bearer, timeout=30)
    assert got.status_code == 200, got.text
    return got.json()["data"]


@module_loop
async def test_omni_and_motion_relayed_and_mirrored(front: App, upstream) -> None:
    omni = await front.run(
        "/v1/videos/omni-video",
        {
            "prompt": "a dog <<<image_1>>>",
            "image_list": [{"image_url": b64(png_bytes(640, 480))}],
            "aspect_ratio": "16:9",
            "mode": "std",
            "duration": "3",
            "model_name": "kling-v3-omni",
        },
    )
    video = omni["task_result"]["videos"][0]
    assert video["url"].startswith(
        front.gateway.settings.base_url() + "/"
    )  # the front's copy, not the upstream's
    info = probe_av(await front.fetch(video["url"]))
    assert (info.width, info.height) == (1280, 720) and abs(info.duration - 3.0) <= 0.15
    theirs = upstream_task(upstream, "videos/omni-video", omni["task_id"])
    assert theirs["task_result"]["videos"][0]["id"] != video["id"]

    motion = await front.run(
        "/kling/v1/videos/motion-control",
        {
            "image_url": b64(png_bytes(400, 600)),
            "video_url": b64(video_file(640, 360, 24, (0, 80), 80)),
            "character_orientation": "image",
            "mode": "std",
        },
    )
    info = probe_av(await front.fetch(motion["task_result"]["videos"][0]["url"]))
    assert info.width is not None and info.height is not None
    assert info.width / info.height == pytest.approx(400 / 600, rel=0.02) and info.duration >= 3.0
    assert upstream_task(upstream, "videos/motion-control", motion["task_id"])["task_status"] == "succeed"


@module_loop
async def test_tts_relayed_synchronously(front: App) -> None:
    require_service(espeak_path() is not None, "espeak-ng is not installed")
    response = await front.create(
        "/v1/audio/tts",
        {"text": "Relayed speech works.", "voice_id": "oversea_male1", "voice_language": "en"},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    audio = data["task_result"]["audios"][0]
    assert audio["id"] == data["task_id"] and audio["url"].startswith(front.gateway.settings.base_url() + "/")
    assert probe_av(await front.fetch(audio["url"])).duration > 0.5
    row = await front.gateway.tasks.get(data["task_id"])
    assert row is not None and row.engine == "up" and row.status == "succeed"  # made upstream
    refused = await front.create("/v1/audio/tts", {"text": "x", "voice_id": "nope", "voice_language": "en"})
    assert refused.status_code == 400 and "Voice id not found" in refused.json()["message"]


POLL = PollPolicy(long_poll=10, interval=0.1, max_interval=0.5)


def test_sdk_omni_motion_and_tts(upstream, tmp_path: Path) -> None:
    require_service(espeak_path() is not None, "espeak-ng is not installed")
    server, account = upstream
    with KlingClient(server.base_url, api_key=account.api_key, poll=POLL) as kling:
        omni = kling.omni_video(
            prompt="a bird <<<image_1>>>",
            image_list=[{"image_url": b64(png_bytes(640, 480))}],
            aspect_ratio="9:16",
            mode="std",
            duration=3,
            model_name="kling-v3-omni",
        )
        motion = kling.motion_control(
            image_url=b64(png_bytes(400, 600)),
            video_url=b64(video_file(640, 360, 24, (0, 80), 80)),
            character_orientation="video",
            mode="std",
        )
        (omni_path,) = kling.download(omni, tmp_path / "omni")
        info = probe_av(omni_path)
        assert (info.width, info.height) == (720, 1280) and abs(info.duration - 3.0) <= 0.15
        (motion_path,) = kling.download(motion, tmp_path / "motion")
        assert (probe_av(motion_path).width, probe_av(motion_path).height) == (1280, 720)

        speech = kling.tts(
            text="The client speaks, and then the avatar says it too.",
            voice_id="oversea_male1",
            voice_language="en",
        )
        assert speech.task_status == "succeed"
        (mp3,) = kling.download(speech, tmp_path / "speech")
        assert mp3.suffix == ".mp3" and probe_av(mp3).duration > 0.5
        expanded = kling.expand_image(
            image=b64(png_bytes(400, 300)),
            up_expansion_ratio=0.5,
            down_expansion_ratio=0,
            left_expansion_ratio=0.25,
            right_expansion_ratio=0.25,
        )
        (grown,) = kling.download(expanded, tmp_path / "expand")
        assert (probe_image(grown).width, probe_image(grown).height) == (600, 450)
        avatar = kling.avatar(image=b64(png_bytes(600, 800)), audio_id=speech.task_id)
        (face,) = kling.download(avatar, tmp_path / "avatar")
        assert abs(probe_av(face).duration - probe_av(mp3).duration) <= 0.1


@module_loop
async def test_async_sdk_tts(upstream) -> None:
    require_service(espeak_path() is not None, "espeak-ng is not installed")
    server, account = upstream
    async with AsyncKlingClient(server.base_url + "/kling", api_key=account.api_key, poll=POLL) as kling:
        speech = await kling.tts(text="Async speech.", voice_id="ai_kaiya", voice_language="en")
    assert speech.task_result.audios and speech.task_result.audios[0].id == speech.task_id


@module_loop
async def test_avatar_relayed_with_its_sound_file(front: App, upstream) -> None:
    from support import wav_bytes

    done = await front.run(
        "/v1/videos/avatar/image2video",
        {"image": b64(png_bytes(600, 800)), "sound_file": b64(wav_bytes(2.5)), "mode": "std"},
    )
    info = probe_av(await front.fetch(done["task_result"]["videos"][0]["url"]))
    assert abs(info.duration - 2.5) <= 0.1 and info.audio_codec == "aac"
    assert upstream_task(upstream, "videos/avatar/image2video", done["task_id"])["task_status"] == "succeed"


@module_loop
async def test_relay_sends_an_audio_id_as_a_signed_sound_file(tmp_path: Path) -> None:
    """Our audio ids mean nothing upstream: the speech goes out as a signed URL of our copy."""
    from urllib.parse import parse_qs, urlsplit

    from kling_gateway.config import Settings
    from kling_gateway.engines import EngineTask
    from kling_gateway.engines.relay.requests import prepare
    from kling_gateway.present import UrlSigner
    from kling_gateway.storage.signing import SignatureError, verify

    class Ctx:
        async def resolve_audio(self, audio_id: str, *, field: str) -> str:
            assert (audio_id, field) == ("111", "audio_id")
            return "storage:111/a1/speech.mp3"

    settings = Settings(data_dir=tmp_path, public_base_url="https://gw.example")
    task = EngineTask("222", "acct", "videos/avatar/image2video", {"image": "x", "audio_id": "111"})
    prepared = await prepare(task, Ctx(), settings, UrlSigner("s3cret", 3600), None)  # type: ignore[arg-type]
    assert "audio_id" not in prepared.body
    url = urlsplit(prepared.body["sound_file"])
    assert (url.scheme, url.netloc, url.path) == ("https", "gw.example", "/files/111/a1/speech.mp3")
    query = parse_qs(url.query)
    verify("111/a1/speech.mp3", query["expires"][0], query["signature"][0], "s3cret")  # raises if bad
    with pytest.raises(SignatureError):
        verify("111/a1/speech.mp3", query["expires"][0], query["signature"][0], "other")


@module_loop
async def test_omni_image_series_relayed_with_its_shape(front: App, upstream) -> None:
    done = await front.run(
        "/v1/images/omni-image",
        {
            "model_name": "kling-v3-omni",
            "prompt": "a day",
            "result_type": "series",
            "series_amount": 2,
            "aspect_ratio": "1:1",
        },
    )
    result = done["task_result"]
    assert result["result_type"] == "series" and len(result["series_images"]) == 2
    for item in result["series_images"]:
        assert item["url"].startswith(front.gateway.settings.base_url() + "/")
        assert probe_image(await front.fetch(item["url"])).width == 1024
