"""What validation needs to know about a server, read from its discovered topology.

Pure lookups: targets by name, adapters by either end's name, every MAC
and address on the server and where it is, names per namespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Optional, Union

from vnet_tui.core.errors import InvalidInput, NotFound
from vnet_tui.core.model import VM, Adapter, Container, Interface, Topology

from vnet_tui.owners import identity

from .index import AddressBook, index_of

Target = Union[Container, VM]
BR_MAX_PORTS = 1024  # net/bridge/br_private.h


@dataclass
class ServerFacts:
    """Lookups over one topology (not the detail view's ``Facts`` widget, ui/detail.py)."""

    topology: Topology
    extra_macs: dict[str, str] = field(default_factory=dict)  # MACs discovery cannot pair (hot-plugged NICs)

    # -- targets ----------------------------------------------------------------
    def target(self, name: str) -> Target:
        """The one container or VM ``name`` names: a display name (unique), an owner's name,
        an id or id prefix, a netns name or ``pid:N``.  More than one match is refused
        (InvalidInput, rule target-ambiguous), listing each candidate; none is NotFound."""
        c = index_of(self.topology).containers.get(name)
        if c is not None:
            return c
        return identity.resolve([*self.topology.containers, *self.topology.vms], name, self.lab_prefix())

    def lab_prefix(self) -> Optional[str]:
        """``vl-LAB-`` when every container namespace is a lab's (their short names then reach them)."""
        names = [c.netns.name for c in self.topology.containers if c.netns.name]
        if names and all(n.startswith("vl-") for n in names):
            return "-".join(names[0].split("-")[:2]) + "-"
        return None

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
    def host_names(self) -> frozenset[str]:
        return index_of(self.topology).host_names

    def host_iface(self, name: str) -> Optional[Interface]:
        return next((i for i in self.topology.host.interfaces if i.ifname == name), None)

    def bridge(self, name: str) -> Interface:
        """A bridge in the host namespace with room for one more port.

        NotFound (bridge), not a bridge (bridge-kind), or full (bridge-full:
        a Linux bridge takes BR_MAX_PORTS = 1,024 ports; the kernel would
        refuse the next with EXFULL after the adapter was made).
        """
        br = self.host_iface(name)
        if br is None:
            raise NotFound(f"no interface {name!r} in the host namespace to attach to", rule="bridge")
        if br.kind != "bridge":
            raise InvalidInput(f"{name} is a {br.kind}, not a bridge", rule="bridge-kind")
        ports = index_of(self.topology).bridge_ports.get(name, 0)
        if ports >= BR_MAX_PORTS:
            raise InvalidInput(
                f"{name} already has {ports:,} ports, the most a Linux bridge takes ({BR_MAX_PORTS:,}): "
                "use another bridge, or --routed", rule="bridge-full")
        return br

    # -- MACs and addresses across the server (ops/index.py: built once per topology) --
    def macs(self) -> Mapping[str, str]:
        """Every MAC on the server (lower case) → where it is (host, containers, VM guest NICs)."""
        base = index_of(self.topology).macs
        if not self.extra_macs:
            return MappingProxyType(base)
        out = dict(base)
        for m, where in self.extra_macs.items():
            out.setdefault(m.lower(), where)
        return out

    def addresses(self, skip: Optional[Interface] = None) -> list[tuple[str, str, str]]:
        """(address/prefix, namespace key, where) for every address on the server but ``skip``'s."""
        return index_of(self.topology).addresses.listed(skip)

    def address_book(self) -> AddressBook:
        """The same addresses, indexed for validate.ips_to_add."""
        return index_of(self.topology).addresses
