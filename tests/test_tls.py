"""``serve`` over HTTPS (``--ssl-certfile``/``--ssl-keyfile``, ``KLING_GATEWAY_SSL_*``): a real
server with a throwaway certificate, and the configurations it refuses before touching the store.
The npm SDK that needs HTTPS is driven in test_thirdparty_npm.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support import GatewayProcess, free_port, self_signed_cert


@pytest.fixture(scope="module")
def tls_gateway(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("tls")
    with GatewayProcess(root / "data", tls=self_signed_cert(root / "tls")) as server:
        yield server


def test_https_with_the_certificate_trusted_and_refused_without(tls_gateway: GatewayProcess) -> None:
    assert tls_gateway.base_url.startswith("https://127.0.0.1:")
    account = tls_gateway.create_account("tls")
    with httpx.Client(base_url=tls_gateway.base_url, verify=tls_gateway.verify(), timeout=30) as http:
        created = http.post(
            "/v1/images/generations", json={"prompt": "a kite", "n": 1}, headers=account.jwt_headers()
        )
        assert created.status_code == 200, created.text
        assert created.json()["data"]["task_status"] == "submitted"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(tls_gateway.base_url + "/healthz", timeout=5)  # the system store does not know it
    plain = "http://" + tls_gateway.base_url.removeprefix("https://")
    with pytest.raises(httpx.RemoteProtocolError):  # no TLS handshake, no answer: nothing in clear
        httpx.get(plain + "/healthz", timeout=5)


def test_the_start_banner_names_the_https_address(tls_gateway: GatewayProcess) -> None:
    assert f"on {tls_gateway.base_url}" in tls_gateway.log()


def refused(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``serve`` with a TLS configuration that cannot work: it exits 1 with one line and
    leaves no store behind (the first-start key is never made)."""
    data = tmp_path / "data"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kling_gateway",
            "serve",
            "--port",
            str(free_port()),
            "--data-dir",
            str(data),
            *args,
        ],
        env={**GatewayProcess(data).env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert not (data / "gateway.sqlite3").exists()
    assert "Traceback" not in done.stderr
    return done.stderr.strip()


def test_a_key_without_a_certificate_is_refused_from_the_environment(tmp_path: Path) -> None:
    files = self_signed_cert(tmp_path / "tls")
    message = refused(tmp_path, env={"KLING_GATEWAY_SSL_KEYFILE": str(files.key)})
    assert (
        message
        == "error: ssl_keyfile is set but ssl_certfile is not (give both, or a certfile holding the key)"
    )


def test_a_missing_certificate_file_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, "--ssl-certfile", str(tmp_path / "nope.pem"))
    assert message == f"error: ssl_certfile: {tmp_path / 'nope.pem'} is not a readable file"


def test_a_key_that_does_not_match_the_certificate_is_refused(tmp_path: Path) -> None:
    one, other = self_signed_cert(tmp_path / "one"), self_signed_cert(tmp_path / "other")
    message = refused(tmp_path, "--ssl-certfile", str(one.cert), "--ssl-keyfile", str(other.key))
    assert message.startswith(f"error: ssl_certfile: cannot load {one.cert} with key {other.key}: ")
    assert "KEY_VALUES_MISMATCH" in message or "key values mismatch" in message


def test_a_certificate_holding_its_key_needs_no_keyfile(tmp_path: Path) -> None:
    from kling_gateway.config import Settings
    from kling_gateway.tls import tls_options, tls_problem

    files = self_signed_cert(tmp_path / "tls")
    both = tmp_path / "both.pem"
    both.write_bytes(files.cert.read_bytes() + files.key.read_bytes())
    settings = Settings(data_dir=tmp_path, ssl_certfile=both)
    assert tls_problem(settings) is None
    assert tls_options(settings) == {"ssl_certfile": str(both)}
    assert settings.base_url() == "https://127.0.0.1:8000"
    assert tls_options(Settings(data_dir=tmp_path)) == {}
