"""Channel tables: defaults per type, secrets from env/file kept out of repr, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_gateway.engines.relay.breaker import CircuitBreaker
from kling_gateway.engines.relay.channels import ChannelConfigError, parse_channels
from kling_gateway.engines.relay.upstream import Busy, ChannelDown, NotFound, Rejected, classify


def test_types_defaults_secrets_and_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SK", "s3cret-sk")
    (tmp_path / "key").write_text("sk-comet\n")
    official, comet, other = parse_channels(
        [
            {
                "name": "other",
                "type": "kling-compatible",
                "base_url": "http://10.0.0.7:8000/",
                "api_key": "k",
                "priority": -1,
            },
            {
                "name": "official",
                "type": "kling",
                "access_key": "ak",
                "secret_key_env": "TEST_SK",
                "priority": 5,
                "models": ["kling-v2-*"],
            },
            {"name": "comet", "type": "cometapi", "api_key_file": str(tmp_path / "key")},
        ]
    )
    assert (official.base_url, official.prefix, official.uses_jwt) == (
        "https://api-singapore.klingai.com",
        "/v1",
        True,
    )
    assert official.secret_key == "s3cret-sk" and "s3cret" not in repr(official)
    assert (comet.base_url, comet.prefix, comet.api_key, comet.poll.list_queries) == (
        "https://api.cometapi.com",
        "/kling/v1",
        "sk-comet",
        False,
    )
    assert other.base_url == "http://10.0.0.7:8000"
    assert official.serves("videos/text2video", "kling-v2-master") and not official.serves(
        "videos/text2video", None
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"name": "x", "type": "kling", "access_key": "a"}, "give api_key"),
        (
            {"name": "x", "type": "cometapi", "access_key": "a", "secret_key": "b"},
            "authenticates with api_key",
        ),
        ({"name": "x", "api_key": "k", "base_url": "ftp://h"}, "base_url"),
        (
            {"name": "x", "api_key": "k", "base_url": "http://h", "max_conccurent": 3},
            "unknown keys max_conccurent",
        ),
        ({"name": "reference", "api_key": "k", "base_url": "http://h"}, "reserved"),
        ({"name": "x", "type": "kling", "access_key": "a", "secret_key_env": "NOPE_NOT_SET"}, "NOPE_NOT_SET"),
    ],
)
def test_bad_tables_are_refused_clearly(table: dict, message: str) -> None:
    with pytest.raises(ChannelConfigError, match=message):
        parse_channels([table])


def test_error_classification() -> None:
    assert isinstance(classify(400, b'{"code":1201,"message":"bad"}')[1], Rejected)
    assert isinstance(classify(429, b'{"code":1303,"message":"busy"}')[1], Busy)
    assert isinstance(classify(500, b'{"code":5000,"message":"x"}')[1], ChannelDown)
    assert isinstance(classify(200, b'{"code":0,"data":{"task_id":')[1], ChannelDown)
    assert isinstance(classify(404, b'{"code":1203,"message":"no task"}')[1], NotFound)
    assert isinstance(classify(401, b'{"code":1002,"message":"jwt"}')[1], ChannelDown)
    comet = b'{"error":{"message":"bad prompt","type":"comet_api_error","code":"invalid_request"}}'
    assert isinstance(classify(400, comet)[1], Rejected)
    assert classify(200, b'{"code":0,"message":"SUCCEED","data":{"task_id":"1"}}')[0] is not None


def test_breaker_opens_half_opens_and_backs_off() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown=10, busy_backoff=1, clock=lambda: now[0])
    breaker.failure()
    assert breaker.available()
    breaker.failure()
    assert breaker.state == "open" and not breaker.available()
    now[0] = 10.5
    assert breaker.available() and not breaker.available()  # one trial at a time
    breaker.success()
    assert breaker.state == "closed" and breaker.available()
    assert breaker.busy() == 1 and not breaker.available()
    now[0] += 1.01
    assert breaker.available() and breaker.busy() == 2
