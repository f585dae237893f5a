"""The server's virtual network as plain, typed data.

A *host* has interfaces; a *container* is a network namespace with the
guest ends of its veth adapters; a *VM* is a QEMU process whose adapters
have a host-side tap and a guest NIC.  An *adapter* is the pair of its
two ends.  Everything here is plain data: no kernel access, no Textual.
The JSON shape is the contract in CLI.md (``show --json``).

Over 300 lines on purpose: it is one job — the model's dataclasses, each
with the ``to_json`` that is its part of the contract, and ``Topology``'s
``from_json`` that reads it back — and a reader checks the contract
against docs/CLI.md in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterator, Literal, Optional

PeerKind = Literal["host", "container", "vm"]

COUNTER_FIELDS = (
    "rx_bytes",
    "tx_bytes",
    "rx_packets",
    "tx_packets",
    "rx_errors",
    "tx_errors",
    "rx_dropped",
    "tx_dropped",
)


@dataclass
class Counters:
    """Cumulative interface counters, as the kernel reports them."""

    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    tx_packets: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0

    def minus(self, other: "Counters") -> "Counters":
        """Field-wise difference ``self - other``."""
        return Counters(*(getattr(self, f) - getattr(other, f) for f in COUNTER_FIELDS))

    def to_json(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in COUNTER_FIELDS}  # asdict's deep copy: 15,000 calls at 5,000


@dataclass
class NetnsRef:
    """A network namespace: its name (if bind-mounted), inode and holders."""

    name: Optional[str]
    inode: int
    pids: list[int] = field(default_factory=list)
    path: Optional[str] = None  # a path that opens it (/run/netns/X or /proc/PID/ns/net)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "inode": self.inode, "pids": list(self.pids)}


@dataclass
class Peer:
    """The other end of an adapter, as seen from one end."""

    kind: PeerKind
    owner: Optional[str] = None  # container/VM name; None for the host
    netns: Optional[str] = None
    ifname: Optional[str] = None
    ifindex: Optional[int] = None
    adapter: Optional[str] = None  # VM adapter id (net0)
    mac: Optional[str] = None  # VM guest MAC

    def to_json(self) -> dict[str, Any]:
        if self.kind == "vm":
            return {"kind": "vm", "owner": self.owner, "adapter": self.adapter, "mac": self.mac}
        return {
            "kind": self.kind,
            "owner": self.owner,
            "netns": self.netns,
            "ifname": self.ifname,
            "ifindex": self.ifindex,
        }


@dataclass
class Interface:
    """One network interface: one end of a pair, or a plain link."""

    ifname: str
    ifindex: int
    kind: str  # kernel link kind: veth, tun, bridge, ... or "device"
    mac: Optional[str]
    mtu: int
    state: str  # "up" | "down" | "unknown" | "lowerlayerdown" | ...
    addresses: list[str] = field(default_factory=list)
    master: Optional[str] = None
    peer: Optional[Peer] = None
    stats: Counters = field(default_factory=Counters)
    alias: Optional[str] = None
    admin_up: bool = False
    # raw netlink facts behind the pairing
    link_ifindex: Optional[int] = None
    link_netnsid: Optional[int] = None
    master_ifindex: Optional[int] = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ifname": self.ifname,
            "ifindex": self.ifindex,
            "kind": self.kind,
            "mac": self.mac,
            "mtu": self.mtu,
            "state": self.state,
            "addresses": list(self.addresses),
            "master": self.master,
            "peer": self.peer.to_json() if self.peer else None,
            "stats": self.stats.to_json(),
            "alias": self.alias,
        }


@dataclass
class Owner:
    """Who runs a container or VM, in its own words: runtime, id, name, image, state.

    ``name`` is the owner's name for it (``docker ps``, ``virsh list``,
    ``lxc-ls``); the container's or VM's ``name`` in this model is the
    *display* name, made unique on the server (``web@docker``, ``sleep#2``).
    ``state`` is what the owner reports (running, paused, restarting,
    exited, shut off, …), None where nobody says.  ``control`` says how to
    ask the owner for a change (an API socket, a libvirt URI): never shown
    in JSON, never a QMP monitor that belongs to someone else.
    """

    runtime: str
    id: str
    name: str
    image: Optional[str] = None
    state: Optional[str] = None
    control: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    details: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def owner_json(display: str, runtime: str, owner: Optional[Owner]) -> dict[str, Any]:
    """The identity keys of ``show --json`` for a container or VM (added to CLI.md's)."""
    if owner is None:
        return {"id": None, "display": display, "image": None, "state": None}
    return {"id": owner.id, "display": display, "image": owner.image, "state": owner.state}


@dataclass
class Host:
    """The server: the root namespace, a named namespace or a lab's host."""

    netns: Optional[str]
    hostname: str
    interfaces: list[Interface] = field(default_factory=list)
    inode: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "netns": self.netns,
            "hostname": self.hostname,
            "interfaces": [i.to_json() for i in self.interfaces],
        }


@dataclass
class Container:
    """A container: a network namespace with guest ends of veth adapters."""

    name: str  # the display name: unique on the server (the owner's own name when it is)
    runtime: str
    netns: NetnsRef
    interfaces: list[Interface] = field(default_factory=list)
    owner: Optional[Owner] = None

    @property
    def owner_name(self) -> str:
        """The owner's own name for it (``docker ps``), which may be shared with another."""
        return self.owner.name if self.owner else self.name

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.owner_name,
            "runtime": self.runtime,
            **owner_json(self.name, self.runtime, self.owner),
            "netns": self.netns.to_json(),
            "interfaces": [i.to_json() for i in self.interfaces],
        }


@dataclass
class VMNic:
    """A VM's NIC: its id in QEMU (net0), the guest MAC and the host tap (the guest end of a vme adapter)."""

    id: str
    guest_mac: Optional[str]
    host_ifname: Optional[str]
    model: Optional[str] = None  # virtio-net-pci, e1000, ...
    netdev: Optional[str] = None  # QEMU's netdev id when the owner names the NIC otherwise (libvirt: hostnet0)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "guest_mac": self.guest_mac, "host_ifname": self.host_ifname}
        if self.netdev and self.netdev != self.id:
            out["netdev"] = self.netdev
        return out


@dataclass
class VM:
    """A virtual machine: a QEMU process and its adapters."""

    name: str
    pid: int
    running: bool
    qmp: Optional[str]
    adapters: list[VMNic] = field(default_factory=list)
    qga: Optional[str] = None  # the guest agent's unix socket (virtserialport org.qemu.guest_agent.0)
    owner: Optional[Owner] = None
    runtime: str = "qemu"  # libvirt, lab (vnet-tui's own), qemu (a QEMU nobody we know runs)
    # how many files the process had open when its taps were read (None: unknown); a cheap sign
    # that it has opened or closed one since (ops/planner.py: vm_nic_macs); not part of its JSON
    open_files: Optional[int] = field(default=None, compare=False, repr=False)

    @property
    def owner_name(self) -> str:
        return self.owner.name if self.owner else self.name

    @property
    def state(self) -> str:
        """What the owner says (libvirt: running, paused, shut off…); else from the process."""
        if self.owner and self.owner.state:
            return self.owner.state
        return "running" if self.running else "paused"

    def to_json(self) -> dict[str, Any]:
        out = {
            "name": self.owner_name,
            "runtime": self.runtime,
            **owner_json(self.name, self.runtime, self.owner),
            "pid": self.pid,
            "running": self.running,
            "qmp": self.qmp,
            "adapters": [a.to_json() for a in self.adapters],
            "qga": self.qga,
        }
        out["state"] = self.state
        return out


@dataclass
class Adapter:
    """A virtual adapter: its guest end and its host end.

    For a container (``kind == "veth"``) both ends are interfaces.  For a
    VM (``kind == "vme"``) the host end is the tap and the guest end is
    the VM's NIC, known by its MAC (``guest`` is None, ``vm_adapter`` set).
    """

    kind: Literal["veth", "vme"]
    owner: str
    guest: Optional[Interface]
    host: Optional[Interface]
    vm_adapter: Optional[VMNic] = None

    @property
    def key(self) -> str:
        """A stable identity: owner plus the guest-side name."""
        if self.kind == "vme" and self.vm_adapter is not None:
            return f"{self.owner}/{self.vm_adapter.id}"
        end = self.guest or self.host
        return f"{self.owner}/{end.ifname if end else '?'}"


@dataclass(frozen=True)
class Change:
    """What a live Topology changed since the feed's topology number ``after``.

    ``host``: the host ends (ifindex) and ``containers``: the containers
    (netns inode) that are new objects; every other interface, container
    and VM is the very object of topology ``after``.  ``after`` None: no
    such promise (a whole new picture).  A consumer that holds topology
    ``after`` can update only what changed; any other must take it whole.
    """

    serial: int
    after: Optional[int] = None
    host: frozenset[int] = frozenset()
    containers: frozenset[int] = frozenset()


@dataclass
class Topology:
    """Everything vnet-tui sees on one server."""

    host: Host
    containers: list[Container] = field(default_factory=list)
    vms: list[VM] = field(default_factory=list)
    # the live feed's note of what changed (live/assemble.py); not part of what the topology is
    change: Optional[Change] = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host.to_json(),
            "containers": [c.to_json() for c in self.containers],
            "vms": [v.to_json() for v in self.vms],
        }

    def adapters(self) -> Iterator[Adapter]:
        """Every adapter, its two ends paired (containers first, then VMs)."""
        by_index = {i.ifindex: i for i in self.host.interfaces}
        by_name = {i.ifname: i for i in self.host.interfaces}
        for ct in self.containers:
            for iface in ct.interfaces:
                if iface.peer is None or iface.peer.kind != "host":
                    continue
                host_end = by_index.get(iface.peer.ifindex or -1)
                yield Adapter("veth", ct.name, iface, host_end)
        for vm in self.vms:
            for a in vm.adapters:
                yield Adapter("vme", vm.name, None, by_name.get(a.host_ifname or ""), a)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Topology":
        """Rebuild a topology from ``show --json`` output (recorded topologies)."""

        def iface(d: dict[str, Any]) -> Interface:
            peer = d.get("peer")
            known = {f.name for f in fields(Interface)}
            kw = {k: v for k, v in d.items() if k in known and k not in ("peer", "stats")}
            return Interface(
                **kw,
                peer=Peer(**peer) if peer else None,
                stats=Counters(**d.get("stats", {})),
            )

        h = data["host"]
        host = Host(h.get("netns"), h.get("hostname", ""), [iface(i) for i in h["interfaces"]])
        def owner(d: dict[str, Any]) -> Optional[Owner]:
            if not d.get("id"):
                return None
            return Owner(d.get("runtime", ""), d["id"], d["name"], d.get("image"), d.get("state"))

        cts = [
            Container(
                c.get("display") or c["name"],
                c["runtime"],
                NetnsRef(c["netns"]["name"], c["netns"]["inode"], list(c["netns"].get("pids", []))),
                [iface(i) for i in c["interfaces"]],
                owner(c),
            )
            for c in data.get("containers", [])
        ]
        vms = [
            VM(
                v.get("display") or v["name"],
                v["pid"],
                v["running"],
                v.get("qmp"),
                [VMNic(a["id"], a.get("guest_mac"), a.get("host_ifname"), netdev=a.get("netdev"))
                 for a in v["adapters"]],
                v.get("qga"),
                owner(v),
                v.get("runtime", "qemu"),
            )
            for v in data.get("vms", [])
        ]
        return cls(host, cts, vms)
