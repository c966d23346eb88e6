"""The command line reads like one: plain help, --version, completion, a task table, live progress."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kling_gateway import __version__
from kling_gateway.cli import app
from kling_gateway.client import KlingClient
from kling_gateway.client.cli import ProgressView
from kling_gateway.schemas import Task
from support import Account, GatewayProcess

runner = CliRunner()
COMMANDS = [
    [],
    ["serve"],
    ["worker"],
    ["migrate"],
    ["doctor"],
    ["keys"],
    ["keys", "create"],
    ["keys", "list"],
    ["keys", "revoke"],
    ["keys", "rotate"],
    ["submit"],
    ["task"],
    ["task", "get"],
    ["task", "list"],
    ["task", "wait"],
    ["task", "download"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help_has_no_type_metavars_or_rst(command: list[str]) -> None:
    out = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "160", "NO_COLOR": "1"})
    assert out.exit_code == 0, out.output
    text = out.output
    assert "Usage:" in text
    for bad in ("<bool>", "<list[", "<str>", "<path>", "<float>", "<int", "``"):
        assert bad not in text, f"{bad!r} in help of {command}:\n{text}"
    assert re.search(r"--help\s+Show this message", text)  # the flag is followed by its help, no value


def test_submit_help_says_what_output_writes() -> None:
    text = runner.invoke(app, ["submit", "--help"], env={"COLUMNS": "200"}).output
    flat = " ".join(text.replace("│", " ").split())
    assert "-o x.mp3" in flat and "x.wav" in flat
    assert re.search(r"--wait\s+Wait until", text) and re.search(r"--image\s+TEXT", text)


def test_version() -> None:
    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.strip() == f"kling-gateway {__version__}"


def test_shell_completion_completes_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        **os.environ,
        "_KLING_GATEWAY_COMPLETE": "complete_bash",
        "COMP_WORDS": "kling-gateway keys ",
        "COMP_CWORD": "2",
    }
    out = subprocess.run(
        [sys.executable, "-m", "kling_gateway"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == ["create", "list", "revoke", "rotate", "limits"], out.stderr
    # typer's own switch: take the shell named here instead of detecting the one that runs pytest
    # (without it "bash" is ignored and the result depends on the process tree: under xdist it failed)
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    script = runner.invoke(app, ["--show-completion", "bash"], prog_name="kling-gateway")
    assert "_kling_gateway_completion" in script.output


# ---- against a real gateway --------------------------------------------------------------


@pytest.fixture(scope="module")
def paced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """Paced like Kling: ~9 s in submitted, so every status is seen by a waiting client."""
    with GatewayProcess(
        tmp_path_factory.mktemp("paced"), extra_env={"KLING_GATEWAY_ENGINE_PACING": "1"}
    ) as gw:
        yield gw


@pytest.fixture(scope="module")
def paced_account(paced: GatewayProcess) -> Account:
    return paced.create_account("paced")


def _env(gateway: GatewayProcess, account: Account) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    return {**env, "KLING_BASE_URL": gateway.base_url, "KLING_API_KEY": account.api_key}


def test_sdk_wait_reports_the_first_state_and_every_change(
    paced: GatewayProcess, paced_account: Account
) -> None:
    seen: list[str] = []

    def progress(task: Task) -> None:
        seen.append(task.task_status)

    with KlingClient(paced.base_url, api_key=paced_account.api_key) as client:
        created = client.text_to_audio(prompt="rain on a tin roof", duration=3)
        done = client.wait(created, timeout=120, on_progress=progress)
    assert done.task_status == "succeed"
    assert seen == ["submitted", "processing", "succeed"]


def test_cli_progress_off_a_terminal_is_one_line_per_change(
    paced: GatewayProcess, paced_account: Account, tmp_path: Path
) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kling_gateway",
            "submit",
            "audio/text-to-audio",
            "--prompt",
            "wind",
            "--param",
            "duration=3",
            "-o",
            str(tmp_path / "x.mp3"),
        ],
        env=_env(paced, paced_account),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = re.findall(r"^task (\S+): (\w+) \((\d+\.\d)s\)$", out.stderr, re.M)
    assert [status for _, status, _ in lines] == ["submitted", "processing", "succeed"], out.stderr
    elapsed = [float(s) for _, _, s in lines]
    assert elapsed == sorted(elapsed) and elapsed[1] > elapsed[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp3", "x.wav"]


def test_progress_view_on_a_terminal_prints_each_change() -> None:
    import io

    from rich.console import Console

    screen = io.StringIO()
    view = ProgressView(live=True, console=Console(file=screen, force_terminal=True, width=100))
    with view:
        for status in ("submitted", "submitted", "processing", "succeed"):
            view(Task(task_id="t1", task_status=status, created_at=1, updated_at=1))
    shown = re.findall(r"task t1: (\w+) \(\d+\.\ds\)", screen.getvalue())
    assert shown == ["submitted", "processing", "succeed"]


def test_task_list_is_a_table_with_readable_times(paced: GatewayProcess, paced_account: Account) -> None:
    env = _env(paced, paced_account)
    with KlingClient(paced.base_url, api_key=paced_account.api_key) as client:
        created = client.image_generation(prompt="a lighthouse", external_task_id="lighthouse-1")
    out = subprocess.run(
        [sys.executable, "-m", "kling_gateway", "task", "list", "images/generations"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.split() == ["TASK_ID", "STATUS", "CREATED", "UPDATED", "EXTERNAL_ID"]
    row = next(r for r in rows if r.startswith(created.task_id))
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row) and row.rstrip().endswith("lighthouse-1")
    machine = subprocess.run(
        [sys.executable, "-m", "kling_gateway", "task", "list", "images/generations", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    listed = json.loads(machine.stdout)
    assert any(t["task_id"] == created.task_id and isinstance(t["created_at"], int) for t in listed)
