"""Requests to URLs that producers name (job callbacks, alert URLs), guarded against
server-side request forgery.

A producer chooses the URL, but the request leaves from inside the deployment, where
the cloud metadata service (169.254.169.254), the database and every private host are
reachable. So by default a URL may only lead to a *global* address: loopback,
link-local, private (10/8, 172.16/12, 192.168/16), unique-local (fc00::/7), shared
(100.64/10), multicast, reserved and unspecified addresses are refused, and so is an
IPv6 address that embeds one of them (IPv4-mapped, NAT64, 6to4, Teredo).
``GUARDQ_CALLBACK_ALLOW`` names the hosts and networks an operator allows anyway.

The check runs twice: when the job is submitted (the API answers 422 naming the
problem) and again when the request is sent, because a name's DNS answer can change in
between, or differ from one lookup to the next (DNS rebinding). At send time the host
is resolved once, every address checked, and the connection made to a checked address
(with the Host header and the TLS server name of the URL's host), so no second lookup
can steer it elsewhere. Redirects are never followed, and proxies from the environment
are not used.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# host, port -> the addresses it resolves to (strings). Tests pass their own.
Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


class ForbiddenDestination(ValueError):
    """The URL is malformed or leads to an address guardq may not send to; the message
    names the host and the address, never the URL's path or query."""


class UnresolvedHost(ForbiddenDestination):
    """The host has no address now: refused at submit, retried at send (DNS may be
    down for a moment)."""


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of ``host`` from the system resolver (``getaddrinfo``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_allow_entry(entry: str) -> IPNetwork | str:
    """One entry of ``GUARDQ_CALLBACK_ALLOW``: a network or address (``10.0.0.0/8``,
    ``fd00::1``), a host name (``hooks.internal``) or every name under a domain
    (``.internal``). Raises ValueError naming the entry."""
    entry = entry.strip().lower()
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        pass
    name = entry.removeprefix(".")
    labels = name.split(".")
    if not name or any(
        not label or len(label) > 63 or not label.replace("-", "").replace("_", "").isalnum()
        for label in labels
    ):
        raise ValueError(
            f"{entry!r} is neither a network (10.0.0.0/8), an address, a host name "
            "(hooks.internal) nor a domain (.internal)"
        )
    return entry


@dataclass(frozen=True)
class Allowed:
    """What an operator allows beyond global addresses (``GUARDQ_CALLBACK_ALLOW``)."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: tuple[str, ...] = ()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> Allowed:
        parsed = [parse_allow_entry(entry) for entry in entries]
        return cls(
            networks=tuple(p for p in parsed if not isinstance(p, str)),
            hosts=tuple(p for p in parsed if isinstance(p, str)),
        )

    def host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(
            host == entry or (entry.startswith(".") and host.endswith(entry))
            for entry in self.hosts
        )

    def address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def _kind(address: IPAddress) -> str | None:
    """Why ``address`` is not one to send to, or None for a global address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = _kind(embedded)
            return f"{inner} (IPv4 {embedded} inside IPv6)" if inner else None
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unique-local", address in _UNIQUE_LOCAL),
        ("shared (carrier-grade NAT)", address in _SHARED),
        ("private", address.is_private),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


@dataclass(frozen=True)
class Destination:
    """A checked URL: its parts, and the addresses the request may connect to."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]

    def pinned(self, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """The URL with ``address`` for its host, the Host header and the request
        extensions (the TLS server name) that keep the original host's identity."""
        parts = urlsplit(self.url)
        literal = f"[{address}]" if ":" in address else address
        default_port = 443 if self.scheme == "https" else 80
        netloc = literal if self.port == default_port else f"{literal}:{self.port}"
        host_header = self.host if self.port == default_port else f"{self.host}:{self.port}"
        if ":" in self.host:
            host_header = f"[{self.host}]" + ("" if self.port == default_port else f":{self.port}")
        if parts.username is not None:  # keep credentials the URL carries
            netloc = f"{parts.netloc.rpartition('@')[0]}@{netloc}"
        url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        extensions = {"sni_hostname": self.host} if self.scheme == "https" else {}
        return url, {"Host": host_header}, extensions


def check_url(url: str, allowed: Allowed, resolver: Resolver | None = None) -> Destination:
    """Resolve ``url``'s host and check every address it has; the checked destination.

    Raises ``ForbiddenDestination`` for a URL that is not http(s), has no host, does not
    resolve, or leads (by any of its addresses) to a forbidden address. ``OSError`` is
    not raised: a lookup failure is reported as "does not resolve".
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ForbiddenDestination(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ("http", "https") or not host:
        raise ForbiddenDestination("must be an absolute http:// or https:// URL")
    port = port or (443 if scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = (resolver or system_resolver)(host, port)
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            raise UnresolvedHost(f"host {host!r} does not resolve")
    if literal is None and allowed.host(host):
        return Destination(url, scheme, host, port, tuple(addresses))
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        kind = _kind(address)
        if kind is not None and not allowed.address(address):
            named = "is" if literal is not None else f"{host!r} resolves to"
            raise ForbiddenDestination(
                f"host {named} {address}, a {kind} address: guardq sends only to public "
                "addresses unless GUARDQ_CALLBACK_ALLOW allows it"
            )
    return Destination(url, scheme, host, port, tuple(addresses))


def post(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    allowed: Allowed,
    timeout: float,
    resolver: Resolver | None = None,
) -> httpx.Response:
    """POST ``body`` to ``url`` after ``check_url``, connected to a checked address.

    Raises ``ForbiddenDestination`` (final: a retry would meet the same answer unless
    DNS changes, and the caller decides) or ``httpx.HTTPError`` when no address of the
    host could be reached. Redirects are returned, never followed.
    """
    destination = check_url(url, allowed, resolver)
    error: httpx.HTTPError | None = None
    with httpx.Client(trust_env=False, follow_redirects=False, timeout=timeout) as client:
        for address in destination.addresses:
            pinned, host, extensions = destination.pinned(address)
            try:
                return client.post(
                    pinned,
                    content=body,
                    headers={**headers, **host},
                    extensions=extensions,
                )
            except httpx.ConnectError as exc:  # the next address may answer
                error = exc
    assert error is not None
    raise error
