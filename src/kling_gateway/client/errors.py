"""Typed errors the SDK raises.

API errors follow Kling's code groups (spec §7.1/§7.2): authentication 1000–1004, account
11xx, request 12xx, policy 13xx, server 5xxx. Answers that are not a Kling envelope (a proxy's
HTML page, CometAPI's ``{"error": {...}}``) are classified by their HTTP status, with ``code``
``None``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..schemas import Task


class KlingClientError(Exception):
    """Base of every error the SDK raises."""


class ConfigurationError(KlingClientError, ValueError):
    """The client was built without what it needs (base URL, credentials)."""


class MissingCredentialsError(ConfigurationError):
    """Neither an API key nor an access/secret key pair was given."""


class KlingAPIError(KlingClientError):
    """The server answered with a non-zero Kling ``code`` (or a non-2xx without an envelope)."""

    upstream_code: str | None = None  # CometAPI's own ``error.code``, when that is what came back

    def __init__(
        self, code: int | None, message: str, request_id: str | None = None, http_status: int | None = None
    ):
        self.code = code
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        detail = [f"HTTP {http_status}"] if http_status else []
        detail += [f"request {request_id}"] if request_id else []
        suffix = f" ({', '.join(detail)})" if detail else ""
        super().__init__(f"{code if code is not None else 'error'}: {message}{suffix}")


class AuthenticationError(KlingAPIError):
    """1000–1004: the credentials were missing, wrong, not yet valid or expired."""


class AccountError(KlingAPIError):
    """11xx: the account is misconfigured, in arrears, out of resource pack, or lacks permission."""


class InvalidRequestError(KlingAPIError):
    """12xx: the request itself is wrong (bad parameter, method, unknown task or model)."""


class ClientValidationError(InvalidRequestError):
    """The request failed the wire model's validation before anything was sent (as 1201 would)."""

    def __init__(self, message: str):
        super().__init__(1201, message)


class PolicyError(KlingAPIError):
    """13xx: platform or content policy, rate or concurrency limits."""


class ServerError(KlingAPIError):
    """5xxx: the server failed or is unavailable."""


class NetworkError(KlingClientError):
    """The server could not be reached (or kept dropping the connection) after the retries."""


class DownloadError(KlingClientError):
    """A result file could not be downloaded completely, or its size did not match."""


class TaskFailedError(KlingClientError):
    """The task ended with ``task_status`` ``failed``; ``task_status_msg`` says why."""

    def __init__(self, task: Task):
        self.task = task
        self.task_id = task.task_id
        self.task_status_msg = task.task_status_msg
        super().__init__(f"task {task.task_id} failed: {task.task_status_msg or 'no reason given'}")


class WaitTimeoutError(KlingClientError, TimeoutError):
    """The task was still running when the wait ran out; resume with ``wait(task_id, family=...)``."""

    def __init__(self, task_id: str, timeout: float | None, task: Task | None = None):
        self.task_id = task_id
        self.timeout = timeout
        self.task = task
        status = task.task_status if task is not None else "unknown"
        super().__init__(f"task {task_id} still {status} after waiting {timeout}s")


_GROUPS: tuple[tuple[range, type[KlingAPIError]], ...] = (
    (range(1000, 1100), AuthenticationError),
    (range(1100, 1200), AccountError),
    (range(1200, 1300), InvalidRequestError),
    (range(1300, 1400), PolicyError),
    (range(5000, 6000), ServerError),
)


def _class_for_status(http_status: int | None) -> type[KlingAPIError]:
    if http_status in (401, 403):
        return AuthenticationError
    if http_status == 429:
        return PolicyError
    if http_status is not None and http_status >= 500:
        return ServerError
    if http_status is not None and 400 <= http_status < 500:
        return InvalidRequestError
    return KlingAPIError


def api_error(
    code: int | None, message: str, request_id: str | None = None, http_status: int | None = None
) -> KlingAPIError:
    """The most specific error class for a Kling code (or, without one, for the HTTP status)."""
    cls: type[KlingAPIError] | None = None
    if code is not None:
        cls = next((c for r, c in _GROUPS if code in r), None)
    if cls is None:
        cls = _class_for_status(http_status)
    return cls(code, message, request_id, http_status)
