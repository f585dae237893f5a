"""Which pair a test is about: its two ends, their namespaces, and whether testing it is safe.

``resolve`` finds the adapter the way the ``adapter`` verbs do (a
container's guest or host end name; a VM's adapter id or tap name),
opens each end's namespace and checks it is the one discovery saw, and
refuses:

- an adapter that carries the operator's SSH session (safety/sshguard);
- an end whose bridge forwards the nearest-bridge group address
  (``group_fwd_mask`` bit 14): our frames would then leave the pair.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal, Optional

from vnet_tui.core.errors import InvalidInput, NotFound, NotPermitted
from vnet_tui.core.model import VM, Adapter, Container, Interface, Topology, VMNic
from vnet_tui.core.server import Server
from vnet_tui.net.netns import NetnsError, entered, netns_inode, open_netns
from vnet_tui.ops.facts import ServerFacts
from vnet_tui.safety.sshguard import protected

from .framing import NEAREST_BRIDGE_BIT

Role = Literal["guest", "host"]


@dataclass
class End:
    """One end of the pair under test, with its namespace open (``fd``)."""

    role: Role
    owner: str  # container name, or the server's label for the host end
    where: str  # the namespace, for people
    iface: Interface
    fd: int = -1

    @property
    def ifname(self) -> str:
        return self.iface.ifname

    @property
    def label(self) -> str:
        """``eth0 (ct101, guest end)``."""
        return f"{self.ifname} ({self.owner}, {self.role} end)"


@dataclass
class Pair:
    """An adapter under test: a container's veth (both ends interfaces) or a VM's tap and guest NIC."""

    kind: Literal["veth", "vme"]
    target: str
    name: str  # the adapter as people call it: ct101:eth0, vm201:net0
    host: End
    guest: Optional[End] = None  # the container's end; None for a VM (the NIC is inside the guest)
    vm: Optional[VM] = None
    vm_adapter: Optional[VMNic] = None
    _fds: list[int] = field(default_factory=list)

    def close(self) -> None:
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()

    def __enter__(self) -> "Pair":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_checked(where: Optional[str], inode: int, what: str) -> int:
    try:
        fd = open_netns(where)
    except NetnsError as e:
        raise NotFound(f"{what}: its network namespace is gone ({e.strerror})", rule="namespace") from None
    if inode and netns_inode(fd) != inode:
        os.close(fd)
        raise NotFound(f"{what}: the namespace changed since it was discovered (restarted?)", rule="namespace")
    return fd


def _container_ns(ct: Container) -> Optional[str]:
    ref = ct.netns
    if ref.path:
        return ref.path
    if ref.name:
        return ref.name
    return f"/proc/{ref.pids[0]}/ns/net" if ref.pids else None


def find_adapter(topology: Topology, target: str, ifname: str) -> Adapter:
    """The adapter TARGET IFNAME names (exit 4 when there is none)."""
    facts = ServerFacts(topology)
    return facts.adapter(facts.target(target), ifname)


def forwards_nearest_bridge(ns_fd: int, master_ifindex: Optional[int]) -> Optional[str]:
    """The bridge's name when ``master_ifindex`` is a bridge set to forward 01:80:c2:00:00:0e."""
    if not master_ifindex:
        return None
    from pyroute2 import IPRoute

    with entered(ns_fd):
        ipr = IPRoute()
    try:
        msg = ipr.link("get", index=master_ifindex)[0]
    except Exception:  # noqa: BLE001 - gone or unreadable: the pair test's own checks follow
        return None
    finally:
        ipr.close()
    if msg.get(("linkinfo", "kind")) != "bridge":
        return None
    mask = msg.get(("linkinfo", "data", "IFLA_BR_GROUP_FWD_MASK")) or 0
    return msg.get("ifname") if int(mask) & NEAREST_BRIDGE_BIT else None


def _guard(server: Server, topology: Topology, touched: list[tuple[str, str]], name: str) -> None:
    hits = protected(server, topology).hits(touched)
    if hits:
        raise NotPermitted(f"{name} carries this SSH session ({'; '.join(hits)}): vnet-tui sends no test "
                           "frames through it", rule="ssh-session")


def resolve(server: Server, topology: Topology, target: str, ifname: str) -> Pair:
    """Open the pair TARGET IFNAME names; the caller closes it (``with resolve(…) as pair``)."""
    adapter = find_adapter(topology, target, ifname)
    host_label = topology.host.hostname or "host"
    host_where = server.host_netns or "root namespace"
    if adapter.host is None:
        raise NotFound(f"{target}/{ifname}: its host end is not in {host_where}", rule="interface")
    if adapter.kind == "veth":
        assert adapter.guest is not None
        name = f"{adapter.owner}:{adapter.guest.ifname}"
        _guard(server, topology, [("host", adapter.host.ifname), (adapter.owner, adapter.guest.ifname)], name)
        ct = next(c for c in topology.containers if c.name == adapter.owner)
        pair = Pair("veth", target, name, End("host", host_label, host_where, adapter.host))
        try:
            pair.host.fd = _open_checked(server.host_netns, topology.host.inode, f"the host ({host_where})")
            pair._fds.append(pair.host.fd)
            gfd = _open_checked(_container_ns(ct), ct.netns.inode, ct.name)
            pair._fds.append(gfd)
            pair.guest = End("guest", ct.name, ct.netns.name or f"netns:{ct.netns.inode}", adapter.guest, gfd)
            for end in (pair.host, pair.guest):
                bridge = forwards_nearest_bridge(end.fd, end.iface.master_ifindex)
                if bridge:
                    raise InvalidInput(
                        f"{end.ifname}'s bridge {bridge} forwards 01:80:c2:00:00:0e (group_fwd_mask): "
                        "test frames would leave the pair", rule="pair-forwarding")
        except BaseException:
            pair.close()
            raise
        return pair
    vm = next(v for v in topology.vms if v.name == adapter.owner)
    va = adapter.vm_adapter
    assert va is not None
    name = f"{vm.name}:{va.id}"
    _guard(server, topology, [("host", adapter.host.ifname)], name)
    pair = Pair("vme", target, name, End("host", host_label, host_where, adapter.host), vm=vm, vm_adapter=va)
    try:
        pair.host.fd = _open_checked(server.host_netns, topology.host.inode, f"the host ({host_where})")
        pair._fds.append(pair.host.fd)
        bridge = forwards_nearest_bridge(pair.host.fd, adapter.host.master_ifindex)
        if bridge:
            raise InvalidInput(f"{adapter.host.ifname}'s bridge {bridge} forwards 01:80:c2:00:00:0e "
                               "(group_fwd_mask): the guest's answers would leave the pair",
                               rule="pair-forwarding")
    except BaseException:
        pair.close()
        raise
    return pair
