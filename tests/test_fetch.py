"""Input fetching and the URL guard, against real HTTP servers on loopback."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from kling_gateway.config import Settings
from kling_gateway.errors import FetchError, TransferError, UnsafeURLError
from kling_gateway.httpclient import (
    MAX_REDIRECTS,
    USER_AGENT,
    check_url,
    create_client,
    guarded_stream,
)
from kling_gateway.media.fetch import decode_base64_input, fetch_input, is_url

MiB = 1 << 20
PAYLOAD = bytes(range(256)) * 40  # 10 KiB, every byte value


def make_server(host: str = "127.0.0.1") -> HTTPServer:
    server = HTTPServer(host=host, port=0, threaded=True)
    server.start()
    return server


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, HTTPServer]]:
    """Two servers for the module (stopping one takes half a second): 127.0.0.1, and 127.0.0.2
    as "another host" (Linux answers on all of 127.0.0.0/8)."""
    started = {host: make_server(host) for host in ("127.0.0.1", "127.0.0.2")}
    yield started
    for srv in started.values():
        srv.stop()


def _fresh(srv: HTTPServer) -> HTTPServer:
    srv.clear()  # handlers and request log
    return srv


@pytest.fixture
def server(servers) -> Iterator[HTTPServer]:
    yield _fresh(servers["127.0.0.1"])
    servers["127.0.0.1"].clear()


@pytest.fixture
def second_server(servers) -> Iterator[HTTPServer]:
    yield _fresh(servers["127.0.0.2"])
    servers["127.0.0.2"].clear()


def settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path, **kw)


@pytest.fixture
def open_settings(tmp_path) -> Settings:
    return settings(tmp_path, fetch_allow_hosts=["127.0.0.1"])


def stream_forever(chunk: bytes, delay: float = 0.0, limit: int = 64 * MiB) -> Iterator[bytes]:
    sent = 0
    while sent < limit:
        if delay:
            time.sleep(delay)
        sent += len(chunk)
        yield chunk


# --------------------------------------------------------------------------- downloads


async def test_download_ok_sends_user_agent(server, open_settings):
    server.expect_request("/in/cat.png").respond_with_data(PAYLOAD, content_type="image/png")
    data = await fetch_input(
        server.url_for("/in/cat.png"), field="image", kind="image", settings=open_settings
    )
    assert data == PAYLOAD
    ((request, _response),) = server.log
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("kling-gateway/")


async def test_content_length_over_cap_refused_before_body(server, tmp_path):
    # The declared length is a lie and the body never ends: only an early refusal finishes in time.
    s = settings(tmp_path, fetch_allow_hosts=["127.0.0.1"], fetch_timeout_seconds=10)
    server.expect_request("/big").respond_with_response(
        Response(stream_forever(b"x" * 1024, delay=0.05), headers={"Content-Length": str(11 * MiB)})
    )
    with pytest.raises(FetchError) as err:
        await fetch_input(server.url_for("/big"), field="image", kind="image", settings=s)
    assert str(err.value) == "image: download exceeds 10 MB"


async def test_chunked_stream_over_cap_aborted(server, open_settings):
    server.expect_request("/endless").respond_with_response(Response(stream_forever(b"a" * 65536)))
    with pytest.raises(FetchError) as err:
        await fetch_input(server.url_for("/endless"), field="audio", kind="audio", settings=open_settings)
    assert str(err.value) == "audio: download exceeds 5 MB"


async def test_global_cap_tightens_kind_cap(server, tmp_path):
    s = settings(tmp_path, fetch_allow_hosts=["127.0.0.1"], fetch_max_bytes=4096)
    server.expect_request("/v.mp4").respond_with_data(PAYLOAD)
    with pytest.raises(FetchError, match=r"^video_url: download exceeds 4 KB$"):
        await fetch_input(server.url_for("/v.mp4"), field="video_url", kind="video", settings=s)


async def test_http_404_names_field(server, open_settings):
    server.expect_request("/missing.mp4").respond_with_data("nope", status=404)
    with pytest.raises(FetchError) as err:
        await fetch_input(
            server.url_for("/missing.mp4"), field="video_url", kind="video", settings=open_settings
        )
    assert str(err.value) == "video_url: HTTP 404 from upstream"
    assert not err.value.retryable


async def test_http_503_is_retryable(server, open_settings):
    server.expect_request("/busy").respond_with_data("later", status=503)
    with pytest.raises(FetchError) as err:
        await fetch_input(server.url_for("/busy"), field="image", kind="image", settings=open_settings)
    assert str(err.value) == "image: HTTP 503 from upstream" and err.value.retryable


async def test_slow_drip_hits_overall_deadline(server, tmp_path):
    # Each byte arrives well within a per-read timeout; only a deadline on the whole download stops it.
    s = settings(tmp_path, fetch_allow_hosts=["127.0.0.1"], fetch_timeout_seconds=0.5)
    server.expect_request("/drip").respond_with_response(
        Response(stream_forever(b"x", delay=0.05, limit=200))
    )
    with pytest.raises(FetchError) as err:
        await fetch_input(server.url_for("/drip"), field="image", kind="image", settings=s)
    assert str(err.value) == "image: timed out after 0.5 s"
    assert err.value.retryable


async def test_unreachable_port(open_settings):
    with socket.socket() as sock:  # a port that is certainly closed: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(FetchError, match=r"^image: cannot reach 127\.0\.0\.1"):
            await fetch_input(
                f"http://127.0.0.1:{port}/x", field="image", kind="image", settings=open_settings
            )


# --------------------------------------------------------------------------- redirects


async def test_redirect_to_non_allowlisted_address_refused(server, second_server, open_settings):
    second_server.expect_request("/secret").respond_with_data("internal")
    server.expect_request("/hop").respond_with_data(
        "", status=302, headers={"Location": second_server.url_for("/secret")}
    )
    with pytest.raises(FetchError) as err:
        await fetch_input(server.url_for("/hop"), field="image", kind="image", settings=open_settings)
    assert str(err.value) == "image: host 127.0.0.2 is a loopback address"
    assert len(server.log) == 1
    assert second_server.log == []


async def test_redirects_followed_when_allowed(server, second_server, tmp_path):
    s = settings(tmp_path, fetch_allow_hosts=["127.0.0.0/8"])
    second_server.expect_request("/final.png").respond_with_data(PAYLOAD)
    server.expect_request("/a").respond_with_data("", status=301, headers={"Location": "/b"})
    server.expect_request("/b").respond_with_data(
        "", status=307, headers={"Location": second_server.url_for("/final.png")}
    )
    assert await fetch_input(server.url_for("/a"), field="image", kind="image", settings=s) == PAYLOAD


async def test_redirect_loop_stops(server, open_settings):
    server.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError, match=f"^image: more than {MAX_REDIRECTS} redirects$"):
        await fetch_input(server.url_for("/loop"), field="image", kind="image", settings=open_settings)
    assert len(server.log) == MAX_REDIRECTS + 1


async def test_post_redirects_keep_or_drop_body(server, open_settings):
    """307 repeats the POST with its body; 303 turns it into a GET (callbacks rely on this)."""
    seen: list[tuple[str, bytes]] = []

    def record(request: Request) -> Response:
        seen.append((request.method, request.get_data()))
        return Response("ok")

    server.expect_request("/cb").respond_with_data("", status=307, headers={"Location": "/cb2"})
    server.expect_request("/cb2").respond_with_handler(record)
    server.expect_request("/see-other").respond_with_data("", status=303, headers={"Location": "/cb2"})
    async with create_client(open_settings) as client:
        body = await guarded_stream(
            client,
            "POST",
            server.url_for("/cb"),
            open_settings,
            max_bytes=100,
            field="callback_url",
            content=b'{"a":1}',
            headers={"Content-Type": "application/json"},
        )
        assert body == b"ok"
        await guarded_stream(
            client,
            "POST",
            server.url_for("/see-other"),
            open_settings,
            max_bytes=100,
            field="callback_url",
            content=b'{"a":1}',
        )
    assert seen == [("POST", b'{"a":1}'), ("GET", b"")]


async def test_credentials_not_forwarded_to_another_origin(server, second_server, tmp_path):
    s = settings(tmp_path, fetch_allow_hosts=["127.0.0.0/8"])
    second_server.expect_request("/cb").respond_with_data("ok")
    server.expect_request("/cb").respond_with_data(
        "", status=307, headers={"Location": second_server.url_for("/cb")}
    )
    async with create_client(s) as client:
        await guarded_stream(
            client, "POST", server.url_for("/cb"), s, max_bytes=100, field="callback_url",
            content=b"{}", headers={"Authorization": "Bearer t", "Webhook-Signature": "v1,abc"},
        )  # fmt: skip
    ((first, _),) = server.log
    ((second, _),) = second_server.log
    assert first.headers["Authorization"] == "Bearer t"
    assert "Authorization" not in second.headers
    assert second.headers["Webhook-Signature"] == "v1,abc" and second.get_data() == b"{}"


# --------------------------------------------------------------------------- the address guard


async def test_loopback_refused_by_default_without_traffic(server, tmp_path):
    server.expect_request("/x").respond_with_data(PAYLOAD)
    with pytest.raises(FetchError) as err:
        await fetch_input(server.url_for("/x"), field="image", kind="image", settings=settings(tmp_path))
    assert str(err.value) == "image: host 127.0.0.1 is a loopback address"
    assert server.log == []


@pytest.mark.parametrize(
    "options",
    [
        {"fetch_allow_hosts": ["127.0.0.1"]},
        {"fetch_allow_hosts": ["127.0.0.0/8"]},
        {"fetch_allow_hosts": ["localhost", " 127.0.0.1 "]},
        {"fetch_allow_private": True},
    ],
)
async def test_loopback_opened_by_settings(server, tmp_path, options):
    server.expect_request("/x").respond_with_data(PAYLOAD)
    data = await fetch_input(
        server.url_for("/x"), field="image", kind="image", settings=settings(tmp_path, **options)
    )
    assert data == PAYLOAD


async def test_allowlisted_host_name(server, tmp_path):
    # "localhost" may resolve to ::1 first, where nothing listens: the backend tries every approved address.
    s = settings(tmp_path, fetch_allow_hosts=["LOCALHOST"])
    server.expect_request("/x").respond_with_data(PAYLOAD)
    url = f"http://localhost:{server.port}/x"
    assert await fetch_input(url, field="image", kind="image", settings=s) == PAYLOAD
    # the name is allowed, not the address
    with pytest.raises(FetchError, match="loopback"):
        await fetch_input(server.url_for("/x"), field="image", kind="image", settings=s)


async def test_host_name_resolving_to_loopback_refused(tmp_path):
    with pytest.raises(UnsafeURLError) as err:
        await check_url("http://localhost:8080/a.png", settings(tmp_path), field="image")
    assert str(err.value) == "image: host localhost is not allowed (it does not resolve to a public address)"
    assert "127.0.0.1" not in str(err.value)  # the DNS answer is not revealed


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://169.254.169.254/latest/meta-data/",
            "host 169.254.169.254 is a link-local address (cloud metadata service)",
        ),
        ("http://10.0.0.5/a.png", "host 10.0.0.5 is a private address"),
        ("http://172.16.3.4/a.png", "host 172.16.3.4 is a private address"),
        ("http://192.168.1.1/a.png", "host 192.168.1.1 is a private address"),
        ("http://100.64.0.1/a.png", "host 100.64.0.1 is a shared (CGNAT) address"),
        ("http://224.0.0.1/a.png", "host 224.0.0.1 is a multicast address"),
        ("http://240.0.0.1/a.png", "host 240.0.0.1 is a reserved address"),
        ("http://0.0.0.0/a.png", "host 0.0.0.0 is an unspecified address"),
        ("http://[::1]/a.png", "host ::1 is a loopback address"),
        ("http://[fe80::1]/a.png", "host fe80::1 is a link-local address"),
        ("http://[fd12::1]/a.png", "host fd12::1 is a private address"),
        ("http://[::ffff:10.0.0.1]/a.png", "host ::ffff:10.0.0.1 is a private address (embedded 10.0.0.1)"),
        ("http://[64:ff9b::7f00:1]/a.png", "host 64:ff9b::7f00:1 is a loopback address (embedded 127.0.0.1)"),
        # numeric forms the resolver turns into 127.0.0.1
        (
            "http://2130706433/a.png",
            "host 2130706433 is not allowed (it does not resolve to a public address)",
        ),
        ("http://0x7f.1/a.png", "host 0x7f.1 is not allowed (it does not resolve to a public address)"),
        ("http://127.1/a.png", "host 127.1 is not allowed (it does not resolve to a public address)"),
        ("ftp://example.com/a.png", "only http and https URLs are allowed"),
        ("file:///etc/passwd", "only http and https URLs are allowed"),
    ],
)
async def test_unsafe_urls_refused(tmp_path, url, message):
    with pytest.raises(UnsafeURLError) as err:
        await check_url(url, settings(tmp_path), field="callback_url")
    assert str(err.value) == f"callback_url: {message}"
    with pytest.raises(FetchError) as ferr:
        await fetch_input(url, field="image", kind="image", settings=settings(tmp_path))
    assert str(ferr.value) == f"image: {message}"


async def test_public_literal_passes_check(tmp_path):
    await check_url("https://93.184.216.34/a.png", settings(tmp_path))  # no DNS, no traffic
    await check_url("http://[2606:4700::1]:8443/a.png", settings(tmp_path))


async def test_guard_checks_before_any_byte_even_with_plain_client(server, tmp_path):
    """0.0.0.0 reaches a loopback listener on Linux; the pre-flight check must stop it first."""
    server.expect_request("/x").respond_with_data(PAYLOAD)
    async with httpx.AsyncClient() as plain:  # no connect-time guard at all
        for host in ("0.0.0.0", "127.0.0.1", "[::ffff:127.0.0.1]"):
            with pytest.raises(UnsafeURLError, match="^image: host "):
                await guarded_stream(
                    plain,
                    "GET",
                    f"http://{host}:{server.port}/x",
                    settings(tmp_path),
                    max_bytes=MiB,
                    field="image",
                )
    assert server.log == []


async def test_ipv6_loopback_refused_without_traffic(tmp_path):
    try:
        srv = make_server("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        srv.expect_request("/x").respond_with_data(PAYLOAD)
        url = f"http://[::1]:{srv.port}/x"
        with pytest.raises(FetchError, match=r"^image: host ::1 is a loopback address$"):
            await fetch_input(url, field="image", kind="image", settings=settings(tmp_path))
        assert srv.log == []
        data = await fetch_input(
            url, field="image", kind="image", settings=settings(tmp_path, fetch_allow_hosts=["::1"])
        )
        assert data == PAYLOAD
    finally:
        srv.stop()


async def test_client_guards_at_connect_time(server, tmp_path):
    """The DNS-rebinding guard: the client itself refuses, even when the pre-flight check is skipped."""
    server.expect_request("/x").respond_with_data(PAYLOAD)
    async with create_client(settings(tmp_path)) as client:
        with pytest.raises(UnsafeURLError, match="loopback"):
            await client.get(server.url_for("/x"))
    assert server.log == []
    async with create_client(settings(tmp_path, fetch_allow_hosts=["127.0.0.1"])) as client:
        assert (await client.get(server.url_for("/x"))).content == PAYLOAD
    async with create_client(settings(tmp_path), guard=False) as client:  # operator-configured upstreams
        assert (await client.get(server.url_for("/x"))).content == PAYLOAD


async def test_unknown_host(tmp_path):
    with pytest.raises(TransferError, match=r"^image: cannot resolve host no-such-host\.invalid$"):
        await check_url("http://no-such-host.invalid/a.png", settings(tmp_path), field="image")


# --------------------------------------------------------------------------- Base64


RAW = bytes(range(256)) * 3  # contains bytes whose Base64 uses '+' and '/'


async def test_base64_plain(tmp_path):
    value = base64.b64encode(RAW).decode()
    assert "+" in value and "/" in value
    assert await fetch_input(value, field="image", kind="image", settings=settings(tmp_path)) == RAW


@pytest.mark.parametrize(
    "value",
    [
        "data:image/png;base64," + base64.b64encode(RAW).decode(),
        "DATA:image/jpeg;name=x.jpg;base64," + base64.b64encode(RAW).decode(),
        base64.urlsafe_b64encode(RAW).decode(),
        base64.b64encode(RAW).decode().rstrip("="),
        "\n".join(base64.encodebytes(RAW).decode().splitlines()) + "\n",
        "  " + " \r\n ".join(base64.b64encode(RAW).decode()[i : i + 60] for i in range(0, 1024, 60)),
    ],
    ids=["data-prefix", "data-prefix-params", "urlsafe", "no-padding", "mime-lines", "crlf-spaces"],
)
async def test_base64_tolerated_forms(tmp_path, value):
    assert await fetch_input(value, field="image", kind="image", settings=settings(tmp_path)) == RAW


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64 at all!", "image_tail: not a URL and not valid Base64"),
        ("QUJD=RA==", "image_tail: not a URL and not valid Base64"),
        ("QUJDR", "image_tail: not a URL and not valid Base64"),  # 5 chars: no byte boundary
        ("data:image/png;base64,", "image_tail: is empty"),
        ("   ", "image_tail: is empty"),
        ("www.example.com/a.png", "image_tail: not a URL and not valid Base64"),
    ],
)
async def test_base64_invalid(tmp_path, value, message):
    with pytest.raises(FetchError) as err:
        await fetch_input(value, field="image_tail", kind="image", settings=settings(tmp_path))
    assert str(err.value) == message


def test_decode_base64_size_cap():
    value = base64.b64encode(b"x" * 2048).decode()
    assert decode_base64_input(value, field="image", max_bytes=2048) == b"x" * 2048
    with pytest.raises(FetchError, match=r"^image: data exceeds 2047 bytes$"):
        decode_base64_input(value, field="image", max_bytes=2047)


async def test_base64_over_kind_cap(tmp_path):
    value = base64.b64encode(b"\0" * (5 * MiB + 1)).decode()
    with pytest.raises(FetchError, match=r"^audio: data exceeds 5 MB$"):
        await fetch_input(value, field="audio", kind="audio", settings=settings(tmp_path))


def test_is_url():
    assert is_url("https://example.com/a.png")
    assert is_url("  HTTP://example.com/a.png")
    assert not is_url("ftp://example.com/a.png")
    assert not is_url(base64.b64encode(b"http://").decode())
    assert not is_url("aHR0cDovL2V4YW1wbGUuY29t")
