"""Who a per-address counter counts."""

from __future__ import annotations

import ipaddress


def client_network(request) -> str:
    """The client's IPv4 address, or the /64 network of its IPv6 address: one subscriber usually holds a
    whole /64, so counting single IPv6 addresses would hand them 2^64 fresh counts."""
    address = request.META.get("REMOTE_ADDR", "") or "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# --- Where the FORGE may connect (receiver URLs: distribution/destinations.py) ---------------------------

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services hand out credentials: an allowed network lets one through only when it names that
# address alone (e.g. 169.254.169.254/32), so allowing fc00::/7 or 169.254.0.0/16 does not expose them.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: the last 32 bits are an IPv4 address


def parse_networks(value: str) -> tuple[Network, ...]:
    """Comma-separated CIDR networks (``127.0.0.0/8,::1/128``); ValueError says which item is wrong."""
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not a network in CIDR notation such as 10.0.0.0/8 or ::1/128 "
                             f"({exc})") from None
    return tuple(networks)


def _embedded(ip: Address) -> Address:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, 6to4, NAT64), else the address itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def not_public(ip: Address) -> str | None:
    """Why a connection to ``ip`` could reach something inside (None: a globally routable address)."""
    ip = _embedded(ip)
    if ip in METADATA:
        return "a cloud metadata address"
    for test, kind in ((ip.is_loopback, "a loopback"), (ip.is_link_local, "a link-local"),
                       (ip.is_unspecified, "the unspecified"), (ip.is_multicast, "a multicast"),
                       (ip.is_private, "a private"), (ip.is_reserved, "a reserved")):
        if test:
            return f"{kind} address"
    if not ip.is_global:  # e.g. 100.64.0.0/10 (carrier-grade NAT), documentation ranges
        return "an address that is not globally routable"
    return None


def refusal(ip: Address, allowed: tuple[Network, ...]) -> str | None:
    """Why ``ip`` is refused given the operator's ``allowed`` networks (None: it may be connected to)."""
    reason = not_public(ip)
    if reason is None:
        return None
    candidates = {ip, _embedded(ip)}  # ::ffff:10.0.0.1 is inside an allowed 10.0.0.0/8
    inside = [net for net in allowed for c in candidates if c in net]
    if inside and (_embedded(ip) not in METADATA or any(net.num_addresses == 1 for net in inside)):
        return None
    return reason
