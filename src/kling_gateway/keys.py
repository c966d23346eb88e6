"""Issuing gateway accounts: one API key (Bearer), an access/secret key pair (Kling JWT) and a
webhook signing secret. Plain secrets are shown once, at creation."""

from __future__ import annotations

import base64
import secrets
from dataclasses import asdict, dataclass

from .ids import now_ms
from .secrets_box import SecretBox, hash_api_key
from .store import AccountRow, AccountStore


@dataclass(frozen=True)
class IssuedKey:
    account_id: str
    name: str
    api_key: str
    access_key: str
    secret_key: str
    webhook_secret: str
    created_at: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _new_webhook_secret() -> str:
    """Standard Webhooks secret format: ``whsec_`` + base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


async def create_account(
    store: AccountStore, box: SecretBox, name: str = "", *, max_concurrent_tasks: int | None = None
) -> IssuedKey:
    """``max_concurrent_tasks`` caps tasks in flight like a Kling resource pack (1303 beyond it)."""
    account_id = "acc_" + secrets.token_hex(8)
    api_key = "kg-" + secrets.token_urlsafe(30)
    access_key = "AK" + secrets.token_hex(15).upper()
    secret_key = secrets.token_urlsafe(32)
    webhook_secret = _new_webhook_secret()
    created = now_ms()
    row = AccountRow(
        id=account_id,
        name=name,
        api_key_prefix=api_key[:10],
        access_key=access_key,
        secret_key_enc=box.seal(secret_key),
        webhook_secret_enc=box.seal(webhook_secret),
        max_concurrent_tasks=max_concurrent_tasks,
        created_at=created,
        revoked_at=None,
    )
    await store.insert(row, hash_api_key(api_key))
    return IssuedKey(account_id, name, api_key, access_key, secret_key, webhook_secret, created)


def public_view(row: AccountRow) -> dict[str, object]:
    """What ``keys list`` shows: never a secret."""
    return {
        "account_id": row.id,
        "name": row.name,
        "api_key_prefix": row.api_key_prefix + "…",
        "access_key": row.access_key,
        "created_at": row.created_at,
        "revoked": row.revoked_at is not None,
    }
