"""What validation needs to know about a server, read from its discovered topology.

Pure lookups: targets by name, adapters by either end's name, every MAC
and address on the server and where it is, names per namespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from vnet_tui.core.errors import InvalidInput, NotFound
from vnet_tui.core.model import VM, Adapter, Container, Interface, Topology

Target = Union[Container, VM]


@dataclass
class Facts:
    """Lookups over one topology."""

    topology: Topology
    extra_macs: dict[str, str] = field(default_factory=dict)  # MACs discovery cannot pair (hot-plugged NICs)

    # -- targets ----------------------------------------------------------------
    def target(self, name: str) -> Target:
        for c in self.topology.containers:
            if c.name == name:
                return c
        for v in self.topology.vms:
            if v.name == name:
                return v
        known = [c.name for c in self.topology.containers] + [v.name for v in self.topology.vms]
        hint = f" (known: {', '.join(known[:12])})" if known else " (none found)"
        raise NotFound(f"no container or VM named {name!r}{hint}", rule="target")

    def adapter(self, target: Target, name: str) -> Adapter:
        """A container adapter by its guest or host end name; a VM adapter by id or tap name."""
        for a in self.topology.adapters():
            if a.owner != target.name:
                continue
            if a.kind == "veth" and name in (a.guest and a.guest.ifname, a.host and a.host.ifname):
                return a
            if a.kind == "vme" and a.vm_adapter and name in (a.vm_adapter.id, a.vm_adapter.host_ifname):
                return a
        if isinstance(target, Container) and any(i.ifname == name for i in target.interfaces):
            raise InvalidInput(
                f"{target.name}/{name} has no peer on the host: it is not an adapter vnet-tui manages",
                rule="not-an-adapter",
            )
        raise NotFound(f"{target.name} has no adapter {name!r}", rule="interface")

    # -- names --------------------------------------------------------------------
    def host_names(self) -> set[str]:
        return {i.ifname for i in self.topology.host.interfaces}

    def host_iface(self, name: str) -> Optional[Interface]:
        return next((i for i in self.topology.host.interfaces if i.ifname == name), None)

    def bridge(self, name: str) -> Interface:
        """A bridge in the host namespace (NotFound / bridge-kind otherwise)."""
        br = self.host_iface(name)
        if br is None:
            raise NotFound(f"no interface {name!r} in the host namespace to attach to", rule="bridge")
        if br.kind != "bridge":
            raise InvalidInput(f"{name} is a {br.kind}, not a bridge", rule="bridge-kind")
        return br

    # -- MACs and addresses across the server ---------------------------------------
    def macs(self) -> dict[str, str]:
        """Every MAC on the server → where it is (host, containers, VM guest NICs)."""
        out: dict[str, str] = {}
        for i in self.topology.host.interfaces:
            if i.mac and i.kind != "loopback" and i.mac != "00:00:00:00:00:00":
                out.setdefault(i.mac, f"host interface {i.ifname}")
        for c in self.topology.containers:
            for i in c.interfaces:
                if i.mac and i.kind != "loopback" and i.mac != "00:00:00:00:00:00":
                    out.setdefault(i.mac, f"{c.name}/{i.ifname}")
        for v in self.topology.vms:
            for a in v.adapters:
                if a.guest_mac:
                    out.setdefault(a.guest_mac.lower(), f"{v.name} adapter {a.id} (guest NIC)")
        for m, where in self.extra_macs.items():
            out.setdefault(m.lower(), where)
        return out

    def addresses(self, skip: Optional[Interface] = None) -> list[tuple[str, str, str]]:
        """(address/prefix, namespace key, where) for every address on the server but ``skip``'s."""
        out: list[tuple[str, str, str]] = []
        for i in self.topology.host.interfaces:
            if i is not skip and i.kind != "loopback":
                out += [(a, "host", f"host interface {i.ifname}") for a in i.addresses]
        for c in self.topology.containers:
            for i in c.interfaces:
                if i is not skip and i.kind != "loopback":
                    out += [(a, c.name, f"{c.name}/{i.ifname}") for a in i.addresses]
        return [t for t in out if not t[0].lower().startswith("fe80:")]
