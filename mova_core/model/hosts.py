"""Which hosts count as this machine: the one loopback rule of the sandbox, the shim and `mova serve`."""

from __future__ import annotations

import ipaddress


def normalize_host(host: str) -> str:
    """Lower case, no brackets, no trailing dot."""
    return host.strip().strip("[]").rstrip(".").lower()


LOCALHOST = "localhost"


def is_loopback(host: str) -> bool:
    """`localhost`, or a literal address in 127.0.0.0/8 or ::1; any other name may resolve anywhere."""
    host = normalize_host(host)
    return host == LOCALHOST or is_loopback_address(host)


def is_loopback_address(host: str) -> bool:
    """A literal address in 127.0.0.0/8 or ::1 (no name, not even `localhost`: names are resolved)."""
    try:
        return ipaddress.ip_address(normalize_host(host)).is_loopback
    except ValueError:
        return False
