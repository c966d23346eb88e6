"""Results in S3 end to end: gateways on PostgreSQL storing into moto's real S3 server.

Gateway A runs everything (API and workers) and hands out gateway-signed ``/files`` URLs, proxied
from the bucket. Gateway B is an API-only replica on the same database and bucket with
``storage_presign``: it shows the same tasks with S3 presigned URLs, fetched straight from S3.
Tasks created on B are run by A's workers. Every result is decoded and really in the bucket.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from kling_gateway.media.probe import probe_av, probe_image
from scaleout_support import MotoS3
from support import (
    Account,
    GatewayProcess,
    PostgresDatabase,
    postgres_available,
    require_service,
    wait_for_task,
)


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    server = MotoS3.start_or_skip()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(
    s3: MotoS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    require_service(postgres_available(), "PostgreSQL is not reachable on 127.0.0.1:5432")
    database = PostgresDatabase()
    shared = {"KLING_GATEWAY_URL_SECRET": "s3-e2e-secret"}
    full = GatewayProcess(
        tmp_path_factory.mktemp("s3a"), database_url=database.url, extra_env={**shared, **s3.gateway_env()}
    )
    api = GatewayProcess(
        tmp_path_factory.mktemp("s3b"),
        database_url=database.url,
        extra_env={**shared, **s3.gateway_env(presign=True)},
        extra_args=["--no-workers"],
    )
    try:
        full.start()
        api.start()
        yield full, api
    finally:
        api.stop()
        full.stop()
        database.drop()


@pytest.fixture(scope="module")
def account(cluster: tuple[GatewayProcess, GatewayProcess]) -> Account:
    return cluster[0].create_account("s3")


CASES = [
    ("videos/text2video", {"prompt": "a lighthouse at dusk", "duration": "5"}, "videos", "url", "video"),
    (
        "images/generations",
        {"prompt": "a blue circle", "n": 2, "aspect_ratio": "1:1"},
        "images",
        "url",
        "image",
    ),
    ("audio/text-to-audio", {"prompt": "rain on a tin roof", "duration": 3}, "audios", "url_mp3", "audio"),
]


def _get(url: str) -> bytes:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, (url, response.status_code, response.text[:200])
    return response.content


def _check_media(data: bytes, kind: str) -> None:
    if kind == "image":
        info = probe_image(data)
        assert info.width > 0 and info.height > 0
    elif kind == "video":
        info = probe_av(data)
        assert info.video_codec == "h264" and 4.5 < info.duration < 5.5
    else:
        info = probe_av(data)
        assert info.audio_codec and 2.5 < info.duration < 3.5


@pytest.mark.parametrize(("family", "body", "items", "field", "kind"), CASES, ids=[c[0] for c in CASES])
def test_family_results_in_s3(cluster, account, s3: MotoS3, family, body, items, field, kind) -> None:
    full, api = cluster
    with httpx.Client(base_url=api.base_url, timeout=30) as http:  # created on the API-only replica
        created = http.post(f"/v1/{family}", json=body, headers=account.bearer)
        assert created.status_code == 200, created.text
        task_id = created.json()["data"]["task_id"]
        presigned = wait_for_task(http, f"/v1/{family}", task_id, account.bearer, timeout=120)
    assert presigned["task_status"] == "succeed", presigned
    with httpx.Client(base_url=full.base_url, timeout=30) as http:
        proxied = wait_for_task(http, f"/v1/{family}", task_id, account.bearer)

    in_bucket = set(s3.keys(f"gw/{task_id}/"))
    assert in_bucket, "results are not in the bucket"
    for via_s3, via_gateway in zip(
        presigned["task_result"][items], proxied["task_result"][items], strict=True
    ):
        gateway_url, s3_url = via_gateway[field], via_s3[field]
        assert gateway_url.startswith(full.base_url + "/files/"), gateway_url
        assert s3_url.startswith(s3.endpoint + f"/{s3.bucket}/gw/{task_id}/"), s3_url
        assert "X-Amz-Signature=" in s3_url and "X-Amz-Expires=" in s3_url
        key = urlsplit(s3_url).path.split(f"/{s3.bucket}/", 1)[1]
        assert key in in_bucket
        from_s3, from_gateway = _get(s3_url), _get(gateway_url)
        assert from_s3 == from_gateway
        _check_media(from_s3, kind)


def test_presigned_url_is_stable_between_polls(cluster, account) -> None:
    """Polling twice shows the same presigned URL (caches and clients are not churned)."""
    _, api = cluster
    with httpx.Client(base_url=api.base_url, timeout=30) as http:
        listed = http.get("/v1/audio/text-to-audio", headers=account.bearer).json()["data"]
        again = http.get("/v1/audio/text-to-audio", headers=account.bearer).json()["data"]
    assert listed and listed[0]["task_result"] == again[0]["task_result"]
    assert "X-Amz-Signature=" in listed[0]["task_result"]["audios"][0]["url_mp3"]
