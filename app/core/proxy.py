"""X-Forwarded-For, -Proto and -Host, believed only from the reverse proxies the operator names.

With `CONCORD_PROXY_HEADERS` on (`concord serve --proxy-headers`), a request whose direct peer is in
`CONCORD_TRUSTED_PROXIES` (addresses or networks; default the loopback) has its client address taken
from X-Forwarded-For (the nearest hop that is not itself a trusted proxy), its scheme from
X-Forwarded-Proto, and its public host from X-Forwarded-Host (for the CSRF origin check). From any
other peer, and when the setting is off, those headers are removed before the app sees them: a client
reaching the app port directly cannot pick the address its failed logins are counted under (login
throttling per address) nor the origin its forms are checked against.
"""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import ConfigError

FORWARDED = (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_trusted(value: str) -> tuple[Network, ...]:
    """`127.0.0.1,::1,10.0.0.0/8` -> networks; raises ConfigError naming CONCORD_TRUSTED_PROXIES."""
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError("CONCORD_TRUSTED_PROXIES", f"not a list of addresses or networks ({exc})") from None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def is_trusted(host: str | None, trusted: tuple[Network, ...]) -> bool:
    address = _address(host or "")
    return address is not None and any(address in network for network in trusted)


def client_from(forwarded_for: str, trusted: tuple[Network, ...]) -> str | None:
    """The rightmost hop of X-Forwarded-For that is not a trusted proxy (the hops left of it are
    whatever the client wrote); None when the header holds no address."""
    hops = [h.strip() for h in forwarded_for.split(",") if _address(h) is not None]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop.strip("[]")
    return hops[0].strip("[]") if hops else None


class ForwardedHeadersMiddleware:
    """Applies the settings of the app in `scope["app"]` (read per request, so tests can change them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            settings = scope["app"].state.settings
            trusted = parse_trusted(settings.trusted_proxies)
            client = scope.get("client")
            peer = client[0] if client else None
            if settings.proxy_headers and is_trusted(peer, trusted):
                _believe(scope, trusted)
            else:
                scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() not in FORWARDED]
        await self.app(scope, receive, send)


def _believe(scope: Scope, trusted: tuple[Network, ...]) -> None:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    client = client_from(headers.get("x-forwarded-for", ""), trusted)
    if client is not None:
        scope["client"] = (client, 0)
    proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
    if proto in ("http", "https"):
        scope["scheme"] = proto
