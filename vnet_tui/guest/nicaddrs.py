"""The addresses a guest agent reports for one NIC, as vnet-tui shows and compares them.

One entry of ``guest-network-get-interfaces`` holds ``ip-addresses``
(``ip-address``, ``prefix``); this gives them as sorted
``address/prefix`` strings, IPv6 link-local ones left out (every NIC has
one, no operator set it).  The VMs pane (discovery.guestips) and the
guest-address plans (ops.guestagent) read them the same way.
"""

from __future__ import annotations

import ipaddress
from typing import Any


def nic_addresses(item: dict[str, Any]) -> list[str]:
    """Sorted ``address/prefix`` of one agent interface entry, link-local IPv6 left out."""
    got = set()
    for a in item.get("ip-addresses") or []:
        try:
            i = ipaddress.ip_interface(f"{a['ip-address']}/{a['prefix']}")
        except (KeyError, ValueError, TypeError):
            continue
        if i.version == 6 and i.ip.is_link_local:
            continue
        got.add(i.with_prefixlen)
    return sorted(got)
