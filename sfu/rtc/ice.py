"""Which host candidates aioice offers (``--ice-host``).

aioice skips loopback when gathering and offers every other interface. The SFU
offers exactly the configured addresses instead. aioice reads the list from a
module-level function, so the choice is per process.
"""

from __future__ import annotations

import ipaddress
from typing import Callable

import aioice.ice

_original: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses


def use_host_addresses(addresses: list[str]) -> None:
    """Offer only ``addresses`` as host candidates; an empty list restores aioice's choice."""
    if not addresses:
        aioice.ice.get_host_addresses = _original
        return
    parsed = [ipaddress.ip_address(a) for a in addresses]  # ValueError names the bad one

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            str(ip)
            for ip in parsed
            if (ip.version == 4 and use_ipv4) or (ip.version == 6 and use_ipv6)
        ]

    aioice.ice.get_host_addresses = get_host_addresses


def host_addresses(configured: list[str]) -> list[str]:
    """The addresses host candidates are offered on: ``configured``, or aioice's own choice."""
    chosen = [str(ipaddress.ip_address(a)) for a in configured] if configured else _original(True, True)
    return list(dict.fromkeys(chosen))  # each once: one socket per address
