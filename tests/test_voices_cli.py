"""``kling-gateway voices ...`` and ``kling-gateway elements ...`` as subprocesses against a real
gateway: create (waiting), get, list, presets, delete; outputs decoded; refusals give the
documented exit codes and, with ``--json``, the Kling error."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from kling_gateway.media.probe import probe_av, probe_image
from support import Account, GatewayProcess, png_bytes, wav_bytes
from test_client_cli import run


def _fetch(url: str) -> bytes:
    got = httpx.get(url, timeout=30)
    assert got.status_code == 200, url
    return got.content


def test_voices_commands(gateway: GatewayProcess, account: Account, tmp_path: Path) -> None:
    clip = tmp_path / "me.wav"
    clip.write_bytes(wav_bytes(6.0))
    out = run(gateway, account, "voices", "create", "--name", "CLI voice", "--clip", str(clip), "--json")
    assert out.returncode == 0, out.stderr
    (task,) = json.loads(out.stdout)
    (voice,) = task["task_result"]["voices"]
    assert voice["voice_name"] == "CLI voice" and voice["owned_by"] == "user"
    assert abs(probe_av(_fetch(voice["trial_url"])).duration - 6.0) < 0.15

    got = run(gateway, account, "voices", "get", voice["voice_id"], layout="/kling")
    assert got.returncode == 0, got.stderr
    assert got.stdout.split("\t")[:2] == [voice["voice_id"], "CLI voice"]
    listed = run(gateway, account, "voices", "list", "--page-size", "1000")
    assert listed.returncode == 0 and voice["voice_id"] in listed.stdout
    presets = run(gateway, account, "voices", "presets", "--json")
    assert presets.returncode == 0, presets.stderr
    preset_voices = [t["task_result"]["voices"][0] for t in json.loads(presets.stdout)]
    assert preset_voices and all(v["owned_by"] == "kling" for v in preset_voices)
    assert probe_av(_fetch(preset_voices[0]["trial_url"])).duration > 0.5

    deleted = run(gateway, account, "voices", "delete", voice["voice_id"])
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"{voice['voice_id']}\tsucceed"
    assert voice["voice_id"] not in run(gateway, account, "voices", "list").stdout
    again = run(gateway, account, "voices", "delete", voice["voice_id"], "--json")
    assert again.returncode == 6  # an API error
    error = json.loads(again.stdout)["error"]
    assert error["code"] == 1201 and error["http_status"] == 400 and "voice_id" in error["message"]

    too_long = run(gateway, account, "voices", "create", "--name", "x" * 21, "--clip", str(clip))
    assert too_long.returncode == 2 and "voice_name" in too_long.stderr  # refused before sending
    short = tmp_path / "short.wav"
    short.write_bytes(wav_bytes(2.0))
    failed = run(gateway, account, "voices", "create", "--name", "short", "--clip", str(short))
    assert failed.returncode == 4 and "voice_url" in failed.stderr  # the task failed


def test_elements_commands(gateway: GatewayProcess, account: Account, tmp_path: Path) -> None:
    front, side = tmp_path / "front.png", tmp_path / "side.png"
    front.write_bytes(png_bytes(500, 400))
    side.write_bytes(png_bytes(400, 400))
    args = ["elements", "create", "--name", "Hero", "--description", "a hero", "--tag", "o_102"]
    out = run(gateway, account, *args, "--image", str(front), "--image", str(side), "--json")
    assert out.returncode == 0, out.stderr
    (task,) = json.loads(out.stdout)
    (element,) = task["task_result"]["elements"]
    frontal = probe_image(_fetch(element["element_image_list"]["frontal_image"]))
    assert (frontal.width, frontal.height) == (500, 400)
    assert element["tag_list"] == [{"tag_id": "o_102"}]
    element_id = str(element["element_id"])

    got = run(gateway, account, "elements", "get", element_id)
    assert got.returncode == 0 and got.stdout.startswith(f"{element_id}\tHero")
    assert element_id in run(gateway, account, "elements", "list").stdout
    presets = run(gateway, account, "elements", "presets", "--page-size", "2")
    assert presets.returncode == 0 and len(presets.stdout.strip().splitlines()) == 2

    assert run(gateway, account, "elements", "delete", element_id).returncode == 0
    shown = run(gateway, account, "elements", "get", element_id)
    assert shown.stdout.strip().endswith("deleted")
    again = run(gateway, account, "elements", "delete", element_id)
    assert again.returncode == 6 and "element_id" in again.stderr
    no_images = run(gateway, account, "elements", "create", "--name", "x", "--description", "y")
    assert no_images.returncode == 2 and "element_image_list" in no_images.stderr
