"""What a VM's QEMU says about its NICs and hot-plug ports (read-only QMP).

* ``nics``: every NIC with its id, MAC, model and the netdev behind it
  (tap name included), from HMP ``info network`` — the one view that
  joins the three, hot-plugged ones too — and the bus from QOM;
* ``free_root_ports``: PCIe root ports (``pcie-root-port``/``ioh3420``
  with an id) whose slot is empty and hot-pluggable;
* ``device_present``: whether a device id still exists (a ``device_del``
  completes when the guest acknowledges it; then the id vanishes).
"""

from __future__ import annotations

from typing import Any, Optional

from vnet_tui.discovery.netinfo import Nic, parse_info_network  # noqa: F401 (Nic: re-exported)

ROOT_PORT_TYPES = ("child<pcie-root-port>", "child<ioh3420>")


def nics(q: Any) -> tuple[list[Nic], dict[str, dict[str, str]]]:
    """The VM's NICs (bus filled in where QOM knows it) and its unpeered netdevs."""
    text = q.cmd("human-monitor-command", **{"command-line": "info network"})
    found, loose = parse_info_network(str(text or ""))
    for n in found:
        n.bus = device_bus(q, n.id)
    return found, loose


def device_bus(q: Any, dev_id: str) -> Optional[str]:
    """The id of the bus a peripheral device sits on (``rp1``), if it has one."""
    try:
        path = q.cmd("qom-get", path=f"/machine/peripheral/{dev_id}", property="parent_bus")
    except Exception:
        return None
    return str(path).rstrip("/").rsplit("/", 1)[-1] if path else None


def peripherals(q: Any) -> dict[str, str]:
    """Device id → QOM type for every device created with an id."""
    return {
        p["name"]: p["type"]
        for p in q.cmd("qom-list", path="/machine/peripheral")
        if str(p.get("type", "")).startswith("child<")
    }


def device_present(q: Any, dev_id: str) -> bool:
    return dev_id in peripherals(q)


def free_root_ports(q: Any) -> list[str]:
    """Ids of hot-pluggable PCIe root ports with nothing plugged in."""
    out = []
    for dev_id, qtype in peripherals(q).items():
        if qtype not in ROOT_PORT_TYPES:
            continue
        try:
            children = q.cmd("qom-list", path=f"/machine/peripheral/{dev_id}/{dev_id}")
            hotplug = q.cmd("qom-get", path=f"/machine/peripheral/{dev_id}", property="hotplug")
        except Exception:
            continue
        if hotplug is False:
            continue
        if not any(str(c.get("name", "")).startswith("child[") for c in children):
            out.append(dev_id)
    return sorted(out, key=lambda s: (len(s), s))
