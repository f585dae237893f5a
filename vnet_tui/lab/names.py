"""Names, MACs and addresses of a lab: pure functions of (lab name, seed, counts).

Nothing here touches the kernel.  Everything is deterministic:

- containers ``ct101``, ``ct102``, … (CTID = 100 + i) in namespaces
  ``vl-NAME-ct101``; guest end ``eth0``, host end ``veth101.0``;
- VMs ``vm201``, … (VMID = 200 + j); adapter ``net0``, host tap
  ``vme<8 hex>.0`` where the hex is a keyed permutation of the VMID (unique
  in a lab, stable for a lab name);
- guest MACs ``c4:37:72:xx:xx:xx`` (Virtuozzo OUI) and host MACs
  ``fe:01:kk:xx:xx:xx``; ``xx:xx:xx`` is a keyed *bijection* of the
  adapter's id, so a lab never holds two equal MACs, and the key comes from
  (lab name, seed): the same name and seed give the same MACs;
- the bridge ``br0``: ``fe:00:kk:00:00:01``, 198.18.0.1/16, fd00:5654::1/64;
- a lab bigger than one bridge (a Linux bridge takes BR_MAX_PORTS = 1,024
  ports; the lab puts at most PORTS_PER_BRIDGE on each, leaving room for
  ``adapter add``) gets ``br1``, ``br2``, … (``fe:00:kk:00:00:02``, …), each
  hung off br0 by a veth pair ``br0-brN`` ↔ ``brN-br0``: one L2 segment, one
  subnet, br0's addresses its only gateway.  Containers are split evenly over
  the bridges in CTID order (br0 also holds the VMs' taps and the links down);
- a container with CTID = 256·k + j has 198.18.k.j/16 and
  fd00:5654::k:j/64 (k and j written with the same digits), e.g. ct101 has
  198.18.0.101 and fd00:5654::101; VM vm2NN's guest (when it boots) has
  198.18.200.NN and fd00:5654::200:NN, clear of every CTID.

Over 300 lines on purpose: one job, the lab's naming as a pure function,
kept whole so the bijections that keep names and MACs unique are read
(and tested, tests/unit/test_lab_names.py) together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from vnet_tui.core.errors import InvalidInput
from vnet_tui.core.server import check_lab_name, lab_host_netns

GUEST_OUI = (0xC4, 0x37, 0x72)
BRIDGE = "br0"
BRIDGE_IPV4 = "198.18.0.1/16"
BRIDGE_IPV6 = "fd00:5654::1/64"
BR_MAX_PORTS = 1024  # net/bridge/br_private.h (ops.facts checks the same for adapter add)
SPARE_PORTS = 8  # per bridge, left free for adapter add and VM NICs added later
PORTS_PER_BRIDGE = BR_MAX_PORTS - SPARE_PORTS  # the most a lab puts on one bridge (tests lower it)
MAX_BRIDGES = 64
GUEST_IFNAME = "eth0"
ADAPTER_ID = "net0"
FIRST_CTID = 101
FIRST_VMID = 201
MAX_CONTAINERS = 10000  # CTIDs 101..10100: addresses stay inside 198.18.0.0/16
MAX_VMS = 64
_M24 = (1 << 24) - 1
_M32 = (1 << 32) - 1
_VM_DOMAIN = 1 << 23  # VM adapters' ids never meet containers' (CTIDs < 2**23)


def _key(*parts: object) -> bytes:
    return hashlib.sha256("\0".join(str(p) for p in parts).encode()).digest()


def _permute(key: bytes, x: int, bits: int) -> int:
    """A keyed bijection on ``bits``-bit integers (odd multiplies, xor-shifts, adds)."""
    mask = (1 << bits) - 1
    a = int.from_bytes(key[0:4], "big")
    m1 = int.from_bytes(key[4:8], "big") | 1
    m2 = int.from_bytes(key[8:12], "big") | 1
    x = (x + a) & mask
    x = (x * m1) & mask
    x ^= x >> (bits // 2)
    x = (x * m2) & mask
    x ^= x >> (bits // 2 - 1)
    return x


def _mac(octets: "tuple[int, ...] | list[int]") -> str:
    return ":".join(f"{o:02x}" for o in octets)


@dataclass(frozen=True)
class LabSpec:
    """What ``lab up`` builds: a name, how many containers and VMs, and the MAC seed."""

    name: str
    containers: int = 3
    vms: int = 2
    seed: int = 0
    bridges: int = 0  # 0: the fewest the size needs

    def check(self) -> "LabSpec":
        """Raise InvalidInput (exit 2, with the rule) unless the spec can be built."""
        check_lab_name(self.name)
        if not 0 <= self.containers <= MAX_CONTAINERS:
            raise InvalidInput(f"--containers must be 0–{MAX_CONTAINERS}", rule="lab-size")
        if not 0 <= self.vms <= MAX_VMS:
            raise InvalidInput(f"--vms must be 0–{MAX_VMS}", rule="lab-size")
        if not 0 <= self.seed <= 2**32 - 1:
            raise InvalidInput("--seed must be 0–4294967295", rule="lab-seed")
        if not 0 <= self.bridges <= MAX_BRIDGES:
            raise InvalidInput(f"--bridges must be 1–{MAX_BRIDGES} (0: as many as the size needs)", rule="lab-size")
        if self.bridges and bridge_split(self.containers, self.vms, self.bridges) is None:
            need = bridges_needed(self.containers, self.vms)
            raise InvalidInput(
                f"{self.containers:,} containers and {self.vms} VMs do not fit on {self.bridges} bridge"
                f"{'s' if self.bridges > 1 else ''}: a Linux bridge holds at most {BR_MAX_PORTS:,} ports "
                f"(BR_MAX_PORTS) and the lab puts at most {PORTS_PER_BRIDGE:,} on each; "
                + (f"use --bridges {need} or more (or leave it out)" if need else "use fewer"),
                rule="bridge-full")
        return self


def bridge_split(containers: int, vms: int, bridges: int) -> "list[int] | None":
    """How many containers go on each of ``bridges`` bridges (None: they do not fit).

    br0 also holds the VMs' taps and one link down to each other bridge;
    every other bridge holds its link up.  Containers are split as evenly as
    those ports allow, in CTID order.
    """
    if bridges < 1:
        return None
    extra = [vms + bridges - 1] + [1] * (bridges - 1)
    total = containers + sum(extra)
    target = -(-total // bridges)
    first = max(0, min(containers, target - extra[0]))
    rest = containers - first
    counts = [first]
    if bridges > 1:
        per, more = divmod(rest, bridges - 1)
        counts += [per + (1 if b < more else 0) for b in range(bridges - 1)]
    elif rest:
        return None
    if any(n + e > PORTS_PER_BRIDGE for n, e in zip(counts, extra)):
        return None
    return counts


def bridges_needed(containers: int, vms: int) -> int:
    """The fewest bridges that hold the lab (0: no number up to MAX_BRIDGES does)."""
    return next((b for b in range(1, MAX_BRIDGES + 1) if bridge_split(containers, vms, b) is not None), 0)


@dataclass(frozen=True)
class BridgePlan:
    """One of the lab's bridges; br1… also have the veth pair that links them to br0."""

    name: str  # br0, br1, …
    mac: str
    containers: int  # how many containers it holds
    uplink: str = ""  # brN-br0: this bridge's port of the pair ("" for br0)
    uplink_mac: str = ""
    downlink: str = ""  # br0-brN: br0's port of the pair
    downlink_mac: str = ""


@dataclass(frozen=True)
class ContainerPlan:
    """One container as it will be built."""

    name: str  # ct101
    ctid: int
    netns: str  # vl-NAME-ct101
    hostname: str
    ifname: str  # eth0
    mac: str
    ipv4: str  # with prefix
    ipv6: str
    host_ifname: str  # veth101.0
    host_mac: str
    bridge: str = BRIDGE  # the bridge its host end is on


@dataclass(frozen=True)
class VmPlan:
    """One VM as it will be built (paths are filled in by the builder)."""

    name: str  # vm201
    vmid: int
    adapter: str  # net0
    tap: str  # vme<8 hex>.0
    guest_mac: str
    host_mac: str
    ipv4: str  # for a guest that boots
    ipv6: str


@dataclass(frozen=True)
class LabPlan:
    """Every name, MAC and address of a lab."""

    spec: LabSpec
    host_netns: str
    bridge_mac: str
    containers: list[ContainerPlan] = field(default_factory=list)
    vms: list[VmPlan] = field(default_factory=list)
    bridges: list[BridgePlan] = field(default_factory=list)


class Namer:
    """Deterministic names, MACs and addresses for one (lab name, seed)."""

    def __init__(self, lab: str, seed: int = 0) -> None:
        self.lab = lab
        self.seed = seed
        self._mac_key = _key("vnet-tui-lab-mac", lab, seed)
        self._tap_key = _key("vnet-tui-lab-tap", lab)
        self._kk = self._mac_key[12]

    # names
    def container_name(self, ctid: int) -> str:
        return f"ct{ctid}"

    def container_netns(self, ctid: int) -> str:
        return f"vl-{self.lab}-ct{ctid}"

    def host_ifname(self, ctid: int) -> str:
        return f"veth{ctid}.0"

    def vm_name(self, vmid: int) -> str:
        return f"vm{vmid}"

    def tap_name(self, vmid: int) -> str:
        return f"vme{_permute(self._tap_key, vmid, 32):08x}.0"

    # MACs
    def _suffix(self, adapter_id: int) -> tuple[int, int, int]:
        s = _permute(self._mac_key, adapter_id, 24)
        return (s >> 16) & 0xFF, (s >> 8) & 0xFF, s & 0xFF

    def guest_mac(self, adapter_id: int) -> str:
        return _mac(GUEST_OUI + self._suffix(adapter_id))

    def host_mac(self, adapter_id: int) -> str:
        return _mac((0xFE, 0x01, self._kk) + self._suffix(adapter_id))

    def bridge_mac(self, b: int = 0) -> str:
        return _mac((0xFE, 0x00, self._kk, 0x00, 0x00, b + 1))

    @staticmethod
    def bridge_name(b: int) -> str:
        return f"br{b}"

    def bridge(self, b: int, containers: int) -> BridgePlan:
        if b == 0:
            return BridgePlan(BRIDGE, self.bridge_mac(0), containers)
        return BridgePlan(self.bridge_name(b), self.bridge_mac(b), containers,
                          uplink=f"br{b}-{BRIDGE}", uplink_mac=_mac((0xFE, 0x00, self._kk, 0x01, 0x00, b)),
                          downlink=f"{BRIDGE}-br{b}", downlink_mac=_mac((0xFE, 0x00, self._kk, 0x02, 0x00, b)))

    @staticmethod
    def vm_adapter_id(vmid: int) -> int:
        return _VM_DOMAIN | vmid

    # addresses
    @staticmethod
    def container_ipv4(ctid: int) -> str:
        return f"198.18.{ctid // 256}.{ctid % 256}/16"

    @staticmethod
    def container_ipv6(ctid: int) -> str:
        k, j = ctid // 256, ctid % 256
        return f"fd00:5654::{k}:{j}/64" if k else f"fd00:5654::{j}/64"

    @staticmethod
    def vm_ipv4(vmid: int) -> str:
        return f"198.18.200.{vmid - 200}/16"

    @staticmethod
    def vm_ipv6(vmid: int) -> str:
        return f"fd00:5654::200:{vmid - 200}/64"

    # whole containers / VMs
    def container(self, ctid: int, bridge: str = BRIDGE) -> ContainerPlan:
        return ContainerPlan(
            name=self.container_name(ctid),
            ctid=ctid,
            netns=self.container_netns(ctid),
            hostname=self.container_name(ctid),
            ifname=GUEST_IFNAME,
            mac=self.guest_mac(ctid),
            ipv4=self.container_ipv4(ctid),
            ipv6=self.container_ipv6(ctid),
            host_ifname=self.host_ifname(ctid),
            host_mac=self.host_mac(ctid),
            bridge=bridge,
        )

    def vm(self, vmid: int) -> VmPlan:
        aid = self.vm_adapter_id(vmid)
        return VmPlan(
            name=self.vm_name(vmid),
            vmid=vmid,
            adapter=ADAPTER_ID,
            tap=self.tap_name(vmid),
            guest_mac=self.guest_mac(aid),
            host_mac=self.host_mac(aid),
            ipv4=self.vm_ipv4(vmid),
            ipv6=self.vm_ipv6(vmid),
        )


def plan(spec: LabSpec) -> LabPlan:
    """Every name, MAC and address of the lab ``spec`` describes."""
    spec.check()
    n = Namer(spec.name, spec.seed)
    count = spec.bridges or bridges_needed(spec.containers, spec.vms)
    split = bridge_split(spec.containers, spec.vms, count)
    if split is None:  # only past MAX_CONTAINERS or with PORTS_PER_BRIDGE lowered far
        raise InvalidInput(f"{spec.containers:,} containers do not fit on {MAX_BRIDGES} bridges", rule="bridge-full")
    bridges = [n.bridge(b, k) for b, k in enumerate(split)]
    on = [br.name for br, k in zip(bridges, split) for _ in range(k)]
    return LabPlan(
        spec=spec,
        host_netns=lab_host_netns(spec.name),
        bridge_mac=n.bridge_mac(),
        containers=[n.container(FIRST_CTID + i, on[i]) for i in range(spec.containers)],
        vms=[n.vm(FIRST_VMID + j) for j in range(spec.vms)],
        bridges=bridges,
    )


def lab_prefix(lab: str) -> str:
    """Every namespace and process title of lab ``lab`` starts with this."""
    return f"vl-{lab}-"
