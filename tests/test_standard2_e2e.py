"""The new standard end to end against a real gateway process on loopback, driven as a
third-party client would from the spec alone (plain HTTP, no SDK): every product renders real
media, checked by decoding it (length, frame size, 24 fps, audio present or absent as asked, a cut
at each multi-shot boundary); ``billing[]`` matches the catalogue; callbacks are the bare record,
signed with Standard Webhooks, for all four statuses."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
import httpx
import numpy as np
import pytest
from standardwebhooks import Webhook

from kling_gateway.media.probe import MediaInfo, probe_av
from push_support import Receiver
from support import Account, GatewayProcess, b64, png_bytes, wait_until, wav_bytes

PUSH_ENV = {"KLING_GATEWAY_CALLBACK_POLL_SECONDS": "0.2", "KLING_GATEWAY_CALLBACK_RETRY_BASE_SECONDS": "0.3"}


def clip(seconds: float, size: tuple[int, int] = (720, 720), *, sound: bool = True) -> bytes:
    """An mp4 input with moving content (and a 440 Hz track when ``sound``)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio = out.add_stream("aac", rate=48000, layout="stereo") if sound else None
        frames = int(seconds * 24)
        for i in range(frames):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            x = int(i / frames * (size[0] - 100))
            img[200:300, x : x + 100] = (240, 200, 40)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            t = np.arange(int(seconds * 48000)) / 48000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            samples = np.stack([tone, tone])
            for start in range(0, samples.shape[1], 1024):
                part = np.ascontiguousarray(samples[:, start : start + 1024])
                af = av.AudioFrame.from_ndarray(part, format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, start, Fraction(1, 48000)
                out.mux(audio.encode(af))
            out.mux(audio.encode(None))
    return buf.getvalue()


def frame_jumps(data: bytes) -> list[float]:
    """Mean absolute difference between consecutive decoded frames (a cut is a spike)."""
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="gray").astype(np.float32) for f in container.decode(video=0)]
    return [float(np.abs(b - a).mean()) for a, b in zip(frames, frames[1:], strict=False)]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(tmp_path_factory.mktemp("standard2"), extra_env=PUSH_ENV) as server:
        yield server


@pytest.fixture(scope="module")
def acct(gw: GatewayProcess) -> Account:
    return gw.create_account("standard2")


@pytest.fixture()
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.base_url, timeout=60) as client:
        yield client


def run(
    http: httpx.Client, acct: Account, path: str, body: dict[str, Any], timeout: float = 120
) -> dict[str, Any]:
    created = http.post(path, json=body, headers=acct.bearer)
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["id"]
    deadline = time.monotonic() + timeout
    while True:
        found = http.get("/tasks", params={"task_ids": task_id}, headers=acct.bearer).json()["data"]
        if found and found[0]["status"] in ("succeeded", "failed"):
            record: dict[str, Any] = found[0]
            assert record["status"] == "succeeded", record
            return record
        assert time.monotonic() < deadline, f"{task_id} not done"
        time.sleep(0.25)


def video_of(http: httpx.Client, record: dict[str, Any]) -> tuple[bytes, MediaInfo]:
    (output,) = record["outputs"]
    assert output["type"] == "video"
    data = http.get(output["url"]).content
    return data, probe_av(data)


def test_text_to_video_multi_shot_with_native_sound(http: httpx.Client, acct: Account) -> None:
    body = {
        "prompt": "shot 1, 2, a fox in snow; shot 2, 1, a hen at dawn;",
        "settings": {"duration": 3, "audio": "native", "aspect_ratio": "9:16"},
    }
    record = run(http, acct, "/text-to-video/kling-3.0", body)
    data, info = video_of(http, record)
    assert (info.width, info.height, info.fps) == (720, 1280, 24.0)
    assert info.audio_codec == "aac"
    assert record["outputs"][0]["duration"] == f"{info.frames / 24:.3f}" and abs(info.duration - 3) < 0.1
    jumps = frame_jumps(data)
    assert int(np.argmax(jumps)) + 1 == 48  # the cut: the first frame of shot 2 (2 s × 24 fps)
    assert max(jumps) > 4 * float(np.median(jumps))
    assert record["billing"] == [{"charge_type": "unit", "amount": "2.7", "package_type": "video"}]  # 0.9 × 3


def test_single_shot_when_multi_shot_is_off_and_silence_when_audio_off(
    http: httpx.Client, acct: Account
) -> None:
    body = {"prompt": "shot 1, 2, a fox; shot 2, 1, a hen;", "settings": {"duration": 3, "multi_shot": False}}
    data, info = video_of(http, record := run(http, acct, "/kling/text-to-video/kling-3.0", body))
    assert info.audio_codec is None and (info.width, info.height) == (1280, 720)
    jumps = frame_jumps(data)
    assert max(jumps) < 4 * float(np.median(jumps)) + 2  # no cut
    assert record["billing"][0]["amount"] == "1.8"  # 0.6 × 3, silent


def test_turbo_always_has_sound(http: httpx.Client, acct: Account) -> None:
    record = run(
        http, acct, "/text-to-video/kling-3.0-turbo", {"prompt": "a kite", "settings": {"duration": 3}}
    )
    _, info = video_of(http, record)
    assert info.audio_codec == "aac"
    assert record["billing"][0]["amount"] == "2.4"  # spec §5.4 live example


def test_image_to_video_follows_the_first_frame(http: httpx.Client, acct: Account) -> None:
    body = {
        "contents": [
            {"type": "first_frame", "url": b64(png_bytes(600, 900))},
            {"type": "prompt", "text": "sway"},
        ],
        "settings": {"duration": 5, "resolution": "1080p"},
    }
    record = run(http, acct, "/image-to-video/kling-2.5-turbo", body)
    _, info = video_of(http, record)
    assert info.height > info.width and abs(info.width / info.height - 600 / 900) < 0.02
    assert abs(info.width * info.height - 1920 * 1080) < 0.02 * 1920 * 1080
    assert info.audio_codec is None and abs(info.duration - 5) < 0.1
    assert record["billing"][0]["amount"] == "2.5"  # 0.5 × 5


def test_omni_base_video_keeps_length_and_original_sound(http: httpx.Client, acct: Account) -> None:
    body = {"contents": [{"type": "base_video", "url": b64(clip(3.5))}], "settings": {"audio": "original"}}
    record = run(http, acct, "/omni-video/kling-3.0-omni", body)
    _, info = video_of(http, record)
    assert abs(info.duration - 3.5) < 0.15 and info.audio_codec == "aac"
    assert info.width == info.height  # the input's 1:1
    # held on a 5 s estimate at admission, re-priced from the output's length: with video 0.9 × 4 s
    assert record["billing"][0]["amount"] == "3.6"


def test_motion_control_follows_the_reference_video(http: httpx.Client, acct: Account) -> None:
    body = {
        "contents": [
            {"type": "image", "url": b64(png_bytes(512, 512))},
            {"type": "video", "url": b64(clip(4.0, (960, 540), sound=False))},
        ],
        "settings": {"character_orientation": "video", "audio": "off"},
    }
    record = run(http, acct, "/motion-control/kling-2.6", body)
    data, info = video_of(http, record)
    assert abs(info.duration - 4.0) < 0.15 and info.audio_codec is None
    assert abs(info.width / info.height - 16 / 9) < 0.02
    jumps = frame_jumps(data)
    assert min(jumps) > 0  # the reference's motion carries into every frame
    assert record["billing"][0]["amount"] == "2"  # re-priced from the output's 4 s: 0.5 × 4


def test_a_motion_video_too_short_fails_the_task_naming_it(http: httpx.Client, acct: Account) -> None:
    body = {
        "contents": [
            {"type": "image", "url": b64(png_bytes(512, 512))},
            {"type": "video", "url": b64(clip(2.0, sound=False))},
        ],
        "settings": {"character_orientation": "image"},
    }
    created = http.post("/motion-control/kling-3.0", json=body, headers=acct.bearer).json()["data"]
    failed = wait_until(
        lambda: next(
            (
                r
                for r in http.get("/tasks", params={"task_ids": created["id"]}, headers=acct.bearer).json()[
                    "data"
                ]
                if r["status"] == "failed"
            ),
            None,
        ),
        what="the failed task",
    )
    assert "contents[1].url" in failed["message"] and "3–10 s" in failed["message"]
    assert failed["outputs"] == [] and failed["billing"] == []


def test_callbacks_send_the_signed_bare_record_for_every_status(
    http: httpx.Client, acct: Account, receiver: Receiver
) -> None:
    body = {
        "prompt": "a boat",
        "settings": {"duration": 3},
        "options": {"callback_url": receiver.hook("ok-v2"), "external_task_id": "cb-1"},
    }
    created = http.post(
        "/text-to-video/kling-2.6", json={**body, "settings": {"duration": 5}}, headers=acct.bearer
    )
    task_id = created.json()["data"]["id"]
    hits = wait_until(
        lambda: (h := receiver.hits("ok-v2")) and len({x.json["status"] for x in h}) >= 3 and h or None,
        what="callbacks",
    )
    verifier = Webhook(acct.webhook_secret)
    statuses = []
    for hit in hits:
        payload = verifier.verify(hit.body, hit.headers)
        assert "code" not in payload and payload["id"] == task_id and payload["external_id"] == "cb-1"
        statuses.append(payload["status"])
    assert statuses[0] == "submitted" and statuses[-1] == "succeeded" and "processing" in statuses
    final = hits[-1].json
    assert final["outputs"][0]["type"] == "video" and final["billing"][0]["amount"] == "1.5"  # 0.3 × 5


def test_records_of_legacy_tasks_are_normalised(
    http: httpx.Client, acct: Account, gw: GatewayProcess
) -> None:
    created = http.post("/v1/images/generations", json={"prompt": "a cat", "n": 2}, headers=acct.bearer)
    task_id = created.json()["data"]["task_id"]
    record = wait_until(
        lambda: next(
            (
                r
                for r in http.get("/tasks", params={"task_ids": task_id}, headers=acct.bearer).json()["data"]
                if r["status"] == "succeeded"
            ),
            None,
        ),
        what="legacy task done",
    )
    assert [o["type"] for o in record["outputs"]] == ["image", "image"]
    assert http.get(record["outputs"][0]["url"]).headers["content-type"].startswith("image/")
    legacy = http.get(f"/v1/images/generations/{task_id}", headers=acct.bearer).json()["data"]
    assert legacy["task_status"] == "succeed" and legacy["updated_at"] == record["update_time"]


def test_watermark_copy_when_asked(http: httpx.Client, acct: Account) -> None:
    body = {"prompt": "a mill", "settings": {"duration": 3}, "options": {"watermark_info": {"enabled": True}}}
    record = run(http, acct, "/text-to-video/kling-3.0", body)
    (output,) = record["outputs"]
    clean, marked = http.get(output["url"]).content, http.get(output["watermark_url"]).content
    a, b = probe_av(clean), probe_av(marked)
    assert (a.width, a.height, a.frames) == (b.width, b.height, b.frames)
    with av.open(io.BytesIO(clean)) as c1, av.open(io.BytesIO(marked)) as c2:
        f1 = next(c1.decode(video=0)).to_ndarray(format="gray").astype(np.float32)
        f2 = next(c2.decode(video=0)).to_ndarray(format="gray").astype(np.float32)
    h, w = f1.shape
    corner = np.abs(f1[h * 3 // 4 :, w * 3 // 4 :] - f2[h * 3 // 4 :, w * 3 // 4 :]).mean()
    rest = np.abs(f1[: h // 2, : w // 2] - f2[: h // 2, : w // 2]).mean()
    assert corner > 10 * max(rest, 0.1)  # the mark sits in the corner, the rest is the same picture
    plain = run(http, acct, "/text-to-video/kling-3.0", {"prompt": "a mill", "settings": {"duration": 3}})
    assert "watermark_url" not in plain["outputs"][0]


def legacy_resource(http: httpx.Client, acct: Account, family: str, body: dict[str, Any]) -> str:
    """Make a voice or an element through the legacy layout; its id (the creation task's id)."""
    created = http.post(f"/v1/{family}", json=body, headers=acct.bearer)
    assert created.status_code == 200, created.text
    task_id: str = created.json()["data"]["task_id"]

    def done() -> dict[str, Any] | None:
        data: dict[str, Any] = http.get(f"/v1/{family}/{task_id}", headers=acct.bearer).json()["data"]
        return data if data["task_status"] in ("succeed", "failed") else None

    assert wait_until(done, timeout=120, what=f"{family} {task_id}")["task_status"] == "succeed"
    return task_id


def refused_reference(
    http: httpx.Client, acct: Account, path: str, body: dict[str, Any], external: str
) -> str:
    """POST a body naming a reference the account does not hold: 400/1201, nothing stored."""
    body = {**body, "options": {"external_task_id": external}}
    response = http.post(path, json=body, headers=acct.bearer)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == 1201 and set(error) == {"code", "message", "request_id"}
    found = http.get("/tasks", params={"external_task_ids": external}, headers=acct.bearer).json()
    assert found["data"] == []
    message: str = error["message"]
    return message


def test_element_and_voice_contents_must_exist_for_the_account(
    http: httpx.Client, gw: GatewayProcess, acct: Account
) -> None:
    other = gw.create_account("standard2-other")
    element = legacy_resource(
        http,
        other,
        "general/advanced-custom-elements",
        {
            "element_name": "Fox",
            "element_description": "a red fox",
            "reference_type": "image_refer",
            "element_image_list": {
                "frontal_image": b64(png_bytes(500, 400)),
                "refer_images": [{"image_url": b64(png_bytes(400, 400))}],
            },
        },
    )
    voice = legacy_resource(
        http, other, "general/custom-voices", {"voice_name": "Theirs", "voice_url": b64(wav_bytes(6))}
    )
    frame = {"type": "first_frame", "url": b64(png_bytes(640, 360))}

    def with_element(element_id: Any) -> dict[str, Any]:
        item = {"type": "element", "element_id": element_id, "id": "fox"}
        return {
            "contents": [frame, item, {"type": "prompt", "text": "@fox runs"}],
            "settings": {"duration": 3},
        }

    def with_voice(voice_id: str) -> dict[str, Any]:
        item = {"type": "voice", "voice_id": voice_id, "id": "narrator"}
        return {
            "contents": [frame, {"type": "prompt", "text": "@narrator speaks"}, item],
            "settings": {"duration": 5, "resolution": "1080p", "audio": "native"},
        }

    for path, body_of, ref, kind, where in (
        ("/image-to-video/kling-3.0", with_element, int(element), "element", "contents[1].element_id"),
        ("/image-to-video/kling-2.6", with_voice, voice, "voice", "contents[2].voice_id"),
    ):
        missing = "999999999999999999"
        theirs = refused_reference(http, acct, path, body_of(ref), f"theirs-{kind}")
        absent = refused_reference(http, acct, path, body_of(missing), f"absent-{kind}")
        assert theirs == f"{where}: {kind} '{ref}' does not exist for this account"
        assert absent == theirs.replace(str(ref), missing)  # another account's reads as missing
        # the owner may use it, and the record renders
        record = run(http, other, path, body_of(ref))
        _, info = video_of(http, record)
        assert info.width > info.height
    # presets of both kinds are every account's
    record = run(http, acct, "/image-to-video/kling-2.6", with_voice("900000000000000201"))
    _, info = video_of(http, record)
    assert info.audio_codec == "aac" and abs(info.duration - 5) < 0.1
    run(http, acct, "/image-to-video/kling-3.0", with_element(900000000000000101))
