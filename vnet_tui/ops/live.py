"""The live side of one operation: namespaces opened for changes, QMP connections.

Namespaces are keyed ``"host"`` or by container name, opened on first use
with the inode discovery saw (a restarted container is refused, never
changed by mistake), and closed together at the end.
"""

from __future__ import annotations

from typing import Optional

from vnet_tui.core.errors import ChangeFailed, NotFound
from vnet_tui.core.model import Container, Topology
from vnet_tui.core.server import Server
from vnet_tui.discovery.qmp import QMP
from vnet_tui.net.change import ChangeNs
from vnet_tui.net.generation import link_generation
from vnet_tui.net.rawread import RawReadError, get_link

from .index import index_of

HOST = "host"


def container_label(c: Container) -> str:
    """How commands name a container's namespace: its name, else a /proc path."""
    if c.netns.name:
        return c.netns.name
    if c.netns.pids:
        return f"/proc/{c.netns.pids[0]}/ns/net"
    return c.netns.path or f"netns:{c.netns.inode}"


def labels(server: Server, topology: Topology) -> dict[str, Optional[str]]:
    """Namespace key → label for rendered commands (None: the root namespace); made once per topology."""

    def make() -> dict[str, Optional[str]]:
        out: dict[str, Optional[str]] = {HOST: server.host_netns}
        for c in topology.containers:
            out[c.name] = container_label(c)
        return out

    return index_of(topology).labels(server.host_netns, make)


class Live:
    """Open namespaces and QMP connections for one operation; use as a context manager."""

    def __init__(self, server: Server, topology: Topology) -> None:
        self.server = server
        self.topology = topology
        self.labels = labels(server, topology)
        self._ns: dict[str, ChangeNs] = {}
        self._qmp: dict[str, QMP] = {}
        # an end's promote_secondaries as it was before PromoteOn (endsteps.py), by PromoteGuard.slot
        # ("promote:NS:IFNAME"), until PromoteBack or the edit's rollback puts it back
        self.promote_saved: dict[str, str] = {}
        self._index: dict[tuple[str, str], tuple[int, int]] = {}  # (key, ifname) -> (generation, ifindex)

    def __enter__(self) -> "Live":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for q in self._qmp.values():
            q.close()
        for ns in self._ns.values():
            ns.close()
        self._qmp.clear()
        self._ns.clear()

    def ns(self, key: str) -> ChangeNs:
        """The namespace ``key`` ("host" or a container name), opened once."""
        if key not in self._ns:
            if key == HOST:
                self._ns[key] = ChangeNs(
                    self.server.host_netns,
                    self.server.host_netns,
                    expect_inode=self.topology.host.inode or None,
                )
            else:
                c = index_of(self.topology).containers.get(key)
                if c is None:
                    raise NotFound(f"no container {key!r}", rule="target")
                where = c.netns.path or (f"/run/netns/{c.netns.name}" if c.netns.name else None)
                if where is None:
                    where = f"/proc/{c.netns.pids[0]}/ns/net" if c.netns.pids else None
                if where is None:
                    raise NotFound(f"{key}: its namespace cannot be opened", rule="namespace")
                self._ns[key] = ChangeNs(where, self.labels[key], expect_inode=c.netns.inode)
        return self._ns[key]

    def index(self, key: str, ifname: str) -> int:
        """The ifindex of ``ifname`` in namespace ``key`` now.

        Looked up once and reused until this operation adds, renames or deletes
        a link anywhere (``link_generation``); a link someone else
        deletes meanwhile fails the next change by its index (ENODEV), so a
        step never lands on a different interface that took the name.
        """
        ns = self.ns(key)
        hit = self._index.get((key, ifname))
        if hit is not None and hit[0] == link_generation():
            return hit[1]
        found = _lookup(ns, ifname)
        if not found:
            raise ChangeFailed(
                f"{ifname} is gone from {self.where(key)} (deleted by someone else?)", rule="gone"
            )
        self._index[(key, ifname)] = (link_generation(), int(found[0]))
        return int(found[0])

    def has(self, key: str, ifname: str) -> bool:
        return bool(_lookup(self.ns(key), ifname))

    def where(self, key: str) -> str:
        label = self.labels.get(key)
        return f"namespace {label}" if label else "the root namespace"

    def where_of(self, command: str) -> str:
        """The namespace a rendered command runs in (for errno messages)."""
        for key, label in self.labels.items():
            if label and (
                f"-n {label} " in command or f"--net={label} " in command or f"exec {label} " in command
            ):
                return self.where(key)
        return self.where(HOST)

    def qmp(self, vm: str) -> QMP:
        """A QMP session to VM ``vm`` (kept for the operation)."""
        if vm not in self._qmp:
            v = next((v for v in self.topology.vms if v.name == vm), None)
            if v is None or not v.qmp:
                raise NotFound(f"VM {vm} has no QMP socket", rule="qmp")
            q = QMP(v.qmp, timeout=5.0)
            try:
                q.connect()
            except OSError as e:
                raise ChangeFailed(f"cannot reach {vm}'s QMP socket {v.qmp}: {e}", rule="qmp") from e
            self._qmp[vm] = q
        return self._qmp[vm]


def _lookup(ns: ChangeNs, ifname: str) -> list[int]:
    """``link_lookup(ifname=…)``: one raw RTM_GETLINK by name (pyroute2's if that fails)."""
    try:
        link = get_link(ns.raw(), ifname=ifname)
    except RawReadError:
        return list(ns.ipr.link_lookup(ifname=ifname))
    return [link.index] if link is not None else []
