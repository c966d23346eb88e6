"""A model that exists only in the config file (``[[models]]``), end to end with real processes:

* the SDK sends it (the packaged catalogue does not know it, so its per-model rules are the
  gateway's), the gateway renders it by its entry and enforces the entry's limits (400/1201 from
  the server, raised as the SDK's typed error, nothing stored);
* relayed: a front gateway with the entry and two channels to an upstream kling-gateway that
  has the entry too; only the channel that lists the model in ``models`` is used (the other has
  the higher priority), the upstream gets the task with that ``model_name`` (it prices it by its
  own entry, so its figure says which model it ran), and the front's task succeeds priced by the
  front's entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kling_gateway.client import ClientValidationError, InvalidRequestError, KlingClient, PollPolicy
from kling_gateway.media.probe import probe_av
from support import Account, GatewayProcess

MODEL = "kling-v9-test"
POLL = PollPolicy(long_poll=10, interval=0.1, max_interval=0.5)


def model_entry(units_per_second: str) -> str:
    """The ``[[models]]`` entry: legacy text2video, 4 or 6 s, priced per second."""
    return f"""
[[models]]
name = "{MODEL}"
title = "Kling 9 (test)"
[[models.offers]]
family = "videos/text2video"
standard = "legacy"
resolutions = ["720p", "1080p"]
durations = {{ choices = [4, 6] }}
prices = [{{ units_per_second = {units_per_second} }}]
"""


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, Account, Account]]:
    data = tmp_path_factory.mktemp("v9-upstream")
    config = data / "gateway.toml"
    config.write_text(model_entry("0.5"))
    with GatewayProcess(data, extra_args=["--config", str(config)]) as server:
        yield server, server.create_account("serves-v9"), server.create_account("priority")


@pytest.fixture(scope="module")
def front(
    upstream: tuple[GatewayProcess, Account, Account], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, Account]]:
    server, serves, priority = upstream
    data = tmp_path_factory.mktemp("v9-front")
    poll = "poll = { initial = 0.2, factor = 0.2, max_interval = 0.5, callback_slowdown = 1.0 }"
    config = data / "gateway.toml"
    config.write_text(
        model_entry("0.7")
        + f"""
[[channels]]
name = "v9"
type = "kling-compatible"
base_url = "{server.base_url}"
api_key_env = "V9_KEY"
callbacks = false
models = ["{MODEL}"]
{poll}

[[channels]]
name = "older"
type = "kling-compatible"
base_url = "{server.base_url}"
api_key_env = "OLDER_KEY"
callbacks = false
priority = 10
models = ["kling-v1*", "kling-v2*", "kling-v3*"]
{poll}
"""
    )
    with GatewayProcess(
        data,
        extra_args=["--config", str(config)],
        extra_env={"V9_KEY": serves.api_key, "OLDER_KEY": priority.api_key},
    ) as gateway:
        yield gateway, gateway.create_account("client")


def stored_count(client: KlingClient) -> int:
    return sum(1 for _ in client.list_tasks("videos/text2video", page_size=500))


def test_sdk_sends_a_config_only_model_and_the_server_enforces_its_limits(
    upstream: tuple[GatewayProcess, Account, Account], tmp_path: Path
) -> None:
    server, account, _ = upstream
    with KlingClient(server.base_url, api_key=account.api_key, poll=POLL) as client:
        created = client.text2video(model_name=MODEL, prompt="a comet over the sea", duration="4")
        done = client.wait(created, timeout=120)
        assert done.task_status == "succeed"
        assert done.final_unit_deduction == "2"  # the entry: 0.5 units/s × 4 s
        (path,) = client.download(done, tmp_path / "v9.mp4")
        assert abs(probe_av(path).duration - 4.0) < 0.15
        before = stored_count(client)
        with pytest.raises(InvalidRequestError) as refused:
            client.text2video(model_name=MODEL, prompt="x", duration="5", external_task_id="v9-five")
        error = refused.value
        assert not isinstance(error, ClientValidationError)  # the server's answer, not the SDK's
        assert (error.code, error.http_status) == (1201, 400) and error.request_id
        assert "duration" in error.message and "4, 6" in error.message and MODEL in error.message
        assert stored_count(client) == before
        with pytest.raises(InvalidRequestError) as missing:
            client.get_task("videos/text2video", "v9-five")
        assert missing.value.http_status == 404
        # structural rules still hold client-side for an unknown model
        with pytest.raises(ClientValidationError, match="prompt"):
            client.create("videos/text2video", {"model_name": MODEL, "duration": "4"})


def test_a_config_only_model_is_relayed_to_the_channel_that_lists_it(
    front: tuple[GatewayProcess, Account], upstream: tuple[GatewayProcess, Account, Account], tmp_path: Path
) -> None:
    gateway, account = front
    server, serves, priority = upstream
    with KlingClient(gateway.base_url, api_key=account.api_key, poll=POLL) as client:
        created = client.text2video(model_name=MODEL, prompt="a comet relayed", duration="6")
        done = client.wait(created, timeout=120)
        assert done.task_status == "succeed", done.task_status_msg
        assert done.final_unit_deduction == "4.2"  # the front's entry: 0.7 units/s × 6 s
        (path,) = client.download(done, tmp_path / "relayed.mp4")
        assert abs(probe_av(path).duration - 6.0) < 0.15
        video_url = done.task_result.videos[0].url
        assert video_url.startswith(gateway.base_url)  # mirrored into the front's storage

    def upstream_task(who: Account) -> httpx.Response:
        return httpx.get(
            f"{server.base_url}/v1/videos/text2video/kg-{done.task_id}", headers=who.bearer, timeout=30
        )

    theirs = upstream_task(serves)
    assert theirs.status_code == 200, theirs.text
    data: dict[str, Any] = theirs.json()["data"]
    # priced by the upstream's own entry for that model (0.5 × 6): it ran kling-v9-test
    assert data["task_status"] == "succeed" and data["final_unit_deduction"] == "3"
    assert upstream_task(priority).status_code == 404  # the channel without the model was not used
