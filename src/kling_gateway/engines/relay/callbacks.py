"""Upstream callbacks: the URL the gateway hands each upstream, and what is done with a callback
that arrives (the HTTP route is ``api/relay_callbacks.py``).

The client's ``callback_url`` is never forwarded (it belongs to the client, and would leak the
upstream's ids and URLs). Instead each relayed task carries
``<base>/relay/callback/<gateway task id>/<token>`` where the token is an HMAC of the task id
with the gateway secret: only the upstream that was given the URL can post to it, and a token
never opens another task. A verified callback is kept in the process's :class:`Inbox` and the
task is made runnable at once; its worker uses the body instead of asking the upstream again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ...errors import Code, KlingError
from ...ids import now_ms
from ...schemas.tasks import ACTIVE_STATUSES, TaskStatus
from ...store import TaskStore
from ...store.relay import PENDING, RelayStore
from . import metrics

log = logging.getLogger("kling_gateway.relay")
CALLBACK_PATH = "/relay/callback"


def callback_token(secret: str, task_id: str) -> str:
    return hmac.new(secret.encode(), b"relay-callback:" + task_id.encode(), hashlib.sha256).hexdigest()[:32]


def callback_url(base_url: str, secret: str, task_id: str) -> str:
    return f"{base_url.rstrip('/')}{CALLBACK_PATH}/{task_id}/{callback_token(secret, task_id)}"


class Inbox:
    """The latest verified callback body per gateway task id (bounded; this process only)."""

    def __init__(self, max_items: int = 100_000):
        self.max_items = max_items
        self._items: dict[str, tuple[dict[str, Any], int]] = {}

    def put(self, task_id: str, body: dict[str, Any]) -> None:
        if len(self._items) >= self.max_items:
            self._items.pop(next(iter(self._items)))
        previous = self._items.get(task_id)
        if previous is not None and _rank(previous[0]) > _rank(body):
            return  # a late "processing" never hides a "succeed" that came first
        self._items[task_id] = (body, now_ms())

    def take(self, task_id: str) -> tuple[dict[str, Any], int] | None:
        return self._items.pop(task_id, None)

    def peek(self, task_id: str) -> dict[str, Any] | None:
        item = self._items.get(task_id)
        return item[0] if item else None


_RANKS: dict[str, int] = {
    TaskStatus.SUBMITTED: 0,
    TaskStatus.PROCESSING: 1,
    TaskStatus.SUCCEED: 2,
    TaskStatus.FAILED: 2,
}


def _rank(body: dict[str, Any]) -> int:
    return _RANKS.get(str(body.get("task_status")), -1)


class CallbackReceiver:
    """Takes verified upstream callbacks: keeps the body for the task's next run (the
    :class:`Inbox` its channel engines read) and makes the task runnable at once."""

    def __init__(
        self,
        secret: str,
        store: TaskStore,
        inbox: Inbox,
        wake: Callable[[], None],
        webhook_secrets: Mapping[str, str] | None = None,
    ):
        """``webhook_secrets``: channel name → the upstream account's webhook secret; callbacks
        of those channels must carry a valid Standard Webhooks signature (kling-api-more.md §6)."""
        self.secret = secret
        self.webhook_secrets = dict(webhook_secrets or {})
        self.relay_store = RelayStore(store)
        self.inbox = inbox
        self.wake = wake

    def verify(self, task_id: str, token: str) -> None:
        """Raise 1000 unless ``token`` is the one handed to the upstream for ``task_id``."""
        if not hmac.compare_digest(callback_token(self.secret, task_id), token):
            raise KlingError(Code.AUTH_FAILED, "bad callback token")

    def check_signature(self, channel: str, raw: bytes, headers: Mapping[str, str]) -> None:
        """Raise 1000 when ``channel`` has a webhook secret and the body is not signed with it."""
        secret = self.webhook_secrets.get(channel)
        if secret is None:
            return
        try:
            Webhook(secret).verify(raw, {k.lower(): v for k, v in headers.items()})
        except WebhookVerificationError:
            metrics.CALLBACKS.labels(channel, "bad-signature").inc()
            raise KlingError(Code.AUTH_FAILED, "callback signature does not verify") from None

    async def accept(
        self, task_id: str, body: dict[str, Any], signed: tuple[bytes, Mapping[str, str]] | None = None
    ) -> None:
        """Keep a callback (a task object in wire shape) for its task. Callbacks for unknown,
        finished or other upstream tasks are ignored (the caller still answers 2xx, so the
        upstream stops retrying). ``signed``: the raw body and headers, for channels that sign."""
        row = await self.relay_store.store.get(task_id)
        if row is None:
            return
        if signed is not None:
            self.check_signature(row.engine or "", *signed)
        elif (row.engine or "") in self.webhook_secrets:
            raise KlingError(Code.AUTH_FAILED, "callback signature is missing")
        metrics.CALLBACKS.labels(row.engine or "", body["task_status"]).inc()
        if row.status not in ACTIVE_STATUSES:
            return
        known = row.upstream_task_id
        if known and known != PENDING and str(body.get("task_id")) != known:
            log.warning(
                "callback for task %s names upstream task %s, expected %s",
                task_id,
                body.get("task_id"),
                known,
            )
            return
        self.inbox.put(task_id, body)
        if await self.relay_store.runnable_now([task_id], now_ms()):
            self.wake()
