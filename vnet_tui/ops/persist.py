"""Whether a change outlives a restart, and who keeps it — said before it is made.

An adapter made with netlink lives as long as the namespace or process it
is in.  Only an owner that knows about it makes it again after a restart:
docker/podman for a network they connected, libvirt for an interface in
the domain's config.  Every plan says which it is, in the operator's words.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from vnet_tui.core.model import VM, Container

Target = Union[Container, VM]
ENGINES = ("docker", "podman")
RUNTIMES = ("docker", "podman", "containerd", "lxc", "nspawn", "virtuozzo", "libvirt")


def owner_record(t: Target, kept_by_owner: bool = False) -> dict[str, Any]:
    """Who owns the target, for the journal: runtime, id, name, and its namespace or process.

    A change the owner keeps (``kept_by_owner``) is tied to the owner's id
    alone: it outlives the namespace and process, so undo finds it by id.
    """
    out: dict[str, Any] = {"runtime": t.runtime, "display": t.name}
    if t.owner is not None:
        out.update(id=t.owner.id, name=t.owner.name)
    if kept_by_owner:
        return out
    if isinstance(t, Container):
        out["netns_inode"] = t.netns.inode
        lead = leader(t.netns.pids)
        if lead is not None:  # inode numbers are reused: a restarted container can get the old one's
            out["leader"] = list(lead)
        if t.netns.name:
            out["netns"] = t.netns.name
    else:
        out["pid"] = t.pid
    return out


def start_time(pid: int) -> Optional[int]:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        return int(data[data.rfind(b")") + 2:].split()[19])
    except (IndexError, ValueError):
        return None


def leader(pids: list[int]) -> Optional[tuple[int, int]]:
    """(pid, start time) of the first of ``pids`` still alive: who holds a namespace, beyond pid reuse."""
    for pid in pids:
        st = start_time(pid)
        if st is not None:
            return pid, st
    return None


def _what(t: Target) -> str:
    kind = "VM" if isinstance(t, VM) else "container"
    return f"{t.runtime} {kind} {t.name}"


def raw(t: Target) -> str:
    """A change made with netlink alone, behind no owner's back but unknown to it."""
    if isinstance(t, Container):
        if t.runtime in RUNTIMES:
            return (f"no: lost when {_what(t)} restarts — {t.runtime} does not know about it "
                    "(it makes a new network namespace)")
        if t.runtime == "netns" and t.netns.name and t.netns.name.startswith("vl-"):
            return f"for the lab's lifetime: lost at `lab down` (namespace {t.netns.name})"
        if t.runtime == "netns":
            return f"until namespace {t.netns.name or t.netns.inode} is deleted; nothing makes it again at boot"
        return f"no: lost when process {t.owner_name} (pid:{t.netns.pids[0] if t.netns.pids else '?'}) exits"
    if t.runtime == "libvirt":
        return (f"no: lost when {_what(t)} restarts — libvirt makes its taps again from the domain's "
                "config, which this change does not touch")
    if t.runtime == "lab":
        return f"for the VM's run: lost when QEMU of {t.name} exits (its command line does not have it)"
    return f"no: lost when QEMU of {t.name} (pid:{t.pid}) exits; nobody we know runs it"


def engine(t: Container, network: str) -> str:
    return f"yes: kept by {t.runtime} (network {network}; made again when {t.name} restarts)"


def libvirt(vm: VM, persistent: bool) -> str:
    if persistent:
        return f"yes: kept by libvirt (live, and in {vm.name}'s domain config)"
    return (f"until {vm.name} shuts down: kept by libvirt live only "
            "(--persistent also writes it to the domain's config)")
