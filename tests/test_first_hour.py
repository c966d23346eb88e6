"""A new user's first hour: offline docs, the front page, the start banner, a store that is never
created by accident, clear validation messages, and no processes left behind by a kill -9."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from kling_gateway.api import create_app
from kling_gateway.config import Settings
from kling_gateway.keys import create_account
from support import GatewayProcess, alive, descendants, wait_gone

SECRET = "sk-upstream-secret-never-shown"
CHANNEL = {
    "name": "upstream-a",
    "type": "kling-compatible",
    "base_url": "http://127.0.0.1:9",
    "api_key": SECRET,
}


@pytest.fixture()
async def app_client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    settings = Settings(data_dir=tmp_path / "data", workers=0, channels=[CHANNEL])
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        gateway = app.state.gateway
        issued = await create_account(gateway.accounts, gateway.box, "t")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            yield client, issued.api_key


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append(value)


def _refs(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    return parser.refs


EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_same_origin_assets(app_client, page: str) -> None:
    client, _ = app_client
    response = await client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    refs = _refs(response.text)
    assert refs, response.text
    assert "cdn." not in response.text and "googleapis" not in response.text
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), f"{page} loads {ref} from elsewhere"
        asset = await client.get(ref)
        assert asset.status_code == 200, ref
        kind = EXPECTED_TYPES[Path(ref).suffix]
        assert kind in asset.headers["content-type"], (ref, asset.headers["content-type"])
        assert len(asset.content) > 100
    script = next(r for r in refs if r.endswith(".js"))
    body = (await client.get(script)).text
    assert ("SwaggerUIBundle" in body) if page == "/docs" else ("Redoc" in body)
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200 and spec.json()["info"]["title"] == "kling-gateway"


async def test_front_page_html_and_json_without_auth_or_secrets(app_client) -> None:
    from kling_gateway import __version__

    client, api_key = app_client
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for link in ("/console/", "/docs", "/openapi.json", "/healthz", "docs/client.md"):
        assert link in page.text
    assert __version__ in page.text and "upstream-a" in page.text and "reference" in page.text
    data = (await client.get("/", headers={"Accept": "application/json"})).json()
    assert data["version"] == __version__
    assert data["engines"] == ["upstream-a", "reference"]
    assert data["relay_channels"] == ["upstream-a"]
    assert data["links"]["api_docs"] == "/docs" and data["links"]["health"] == "/healthz"
    for text in (page.text, json.dumps(data)):
        assert SECRET not in text and api_key not in text and "127.0.0.1:9" not in text


async def test_missing_and_out_of_range_fields_name_what_is_allowed(app_client) -> None:
    client, api_key = app_client
    auth = {"Authorization": f"Bearer {api_key}"}
    cases = [
        ({"prompt": "rain"}, "duration: is required (seconds from 3.0 to 10.0"),
        ({"prompt": "rain", "duration": 12}, "duration: must be seconds from 3.0 to 10.0"),
        ({"duration": 5}, "prompt: is required (1 to 200 characters)"),
    ]
    for body, expected in cases:
        response = await client.post("/v1/audio/text-to-audio", json=body, headers=auth)
        assert response.status_code == 400, response.text
        answer = response.json()
        assert answer["code"] == 1201 and expected in answer["message"], answer
    camera = {"prompt": "a fox", "camera_control": {"type": "simple", "config": {"zoom": 20}}}
    response = await client.post("/v1/videos/text2video", json=camera, headers=auth)
    assert response.json()["code"] == 1201
    assert "camera_control.config.zoom: must be a number from -10 to 10, got 20" in response.json()["message"]
    listed = await client.get("/v1/audio/text-to-audio", headers=auth)
    assert listed.json()["data"] == []  # nothing was stored


# ---- the CLI and the banner, as subprocesses ------------------------------------------------


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    return subprocess.run(
        [sys.executable, "-m", "kling_gateway", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [["keys", "list"], ["keys", "revoke", "acc_x"]])
def test_read_only_commands_never_create_a_store(tmp_path: Path, command: list[str]) -> None:
    out = _cli(*command, cwd=tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "no store at" in out.stderr and str(tmp_path / "data") in out.stderr
    assert "--data-dir" in out.stderr and out.stdout == ""
    assert not (tmp_path / "data").exists()


def test_doctor_reports_and_creates_nothing(tmp_path: Path) -> None:
    out = _cli("doctor", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^OK +encoder libx264", out.stdout, re.M) and re.search(
        r"^OK +encoder aac", out.stdout, re.M
    )
    assert re.search(r"^WARN database .*no store yet", out.stdout, re.M)
    assert not (tmp_path / "data").exists()
    broken = _cli("doctor", "--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/none", cwd=tmp_path)
    assert broken.returncode == 1 and re.search(r"^FAIL database .*unreachable", broken.stdout, re.M)
    assert "fix:" in broken.stdout


def test_doctor_on_a_migrated_store(tmp_path: Path) -> None:
    assert _cli("migrate", "--data-dir", str(tmp_path / "d"), cwd=tmp_path).returncode == 0
    out = _cli("doctor", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert re.search(r"^OK +database .*migrations current", out.stdout, re.M), out.stdout
    assert re.search(rf"^OK +storage {re.escape(str(tmp_path / 'd'))}", out.stdout, re.M), out.stdout


def test_banner_first_start_then_later_starts(tmp_path: Path) -> None:
    data = tmp_path / "d"
    with GatewayProcess(data) as first:
        banner = _wait_log(first, "Then poll it")
    keys = {k: v for k, v in re.findall(r"^\s+(api_key|secret_key|webhook_secret)\s+=\s+(\S+)", banner, re.M)}
    assert set(keys) == {"api_key", "secret_key", "webhook_secret"}
    assert keys["api_key"].startswith("kg-") and keys["webhook_secret"].startswith("whsec_")
    assert f"data dir : {data.resolve()}" in banner and "database : sqlite+aiosqlite:///" in banner
    assert f"kling-gateway keys create --name NAME --data-dir {data.resolve()}" in banner
    with GatewayProcess(data) as again:
        later = _wait_log(again, "keys list")
    assert "accounts : 1 (1 active)" in later and "keys create --name NAME" in later
    for secret in keys.values():
        assert secret not in later


def test_database_password_is_not_printed(tmp_path: Path) -> None:
    from kling_gateway.store_info import describe

    settings = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://gw:hunter2@db.example/kg")
    text = describe(settings)
    assert "hunter2" not in text and "gw:***@db.example/kg" in text


def test_port_in_use_says_how_to_pick_another(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = _cli("serve", "--port", str(port), "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert out.returncode == 1
    assert "already in use" in out.stderr and "--port" in out.stderr
    assert "api_key" not in out.stdout  # no key was made for a server that never listened


def _wait_log(server: GatewayProcess, marker: str, timeout: float = 20.0) -> str:
    import time

    deadline = time.monotonic() + timeout
    while marker not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    return server.log()


# ---- kill -9 mid-render: nothing outlives the gateway ----------------------------------------


def _render_dirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("kling-ref-*"))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find child processes")
def test_kill9_mid_render_leaves_no_processes_and_no_temp_dirs(tmp_path: Path) -> None:
    import time

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    server = GatewayProcess(tmp_path / "d", extra_env=env).start()
    try:
        account = server.create_account("k")
        headers = {"Authorization": f"Bearer {account.api_key}"}
        body = {"prompt": "a long slow pan", "duration": "10", "mode": "pro", "aspect_ratio": "16:9"}
        created = httpx.post(
            server.base_url + "/v1/videos/text2video", json=body, headers=headers, timeout=30
        )
        assert created.json()["code"] == 0, created.text
        deadline = time.monotonic() + 60
        while not _render_dirs(tmp):  # the engine makes its temp dir right before rendering
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.02)
        assert server.proc is not None
        pid = server.proc.pid
        (stale,) = _render_dirs(tmp)
        assert stale.name.startswith(f"kling-ref-{pid}-")
        pool = descendants(pid)
        assert pool, "the render pool has processes"
        server.proc.kill()
        server.proc.wait(5)
        left = wait_gone(pool)
        for leftover in left:
            os.kill(leftover, 9)
        assert not left, f"render-pool processes outlived the killed gateway: {sorted(left)}"
        assert not alive(pid) and stale.exists()  # nobody cleaned up: the next start must
    finally:
        server.stop()
    with GatewayProcess(tmp_path / "d", extra_env=env) as restarted:
        deadline = time.monotonic() + 30
        while stale.exists():  # removed when the reference engine starts
            assert time.monotonic() < deadline, restarted.log()
            time.sleep(0.05)
        assert restarted.proc is not None and alive(restarted.proc.pid)


def test_stale_dir_cleanup_spares_live_owners(tmp_path: Path) -> None:
    from kling_gateway.engines.reference.pool import clean_stale_temp_dirs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = tmp_path / f"kling-ref-{os.getpid()}-abc"
    theirs = tmp_path / f"kling-ref-{dead.pid}-abc"
    unnamed = tmp_path / "kling-ref-nopid"
    for d in (mine, theirs, unnamed):
        d.mkdir()
        (d / "f").write_bytes(b"x")
    assert clean_stale_temp_dirs(tmp_path) == [theirs]
    assert mine.exists() and unnamed.exists() and not theirs.exists()


@pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="no chromium on this machine: the real-browser check of /docs and / runs where one is installed",
)
def test_docs_render_in_a_headless_browser_offline(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with GatewayProcess(tmp_path / "d") as server, playwright.sync_playwright() as p:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        outside: list[str] = []
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(server.base_url)
                else (outside.append(route.request.url), route.abort())
            ),
        )
        page.goto(server.base_url + "/docs")
        page.wait_for_selector(".opblock", timeout=30000)
        assert page.locator(".opblock").count() > 5
        page.goto(server.base_url + "/")
        assert "kling-gateway" in page.title()
        browser.close()
        assert outside == []
