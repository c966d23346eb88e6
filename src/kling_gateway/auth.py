"""Both authentication schemes on every route: a gateway API key as ``Bearer``, or Kling's
self-signed HS256 JWT (``iss`` = access key, signed with the secret key; spec §2.1).

Lookups are cached for :data:`CACHE_SECONDS` so the polling hot path rarely touches the store
(one lookup per key per process per second); a revoked key stops working within that bound on
every process, this one included (``forget`` makes it immediate here).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import jwt

from .errors import Code, KlingError
from .secrets_box import SecretBox, hash_api_key
from .store import AccountRow, AccountStore
from .tokens import mint_jwt

__all__ = ["Authenticator", "mint_jwt"]

LEEWAY_SECONDS = 5
# The bound on how long a revoked key keeps working in another process (docs/benchmarks-quick.md).
CACHE_SECONDS = 1.0

V = TypeVar("V")


class _TTLCache(Generic[V]):
    def __init__(self, ttl: float, max_items: int = 10_000):
        self.ttl = ttl
        self.max_items = max_items
        self._items: dict[str, tuple[float, V]] = {}
        self._loading: dict[str, asyncio.Future[V | None]] = {}

    def get(self, key: str) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return item[1]

    def put(self, key: str, value: V) -> None:
        if len(self._items) >= self.max_items:
            self._items.clear()
        self._items[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        self._items.clear()
        self._loading.clear()

    async def load(self, key: str, fetch: Callable[[], Awaitable[V | None]]) -> V | None:
        """The cached value, else ``fetch()``'s (kept when not None). Concurrent misses of one key
        share one fetch: when an entry expires under load, the store sees one lookup, not one per
        request in flight."""
        found = self.get(key)
        if found is not None:
            return found
        pending = self._loading.get(key)
        if pending is None:
            pending = self._loading[key] = asyncio.ensure_future(fetch())
            pending.add_done_callback(lambda done: self._forget_load(key, done))
        value = await asyncio.shield(pending)
        if value is not None:
            self.put(key, value)
        return value

    def _forget_load(self, key: str, done: asyncio.Future[V | None]) -> None:
        if self._loading.get(key) is done:
            del self._loading[key]


class Authenticator:
    def __init__(
        self,
        accounts: AccountStore,
        box: SecretBox,
        *,
        cache_seconds: float = CACHE_SECONDS,
        max_token_lifetime: float = 24 * 3600.0,
    ):
        """``cache_seconds`` is bounded by ``CACHE_SECONDS`` (how late a revocation may be seen);
        ``max_token_lifetime``: a JWT whose ``exp`` lies further ahead is refused (Kling's own
        tokens live 30 minutes; an unbounded one is a key that cannot expire)."""
        if not 0 <= cache_seconds <= CACHE_SECONDS:
            raise ValueError(f"cache_seconds must be between 0 and {CACHE_SECONDS}")
        self.accounts = accounts
        self.max_token_lifetime = max_token_lifetime
        self.box = box
        self._by_key: _TTLCache[AccountRow] = _TTLCache(cache_seconds)
        self._by_access: _TTLCache[AccountRow] = _TTLCache(cache_seconds)
        # token -> (account, nbf, exp) of a verified JWT
        self._tokens: _TTLCache[tuple[AccountRow, float | None, float]] = _TTLCache(cache_seconds)

    def forget(self) -> None:
        """Drop cached lookups (after a revoke in this process)."""
        self._by_key.clear()
        self._by_access.clear()
        self._tokens.clear()

    async def authenticate(self, header: str | None) -> AccountRow:
        if header is None or not header.strip():
            raise KlingError(Code.AUTH_HEADER_EMPTY, "Authorization header is empty")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token or "\x00" in token:
            raise KlingError(Code.AUTH_INVALID, "Authorization must be 'Bearer <api key or JWT>'")
        if token.count(".") == 2:
            return await self._jwt(token)
        return await self._api_key(token)

    async def _api_key(self, token: str) -> AccountRow:
        # keyed by the presented key, as verified JWTs are by the token (hashed only on a miss)
        account = self._by_key.get(token)
        if account is None:
            account = await self._by_key.load(
                token, lambda: self.accounts.by_api_key_hash(hash_api_key(token))
            )
        if account is None or not account.active:
            raise KlingError(Code.AUTH_FAILED, "authentication failed: unknown or revoked API key")
        return account

    async def _jwt(self, token: str) -> AccountRow:
        cached = self._tokens.get(token)
        now = time.time()
        if cached is not None:
            known, nbf, exp = cached
            if nbf is not None and now + LEEWAY_SECONDS < nbf:
                raise KlingError(Code.AUTH_NOT_YET_VALID, "token is not yet valid (nbf is in the future)")
            if now - LEEWAY_SECONDS >= exp:
                raise KlingError(Code.AUTH_EXPIRED, "token has expired (exp is in the past)")
            return known
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise KlingError(Code.AUTH_INVALID, "Authorization token is not a valid JWT") from None
        if header.get("alg") != "HS256":
            raise KlingError(
                Code.AUTH_FAILED, f"JWT algorithm {header.get('alg')!r} is not accepted; use HS256"
            )
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise KlingError(Code.AUTH_INVALID, "JWT has no iss (access key) claim")
        if "\x00" in issuer or len(issuer) > 256:
            raise KlingError(Code.AUTH_INVALID, "JWT iss (access key) is malformed (NUL byte or too long)")
        account = await self._by_access.load(issuer, lambda: self.accounts.by_access_key(issuer))
        if account is None or not account.active:
            raise KlingError(Code.AUTH_FAILED, "authentication failed: unknown or revoked access key")
        secret = self.box.open(account.secret_key_enc)
        try:
            verified = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp"], "verify_iat": False},
            )
        except jwt.ExpiredSignatureError:
            raise KlingError(Code.AUTH_EXPIRED, "token has expired (exp is in the past)") from None
        except jwt.ImmatureSignatureError:
            raise KlingError(
                Code.AUTH_NOT_YET_VALID, "token is not yet valid (nbf is in the future)"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise KlingError(Code.AUTH_INVALID, f"JWT is missing the {exc.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise KlingError(
                Code.AUTH_FAILED, "authentication failed: JWT signature does not match"
            ) from None
        except jwt.PyJWTError as exc:
            raise KlingError(Code.AUTH_INVALID, f"Authorization token is invalid: {exc}") from None
        exp = float(verified["exp"])
        if exp - now > self.max_token_lifetime + LEEWAY_SECONDS:
            raise KlingError(
                Code.AUTH_INVALID,
                f"JWT exp is {exp - now:.0f} s away; tokens may live at most "
                f"{self.max_token_lifetime:.0f} s (max_token_lifetime_seconds)",
            )
        self._tokens.put(token, (account, verified.get("nbf"), exp))
        return account
