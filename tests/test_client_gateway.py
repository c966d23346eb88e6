"""The SDK against a real gateway: every family, both auth schemes, both layouts, paging, external ids.

All tasks are submitted up front (module fixture) and awaited by the per-family tests, so the
engine renders them concurrently; the finished text2video result feeds the video_id families.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest

from kling_gateway.client import (
    AsyncKlingClient,
    AuthenticationError,
    ClientValidationError,
    CreatedTask,
    InvalidRequestError,
    KlingClient,
    PollPolicy,
    Task,
)
from kling_gateway.media.probe import probe_av, probe_image
from support import Account, GatewayProcess, png_bytes, wav_bytes


@pytest.fixture(scope="module")
def backend() -> None:
    """The SDK and CLI speak HTTP only, so one store is enough here (embedded SQLite): every
    family end to end on PostgreSQL + S3 is tests/test_api_families.py's, and the store layer on
    both databases is tests/integration's. Keeps the suite inside CI's time budget."""
    return None


POLL = PollPolicy(long_poll=10, interval=0.1, max_interval=0.5)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    files = {
        "wide": ("wide.png", png_bytes(640, 360)),
        "square": ("square.png", png_bytes(400, 400, (40, 160, 90))),
        "person": ("person.png", png_bytes(400, 600, (220, 200, 180))),
        "cloth": ("cloth.png", png_bytes(400, 400, (20, 40, 200))),
        "voice": ("voice.wav", wav_bytes(3.0)),
    }
    out = {}
    for key, (name, data) in files.items():
        out[key] = root / name
        out[key].write_bytes(data)
    return out


@pytest.fixture(scope="module")
def client(gateway: GatewayProcess, account: Account) -> Any:
    with KlingClient(gateway.base_url, api_key=account.api_key, poll=POLL) as kling:
        yield kling


@pytest.fixture(scope="module")
def fox(client: KlingClient) -> Task:
    """A finished text2video task: its video feeds extend, lip-sync, video-to-audio, multi-elements."""
    created = client.text2video(prompt="a red fox running through snow", duration="5")
    return client.wait(created, timeout=120)


@pytest.fixture(scope="module")
def submitted(client: KlingClient, fox: Task, media: dict[str, Path]) -> dict[str, CreatedTask]:
    video_id = fox.task_result.videos[0].id
    session = client.init_selection(video_id=video_id)
    client.add_selection(session_id=session.session_id, frame_index=0, points=[{"x": 0.5, "y": 0.5}])
    return {  # the slowest first
        "videos/multi-elements": client.multi_elements(
            session_id=session.session_id, edit_mode="removal", prompt="remove the selected object"
        ),
        "images/generations": client.image_generation(prompt="a lighthouse at dusk", aspect_ratio="1:1"),
        "images/kolors-virtual-try-on": client.virtual_try_on(
            human_image=media["person"], cloth_image=str(media["cloth"])
        ),
        "videos/image2video": client.image2video(image=str(media["wide"]), prompt="waves", duration=5),
        "videos/multi-image2video": client.multi_image2video(
            image_list=[{"image": str(media["square"])}, {"image": media["wide"]}], prompt="two friends"
        ),
        "videos/video-extend": client.video_extend(video_id=video_id, prompt="keep running"),
        "videos/lip-sync": client.lip_sync(
            input={
                "video_id": video_id,
                "mode": "audio2video",
                "audio_type": "file",
                "audio_file": str(media["voice"]),
            }
        ),
        "videos/effects": client.effects(
            effect_scene="bloombloom", input={"image": str(media["square"]), "duration": "5"}
        ),
        "audio/text-to-audio": client.text_to_audio(prompt="rain on a tin roof", duration=3),
        "audio/video-to-audio": client.video_to_audio(video_id=video_id, bgm_prompt="calm piano"),
    }


def _finish(client: KlingClient, created: CreatedTask, tmp_path: Path) -> tuple[Task, list[Path]]:
    done = client.wait(created, timeout=180)
    assert done.task_status == "succeed"
    return done, client.download(done, tmp_path)


def _check_video(path: Path, min_seconds: float = 4.5) -> None:
    info = probe_av(path)
    assert path.suffix == ".mp4"
    assert info.video_codec == "h264"
    assert info.duration >= min_seconds
    assert info.width and info.height and info.width >= 300


def test_text2video_result_decodes(client: KlingClient, fox: Task, tmp_path: Path) -> None:
    (path,) = client.download(fox, tmp_path / "fox.mp4")
    assert path == tmp_path / "fox.mp4"
    info = probe_av(path)
    assert info.video_codec == "h264" and 4.9 <= info.duration <= 5.3
    assert (info.width, info.height) == (1280, 720)
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize(
    "family",
    [
        "videos/image2video",
        "videos/multi-image2video",
        "videos/multi-elements",
        "videos/lip-sync",
        "videos/effects",
    ],
)
def test_video_families(
    client: KlingClient, submitted: dict[str, CreatedTask], family: str, tmp_path: Path
) -> None:
    done, paths = _finish(client, submitted[family], tmp_path)
    assert len(paths) == len(done.task_result.videos or [])
    for path in paths:
        _check_video(path, min_seconds=2.0)


def test_video_extend_adds_seconds(
    client: KlingClient, submitted: dict[str, CreatedTask], fox: Task, tmp_path: Path
) -> None:
    done, (path,) = _finish(client, submitted["videos/video-extend"], tmp_path)
    assert done.task_info.parent_video is not None
    assert done.task_info.parent_video.id == fox.task_result.videos[0].id
    _check_video(path, min_seconds=8.5)


def test_image_families(client: KlingClient, submitted: dict[str, CreatedTask], tmp_path: Path) -> None:
    done, paths = _finish(client, submitted["images/generations"], tmp_path / "gen")
    assert [p.suffix for p in paths] == [".png"]
    info = probe_image(paths[0])
    assert (info.width, info.height) == (1024, 1024)
    done, paths = _finish(client, submitted["images/kolors-virtual-try-on"], tmp_path / "tryon")
    assert len(paths) == 1 and probe_image(paths[0]).width


def test_audio_families(client: KlingClient, submitted: dict[str, CreatedTask], tmp_path: Path) -> None:
    done, paths = _finish(client, submitted["audio/text-to-audio"], tmp_path / "t2a")
    assert sorted(p.suffix for p in paths) == [".mp3", ".wav"]
    for path in paths:
        info = probe_av(path)
        assert info.audio_codec and 2.5 <= info.duration <= 3.6
    done, paths = _finish(client, submitted["audio/video-to-audio"], tmp_path / "v2a")
    suffixes = sorted(p.suffix for p in paths)
    assert suffixes == [".mp3", ".mp4", ".wav"]
    video = next(p for p in paths if p.suffix == ".mp4")
    assert probe_av(video).audio_codec is not None


def test_download_to_one_file_name_numbers_several(
    client: KlingClient, submitted: dict[str, CreatedTask], tmp_path: Path
) -> None:
    done = client.wait(submitted["audio/text-to-audio"], timeout=120)
    paths = client.download(done, tmp_path / "rain.mp3")
    assert sorted(p.name for p in paths) == ["rain.mp3", "rain.wav"]


def test_bad_input_raises_before_sending(client: KlingClient) -> None:
    with pytest.raises(ClientValidationError, match="duration"):
        client.text2video(prompt="x", duration="7")
    with pytest.raises(ClientValidationError, match="prompt"):
        client.create("videos/text2video", {"duration": "5"})
    with pytest.raises(ClientValidationError, match="unknown task family"):
        client.create("videos/nope", {})


def test_server_side_error_is_typed(client: KlingClient) -> None:
    with pytest.raises(InvalidRequestError) as info:
        client.get_task("videos/text2video", "999999999999999999")
    assert info.value.code == 1203 and info.value.http_status == 404 and info.value.request_id


@pytest.mark.parametrize("scheme", ["api_key", "jwt"])
@pytest.mark.parametrize("suffix", ["", "/v1", "/kling", "/kling/v1"])
def test_auth_schemes_and_layouts(
    gateway: GatewayProcess, account: Account, fox: Task, scheme: str, suffix: str
) -> None:
    creds = (
        {"api_key": account.api_key}
        if scheme == "api_key"
        else {"access_key": account.access_key, "secret_key": account.secret_key}
    )
    with KlingClient(gateway.base_url + suffix, poll=POLL, **creds) as kling:
        assert kling.layout == ("cometapi" if "kling" in suffix else "official")
        got = kling.get_task("videos/text2video", fox.task_id)
        assert got.task_id == fox.task_id and got.task_status == "succeed"


def test_env_defaults_and_bad_key(
    gateway: GatewayProcess, account: Account, fox: Task, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLING_BASE_URL", gateway.base_url + "/kling")
    monkeypatch.setenv("KLING_ACCESS_KEY", account.access_key)
    monkeypatch.setenv("KLING_SECRET_KEY", account.secret_key)
    monkeypatch.delenv("KLING_API_KEY", raising=False)
    with KlingClient() as kling:
        assert kling.layout == "cometapi"
        assert kling.get_task("videos/text2video", fox.task_id).task_id == fox.task_id
    with KlingClient(api_key="not-a-key") as kling, pytest.raises(AuthenticationError) as info:
        kling.get_task("videos/text2video", fox.task_id)
    assert info.value.code == 1000 and info.value.http_status == 401


def test_external_task_id_lookup(client: KlingClient, gateway: GatewayProcess, account: Account) -> None:
    external = "job-" + secrets.token_hex(6)
    created = client.image_generation(prompt="a blue bird", external_task_id=external)
    assert created.task_info.external_task_id == external
    with KlingClient(gateway.base_url, api_key=account.api_key, poll=POLL) as fresh:  # knows nothing of it
        done = fresh.wait(external, family="images/generations", timeout=120)
        assert done.task_id == created.task_id
        assert fresh.get_task("images/generations", external).task_info.external_task_id == external


async def test_async_client_jwt_cometapi(
    gateway: GatewayProcess, account: Account, media: dict[str, Path], tmp_path: Path
) -> None:
    seen: list[str] = []

    async def progress(task: Task) -> None:
        seen.append(task.task_status)

    async with AsyncKlingClient(
        gateway.base_url + "/kling", access_key=account.access_key, secret_key=account.secret_key, poll=POLL
    ) as kling:
        assert kling.layout == "cometapi"
        created = await asyncio.gather(
            kling.text2video(prompt="a paper boat", duration="5", aspect_ratio="9:16"),
            kling.image_generation(prompt="a cat", aspect_ratio="16:9"),
            kling.image2video(image=media["square"], duration="5"),
        )
        done = await asyncio.gather(*(kling.wait(c, timeout=180, on_progress=progress) for c in created))
        assert seen[-1] == "succeed" or "succeed" in seen
        paths = await asyncio.gather(*(kling.download(d, tmp_path / str(i)) for i, d in enumerate(done)))
        portrait = probe_av(paths[0][0])
        assert (portrait.width, portrait.height) == (720, 1280) and portrait.video_codec == "h264"
        assert (probe_image(paths[1][0]).width, probe_image(paths[1][0]).height) == (1360, 768)
        assert probe_av(paths[2][0]).duration >= 4.5
        listed = [t.task_id async for t in kling.list_tasks("images/generations", page_size=1)]
        assert created[1].task_id in listed and len(listed) == len(set(listed))


def test_list_iterates_every_page(client: KlingClient, fox: Task) -> None:
    everything = [t.task_id for t in client.list_tasks("videos/text2video", page_size=500)]
    paged = [t.task_id for t in client.list_tasks("videos/text2video", page_size=1)]
    assert len(everything) >= 2
    assert paged == everything
    assert fox.task_id in paged
    assert [t.task_id for t in client.list_tasks("videos/text2video", page_size=1, max_pages=1)] == paged[:1]
