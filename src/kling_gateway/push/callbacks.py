"""Callbacks: POST the bare task object to the task's ``callback_url`` on every status change.

Delivery is at-least-once. The change path already writes a ``task_events`` row in the same
transaction as the status; deliveries are created from those rows (on each change notification,
and by a periodic sweep of recent events that also runs at start-up), so a crash between the
commit and the send, or a change made by a process without a dispatcher, loses nothing.

Each attempt is signed with Standard Webhooks (``webhook-id`` stable across the retries of one
change, ``webhook-timestamp``, ``webhook-signature``) using the account's webhook secret. The
destination must pass :func:`~kling_gateway.httpclient.check_url`; a refused one is given up at
once with the reason. 2xx = delivered; 410 = the receiver asks us to stop; anything else, a
timeout or a connection failure is retried with exponential backoff and jitter
(:meth:`PushConfig.retry_delay`) until ``callback_max_attempts`` or the retry window runs out.

Announced changes: ``processing``, ``succeed`` and ``failed`` (:data:`CALLBACK_STATUSES`). Kling
calls back when the status *changes*; ``submitted`` is the state the create response already
reported, so it is not sent on the legacy standard. The new standard reports all four statuses
(kling-api-more.md §6), so its tasks (``v2/*``) announce ``submitted`` too, with the bare record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from ..config import Settings
from ..errors import TransferError, UnsafeURLError
from ..httpclient import check_url, create_client
from ..ids import now_ms
from ..present import UrlSigner
from ..schemas.encoding import dumps
from ..schemas.tasks import TaskStatus
from ..secrets_box import SecretBox
from ..standard2 import is_standard2
from ..store import AccountStore, TaskStore
from ..store.deliveries import AttemptRow, DeliveryRow, DeliveryStore
from .config import PushConfig
from .hub import ChangeHub, TaskChange
from .views import event_object

log = logging.getLogger("kling_gateway.push")

CALLBACK_STATUSES = (TaskStatus.PROCESSING, TaskStatus.SUCCEED, TaskStatus.FAILED)
SWEEP_GRACE_MS = 60_000  # events younger than this are re-checked by every sweep (late commits)


class Outcome:
    """What one attempt ended in."""

    def __init__(self, status_code: int | None = None, error: str | None = None, *, final: bool = False):
        self.status_code = status_code
        self.error = error
        self.final = final  # no retry whatever the schedule says

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class CallbackDispatcher:
    def __init__(
        self,
        deliveries: DeliveryStore,
        tasks: TaskStore,
        accounts: AccountStore,
        box: SecretBox,
        hub: ChangeHub,
        signer: UrlSigner,
        settings: Settings,
        config: PushConfig,
    ):
        self.deliveries = deliveries
        self.tasks = tasks
        self.accounts = accounts
        self.box = box
        self.signer = signer
        self.settings = settings
        self.config = config
        self._changed: set[str] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._claimed: dict[int, int] = {}  # delivery id -> claimed until (ms)
        self._secrets: dict[str, Webhook] = {}
        self._client: httpx.AsyncClient | None = None
        self._cursor = 0
        self._next_sweep = 0.0
        self._stopping = False
        self.counts = {"attempts": 0, "delivered": 0, "retried": 0, "gave_up": 0}
        hub.add_listener(self.on_change)

    # ---- life cycle -----------------------------------------------------------------------

    def on_change(self, change: TaskChange) -> None:
        if change.status in CALLBACK_STATUSES or (
            change.status == TaskStatus.SUBMITTED and is_standard2(change.family)
        ):
            self._changed.add(change.task_id)
            self._wake.set()

    async def start(self) -> None:
        self._client = create_client(self.settings, timeout=self.config.callback_timeout_seconds)
        self._loop_task = asyncio.create_task(self._run())

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking work; let attempts in flight finish for ``grace`` s, then release them."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop_task
        if self._inflight:
            _done, pending = await asyncio.wait(set(self._inflight), timeout=grace)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for delivery_id, until in list(self._claimed.items()):
            with contextlib.suppress(Exception):
                await self.deliveries.release(delivery_id, until, now_ms())
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while not self._stopping:
            wait = self.config.callback_poll_seconds
            try:
                await self._create_deliveries()
                wait = await self._send_due()
            except Exception:  # a store hiccup must not end delivery for good
                log.exception("callback dispatch failed")
                await asyncio.sleep(1.0)
            if self._changed:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.01, wait))

    # ---- creating deliveries --------------------------------------------------------------

    async def _create_deliveries(self) -> None:
        changed, self._changed = self._changed, set()
        now = now_ms()
        for task_id in changed:
            try:
                await self.deliveries.create_for_task(task_id, now)
            except Exception:
                self._changed.add(task_id)
                raise
        if time.monotonic() >= self._next_sweep:
            await self.sweep(now)
            self._next_sweep = time.monotonic() + self.config.callback_sweep_seconds

    async def sweep(self, now: int) -> int:
        """Cover every recent event that has no delivery yet (crash between commit and send)."""
        since = now - int(self.config.callback_retry_window_seconds * 1000)
        created = await self.deliveries.create_since(self._cursor, since, now)
        settled = await self.deliveries.settled_event_id(self._cursor, now - SWEEP_GRACE_MS)
        if settled is not None:
            self._cursor = settled
        return created

    # ---- sending --------------------------------------------------------------------------

    async def _send_due(self) -> float:
        """Start every due attempt there is room for; seconds until the next one is due."""
        room = self.config.callback_concurrency - len(self._inflight)
        if room <= 0:
            return self.config.callback_poll_seconds
        rows = await self.deliveries.pending(room + 1)
        now = now_ms()
        for row in rows:
            assert row.next_attempt_at is not None
            if row.next_attempt_at > now:
                return min(self.config.callback_poll_seconds, (row.next_attempt_at - now) / 1000)
            if row.id in self._claimed or len(self._inflight) >= self.config.callback_concurrency:
                continue
            until = now + int((self.config.callback_timeout_seconds + 5) * 1000)
            if not await self.deliveries.claim(row, now, until):
                continue
            self._claimed[row.id] = until
            task = asyncio.create_task(self._attempt(row, until))
            self._inflight.add(task)
            task.add_done_callback(self._attempt_done)
        return self.config.callback_poll_seconds

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not self._stopping:
            self._wake.set()  # room for more

    async def _attempt(self, row: DeliveryRow, claimed_until: int) -> None:
        attempt = row.attempts + 1
        started = now_ms()
        clock = time.monotonic()
        try:
            outcome = await self._deliver(row)
        except asyncio.CancelledError:
            raise  # stop(): the claim is released there
        except Exception as exc:
            log.exception("callback attempt for task %s failed unexpectedly", row.task_id)
            outcome = Outcome(error=f"internal error: {type(exc).__name__}")
        record = AttemptRow(
            delivery_id=row.id,
            attempt=attempt,
            started_at=started,
            duration_ms=int((time.monotonic() - clock) * 1000),
            status_code=outcome.status_code,
            error=outcome.error,
        )
        done = now_ms()
        self.counts["attempts"] += 1
        try:
            if outcome.delivered:
                self.counts["delivered"] += 1
                await self.deliveries.finish_attempt(record, next_attempt_at=None, delivered_at=done)
            elif outcome.final:
                self.counts["gave_up"] += 1
                await self.deliveries.finish_attempt(record, next_attempt_at=None, gave_up_at=done)
            else:
                await self._schedule_retry(row, record, attempt, done)
        except Exception:  # not recorded: the claim expires and the attempt is made again
            log.exception("recording a callback attempt for task %s failed", row.task_id)
        # Not in a finally: an attempt cancelled by stop() keeps its claim for stop() to release.
        self._claimed.pop(row.id, None)

    async def _schedule_retry(self, row: DeliveryRow, record: AttemptRow, attempt: int, now: int) -> None:
        cfg = self.config
        next_at = now + int(cfg.retry_delay(attempt) * 1000)
        window_end = row.created_at + int(cfg.callback_retry_window_seconds * 1000)
        reason = None
        if attempt >= cfg.callback_max_attempts:
            reason = f"gave up after {attempt} attempts"
        elif next_at > window_end:
            reason = f"gave up: retry window of {cfg.callback_retry_window_seconds:g} s exhausted"
        if reason is None:
            self.counts["retried"] += 1
            await self.deliveries.finish_attempt(record, next_attempt_at=next_at)
            return
        self.counts["gave_up"] += 1
        final = AttemptRow(
            **{**record.__dict__, "error": f"{record.error or 'HTTP ' + str(record.status_code)}; {reason}"}
        )
        await self.deliveries.finish_attempt(final, next_attempt_at=None, gave_up_at=now)

    async def _deliver(self, row: DeliveryRow) -> Outcome:
        task = await self.tasks.get(row.task_id)
        if task is None:
            return Outcome(error="task no longer exists", final=True)
        try:
            await check_url(row.url, self.settings, field="callback_url")
        except UnsafeURLError as exc:
            return Outcome(error=f"destination refused: {exc}", final=True)
        except TransferError as exc:
            return Outcome(error=exc.message, final=not exc.retryable)
        await self.signer.prepare_rows([task])  # S3 presigned URLs, when configured
        body = dumps(
            await event_object(task, row.status, row.created_at, self.signer, self.settings.base_url())
        )
        signer = await self._webhook(row.account_id)
        if signer is None:
            return Outcome(error="account no longer exists", final=True)
        stamp = datetime.now(tz=UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": row.webhook_id,
            "webhook-timestamp": str(int(stamp.timestamp())),
            "webhook-signature": signer.sign(row.webhook_id, stamp, body),
        }
        return await self._post(row.url, body.encode(), headers)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        assert self._client is not None
        limit = self.config.callback_timeout_seconds
        try:
            async with asyncio.timeout(limit):
                async with self._client.stream("POST", url, content=body, headers=headers) as response:
                    status = response.status_code
        except TimeoutError:
            return Outcome(error=f"timed out after {limit:g} s")
        except UnsafeURLError as exc:  # the connect-time guard (DNS rebinding)
            return Outcome(error=f"destination refused: {exc}", final=True)
        except httpx.TimeoutException:
            return Outcome(error=f"timed out after {limit:g} s")
        except httpx.HTTPError as exc:
            return Outcome(error=f"cannot reach {httpx.URL(url).host}: {exc or type(exc).__name__}")
        if status == 410:
            return Outcome(
                status, "receiver answered 410 Gone: no more callbacks for this change", final=True
            )
        if 200 <= status < 300:
            return Outcome(status)
        return Outcome(status, f"HTTP {status}")

    async def _webhook(self, account_id: str) -> Webhook | None:
        signer = self._secrets.get(account_id)
        if signer is None:
            account = await self.accounts.by_id(account_id)
            if account is None:
                return None
            signer = Webhook(self.box.open(account.webhook_secret_enc))
            self._secrets[account_id] = signer
        return signer

    def stats(self) -> dict[str, int]:
        return {**self.counts, "in_flight": len(self._inflight)}
