"""Test harness: real gateway processes on loopback, real databases, media helpers."""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from kling_gateway.store import TaskRow

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_DSN = os.environ.get("KLING_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_service(available: bool, reason: str) -> None:
    """Skip when a service is missing on a developer machine; fail under CI=true."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=2):
            return True
    except Exception:
        return False


class PostgresDatabase:
    """A throwaway database on the local PostgreSQL server."""

    def __init__(self) -> None:
        import psycopg

        self.name = "kg_test_" + secrets.token_hex(4)
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        params = dict(part.split("=", 1) for part in PG_ADMIN_DSN.split())
        self.url = (
            f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
            f"{params.get('port', '5432')}/{self.name}"
        )

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@dataclass
class Account:
    account_id: str
    api_key: str
    access_key: str
    secret_key: str
    webhook_secret: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def jwt_headers(self, **kwargs: Any) -> dict[str, str]:
        from kling_gateway.auth import mint_jwt

        return {"Authorization": f"Bearer {mint_jwt(self.access_key, self.secret_key, **kwargs)}"}


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


def self_signed_cert(directory: Path, host: str = "127.0.0.1") -> TlsFiles:
    """A throwaway certificate for ``host`` (an IP SAN, plus DNS ``localhost``), self-signed: trust
    it by its own file (httpx ``verify``, Node's ``NODE_EXTRA_CA_CERTS``), never by turning checks off."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "cert.pem", directory / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files.key.chmod(0o600)
    return files


@dataclass
class GatewayProcess:
    """``kling-gateway serve`` as a real child process on a free loopback port."""

    data_dir: Path
    database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    s3: Any = None  # the MotoS3 server holding this gateway's results, when it stores in S3
    tls: TlsFiles | None = None  # serve HTTPS with this certificate (--ssl-certfile/--ssl-keyfile)

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def verify(self) -> ssl.SSLContext | bool:
        """What an httpx client passes as ``verify`` to trust this server (its own certificate)."""
        return ssl.create_default_context(cafile=str(self.tls.cert)) if self.tls else True

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "KLING_GATEWAY_FETCH_ALLOW_HOSTS": "127.0.0.1,localhost",
            "KLING_GATEWAY_ENGINE_PROCESSES": "2",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        if self.database_url:
            env["KLING_GATEWAY_DATABASE_URL"] = self.database_url
        return env

    def start(self, timeout: float = 90.0) -> GatewayProcess:
        """Start the server and wait until /healthz answers; the deadline allows for a busy machine
        (a start is ~5 s of imports on one core, and the suite runs on two workers)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"server-{self.port}.log"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kling_gateway",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--log-level",
                "warning",
                *(
                    ["--ssl-certfile", str(self.tls.cert), "--ssl-keyfile", str(self.tls.key)]
                    if self.tls
                    else []
                ),
                *self.extra_args,
            ],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.log()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1, verify=self.verify()).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()  # never leave a slow starter running behind a failed test
        raise RuntimeError(f"gateway did not start in {timeout} s:\n{self.log()}")

    def __enter__(self) -> GatewayProcess:
        try:
            return self.start()
        except BaseException:
            self.stop()  # a server that failed to come up is not left running
            raise

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def cli(self, *args: str) -> Any:
        out = subprocess.run(
            [sys.executable, "-m", "kling_gateway", *args, "--data-dir", str(self.data_dir)],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"cli {args} failed: {out.stderr}")
        return json.loads(out.stdout)

    def create_account(self, name: str = "test") -> Account:
        issued = self.cli("keys", "create", "--name", name)
        return Account(
            issued["account_id"],
            issued["api_key"],
            issued["access_key"],
            issued["secret_key"],
            issued["webhook_secret"],
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill9(self) -> None:
        """SIGKILL the server; its render-pool processes must die with it (checked, bounded)."""
        assert self.proc is not None
        kill9_tree(self.proc)


# ---- processes (Linux /proc) ----------------------------------------------------------


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, their children...)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] != "Z":
                parents.setdefault(stat[1], []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"  # a zombie has freed its memory: it is gone


def wait_gone(pids: set[int], timeout: float = 15.0) -> set[int]:
    """Wait (bounded) until none of ``pids`` is alive; returns those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = {p for p in pids if alive(p)}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def kill9_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc`` and check its descendants die too (they must not be left behind)."""
    tree = descendants(proc.pid)
    proc.kill()
    proc.wait(5)
    left = wait_gone(tree)
    for pid in left:  # never leave them running, even when the assertion below fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes outlived their killed parent {proc.pid}: {sorted(left)}"


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; that value is returned. Tests wait on
    a condition with a deadline like this, never on a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


async def async_wait_until(
    predicate: Any, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"
) -> Any:
    """:func:`wait_until` for the event loop: ``predicate`` may be a coroutine function."""
    import asyncio
    import inspect

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


def wait_for_task(
    client: httpx.Client, path: str, task_id: str, headers: dict[str, str], timeout: float = 90.0
) -> dict[str, Any]:
    """Poll a task until it is terminal; returns its ``data``."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"{path}/{task_id}", headers=headers)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        if data["task_status"] in ("succeed", "failed"):
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} still {data['task_status']} after {timeout}s")
        time.sleep(0.2)


# ---- media made in tests --------------------------------------------------------------


def png_bytes(
    width: int, height: int, color: tuple[int, int, int] = (200, 80, 40), fmt: str = "PNG"
) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), color)
    draw = ImageDraw.Draw(img)
    draw.ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(30, 120, 220))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width``×``height`` pixels in a few dozen bytes (a decompression bomb's
    shape: its IDAT is tiny, the canvas it claims is not)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def wav_bytes(seconds: float, rate: int = 16000, freq: float = 440.0) -> bytes:
    import wave

    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def new_task_row(account_id: str, family: str, body: dict[str, Any]) -> TaskRow:
    """A new task's row as the service makes it (``submitted``, now), for tests that write to
    the store directly."""
    from kling_gateway.ids import new_numeric_id, now_ms
    from kling_gateway.store import TaskRow

    now = now_ms()
    return TaskRow(
        id=new_numeric_id(),
        account_id=account_id,
        family=family,
        external_task_id=body.get("external_task_id"),
        status="submitted",
        status_msg="",
        request=json.dumps(body),
        result=None,
        info_extra=None,
        final_unit_deduction=None,
        callback_url=None,
        engine="reference",
        upstream_task_id=None,
        attempts=0,
        lease_owner=None,
        lease_expires_at=None,
        available_at=now,
        created_at=now,
        updated_at=now,
        finished_at=None,
        files_expired_at=None,
    )
