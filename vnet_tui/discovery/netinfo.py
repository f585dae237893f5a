"""QEMU's ``info network``: every NIC with the netdev (and tap) behind it.

HMP ``info network`` is the one view that joins a NIC's device id, its
MAC and model, and its backend (type, tap ifname) — hot-plugged ones
too.  Discovery names hot-plugged adapters from it; ops (qmpview) plans
and checks hot-plug and unplug with it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Optional


@dataclass
class Nic:
    """A guest NIC and its backend."""

    id: str  # the NIC's device id (device_del takes it)
    mac: Optional[str]
    model: Optional[str]
    netdev: Optional[str] = None
    netdev_type: Optional[str] = None
    ifname: Optional[str] = None  # the tap, for tap netdevs
    bus: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _opts(text: str) -> tuple[str, dict[str, str]]:
    name, _, rest = text.strip().partition(":")
    opts = {}
    for part in rest.strip().split(","):
        k, _, v = part.partition("=")
        if k:
            opts[k.strip()] = v.strip()
    return name.strip(), opts


def parse_info_network(text: str) -> tuple[list[Nic], dict[str, dict[str, str]]]:
    """(NICs with their peers, unpeered netdevs by id) from ``info network``."""
    nics: list[Nic] = []
    loose: dict[str, dict[str, str]] = {}
    last: Optional[Nic] = None
    for raw in text.replace("\r", "").splitlines():
        if not raw.strip():
            continue
        m = re.match(r"^\s*\\\s*(.*)$", raw)
        if m and last is not None:
            name, o = _opts(m.group(1))
            last.netdev, last.netdev_type, last.ifname = name, o.get("type"), o.get("ifname")
            continue
        if raw.startswith(" "):
            continue  # hub ports and other detail lines
        name, o = _opts(raw)
        if o.get("type") == "nic":
            last = Nic(name, (o.get("macaddr") or "").lower() or None, o.get("model"))
            nics.append(last)
        else:
            last = None
            loose[name] = o
    return nics, loose


def taps_by_ifname(text: str) -> dict[str, tuple[str, Optional[str], Optional[str]]]:
    """Tap ifname → (netdev id, id and MAC of the NIC on it, or None, None) from ``info network`` text."""
    nics, loose = parse_info_network(text)
    out: dict[str, tuple[str, Optional[str], Optional[str]]] = {}
    for n in nics:
        if n.ifname and n.netdev and n.netdev_type == "tap":
            out[n.ifname] = (n.netdev, n.id, n.mac)
    for netdev, o in loose.items():
        if o.get("type") == "tap" and o.get("ifname") and o["ifname"] not in out:
            out[o["ifname"]] = (netdev, None, None)
    return out
