"""libvirt: its domains, in its own words, from the files libvirt itself writes.

``scan`` finds libvirtd / virtqemud in the process table (a comm lookup: that is all
it costs where libvirt is absent) and reads, as that daemon sees its file system
(``/proc/DAEMON/root/…``: it may run in a mount namespace of its own):

* ``/run/libvirt/qemu/NAME.xml`` — the status file of each running or paused domain
  (``<domstatus state= reason= pid=>`` and the live ``<domain>``);
* ``/etc/libvirt/qemu/NAME.xml`` — each persistent definition, which is all there is
  of a domain that is shut off.

About 1 ms per domain; no socket is opened.  In particular QEMU's QMP monitor
(``<monitor path=…>``) belongs to libvirt and is never connected to.  Why files and
not the API: no libvirt Python binding in the venv (a compiled dependency), and
``virsh`` costs a process per call (~20 ms); the status files are what libvirtd itself
reloads on restart, so they are current whenever the daemon runs.

Changes go through libvirt (``virsh``): see ``libvirt_change``.

A record: ``Owned(runtime="libvirt", kind="vm", id=UUID, name=domain name,
state=virsh domstate's word, pids=[QEMU pid] (none when shut off),
control={"uri": "qemu:///system?socket=/proc/DAEMON/root/run/libvirt/libvirt-sock",
"domain": UUID}, details={…})`` with details:

``nics``            [{alias net0, target vnet0 (host tap), mac, model virtio, type bridge,
                    bridge, network, source {…}, netdev hostnet0, link up|down, address {…}}]
``machine``         libvirt's machine (pc-i440fx-7.2, pc-q35-7.2); ``machine_family`` pc | q35
``acpi``            <features><acpi/> present (i440fx hot-plug needs it)
``hotplug``         {"possible": bool, "reason": str} from ``can_hotplug``
``pci_controllers``, ``pci_used``  the PCI topology ``can_hotplug`` reads
``reason``          libvirt's state reason (booted, user, …); ``persistent``: defined, not transient
``daemon``, ``daemon_pid``, ``pid``; ``monitor`` (libvirt's QMP path, only for the record);
``stale``           True when the status file's QEMU pid is gone
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Optional

from vnet_tui.core.model import VMNic

from .base import Owned, ProcTable, read_text

# the XML reader and the change path are imported only once a daemon is found or a change is asked:
# a server without libvirt pays for neither (ElementTree, subprocess, tempfile)
_LAZY = {"attach_interface": "libvirt_change", "detach_interface": "libvirt_change", "set_link": "libvirt_change",
         "domain_nics": "libvirt_change", "can_hotplug": "libvirt_xml"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__package__}.{_LAZY[name]}"), name)
    raise AttributeError(name)

# system daemons and the socket each serves (the monolithic one, then the modular QEMU one)
DAEMONS = {"libvirtd": "/run/libvirt/libvirt-sock", "virtqemud": "/run/libvirt/virtqemud-sock"}
STATUS_DIR = "/run/libvirt/qemu"
CONFIG_DIR = "/etc/libvirt/qemu"

__all__ = ["scan", "adapters", "attach_interface", "detach_interface", "set_link", "can_hotplug", "uri_for"]


def uri_for(procs: ProcTable, daemon_pid: int) -> str:
    """The URI that reaches this daemon's socket from here (through its mount namespace)."""
    sock = DAEMONS.get(procs.comm(daemon_pid) or "", DAEMONS["libvirtd"])
    return f"qemu:///system?socket={procs.root_path(daemon_pid, sock)}"


def adapters(rec: Owned) -> list[VMNic]:
    """The VM's adapters with libvirt's names: id ``net0`` (alias), host tap ``vnet0``, netdev ``hostnet0``."""
    out = []
    for n in rec.details.get("nics", []):
        out.append(VMNic(id=n.get("alias") or n.get("netdev") or n.get("mac") or "?",
                             guest_mac=n.get("mac"), host_ifname=n.get("target"),
                             model=n.get("model"), netdev=n.get("netdev")))
    return out


def _xml_files(path: str) -> list[tuple[str, str]]:
    try:
        with os.scandir(path) as it:
            return sorted((e.name[:-4], e.path) for e in it if e.name.endswith(".xml") and e.is_file())
    except OSError:
        return []


def _is_qemu(procs: ProcTable, pid: Optional[int]) -> bool:
    comm = procs.comm(pid) if pid else None
    return bool(comm) and comm.startswith(("qemu", "kvm"))


def _record(facts: dict[str, Any], procs: ProcTable, daemon: int, persistent: bool) -> Owned:
    from .libvirt_xml import can_hotplug  # deferred: XML parser, only when asked

    pid = facts.pop("pid", None)
    alive = _is_qemu(procs, pid)
    details = dict(facts)
    details.update(daemon=procs.comm(daemon), daemon_pid=daemon, persistent=persistent, pid=pid)
    if pid and not alive:
        details["stale"] = True  # the status file names a QEMU that is gone: libvirtd will notice
    ok, why = can_hotplug(details)
    details["hotplug"] = {"possible": ok, "reason": why}
    return Owned(
        runtime="libvirt", kind="vm", id=facts.get("uuid") or facts.get("name") or "?",
        name=facts.get("name") or "?", state=facts.get("state"), image=None,
        pids=[pid] if pid and alive else [],
        control={"uri": uri_for(procs, daemon), "domain": facts.get("uuid") or facts.get("name")},
        details=details,
    )


def scan_daemon(procs: ProcTable, daemon: int) -> list[Owned]:
    """Every domain one daemon knows: running/paused from status files, the rest from definitions."""
    from .libvirt_xml import parse_config, parse_status  # deferred: XML parser, only when asked

    out: list[Owned] = []
    seen: set[str] = set()
    configs = dict(_xml_files(procs.root_path(daemon, CONFIG_DIR)))
    for name, path in _xml_files(procs.root_path(daemon, STATUS_DIR)):
        text = read_text(path)
        try:
            facts = parse_status(text) if text else None
        except Exception:  # a half-written file (libvirt replaces them atomically; be safe)
            facts = None
        if facts is None:
            continue
        seen.add(facts.get("name") or name)
        if name in configs:  # which live NICs the saved definition has too (they come back on restart)
            ctext = read_text(configs[name])
            try:
                saved = {(n.get("mac") or "").lower() for n in (parse_config(ctext) or {}).get("nics", [])} \
                    if ctext else set()
            except Exception:
                saved = set()
            for nic in facts.get("nics") or []:
                nic["config"] = (nic.get("mac") or "").lower() in saved
        out.append(_record(facts, procs, daemon, persistent=name in configs))
    for name, path in sorted(configs.items()):
        if name in seen:
            continue
        text = read_text(path)
        try:
            facts = parse_config(text) if text else None
        except Exception:
            facts = None
        if facts is not None:
            out.append(_record(facts, procs, daemon, persistent=True))
    return out


def scan(procs: ProcTable) -> list[Owned]:
    """Every VM the QEMU driver of each running libvirt daemon reports (never raises)."""
    out: list[Owned] = []
    seen: set[tuple[str, str]] = set()
    for daemon in procs.with_comm(*DAEMONS):
        try:
            found = scan_daemon(procs, daemon)
            where = os.readlink(f"{procs.proc}/{daemon}/ns/mnt")
        except Exception:
            continue
        for rec in found:
            key = (rec.id, where)
            if key not in seen:  # two daemons sharing one /run/libvirt report the same domains
                seen.add(key)
                out.append(rec)
    return out
