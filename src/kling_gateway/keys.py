"""Issuing gateway accounts: one API key (Bearer), an access/secret key pair (Kling JWT) and a
webhook signing secret. Plain secrets are shown once, at creation."""

from __future__ import annotations

import base64
import secrets
from dataclasses import asdict, dataclass

from .ids import now_ms
from .secrets_box import SecretBox, hash_api_key
from .store import AccountRow, AccountStore
from .store.accounts import NewKeys


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


def _new_api_key() -> str:
    return "kg-" + secrets.token_urlsafe(30)


def _new_key_pair() -> tuple[str, str]:
    """A Kling access key (the JWT ``iss``) and its secret key (the HS256 signing key)."""
    return "AK" + secrets.token_hex(15).upper(), secrets.token_urlsafe(32)


async def create_account(
    store: AccountStore, box: SecretBox, name: str = "", *, max_concurrent_tasks: int | None = None
) -> IssuedKey:
    """``max_concurrent_tasks`` caps tasks in flight like a Kling resource pack (1303 beyond it)."""
    account_id = "acc_" + secrets.token_hex(8)
    api_key = _new_api_key()
    access_key, secret_key = _new_key_pair()
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


async def rotate_keys(store: AccountStore, box: SecretBox, row: AccountRow) -> IssuedKey | None:
    """New API key and access/secret key pair for an active account, shown once; the webhook
    secret stays (callback receivers keep verifying). None when the account is not active."""
    api_key = _new_api_key()
    access_key, secret_key = _new_key_pair()
    keys = NewKeys(hash_api_key(api_key), api_key[:10], access_key, box.seal(secret_key))
    if not await store.rotate(row.id, keys):
        return None
    webhook_secret = box.open(row.webhook_secret_enc)
    return IssuedKey(row.id, row.name, api_key, access_key, secret_key, webhook_secret, row.created_at)


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
