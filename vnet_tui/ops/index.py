"""Server-wide lookups over one topology, built once per topology object.

Validating one change asks questions of the whole server: is this MAC
used anywhere, is this address, does this network overlap one in the
same namespace, is any adapter left half-made.  At 1,000 containers each
walk over the topology costs milliseconds; the TUI and the benchmark
plan many changes against the one topology they hold, so the answers
are indexed once per Topology object (a topology is never changed in
place: a change brings a new one) and kept for the last one seen.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import weakref
from functools import cached_property
from typing import Any, Optional

from vnet_tui.core.model import Container, Interface, Topology

from .names import half_made_by

Where = tuple[str, str, str, Any]  # (address/prefix, namespace key, where, Interface or NOBODY)
NOBODY = object()  # the interface of an entry given without one: never skipped


def _usable(i: Interface) -> bool:
    return i.kind != "loopback"


class AddressBook:
    """Every address on the server but link-local IPv6, with where it is; queries skip one interface."""

    def __init__(self, entries: list[Where]) -> None:
        self.entries = entries
        self._same: dict[bytes, list[int]] = {}
        self._by_ns: dict[str, list[int]] = {}
        self._nets: dict[int, Any] = {}
        for n, (addr, ns, _where, _iface) in enumerate(entries):
            a = addr.partition("/")[0]
            try:
                key = socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)
            except OSError:
                continue  # not an address (the kernel never reports one): it matches nothing
            self._same.setdefault(key, []).append(n)
            self._by_ns.setdefault(ns, []).append(n)

    def listed(self, skip: Optional[Interface] = None) -> list[tuple[str, str, str]]:
        return [(a, ns, w) for a, ns, w, i in self.entries if i is not skip]

    def same(self, packed: bytes, skip: Optional[Interface] = None) -> list[tuple[int, str]]:
        """(order, where) of every entry holding this address."""
        return [(n, self.entries[n][2]) for n in self._same.get(packed, ()) if self.entries[n][3] is not skip]

    def in_namespace(self, ns: str, skip: Optional[Interface] = None) -> list[tuple[int, Any, str, str]]:
        """(order, parsed interface address, text, where) of the entries in namespace ``ns``."""
        out = []
        for n in self._by_ns.get(ns, ()):
            addr, _ns, where, iface = self.entries[n]
            if iface is skip:
                continue
            net = self._nets.get(n)
            if net is None:
                net = self._nets[n] = ipaddress.ip_interface(addr)
            out.append((n, net, addr, where))
        return out


class TopologyIndex:
    """The lookups, each built on first use."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology

    @cached_property
    def macs(self) -> dict[str, str]:
        """Every MAC on the server (lower case) → where it is (host, containers, VM guest NICs)."""
        t = self.topology
        out: dict[str, str] = {}
        for i in t.host.interfaces:
            if i.mac and _usable(i) and i.mac != "00:00:00:00:00:00":
                out.setdefault(i.mac.lower(), f"host interface {i.ifname}")
        for c in t.containers:
            for i in c.interfaces:
                if i.mac and _usable(i) and i.mac != "00:00:00:00:00:00":
                    out.setdefault(i.mac.lower(), f"{c.name}/{i.ifname}")
        for v in t.vms:
            for a in v.adapters:
                if a.guest_mac:
                    out.setdefault(a.guest_mac.lower(), f"{v.name} adapter {a.id} (guest NIC)")
        return out

    @cached_property
    def addresses(self) -> AddressBook:
        entries: list[Where] = []
        for i in self.topology.host.interfaces:
            if _usable(i):
                entries += [(a, "host", f"host interface {i.ifname}", i) for a in i.addresses]
        for c in self.topology.containers:
            for i in c.interfaces:
                if _usable(i):
                    entries += [(a, c.name, f"{c.name}/{i.ifname}", i) for a in i.addresses]
        return AddressBook([e for e in entries if not e[0].lower().startswith("fe80:")])

    @cached_property
    def host_names(self) -> frozenset[str]:
        return frozenset(i.ifname for i in self.topology.host.interfaces)

    @cached_property
    def bridge_ports(self) -> dict[str, int]:
        """Bridge name → how many host interfaces have it as their master."""
        out: dict[str, int] = {}
        for i in self.topology.host.interfaces:
            if i.master:
                out[i.master] = out.get(i.master, 0) + 1
        return out

    @cached_property
    def containers(self) -> dict[str, Container]:
        return {c.name: c for c in self.topology.containers}

    @cached_property
    def half_made(self) -> list[tuple[str, str, int]]:
        """(namespace key, ifname, owner pid) of every end marked as being made (names.half_made_by)."""
        out = []
        for i in self.topology.host.interfaces:
            pid = half_made_by(i.alias, i.ifname) if i.kind in ("veth", "tun") else None
            if pid is not None:
                out.append(("host", i.ifname, pid))
        for c in self.topology.containers:
            for i in c.interfaces:
                pid = half_made_by(i.alias, i.ifname) if i.kind == "veth" else None
                if pid is not None:
                    out.append((c.name, i.ifname, pid))
        return out

    _labels: Optional[tuple[Optional[str], dict[str, Optional[str]]]] = None

    def labels(self, host_netns: Optional[str], make: Any) -> dict[str, Optional[str]]:
        """``make(topology)`` for this host namespace, once."""
        if self._labels is None or self._labels[0] != host_netns:
            self._labels = (host_netns, make())
        return self._labels[1]


_lock = threading.Lock()
_last: Optional[tuple["weakref.ref[Topology]", TopologyIndex]] = None


def index_of(topology: Topology) -> TopologyIndex:
    """The index of this topology object (the last one asked for is kept)."""
    global _last
    with _lock:
        if _last is not None and _last[0]() is topology:
            return _last[1]
        idx = TopologyIndex(topology)
        _last = (weakref.ref(topology), idx)
        return idx
