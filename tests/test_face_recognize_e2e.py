"""identify-face, advanced-lip-sync, image-recognize and ai-multi-shot end to end.

A real kling-gateway process on loopback renders with the reference engine (the SDK, sync and
async, calls it); its outputs are decoded and measured. An in-process gateway of two accounts
checks every documented limit (400/1201 naming the field, nothing stored) and that another
account's references answer like missing ones. A front gateway relays all four to the process
through one channel (identify-face synchronously, its session pinned to that channel).
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import pytest_asyncio
from PIL import Image, ImageDraw

from inprocess import App, InProcess, in_process, relay_front
from kling_gateway.client import AsyncKlingClient, KlingClient, PollPolicy
from kling_gateway.engines.reference.encode import SAMPLE_RATE, read_audio, write_mp4
from kling_gateway.media.probe import probe_av, probe_image
from kling_gateway.media.speech import espeak_path
from support import Account, GatewayProcess, b64, png_bytes, require_service, wav_bytes

module_loop = pytest.mark.asyncio(loop_scope="module")
POLL = PollPolicy(long_poll=10, interval=0.1, max_interval=0.5)
FPS = 24
# the figure is on screen from 1.0 s to 4.5 s of a 5 s video
VISIBLE = (24, 108)
TOTAL = 120


def figure_video(
    w: int = 960, h: int = 540, visible: tuple[int, int] = VISIBLE, total: int = TOTAL, fps: int = FPS
) -> bytes:
    """A grey backdrop with a bright figure on frames ``visible[0]..visible[1]-1`` and a 440 Hz
    tone as its own sound track."""
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"faces-{os.getpid()}-{w}x{h}-{total}.mp4"

    def frames() -> Iterator[np.ndarray]:
        for i in range(total):
            arr = np.full((h, w, 3), 90, np.uint8)
            if visible[0] <= i < visible[1]:
                arr[h // 5 : h - h // 5, w // 3 : w // 3 + w // 6] = (240, 220, 200)
            yield arr

    t = np.arange(int(total / fps * SAMPLE_RATE)) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    write_mp4(tmp, frames(), w, h, fps, np.stack([tone, tone]))
    data = tmp.read_bytes()
    tmp.unlink()
    return data


FIGURE_BOX = (200, 200, 400, 700)  # x0, y0, x1, y1 of the figure in figure_png()


def figure_png(w: int = 600, h: int = 800) -> bytes:
    img = Image.new("RGB", (w, h), (200, 80, 40))
    ImageDraw.Draw(img).rectangle(
        (FIGURE_BOX[0], FIGURE_BOX[1], FIGURE_BOX[2] - 1, FIGURE_BOX[3] - 1), fill=(30, 120, 220)
    )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def mask_of(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("L")) > 127


def region(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    out = np.zeros(shape, bool)
    x0, y0, x1, y1 = box
    out[y0:y1, x0:x1] = True
    return out


def rms(audio: np.ndarray, start_s: float, end_s: float) -> float:
    part = audio[:, int(start_s * SAMPLE_RATE) : int(end_s * SAMPLE_RATE)]
    return float(np.sqrt(np.mean(part**2))) if part.size else 0.0


def peak_hz(audio: np.ndarray, start_s: float, end_s: float) -> float:
    mono = audio[:, int(start_s * SAMPLE_RATE) : int(end_s * SAMPLE_RATE)].mean(axis=0)
    spectrum = np.abs(np.fft.rfft(mono))
    return float(np.fft.rfftfreq(mono.size, 1 / SAMPLE_RATE)[int(spectrum.argmax())])


def choice(face_id: str = "0", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "face_id": face_id,
        "sound_file": b64(wav_bytes(3.0, freq=880.0)),
        "sound_start_time": 500,
        "sound_end_time": 2500,
        "sound_insert_time": 1500,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


# ---- the real process: reference engine outputs, decoded ----------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, Account]]:
    with GatewayProcess(tmp_path_factory.mktemp("faces")) as process:
        yield process, process.create_account("faces")


def test_identify_face_then_lip_sync_measured(server, tmp_path: Path) -> None:
    process, account = server
    with KlingClient(process.base_url, api_key=account.api_key, poll=POLL) as kling:
        faces = kling.identify_face(video_url=b64(figure_video()))
        assert faces.task_status == "succeed" and faces.final_unit_deduction == "0.05"
        assert faces.final_balance_deduction is not None
        assert faces.task_result.session_id == faces.task_id
        (face,) = faces.task_result.face_data or []
        # sampled 4 times a second: the window is the figure's 1.0–4.5 s within a sample
        assert abs(face.start_time - 1000) <= 250 and abs(face.end_time - 4500) <= 250
        crop = kling.download(faces, tmp_path / "faces")
        image = probe_image(crop[0])
        assert image.width is not None and image.width >= 128 and image.height is not None
        parent = faces.task_info.parent_video
        assert parent is not None and abs(float(parent.duration) - 5.0) <= 0.1

        synced = kling.wait(
            kling.advanced_lip_sync(
                session_id=faces.task_result.session_id,
                face_choose=[choice(face.face_id, original_audio_volume=0)],
                watermark_info={"enabled": True},
            )
        )
        assert synced.task_status == "succeed" and synced.final_unit_deduction == "0.5"
        assert synced.task_info.parent_video is not None
        assert synced.task_info.parent_video.url.startswith(process.base_url)
        (path,) = kling.download(synced, tmp_path / "synced")
    info = probe_av(path)
    assert (info.width, info.height) == (960, 540) and abs(info.duration - 5.0) <= 0.1
    assert info.audio_codec == "aac"
    audio = read_audio(path)
    assert audio is not None
    # 2 s of the 880 Hz clip at 1.5 s; the original tone muted (original_audio_volume 0)
    assert rms(audio, 1.6, 3.4) > 0.1 and abs(peak_hz(audio, 1.6, 3.4) - 880) < 10
    assert rms(audio, 0.0, 1.4) < 0.01 and rms(audio, 3.6, 5.0) < 0.01
    (video,) = synced.task_result.videos or []
    assert abs(float(video.duration) - 5.0) <= 0.1 and video.watermark_url
    marked = probe_av(httpx.get(video.watermark_url, timeout=30).content)
    assert abs(marked.duration - 5.0) <= 0.1 and marked.audio_codec == "aac"


def test_identify_face_reply_has_kling_top_level_fields(server) -> None:
    process, account = server
    reply = httpx.post(
        f"{process.base_url}/kling/v1/videos/identify-face",
        json={"video_url": b64(figure_video(visible=(0, TOTAL)))},
        headers=account.bearer,
        timeout=120,
    )
    assert reply.status_code == 200, reply.text
    data = reply.json()["data"]
    assert data["session_id"] == data["task_id"] == data["task_result"]["session_id"]
    assert [(f["face_id"], f["start_time"], f["end_time"]) for f in data["face_data"]] == [("0", 0, 5000)]
    assert data["final_balance_deduction"]["list_price"] == "0.007"
    # the session's video is the gateway's own copy, long as the input
    source = httpx.get(data["task_info"]["parent_video"]["url"], timeout=30).content
    assert abs(probe_av(source).duration - 5.0) <= 0.1


def test_image_recognize_masks_cover_the_figure(server) -> None:
    process, account = server
    with KlingClient(process.base_url, api_key=account.api_key, poll=POLL) as kling:
        found = kling.image_recognize(image=b64(figure_png()))
        blank = kling.image_recognize(image=b64(blank_png((500, 500), (120, 120, 120))))
    assert found.final_unit_deduction == "0.1"
    images = {item.type: item for item in found.task_result.images or []}
    assert list(images) == ["object_seg", "head_seg", "face_seg", "cloth_seg"]
    shape = (800, 600)
    x0, y0, x1, y1 = FIGURE_BOX
    head_end = y0 + int((y1 - y0) * 0.4)
    margin = int((x1 - x0) * 0.2)
    expected = {
        "object_seg": region(shape, FIGURE_BOX),
        "head_seg": region(shape, (x0, y0, x1, head_end)),
        "face_seg": region(shape, (x0 + margin, y0 + int((head_end - y0) * 0.25), x1 - margin, head_end)),
        "cloth_seg": region(shape, (x0, head_end, x1, y1)),
    }
    for kind, want in expected.items():
        item = images[kind]
        assert item.is_contain is True and item.url
        got = mask_of(httpx.get(item.url, timeout=30).content)
        assert got.shape == shape
        assert (got & want).sum() / want.sum() > 0.99, kind  # covers what it claims
        assert (got & ~want).sum() / want.sum() < 0.01, kind  # and nothing else
    for item in blank.task_result.images or []:
        assert item.is_contain is False and item.url  # an empty mask
        assert not mask_of(httpx.get(item.url, timeout=30).content).any()


def blank_png(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def pixels(url: str) -> np.ndarray:
    with Image.open(io.BytesIO(httpx.get(url, timeout=30).content)) as img:
        return np.asarray(img.convert("RGB")).astype(np.int16)


@module_loop
async def test_ai_multi_shot_three_differing_sets(server) -> None:
    process, account = server
    frontal = b64(png_bytes(600, 800))
    async with AsyncKlingClient(process.base_url + "/kling", api_key=account.api_key, poll=POLL) as kling:
        first = await kling.wait(await kling.ai_multi_shot(element_frontal_image=frontal))
        again = await kling.wait(
            await kling.ai_multi_shot(element_frontal_image=frontal, external_task_id="again")
        )
    assert first.final_unit_deduction == "0.5"
    sets = first.task_result.images or []
    assert [s.index for s in sets] == [0, 1, 2]
    views = [[pixels(str(getattr(s, f"url_{k}"))) for k in (1, 2, 3)] for s in sets]
    for views_of_set in views:
        for view in views_of_set:
            assert view.shape == (800, 600, 3)
    assert np.abs(views[0][0] - views[1][0]).mean() > 5 and np.abs(views[1][0] - views[2][0]).mean() > 5
    assert np.abs(views[0][0] - views[0][1]).mean() > 5  # views within a set differ too
    repeat = (again.task_result.images or [])[2]
    assert np.array_equal(pixels(str(repeat.url_3)), views[2][2])  # deterministic per request


# ---- limits and references: 400/1201, nothing stored ---------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def local(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[InProcess, Account, Account]]:
    async with in_process(tmp_path_factory.mktemp("limits"), workers=1) as app:
        yield app, await app.account("a"), await app.account("b")


async def _post(app: InProcess, account: Account, family: str, body: dict[str, Any]) -> httpx.Response:
    return await app.http.post(f"/v1/{family}", json=body, headers=account.bearer)


async def _session(app: InProcess, account: Account) -> dict[str, Any]:
    reply = await _post(app, account, "videos/identify-face", {"video_url": b64(figure_video())})
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


async def _refused(app: InProcess, account: Account, family: str, body: dict[str, Any], words: str) -> str:
    before = await app.task_count(account, family)
    reply = await _post(app, account, family, body)
    assert reply.status_code == 400, reply.text
    error = reply.json()
    assert error["code"] == 1201 and words in error["message"], error
    assert await app.task_count(account, family) == before  # nothing stored
    message: str = error["message"]
    return message


@module_loop
async def test_advanced_lip_sync_limits(local) -> None:
    app, a, b = local
    session = await _session(app, a)
    sid = session["session_id"]
    family = "videos/advanced-lip-sync"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"face_choose": [choice()]}, "session_id"),
        ({"session_id": sid, "face_choose": []}, "face_choose"),
        ({"session_id": sid, "face_choose": [choice(), choice()]}, "face_choose"),
        ({"session_id": sid, "face_choose": [choice(face_id=None)]}, "face_id"),
        ({"session_id": sid, "face_choose": [choice(sound_file=None)]}, "audio_id/sound_file"),
        ({"session_id": sid, "face_choose": [choice(audio_id="1")]}, "audio_id/sound_file"),
        ({"session_id": sid, "face_choose": [choice(sound_end_time=2000)]}, "sound_end_time"),
        ({"session_id": sid, "face_choose": [choice(sound_end_time=61_000)]}, "sound_end_time"),
        ({"session_id": sid, "face_choose": [choice(sound_start_time=-1)]}, "sound_start_time"),
        ({"session_id": sid, "face_choose": [choice(sound_insert_time=None)]}, "sound_insert_time"),
        ({"session_id": sid, "face_choose": [choice(sound_volume=2.5)]}, "sound_volume"),
        ({"session_id": sid, "face_choose": [choice(original_audio_volume=-0.1)]}, "original_audio_volume"),
        ({"session_id": sid, "face_choose": [choice(face_id="7")]}, "face_id"),
        # the figure leaves at 4.5 s: a 2 s clip inserted at 2.6 s overlaps its window by 1.9 s
        ({"session_id": sid, "face_choose": [choice(sound_insert_time=2600)]}, "overlaps"),
        (
            {"session_id": sid, "face_choose": [choice(sound_end_time=6500, sound_insert_time=0)]},
            "past the end of the audio",
        ),
        (
            {
                "session_id": sid,
                "face_choose": [
                    choice(sound_file=b64(wav_bytes(1.5)), sound_end_time=1400, sound_start_time=0)
                ],
            },
            "sound_end_time",
        ),
        (
            {"session_id": sid, "face_choose": [choice(sound_file=b64(wav_bytes(1.5)), sound_start_time=0)]},
            "outside 2–60 s",
        ),
        ({"session_id": sid, "face_choose": [choice(sound_file=b64(b"not audio at all"))]}, "sound_file"),
        (
            {"session_id": sid, "face_choose": [choice(sound_file=None, audio_id="123")]},
            "audio '123' does not exist",
        ),
    ]
    for body, words in cases:
        await _refused(app, a, family, body, words)
    # the insertion must stay inside the 5 s video
    inside = choice(sound_start_time=0, sound_end_time=2500, sound_insert_time=4000)
    await _refused(app, a, family, {"session_id": sid, "face_choose": [inside]}, "past the end of the video")


@module_loop
async def test_other_accounts_references_read_as_missing(local) -> None:
    app, a, b = local
    theirs = await _session(app, b)
    family = "videos/advanced-lip-sync"
    foreign = await _refused(
        app, a, family, {"session_id": theirs["session_id"], "face_choose": [choice()]}, "session_id"
    )
    missing = await _refused(
        app, a, family, {"session_id": "424242", "face_choose": [choice()]}, "session_id"
    )
    assert foreign.replace(theirs["session_id"], "X") == missing.replace("424242", "X")
    # a finished task that is no identify-face is no session either
    other = await _post(app, a, "videos/image-recognize", {"image": b64(figure_png())})
    await _refused(
        app,
        a,
        family,
        {"session_id": other.json()["data"]["task_id"], "face_choose": [choice()]},
        "does not exist",
    )

    made = await app.http.post(
        "/v1/videos/text2video", json={"prompt": "b's video", "duration": "5"}, headers=b.bearer
    )
    video_id = await _video_of(app, b, made.json()["data"]["task_id"])
    foreign = await _refused(app, a, "videos/identify-face", {"video_id": video_id}, "video_id")
    missing = await _refused(app, a, "videos/identify-face", {"video_id": "99"}, "video_id")
    assert foreign.replace(video_id, "X") == missing.replace("99", "X")
    # b's speech (a TTS audio id) reads like a missing audio for a
    own = (await _session(app, a))["session_id"]
    audio_id = theirs["task_id"]  # without espeak-ng: another of b's task ids, no audio either
    if espeak_path() is not None:
        speech = await _post(
            app,
            b,
            "audio/tts",
            {"text": "b speaks here.", "voice_id": "oversea_male1", "voice_language": "en"},
        )
        assert speech.status_code == 200, speech.text
        audio_id = speech.json()["data"]["task_id"]
    body = {"session_id": own, "face_choose": [choice(sound_file=None, audio_id=audio_id)]}
    foreign = await _refused(app, a, family, body, "face_choose[0].audio_id")
    body = {"session_id": own, "face_choose": [choice(sound_file=None, audio_id="31337")]}
    missing = await _refused(app, a, family, body, "face_choose[0].audio_id")
    assert foreign.replace(audio_id, "X") == missing.replace("31337", "X")


@module_loop
async def test_a_session_expires_after_24_hours(local) -> None:
    from sqlalchemy import update

    from kling_gateway.store.tables import tasks

    app, a, _ = local
    sid = (await _session(app, a))["session_id"]
    day = 24 * 3600 * 1000
    async with app.gateway.db.write.begin() as conn:
        await conn.execute(
            update(tasks).where(tasks.c.id == sid).values(finished_at=tasks.c.finished_at - day - 1000)
        )
    family = "videos/advanced-lip-sync"
    expired = await _refused(app, a, family, {"session_id": sid, "face_choose": [choice()]}, "expired")
    missing = await _refused(app, a, family, {"session_id": "777", "face_choose": [choice()]}, "expired")
    assert expired.replace(sid, "X") == missing.replace("777", "X")


async def _finished(app: InProcess, account: Account, family: str, task_id: str) -> dict[str, Any]:
    for _ in range(1200):
        got: dict[str, Any] = (await app.http.get(f"/v1/{family}/{task_id}", headers=account.bearer)).json()[
            "data"
        ]
        if got["task_status"] == "succeed":
            return got
        assert got["task_status"] != "failed", got
        await asyncio.sleep(0.1)
    raise AssertionError(f"{family} task {task_id} did not finish")


async def _video_of(app: InProcess, account: Account, task_id: str) -> str:
    done = await _finished(app, account, "videos/text2video", task_id)
    return str(done["task_result"]["videos"][0]["id"])


@module_loop
async def test_identify_face_recognize_and_multi_shot_limits(local) -> None:
    app, a, _ = local
    await _refused(app, a, "videos/identify-face", {}, "video_id/video_url")
    await _refused(
        app,
        a,
        "videos/identify-face",
        {"video_id": "1", "video_url": "https://x.example/v.mp4"},
        "exactly one",
    )
    await _refused(app, a, "videos/image-recognize", {}, "image")
    await _refused(app, a, "videos/image-recognize", {"image": b64(png_bytes(200, 200))}, "smaller than 300")
    await _refused(app, a, "videos/image-recognize", {"image": b64(png_bytes(900, 300))}, "aspect ratio")
    await _refused(app, a, "videos/image-recognize", {"image": b64(png_bytes(400, 400, fmt="GIF"))}, "format")
    await _refused(app, a, "general/ai-multi-shot", {}, "element_frontal_image")
    await _refused(
        app,
        a,
        "general/ai-multi-shot",
        {"element_frontal_image": b64(png_bytes(100, 100))},
        "element_frontal_image",
    )
    # media only decoding can judge answer 400 in the call: 1 s, 61 s, an edge under 512, over 2160
    for video, rule in (
        (figure_video(total=24, visible=(0, 24)), "duration"),
        (figure_video(512, 512, visible=(0, 122), total=122, fps=2), "duration"),
        (figure_video(640, 360), "edge under 512"),
        (figure_video(2176, 544, visible=(0, 48), total=48), "edge over 2160"),
    ):
        reply = await _post(app, a, "videos/identify-face", {"video_url": b64(video)})
        assert reply.status_code == 400 and reply.json()["code"] == 1201, reply.text
        assert "video_url" in reply.json()["message"] and rule in reply.json()["message"]


@module_loop
async def test_lip_sync_with_a_tts_audio_id(local) -> None:
    """A TTS audio of the account as the sound: its length bounds the clip (2–60 s)."""
    require_service(espeak_path() is not None, "espeak-ng is not installed")
    app, a, _ = local
    session = (await _session(app, a))["session_id"]

    async def speech(text: str) -> tuple[str, float]:
        body = {"text": text, "voice_id": "oversea_male1", "voice_language": "en"}
        reply = await _post(app, a, "audio/tts", body)
        assert reply.status_code == 200, reply.text
        audio = reply.json()["data"]["task_result"]["audios"][0]
        return str(audio["id"]), float(audio["duration"])

    short, seconds = await speech("Hi.")
    assert seconds < 2.0
    at = {"sound_file": None, "sound_start_time": 0, "sound_end_time": 2000, "sound_insert_time": 1000}
    body = {"session_id": session, "face_choose": [choice(audio_id=short, **at)]}
    await _refused(app, a, "videos/advanced-lip-sync", body, "outside 2–60 s")

    long, seconds = await speech("This sentence is spoken slowly enough to last a few seconds.")
    assert seconds >= 2.5
    body = {"session_id": session, "face_choose": [choice(audio_id=long, **at, original_audio_volume=0)]}
    created = await _post(app, a, "videos/advanced-lip-sync", body)
    assert created.status_code == 200, created.text
    done = await _finished(app, a, "videos/advanced-lip-sync", created.json()["data"]["task_id"])
    data = (await app.http.get(done["task_result"]["videos"][0]["url"])).content
    assert abs(probe_av(data).duration - 5.0) <= 0.1
    audio = read_audio(data)
    assert audio is not None and rms(audio, 1.0, 3.0) > 0.005 and rms(audio, 3.2, 5.0) < 0.001


# ---- relayed: the front gateway hands everything to the process ---------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def front(server, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    process, account = server
    async with relay_front(tmp_path_factory.mktemp("front"), process.base_url, account.api_key) as app:
        yield app


@module_loop
async def test_identify_face_and_lip_sync_relayed(front: App, server) -> None:
    process, account = server
    reply = await front.create("/v1/videos/identify-face", {"video_url": b64(figure_video())})
    assert reply.status_code == 200, reply.text
    data = reply.json()["data"]
    ours = front.gateway.settings.base_url() + "/"
    assert data["session_id"] == data["task_id"]  # ours, not the upstream's
    (face,) = data["face_data"]
    assert face["face_image"].startswith(ours) and probe_image(await front.fetch(face["face_image"])).width
    row = await front.gateway.tasks.get(data["task_id"])
    assert row is not None and row.engine == "up" and row.upstream_task_id not in (None, data["task_id"])

    done = await front.run(
        "/kling/v1/videos/advanced-lip-sync",
        {"session_id": data["session_id"], "face_choose": [choice(face["face_id"])]},
    )
    video = done["task_result"]["videos"][0]
    assert video["url"].startswith(ours)
    info = probe_av(await front.fetch(video["url"]))
    assert abs(info.duration - 5.0) <= 0.1 and info.audio_codec == "aac"
    upstream = httpx.get(
        f"{process.base_url}/v1/videos/advanced-lip-sync/kg-{done['task_id']}",
        headers=account.bearer,
        timeout=30,
    ).json()["data"]
    assert upstream["task_status"] == "succeed"  # made upstream, on the upstream's own session
    # the upstream session's video is the upstream identify-face task's copy of the source
    assert f"/files/{row.upstream_task_id}/" in upstream["task_info"]["parent_video"]["url"]


@module_loop
async def test_lip_sync_runs_where_its_session_lives(server, tmp_path: Path) -> None:
    """A gateway relaying only advanced lip-sync: a session its own engine made stays local."""
    process, account = server
    async with relay_front(tmp_path, process.base_url, account.api_key, ("videos/advanced-lip-sync",)) as app:
        reply = await app.create("/v1/videos/identify-face", {"video_url": b64(figure_video())})
        assert reply.status_code == 200, reply.text
        session = reply.json()["data"]
        row = await app.gateway.tasks.get(session["task_id"])
        assert row is not None and row.engine == "reference"
        body = {"session_id": session["session_id"], "face_choose": [choice()]}
        done = await app.run("/v1/videos/advanced-lip-sync", body)
        lip_sync = await app.gateway.tasks.get(done["task_id"])
        assert lip_sync is not None and lip_sync.engine == "reference"
        assert abs(probe_av(await app.fetch(done["task_result"]["videos"][0]["url"])).duration - 5.0) <= 0.1


@module_loop
async def test_recognize_and_multi_shot_relayed(front: App) -> None:
    reply = await front.create("/v1/videos/image-recognize", {"image": b64(figure_png())})
    assert reply.status_code == 200, reply.text
    masks = reply.json()["data"]["task_result"]["images"]
    assert [m["type"] for m in masks] == ["object_seg", "head_seg", "face_seg", "cloth_seg"]
    got = mask_of(await front.fetch(masks[0]["url"]))
    assert (got & region((800, 600), FIGURE_BOX)).sum() / region((800, 600), FIGURE_BOX).sum() > 0.99
    done = await front.run("/v1/general/ai-multi-shot", {"element_frontal_image": b64(png_bytes(600, 800))})
    for item in done["task_result"]["images"]:
        for key in ("url_1", "url_2", "url_3"):
            assert item[key].startswith(front.gateway.settings.base_url() + "/")
            assert probe_image(await front.fetch(item[key])).width == 600


@module_loop
async def test_relay_swaps_the_upstream_session_and_signs_the_audio(tmp_path: Path) -> None:
    """Our session and audio ids mean nothing upstream: the session's upstream id goes instead,
    pinned to its channel, and a TTS audio goes out as a signed URL of our copy."""
    from urllib.parse import urlsplit

    from kling_gateway.config import Settings
    from kling_gateway.engines import EngineTask
    from kling_gateway.engines.relay.requests import apply_swaps, prepare
    from kling_gateway.errors import TaskFailure
    from kling_gateway.present import UrlSigner

    class Ctx:
        upstream: str | None = "up-sess-9"

        async def face_session(self, session_id: str, *, field: str) -> dict[str, Any]:
            assert (session_id, field) == ("555", "session_id")
            engine = "up" if self.upstream else "reference"
            return {
                "session_id": "555",
                "face_data": [],
                "parent_video": {},
                "engine": engine,
                "upstream_session": self.upstream,
            }

        async def resolve_audio(self, audio_id: str, *, field: str) -> str:
            assert (audio_id, field) == ("111", "face_choose[0].audio_id")
            return "storage:111/a1/speech.mp3"

    settings = Settings(data_dir=tmp_path, public_base_url="https://gw.example")
    body = {
        "session_id": "555",
        "face_choose": [
            {
                "face_id": "0",
                "audio_id": "111",
                "sound_start_time": 0,
                "sound_end_time": 2000,
                "sound_insert_time": 0,
            }
        ],
    }
    task = EngineTask("222", "acct", "videos/advanced-lip-sync", body)
    ctx = Ctx()
    prepared = await prepare(task, ctx, settings, UrlSigner("s3cret", 3600), None)  # type: ignore[arg-type]
    sent = apply_swaps(prepared)
    assert prepared.pinned == "up" and sent["session_id"] == "up-sess-9"
    (face,) = sent["face_choose"]
    assert "audio_id" not in face
    url = urlsplit(face["sound_file"])
    assert (url.scheme, url.netloc, url.path) == ("https", "gw.example", "/files/111/a1/speech.mp3")
    assert task.request["session_id"] == "555"  # the stored request keeps our ids
    ctx.upstream = None
    with pytest.raises(TaskFailure, match="no upstream channel knows it"):
        await prepare(task, ctx, settings, UrlSigner("s3cret", 3600), None)  # type: ignore[arg-type]
