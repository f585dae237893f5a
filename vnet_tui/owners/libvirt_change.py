"""Changing a libvirt VM's NICs through libvirt: ``virsh -c URI attach-device/detach-device/domif-setlink``.

libvirt chooses the NIC's alias (``netN``), its QEMU netdev (``hostnetN``), the host tap
(``vnetN``) and the PCI slot; we give only the MAC, the bridge and the model, and read back
what libvirt made.  Every call has a timeout; a refusal raises ``ChangeFailed`` carrying
libvirt's own message (rule ``libvirt``; ``libvirt-timeout`` when it does not answer).

Detaching needs the guest: libvirt asks QEMU to unplug, QEMU asks the guest OS (ACPI on
i440fx, PCIe attention on q35), and the device goes only when the guest acknowledges.
libvirt waits 5 s and then, with no acknowledgement, still answers success ("Device
detached successfully") with the NIC in place — so ``detach_interface`` re-reads the live
definition and reports ``{"removed": False, "pending": True}`` when the NIC is still there.
A guest without an OS, or a paused VM, never acknowledges; the NIC stays until the VM stops.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from typing import Any, Optional

from vnet_tui.core.errors import ChangeFailed

from .libvirt_xml import nic

VIRSH = "virsh"
TIMEOUT = 30.0  # libvirt itself waits up to 5 s for a guest's unplug acknowledgement


def _uri(control: dict[str, Any]) -> str:
    uri = control.get("uri") if control else None
    if not uri:
        raise ChangeFailed("no libvirt connection known for this VM", rule="libvirt")
    return str(uri)


def virsh(control: dict[str, Any], *args: str, timeout: float = TIMEOUT) -> str:
    """Run ``virsh -c URI ARGS``; its stdout, or ``ChangeFailed`` with libvirt's words."""
    cmd = [VIRSH, "-q", "-c", _uri(control), *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ChangeFailed("virsh is not installed (Debian: libvirt-clients)", rule="libvirt") from None
    except subprocess.TimeoutExpired:
        raise ChangeFailed(f"libvirt did not answer `virsh {args[0]}` in {timeout:.0f} s",
                           rule="libvirt-timeout") from None
    if r.returncode != 0:
        # drop virsh's "Failed to attach device from /tmp/…xml" preamble: libvirt's reason follows
        lines = [l.strip() for l in (r.stderr or r.stdout).splitlines()
                 if l.strip() and not re.match(r"(error: )?Failed to (attach|detach) device from ", l.strip())]
        msg = "; ".join(l[len("error: "):] if l.startswith("error: ") else l for l in lines)
        raise ChangeFailed(f"libvirt refused: {msg or f'virsh exited with {r.returncode}'}", rule="libvirt")
    return r.stdout


def _flags(live: bool, persistent: bool) -> list[str]:
    if not live and not persistent:
        raise ChangeFailed("nothing to change: neither live nor persistent", rule="libvirt")
    return (["--live"] if live else []) + (["--config"] if persistent else [])


def domain_nics(control: dict[str, Any], domain: str, *, inactive: bool = False) -> list[dict[str, Any]]:
    """The domain's NICs as libvirt reports them now (live definition, or the persistent one)."""
    text = virsh(control, "dumpxml", domain, *(["--inactive"] if inactive else []), timeout=15)
    root = ET.fromstring(text)
    return [nic(i) for i in root.findall("devices/interface")]


def _find(nics: list[dict[str, Any]], mac: str) -> Optional[dict[str, Any]]:
    mac = mac.lower()
    return next((n for n in nics if n.get("mac") == mac), None)


def _with_file(xml: str, *args: str, domain: str, control: dict[str, Any], verb: str) -> str:
    fd, path = tempfile.mkstemp(prefix="vnet-tui-libvirt-", suffix=".xml")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(xml)
        return virsh(control, verb, domain, path, *args)
    finally:
        os.unlink(path)


def interface_xml(*, bridge: str, mac: str, model: str = "virtio") -> str:
    """A bridge NIC for libvirt; no alias, target or address: libvirt picks those."""
    el = ET.Element("interface", type="bridge")
    ET.SubElement(el, "mac", address=mac.lower())
    ET.SubElement(el, "source", bridge=bridge)
    ET.SubElement(el, "model", type=model)
    return ET.tostring(el, encoding="unicode")


def attach_interface(control: dict[str, Any], domain: str, *, bridge: str, mac: str, model: str = "virtio",
                     live: bool = True, persistent: bool = False) -> dict[str, Any]:
    """Hot-plug (``live``) and/or define (``persistent``) a NIC on ``bridge``; libvirt's names for it."""
    flags = _flags(live, persistent)
    _with_file(interface_xml(bridge=bridge, mac=mac, model=model), *flags,
               domain=domain, control=control, verb="attach-device")
    found = _find(domain_nics(control, domain, inactive=not live), mac)
    if found is None:
        raise ChangeFailed(f"libvirt said the NIC {mac} was attached, but {domain} does not list it",
                           rule="libvirt")
    return dict(found, live=live, persistent=persistent)


def detach_interface(control: dict[str, Any], domain: str, *, mac: str, live: bool = True,
                     persistent: bool = False) -> dict[str, Any]:
    """Unplug (``live``) and/or undefine (``persistent``) the NIC with ``mac``.

    Returns ``{"removed", "pending", "nic", "live", "persistent", "message"}``: ``pending``
    when libvirt sent the unplug request and the guest has not acknowledged it (yet).
    """
    flags = _flags(live, persistent)
    live_nic = _find(domain_nics(control, domain), mac) if live else None
    conf_nic = _find(domain_nics(control, domain, inactive=True), mac) if persistent else None
    if (live and live_nic is None) or (persistent and conf_nic is None):
        where = "running VM" if live and live_nic is None else "persistent definition"
        raise ChangeFailed(f"{domain} has no NIC with MAC {mac} in its {where}", rule="libvirt")
    target = live_nic or conf_nic or {}
    # libvirt matches the NIC by its MAC (unique: vnet-tui refuses duplicate MACs)
    el = ET.Element("interface", type=target.get("type") or "bridge")
    ET.SubElement(el, "mac", address=mac.lower())
    if target.get("source"):
        ET.SubElement(el, "source", {k: str(v) for k, v in target["source"].items()})
    _with_file(ET.tostring(el, encoding="unicode"), *flags, domain=domain, control=control, verb="detach-device")
    still = _find(domain_nics(control, domain), mac) if live else None
    if still is not None:
        return {"removed": False, "pending": True, "nic": still, "live": live, "persistent": persistent,
                "message": f"libvirt sent the unplug request for {still.get('alias')} ({still.get('target')}); "
                           "the guest has not acknowledged it, so the NIC stays until it does or the VM stops"
                           + ("; it is already gone from the persistent definition" if persistent else "")}
    where = " and ".join(w for w, on in (("the running VM", live), ("the persistent definition", persistent)) if on)
    return {"removed": True, "pending": False, "nic": target, "live": live, "persistent": persistent,
            "message": f"removed from {where}"}


def set_link(control: dict[str, Any], domain: str, *, target_or_mac: str, up: bool,
             persistent: bool = False) -> str:
    """The NIC's link as the guest sees it (``virsh domif-setlink``); libvirt's word for it after."""
    virsh(control, "domif-setlink", domain, target_or_mac, "up" if up else "down",
          *(["--config"] if persistent else []), timeout=15)
    out = virsh(control, "domif-getlink", domain, target_or_mac, *(["--config"] if persistent else []),
                timeout=15).split()
    return out[-1] if out else ("up" if up else "down")
