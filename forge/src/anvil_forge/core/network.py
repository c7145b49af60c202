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
