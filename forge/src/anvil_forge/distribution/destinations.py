"""Where the FORGE may push: a receiver URL's host must resolve only to public addresses, or to addresses in
the networks the operator allows (``ANVIL_RECEIVER_ALLOWED_NETWORKS``) — else a token holder could make the
FORGE POST to its own loopback, the private network or a cloud metadata service (SSRF).

Checked when an instance registers a new receiver URL, and again right before every push; a push then
connects to the very address that was checked (:func:`pin`), so a DNS change between the check and the
connection cannot redirect it.
"""
from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import httpx
from django.conf import settings

from anvil_forge.core import network
from anvil_forge.core.errors import ValidationError

RESOLVE_TIMEOUT = 3.0  # seconds: a registration or push does not wait longer for DNS
# getaddrinfo has no timeout of its own, so it runs here and is waited for at most RESOLVE_TIMEOUT.
_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="anvil-resolve")
HOW = "the operator allows such networks with ANVIL_RECEIVER_ALLOWED_NETWORKS (see docs/security.md)"


class Unresolved(Exception):
    """The host has no address now (a DNS failure or timeout)."""


class Refused(Exception):
    """The host resolves to an address the FORGE does not connect to."""


@dataclass(frozen=True)
class Target:
    """How to send a push: to ``url`` (the host replaced by the checked address), with these headers and
    httpx extensions (the real host name in ``Host`` and as TLS SNI, so virtual hosts and certificates work)."""
    url: httpx.URL
    headers: dict = field(default_factory=dict)
    extensions: dict = field(default_factory=dict)


def getaddrinfo(host: str, port: int):  # module-level so tests can stand in for DNS
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def resolve(host: str, port: int) -> list[network.Address]:
    """The addresses of ``host`` (an IP literal is its own), in the resolver's order of preference."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = _resolver.submit(getaddrinfo, host, port).result(timeout=RESOLVE_TIMEOUT)
    except FutureTimeout:
        raise Unresolved(f"{host!r} did not resolve within {RESOLVE_TIMEOUT:g} s") from None
    except UnicodeError:  # a name that cannot be encoded (e.g. "xn--"): no DNS answer will change that
        raise Refused(f"{host!r} is not a valid host name") from None
    except OSError as exc:  # socket.gaierror: no such name, no address, DNS down
        raise Unresolved(f"{host!r} does not resolve ({exc})") from None
    addresses = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])  # (a link-local one may carry %zone)
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise Unresolved(f"{host!r} has no address")
    return addresses


def _checked(url: httpx.URL) -> network.Address:
    """The address to connect to for ``url``: the first one its host resolves to, once every one of them is
    allowed (a name with one private address among public ones is refused: any of them may be used)."""
    host = url.raw_host.decode("ascii")  # IDNA-encoded, brackets of an IPv6 literal removed
    addresses = resolve(host, url.port or (443 if url.scheme == "https" else 80))
    allowed = settings.ANVIL_RECEIVER_ALLOWED_NETWORKS
    for ip in addresses:
        reason = network.refusal(ip, allowed)
        if reason is not None:
            shown = host if host == str(ip) else f"{host} resolves to {ip}, which"
            raise Refused(f"{shown} is {reason}; the FORGE pushes only to public addresses unless {HOW}")
    return addresses[0]


def check_registration(receiver_url: str) -> None:
    """A receiver URL being registered: ValidationError naming ``receiver_url`` if the FORGE would refuse to
    push to it. A name that does not resolve is refused too (the client can register again once it does)."""
    try:
        _checked(httpx.URL(receiver_url))
    except httpx.InvalidURL as exc:
        raise ValidationError.field("receiver_url", f"receiver_url is not a valid URL ({exc})") from None
    except Refused as exc:
        raise ValidationError.field("receiver_url", f"receiver_url is refused: {exc}") from None
    except Unresolved as exc:
        raise ValidationError.field("receiver_url", f"receiver_url's host {exc}") from None


def pin(receiver_url: str) -> Target:
    """Check ``receiver_url`` again (DNS may have changed since it registered) and say how to push to the
    checked address. Raises :class:`Refused` or :class:`Unresolved`."""
    url = httpx.URL(receiver_url)
    ip = _checked(url)
    if url.raw_host.decode("ascii") == str(ip):
        return Target(url)
    return Target(url.copy_with(host=str(ip)), {"Host": url.netloc.decode("ascii")},
                  {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {})
