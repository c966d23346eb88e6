"""``kling-gateway submit`` / ``task ...`` as subprocesses against a real gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kling_gateway.media.probe import probe_av, probe_image
from support import Account, GatewayProcess, png_bytes


@pytest.fixture(scope="module")
def backend() -> None:
    """The SDK and CLI speak HTTP only, so one store is enough here (embedded SQLite): every
    family end to end on PostgreSQL + S3 is tests/test_api_families.py's, and the store layer on
    both databases is tests/integration's. Keeps the suite inside CI's time budget."""
    return None


def run(
    gateway: GatewayProcess,
    account: Account,
    *args: str,
    jwt: bool = False,
    layout: str = "",
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    env["KLING_BASE_URL"] = gateway.base_url + layout
    if jwt:
        env.update(KLING_ACCESS_KEY=account.access_key, KLING_SECRET_KEY=account.secret_key)
    else:
        env["KLING_API_KEY"] = account.api_key
    return subprocess.run(
        [sys.executable, "-m", "kling_gateway", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_submit_wait_output(gateway: GatewayProcess, account: Account, tmp_path: Path) -> None:
    out = run(
        gateway,
        account,
        "submit",
        "videos/text2video",
        "--prompt",
        "a red fox",
        "--param",
        "duration=5",
        "--param",
        "aspect_ratio=1:1",
        "--wait",
        "--output",
        str(tmp_path / "fox.mp4"),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert reply["task"]["task_status"] == "succeed"
    assert reply["files"] == [str(tmp_path / "fox.mp4")]
    info = probe_av(tmp_path / "fox.mp4")
    assert info.video_codec == "h264" and 4.9 <= info.duration <= 5.3 and info.width == info.height
    assert "succeed" in out.stderr  # plain progress lines when not on a TTY


def test_submit_then_task_commands_jwt_cometapi(
    gateway: GatewayProcess, account: Account, tmp_path: Path
) -> None:
    image = tmp_path / "in.png"
    image.write_bytes(png_bytes(400, 400))
    out = run(
        gateway,
        account,
        "submit",
        "images/generations",
        "--prompt",
        "a lighthouse",
        "--image",
        str(image),
        "--param",
        "aspect_ratio=1:1",
        "--param",
        "external_task_id=cli-ext-1",
        "--json",
        jwt=True,
        layout="/kling",
    )
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    assert created["task_status"] == "submitted"
    task_id = created["task_id"]

    out = run(gateway, account, "task", "wait", "images/generations", "cli-ext-1", "--json", jwt=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["task_id"] == task_id

    out = run(gateway, account, "task", "download", "images/generations", task_id, str(tmp_path / "dl"))
    assert out.returncode == 0, out.stderr
    (path,) = list((tmp_path / "dl").iterdir())
    assert path.suffix == ".png" and probe_image(path).width == 1024

    out = run(gateway, account, "task", "get", "images/generations", task_id, "--json", layout="/kling/v1")
    assert out.returncode == 0 and json.loads(out.stdout)["task_info"]["external_task_id"] == "cli-ext-1"

    out = run(gateway, account, "task", "list", "images/generations", "--page-size", "1", "--json")
    assert out.returncode == 0, out.stderr
    assert task_id in [t["task_id"] for t in json.loads(out.stdout)]


def test_submit_with_two_images_fills_the_try_on_slots(
    gateway: GatewayProcess, account: Account, tmp_path: Path
) -> None:
    person, cloth = tmp_path / "p.png", tmp_path / "c.png"
    person.write_bytes(png_bytes(400, 600))
    cloth.write_bytes(png_bytes(400, 400, (10, 10, 200)))
    out = run(
        gateway,
        account,
        "submit",
        "images/kolors-virtual-try-on",
        "--image",
        str(person),
        "--image",
        str(cloth),
        "-o",
        str(tmp_path / "look.png"),
    )
    assert out.returncode == 0, out.stderr
    assert probe_image(tmp_path / "look.png").width


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("submit", "videos/nope", "--prompt", "x"), 2),
        (("submit", "videos/text2video", "--prompt", "x", "--param", "duration=7"), 2),
        (("submit", "videos/text2video", "--param", "oops"), 2),
        (("task", "get", "videos/text2video", "999999999999999999"), 6),
    ],
)
def test_usage_and_api_exit_codes(
    gateway: GatewayProcess, account: Account, args: tuple[str, ...], code: int
) -> None:
    out = run(gateway, account, *args)
    assert out.returncode == code, (out.stdout, out.stderr)


def test_auth_exit_code(gateway: GatewayProcess, account: Account) -> None:
    bad = Account(account.account_id, "wrong-key", "", "", "")
    out = run(gateway, bad, "task", "list", "videos/text2video")
    assert out.returncode == 3, out.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kling_gateway",
            "task",
            "list",
            "videos/text2video",
            "--base-url",
            gateway.base_url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 3 and "credentials" in out.stderr
