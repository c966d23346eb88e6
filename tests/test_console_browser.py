"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright) against a
real gateway process: sign in, the task list, a task's media playing from its signed URL, the
playground to ``succeed``, API errors next to their field, the operator's keys, usage.

One browser for the module; each test opens a fresh context (its own sessionStorage). Media shown
in the page are compared with the same files decoded here. Screenshots of every page go to
``$CONSOLE_SCREENSHOTS`` (or ``$KLING_CONSOLE_SCREENSHOTS``) (default: the module's temporary directory) for review.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from kling_gateway.media.probe import probe_av, probe_image
from kling_gateway.schemas import FAMILIES
from support import Account, GatewayProcess, png_bytes, require_service, wait_for_task, wav_bytes
from test_relay_faults import FakeUpstream, channel

CHROMIUM = os.environ.get("KLING_TEST_CHROMIUM", "/usr/bin/chromium")
ADMIN = "console-admin-token"
# a default wait, not a timing check: generous, because beside a second test worker a render that
# takes 6 s alone took over 60 s (seen under pytest-xdist on 2 cores)
TIMEOUT_MS = 180_000


def _playwright_ready() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists()


RELAYED_MODEL = "kling-v2"  # images of this model go to the relay channel "edge"; the rest stay local


@pytest.fixture(scope="module")
def edge() -> Iterator[FakeUpstream]:
    """A fake Kling upstream that answers every create with a 500: the channel's circuit opens."""
    upstream = FakeUpstream(mode="down").start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, edge: FakeUpstream) -> Iterator[GatewayProcess]:
    env = {"KLING_GATEWAY_ADMIN_TOKEN": ADMIN}
    data = tmp_path_factory.mktemp("console-gw")
    config = data / "channels.toml"
    config.write_text(
        channel(
            "edge",
            edge,
            families=["images/generations"],
            models=[RELAYED_MODEL],
            breaker_threshold=1,
            breaker_cooldown=600,
        )
    )
    with GatewayProcess(data, extra_env=env, extra_args=["--config", str(config)]) as gw:
        yield gw


@pytest.fixture(scope="module")
def account(server: GatewayProcess) -> Account:
    return server.create_account("console")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_service(_playwright_ready(), f"Playwright or Chromium ({CHROMIUM}) is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("CONSOLE_SCREENSHOTS") or os.environ.get("KLING_CONSOLE_SCREENSHOTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture()
def page(browser: Any, server: GatewayProcess) -> Iterator[Any]:
    context = browser.new_context(base_url=server.base_url, viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    yield tab
    context.close()


def sign_in(page: Any, token: str, role: str = "account", *, accepted: bool = True) -> None:
    page.goto("/console/")
    page.get_by_label("Sign in as").select_option(role)
    page.get_by_label("API key or admin token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    if accepted:
        page.locator("#nav:not([hidden])").wait_for()


def fetch(server: GatewayProcess, url: str, tmp: Path, name: str) -> Path:
    path = tmp / name
    path.write_bytes(httpx.get(url, timeout=30).raise_for_status().content)
    return path


def test_task_list_opens_an_image_task_that_shows_the_real_image(
    page: Any, server: GatewayProcess, account: Account, shots: Path, tmp_path: Path
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        r = http.post(
            "/v1/images/generations",
            json={"prompt": "a red fox", "aspect_ratio": "4:3"},
            headers=account.bearer,
        )
        task_id = r.json()["data"]["task_id"]
        done = wait_for_task(http, "/v1/images/generations", task_id, account.bearer)
    assert done["task_status"] == "succeed", done
    truth = probe_image(fetch(server, done["task_result"]["images"][0]["url"], tmp_path, "image"))

    sign_in(page, account.api_key)
    row = page.locator(f'#task-table tr[data-task-id="{task_id}"]')
    row.wait_for()
    assert "images/generations" in row.inner_text() and "succeed" in row.inner_text()
    page.screenshot(path=shots / "tasks.png", full_page=True)
    page.get_by_label("Family").select_option("videos/text2video")  # filter it out, then back in
    page.get_by_role("button", name="Filter").click()
    page.wait_for_function(  # the filtered page replaced the first: the image task is not on it
        f"() => !document.querySelector('tr[data-task-id=\"{task_id}\"]')"
        " && document.querySelector('#task-table tbody tr')"
    )
    assert "family=videos" in page.url
    page.goto("/console/#/tasks?family=images/generations")
    row.wait_for()
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing wider than the screen
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=shots / "tasks-phone.png", full_page=True)
    page.set_viewport_size({"width": 1100, "height": 900})
    assert account.api_key not in page.url  # the key never goes into a URL
    row.get_by_role("link", name=task_id).click()

    image = page.locator("#media img")
    image.wait_for()
    page.wait_for_function(
        "() => { const i = document.querySelector('#media img'); return i && i.complete && i.naturalWidth > 0 }"
    )
    size = image.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert size == [truth.width, truth.height]
    assert page.locator("#history li").last.get_attribute("data-status") == "succeed"
    assert f'"task_id": "{task_id}"' in page.locator("#raw").inner_text()
    assert "$KLING_API_KEY" in page.locator("#curl").inner_text()
    page.screenshot(path=shots / "task-image.png", full_page=True)


class _HeldImage:
    """A loopback image server that answers only once released: the task fetching it stays
    ``submitted`` until then."""

    def __init__(self) -> None:
        self.release = threading.Event()
        held = self.release
        body = png_bytes(320, 320)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                held.wait(60)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/held.png"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_task_list_follows_a_task_created_while_it_is_open(
    page: Any, server: GatewayProcess, account: Account, shots: Path
) -> None:
    held = _HeldImage()
    try:
        sign_in(page, account.api_key)
        page.locator("#task-table tbody tr").first.wait_for()
        page.evaluate("() => { window.notReloaded = true }")
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            body = {"image": held.url, "prompt": "a live kite"}
            task_id = http.post("/v1/videos/image2video", json=body, headers=account.bearer).json()["data"][
                "task_id"
            ]
        row = page.locator(f'#task-table tr[data-task-id="{task_id}"]')
        row.wait_for()  # it appeared without a reload, still waiting for its image
        assert row.get_attribute("data-seen") == "submitted"
        held.release.set()
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            done = wait_for_task(http, "/v1/videos/image2video", task_id, account.bearer)
        assert done["task_status"] == "succeed", done
        row.locator('[data-status="succeed"]').wait_for(timeout=30_000)  # followed from its stream
        seen = row.get_attribute("data-seen").split()
        assert seen[0] == "submitted" and seen[-1] == "succeed", seen
        assert page.evaluate("() => window.notReloaded === true")
        assert page.locator(f'#task-table tr[data-task-id="{task_id}"]').count() == 1  # listed once
        page.screenshot(path=shots / "tasks-live.png", full_page=True)
    finally:
        held.close()


# The accessible name of the focused control: its <label>, else aria-label, else its text.
FOCUSED_NAME = """() => { const a = document.activeElement;
  return [a.id, ((a.labels && a.labels[0] && a.labels[0].textContent) || a.getAttribute('aria-label')
    || a.textContent || '').trim()] }"""


def test_keyboard_alone_signs_in_and_walks_the_playground_with_every_control_named(
    page: Any, account: Account
) -> None:
    page.goto("/console/")
    page.locator("#token").wait_for()
    order = [page.evaluate(FOCUSED_NAME)]  # the key field has the focus on arrival
    for key in ["Tab", "Shift+Tab", "Shift+Tab", "Shift+Tab", "Shift+Tab"]:
        page.keyboard.press(key)
        order.append(page.evaluate(FOCUSED_NAME))
    assert order == [
        ["token", "API key or admin token"],
        ["", "Sign in"],
        ["token", "API key or admin token"],
        ["role", "Sign in as"],
        ["theme", "Dark theme"],  # the hidden page links and Sign out are not in the order
        ["", "kling-gateway console"],
    ], order
    for _ in range(3):
        page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED_NAME)[0] == "token"
    page.keyboard.type(account.api_key)
    page.keyboard.press("Enter")  # submits the form
    page.locator("#task-table").wait_for()

    page.goto("/console/#/playground?family=videos/text2video")
    page.locator("#playground").wait_for()
    page.locator("#pg-family").focus()
    names = [page.evaluate(FOCUSED_NAME)]
    controls = page.locator("main input, main select, main textarea, main button").count()
    for _ in range(controls + 5):
        page.keyboard.press("Tab")
        names.append(page.evaluate(FOCUSED_NAME))
        if names[-1][1] == "Submit":
            break
    assert names[0] == ["pg-family", "Family"] and names[-1][1] == "Submit", names
    unnamed = [n for n in names if not n[1]]
    assert not unnamed, unnamed
    prompt = [n for n in names if n[0] == "f-prompt"]
    assert prompt and prompt[0][1] == "prompt", names  # the schema's fields are in the tab order
    missing = page.evaluate(
        "() => [...document.querySelectorAll('main input, main select, main textarea')]"
        ".filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')).map(c => c.id || c.name)"
    )
    assert missing == []


def test_theme_follows_the_system_until_toggled_and_the_first_load_is_small(
    browser: Any, server: GatewayProcess, account: Account, shots: Path
) -> None:
    context = browser.new_context(base_url=server.base_url, color_scheme="dark")
    try:
        tab = context.new_page()
        tab.goto("/console/")
        tab.locator("#token").wait_for()
        tab.wait_for_load_state("networkidle")
        transferred = tab.evaluate(
            "() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
            ".reduce((n, e) => n + e.transferSize, 0)"
        )
        assert 1000 < transferred < 200_000, transferred  # measured, and under 200 KB
        background = "() => getComputedStyle(document.body).backgroundColor"
        assert tab.evaluate("() => document.documentElement.dataset.theme") == "dark"
        assert tab.evaluate(background) == "rgb(20, 20, 22)"
        tab.screenshot(path=shots / "sign-in-dark.png", full_page=True)
        toggle = tab.get_by_role("button", name="Dark theme")
        assert toggle.get_attribute("aria-pressed") == "true"
        toggle.click()
        assert tab.evaluate(background) == "rgb(255, 255, 255)"
        assert toggle.get_attribute("aria-pressed") == "false"
        tab.reload()  # the choice outlives a reload
        tab.locator("#token").wait_for()
        assert tab.evaluate(background) == "rgb(255, 255, 255)"
        tab.screenshot(path=shots / "sign-in-light.png", full_page=True)
    finally:
        context.close()


def test_a_failed_task_shows_its_failure_message(page: Any, server: GatewayProcess, account: Account) -> None:
    missing = f"{server.base_url}/files/no-such-task/no-such-image.png"  # a 404 fails the task for good
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        r = http.post("/v1/videos/image2video", json={"image": missing}, headers=account.bearer)
        task_id = r.json()["data"]["task_id"]
        done = wait_for_task(http, "/v1/videos/image2video", task_id, account.bearer)
    assert done["task_status"] == "failed" and done["task_status_msg"], done

    sign_in(page, account.api_key)
    page.goto(f"/console/#/task/videos/image2video/{task_id}")
    message = page.locator("#status-msg")
    message.wait_for()
    assert message.inner_text() == done["task_status_msg"]
    assert page.locator(".card [data-status]").get_attribute("data-status") == "failed"
    assert page.locator("#media").inner_html() == ""  # nothing to play


def test_playground_text2video_reaches_succeed_and_the_video_plays(
    page: Any, server: GatewayProcess, account: Account, shots: Path, tmp_path: Path
) -> None:
    sign_in(page, account.api_key)
    page.get_by_role("link", name="Playground").click()
    page.locator("#playground").wait_for()
    options = page.locator("#pg-family option").evaluate_all("os => os.map(o => o.value)")
    legacy = [o for o in options if not o.startswith("v2/")]
    queued = {name for name, family in FAMILIES.items() if not family.synchronous}  # created, then polled
    assert set(legacy) <= queued and len(legacy) >= len(queued) - 2  # from the OpenAPI document
    assert {"v2/text-to-video", "v2/omni-video"} <= set(options)  # and the new standard's products
    assert "videos/text2video" in options and "videos/multi-elements/init-selection" not in options
    # choosing the family re-renders the page (its URL names the family) once the models are
    # fetched: fill the new form, not the one it replaces (under load the old one lived on)
    page.locator("#playground").evaluate("f => { f.dataset.replaced = 'yes' }")
    page.get_by_label("Family").select_option("videos/text2video")
    form = page.locator("#playground:not([data-replaced])")
    form.wait_for()
    form.get_by_label("prompt", exact=True).fill("a paper boat on a pond")
    form.get_by_label("duration", exact=True).fill("5")
    suggested = form.locator("#f-model_name").evaluate("i => [...i.list.options].map(o => o.value)")
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        served = http.get(
            "/v1/models", params={"family": "videos/text2video", "standard": "legacy"}, headers=account.bearer
        )
    assert suggested and len(suggested) == len(served.json()["data"])  # the catalogue's models
    page.screenshot(path=shots / "playground.png", full_page=True)
    form.get_by_role("button", name="Submit").click()

    # the task page, or the API's error on the form (shown at once, instead of a wait to the end)
    page.wait_for_function(
        "() => location.hash.startsWith('#/task/') || document.querySelector('#pg-error')?.textContent"
    )
    assert page.locator("#pg-error").count() == 0 or not page.locator("#pg-error").inner_text(), page.locator(
        "#pg-error"
    ).inner_text()
    page.wait_for_url("**/console/#/task/videos/text2video/*")
    task_id = page.url.rsplit("/", 1)[1]
    page.locator('#history li[data-status="succeed"]').wait_for(timeout=120_000)  # live, from the stream

    page.get_by_role("link", name="← Tasks").click()  # the list shows it too; open it from there
    row = page.locator(f'#task-table tr[data-task-id="{task_id}"]')
    row.wait_for()
    assert "succeed" in row.inner_text() and "a paper boat" in row.inner_text()
    row.get_by_role("link", name=task_id).click()
    video = page.locator("#media video")
    video.wait_for()
    page.wait_for_function("() => document.querySelector('#media video').readyState >= 1")
    duration, width, height = video.evaluate("v => [v.duration, v.videoWidth, v.videoHeight]")
    src = video.get_attribute("src")
    assert src and src.startswith(server.base_url)  # the signed URL the API answered
    truth = probe_av(fetch(server, src, tmp_path, "video.mp4"))
    assert (width, height) == (truth.width, truth.height)
    assert duration == pytest.approx(truth.duration, abs=0.1) and duration == pytest.approx(5, abs=0.2)
    video.evaluate("v => { v.muted = true; return v.play() }")
    page.wait_for_function("() => document.querySelector('#media video').currentTime > 0.2")
    page.screenshot(path=shots / "task-video.png", full_page=True)


def test_playground_shows_the_api_error_next_to_its_field(
    page: Any, server: GatewayProcess, account: Account, shots: Path
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        before = http.get("/v1/tasks/search", params={"limit": 100}, headers=account.bearer).json()["data"]
    sign_in(page, account.api_key)
    page.goto("/console/#/playground?family=videos/text2video")
    form = page.locator("#playground")
    form.get_by_label("prompt", exact=True).fill("too much guidance")
    form.get_by_label("cfg_scale", exact=True).fill("7")
    form.get_by_role("button", name="Submit").click()

    field_error = form.locator('.field[data-field="cfg_scale"] .field-error')
    field_error.wait_for()
    page.wait_for_function(
        "() => document.querySelector('.field[data-field=\"cfg_scale\"] .field-error').textContent"
    )
    assert field_error.inner_text().startswith("cfg_scale:")
    box = page.locator("#pg-error .error")
    assert box.get_attribute("data-code") == "1201" and "cfg_scale" in box.inner_text()
    page.screenshot(path=shots / "playground-error.png", full_page=True)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        after = http.get("/v1/tasks/search", params={"limit": 100}, headers=account.bearer).json()["data"]
    assert len(after["tasks"]) == len(before["tasks"])  # the refused request created nothing


def test_usage_shows_the_accounts_resource_packs(
    page: Any, server: GatewayProcess, account: Account, shots: Path
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        r = http.post(
            f"/admin/v1/accounts/{account.account_id}/packs",
            json={"quantity": 250, "name": "console-pack"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert r.status_code == 200, r.text
        start, end = 0, int(time.time() * 1000) + 60_000
        costs = http.get(f"/account/costs?start_time={start}&end_time={end}", headers=account.bearer)
    packs = [
        p
        for p in costs.json()["data"]["resource_pack_subscribe_infos"]
        if p["resource_pack_name"] == "console-pack"
    ]
    assert packs, costs.text
    sign_in(page, account.api_key)
    page.get_by_role("link", name="Usage").click()
    row = page.locator("#usage tr", has_text="console-pack")
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == "console-pack" and float(cells[2]) == float(packs[0]["remaining_quantity"]) == 250
    page.screenshot(path=shots / "usage.png", full_page=True)


def test_operator_view_needs_the_admin_token_and_manages_keys(
    page: Any, account: Account, shots: Path
) -> None:
    sign_in(page, account.api_key, role="operator", accepted=False)  # an account key is no operator
    error = page.locator("form .error")
    error.wait_for()
    assert error.get_attribute("data-code") == "1000" and "not the admin token" in error.inner_text()
    assert page.locator("#key-table").count() == 0

    sign_in(page, ADMIN, role="operator")
    page.locator(f'#key-table tr[data-account-id="{account.account_id}"]').wait_for()
    page.get_by_label("Name").fill("made-in-browser")
    page.get_by_role("button", name="Create key").click()
    issued = page.locator("#issued-key")
    issued.wait_for()
    import json

    key = json.loads(issued.inner_text())
    assert key["api_key"].startswith("kg-")
    row = page.locator(f'#key-table tr[data-account-id="{key["account_id"]}"]')
    row.wait_for()
    page.screenshot(path=shots / "keys.png", full_page=True)
    row.get_by_role("button", name=f"Revoke {key['account_id']}").click()
    page.wait_for_function(
        f"() => document.querySelector('#key-table tr[data-account-id=\"{key['account_id']}\"] .state')?.textContent === 'revoked'"
    )


UNLABELED = (
    "() => [...document.querySelectorAll('main input, main select, main textarea, main button')]"
    ".filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')"
    " && !(c.tagName === 'BUTTON' && c.textContent.trim())).map(c => c.id || c.outerHTML.slice(0, 60))"
)


def admin_call(http: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    r = http.request(method, path, headers={"Authorization": f"Bearer {ADMIN}"}, **kwargs)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def chart_values(page: Any, chart: str) -> dict[str, float]:
    """The bars of one usage chart as drawn: data-key -> data-value of each SVG rect."""
    bars = page.locator(f"svg#{chart} rect.chart-bar").evaluate_all(
        "rs => rs.map(r => [r.dataset.key, Number(r.dataset.value)])"
    )
    return dict(bars)


def chart_table(page: Any, chart: str) -> dict[str, float]:
    """The same chart's data table (the accessible alternative): row header -> value."""
    rows = page.locator(f'table[data-chart="{chart}"] tbody tr').evaluate_all(
        "trs => trs.map(t => [t.dataset.key, Number(t.querySelector('td').textContent)])"
    )
    return dict(rows)


def test_usage_charts_count_the_tasks_per_day_family_and_model_and_show_packs_left(
    page: Any, server: GatewayProcess, shots: Path
) -> None:
    me = server.create_account("usage-charts")
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        for package, quantity in (("image", 100), ("audio", 10)):
            body = {"quantity": quantity, "package_type": package, "name": f"{package}-pack"}
            admin_call(http, "POST", f"/admin/v1/accounts/{me.account_id}/packs", json=body)
        asked = [
            ("images/generations", {"prompt": "one", "model_name": "kling-v1"}),
            ("images/generations", {"prompt": "two", "model_name": "kling-v1"}),
            # fetches an input that is no image: fails, refunded, counted as a task of 0 units
            (
                "images/generations",
                {"prompt": "bad", "model_name": "kling-v1", "image": f"{server.base_url}/healthz"},
            ),
            ("images/generations", {"prompt": "three", "model_name": "kling-v2-1"}),
            ("audio/text-to-audio", {"prompt": "rain on a roof", "duration": 3}),
        ]
        ids = []
        for family, body in asked:
            r = http.post(f"/v1/{family}", json=body, headers=me.bearer)
            assert r.status_code == 200, r.text
            ids.append((family, r.json()["data"]["task_id"]))
        done = [wait_for_task(http, f"/v1/{family}", tid, me.bearer)["task_status"] for family, tid in ids]
    assert done == ["succeed", "succeed", "failed", "succeed", "succeed"], done

    sign_in(page, me.api_key)
    page.get_by_role("link", name="Usage").click()
    page.locator("svg#chart-tasks-model").wait_for()
    v1, v21, audio = (
        "kling-v1 (images/generations)",
        "kling-v2-1 (images/generations)",
        "kling-audio (audio/text-to-audio)",
    )
    expected_tasks = {v1: 3, v21: 1, audio: 1}
    expected_units = {v1: 16, v21: 4, audio: 0.25}  # the failed one cost nothing
    assert chart_values(page, "chart-tasks-model") == expected_tasks == chart_table(page, "chart-tasks-model")
    assert chart_values(page, "chart-units-model") == expected_units == chart_table(page, "chart-units-model")
    families = {"images/generations": 4, "audio/text-to-audio": 1}
    assert chart_values(page, "chart-tasks-family") == families == chart_table(page, "chart-tasks-family")
    per_day = chart_values(page, "chart-tasks-day")
    assert len(per_day) == 30 and sorted(per_day.values())[-2:] == [0, 5]  # one bar a day, all today
    today = page.evaluate(
        "() => { const d = new Date(); return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0') }"
    )
    assert per_day[today] == 5 and chart_values(page, "chart-units-day")[today] == 20.25
    label = page.locator("svg#chart-tasks-day").get_attribute("aria-label")
    assert label.startswith("Tasks per day:") and "5" in label
    assert page.locator("svg#chart-tasks-day title").first.text_content() == label
    assert "5 tasks (1 failed" in page.locator("#usage-summary").inner_text()
    remaining = "#packs tr:has-text('{}') td.remaining"
    assert page.locator(remaining.format("image-pack")).inner_text() == "80"  # 100 − 16 − 4
    assert page.locator(remaining.format("audio-pack")).inner_text() == "9.75"
    assert page.evaluate(UNLABELED) == []  # every control named
    page.screenshot(path=shots / "usage-charts.png", full_page=True)

    page.set_viewport_size({"width": 375, "height": 812})  # a phone: the charts fit the screen
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert page.locator("svg#chart-units-day").evaluate("s => s.getBoundingClientRect().width") <= 375
    page.screenshot(path=shots / "usage-phone.png", full_page=True)
    page.set_viewport_size({"width": 1100, "height": 900})

    page.get_by_role("button", name="Sign out").click()  # the operator: every account, or this one
    sign_in(page, ADMIN, role="operator")
    page.get_by_role("link", name="Usage").click()
    page.locator("svg#chart-tasks-model").wait_for()
    assert chart_values(page, "chart-tasks-model")[v1] >= 3  # every account's tasks
    page.get_by_label("Account").select_option(me.account_id)
    page.wait_for_url(f"**account={me.account_id}")
    page.locator(remaining.format("image-pack")).wait_for()
    assert chart_values(page, "chart-tasks-model") == expected_tasks  # the same ledger, read by the operator
    assert page.locator(remaining.format("image-pack")).inner_text() == "80"
    assert page.evaluate(UNLABELED) == []
    page.screenshot(path=shots / "usage-operator.png", full_page=True)


def test_operator_sees_the_relay_channels_circuit_open_after_upstream_failures(
    page: Any, server: GatewayProcess, edge: FakeUpstream, shots: Path
) -> None:
    account = server.create_account("relayed")  # no packs: nothing but the channel stops its task
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        body = {"prompt": "relayed", "model_name": RELAYED_MODEL}
        r = http.post("/v1/images/generations", json=body, headers=account.bearer)
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 30
        while admin_call(http, "GET", "/admin/v1/channels")["channels"][0]["circuit"] != "open":
            assert time.monotonic() < deadline, "the edge channel's circuit never opened"
            time.sleep(0.2)
        refused = http.get("/admin/v1/channels", headers=account.bearer)  # an account key: no
        assert refused.status_code == 401 and refused.json()["code"] == 1000

    sign_in(page, account.api_key)
    page.goto("/console/#/channels")  # an account cannot open the operator's page
    page.locator("#task-table").wait_for()
    assert page.locator("#channel-table").count() == 0
    assert page.get_by_role("link", name="Channels").is_hidden()

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, ADMIN, role="operator")
    page.get_by_role("link", name="Channels").click()
    row = page.locator('#channel-table tr[data-channel="edge"]')
    row.wait_for()
    assert row.get_attribute("data-circuit") == "open"
    assert "open" in row.locator(".circuit").inner_text()
    assert int(row.locator(".failovers").get_attribute("data-total")) >= 1
    assert "down 1" in row.locator(".failovers").inner_text()
    assert row.locator(".failures").inner_text() == "1 / 1"
    assert page.evaluate(UNLABELED) == []
    page.screenshot(path=shots / "channels.png", full_page=True)


def test_elements_page_creates_previews_and_deletes_an_element_and_lists_the_presets(
    page: Any, server: GatewayProcess, shots: Path
) -> None:
    me = server.create_account("elements")
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        presets = http.get("/v1/general/advanced-presets-elements", headers=me.bearer).json()["data"]
    names = [t["task_result"]["elements"][0]["element_name"] for t in presets]
    sign_in(page, me.api_key)
    page.get_by_role("link", name="Elements").click()
    page.locator("#lib-preset-table").wait_for()
    shown = page.locator("#lib-preset-table tbody tr strong").all_inner_texts()
    assert shown == names and len(names) >= 6  # the official elements, as the API lists them

    form = page.locator("#lib-form")
    form.get_by_label("Name (≤ 20 characters)").fill("Blue hero")
    form.get_by_label("Description (≤ 100 characters)").fill("A hero in blue")
    front = {"name": "front.png", "mimeType": "image/png", "buffer": png_bytes(600, 400)}
    form.get_by_label("Frontal image").set_input_files(front)
    form.get_by_role("button", name="Create").click()  # no other angle: the API names the field
    message = form.locator('.field[data-field="element_image_list.refer_images"] .field-error')
    page.wait_for_function(
        "() => document.querySelector('.field[data-field=\"element_image_list.refer_images\"] .field-error')"
        ".textContent"
    )
    assert message.inner_text().startswith("element_image_list.refer_images")
    assert page.locator("#lib-error .error").get_attribute("data-code") == "1201"
    assert page.locator("#lib-own-table tbody tr[data-id]").count() == 0  # nothing was created

    side = {"name": "side.png", "mimeType": "image/png", "buffer": png_bytes(400, 400)}
    form.get_by_label("Other angles (1–3 images)").set_input_files(side)
    form.get_by_label("o_102").check()
    form.get_by_role("button", name="Create").click()
    row = page.locator('#lib-own-table tr[data-state="succeed"]')
    row.wait_for(timeout=120_000)  # followed from the creation's event stream
    element_id = row.get_attribute("data-id")
    assert "Blue hero" in row.inner_text() and "o_102" in row.inner_text()
    page.wait_for_function(
        "() => { const i = document.querySelector('#lib-own-table tr[data-state=\"succeed\"] img');"
        " return i && i.complete && i.naturalWidth > 0 }"
    )
    assert row.locator("img").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [600, 400]
    assert page.evaluate(UNLABELED) == []
    page.locator("#lib-form button.primary").focus()
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("() => document.activeElement.value") == "o_108"  # the last tag, by keyboard
    page.screenshot(path=shots / "elements.png", full_page=True)

    row.get_by_role("button", name=f"Delete Blue hero ({element_id})").click()
    page.locator(f'#lib-own-table tr[data-id="{element_id}"][data-state="deleted"]').wait_for()
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        got = http.get(f"/v1/general/advanced-custom-elements/{element_id}", headers=me.bearer).json()["data"]
    assert got["task_result"]["elements"][0]["status"] == "deleted"


def test_playground_new_standard_text_to_video_plays_its_result(
    page: Any, server: GatewayProcess, account: Account, shots: Path, tmp_path: Path
) -> None:
    sign_in(page, account.api_key)
    page.goto("/console/#/playground?family=v2/text-to-video")
    form = page.locator("#playground")
    form.wait_for()
    models = form.locator("#pg-model option").evaluate_all("os => os.map(o => o.value)")
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        served = http.get(
            "/v1/models", params={"family": "v2/text-to-video", "standard": "new"}, headers=account.bearer
        ).json()["data"]
    assert models == [m["name"] for m in served] and "kling-3.0" in models  # the catalogue's
    form.get_by_label("model (in the path)").select_option("kling-3.0")
    prompt = form.get_by_label("prompt *", exact=True)  # required here: the star is aria-hidden
    assert prompt.get_attribute("aria-required") == "true"
    prompt.fill("a lantern on a jetty")
    form.get_by_label("duration", exact=True).fill("3")  # settings.duration, from the wire model
    form.get_by_label("multi_shot", exact=True).select_option("false")
    assert "/text-to-video/kling-3.0" in page.locator("#pg-curl").inner_text()
    page.screenshot(path=shots / "playground-new-standard.png", full_page=True)
    form.get_by_role("button", name="Submit").click()

    page.wait_for_url("**/console/#/task/v2/text-to-video/*")
    task_id = page.url.rsplit("/", 1)[1]
    page.locator('#history li[data-status="succeeded"]').wait_for(timeout=120_000)
    seen = page.locator("#history li").evaluate_all("ls => ls.map(l => l.dataset.status)")
    assert seen[-1] == "succeeded" and len(seen) == len(set(seen)), seen  # progress, each status once
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        (record,) = http.get("/tasks", params={"task_ids": task_id}, headers=account.bearer).json()["data"]
    assert record["status"] == "succeeded"
    video = page.locator("#media video")
    video.wait_for()
    page.wait_for_function("() => document.querySelector('#media video').readyState >= 1")
    duration, width, height = video.evaluate("v => [v.duration, v.videoWidth, v.videoHeight]")
    src = video.get_attribute("src")
    assert src == record["outputs"][0]["url"]
    truth = probe_av(fetch(server, src, tmp_path, "record.mp4"))
    assert (width, height) == (truth.width, truth.height) == (1280, 720)
    assert duration == pytest.approx(truth.duration, abs=0.1) and duration == pytest.approx(3, abs=0.2)
    video.evaluate("v => { v.muted = true; return v.play() }")
    page.wait_for_function("() => document.querySelector('#media video').currentTime > 0.2")
    assert f'"id": "{task_id}"' in page.locator("#raw").inner_text()
    page.screenshot(path=shots / "task-new-standard.png", full_page=True)


def test_voices_page_creates_plays_and_deletes_a_voice_and_lists_the_presets(
    page: Any, server: GatewayProcess, shots: Path
) -> None:
    me = server.create_account("voices")
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        presets = http.get("/v1/general/presets-voices", headers=me.bearer).json()["data"]
    names = [t["task_result"]["voices"][0]["voice_name"] for t in presets]
    sign_in(page, me.api_key)
    page.get_by_role("link", name="Voices").click()
    page.locator("#lib-preset-table").wait_for()
    assert page.locator("#lib-preset-table tbody tr strong").all_inner_texts() == names and names

    form = page.locator("#lib-form")
    form.get_by_label("Name (≤ 20 characters)").fill("Narrator")
    clip = {"name": "voice.wav", "mimeType": "audio/wav", "buffer": wav_bytes(7.0)}
    form.get_by_label("voice_url: choose a file (sent as Base64)").set_input_files(clip)
    page.wait_for_function("() => document.querySelector('#vo-url').value.length > 1000")
    form.get_by_role("button", name="Create").click()
    row = page.locator('#lib-own-table tr[data-state="succeed"]')
    row.wait_for(timeout=120_000)  # followed from the creation's event stream
    voice_id = row.get_attribute("data-id")
    assert "Narrator" in row.inner_text()
    audio = row.locator("audio")
    audio.evaluate("a => { a.preload = 'metadata'; a.load() }")
    page.wait_for_function(
        "() => document.querySelector('#lib-own-table tr[data-state=\"succeed\"] audio').readyState >= 1"
    )
    assert audio.evaluate("a => a.duration") == pytest.approx(7.0, abs=0.2)  # the clip's own sound
    page.screenshot(path=shots / "voices.png", full_page=True)

    row.get_by_role("button", name=f"Delete Narrator ({voice_id})").click()
    page.locator(f'#lib-own-table tr[data-id="{voice_id}"]').wait_for(state="detached")
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        listed = http.get("/v1/general/custom-voices", headers=me.bearer).json()["data"]
    assert voice_id not in [t["task_result"]["voices"][0]["voice_id"] for t in listed if t.get("task_result")]
