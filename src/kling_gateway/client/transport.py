"""Requests as plans: the retry, re-auth and envelope logic shared by the sync and async clients.

A *plan* is a generator that yields :class:`httpx.Request`, :class:`Sleep`, :class:`Progress` (and,
for downloads, ``Fetch``) steps and receives the outcome of each; the sync and async clients only
drive plans (send, sleep, call back), so nothing else is written twice.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import httpx

from .. import __version__
from .auth import Credentials
from .errors import KlingAPIError, NetworkError, api_error

T = TypeVar("T")
USER_AGENT = f"kling-gateway-client/{__version__}"
# Kling codes worth retrying: too fast, concurrency, and the 5xxx server group.
TRANSIENT_CODES = frozenset({1302, 1303, 5000, 5001, 5002})


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Progress:
    """Call ``callback(value)`` (awaiting it in the async client if it returns an awaitable)."""

    callback: Callable[[Any], Any]
    value: Any


Plan = Generator[Any, Any, T]


def plan_result(plan: Plan[T], stop: StopIteration) -> T:
    """The value ``plan`` returned, from the ``StopIteration`` that ended it.

    ``StopIteration.value`` is untyped; a generator declared as ``Plan[T]`` returns a ``T``.
    """
    return cast(T, stop.value)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of transient failures: exponential backoff with jitter, or ``Retry-After``."""

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_retry_after: float = 120.0

    def backoff(self, attempt: int) -> float:
        """Delay after the ``attempt``-th failure (1-based): half fixed, half random ("equal jitter")."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** max(0, attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return self.backoff(attempt)


@dataclass
class Reply:
    """A successful envelope: ``data`` plus what callers may want from the HTTP layer."""

    data: Any
    message: str
    request_id: str | None
    status_code: int
    headers: httpx.Headers
    elapsed: float
    raw: dict[str, Any] = field(default_factory=dict)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from_response(response: httpx.Response) -> KlingAPIError:
    """The typed error of a non-success answer, whatever shape its body has."""
    request_id = response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), int):
        return api_error(
            body["code"],
            str(body.get("message") or ""),
            body.get("request_id") or request_id,
            response.status_code,
        )
    if isinstance(body, dict) and isinstance(body.get("error"), dict):  # CometAPI's own errors (spec §7.3)
        err = body["error"]
        error = api_error(
            None, str(err.get("message") or err.get("code") or "error"), request_id, response.status_code
        )
        error.upstream_code = str(err.get("code") or "") or None
        return error
    text = response.text[:300].strip() if response.content else ""
    return api_error(
        None,
        f"HTTP {response.status_code} {response.reason_phrase}: {text}".rstrip(": "),
        request_id,
        response.status_code,
    )


def parse_reply(response: httpx.Response, elapsed: float) -> Reply:
    """The envelope of a success; raises the typed error otherwise (spec §5.1, §7)."""
    if not response.is_success:
        raise error_from_response(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("code"), int):
        raise KlingAPIError(
            None,
            "the response is not a Kling envelope",
            response.headers.get("x-request-id"),
            response.status_code,
        )
    if body["code"] != 0:
        raise error_from_response(response)
    return Reply(
        body.get("data"),
        str(body.get("message") or ""),
        body.get("request_id") or response.headers.get("x-request-id"),
        response.status_code,
        response.headers,
        elapsed,
        body,
    )


def is_transient(error: KlingAPIError) -> bool:
    """429 and 5xx are worth another try; account (11xx) and other 4xx answers are not."""
    if error.code is not None:
        return error.code in TRANSIENT_CODES
    if error.upstream_code == "invalid_request":  # CometAPI: malformed, not transient
        return False
    return error.http_status == 429 or (error.http_status or 0) >= 500


class Caller:
    """Sends one API call with credentials, retries and the 1004 re-mint."""

    def __init__(self, credentials: Credentials, retry: RetryPolicy):
        self.credentials = credentials
        self.retry = retry

    def call(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> Plan[Reply]:
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            request = httpx.Request(
                method,
                url,
                json=body,
                params=params,
                headers={
                    "Authorization": self.credentials.authorization(),
                    "User-Agent": USER_AGENT,
                    "Accept": "application/json",
                    **(headers or {}),
                },
                extensions={"timeout": timeout.as_dict()} if timeout is not None else None,
            )
            started = time.monotonic()
            outcome = yield request
            elapsed = time.monotonic() - started
            if isinstance(outcome, httpx.TransportError):
                if attempt < self.retry.max_attempts:
                    yield Sleep(self.retry.backoff(attempt))
                    continue
                raise NetworkError(
                    f"{method} {url}: {type(outcome).__name__}: {outcome} (after {attempt} attempts)"
                ) from outcome
            try:
                return parse_reply(outcome, elapsed)
            except KlingAPIError as error:
                if error.code == 1004 and not renewed and self.credentials.renew():
                    renewed = True  # the JWT expired under us: mint a new one and go again, once
                    attempt -= 1
                    continue
                if is_transient(error) and attempt < self.retry.max_attempts:
                    yield Sleep(
                        self.retry.delay(attempt, parse_retry_after(outcome.headers.get("retry-after")))
                    )
                    continue
                raise
