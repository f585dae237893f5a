"""Who owns a process: the container runtime and name, from its cgroup.

``/proc/PID/cgroup`` holds one line per hierarchy, ``ID:CONTROLLERS:PATH``
(cgroup v1, several lines) or the single ``0::PATH`` (v2).  Runtimes leave
recognisable names in that path:

=============  ==============================================================
runtime        path segments (examples)
=============  ==============================================================
docker         ``/docker/<64 hex>``, ``/system.slice/docker-<64 hex>.scope``
podman         ``libpod-<hex>.scope`` (``/container`` below it),
               ``libpod-conmon-<hex>.scope``, ``/libpod_parent/libpod-<hex>``
containerd     ``cri-containerd-<hex>.scope``, ``crio-<hex>.scope``,
               ``nerdctl-<hex>.scope``, ``/kubepods/…/pod<uid>/<64 hex>``,
               ``/k8s.io/<64 hex>``
lxc            ``/lxc.payload.NAME``, ``/lxc.monitor.NAME``, ``/lxc/NAME``
               (Proxmox: ``/lxc/101/ns``), ``/lxc.payload/NAME`` (LXD, Incus)
nspawn         ``machine.slice/systemd-nspawn@NAME.service``,
               ``machine.slice/machine-NAME.scope``
libvirt        ``machine.slice/machine-qemu\\x2d1\\x2dNAME.scope`` (and
               ``lxc\\x2d…``), ``/machine/NAME.libvirt-qemu``
virtuozzo      ``machine.slice/<CTID>``, ``/<CTID>`` (v1 controllers, also
               the ``ve`` one), ``/ve-<CTID>.slice``; CTID = a number or UUID
=============  ==============================================================

Container ids are shortened to 12 hex digits (what ``docker ps`` shows).
systemd escapes (``\\x2d``) are decoded.  When runtimes nest (Docker in
an LXC container), the innermost one wins: it made the namespace.
"""

from __future__ import annotations

import functools
import re
from typing import Optional

HEX = re.compile(r"[0-9a-f]{12,64}")
HEX64 = re.compile(r"[0-9a-f]{64}")
CTID = re.compile(r"\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")

# prefix of a "<prefix><hex>.scope" segment -> runtime
SCOPES = (
    ("docker-", "docker"),
    ("libpod-conmon-", "podman"),
    ("libpod-", "podman"),
    ("cri-containerd-", "containerd"),
    ("crio-conmon-", "containerd"),
    ("crio-", "containerd"),
    ("nerdctl-", "containerd"),
)
# parent segment -> runtime, for "/<parent>/<64 hex>"
HEX_PARENTS = {"docker": "docker", "k8s.io": "containerd", "libpod_parent": "podman"}
LXC_PARENTS = ("lxc", "lxc.payload", "lxc.monitor")
LXC_PREFIXES = ("lxc.payload.", "lxc.monitor.")
# v1 hierarchies in the order we trust them
PREFERRED = ("", "name=systemd", "memory", "pids", "ve", "cpu", "cpuacct", "devices")


def unescape(name: str) -> str:
    """Decode systemd's ``\\xHH`` escapes (``qemu\\x2d1\\x2dvm`` -> ``qemu-1-vm``)."""
    return ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name)


def _short(hexid: str) -> str:
    return hexid[:12]


def _machine_scope(name: str) -> tuple[str, str]:
    """``machine-NAME.scope``: a libvirt domain or else an nspawn machine."""
    m = re.fullmatch(r"(qemu|lxc)-(?:\d+-)?(.+)", name)
    if m:
        return ("libvirt", m.group(2))
    return ("nspawn", name)


def _match(parts: list[str], i: int) -> Optional[tuple[str, str]]:
    """The owner named by segment ``parts[i]`` (its ancestors give context)."""
    seg = parts[i]
    parent = parts[i - 1] if i > 0 else ""
    scoped = seg.endswith(".scope")
    stem = seg[: -len(".scope")] if scoped else seg
    for prefix, runtime in SCOPES:
        # only podman's cgroupfs manager makes a unit-less "libpod-<hex>"
        if stem.startswith(prefix) and HEX.fullmatch(stem[len(prefix):]) and (scoped or runtime == "podman"):
            return (runtime, _short(stem[len(prefix):]))
    if HEX64.fullmatch(seg):
        if parent in HEX_PARENTS:
            return (HEX_PARENTS[parent], _short(seg))
        if any(p.startswith("kubepods") for p in parts[:i]):
            return ("containerd", _short(seg))
    for prefix in LXC_PREFIXES:
        if seg.startswith(prefix) and len(seg) > len(prefix):
            return ("lxc", seg[len(prefix):])
    if parent in LXC_PARENTS:
        return ("lxc", seg)
    if parent == "machine.slice":
        m = re.fullmatch(r"systemd-nspawn@(.+)\.service", seg)
        if m:
            return ("nspawn", unescape(m.group(1)))
        m = re.fullmatch(r"machine-(.+)\.scope", seg)
        if m:
            return _machine_scope(unescape(m.group(1)))
        if CTID.fullmatch(seg):
            return ("virtuozzo", seg)
    if parent == "machine" and seg.endswith((".libvirt-qemu", ".libvirt-lxc")):
        return ("libvirt", unescape(seg.rsplit(".", 1)[0]))
    m = re.fullmatch(r"ve-(.+)\.slice", seg)
    if m and CTID.fullmatch(m.group(1)):
        return ("virtuozzo", m.group(1))
    if i == 0 and CTID.fullmatch(seg):
        return ("virtuozzo", seg)
    return None


def owner_from_path(path: str) -> Optional[tuple[str, str]]:
    """(runtime, name) from one cgroup path, innermost owner first; or None."""
    parts = [p for p in path.strip().split("/") if p]
    for i in range(len(parts) - 1, -1, -1):
        found = _match(parts, i)
        if found:
            return found
    return None


def _lines(text: str) -> list[tuple[str, str]]:
    """(controllers, path) per line, most trusted hierarchy first."""
    out: list[tuple[int, str, str]] = []
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        ranks = [PREFERRED.index(c) for c in controllers.split(",") if c in PREFERRED]
        out.append((min(ranks) if ranks else len(PREFERRED), controllers, path))
    out.sort(key=lambda t: t[0])
    return [(c, p) for _, c, p in out]


@functools.lru_cache(maxsize=4096)
def owner_from_cgroup(text: str) -> Optional[tuple[str, str]]:
    """From the contents of /proc/PID/cgroup, (runtime, container name) or None.

    Remembered by text: a server's containers that share a cgroup (a lab's
    namespace holders, 5,000 of them) cost one parse, not one each.

    v2's ``0::`` line is tried first, then v1 hierarchies (name=systemd,
    memory, pids, ve, cpu, …); the first line naming an owner wins.
    """
    for _, path in _lines(text):
        found = owner_from_path(path)
        if found:
            return found
    return None


def read_cgroup(pid: int) -> Optional[str]:
    """The text of /proc/PID/cgroup; None if the process vanished or access is denied."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
