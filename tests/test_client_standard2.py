"""The SDK and CLI on the new standard, against a real gateway on loopback: create on a model
path, wait, download (decoded), batch and cursor reads, failures, sync and async, both layouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kling_gateway.client import AsyncKlingClient, KlingAPIError, KlingClient, TaskFailedError
from kling_gateway.media.probe import probe_av
from support import Account, GatewayProcess, b64, png_bytes


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(tmp_path_factory.mktemp("sdk2")) as server:
        yield server


@pytest.fixture(scope="module")
def acct(gw: GatewayProcess) -> Account:
    return gw.create_account("sdk2")


@pytest.mark.parametrize("layout", ["", "/kling"])
def test_sync_create_wait_download_and_read(
    gw: GatewayProcess, acct: Account, tmp_path: Path, layout: str
) -> None:
    with KlingClient(gw.base_url + layout, api_key=acct.api_key) as client:
        created = client.standard2.text_to_video(
            "kling-2.5-turbo",
            "a tram at night",
            settings={"duration": 5},
            options={"external_task_id": f"sdk{layout}"},
        )
        seen: list[str] = []
        record = client.standard2.wait(created.id, timeout=120, on_progress=lambda r: seen.append(r.status))
        assert seen[-1] == "succeeded" and record.billing[0].amount == "1.5"  # 0.3 × 5 at 720p
        (path,) = client.standard2.download(record, tmp_path / "tram.mp4")
        info = probe_av(path)
        assert (
            (info.width, info.height) == (1280, 720)
            and abs(info.duration - 5) < 0.1
            and info.audio_codec is None
        )
        (again,) = client.standard2.get(external_task_ids=[f"sdk{layout}"])
        assert again.id == created.id and again.outputs[0].duration == record.outputs[0].duration
        listed = [r.id for r in client.standard2.list_all(limit=1)]
        assert created.id in listed and len(listed) == len(set(listed))


def test_a_failed_task_raises_with_the_reason(gw: GatewayProcess, acct: Account) -> None:
    with KlingClient(gw.base_url, api_key=acct.api_key) as client:
        tiny_clip = b64(b"not a video")
        created = client.standard2.create(
            "motion-control/kling-2.6",
            contents=[
                {"type": "image", "url": b64(png_bytes(512, 512))},
                {"type": "video", "url": tiny_clip},
            ],
            settings={"character_orientation": "video"},
        )
        with pytest.raises(TaskFailedError, match="contents\\[1\\].url"):
            client.standard2.wait(created.id, timeout=60)
        with pytest.raises(KlingAPIError) as rule:
            client.standard2.create("text-to-video/kling-2.6", prompt="x", settings={"duration": 7})
        assert rule.value.code == 1201 and "5, 10" in str(rule.value)


def test_a_jwt_client_is_refused_on_the_new_standard(gw: GatewayProcess, acct: Account) -> None:
    with KlingClient(gw.base_url, access_key=acct.access_key, secret_key=acct.secret_key) as client:
        with pytest.raises(KlingAPIError) as refused:
            client.standard2.get(["1"])
    assert refused.value.code == 1002 and "AK/SK" in str(refused.value)


async def test_async_client(gw: GatewayProcess, acct: Account) -> None:
    async with AsyncKlingClient(gw.base_url, api_key=acct.api_key) as client:
        created = await client.standard2.create(
            "omni-video/kling-o1",
            contents=[{"type": "prompt", "text": "a kite"}],
            settings={"aspect_ratio": "9:16", "duration": 5},
        )
        record = await client.standard2.wait(created.id, timeout=120)
        assert record.status == "succeeded" and record.outputs[0].type == "video"
        ids = [r.id async for r in client.standard2.list_all(limit=2)]
        assert created.id in ids


def test_cli_submit_new_standard(gw: GatewayProcess, acct: Account, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    env.update(KLING_BASE_URL=gw.base_url, KLING_API_KEY=acct.api_key)
    image = tmp_path / "frame.png"
    image.write_bytes(png_bytes(480, 640))
    out = subprocess.run(
        [
            sys.executable, "-m", "kling_gateway", "submit", "image-to-video/kling-3.0",
            "--prompt", "a slow turn", "--image", str(image),
            "--param", "settings.duration:=3", "--param", "settings.audio=native",
            "-o", str(tmp_path / "turn.mp4"), "--json",
        ],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert reply["task"]["task_status"] == "succeed" and reply["files"] == [str(tmp_path / "turn.mp4")]
    info = probe_av(tmp_path / "turn.mp4")
    assert info.height > info.width and info.audio_codec == "aac" and abs(info.duration - 3) < 0.1
    assert "succeed" in out.stderr  # progress lines
    bad = subprocess.run(
        [sys.executable, "-m", "kling_gateway", "submit", "text-to-video/kling-3.0", "--image", str(image)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode != 0 and "text-to-video takes no images" in bad.stderr
