"""The SSH guard: which interfaces carry the operator's own session.

From ``SSH_CONNECTION`` ("client_ip client_port local_ip local_port"), in
the host namespace:

* the interface holding the local address, and the route to the client
  (``RTM_GETROUTE``: its output interface);
* their bridge/bond masters and VLAN lower devices (transitively), and a
  protected bridge's or bond's physical/bond/VLAN ports (the uplink);
* when the route leaves through a bridge, the port the client's MAC was
  learnt on (neighbour entry → bridge FDB);
* a container adapter whose guest end holds the client's address (labs,
  jump containers): both ends.

A change to any of these, or a route change covering the client's
address, needs typed confirmation and runs commit-confirmed.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from typing import Optional

from vnet_tui.core.model import Interface, Topology
from vnet_tui.core.server import Server
from vnet_tui.net.change import ChangeNs

HOST = "host"
AF_BRIDGE = 7
UPLINK_KINDS = ("device", "bond", "vlan", "team")


@dataclass
class SshSession:
    """The operator's SSH connection, from ``SSH_CONNECTION`` (not a netlink socket: that is ``net.session``)."""

    client: str
    client_port: int
    local: str
    local_port: int


def parse(value: Optional[str]) -> Optional[SshSession]:
    """``SSH_CONNECTION``'s four words; None when absent or malformed."""
    parts = (value or "").split()
    if len(parts) != 4:
        return None
    try:
        ipaddress.ip_address(parts[0].split("%")[0])
        ipaddress.ip_address(parts[2].split("%")[0])
        return SshSession(parts[0].split("%")[0], int(parts[1]), parts[2].split("%")[0], int(parts[3]))
    except ValueError:
        return None


@dataclass
class Protected:
    """The protected interfaces, keyed (namespace key, ifname) → why."""

    ssh: Optional[SshSession] = None
    ifaces: dict[tuple[str, str], str] = field(default_factory=dict)

    def hits(self, touched: list[tuple[str, str]], route_dsts: list[str] = ()) -> list[str]:  # type: ignore[assignment]
        """Why a change touching ``touched`` (and routing ``route_dsts``) endangers the session."""
        out = [f"{name} ({self.ifaces[(k, name)]})" for k, name in touched if (k, name) in self.ifaces]
        if self.ssh:
            client = ipaddress.ip_address(self.ssh.client)
            for dst in route_dsts:
                net = ipaddress.ip_network(dst, strict=False)
                if net.version == client.version and client in net:
                    out.append(f"route to {dst} (covers the SSH client {client})")
        return out


def protected(server: Server, topology: Topology, ssh_connection: Optional[str] = None) -> Protected:
    """The interfaces carrying the current SSH session on ``server``'s host namespace."""
    value = ssh_connection if ssh_connection is not None else os.environ.get("SSH_CONNECTION")
    ssh = parse(value)
    out = Protected(ssh)
    if ssh is None:
        return out
    host = topology.host.interfaces
    by_index = {i.ifindex: i for i in host}

    def mark(i: Optional[Interface], why: str) -> None:
        if i is None or (HOST, i.ifname) in out.ifaces:
            return
        out.ifaces[(HOST, i.ifname)] = why
        if i.master_ifindex:
            mark(by_index.get(i.master_ifindex), f"master of {i.ifname}")
        if i.kind in ("vlan", "macvlan") and i.link_ifindex and i.link_netnsid is None:
            mark(by_index.get(i.link_ifindex), f"lower device of {i.ifname}")
        if i.kind in ("bridge", "bond", "team"):
            for port in host:
                if port.master_ifindex == i.ifindex and port.kind in UPLINK_KINDS:
                    mark(port, f"uplink of {i.ifname}")

    local = ipaddress.ip_address(ssh.local)
    for i in host:
        if any(ipaddress.ip_interface(a).ip == local for a in i.addresses):
            mark(i, f"holds {local}, the SSH session's local address")
    client = ipaddress.ip_address(ssh.client)
    try:
        with ChangeNs(server.host_netns) as ns:
            route = ns.ipr.route("get", dst=str(client))[0]
            oif = route.get("oif")
            mark(by_index.get(oif), f"route to the SSH client {client}")
            out_if = by_index.get(oif)
            if out_if is not None and out_if.kind == "bridge":
                port = _fdb_port(ns, oif, str(route.get("gateway") or client))
                if port is not None:
                    _mark_adapter(out, topology, by_index.get(port), "carries the SSH session (bridge port)")
    except OSError:
        pass
    for ct in topology.containers:
        for i in ct.interfaces:
            if any(ipaddress.ip_interface(a).ip == client for a in i.addresses):
                out.ifaces.setdefault((ct.name, i.ifname), f"holds the SSH client's address {client}")
                if i.peer and i.peer.ifname:
                    _mark_adapter(
                        out,
                        topology,
                        by_index.get(i.peer.ifindex or -1),
                        f"peer of {ct.name}/{i.ifname}, the SSH client",
                    )
    return out


def _fdb_port(ns: ChangeNs, bridge: int, neighbour: str) -> Optional[int]:
    """The bridge port the neighbour's MAC was learnt on, if the kernel knows it."""
    fam = socket.AF_INET6 if ":" in neighbour else socket.AF_INET
    lladdr = None
    for n in ns.ipr.neigh("dump", family=fam):
        if n.get("dst") == neighbour and n.get("lladdr"):
            lladdr = n.get("lladdr")
            break
    if lladdr is None:
        return None
    for f in ns.ipr.neigh("dump", family=AF_BRIDGE):
        if f.get("lladdr") == lladdr and f.get("master") == bridge:
            return int(f["ifindex"])
    return None


def _mark_adapter(out: Protected, topology: Topology, host_end: Optional[Interface], why: str) -> None:
    """Protect a host end and, for a container adapter, its guest end too."""
    if host_end is None:
        return
    out.ifaces.setdefault((HOST, host_end.ifname), why)
    p = host_end.peer
    if p is not None and p.kind == "container" and p.owner and p.ifname:
        out.ifaces.setdefault((p.owner, p.ifname), f"peer of {host_end.ifname} ({why})")
