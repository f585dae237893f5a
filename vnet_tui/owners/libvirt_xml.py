"""libvirt's domain XML read into plain facts: NICs as libvirt names them, machine type, hot-plug room.

Two sources, both written by libvirt itself:

* the status file ``/run/libvirt/qemu/NAME.xml`` of a running/paused domain:
  ``<domstatus state='running' reason='booted' pid='QEMU pid'>…<domain type='qemu' id='1'>…``
  with the live definition (aliases ``net0``, target devs ``vnet0``, PCI addresses);
* the persistent definition ``/etc/libvirt/qemu/NAME.xml`` (a plain ``<domain>``) of a
  defined domain, the only trace of one that is shut off.

``can_hotplug(details)`` says whether libvirt can hot-plug a NIC into it, and why not.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Optional

# domstatus state attribute (virDomainState names) -> the word `virsh domstate` prints
STATE_WORDS = {
    "nostate": "no state",
    "running": "running",
    "blocked": "idle",
    "paused": "paused",
    "shutdown": "in shutdown",
    "shutoff": "shut off",
    "crashed": "crashed",
    "pmsuspended": "pmsuspended",
}

# controllers whose one slot can take a hot-plugged PCIe device
_ONE_SLOT_PORTS = ("pcie-root-port", "pcie-switch-downstream-port")
# i440fx slots libvirt never gives to a device: 0 host bridge, 1 PIIX3 (ISA/IDE/USB/PM)
_PC_RESERVED_SLOTS = 2


def _int(v: Optional[str]) -> Optional[int]:
    if v is None:
        return None
    try:
        return int(v, 0)
    except ValueError:
        return None


def machine_family(machine: Optional[str]) -> Optional[str]:
    """``pc-i440fx-7.2``/``pc`` -> ``pc``; ``pc-q35-7.2``/``q35`` -> ``q35``; else the machine as given."""
    if not machine:
        return None
    if machine == "pc" or "i440fx" in machine or machine.startswith("pc-1.") or machine.startswith("pc-0."):
        return "pc"
    if "q35" in machine:
        return "q35"
    return machine


def nic(el: ET.Element) -> dict[str, Any]:
    """One ``<interface>`` as libvirt names it (None where libvirt has not said)."""
    src = el.find("source")
    alias_el = el.find("alias")
    alias = alias_el.get("name") if alias_el is not None else None
    target = el.find("target")
    mac = el.find("mac")
    model = el.find("model")
    link = el.find("link")
    addr = el.find("address")
    src_attrs = dict(src.attrib) if src is not None else {}
    out: dict[str, Any] = {
        "alias": alias,
        "target": target.get("dev") if target is not None else None,
        "mac": (mac.get("address") or "").lower() or None if mac is not None else None,
        "model": model.get("type") if model is not None else None,
        "type": el.get("type"),
        "bridge": src_attrs.get("bridge"),
        "network": src_attrs.get("network"),
        "source": src_attrs,
        # libvirt names the QEMU netdev "host" + the NIC's alias (qemuBuildHostNetProps)
        "netdev": f"host{alias}" if alias else None,
        "link": link.get("state") if link is not None else "up",
        "address": dict(addr.attrib) if addr is not None else None,
    }
    return out


def domain_facts(dom: ET.Element) -> dict[str, Any]:
    """name, uuid, machine, NICs and PCI topology of one ``<domain>`` element."""
    os_type = dom.find("os/type")
    machine = os_type.get("machine") if os_type is not None else None
    devices = dom.find("devices")
    nics = [nic(i) for i in devices.findall("interface")] if devices is not None else []
    controllers = []
    used: list[tuple[int, int]] = []  # (bus, slot) taken by any device or controller
    if devices is not None:
        for d in devices:
            a = d.find("address")
            if a is not None and a.get("type") == "pci":
                bus, slot = _int(a.get("bus")), _int(a.get("slot"))
                if bus is not None and slot is not None:
                    used.append((bus, slot))
            if d.tag == "controller" and d.get("type") == "pci":
                tgt = d.find("target")
                controllers.append({
                    "index": _int(d.get("index")),
                    "model": d.get("model"),
                    "hotplug": (tgt.get("hotplug") if tgt is not None else None) != "off",
                })
    return {
        "name": dom.findtext("name"),
        "uuid": dom.findtext("uuid"),
        "domid": dom.get("id"),
        "virt_type": dom.get("type"),
        "machine": machine,
        "machine_family": machine_family(machine),
        "acpi": dom.find("features/acpi") is not None,
        "nics": nics,
        "pci_controllers": controllers,
        "pci_used": sorted(set(used)),
    }


def parse_status(text: str) -> Optional[dict[str, Any]]:
    """A status file (``<domstatus>``): the facts plus libvirt's state word, reason and QEMU pid."""
    root = ET.fromstring(text)
    if root.tag != "domstatus":
        return None
    dom = root.find("domain")
    if dom is None:
        return None
    facts = domain_facts(dom)
    raw = root.get("state") or "nostate"
    facts["state"] = STATE_WORDS.get(raw, raw)
    facts["reason"] = root.get("reason")
    facts["pid"] = _int(root.get("pid"))
    mon = root.find("monitor")
    facts["monitor"] = mon.get("path") if mon is not None else None  # libvirt's; never opened by us
    return facts


def parse_config(text: str) -> Optional[dict[str, Any]]:
    """A persistent definition (``<domain>``): the facts of a domain that may be shut off."""
    root = ET.fromstring(text)
    if root.tag != "domain":
        return None
    facts = domain_facts(root)
    facts["state"] = "shut off"
    facts["reason"] = None
    facts["pid"] = None
    return facts


def hotplug_room(details: dict[str, Any]) -> dict[str, Any]:
    """Free places for one more PCI NIC: spare root ports (q35) or slots on pci.0 (pc)."""
    used = {tuple(x) for x in details.get("pci_used", [])}
    ctrls = details.get("pci_controllers", [])
    busy_buses = {b for b, _ in used}
    free_ports = [c["index"] for c in ctrls
                  if c.get("model") in _ONE_SLOT_PORTS and c.get("hotplug") and c["index"] not in busy_buses]
    bus0_used = len({s for b, s in used if b == 0})
    root_hotplug = all(c.get("hotplug") for c in ctrls if c.get("model") == "pci-root")  # <target hotplug='off'/>
    free_bus0 = max(0, 32 - _PC_RESERVED_SLOTS - bus0_used) \
        if details.get("machine_family") == "pc" and root_hotplug else 0
    bridge_free = 0
    for c in ctrls:
        if c.get("model") == "pci-bridge" and c.get("hotplug"):
            bridge_free += max(0, 31 - len({s for b, s in used if b == c["index"]}))  # slot 0 unusable
    return {"free_root_ports": len(free_ports), "free_pci_slots": free_bus0 + bridge_free}


def can_hotplug(details: dict[str, Any]) -> tuple[bool, str]:
    """Whether libvirt can hot-plug a NIC into this domain now; the reason either way.

    * shut off: nothing to hot-plug into (a persistent-only change is still possible);
    * q35: PCIe hot-plug goes into an empty ``pcie-root-port`` (or switch downstream port)
      that existed when QEMU started — libvirt cannot add a root port live;
    * pc (i440fx): ACPI PCI hot-plug on pci.0 (or a pci-bridge); with ``<acpi/>`` absent
      libvirt starts QEMU with -no-acpi and QEMU answers "Bus 'pci.0' does not support
      hotplugging"; ``<target hotplug='off'/>`` on pci-root turns it off too.

    libvirt gives a new q35 domain one pcie-root-port more than its devices need (seen here:
    a default q35 with one NIC has two), so one NIC can be hot-plugged; a second one needs
    spare root ports defined beforehand, or libvirt answers "No more available PCI slots".
    """
    state = details.get("state")
    if state not in ("running", "paused", "idle"):
        return False, f"the VM is {state or 'not running'}: there is no live machine to plug into " \
                      "(only its persistent definition can change)"
    fam = details.get("machine_family")
    room = hotplug_room(details)
    if fam == "q35":
        if room["free_root_ports"] > 0:
            return True, f"{room['free_root_ports']} free pcie-root-port(s)"
        return False, ("no free pcie-root-port: a q35 VM takes a hot-plugged NIC only in a spare root port "
                       "defined before it started (<controller type='pci' model='pcie-root-port'/>); "
                       "libvirt cannot add one live")
    if fam == "pc":
        if not details.get("acpi"):
            return False, ("i440fx (pc) VM without ACPI (<features><acpi/>): QEMU runs with -no-acpi and "
                           "pci.0 does not support hot-plug")
        if room["free_pci_slots"] > 0:
            return True, f"{room['free_pci_slots']} free PCI slot(s) on an i440fx (pc) machine"
        return False, ("no free hot-pluggable PCI slot: pci.0 is full (i440fx has 32, libvirt keeps 0 and 1) "
                       "or its hot-plug is off (<controller model='pci-root'><target hotplug='off'/>)")
    return False, f"machine type {details.get('machine') or '?'}: vnet-tui knows hot-plug only on pc and q35"
