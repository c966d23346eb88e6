"""The one place the gateway makes outgoing HTTP requests, and the guard that keeps URLs honest.

"Never trust a URL": inputs, callbacks and upstream assets name hosts chosen by clients. Before
any byte is sent, :func:`check_url` resolves the host (every A/AAAA record) and refuses loopback,
private, link-local (cloud metadata included), multicast, unspecified, reserved, shared (CGNAT) and
other non-public addresses, also when hidden in IPv4-mapped, 6to4 or NAT64 IPv6 addresses.
``settings.fetch_allow_private`` or ``settings.fetch_allow_hosts`` (host names, IPs or CIDRs) open
them for tests and private deployments.

DNS rebinding: a host may resolve to a public address when checked and to a private one when
connected. Clients made by :func:`create_client` therefore connect through :class:`GuardedBackend`,
which resolves again at connect time, applies the same policy, and connects to exactly the
addresses it approved (TLS still verifies the certificate against the host name). Environment
proxies are ignored on purpose: a proxy would resolve the name itself and bypass the pinning.

:func:`guarded_stream` is the generic download: redirects followed by hand (at most
:data:`MAX_REDIRECTS`), every hop re-checked, a size cap enforced on ``Content-Length`` and while
streaming, and one deadline for the whole exchange (a slow-drip server cannot stretch it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from .errors import TransferError, UnsafeURLError

if TYPE_CHECKING:
    from .config import Settings

try:
    __version__ = metadata.version("kling-gateway")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"

USER_AGENT = f"kling-gateway/{__version__}"
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = frozenset(map(ipaddress.ip_address, ("169.254.169.254", "fd00:ec2::254")))

log = logging.getLogger("kling_gateway.fetch")


def human_size(n: int) -> str:
    """``10485760`` -> ``"10 MB"`` (binary units, as the size caps are written)."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MB"
    return f"{n} bytes"


def _seconds(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------- address policy


def _classify(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be contacted, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = _classify(embedded)
            return f"{reason} (embedded {embedded})" if reason else None
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip in _METADATA:
        return "a link-local address (cloud metadata service)"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a shared (CGNAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a non-public address"
    return None


class _AllowList:
    """``settings.fetch_allow_hosts`` parsed once: host names, and IPs/CIDRs as networks."""

    def __init__(self, entries: Iterable[str]):
        self.names: set[str] = set()
        self.networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().strip("[]").lower().rstrip(".")
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry)

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def allows_ip(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)


def _policy(settings: Settings) -> tuple[bool, _AllowList]:
    return bool(settings.fetch_allow_private), _AllowList(settings.fetch_allow_hosts or [])


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal_ip(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TransferError(f"cannot resolve host {host}", retryable=True) from exc
    seen: dict[IPAddress, None] = {}
    for family, *_rest, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            # strip an IPv6 zone ("fe80::1%eth0") before parsing
            seen.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]), None)
    if not seen:
        raise TransferError(f"cannot resolve host {host}", retryable=True)
    return list(seen)


async def resolve_allowed(host: str, port: int, settings: Settings) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses if *all* of them are allowed.

    Raises :class:`UnsafeURLError` ("not allowed"; the refused address is only logged), or
    :class:`TransferError` when the name does not resolve.
    """
    allow_private, allow = _policy(settings)
    addresses = await _resolve(host, port)
    if allow_private or allow.allows_name(host):
        return addresses
    for ip in addresses:
        reason = _classify(ip)
        if reason and not allow.allows_ip(ip):
            if _literal_ip(host) == ip:
                raise UnsafeURLError(f"host {host} is {reason}")
            # never the address or its kind: the answer must not map the operator's network
            log.info("refused %s: resolves to %s, %s", host, ip, reason)
            raise UnsafeURLError(f"host {host} is not allowed (it does not resolve to a public address)")
    return addresses


def _prefixed(field: str | None, message: str) -> str:
    return f"{field}: {message}" if field else message


async def check_url(url: str | httpx.URL, settings: Settings, *, field: str | None = None) -> None:
    """Refuse ``url`` unless it is http(s) and its host resolves only to allowed addresses.

    Sends nothing to the host. Messages read ``"<field>: host 10.0.0.5 is a private address"``.
    Raises :class:`UnsafeURLError` (policy) or :class:`TransferError` (name does not resolve).
    """
    try:
        parsed = httpx.URL(str(url)) if not isinstance(url, httpx.URL) else url
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise UnsafeURLError(_prefixed(field, "not a valid URL")) from exc
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURLError(_prefixed(field, "only http and https URLs are allowed"))
    if not parsed.host:
        raise UnsafeURLError(_prefixed(field, "URL has no host"))
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        await resolve_allowed(parsed.host, port, settings)
    except UnsafeURLError as exc:
        raise UnsafeURLError(_prefixed(field, str(exc))) from None
    except TransferError as exc:
        raise TransferError(_prefixed(field, exc.message), retryable=exc.retryable) from None


# --------------------------------------------------------------------------- guarded transport


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that checks every TCP connect against the address policy
    and connects only to the addresses it approved (the DNS-rebinding guard)."""

    def __init__(self, settings: Settings, inner: httpcore.AsyncNetworkBackend | None = None):
        self._settings = settings
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve_allowed(host, port, self._settings)
        except TransferError as exc:
            raise httpcore.ConnectError(exc.message) from exc
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise UnsafeURLError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, settings: Settings, limits: httpx.Limits):
        super().__init__(limits=limits, trust_env=False)
        # httpx does not take a network backend; rebuild its pool with ours (public httpcore API).
        if not isinstance(self._pool, httpcore.AsyncConnectionPool):  # fail loudly, never unguarded
            raise RuntimeError("httpx transport layout changed; cannot install the address guard")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(settings),
        )


DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)


def create_client(
    settings: Settings,
    *,
    timeout: float | httpx.Timeout | None = None,
    follow_redirects: bool = False,
    guard: bool = True,
) -> httpx.AsyncClient:
    """An :class:`httpx.AsyncClient` with the gateway's user agent, limits and timeout.

    With ``guard`` (the default) every connection passes the address policy at connect time, so
    the client cannot reach private addresses whatever URL it is given. Pass ``guard=False`` only
    for hosts the operator configured (relay upstream base URLs), never for client-supplied URLs.
    ``timeout`` defaults to ``settings.fetch_timeout_seconds`` per operation.
    """
    if timeout is None:
        timeout = settings.fetch_timeout_seconds
    transport = _GuardedTransport(settings, DEFAULT_LIMITS) if guard else None
    return httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT},
        timeout=timeout,
        limits=DEFAULT_LIMITS,
        follow_redirects=follow_redirects,
        max_redirects=MAX_REDIRECTS,
        transport=transport,
        trust_env=False,
    )


# --------------------------------------------------------------------------- guarded download


_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _retryable_status(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


async def _exchange(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    settings: Settings,
    *,
    max_bytes: int,
    field: str,
    content: bytes | None,
    headers: Mapping[str, str] | None,
) -> bytes:
    for _hop in range(MAX_REDIRECTS + 1):
        await check_url(url, settings, field=field)
        request = client.build_request(method, url, content=content, headers=headers)
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            if response.status_code in _REDIRECT_STATUSES:
                location = response.headers.get("location")
                if not location:
                    raise TransferError(f"{field}: HTTP {response.status_code} redirect without Location")
                target = response.url.join(location)
                if headers and _origin(target) != _origin(response.url):
                    headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
                url = str(target)
                if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                    method, content = ("HEAD" if method == "HEAD" else "GET"), None
                continue
            if response.status_code >= 400:
                raise TransferError(
                    f"{field}: HTTP {response.status_code} from upstream",
                    status=response.status_code,
                    retryable=_retryable_status(response.status_code),
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise TransferError(
                    f"{field}: download exceeds {human_size(max_bytes)}", status=response.status_code
                )
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise TransferError(
                        f"{field}: download exceeds {human_size(max_bytes)}", status=response.status_code
                    )
            return bytes(body)
        finally:
            await response.aclose()
    raise TransferError(f"{field}: more than {MAX_REDIRECTS} redirects")


async def guarded_stream(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    settings: Settings,
    *,
    max_bytes: int,
    field: str,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> bytes:
    """Send one request through the guard and return the response body (2xx only).

    Redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each hop re-checked
    (303, and 301/302 after POST, become GET without body; credentials are not sent to
    another origin). ``timeout`` (default
    ``settings.fetch_timeout_seconds``) bounds the whole exchange. Raises
    :class:`UnsafeURLError` or :class:`TransferError`; messages start with ``field``.
    """
    limit = settings.fetch_timeout_seconds if timeout is None else timeout
    try:
        async with asyncio.timeout(limit):
            return await _exchange(
                client,
                method,
                url,
                settings,
                max_bytes=max_bytes,
                field=field,
                content=content,
                headers=headers,
            )
    except TimeoutError:
        raise TransferError(f"{field}: timed out after {_seconds(limit)} s", retryable=True) from None
    except UnsafeURLError as exc:
        # raised by GuardedBackend at connect time (rebinding) without the field name
        message = str(exc)
        raise UnsafeURLError(message if message.startswith(f"{field}: ") else f"{field}: {message}") from None
    except httpx.TimeoutException:
        raise TransferError(f"{field}: timed out after {_seconds(limit)} s", retryable=True) from None
    except httpx.TransportError as exc:
        detail = str(exc) or type(exc).__name__
        raise TransferError(
            f"{field}: cannot reach {_host_of(exc, url)} ({detail})", retryable=True
        ) from None


def _host_of(exc: httpx.TransportError, fallback: str) -> str:
    try:
        return exc.request.url.host
    except RuntimeError:  # no request attached
        return httpx.URL(fallback).host
