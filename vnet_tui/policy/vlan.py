"""VLANs on a bridge port: an access VLAN (pvid, untagged) and tagged trunk VLANs.

Uses the bridge's own VLAN filtering (``bridge vlan add dev X vid N
[pvid untagged]``).  A kernel without CONFIG_BRIDGE_VLAN_FILTERING is
refused first, before anything is read or changed
(``kernel-lacks-bridge-vlan-filtering``) — this project's machines are
such kernels, so the paths below run only where the kernel has it (their
tests say loudly when they did not run).

Turning VLAN filtering on for a whole bridge changes every port of it
(each gets VLAN 1 as pvid untagged, and frames of other VLANs stop):
``bridge_filtering_steps`` makes that a separate, stated step that the
caller runs only with the operator's confirmation.
"""

from __future__ import annotations

import struct
from typing import Any, Iterable, Optional, Union

from vnet_tui.core.errors import InvalidInput

from . import probe, validate
from .nlread import AF_BRIDGE, RTEXT_FILTER_BRVLAN
from .port import Port
from .read import read as read_port
from .steps import Step

BRIDGE_VLAN_INFO_PVID = 0x2
BRIDGE_VLAN_INFO_UNTAGGED = 0x4
IFLA_BRIDGE_VLAN_INFO = 2
BRIDGE_VLAN_EFFECT = ("turning VLAN filtering on for bridge {br} makes every one of its ports an access port of "
                      "VLAN 1 (pvid, untagged) and drops tagged frames of VLANs a port is not a member of")


def read(port: Port) -> list[dict[str, Any]]:
    """The port's VLANs from an AF_BRIDGE dump with RTEXT_FILTER_BRVLAN."""
    out: list[dict[str, Any]] = []
    for m in port.ipr.get_links(family=AF_BRIDGE, ext_mask=RTEXT_FILTER_BRVLAN):
        if m["index"] != port.index:
            continue
        spec = m.get_attr("IFLA_AF_SPEC")
        for name, val in (spec["attrs"] if spec is not None else []):
            if name == "IFLA_BRIDGE_VLAN_INFO":
                flags, vid = (val["flags"], val["vid"]) if isinstance(val, dict) else struct.unpack("=HH", val)
                out.append({"vid": vid, "pvid": bool(flags & BRIDGE_VLAN_INFO_PVID),
                            "untagged": bool(flags & BRIDGE_VLAN_INFO_UNTAGGED)})
    return out


def _flags(pvid: bool) -> int:
    return BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED if pvid else 0


def _op(cmd: str, vid: int, pvid: bool) -> Any:
    def act(p: Port) -> None:
        p.change(f"vlan {cmd} {vid}", lambda: p.ipr.vlan_filter(cmd, index=p.index,
                                                                 vlan_info={"vid": vid, "flags": _flags(pvid)}))
    return act


def _text(port: Port, cmd: str, vid: int, pvid: bool) -> str:
    return port.cmd("bridge", "vlan", cmd, "dev", port.ifname, "vid", str(vid), *(("pvid", "untagged") if pvid else ()))


def vlan(port: Port, access: Union[int, str, None], trunk: Union[str, Iterable[Union[int, str]], None] = None,
         current: Optional[dict[str, Any]] = None) -> list[Step]:
    """Make the port an access port of ``access`` (None: none) carrying tagged ``trunk`` VLANs."""
    probe.require("bridge-vlan-filtering")  # before anything else: nothing read, nothing changed
    want_access = None if validate.is_off(access) else validate.vlan_id(access)  # type: ignore[arg-type]
    want_trunk = [] if trunk is None or trunk == "" else validate.vlan_list(trunk)  # type: ignore[arg-type]
    if want_access is not None and want_access in want_trunk:
        raise InvalidInput(f"VLAN {want_access} cannot be both the access VLAN and a tagged trunk VLAN",
                           rule="vlan-access-in-trunk")
    cur = current or read_port(port)
    bp = cur["bridge_port"]
    if bp is None:
        raise InvalidInput(f"{port.ifname} is not on a bridge: VLANs are a bridge port's setting",
                           rule="vlan-not-bridge-port")
    if not bp.get("vlan_filtering"):
        raise InvalidInput(BRIDGE_VLAN_EFFECT.format(br=bp["master"]) + "; confirm it first",
                           rule="vlan-filtering-off")
    have = {v["vid"]: v["pvid"] for v in (cur["vlans"] or [])}
    want = {v: False for v in want_trunk}
    if want_access is not None:
        want[want_access] = True
    steps: list[Step] = []
    for vid, pvid in sorted(have.items()):
        if vid not in want or want[vid] != pvid:
            steps.append(Step("vlan", _text(port, "del", vid, pvid), _op("del", vid, pvid), _op("add", vid, pvid),
                              _text(port, "add", vid, pvid)))
    for vid, pvid in sorted(want.items()):
        if have.get(vid) != pvid:
            steps.append(Step("vlan", _text(port, "add", vid, pvid), _op("add", vid, pvid), _op("del", vid, pvid),
                              _text(port, "del", vid, pvid)))
    return steps


def bridge_filtering_steps(bridge_port: Port, on: bool = True) -> list[Step]:
    """Turn VLAN filtering on (or off) for the bridge ``bridge_port`` names (its own Port); confirm first."""
    probe.require("bridge-vlan-filtering")

    def setter(state: bool) -> Any:
        def act(p: Port) -> None:
            p.change(f"bridge vlan_filtering {int(state)}",
                     lambda: p.ipr.link("set", index=p.index, kind="bridge", br_vlan_filtering=int(state)))
        return act

    def text(state: bool) -> str:
        return bridge_port.cmd("ip", "link", "set", "dev", bridge_port.ifname, "type", "bridge",
                               "vlan_filtering", str(int(state)))

    return [Step("vlan", text(on), setter(on), setter(not on), text(not on))]
