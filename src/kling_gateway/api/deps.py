"""What the routes use, handed over once: the narrow services, the caller's account, the base URL.

``create_app`` stores one :class:`ApiServices` on its app's ``services``; handlers take the parts
they use from it (never the whole gateway).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..accounting.service import AccountingService
from ..auth import Authenticator
from ..catalog import Catalog
from ..config import Settings
from ..engines.relay.callbacks import CallbackReceiver
from ..engines.router import EngineRouter
from ..idempotency import IdempotentCreates
from ..present import TaskAnswers, UrlSigner
from ..push import ChangeHub
from ..push.runtime import Push
from ..ratelimit import RateLimiter
from ..service import TaskService
from ..sessions import SelectionService
from ..standard2.service import Standard2Service
from ..storage import Storage
from ..store import AccountRow, LedgerStore

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A gateway API key, or a Kling JWT (HS256, iss = access key, signed with the secret key).",
)


@dataclass(frozen=True)
class ApiServices:
    tasks: TaskService
    selection: SelectionService
    auth: Authenticator
    signer: UrlSigner
    answers: TaskAnswers  # serialized task objects (finished ones kept)
    records: TaskAnswers  # the same for the new standard's records (``GET /tasks``)
    settings: Settings
    storage: Storage  # result files (signed URLs)
    hub: ChangeHub
    push: Push
    catalog: Catalog
    relay_callbacks: CallbackReceiver
    ledger: LedgerStore  # the account API's reads
    accounting: AccountingService  # the admin API's actions
    standard2: Standard2Service
    engines: EngineRouter  # names only (the front page)
    limiter: RateLimiter  # per-key request rate (1302)
    creates: IdempotentCreates  # create with an optional Idempotency-Key


def services_of(request: Request) -> ApiServices:
    services: ApiServices = request.scope["app"].services
    return services


async def authenticate(request: Request) -> AccountRow:
    """The caller's account from ``Authorization`` (gateway API key or Kling JWT), within its
    request rate."""
    services = services_of(request)
    account = await services.auth.authenticate(request.headers.get("authorization"))
    services.limiter.check(account.id, account.rate_limit_per_second, account.rate_limit_burst)
    return account


async def current_account(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> AccountRow:
    """:func:`authenticate` as a FastAPI dependency (routes outside the Kling route table)."""
    return await authenticate(request)


def base_url_of(request: Request) -> str:
    configured = services_of(request).settings.public_base_url
    if configured:
        return configured.rstrip("/")
    scope = request.scope
    host = request.headers.get("host")
    if not host:  # HTTP/1.0 without Host: the address the server listens on
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"
