"""What an operator asks for: add, edit or delete one adapter (CLI flags and TUI form fields)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class AddRequest:
    """``adapter add TARGET``: a veth for a container, a vme (tap) for a VM.

    ``mac``/``host_mac`` take ``"auto"`` (generated) or a MAC; ``ifname`` is
    the guest name (containers; default the next free ``ethN``);
    ``host_ifname`` defaults to ``veth<CTID>.<N>`` or ``vme<8 hex>.<N>``.
    """

    target: str
    ifname: Optional[str] = None
    host_ifname: Optional[str] = None
    mac: str = "auto"
    host_mac: str = "auto"
    ips: list[str] = field(default_factory=list)
    mtu: Optional[int] = None
    bridge: Optional[str] = None
    routed: bool = False
    raw: bool = False  # a plain veth even where the container's engine has its own way (network connect)
    persistent: bool = False  # libvirt: also write the domain's config (survives a VM restart)


@dataclass
class SetRequest:
    """``adapter set TARGET IFNAME``: change one end of an adapter.

    ``end`` is ``"guest"``/``"host"``; None picks the end whose name is
    IFNAME (for a VM: the host tap unless only the guest can take it).
    ``up``: True/False/None; ``bridge``: attach to it; ``no_bridge``:
    detach.  ``replug``: a VM guest MAC changes by unplug + replug.
    """

    target: str
    ifname: str
    end: Optional[str] = None
    mac: Optional[str] = None
    add_ips: list[str] = field(default_factory=list)
    del_ips: list[str] = field(default_factory=list)
    mtu: Optional[int] = None
    up: Optional[bool] = None
    bridge: Optional[str] = None
    no_bridge: bool = False
    replug: bool = False
    # policy on the host end (ops/policy.py); None: leave as it is
    cable: Optional[str] = None  # plugged | unplugged
    rate_in: Optional[str] = None  # RATE[/BURST] | off: what the guest receives
    rate_out: Optional[str] = None  # RATE[/BURST] | off: what the guest sends
    mac_filter: Optional[str] = None  # on | off | MAC
    ip_filter: Optional[str] = None  # on | off | ADDR,ADDR…
    isolated: Optional[str] = None  # on | off
    vlan: Optional[str] = None  # access VLAN id | off
    trunk: Optional[str] = None  # tagged VLANs "20,30-39" | off


@dataclass
class DelRequest:
    """``adapter del TARGET IFNAME``: remove the adapter (both ends)."""

    target: str
    ifname: str
    raw: bool = False  # remove the interface itself even where its owner made it (no network disconnect)
    persistent: bool = False  # libvirt: also remove it from the domain's config
