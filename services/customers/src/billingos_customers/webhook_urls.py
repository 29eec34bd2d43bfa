"""Where a webhook may be posted (server-side request forgery rules).

A merchant names a URL and BillingOS posts to it from inside its network,
so the URL must not reach what only that network can: loopback, private,
link-local (cloud metadata at 169.254.169.254), CGNAT, multicast, reserved
or unspecified addresses, nor any of those written as IPv4-mapped IPv6. The
host is resolved and every address it resolves to is vetted, when the
endpoint is created or changed (a clear error for the merchant) and again
at every delivery (a name can be pointed elsewhere later). The sender then
connects to the address it vetted itself (`webhook_sender.VettedBackend`),
so a second lookup answering differently (DNS rebinding) is never used.

An organization in development mode may use http and any address but a
link-local one (cloud metadata): its receiver runs on the developer's
machine. Only where the deployment allows it
(`BILLINGOS_CUSTOMERS_WEBHOOK_DEVELOPMENT_MODE_ALLOWED`, which `./billingos up`
sets): a production suite applies the public-address rules to everyone.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from billingos_kit.errors import InvalidArgument

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT_SECONDS = 5.0
URL_FIELD = "webhook_endpoint.url"
# Shared address space (RFC 6598): carriers' NAT, and some clouds' internal
# networks; `ipaddress` does not count it as private.
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Metadata services not on a link-local address: AWS's IPv6 one, Alibaba's,
# Azure's wire server, Oracle's (besides 169.254.169.254 everywhere).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("fd00:ec2::254", "100.100.100.200", "168.63.129.16", "192.0.0.192")
)
# Host names that only a private network resolves: refused outside
# development mode before any lookup, so an answer never tells a merchant
# which internal names exist (`vm`, `db.svc.cluster.local`).
INTERNAL_SUFFIXES = (
    ".local",
    ".localhost",
    ".internal",
    ".intranet",
    ".lan",
    ".home",
    ".corp",
    ".home.arpa",
    ".svc",
    ".cluster.local",
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookUrlRefused(InvalidArgument):
    """A URL BillingOS will not post to, with a reason a client can branch on."""

    def __init__(self, description: str, reason: str) -> None:
        super().__init__(URL_FIELD, description, reason=reason)


@dataclass(frozen=True)
class WebhookTarget:
    """A URL that passed the syntax rules: where to connect."""

    url: str
    scheme: str
    host: str
    port: int


def parse_target(url: str, *, development_mode: bool) -> WebhookTarget:
    """The URL's scheme, host and port, or WebhookUrlRefused."""
    if not url.strip():
        raise WebhookUrlRefused("is required", "WEBHOOK_URL_INVALID")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlRefused(
            f"must be at most {MAX_URL_LENGTH} characters", "WEBHOOK_URL_INVALID"
        )
    if not url.isascii() or any(not character.isprintable() for character in url):
        # What is posted to is what was checked: no client-side encoding step
        # between the two (an international host goes in its xn-- form).
        raise WebhookUrlRefused(
            "must be printable ASCII: percent-encode the path and write an "
            "international host name in its punycode (xn--) form",
            "WEBHOOK_URL_INVALID",
        )
    if url != url.strip() or any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise WebhookUrlRefused("must not contain whitespace", "WEBHOOK_URL_INVALID")
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise WebhookUrlRefused("must be an absolute http(s) URL", "WEBHOOK_URL_INVALID") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host:
        wanted = "http(s)" if development_mode else "https"
        raise WebhookUrlRefused(f"must be an absolute {wanted} URL", "WEBHOOK_URL_INVALID")
    if scheme == "http" and not development_mode:
        raise WebhookUrlRefused(
            "must use https (http only for an organization in development mode)",
            "WEBHOOK_URL_NOT_HTTPS",
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise WebhookUrlRefused(
            "must not contain a user name or password", "WEBHOOK_URL_HAS_USERINFO"
        )
    if parts.fragment or "#" in url:
        raise WebhookUrlRefused("must not contain a fragment (#...)", "WEBHOOK_URL_HAS_FRAGMENT")
    if port == 0:
        raise WebhookUrlRefused("must not name port 0", "WEBHOOK_URL_INVALID")
    return WebhookTarget(url, scheme, host, port or (443 if scheme == "https" else 80))


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and reaches: mapped and
    translated (`::ffff:a.b.c.d`, `::ffff:0:a.b.c.d`), compatible
    (`::a.b.c.d`), 6to4 (2002::/16), NAT64 (64:ff9b::/96).
    A network may route each of them to that IPv4 address."""
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or address in IPV4_TRANSLATED:
        return low32
    if address in IPV4_COMPATIBLE and int(address) > 1:
        return low32
    return None


def never_allowed(address: IPAddress) -> bool:
    """Addresses refused in every mode, development included: link-local
    (cloud metadata at 169.254.169.254, fe80::/10) and the metadata services
    clouds put elsewhere, written directly or inside an IPv6 address, and
    Teredo tunnels."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.teredo is not None:
            return True  # a tunnel to wherever its relay forwards
        carried = embedded_ipv4(address)
        if carried is not None and never_allowed(carried):
            return True
    return address.is_link_local or address in METADATA_ADDRESSES


def refused_address(address: IPAddress) -> str | None:
    """Why BillingOS never posts to `address` from production; None: public."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = embedded_ipv4(address)
        if carried is not None:
            return refused_address(carried)
        if address.is_site_local:
            return "site-local"
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return "shared (CGNAT)"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally reachable", not address.is_global),
    )
    for name, applies in checks:
        if applies:
            return name
    return None


async def resolve(
    host: str, port: int, executor: concurrent.futures.Executor | None = None
) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal: itself). Uses the
    system resolver, so legacy spellings like `0x7f000001` or `10.1` are
    resolved as a connection would, and vetted as what they are. A name
    that takes longer than RESOLVE_TIMEOUT_SECONDS resolves to nothing: a
    merchant's slow DNS must not hold a request (or its transaction) open."""
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            found = await asyncio.get_running_loop().run_in_executor(
                executor,
                functools.partial(
                    socket.getaddrinfo,
                    host,
                    port,
                    type=socket.SOCK_STREAM,
                    proto=socket.IPPROTO_TCP,
                ),
            )
    except (socket.gaierror, UnicodeError, TimeoutError):
        return []
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def vetted_addresses(
    host: str,
    port: int,
    *,
    development_mode: bool,
    executor: concurrent.futures.Executor | None = None,
) -> list[IPAddress]:
    """The addresses to connect to for `host`: all of them public (every one,
    not only the first: a name answering one public and one private address
    is refused), or any in development mode. WebhookUrlRefused otherwise."""
    if not development_mode and _internal_name(host):
        raise WebhookUrlRefused(
            "must name a public host: a name without a dot, or under a private "
            "network's suffix (.local, .internal, .svc, ...), is not one",
            "WEBHOOK_URL_PRIVATE_ADDRESS",
        )
    addresses = await resolve(host, port, executor)
    if not addresses:
        raise WebhookUrlRefused(
            f"its host {host!r} does not resolve (within {RESOLVE_TIMEOUT_SECONDS:g} s)",
            "WEBHOOK_URL_UNRESOLVABLE",
        )
    if any(never_allowed(address) for address in addresses):
        # Cloud metadata (169.254.169.254) and its kin: never, in any mode.
        raise WebhookUrlRefused(
            "its host resolves to a link-local or cloud metadata address, which is never allowed",
            "WEBHOOK_URL_PRIVATE_ADDRESS",
        )
    if not development_mode:
        for address in addresses:
            why = refused_address(address)
            if why is not None:
                # The kind of address, never the address: an answer must not
                # map the network's own names for the caller.
                raise WebhookUrlRefused(
                    f"its host resolves to a {why} address; only public addresses "
                    "are allowed (any in development mode)",
                    "WEBHOOK_URL_PRIVATE_ADDRESS",
                )
    return addresses


async def check_url(url: str, *, development_mode: bool) -> WebhookTarget:
    """The whole check of a URL a merchant gives: syntax, then its host's
    addresses. Raises WebhookUrlRefused naming `webhook_endpoint.url`.
    Looks up in a pool of its own (URL_CHECKS), never the loop's default one."""
    target = parse_target(url, development_mode=development_mode)
    await vetted_addresses(
        target.host, target.port, development_mode=development_mode, executor=URL_CHECKS
    )
    return target


# The API's lookups: a host whose name server never answers holds one of these
# threads for the system resolver's own timeout, not one the loop needs.
URL_CHECKS = concurrent.futures.ThreadPoolExecutor(
    max_workers=16, thread_name_prefix="webhook-url-check"
)


def _internal_name(host: str) -> bool:
    if _ip_literal(host) is not None:
        return False
    name = host.rstrip(".").lower()
    return "." not in name or name.endswith(INTERNAL_SUFFIXES)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
