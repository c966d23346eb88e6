"""One HTTP client per channel, speaking the Kling wire format (spec §1, §2, §5, §7).

Every answer is classified once, here, so the engine only decides *what to do*:

* :class:`Rejected` — the upstream refused the request itself (1200–1203, 1300–1301, or a
  CometAPI 400): never retried, the task fails with the upstream's code and message;
* :class:`Busy` — 1302/1303 (rate or concurrency limit): wait or use another channel;
* :class:`ChannelDown` — anything that says "this channel cannot serve now": 5xx, timeouts,
  connection errors, malformed bodies, authentication or account problems.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from ...config import Settings
from ...errors import GatewayError
from ...httpclient import create_client
from ...standard2.products import is_standard2
from ...tokens import mint_jwt
from . import standard2
from .channels import ChannelConfig
from .standard2 import prefix_of as standard2_prefix

BATCH_IDS = 20  # GET /tasks takes at most 20 ids (kling-api-more.md §5.1)


JWT_TTL = 1800
JWT_RENEW_BEFORE = 300
REJECTED_CODES = frozenset({1200, 1201, 1202, 1203, 1300, 1301})
BUSY_CODES = frozenset({1302, 1303})


class UpstreamError(GatewayError):
    """An upstream answered with an error (``code`` is its Kling code) or could not be reached."""

    def __init__(self, code: int, message: str, *, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.http_status = http_status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def wire(self) -> str:
        """How the failure reads in ``task_status_msg``."""
        return f"upstream error {self.code}: {self.message}"


class Rejected(UpstreamError):
    """The upstream judged the request invalid or against policy."""


class Busy(UpstreamError):
    """Rate or concurrency limit (1302/1303)."""


class ChannelDown(UpstreamError):
    """Server error, timeout, unreachable, malformed answer, or an account/auth problem."""


class NotFound(UpstreamError):
    """The upstream does not know the task (query by id or external id)."""


class Credentials:
    """The ``Authorization`` header of a channel; JWTs are minted once and reused until near expiry."""

    def __init__(self, channel: ChannelConfig):
        self._channel = channel
        self._token: str | None = None
        self._expires = 0.0

    def header(self) -> str:
        channel = self._channel
        if channel.api_key is not None:
            return f"Bearer {channel.api_key}"
        now = time.time()
        if self._token is None or now > self._expires - JWT_RENEW_BEFORE:
            assert channel.access_key is not None and channel.secret_key is not None
            self._token = mint_jwt(channel.access_key, channel.secret_key, ttl=JWT_TTL, now=now)
            self._expires = now + JWT_TTL
        return f"Bearer {self._token}"


def classify(status: int, body: bytes) -> tuple[dict[str, Any] | None, UpstreamError | None]:
    """``(payload, None)`` for a Kling success envelope, else ``(None, error)``."""
    try:
        payload = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        if status >= 500 or status == 0:
            return None, ChannelDown(5000, f"HTTP {status} without a Kling body", http_status=status)
        if status == 429:
            return None, Busy(1302, "HTTP 429 without a Kling body", http_status=status)
        if status == 404:
            return None, NotFound(1203, "HTTP 404 without a Kling body", http_status=status)
        if status in (401, 403) or status >= 300:
            return None, ChannelDown(
                1000 if status == 401 else 5000, f"HTTP {status} without a Kling body", http_status=status
            )
        return None, ChannelDown(5000, "malformed answer (not a JSON object)", http_status=status)
    if "error" in payload and "code" not in payload:  # CometAPI's own envelope (spec §7.3)
        err = payload.get("error") or {}
        message = str(err.get("message") or "upstream gateway error") if isinstance(err, dict) else str(err)
        if status == 400:
            return None, Rejected(1200, message, http_status=status)
        if status == 429:
            return None, Busy(1302, message, http_status=status)
        if status == 404:
            return None, NotFound(1203, message, http_status=status)
        return None, ChannelDown(1000 if status in (401, 403) else 5000, message, http_status=status)
    code = payload.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        return None, ChannelDown(5000, "malformed answer (no integer code)", http_status=status)
    message = str(payload.get("message") or "")
    if code == 0 and status < 400:
        if not isinstance(payload.get("data"), dict | list):
            return None, ChannelDown(5000, "malformed answer (no data)", http_status=status)
        return payload, None
    if code in REJECTED_CODES:
        if code == 1203 and status == 404:
            return None, NotFound(code, message, http_status=status)
        return None, Rejected(code, message, http_status=status)
    if code in BUSY_CODES:
        return None, Busy(code, message, http_status=status)
    return None, ChannelDown(code or 5000, message or f"HTTP {status}", http_status=status)


class UpstreamClient:
    """Create, query and list tasks on one channel."""

    def __init__(self, channel: ChannelConfig, settings: Settings):
        self.channel = channel
        self.credentials = Credentials(channel)
        # operator-configured host: no private-address guard for API calls (see httpclient)
        self._http = create_client(settings, timeout=channel.request_timeout, guard=False)

    def url(self, path: str, *, standard2: bool = False) -> str:
        prefix = standard2_prefix(self.channel.prefix) if standard2 else self.channel.prefix
        return f"{self.channel.base_url}{prefix}/{path.lstrip('/')}"

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        standard2: bool = False,
    ) -> dict[str, Any]:
        headers = {"Authorization": self.credentials.header(), "Accept": "application/json"}
        try:
            response = await self._http.request(
                method, self.url(path, standard2=standard2), json=body, params=params, headers=headers
            )
        except httpx.TimeoutException:
            raise ChannelDown(5002, f"timed out after {self.channel.request_timeout:g} s") from None
        except httpx.TransportError as exc:
            raise ChannelDown(5001, f"cannot reach upstream ({type(exc).__name__})") from None
        payload, error = classify(response.status_code, response.content)
        if error is not None:
            raise error
        assert payload is not None
        return payload

    async def create(self, family: str, body: dict[str, Any]) -> dict[str, Any]:
        """The ``data`` of a create reply (must carry ``task_id``); a new-standard task is created
        on its model path and its reply translated."""
        if is_standard2(family):
            model, wire = standard2.outbound_body(
                body, body.get("external_task_id", ""), body.get("callback_url")
            )
            record = (
                await self._call("POST", standard2.create_path(family, model), body=wire, standard2=True)
            )["data"]
            if not isinstance(record, dict) or not record.get("id"):
                raise ChannelDown(5000, "malformed answer (create reply without id)")
            return standard2.task_object(record)
        data = (await self._call("POST", family, body=body))["data"]
        if not isinstance(data, dict) or not data.get("task_id"):
            raise ChannelDown(5000, "malformed answer (create reply without task_id)")
        return data

    async def batch(self, ids: list[str], *, external: bool = False) -> list[dict[str, Any]]:
        """``GET /tasks?task_ids=`` (≤ 20 per call) → task objects; unknown ids are left out."""
        key = "external_task_ids" if external else "task_ids"
        data = (await self._call("GET", "tasks", params={key: ",".join(ids)}, standard2=True))["data"]
        if not isinstance(data, list):
            raise ChannelDown(5000, "malformed answer (/tasks without an array)")
        return [standard2.task_object(r) for r in data if isinstance(r, dict) and r.get("id")]

    async def get(self, family: str, task_id: str) -> dict[str, Any]:
        if is_standard2(family):  # by task id, else by external id (adoption after a crash)
            found = await self.batch([task_id]) or await self.batch([task_id], external=True)
            if not found:
                raise NotFound(1203, f"task {task_id} not found upstream")
            return found[0]
        data = (await self._call("GET", f"{family}/{task_id}"))["data"]
        if not isinstance(data, dict) or not data.get("task_status"):
            raise ChannelDown(5000, "malformed answer (task without task_status)")
        return data

    async def list(self, family: str, page_size: int, page: int = 1) -> list[dict[str, Any]]:
        """One page of the family's tasks, newest first (the official list query)."""
        data = (await self._call("GET", family, params={"pageNum": page, "pageSize": page_size}))["data"]
        if not isinstance(data, list):
            raise ChannelDown(5000, "malformed answer (list without an array)")
        return [item for item in data if isinstance(item, dict) and item.get("task_id")]

    async def post_sync(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous call (multi-elements selection); returns ``data``."""
        data = (await self._call("POST", path, body=body))["data"]
        if not isinstance(data, dict):
            raise ChannelDown(5000, "malformed answer (no data object)")
        return data

    async def aclose(self) -> None:
        await self._http.aclose()
