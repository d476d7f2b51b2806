"""Which hosts count as this machine: the one loopback rule of the sandbox, the shim and `mova serve`."""

from __future__ import annotations

import ipaddress


def normalize_host(host: str) -> str:
    """Lower case, no brackets, no trailing dot."""
    return host.strip().strip("[]").rstrip(".").lower()


def is_loopback(host: str) -> bool:
    """`localhost`, or a literal address in 127.0.0.0/8 or ::1; any other name may resolve anywhere."""
    host = normalize_host(host)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
