"""Protocol limits of ``kling-gateway serve`` (issue #13 items 7 and 8): slow clients are cut off,
oversized header blocks get 431, every answer is the Kling envelope, and the access log never
shows a signed URL's signature. Needs a real server (raw sockets)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import GatewayProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    env = {
        "KLING_GATEWAY_HEADER_TIMEOUT_SECONDS": "1",
        "KLING_GATEWAY_BODY_TIMEOUT_SECONDS": "1",
        "KLING_GATEWAY_MAX_HEADER_BYTES": "8192",
        "KLING_GATEWAY_WORKERS": "0",
    }
    data_dir: Path = tmp_path_factory.mktemp("limits")
    with GatewayProcess(data_dir, extra_env=env, extra_args=["--log-level", "info"]) as gw:
        yield gw


def connect(gw: GatewayProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (status, headers, body); reads until Content-Length is satisfied."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_slowloris_headers_are_cut_off(server: GatewayProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        sock.settimeout(0.3)
        answer = b""
        while time.monotonic() - started < 8:  # one header byte every 0.3 s: never finishes
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                answer += sock.recv(65536)
                if answer:
                    break
            except TimeoutError:
                continue
        sock.settimeout(5)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        body = json.loads(answer.partition(b"\r\n\r\n")[2])
        assert body["code"] == 1200 and "headers not received within 1 s" in body["message"]
        assert time.monotonic() - started < 5


def test_slow_body_is_cut_off(server: GatewayProcess) -> None:
    key = server.create_account().api_key.encode()
    with connect(server) as sock:
        sock.sendall(
            b"POST /v1/videos/text2video HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + key + b'\r\nContent-Length: 100\r\n\r\n{"prompt":'
        )
        status, _headers, body = read_response(sock)
        assert status == 408
        envelope = json.loads(body)
        assert envelope["code"] == 1200 and "body not received within 1 s" in envelope["message"]
        assert closed(sock)


def test_oversized_header_block_is_431(server: GatewayProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        status, headers, body = read_response(sock)
        assert status == 431
        assert headers["content-type"] == "application/json"
        envelope = json.loads(body)
        assert envelope["code"] == 1200 and "8192-byte limit" in envelope["message"]
        assert envelope["request_id"] == headers["x-request-id"]


def test_keep_alive_requests_within_the_limits_are_served(server: GatewayProcess) -> None:
    with connect(server) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _headers, body = read_response(sock)
            assert status == 200, body
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock)[0] == 200


def test_access_log_redacts_signatures(server: GatewayProcess) -> None:
    secret_sig = "c2VjcmV0LXNpZ25hdHVyZS12YWx1ZQ"
    resp = httpx.get(f"{server.base_url}/files/a/b.mp4?expires=1&signature={secret_sig}", timeout=5)
    assert resp.status_code in (401, 403, 404)
    httpx.get(f"{server.base_url}/healthz?api_key=kg-should-not-appear", timeout=5)
    deadline = time.monotonic() + 5
    while "/healthz?api_key=" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log()
    assert "signature=REDACTED" in log and "api_key=REDACTED" in log, log[-2000:]
    assert secret_sig not in log and "kg-should-not-appear" not in log
