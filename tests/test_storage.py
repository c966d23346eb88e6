"""Result storage: local directory and S3 (moto's real server on loopback), and HTTP serving.

Both back ends run the same contract tests; serving is checked through a real uvicorn server.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kling_gateway.config import Settings
from kling_gateway.storage import (
    LocalStorage,
    ObjectStorage,
    Storage,
    StoredObject,
    create_storage,
    file_response,
    result_url,
)

MiB = 1 << 20
CHUNK = 64 * 1024
BLOB = os.urandom(3 * CHUNK + 1234)  # not a multiple of the chunk size


StorageSettings = Settings


# --------------------------------------------------------------------------- back ends


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port; skipped if it cannot start, unless CI=true."""
    try:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
    except Exception as exc:  # any failure to start means "no S3 here"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"moto S3 server failed to start: {exc!r}")
        pytest.skip(f"moto S3 server could not start here: {exc!r}")
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def make_bucket(endpoint: str) -> str:
    import boto3

    name = f"results-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=name)
    return name


def s3_storage(endpoint: str, prefix: str | None = "gw") -> ObjectStorage:
    return ObjectStorage(
        make_bucket(endpoint),
        prefix=prefix,
        endpoint=endpoint,
        region="us-east-1",
        access_key="test",
        secret_key="test",
        allow_http=True,
    )


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "results")
    return s3_storage(request.getfixturevalue("s3_endpoint"))


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


# --------------------------------------------------------------------------- contract, both back ends


async def test_put_stat_read_round_trip(storage):
    stored = await storage.put_bytes("task-1/video-0.mp4", BLOB, "video/mp4")
    assert (stored.key, stored.size, stored.content_type) == ("task-1/video-0.mp4", len(BLOB), "video/mp4")
    assert isinstance(stored, StoredObject)
    stat = await storage.stat("task-1/video-0.mp4")
    assert stat == stored
    assert await storage.read_bytes("task-1/video-0.mp4") == BLOB


async def test_content_type_kept_whatever_the_extension(storage):
    await storage.put_bytes("t/thing.bin", b"{}", "application/json; charset=utf-8")
    assert (await storage.stat("t/thing.bin")).content_type == "application/json; charset=utf-8"


async def test_put_file_large(storage, tmp_path):
    source = tmp_path / "big.mp4"
    data = os.urandom(6 * MiB + 7)  # above obstore's 5 MB multipart threshold
    source.write_bytes(data)
    stored = await storage.put_file("t/big.mp4", source, "video/mp4")
    assert stored.size == len(data)
    assert b"".join(await collect(storage.stream("t/big.mp4"))) == data
    assert source.read_bytes() == data  # the source is copied, not moved


async def test_overwrite_replaces_data_and_type(storage):
    await storage.put_bytes("t/a", b"first version", "text/plain")
    stored = await storage.put_bytes("t/a", b"second", "image/png")
    assert (stored.size, stored.content_type) == (6, "image/png")
    assert await storage.read_bytes("t/a") == b"second"


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, None), (0, 0), (5, 70_000), (CHUNK - 1, CHUNK), (100_000, None), (len(BLOB) - 1, None), (10, 10**9)],
)
async def test_stream_ranges(storage, start, end):
    await storage.put_bytes("t/blob", BLOB, "application/octet-stream")
    chunks = await collect(storage.stream("t/blob", start, end))
    expected = BLOB[start : None if end is None else end + 1]
    assert b"".join(chunks) == expected
    assert all(chunks)


async def test_local_stream_uses_64k_chunks(tmp_path):
    storage = LocalStorage(tmp_path)
    await storage.put_bytes("t/blob", BLOB, "application/octet-stream")
    sizes = [len(c) for c in await collect(storage.stream("t/blob"))]
    assert sizes == [CHUNK, CHUNK, CHUNK, 1234]
    sizes = [len(c) for c in await collect(storage.stream("t/blob", 10, CHUNK + 20))]
    assert sizes == [CHUNK, 11]


async def test_missing_objects(storage):
    assert await storage.stat("t/none.mp4") is None
    with pytest.raises(FileNotFoundError):
        await storage.read_bytes("t/none.mp4")
    with pytest.raises(FileNotFoundError):
        await collect(storage.stream("t/none.mp4"))


async def test_empty_object(storage):
    stored = await storage.put_bytes("t/empty.txt", b"", "text/plain")
    assert stored.size == 0
    assert b"".join(await collect(storage.stream("t/empty.txt"))) == b""


async def test_delete_prefix_by_segment(storage):
    for key in ("t1/video-0.mp4", "t1/frames/0.png", "t10/video-0.mp4", "t2/x"):
        await storage.put_bytes(key, b"data", "application/octet-stream")
    assert await storage.delete_prefix("t1") == 2
    assert await storage.stat("t1/video-0.mp4") is None
    assert await storage.stat("t1/frames/0.png") is None
    assert await storage.stat("t10/video-0.mp4") is not None  # "t1" is not a string prefix match
    assert await storage.delete_prefix("t1/") == 0
    assert await storage.delete_prefix("t2/x") == 1  # a single object
    assert await storage.stat("t2/x") is None


BAD_KEYS = [
    "",
    "../escape",
    "a/../../b",
    "/etc/passwd",
    "a\\b",
    "a//b",
    ".hidden",
    "a/./b",
    "a/b\x00",
    "t/\n",
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_refused(storage, key):
    with pytest.raises(ValueError):
        await storage.put_bytes(key, b"x", "text/plain")
    with pytest.raises(ValueError):
        await storage.stat(key)
    with pytest.raises(ValueError):
        await collect(storage.stream(key))
    with pytest.raises(ValueError):
        await storage.delete_prefix(key)


async def test_bad_ranges_refused(storage):
    await storage.put_bytes("t/x", b"abc", "text/plain")
    with pytest.raises(ValueError):
        await collect(storage.stream("t/x", -1))
    with pytest.raises(ValueError):
        await collect(storage.stream("t/x", 2, 1))


# --------------------------------------------------------------------------- local specifics


async def test_local_layout_and_nothing_outside_root(tmp_path):
    root = tmp_path / "root"
    storage = LocalStorage(root)
    await storage.put_bytes("t/v.mp4", b"video", "video/mp4")
    for key in BAD_KEYS:
        with pytest.raises(ValueError):
            await storage.put_bytes(key, b"x", "text/plain")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    assert storage.local_path("t/v.mp4") == root / "t" / "v.mp4"
    assert (root / "t" / "v.mp4").read_bytes() == b"video"
    leftovers = [p for p in root.rglob(".tmp-*")]
    assert leftovers == []


async def test_local_type_from_extension_without_sidecar(tmp_path):
    storage = LocalStorage(tmp_path)
    (tmp_path / "copied").mkdir()
    (tmp_path / "copied" / "clip.mp4").write_bytes(b"v")
    (tmp_path / "copied" / "noext").write_bytes(b"v")
    assert (await storage.stat("copied/clip.mp4")).content_type == "video/mp4"
    assert (await storage.stat("copied/noext")).content_type == "application/octet-stream"


async def test_local_failed_put_keeps_old_object(tmp_path):
    storage = LocalStorage(tmp_path / "r")
    await storage.put_bytes("t/a.png", b"old", "image/png")
    with pytest.raises(FileNotFoundError):
        await storage.put_file("t/a.png", tmp_path / "does-not-exist", "image/png")
    assert await storage.read_bytes("t/a.png") == b"old"
    assert [p.name for p in (tmp_path / "r" / "t").iterdir()] == ["a.png"]


async def test_local_directory_is_not_an_object(tmp_path):
    storage = LocalStorage(tmp_path)
    await storage.put_bytes("t/a", b"x", "text/plain")
    assert await storage.stat("t") is None
    with pytest.raises(FileNotFoundError):
        await storage.read_bytes("t")


# --------------------------------------------------------------------------- S3 specifics


async def test_s3_prefix_and_presigned_url(s3_endpoint, tmp_path):
    import boto3

    storage = s3_storage(s3_endpoint, prefix="deploy/results")
    await storage.put_bytes("t/v.mp4", BLOB, "video/mp4")
    listed = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).list_objects_v2(Bucket=storage.bucket)
    assert [o["Key"] for o in listed["Contents"]] == ["deploy/results/t/v.mp4"]

    url = await storage.presigned_url("t/v.mp4", 300)
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        assert response.status_code == 200
        assert response.content == BLOB
        assert response.headers["content-type"] == "video/mp4"
    # moto does not check signatures, so only the URL's shape is ours to assert
    assert f"/{storage.bucket}/deploy/results/t/v.mp4?" in url
    assert "X-Amz-Expires=300" in url and "X-Amz-Signature=" in url


async def test_result_url_presigns_only_when_asked(s3_endpoint, tmp_path):
    storage = s3_storage(s3_endpoint)
    await storage.put_bytes("t/v.mp4", b"v", "video/mp4")
    base = dict(data_dir=tmp_path, url_secret="s", public_base_url="https://gw.example/")
    assert (await result_url(storage, "t/v.mp4", StorageSettings(**base))).startswith(
        "https://gw.example/files/t/v.mp4?"
    )
    presigned = await result_url(storage, "t/v.mp4", StorageSettings(**base, storage_presign=True))
    assert presigned.startswith(s3_endpoint) and "X-Amz-Signature=" in presigned


# --------------------------------------------------------------------------- factory


def test_factory_default_is_local_results_dir(tmp_path):
    storage = create_storage(Settings(data_dir=tmp_path))
    assert isinstance(storage, LocalStorage) and storage.root == tmp_path / "results"


def test_factory_paths_and_errors(tmp_path):
    assert (
        create_storage(StorageSettings(data_dir=tmp_path, storage_url=f"file://{tmp_path}/x")).root
        == tmp_path / "x"
    )
    assert (
        create_storage(StorageSettings(data_dir=tmp_path, storage_url=str(tmp_path / "y"))).root
        == tmp_path / "y"
    )
    with pytest.raises(ValueError, match="unsupported scheme"):
        create_storage(StorageSettings(data_dir=tmp_path, storage_url="gs://bucket"))
    with pytest.raises(ValueError, match="no bucket"):
        create_storage(StorageSettings(data_dir=tmp_path, storage_url="s3:///prefix"))


async def test_factory_s3(s3_endpoint, tmp_path):
    bucket = make_bucket(s3_endpoint)
    storage = create_storage(
        StorageSettings(
            data_dir=tmp_path,
            storage_url=f"s3://{bucket}/pre/fix/",
            storage_endpoint=s3_endpoint,
            storage_region="us-east-1",
            storage_access_key="test",
            storage_secret_key="test",
            storage_allow_http=True,
        )
    )
    assert isinstance(storage, ObjectStorage) and storage.prefix == "pre/fix"
    await storage.put_bytes("k/a.txt", b"hi", "text/plain")
    assert await storage.read_bytes("k/a.txt") == b"hi"


# --------------------------------------------------------------------------- serving over real HTTP


def serve_app(storage: Storage) -> Starlette:
    async def files(request: Request) -> Response:
        try:
            return await file_response(storage, request.path_params["key"], request)
        except FileNotFoundError:
            return Response("not found", status_code=404)

    return Starlette(routes=[Route("/files/{key:path}", files, methods=["GET", "HEAD"])])


@pytest.fixture
def served(storage) -> Iterator[tuple[Storage, str]]:
    """``storage`` behind a real uvicorn server on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(serve_app(storage), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    yield storage, f"http://127.0.0.1:{port}/files/"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def test_serve_full_get(served, http):
    storage, base = served
    await storage.put_bytes("t/video-0.mp4", BLOB, "video/mp4")
    r = await http.get(base + "t/video-0.mp4")
    assert r.status_code == 200
    assert r.content == BLOB
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["content-length"] == str(len(BLOB))
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"].startswith('"') and r.headers["cache-control"]
    assert r.headers["last-modified"].endswith("GMT")
    assert "content-range" not in r.headers


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=-500", len(BLOB) - 500, len(BLOB) - 1),
        ("bytes=100000-", 100_000, len(BLOB) - 1),
        ("bytes=10-999999999", 10, len(BLOB) - 1),
        ("bytes=-999999999", 0, len(BLOB) - 1),
        (f"bytes={len(BLOB) - 1}-", len(BLOB) - 1, len(BLOB) - 1),
    ],
)
async def test_serve_ranges(served, http, header, start, end):
    storage, base = served
    await storage.put_bytes("t/v.mp4", BLOB, "video/mp4")
    r = await http.get(base + "t/v.mp4", headers={"Range": header})
    assert r.status_code == 206
    assert r.content == BLOB[start : end + 1]
    assert r.headers["content-range"] == f"bytes {start}-{end}/{len(BLOB)}"
    assert r.headers["content-length"] == str(end - start + 1)
    assert r.headers["content-type"] == "video/mp4"


@pytest.mark.parametrize(
    "header", [f"bytes={len(BLOB)}-", f"bytes={len(BLOB) + 10}-{len(BLOB) + 20}", "bytes=-0"]
)
async def test_serve_unsatisfiable(served, http, header):
    storage, base = served
    await storage.put_bytes("t/v.mp4", BLOB, "video/mp4")
    r = await http.get(base + "t/v.mp4", headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(BLOB)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "bytes=x-y"])
async def test_serve_ignores_ranges_it_does_not_do(served, http, header):
    storage, base = served
    await storage.put_bytes("t/v.mp4", BLOB, "video/mp4")
    r = await http.get(base + "t/v.mp4", headers={"Range": header})
    assert r.status_code == 200 and r.content == BLOB


async def test_serve_head(served, http):
    storage, base = served
    await storage.put_bytes("t/a.png", BLOB, "image/png")
    r = await http.head(base + "t/a.png")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(len(BLOB))
    assert r.headers["content-type"] == "image/png"
    r = await http.head(base + "t/a.png", headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == b""
    assert r.headers["content-length"] == "10"
    assert r.headers["content-range"] == f"bytes 0-9/{len(BLOB)}"
    # the connection is still usable after header-only responses
    assert (await http.get(base + "t/a.png")).content == BLOB


async def test_serve_conditionals(served, http):
    storage, base = served
    await storage.put_bytes("t/v.mp4", BLOB, "video/mp4")
    etag = (await http.head(base + "t/v.mp4")).headers["etag"]
    r = await http.get(base + "t/v.mp4", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    r = await http.get(base + "t/v.mp4", headers={"Range": "bytes=0-3", "If-Range": etag})
    assert r.status_code == 206 and r.content == BLOB[:4]
    r = await http.get(base + "t/v.mp4", headers={"Range": "bytes=0-3", "If-Range": '"stale"'})
    assert r.status_code == 200 and r.content == BLOB


async def test_serve_empty_and_missing(served, http):
    storage, base = served
    await storage.put_bytes("t/empty.json", b"", "application/json")
    r = await http.get(base + "t/empty.json")
    assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "0")
    assert (await http.get(base + "t/empty.json", headers={"Range": "bytes=0-"})).status_code == 416
    assert (await http.get(base + "t/missing.mp4")).status_code == 404


async def test_serve_large_object_streams(served, http, tmp_path):
    storage, base = served
    source = tmp_path / "big.bin"
    data = os.urandom(5 * MiB + 3)
    source.write_bytes(data)
    await storage.put_file("t/big.bin", source, "application/octet-stream")
    async with http.stream("GET", base + "t/big.bin") as r:
        assert r.status_code == 200
        received = b"".join([chunk async for chunk in r.aiter_bytes()])
    assert received == data
