"""What a built lab is: names, namespaces, pids, QMP paths, MACs — as data and as lab.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional


@dataclass
class ContainerInfo:
    """A lab container: its namespace, holder process and veth adapter (guest end + host end)."""

    name: str  # ct101
    ctid: int
    netns: str  # vl-NAME-ct101
    hostname: str
    pid: int  # the holder process
    start: int  # its start time (with pid, its identity)
    ifname: str  # eth0
    mac: str
    ipv4: str
    ipv6: str
    host_ifname: str  # veth101.0
    host_mac: str
    bridge: str = "br0"  # the bridge its host end is on (br0, or br1… in a lab past one bridge)


@dataclass
class BridgeInfo:
    """One of the lab's bridges: br0 (the gateway), and br1… each linked to br0 by a veth pair."""

    name: str  # br0, br1, …
    mac: str
    containers: int  # how many containers' host ends it holds
    uplink: str = ""  # brN-br0, its port of the pair ("" on br0)
    downlink: str = ""  # br0-brN, br0's port of the pair


@dataclass
class VmInfo:
    """A lab VM: its QEMU process, QMP socket and tap adapter ``net0`` (and, booted, its guest agent)."""

    name: str  # vm201
    vmid: int
    pid: int
    start: int
    qmp: str
    log: str
    adapter: str  # net0
    tap: str  # vme<8 hex>.0, the host end
    guest_mac: str
    host_mac: str
    ipv4: str = ""  # what a booted guest uses (nothing configures a paused VM)
    ipv6: str = ""
    argv: list[str] = field(default_factory=list)
    booted: bool = False  # runs a guest (else paused, no guest behind the tap)
    qga: str = ""  # the guest agent's unix socket ("" without one)
    console: str = ""  # the guest's serial console log


@dataclass
class LabInfo:
    """A lab as ``lab up`` built it (and as lab.json records it)."""

    name: str
    seed: int
    state_dir: str
    host_netns: str
    hostname: str
    bridge: str
    bridge_mac: str
    bridge_ipv4: str
    bridge_ipv6: str
    keeper_pid: int
    keeper_start: int
    containers: list[ContainerInfo] = field(default_factory=list)
    vms: list[VmInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    status: str = "up"
    seconds: float = 0.0
    instance: str = ""  # random, per build (registry.instance_id): tells a rebuilt lab from the old one
    bridges: list[BridgeInfo] = field(default_factory=list)  # every bridge, br0 first (bridge: br0's name)

    @property
    def container_names(self) -> list[str]:
        return [c.name for c in self.containers]

    @property
    def vm_names(self) -> list[str]:
        return [v.name for v in self.vms]

    def container(self, name: str) -> ContainerInfo:
        return next(c for c in self.containers if c.name == name)

    def vm(self, name: str) -> VmInfo:
        return next(v for v in self.vms if v.name == name)

    def to_json(self) -> dict[str, Any]:
        """As ``dataclasses.asdict`` makes it, field by field, ~50x faster (5,000 containers: 0.55 s -> 10 ms)."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d["containers"] = [_fields(c) for c in self.containers]
        d["vms"] = [{**_fields(v), "argv": list(v.argv)} for v in self.vms]
        d["warnings"] = list(self.warnings)
        d["bridges"] = [_fields(b) for b in self.bridges]
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LabInfo":
        d = dict(data)
        d["containers"] = [ContainerInfo(**c) for c in d.get("containers", [])]
        d["bridges"] = [BridgeInfo(**b) for b in d.get("bridges", [])]
        vm_keys = set(VmInfo.__dataclass_fields__)
        d["vms"] = [VmInfo(**{k: x for k, x in v.items() if k in vm_keys}) for v in d.get("vms", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def _fields(obj: Any) -> dict[str, Any]:
    """A dataclass of plain values (str, int, float, bool, None) as a dict, in field order."""
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}


@dataclass
class LabSummary:
    """One line of ``lab list``."""

    name: str
    status: str  # up | building | incomplete | not readable (its record is root's: an unprivileged user)
    containers: int
    vms: int
    host_netns: str
    seed: Optional[int] = None
    state_dir: Optional[str] = None
    instance: Optional[str] = None  # this build's id (registry.instance_id); None when unknown

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
