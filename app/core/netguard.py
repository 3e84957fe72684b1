"""Outbound addresses: refuse loopback, private, link-local and cloud-metadata targets (SSRF, reliability #28).

A host is checked by what it resolves to, every address of it: a DNS name that points at 127.0.0.1 or
169.254.169.254 is refused like the literal, and so are the odd spellings the resolver accepts
(`2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`). `allow_private` admits loopback and private networks for
a deployment whose object store runs beside the app; link-local (the metadata service's network),
multicast, unspecified and reserved addresses stay refused even then.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[str]]

# Cloud metadata services outside 169.254.0.0/16: AWS over IPv6, Alibaba.
METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}


class UnsafeAddress(ValueError):
    """The target resolves to an address Concord must not connect to."""


def system_resolver(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeAddress(f"cannot resolve {host!r} ({exc})") from None
    return [str(info[4][0]) for info in infos]


def _refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why `address` is refused, or None when it may be used."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified or address.is_multicast or address.is_link_local:
        return "a link-local, multicast or unspecified address"
    if address.is_global:
        return None
    if allow_private and (address.is_loopback or address.is_private):
        return None
    return "a loopback, private or reserved address"


def check_host(host: str, *, allow_private: bool = False, resolve: Resolver = system_resolver) -> list[str]:
    """The host's addresses, all of them allowed; raises UnsafeAddress naming the first refused one."""
    host = host.strip("[]")
    if not host:
        raise UnsafeAddress("no host given")
    addresses = resolve(host)
    if not addresses:
        raise UnsafeAddress(f"{host!r} resolves to nothing")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        reason = _refusal(address, allow_private)
        if reason is not None:
            raise UnsafeAddress(f"{host!r} resolves to {address}, {reason}")
    return addresses


def check_url(url: str, *, allow_private: bool = False, resolve: Resolver = system_resolver) -> str:
    """An http(s) URL without credentials whose host passes `check_host`; returns the host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeAddress(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise UnsafeAddress("credentials in the URL are not allowed")
    if parts.query or parts.fragment:
        raise UnsafeAddress("a query or fragment is not allowed here")
    try:
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        raise UnsafeAddress(f"{url!r}: {exc}") from None
    check_host(host, allow_private=allow_private, resolve=resolve)
    return host
