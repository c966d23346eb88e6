"""As a new user would: first `serve` prints a key and a curl command; the printed command creates
a task and the seed's own curl query (CometAPI docs) polls it to a real result."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from support import GatewayProcess, free_port, wait_until

SEED_QUERY = "curl --request GET --url {base}/kling/v1/{action}/{action2}/{task_id} --header 'Authorization: Bearer {token}'"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_first_serve_banner_leads_to_a_working_request(tmp_path):
    port = free_port()
    server = GatewayProcess(tmp_path / "fresh", port=port).start()
    try:
        banner = ""
        for _ in range(50):
            banner = server.log()
            if "Then poll it" in banner:
                break
            time.sleep(0.1)
        api_key = re.search(r"api_key\s+=\s+(\S+)", banner).group(1)
        create_cmd = re.search(
            r"(curl -s \S+/kling/v1/videos/text2video \\\n.*?\n.*?)\n", banner, re.S
        ).group(1)
        out = subprocess.run(
            ["bash", "-c", create_cmd.replace("\\\n", " ")], capture_output=True, text=True, timeout=30
        )
        created = json.loads(out.stdout)
        assert created["code"] == 0, out.stdout
        task_id = created["data"]["task_id"]

        issued = server.cli("keys", "create", "--name", "second")  # keys from the CLI work the same
        deadline = time.monotonic() + 90
        while True:
            query = SEED_QUERY.format(
                base=server.base_url, action="videos", action2="text2video", task_id=task_id, token=api_key
            )
            data = json.loads(
                subprocess.run(shlex.split(query), capture_output=True, text=True, timeout=30).stdout
            )
            assert data["code"] == 0 and data["data"]["task_id"] == task_id
            if data["data"]["task_status"] == "succeed" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert data["data"]["task_status"] == "succeed"
        assert data["data"]["task_result"]["videos"][0]["url"].startswith(server.base_url + "/files/")
        # the other account cannot see it
        foreign = SEED_QUERY.format(
            base=server.base_url,
            action="videos",
            action2="text2video",
            task_id=task_id,
            token=issued["api_key"],
        )
        answer = json.loads(subprocess.run(shlex.split(foreign), capture_output=True, text=True).stdout)
        assert answer["code"] == 1203
    finally:
        server.stop()


def test_second_serve_prints_no_new_key(tmp_path):
    server = GatewayProcess(tmp_path / "d").start()
    server.stop()
    again = GatewayProcess(tmp_path / "d").start()
    try:
        wait_until(lambda: "accounts :" in again.log(), timeout=10, what="the later-start banner")
        assert len(re.findall(r"^\s+api_key\s+=", server.log(), re.M)) == 1
        assert "api_key" not in again.log()  # only the first start printed one
        assert len(again.cli("keys", "list")) == 1
    finally:
        again.stop()


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "kling_gateway", "--help"], capture_output=True, text=True)
    for command in ("serve", "keys"):
        assert command in out.stdout
