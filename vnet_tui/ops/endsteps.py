"""The steps ``converge`` makes of one end: small typed objects (``describe`` renders, ``do`` makes).

Each holds the namespace key, its label in rendered commands and the
interface's name at the time the step runs (a rename earlier in the same
plan changes the name later steps use); the interface is looked up by
name when the step runs, as an operator's ``ip … dev NAME`` would.
``PromoteGuard`` is the one that remembers something: the old
``promote_secondaries`` value, kept on the ``Live`` context under
``promote:KEY:NAME`` so that a rollback (``edit.EndEdit.rollback``) finds
it when a step between the guard's two halves failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from vnet_tui.net.ipcommand import ip_command, sysctl_command

from .endstate import RT_TABLE_MAIN

if TYPE_CHECKING:
    from .live import Live  # type only: describing a step needs no change layer (as ops/plan.py)


def route_words(r: dict[str, Any], dev: str, verb: str = "add") -> list[str]:
    words = ["-6"] if ":" in r["dst"] else []
    words += ["route", verb, r["dst"]]
    if r.get("gateway"):
        words += ["via", r["gateway"]]
    words += ["dev", dev]
    if r.get("table") not in (None, RT_TABLE_MAIN):
        words += ["table", str(r["table"])]
    if r.get("metric") is not None:
        words += ["metric", str(r["metric"])]
    return words


def route_spec(r: dict[str, Any], index: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"dst": r["dst"], "oif": index}
    if r.get("gateway"):
        spec["gateway"] = r["gateway"]
    if r.get("table") not in (None, RT_TABLE_MAIN):
        spec["table"] = r["table"]
    if r.get("metric") is not None:
        spec["priority"] = r["metric"]
    return spec


@dataclass
class LinkSet:
    """Step: ``ip link set dev NAME WORDS…`` (name, address, mtu, nomaster, up/down, alias)."""

    key: str
    label: Optional[str]
    name: str
    words: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return ip_command(self.label, "link", "set", "dev", self.name, *self.words)

    def do(self, live: "Live") -> None:
        live.ns(self.key).link_set(live.index(self.key, self.name), **self.attrs)


@dataclass
class SetMaster:
    """Step: ``ip link set dev NAME master BRIDGE`` (the bridge looked up by name when it runs)."""

    key: str
    label: Optional[str]
    name: str
    master: str

    def describe(self) -> str:
        return ip_command(self.label, "link", "set", "dev", self.name, "master", self.master)

    def do(self, live: "Live") -> None:
        live.ns(self.key).link_set(live.index(self.key, self.name), master=live.index(self.key, self.master))


@dataclass
class AddrChange:
    """Step: ``ip addr add|del ADDRESS dev NAME``."""

    key: str
    label: Optional[str]
    name: str
    verb: str  # "add" | "del"
    address: str

    def describe(self) -> str:
        return ip_command(self.label, "addr", self.verb, self.address, "dev", self.name)

    def do(self, live: "Live") -> None:
        ns, index = live.ns(self.key), live.index(self.key, self.name)
        (ns.addr_add if self.verb == "add" else ns.addr_del)(index, self.address)


@dataclass
class RouteChange:
    """Step: ``ip route add|del DST [via GW] dev NAME [table T] [metric M]``."""

    key: str
    label: Optional[str]
    name: str
    verb: str  # "add" | "del"
    route: dict[str, Any]

    def describe(self) -> str:
        return ip_command(self.label, *route_words(self.route, self.name, self.verb))

    def do(self, live: "Live") -> None:
        ns, spec = live.ns(self.key), route_spec(self.route, live.index(self.key, self.name))
        (ns.route_add if self.verb == "add" else ns.route_del)(**spec)


@dataclass
class SysctlWrite:
    """Step: ``sysctl -w net/PATH=SHOWN`` writing ``value`` in the namespace."""

    key: str
    label: Optional[str]
    path: str
    shown: str
    value: str

    def describe(self) -> str:
        return sysctl_command(self.label, self.path, self.shown)

    def do(self, live: "Live") -> None:
        live.ns(self.key).sysctl_write(self.path, self.value)


@dataclass
class PromoteGuard:
    """``promote_secondaries`` held on around deletions: ``on`` remembers the old value, ``back`` restores it."""

    key: str
    label: Optional[str]
    name: str

    @property
    def path(self) -> str:
        return f"ipv4/conf/{self.name}/promote_secondaries"

    @property
    def slot(self) -> str:
        return f"promote:{self.key}:{self.name}"

    def on(self) -> "PromoteOn":
        return PromoteOn(self)

    def back(self) -> "PromoteBack":
        return PromoteBack(self)


@dataclass
class PromoteOn:
    """Step: turn ``promote_secondaries`` on, remembering the value it had."""

    guard: PromoteGuard

    def describe(self) -> str:
        return sysctl_command(self.guard.label, self.guard.path, "1")

    def do(self, live: "Live") -> None:
        g = self.guard
        old = live.ns(g.key).sysctl_read(g.path)
        live.promote_saved.setdefault(g.slot, old)  # a failed step may have left it on: keep the first value
        if old == "0":
            live.ns(g.key).sysctl_write(g.path, "1")


@dataclass
class PromoteBack:
    """Step: put ``promote_secondaries`` back as it was before ``PromoteOn``."""

    guard: PromoteGuard

    def describe(self) -> str:
        return sysctl_command(self.guard.label, self.guard.path, "0  # as it was")

    def do(self, live: "Live") -> None:
        g = self.guard
        if live.promote_saved.get(g.slot) == "0":
            live.ns(g.key).sysctl_write(g.path, "0")
        live.promote_saved.pop(g.slot, None)  # only once it is back: a rollback finds it otherwise
